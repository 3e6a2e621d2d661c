"""GET /api/v1/clv and the CLV values on the account document, checked against the workspace's tables."""

from __future__ import annotations

import json

import pytest


def _stored(api, grain: str = "account") -> tuple[str, dict]:
    table, summary = api.sql('SELECT "table", summary FROM _sikta_clv WHERE grain = ? ORDER BY created_at DESC '
                             "LIMIT 1", [grain])[0]
    return table, json.loads(summary)


def test_a_viewer_reads_the_stored_summary(api):
    r = api.get("/api/v1/clv")
    assert r.status_code == 200, r.text
    doc = r.json()
    table, summary = _stored(api)
    assert {"model", "bgnbd", "gamma_gamma", "log_likelihood", "customers", "holdout"} <= set(doc)
    assert doc["bgnbd"] == summary["bgnbd"] and list(doc["bgnbd"]) == ["r", "alpha", "a", "b"]
    assert doc["table"] == table and doc["holdout"] is None
    # every unit that bought up to the as-of date is a customer of the fit (counted from the orders)
    (units,) = api.sql(
        "SELECT count(DISTINCT h.account_unit_id) FROM orders o JOIN _sikta_hierarchy h USING (account_id) "
        "WHERE o.order_date <= ?::DATE", [doc["as_of"]])[0]
    assert doc["customers"] <= units and doc["customers"] == api.sql(f'SELECT count(*) FROM "{table}"')[0][0]


def test_the_account_document_carries_the_units_clv(api):
    table, _ = _stored(api)
    # the unit with the highest CLV among those the latest run scores (an account page needs a run row)
    rows = api.sql(f'SELECT c.unit_id, c.clv, c.p_alive, c.value_tier FROM "{table}" c '
                   f'JOIN {_latest_run_table(api)} r USING (unit_id) ORDER BY c.clv DESC LIMIT 1')
    assert rows, "no unit of the latest run has a CLV"
    uid, clv, p_alive, tier = rows[0]
    doc = api.get(f"/api/v1/accounts/{uid}").json()
    assert doc["clv"]["clv"] == pytest.approx(clv, rel=1e-12)
    assert doc["clv"]["p_alive"] == pytest.approx(p_alive, rel=1e-12) and doc["clv"]["value_tier"] == tier
    assert doc["clv"]["model"] == "bgnbd"
    # a unit without a purchase (a prospect in scope) has no CLV
    never = api.sql(f"SELECT unit_id FROM {_latest_run_table(api)} WHERE unit_id NOT IN "
                    f'(SELECT unit_id FROM "{table}") LIMIT 1')
    assert never, "the run should hold prospects"
    assert api.get(f"/api/v1/accounts/{never[0][0]}").json()["clv"] is None


def _latest_run_table(api) -> str:
    from sikta.service.runs import run_table

    (run_id,) = api.sql("SELECT run_id FROM _sikta_runs ORDER BY created_at DESC LIMIT 1")[0]
    return run_table(run_id)


def test_other_settings_take_an_analyst_then_anyone_reads_them(api):
    url = "/api/v1/clv?model=paretonbd&horizon=24"
    denied = api.get(url)
    assert denied.status_code == 403 and "analyst" in denied.json()["error"]["message"]
    made = api.get(url, role="analyst")
    assert made.status_code == 200, made.text
    doc = made.json()
    assert doc["model"] == "paretonbd" and list(doc["paretonbd"]) == ["r", "alpha", "s", "beta"]
    assert doc["horizon_months"] == 24
    assert api.get(url).json() == doc  # stored: a viewer reads it now


def test_errors(api):
    missing = api.get("/api/v1/clv?grain=department")
    assert missing.status_code == 404 and "no CLV at department grain" in missing.json()["error"]["message"]
    assert api.get("/api/v1/clv?model=xx").status_code == 422
    late = api.get("/api/v1/clv?calibration_end=2030-01-01&as_of=2025-01-01", role="analyst")
    assert late.status_code == 400 and "after the as-of date" in late.json()["error"]["message"]
