"""The OpenAPI schema is complete and typed, and the API keeps to it under generated requests."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from sikta.api.routes_clv import router as clv_router
from sikta.api.routes_operate import router as operate_router
from sikta.api.routes_read import router as read_router
from sikta.api.routes_schemes import router as schemes_router
from sikta.api.routes_write import router as write_router

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def test_every_route_is_in_the_schema_with_a_typed_response(api):
    spec = api.client.get("/openapi.json").json()
    routes = {(m, r.path) for router in (read_router, write_router, clv_router, schemes_router, operate_router)
              for r in router.routes for m in r.methods}
    api_paths = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/")}
    documented = {(m.upper(), p) for p, ops in api_paths.items() for m in ops}
    assert routes == documented
    for path, ops in api_paths.items():
        for method, op in ops.items():
            ok = next(code for code in op["responses"] if code.startswith("2"))
            content = op["responses"][ok].get("content", {})
            if path.endswith("/file"):
                assert "text/csv" in content
                continue
            schema = content["application/json"]["schema"]
            assert "$ref" in schema, (method, path, schema)
            if path != "/api/v1/health":
                assert op.get("security") == [{"HTTPBearer": []}], (method, path)
                assert {"401", "403"} <= set(op["responses"]), (method, path)
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def test_generated_reads_never_fail_and_match_the_schema(api):
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    # analysis is excluded: generated dates and grains would build feature tables, which takes
    # seconds each; test_reads covers it
    ops = [r.ok() for r in schema.include(method="GET").exclude(path_regex="/analysis/").get_all_operations()]
    assert len(ops) >= 15
    headers = api.headers("admin")
    calls = []
    for op in ops:

        @given(case=op.as_strategy())
        @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers=headers)
            calls.append((op.label, response.status_code))
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            check()
        except Exception as exc:  # name the operation: hypothesis' own report does not
            pytest.fail(f"{op.label}: {exc}")
    assert len(calls) >= len(ops)
    assert any(code == 200 for _, code in calls)


def test_the_docs_page_works_offline(api):
    import re

    page = api.client.get("/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith(("/docs-assets/", "/docs-init.js")) for s in sources), sources  # no CDN
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it
    for s in sources:
        asset = api.client.get(s)
        assert asset.status_code == 200 and len(asset.content) > 100, s
    assert '"/openapi.json"' in api.client.get("/docs-init.js").text
    # Swagger UI 5 reads OpenAPI 3.1 (version 4 could not render this schema)
    bundle = api.client.get("/docs-assets/swagger-ui-bundle.js").text
    assert api.client.get("/openapi.json").json()["openapi"].startswith("3.1") and "isOAS31" in bundle
    assert api.client.get("/redoc").status_code == 404  # Redoc would need a CDN: not offered
