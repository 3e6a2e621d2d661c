"""The revenue bridge is kept beside the workspace once computed: the report and the pages reuse it,
a new ingest or other settings compute it again, and a damaged entry is recomputed, never trusted."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.service import analysis_results
from sikta.service.analysis import Analysis
from sikta.service.workspace import Workspace
from sikta.synth import generate

AS_OF = "2025-12-31"
runner = CliRunner()


@pytest.fixture()
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("flowstore")
    generate(d / "data", accounts=300, seed=5)
    return d


def _no_compute(monkeypatch):
    def fail(self, period, tolerance):
        raise AssertionError("the flow was computed again")
    monkeypatch.setattr(Analysis, "_flow", fail)


def _same(a, b, exact=True):
    # two computations may differ in the last bits (DuckDB adds floats in parallel, in no fixed order);
    # a stored result read back must be the very same
    opts = {"check_exact": True} if exact else {"check_exact": False, "rtol": 1e-12}
    pd.testing.assert_frame_equal(a.periods, b.periods, **opts)
    if a.subscriptions is None:
        assert b.subscriptions is None
    else:
        pd.testing.assert_frame_equal(a.subscriptions, b.subscriptions, **opts)
    assert a.period == b.period
    assert [a.nrr, a.grr, a.start_arr] == (pytest.approx([b.nrr, b.grr, b.start_arr], rel=1e-12) if not exact else
                                           [b.nrr, b.grr, b.start_arr])


def test_a_stored_flow_is_the_computed_one_and_is_not_computed_again(data, monkeypatch):
    with Workspace(data / "ws.duckdb") as ws:
        ws.ingest(data / "data")
        direct = ws.analyze(as_of=AS_OF)._flow("month", 0.02)  # the computation, bypassing the store
        first = ws.analyze(as_of=AS_OF).flow()
        _same(first, direct, exact=False)
        assert first.subscriptions is not None and first.nrr is not None
    assert len(list(analysis_results.folder(ws).iterdir())) == 1
    _no_compute(monkeypatch)
    with Workspace(data / "ws.duckdb", read_only=True) as ws:  # a reader (the report, a page) reuses it
        _same(ws.analyze(as_of=AS_OF).flow(), first)
        with pytest.raises(AssertionError, match="computed again"):
            ws.analyze(as_of=AS_OF, period="quarter").flow()  # other settings: another result
        with pytest.raises(AssertionError, match="computed again"):
            ws.analyze(as_of="2025-06-30").flow()


def test_a_new_ingest_makes_the_stored_flow_stale(data, tmp_path):
    with Workspace(data / "ws.duckdb") as ws:
        ws.ingest(data / "data")
        old = ws.analyze(as_of=AS_OF).flow()
        generate(tmp_path / "other", accounts=200, seed=9)
        ws.ingest(tmp_path / "other", allow_shrink=True)
        new = ws.analyze(as_of=AS_OF).flow()
        _same(new, ws.analyze(as_of=AS_OF)._flow("month", 0.02), exact=False)
        assert not new.periods.equals(old.periods)
        # the stale entry is gone, the new one kept
        names = [p.name for p in analysis_results.folder(ws).iterdir()]
        assert len(names) == 1 and ws.last_ingest()["ingest_id"] in names[0]


def test_a_damaged_entry_is_computed_again(data):
    with Workspace(data / "ws.duckdb") as ws:
        ws.ingest(data / "data")
        good = ws.analyze(as_of=AS_OF).flow()
        (entry,) = analysis_results.folder(ws).iterdir()
        (entry / "periods.arrow").write_bytes(b"not arrow")
        _same(ws.analyze(as_of=AS_OF).flow(), good, exact=False)


def test_the_report_shows_the_bridge_that_analyze_stored(data, tmp_path, monkeypatch):
    ws_path = data / "ws.duckdb"
    with Workspace(ws_path) as ws:
        ws.ingest(data / "data")
    r = runner.invoke(app, ["analyze", "-w", str(ws_path), "--json"])  # the default as-of, as the report
    assert r.exit_code == 0, r.output
    _no_compute(monkeypatch)
    out = tmp_path / "report.html"
    r = runner.invoke(app, ["report", "-w", str(ws_path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert 'id="chart-bridge"' in out.read_text(encoding="utf-8")


def test_the_whitespace_is_stored_too_and_read_back_exactly(data, monkeypatch):
    with Workspace(data / "ws.duckdb") as ws:
        ws.ingest(data / "data")
        direct = ws.analyze(as_of=AS_OF)._whitespace()  # the computation, bypassing the store
        first = ws.analyze(as_of=AS_OF).whitespace()
        assert len(first) > 0 and {"unit_id", "product_line", "expected_value"} <= set(first.columns)
        key = ["unit_id", "product_line"]
        pd.testing.assert_frame_equal(first.sort_values(key).reset_index(drop=True),
                                      direct.sort_values(key).reset_index(drop=True), check_exact=False, rtol=1e-12)

    def fail(self):
        raise AssertionError("the whitespace was computed again")

    monkeypatch.setattr(Analysis, "_whitespace", fail)
    with Workspace(data / "ws.duckdb", read_only=True) as ws:
        pd.testing.assert_frame_equal(ws.analyze(as_of=AS_OF).whitespace(), first, check_exact=True)
        with pytest.raises(AssertionError, match="computed again"):
            ws.analyze(as_of="2025-06-30").whitespace()  # another date: another result
        with pytest.raises(AssertionError, match="computed again"):
            ws.analyze(as_of=AS_OF, window_months=6).whitespace()
