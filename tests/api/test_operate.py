"""The operating endpoints: KPIs, coverage, alerts, actions and the what-if preview, against the service
and independent counts on the workspace."""

from __future__ import annotations

import math

from sikta.service import runs
from tests.api.conftest import SECOND_MODEL


def test_kpis_match_the_service_and_put_the_judged_kpi_first(api):
    from sikta.service.segment_kpis import segment_kpis

    r = api.get("/api/v1/kpis")
    assert r.status_code == 200, r.text
    doc = r.json()
    with api.app.state.sikta.lock:
        ref = segment_kpis(api.ws, "latest")
    assert doc["run_id"] == ref["run_id"] and doc["currency"] == "EUR"
    got = {row["segment"]: row for row in doc["by"]["group"]}
    for row in ref["by"]["group"]:
        for k in ("units", "logos_start", "revenue_start", "nrr", "grr", "logo_churn", "dollar_churn"):
            a, b = got[row["segment"]][k], row[k]
            assert (a is None and b is None) or math.isclose(a, b), (row["segment"], k)
    # every unit at the grain takes part: the units add up to the feature table
    (n,) = api.sql("SELECT count(*) FROM features_account")[0]
    assert got["(all)"]["units"] == n


def test_coverage_counts_every_unit_of_the_run(api):
    doc = api.get("/api/v1/coverage").json()
    latest = api.get("/api/v1/runs/latest").json()["run_id"]
    (n,) = api.sql(f'SELECT count(*) FROM "{runs.run_table(latest)}"')[0]
    assert sum(m["accounts"] for m in doc["models"]) == n == doc["units"]
    assert doc["rules"] == "model" and math.isclose(sum(m["share_accounts"] for m in doc["mix"]), 1.0)


def test_alerts_are_the_units_whose_group_changed(api):
    listing = api.get("/api/v1/runs").json()["runs"]
    a, b = listing[1]["run_id"], listing[0]["run_id"]
    (changed,) = api.sql(f'SELECT count(*) FROM "{runs.run_table(a)}" x FULL JOIN "{runs.run_table(b)}" y '
                         'USING (unit_id) WHERE x."group" IS DISTINCT FROM y."group"')[0]
    doc = api.get("/api/v1/alerts?limit=10000").json()
    assert (doc["run_from"], doc["run_to"]) == (a, b)
    assert len([x for x in doc["alerts"] if x["dimension"] == "group"]) == changed == doc["total"]
    down = api.get("/api/v1/alerts?change=downgrade&tier=A").json()
    assert all(x["change"] == "downgrade" and (x["tier_from"] or x["tier_to"]) == "A" for x in down["alerts"])
    assert api.get("/api/v1/alerts?change=sideways").status_code == 422


def test_actions_page_and_owner_filter(api):
    doc = api.get("/api/v1/actions?limit=5").json()
    assert doc["total"] >= len(doc["actions"]) and len(doc["actions"]) <= 5
    if doc["per_owner"]:
        owner = next(iter(doc["per_owner"]))
        mine = api.get(f"/api/v1/actions?owner={owner}&limit=10000").json()
        assert mine["total"] == doc["per_owner"][owner] and {x["owner"] for x in mine["actions"]} == {owner}


def test_preview_stores_nothing_and_matches_a_run(api):
    before = api.get("/api/v1/runs").json()["runs"]
    r = api.client.post("/api/v1/models/preview", content=SECOND_MODEL, headers={
        **api.headers("analyst"), "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["stored"] is False and api.get("/api/v1/runs").json()["runs"] == before
    # the latest run is the second model itself: nobody moves, the sizes are the run's
    assert doc["against"] == before[0]["run_id"] and doc["moved"] == 0
    assert {g: v["accounts"] for g, v in doc["groups"].items()} == {g: v["accounts"] for g, v in before[0]["groups"].items()}
    bad = api.client.post("/api/v1/models/preview", content="name: x\npotential: []\n",
                          headers={**api.headers("analyst"), "Content-Type": "application/yaml"})
    assert bad.status_code == 422 and bad.json()["error"]["type"]
