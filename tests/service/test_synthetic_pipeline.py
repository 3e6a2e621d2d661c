"""Generator → ingest → features, end to end on small synthetic data.

The dirty generator writes how many rows a correct validator must
quarantine (each injected row breaks exactly one rule); ingest must agree
table by table, for CSV and Parquet alike."""

from __future__ import annotations

import json

import pytest

from sikta.engine.contract import GRAINS
from sikta.service.workspace import Workspace
from sikta.synth import generate


@pytest.fixture(scope="module", params=["parquet", "csv"])
def dirty_ws(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"dirty_{request.param}")
    generate(d / "data", accounts=800, seed=11, fmt=request.param, dirty=0.02)
    ws = Workspace(d / "ws.duckdb")
    report = ws.ingest(d / "data")
    yield ws, report, json.loads((d / "data" / "dirty_manifest.json").read_text())
    ws.close()


def test_quarantine_matches_what_was_injected(dirty_ws):
    _, report, manifest = dirty_ws
    got = {t: r.quarantined for t, r in report.tables.items()}
    assert got == manifest["expected_quarantine"]
    for name, r in report.tables.items():
        assert r.rows_in == r.loaded + r.quarantined, name


def test_the_parent_cycle_is_named(dirty_ws):
    ws, _, _ = dirty_ws
    q = ws.quarantine("accounts").to_pyarrow().to_pylist()
    cycle = {r["record"] and r["reason"] for r in q if r["reason"].startswith("parent cycle")}
    assert len(cycle) == 3
    for reason in cycle:
        path = reason.removeprefix("parent cycle: ").split(" → ")
        assert len(path) == 4 and path[0] == path[-1] and set(path) == {"CYC-1", "CYC-2", "CYC-3"}


def test_features_conserve_revenue_across_grains(dirty_ws):
    ws, _, _ = dirty_ws
    totals, units = {}, {}
    for grain in GRAINS:
        f = ws.features(grain=grain, as_of="2025-12-31")
        row = ws.store.frame(f.aggregate(rev=f.revenue_12m.sum(), life=f.revenue_lifetime.sum(), n=f.count())).iloc[0]
        totals[grain] = (row["rev"], row["life"])
        units[grain] = int(row["n"])
    ref = totals["department"]
    for grain in GRAINS:
        assert totals[grain][0] == pytest.approx(ref[0], rel=1e-9) and totals[grain][1] == pytest.approx(ref[1], rel=1e-9)
    assert units["ultimate_parent"] < units["account"] < units["department"]
