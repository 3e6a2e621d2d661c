"""schemathesis against the running app: 0 server errors and 0 schema violations, as a test.

Every operation gets generated valid (positive) and invalid (negative) requests as an admin whose
identity no request can revoke (the server's own local secret, not a stored token: a generated
``DELETE /tokens/{id}`` must not lock the test out). The fast variant runs in ``make test``; the
long one (``pytest --long -m long``) draws many more cases per operation and includes the analysis
(each generated date or grain there builds a feature table).
"""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from sikta.api import create_app

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
SECRET = "sk_local_schemathesis-cannot-revoke-this"


@pytest.fixture(scope="module")
def app(base_workspace, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "ws.duckdb"
    shutil.copy(base_workspace, path)
    a = create_app(path, local_secret=SECRET, webhook_options={"backoff": 0.05, "period": 1.0, "timeout": 0.5})
    yield a
    a.state.jobs.close()
    a.state.sikta.close()


def fuzz(app, *, examples: int, analysis: bool) -> dict[str, int]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = schema if analysis else schema.exclude(path_regex="/analysis/")
    operations = [r.ok() for r in ops.get_all_operations()]
    headers = {"Authorization": f"Bearer {SECRET}"}
    failures, statuses = [], {}
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case):
                response = case.call(headers={**headers, **(case.headers or {})})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: an operation without input
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
                failures.append(f"{op.label} ({mode.value}): {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert len(operations) >= (24 if analysis else 23)
    return statuses


def test_generated_requests_never_fail_and_match_the_schema(app):
    statuses = fuzz(app, examples=5, analysis=False)
    assert statuses.get(200, 0) > 0 and not any(code >= 500 for code in statuses)
    assert any(400 <= code < 500 for code in statuses)  # the negative cases were refused, not served


@pytest.mark.long
def test_many_generated_requests_never_fail_and_match_the_schema(app):
    statuses = fuzz(app, examples=200, analysis=True)
    assert not any(code >= 500 for code in statuses)
