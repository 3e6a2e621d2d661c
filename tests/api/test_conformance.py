"""Out-of-range input, methods and documented answers: the API keeps to its own contract."""

from __future__ import annotations

import pytest

from tests.api.conftest import SECOND_MODEL
from tests.api.test_auth import assert_error


@pytest.mark.parametrize(("role", "url"), [
    ("viewer", "/api/v1/accounts?offset=99999999999999999999"),  # past 64 bits: was a 500
    ("viewer", "/api/v1/accounts?offset=-1"),
    ("analyst", "/api/v1/analysis/pareto?as_of=0001-01-02"),  # a year before it does not exist: was a 500
    ("analyst", "/api/v1/analysis/pareto?as_of=9999-12-31"),  # overflowed date arithmetic: was a 500
    ("viewer", "/api/v1/accounts?limit=100000"),
    ("viewer", "/api/v1/runs/previous/diff/latest?limit=99999999999999999999"),
])
def test_out_of_range_queries_are_422_with_the_standard_body(api, role, url):
    error = assert_error(api.get(url, role), 422)
    assert error["type"] == "ValidationError"


@pytest.mark.parametrize("as_of", ["0001-01-02", "9999-12-31"])
def test_a_run_at_an_impossible_date_is_refused_before_it_is_queued(api, as_of):
    h = {**api.headers("analyst"), "Content-Type": "application/yaml"}
    r = api.client.post(f"/api/v1/runs?as_of={as_of}", headers=h, content=SECOND_MODEL)
    assert assert_error(r, 422)["type"] == "ValidationError"


def test_the_largest_offset_allowed_is_an_empty_page(api):
    body = api.get("/api/v1/accounts?offset=1000000000").json()
    assert body["rows"] == [] and body["total"] > 0


@pytest.mark.parametrize(("method", "url", "allow"), [
    ("PUT", "/api/v1/runs", "GET, POST"),  # Starlette said "GET": only the first route's methods
    ("PATCH", "/api/v1/exports", "GET, POST"),
    ("POST", "/api/v1/tokens/tok_x", "DELETE"),
    ("DELETE", "/api/v1/accounts", "GET"),
    ("POST", "/api/v1/health", "GET"),
    ("HEAD", "/api/v1/runs", "GET, POST"),
    ("POST", "/runs", "GET"),  # a web page
])
def test_405_lists_every_method_the_path_takes(api, method, url, allow):
    r = api.client.request(method, url, headers=api.headers("admin"))
    assert r.status_code == 405 and r.headers["allow"] == allow
    if method != "HEAD":
        assert assert_error(r, 405)["type"] == "MethodNotAllowed"
    # and each listed method is really taken (not a 405)
    for m in allow.split(", "):
        assert api.client.request(m, url, headers=api.headers("admin")).status_code != 405, m


def test_a_body_that_is_not_json_is_a_422(api):
    r = api.client.post("/api/v1/tokens", headers={**api.headers("admin"), "Content-Type": "application/json"},
                        content=b"*\xff\xfe")
    assert assert_error(r, 422)["type"] == "ValidationError"


def test_every_4xx_an_operation_can_answer_is_documented(api):
    """The statuses the app can send for reasons common to all operations are in every operation's list."""
    spec = api.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in ops.items():
            codes = set(op["responses"])
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in codes, (method, path)  # any misfit of the request
            if path != "/api/v1/health":
                assert {"401", "403"} <= codes, (method, path)
            if "{" in path.replace("{part}", ""):  # an id in the path may name nothing (a part is a fixed list: 422)
                assert "404" in codes, (method, path)


def test_exports_keep_a_number_and_a_size_and_an_admin_deletes_one(api, monkeypatch):
    """Exports used to pile up (779 files, 142 MB in 8 minutes): the oldest now go."""
    h = api.headers("admin")
    for e in api.client.get("/api/v1/exports", headers=h).json()["exports"]:  # start from none
        assert api.client.delete(f"/api/v1/exports/{e['export_id']}", headers=h).status_code == 200
    monkeypatch.setenv("SIKTA_EXPORTS_KEEP", "3")
    made = [api.client.post("/api/v1/exports", headers=h, json={"format": "csv"}).json() for _ in range(5)]
    listed = api.client.get("/api/v1/exports", headers=h).json()["exports"]
    assert [e["export_id"] for e in listed] == [e["export_id"] for e in reversed(made[-3:])]
    from pathlib import Path

    assert [Path(e["path"]).exists() for e in made] == [False, False, True, True, True]
    assert all(e["size_bytes"] > 0 for e in listed)
    # an admin deletes one: file and record
    gone = api.client.delete(f"/api/v1/exports/{made[-1]['export_id']}", headers=h)
    assert gone.status_code == 200 and not Path(made[-1]["path"]).exists()
    assert_error(api.client.get(f"/api/v1/exports/{made[-1]['export_id']}/file", headers=h), 404)
    assert_error(api.client.delete(f"/api/v1/exports/{made[-1]['export_id']}", headers=h), 404)
    assert_error(api.client.delete(f"/api/v1/exports/{made[-2]['export_id']}", headers=api.headers("analyst")), 403)
    # a size limit: a budget smaller than two files keeps only the newest
    monkeypatch.setenv("SIKTA_EXPORTS_KEEP", "100")
    monkeypatch.setenv("SIKTA_EXPORTS_MAX_MB", str(1.5 * listed[0]["size_bytes"] / 2**20))
    newest = api.client.post("/api/v1/exports", headers=h, json={"format": "csv"}).json()
    assert [e["export_id"] for e in api.client.get("/api/v1/exports", headers=h).json()["exports"]] == [newest["export_id"]]


@pytest.mark.parametrize("body", [b"", b"[]", b"x", b"42", b"null", b"- a\n- b", b"name: [1, 2]", b'{"name": 1}',
                                  b"name: x\n\tbad: [", b"\xff\xfe"])
def test_validate_answers_inside_its_schema_for_any_body(api, body):
    from sikta.api.errors import ErrorOut
    from sikta.api.schemas import ModelCheck

    r = api.client.post("/api/v1/models/validate", headers={**api.headers("analyst"), "Content-Type": "application/yaml"},
                        content=body)
    if r.status_code == 200:
        check = ModelCheck.model_validate(r.json())
        assert check.ok is False and check.errors and check.errors[0].message
    else:
        assert r.status_code == 422 and ErrorOut.model_validate(r.json())
