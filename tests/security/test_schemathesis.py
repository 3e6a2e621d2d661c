"""schemathesis against the running app: 0 server errors and 0 schema violations, as a test.

Every operation gets generated valid (positive) and invalid (negative) requests as an admin whose
identity no request can revoke (the server's own local secret, not a stored token: a generated
``DELETE /tokens/{id}`` must not lock the test out). The fast variant runs in ``make test``; the
long one (``pytest --long -m long``) draws many more cases per operation and includes the analysis
(each generated date or grain there builds a feature table).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

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
LONG_EXAMPLES = 200
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


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
                # the admin header last: schemathesis fills the bearer scheme's header with a made-up value
                case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
                response = case.call(headers={**case.headers, **headers})
                # a negative case may drop the header on purpose (a missing token must be a 401): count those apart
                sent = "authorization" in {k.lower() for k in response.request.headers}
                key = response.status_code if sent else f"{response.status_code} without a token"
                statuses[key] = statuses.get(key, 0) + 1
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
    assert not any(str(code) >= "5" for code in statuses)
    assert statuses.get(401, 0) == 0  # with the admin's header nothing is refused as unauthenticated
    assert set(statuses) - {200, 201, 202, 400, 404, 409, 422, 503} <= {"401 without a token"}, statuses
    assert statuses.get(200, 0) + statuses.get(201, 0) + statuses.get(202, 0) > 20
    assert statuses.get(422, 0) > 0  # the negative cases were refused for their input, not served


@pytest.mark.long
def test_many_generated_requests_never_fail_and_match_the_schema(app):
    started = time.perf_counter()
    statuses = fuzz(app, examples=LONG_EXAMPLES, analysis=True)
    assert not any(str(code) >= "5" for code in statuses) and statuses.get(401, 0) == 0
    # the long variant is run by hand: its numbers are kept with the benchmarks
    total = sum(statuses.values())
    without = statuses.get("401 without a token", 0)
    doc = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "examples_per_operation_and_mode": LONG_EXAMPLES,
           "requests": total, "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
           "server_errors": 0, "schema_violations": 0, "seconds": round(time.perf_counter() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "security_schemathesis_long.json").write_text(json.dumps(doc, indent=2) + "\n")
    (RESULTS / "security_schemathesis_long.md").write_text(
        f"# schemathesis, long variant ({doc['when']})\n\n"
        f"`pytest --long -m long tests/security/test_schemathesis.py`: every operation of the API (the analysis "
        f"included), up to {LONG_EXAMPLES} valid and {LONG_EXAMPLES} invalid generated requests each, as an admin "
        f"no request can revoke, checked for server errors, response schema, documented status codes and content "
        f"types.\n\n{total:,} requests in {doc['seconds']:.0f} s: 0 server errors, 0 schema violations. "
        f"{without:,} of them are negative cases in which schemathesis left the token out on purpose (each got "
        "its documented 401); every request that carried the admin's token was served or refused for its "
        "input.\n\n"
        "| status | requests |\n|---|---|\n" + "".join(f"| {k} | {v:,} |\n" for k, v in doc["statuses"].items()))
