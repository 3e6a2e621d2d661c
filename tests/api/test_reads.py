"""What the read endpoints say, checked against the workspace itself and the service layer."""

from __future__ import annotations

import json
import math

import pytest

from sikta.service import runs
from sikta.service.runs import GROUPS, run_table
from tests.api.test_auth import assert_error


def _strict_json(text: str):
    def no_constants(name):
        raise AssertionError(f"{name} in JSON")
    return json.loads(text, parse_constant=no_constants)


@pytest.fixture(scope="module")
def run_ids(api) -> list[str]:
    return [r[0] for r in api.sql("SELECT run_id FROM _sikta_runs ORDER BY created_at DESC")]


def test_runs_newest_first_with_group_counts_that_add_up(api, run_ids):
    body = api.get("/api/v1/runs").json()
    assert [r["run_id"] for r in body["runs"]] == run_ids
    for r in body["runs"]:
        (units,) = api.sql(f'SELECT count(*) FROM "{run_table(r["run_id"])}"')[0]
        assert r["units"] == units
        assert sum(g["accounts"] for g in r["groups"].values()) == units
        assert r["created_at"].endswith("Z") or "+00:00" in r["created_at"]


def test_one_run_resolves_latest_previous_and_suffixes(api, run_ids):
    assert api.get("/api/v1/runs/latest").json()["run_id"] == run_ids[0]
    assert api.get("/api/v1/runs/previous").json()["run_id"] == run_ids[1]
    assert api.get(f"/api/v1/runs/{run_ids[1][-9:]}").json()["run_id"] == run_ids[1]
    detail = api.get("/api/v1/runs/latest").json()
    assert "potential:" in detail["model_text"]
    assert_error(api.get("/api/v1/runs/no-such-run"), 404)


@pytest.mark.parametrize("run", ["latest", "previous"])
def test_groups_count_every_unit_once_and_match_the_run_table(api, run, run_ids):
    body = api.get(f"/api/v1/groups?run={run}").json()
    run_id = run_ids[0 if run == "latest" else 1]
    expected = dict(api.sql(f'SELECT "group", count(*) FROM "{run_table(run_id)}" GROUP BY 1'))
    assert [g["group"] for g in body["groups"]] == list(GROUPS)
    assert {g["group"]: g["accounts"] for g in body["groups"] if g["accounts"]} == expected
    assert sum(g["accounts"] for g in body["groups"]) == body["units"]
    assert sum(g["revenue_share"] for g in body["groups"]) == pytest.approx(1.0)
    for g in body["groups"]:
        assert g["customers"] + g["prospects"] <= g["accounts"]
        assert g["at_risk"] is not None and g["at_risk"] <= g["customers"]


def test_group_kpis_against_an_independent_computation(api, run_ids):
    body = api.get("/api/v1/groups").json()
    assert body["note"] is None
    rows = api.sql(f'''
        SELECT r."group", sum(coalesce(r.revenue_12m, 0)), sum(coalesce(f.revenue_prev_12m, 0)), sum(coalesce(f.mrr, 0))
        FROM "{run_table(run_ids[0])}" r JOIN features_account f USING (unit_id) GROUP BY 1''')
    with api.app.state.sikta.lock:
        risky = set(api.ws.analyze.outflow()["unit_id"])
    statuses = api.sql(f'SELECT unit_id, "group", status FROM "{run_table(run_ids[0])}"')
    by = {g["group"]: g for g in body["groups"]}
    for group, rev, prev, mrr in rows:
        g = by[group]
        assert g["revenue_12m"] == pytest.approx(rev, abs=0.01)
        assert g["revenue_prev_12m"] == pytest.approx(prev, abs=0.01)
        assert g["mrr"] == pytest.approx(mrr, abs=0.01)
        assert g["revenue_growth"] == pytest.approx(rev / prev - 1, rel=1e-4)
        at_risk = sum(1 for u, gr, s in statuses if gr == group and s == "customer" and u in risky)
        assert g["at_risk"] == at_risk


def test_paging_covers_every_row_exactly_once_in_order(api, run_ids):
    seen, offset, total = [], 0, None
    revenues = []
    while True:
        page = api.get(f"/api/v1/accounts?limit=37&offset={offset}").json()
        total = page["total"]
        if not page["rows"]:
            break
        seen += [r["unit_id"] for r in page["rows"]]
        revenues += [r["revenue_12m"] for r in page["rows"]]
        offset += 37
    expected = {r[0] for r in api.sql(f'SELECT unit_id FROM "{run_table(run_ids[0])}"')}
    assert len(seen) == len(set(seen)) == total == len(expected)
    assert set(seen) == expected
    known = [r for r in revenues if r is not None]
    assert known == sorted(known, reverse=True)


def test_filters_and_sorting(api, run_ids):
    table = run_table(run_ids[0])
    page = api.get("/api/v1/accounts?group=invest&status=customer&limit=1000&sort=unit_id").json()
    (n,) = api.sql(f"""SELECT count(*) FROM "{table}" WHERE "group" = 'invest' AND status = 'customer'""")[0]
    assert page["total"] == n == len(page["rows"])
    assert all(r["group"] == "invest" and r["status"] == "customer" for r in page["rows"])
    ids = [r["unit_id"] for r in page["rows"]]
    assert ids == sorted(ids)
    name = page["rows"][0]["name"]
    needle = name.split()[0][1:5].upper()  # part of a word, other case
    hits = api.get(f"/api/v1/accounts?q={needle}&limit=1000").json()["rows"]
    assert hits and all(needle.lower() in (r["name"] or "").lower() or needle.lower() in r["unit_id"].lower() for r in hits)
    assert page["rows"][0]["unit_id"] in {r["unit_id"] for r in hits}
    assert api.get("/api/v1/accounts?offset=100000").json()["rows"] == []
    assert_error(api.get("/api/v1/accounts?group=nonsense"), 422)
    assert_error(api.get("/api/v1/accounts?limit=1001"), 422)


def test_one_account_matches_the_run_table_and_the_explain_service(api, run_ids):
    table = run_table(run_ids[0])
    for unit_id, group in api.sql(f'SELECT unit_id, "group" FROM "{table}" ORDER BY unit_id LIMIT 5'):
        body = api.get(f"/api/v1/accounts/{unit_id}").json()
        assert body["group"] == group and body["values"]["group"] == group
        with api.app.state.sikta.lock:
            assert body["explanation"] == runs.explain(api.ws, unit_id)["lines"]
        (revenue,) = api.sql("SELECT revenue_12m FROM features_account WHERE unit_id = ?", [unit_id])[0]
        assert body["features"]["revenue_12m"] == pytest.approx(revenue)
        assert body["features_as_of"] == body["as_of"]
        history = {h["run_id"]: h["group"] for h in body["history"]}
        assert list(history) == run_ids
        for run_id in run_ids:
            (g,) = api.sql(f'SELECT "group" FROM "{run_table(run_id)}" WHERE unit_id = ?', [unit_id])[0]
            assert history[run_id] == g
    assert_error(api.get("/api/v1/accounts/NOBODY"), 404)


def test_an_account_in_an_earlier_run(api, run_ids):
    unit_id, group = api.sql(f'SELECT unit_id, "group" FROM "{run_table(run_ids[1])}" ORDER BY unit_id DESC LIMIT 1')[0]
    body = api.get(f"/api/v1/accounts/{unit_id}?run=previous").json()
    assert body["run_id"] == run_ids[1] and body["group"] == group


def test_viewers_never_see_contact_names_or_emails(api):
    unit_id = api.sql("""SELECT h.account_unit_id FROM contacts c JOIN _sikta_hierarchy h USING (account_id)
                         GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")[0][0]
    truth = {r[0]: (r[1], r[2]) for r in api.sql(
        """SELECT c.contact_id, c.name, c.email FROM contacts c JOIN _sikta_hierarchy h USING (account_id)
           WHERE h.account_unit_id = ?""", [unit_id])}
    viewer = api.get(f"/api/v1/accounts/{unit_id}/contacts", "viewer")
    assert viewer.json()["personal_data"] == "redacted"
    assert {c["contact_id"] for c in viewer.json()["contacts"]} == set(truth)
    assert "@" not in viewer.text
    for name, _ in truth.values():
        assert name not in viewer.text
    for role in ("analyst", "admin"):
        body = api.get(f"/api/v1/accounts/{unit_id}/contacts", role).json()
        assert body["personal_data"] == "included"
        assert {c["contact_id"]: (c["name"], c["email"]) for c in body["contacts"]} == truth
    # an account page or detail carries no contact data either
    assert "@" not in api.get(f"/api/v1/accounts/{unit_id}").text


def test_diff_agrees_with_the_service(api, run_ids):
    body = api.get("/api/v1/runs/previous/diff/latest?limit=10").json()
    with api.app.state.sikta.lock:
        ref = runs.diff(api.ws, run_ids[1], run_ids[0], limit=10)
    assert body["moved"] == ref["moved"] > 0
    assert body["run_a"] == run_ids[1] and body["run_b"] == run_ids[0]
    assert len(body["accounts"]) == 10
    (units,) = api.sql(f'SELECT count(*) FROM "{run_table(run_ids[0])}"')[0]
    assert sum(t["accounts"] for t in body["transitions"]) == units
    assert api.get("/api/v1/runs/previous/diff/latest?limit=0").json()["accounts"] == []
    assert assert_error(api.get("/api/v1/runs/latest/diff/latest"), 400)["type"] == "UsageError"


def test_analysis_agrees_with_the_python_api(api):
    body = api.get("/api/v1/analysis/pareto").json()
    with api.app.state.sikta.lock:
        ref = api.ws.analyze.pareto()
    assert body["result"]["pareto"]["top20_share"] == pytest.approx(ref.top20_share)
    outflow = api.get("/api/v1/analysis/outflow?limit=5").json()["result"]["outflow"]
    assert outflow["rows"] >= len(outflow["top"]) and len(outflow["top"]) <= 5


def test_a_viewer_cannot_trigger_a_feature_build(api):
    error = assert_error(api.get("/api/v1/analysis/pareto?grain=department"), 403)
    assert "analyst" in error["message"]
    assert api.get("/api/v1/analysis/pareto?grain=ultimate_parent", "analyst").status_code == 200


def test_no_response_contains_nan(api):
    unit_id = api.get("/api/v1/accounts?limit=1").json()["rows"][0]["unit_id"]
    for url in ["/api/v1/runs", "/api/v1/groups", "/api/v1/accounts?limit=1000", f"/api/v1/accounts/{unit_id}",
                "/api/v1/analysis/flow", "/api/v1/analysis/outflow", "/api/v1/analysis/whitespace",
                "/api/v1/runs/previous/diff/latest"]:
        r = api.get(url)
        assert r.status_code == 200, (url, r.text)
        _strict_json(r.text)
    # there are missing values, and they come out as null
    details = api.get(f"/api/v1/accounts/{unit_id}").json()
    assert any(v is None for v in details["features"].values())
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in details["features"].values())


def test_errors_have_one_shape(api):
    assert assert_error(api.get("/api/v1/nowhere"), 404)["type"] == "NotFound"
    assert assert_error(api.client.put("/api/v1/runs", headers=api.headers("admin")), 405)["type"] == "MethodNotAllowed"
    assert assert_error(api.get("/api/v1/accounts?limit=x"), 422)["type"] == "ValidationError"
    assert assert_error(api.get("/api/v1/runs/zzz"), 404)["type"] == "NotFoundError"
    r = api.client.post("/api/v1/tokens", headers=api.headers("admin"), json={"role": "boss"})
    assert "role" in assert_error(r, 422)["message"]


def test_an_as_of_after_today_is_a_400_that_says_so(api):
    import datetime as dt

    r = api.get("/api/v1/analysis/pareto?as_of=2150-01-01", role="analyst")
    assert_error(r, 400)
    assert f"as-of 2150-01-01 is after today ({dt.date.today()})" in r.json()["error"]["message"]
    assert not any(t.startswith("features_account__2150") for (t,) in api.sql("SELECT table_name FROM duckdb_tables()"))
