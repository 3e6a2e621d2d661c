"""GET /api/v1/runs/{run}/diagnostics: the run's schemes and matrix as sikta diagnose --json, read from the run."""

from __future__ import annotations

import json


def test_diagnostics_are_what_the_run_stored(api):
    r = api.get("/api/v1/runs/latest/diagnostics")
    assert r.status_code == 200, r.text
    doc = r.json()
    run_id, stored_schemes, stored_matrix = api.sql(
        "select run_id, schemes, diagnostics from _sikta_runs order by created_at desc limit 1")[0]
    assert doc["run_id"] == run_id
    assert doc["schemes"].keys() == json.loads(stored_schemes).keys() == {"firmographic", "needs", "behavioral",
                                                                           "value"}
    assert doc["matrix"]["verdict"] == json.loads(stored_matrix)["verdict"]
    assert doc["matrix"]["reasons"] == json.loads(stored_matrix)["reasons"]
    for s in doc["schemes"].values():
        assert s["verdict"] in ("usable", "usable with caveats", "not usable") and isinstance(s["reasons"], list)
    # every key `sikta diagnose --json` shows, with the stored values (the diagnosis notes were dropped)
    for name, stored in json.loads(stored_schemes).items():
        for key in ("verdict", "reasons", "notes", "diagnosis_notes", "stability"):
            if key in stored:
                assert doc["schemes"][name][key] == stored[key], (name, key)
    assert doc["schemes"]["value"]["diagnosis_notes"] == [
        "rules, not clusters: the same data always give the same segments (stability not assessed)"]
    groups = {g["group"]: g["units"] for g in doc["matrix"]["groups"]}
    (n,) = api.sql(f"select count(*) from run__{run_id.removeprefix('run-').replace('-', '_')} where \"group\" = 'invest'")[0]
    assert groups["invest"] == n
    assert api.get("/api/v1/runs/nope/diagnostics").status_code == 404
