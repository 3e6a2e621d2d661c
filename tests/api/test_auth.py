"""Every endpoint × every kind of caller: allowed roles succeed, lower roles get 403,
missing, unknown, revoked or malformed tokens get 401 — always in the one error shape."""

from __future__ import annotations

import secrets

import pytest

from sikta.service import exports, tokens, webhooks
from tests.api.conftest import SECOND_MODEL

YAML = {"headers": {"Content-Type": "application/yaml"}, "content": SECOND_MODEL}
BAD_YAML = {"headers": {"Content-Type": "application/yaml"}, "content": "name: x\npotential: []\n"}

# (method, path, request kwargs, lowest role allowed, status when allowed)
ENDPOINTS = [
    ("GET", "/api/v1/me", {}, "viewer", 200),
    ("GET", "/api/v1/runs", {}, "viewer", 200),
    ("GET", "/api/v1/runs/latest", {}, "viewer", 200),
    ("GET", "/api/v1/runs/previous/diff/latest", {}, "viewer", 200),
    ("GET", "/api/v1/runs/latest/diagnostics", {}, "viewer", 200),
    ("GET", "/api/v1/accounts?group=invest&limit=5", {}, "viewer", 200),
    ("GET", "/api/v1/accounts/{uid}", {}, "viewer", 200),
    ("GET", "/api/v1/accounts/{uid}/contacts", {}, "viewer", 200),
    ("GET", "/api/v1/groups", {}, "viewer", 200),
    ("GET", "/api/v1/analysis/pareto", {}, "viewer", 200),
    ("GET", "/api/v1/clv", {}, "viewer", 200),
    ("GET", "/api/v1/clv?horizon=12", {}, "analyst", 200),  # a new fit: a write
    ("GET", "/api/v1/kpis", {}, "viewer", 200),
    ("GET", "/api/v1/coverage", {}, "viewer", 200),
    ("GET", "/api/v1/alerts?change=downgrade", {}, "viewer", 200),
    ("GET", "/api/v1/actions?limit=5", {}, "viewer", 200),
    ("POST", "/api/v1/models/preview", YAML, "analyst", 200),
    ("POST", "/api/v1/models/validate", YAML, "analyst", 200),
    ("POST", "/api/v1/runs", YAML, "analyst", 202),
    ("POST", "/api/v1/runs", BAD_YAML, "analyst", 422),  # allowed in, then the model is refused
    ("GET", "/api/v1/jobs", {}, "analyst", 200),
    ("GET", "/api/v1/jobs/job_000000000000", {}, "analyst", 404),  # allowed in, then not found
    ("POST", "/api/v1/tokens", {"json": {"role": "viewer", "name": "made in a test"}}, "admin", 201),
    ("GET", "/api/v1/tokens", {}, "admin", 200),
    ("DELETE", "/api/v1/tokens/{fresh_token}", {}, "admin", 200),
    ("POST", "/api/v1/exports", {"json": {"run": "latest", "format": "csv", "groups": ["invest"]}}, "admin", 201),
    ("GET", "/api/v1/exports", {}, "admin", 200),
    ("GET", "/api/v1/exports/{export}/file", {}, "admin", 200),
    ("DELETE", "/api/v1/exports/{export}", {}, "admin", 200),
    ("POST", "/api/v1/webhooks", {"json": {"url": "http://127.0.0.1:9/hook"}}, "admin", 201),
    ("GET", "/api/v1/webhooks", {}, "admin", 200),
    ("GET", "/api/v1/webhooks/deliveries", {}, "admin", 200),
    ("DELETE", "/api/v1/webhooks/{fresh_webhook}", {}, "admin", 200),
]
CALLERS = ["missing", "wrong", "revoked", "malformed", "viewer", "analyst", "admin"]


def test_the_table_covers_every_operation(api):
    """A new endpoint must be added to ENDPOINTS (and so be checked for every caller)."""
    spec = api.client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p != "/api/v1/health"}
    placeholders = {"{uid}": "{unit_id}", "{fresh_token}": "{token_id}", "{fresh_webhook}": "{webhook_id}",
                    "{export}": "{export_id}", "job_000000000000": "{job_id}", "latest/diff/latest": "{run_a}/diff/{run_b}",
                    "previous/diff/latest": "{run_a}/diff/{run_b}", "runs/latest": "runs/{run_id}",
                    "analysis/pareto": "analysis/{part}"}
    covered = set()
    for method, path, *_ in ENDPOINTS:
        path = path.split("?")[0]
        for k, v in placeholders.items():
            path = path.replace(k, v)
        covered.add((method, path))
    assert documented == covered, documented ^ covered


def _ids(v):
    return v if isinstance(v, str) else None


def _fill(api, path: str) -> str:
    st = api.app.state.sikta
    with st.lock:
        if "{uid}" in path:
            path = path.replace("{uid}", st.reader.accounts("latest", limit=1)["rows"][0]["unit_id"])
    if "{" in path:
        with api.writing() as ws:
            if "{fresh_token}" in path:
                path = path.replace("{fresh_token}", tokens.create_token(ws, "viewer")[1]["token_id"])
            if "{fresh_webhook}" in path:
                path = path.replace("{fresh_webhook}", webhooks.add_webhook(ws, "http://127.0.0.1:9/x")[0]["webhook_id"])
            if "{export}" in path:
                path = path.replace("{export}", exports.export_run(ws, "latest", fmt="parquet")["export_id"])
    return path


def _headers(api, caller: str) -> dict[str, str]:
    if caller == "missing":
        return {}
    if caller == "wrong":
        return {"Authorization": f"Bearer sk_{secrets.token_urlsafe(32)}"}
    if caller == "malformed":
        return {"Authorization": f"Token {api.tokens['admin']}"}  # a real token, but not as a bearer
    return api.headers(caller)


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "kwargs", "needed", "ok"), ENDPOINTS,
                         ids=[f"{m} {p.split('?')[0]}{' bad' if k is BAD_YAML else ''}" for m, p, k, _, _ in ENDPOINTS])
def test_every_endpoint_checks_the_token_and_role(api, method, path, kwargs, needed, ok, caller):
    headers = {**kwargs.get("headers", {}), **_headers(api, caller)}
    request = {k: v for k, v in kwargs.items() if k != "headers"}
    response = api.client.request(method, _fill(api, path), headers=headers, **request)
    if caller in ("missing", "wrong", "revoked", "malformed"):
        error = assert_error(response, 401)
        assert error["type"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    elif not tokens.role_allows(caller, needed):
        error = assert_error(response, 403)
        assert error["type"] == "Forbidden" and needed in error["message"]
    else:
        assert response.status_code == ok, response.text


def test_health_needs_no_token(api):
    r = api.client.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_the_api_takes_bearer_tokens_only_not_cookies(api):
    """A browser sends cookies with any form a hostile page posts: a plain-text form-able
    ``POST /api/v1/runs`` with the token as a cookie once started a run (only SameSite protected it)."""
    jobs_before = len(api.app.state.jobs.list())
    api.client.cookies.set("sikta_token", api.tokens["admin"])
    api.client.cookies.set("sikta_session", api.tokens["admin"])
    try:
        assert_error(api.client.get("/api/v1/me"), 401)
        forged = api.client.post("/api/v1/runs", headers={"Content-Type": "text/plain"}, content=SECOND_MODEL)
        assert assert_error(forged, 401)["type"] == "Unauthorized"
        assert len(api.app.state.jobs.list()) == jobs_before  # no run was queued
    finally:
        api.client.cookies.clear()


def test_a_token_in_the_query_string_is_not_accepted(api):
    # query strings end up in access logs
    assert_error(api.client.get(f"/api/v1/me?token={api.tokens['admin']}"), 401)


def test_me_tells_the_role(api):
    for role in tokens.ROLES:
        assert api.get("/api/v1/me", role).json() == {"token_id": api.ids[role], "name": f"test {role}", "role": role}
