"""The customer analysis through the Workspace and the CLI.

Real data: UCI Online Retail through the example mapping must give the same
Pareto figures as an independent pandas computation written here."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.errors import DataTooThinError
from sikta.service.workspace import Workspace
from sikta.synth import generate
from tests.conftest import REPO, SHARED_DATA, write

RETAIL = SHARED_DATA / "online_retail.parquet"
MAPPING = REPO / "examples" / "online_retail" / "mapping.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def synth_ws(tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis")
    generate(d / "data", accounts=1500, seed=21)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(d / "data")
    yield ws, d
    ws.close()


def test_every_flow_period_balances(synth_ws):
    ws, _ = synth_ws
    for period in ("month", "quarter"):
        flow = ws.analyze(period=period, as_of="2025-12-31").flow()
        p = flow.periods
        assert len(p) == (12 if period == "month" else 4)
        lhs = p.start_revenue + p.new_revenue + p.growth - p.decline - p.churned_revenue + p.reactivated_revenue
        np.testing.assert_allclose(lhs, p.end_revenue, rtol=1e-9)
        # each period starts where the previous one ended
        np.testing.assert_allclose(p.start_revenue.iloc[1:].to_numpy(), p.end_revenue.iloc[:-1].to_numpy(), rtol=1e-9)
    assert flow.nrr is not None and 0 < flow.grr <= 1 and flow.nrr >= flow.grr


def test_pareto_on_synthetic_data_agrees_with_the_feature_table(synth_ws):
    ws, _ = synth_ws
    p = ws.analyze(as_of="2025-12-31").pareto()
    f = ws.features("account", "2025-12-31").to_pandas()
    rev = np.sort(f.loc[f.revenue_12m > 0, "revenue_12m"].to_numpy())[::-1]
    assert p.accounts == len(rev) and p.revenue == pytest.approx(rev.sum())
    assert p.top20_share == pytest.approx(rev[: math.ceil(0.2 * len(rev))].sum() / rev.sum())
    assert sum(c["accounts"] for c in p.abc.values()) == p.accounts


def test_cli_analyze_json_has_the_documented_keys(synth_ws, tmp_path):
    ws, d = synth_ws
    result = runner.invoke(app, ["analyze", "-w", str(ws.path), "--as-of", "2025-12-31", "--json", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"accounts", "revenue", "top20_share", "gini", "abc"} <= set(doc["pareto"])
    assert {"periods", "nrr", "grr"} <= set(doc["flow"])
    assert doc["outflow"]["rows"] > 0 and doc["whitespace"]["rows"] > 0
    assert (tmp_path / "out" / "pareto_curve.parquet").exists() and (tmp_path / "out" / "flow_periods.csv").exists()
    human = runner.invoke(app, ["analyze", "pareto", "-w", str(ws.path), "--as-of", "2025-12-31"])
    assert human.exit_code == 0 and "top 20 %" in human.stdout


def test_too_few_best_customers_is_a_clear_message(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    write(d, "accounts.csv", "account_id,industry\n" + "".join(f"A{i},retail\n" for i in range(12)))
    write(d, "orders.csv", "order_id,account_id,order_date,amount\n" + "".join(
        f"{i},A{i},2025-0{1 + i % 6}-10,{10 * (i + 1)}\n" for i in range(12)))
    with Workspace(d / "ws.duckdb") as ws:
        ws.ingest(d)
        with pytest.raises(DataTooThinError, match=r"only 1 best customer and 11 others: need at least 30"):
            ws.analyze(as_of="2025-06-30").best()
        report = ws.analyze(as_of="2025-06-30").run()
        assert "best" in report.skipped and "pareto" in report.results
    result = runner.invoke(app, ["analyze", "best", "-w", str(d / "ws.duckdb"), "--as-of", "2025-06-30"])
    assert result.exit_code == 5 and result.stderr.startswith("error: only 1 best customer and 11 others")


def test_no_revenue_in_the_window_is_a_clear_message(clean_exports, tmp_path):
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(clean_exports)
        with pytest.raises(DataTooThinError, match="as-of 2020-01-31 is before the first revenue in the data"):
            ws.analyze(as_of="2020-01-31").pareto()


@pytest.mark.skipif(not RETAIL.exists(), reason="shared/data/online_retail.parquet is not beside the repo")
def test_online_retail_pareto_matches_pandas(tmp_path):
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(RETAIL, mapping=MAPPING)
        analysis = ws.analyze(as_of="2011-12-09")
        p = analysis.pareto()
        flow = analysis.flow()
        # after the data: the range shown starts in June 2011, with half a year of history before it
        later = ws.analyze(as_of="2012-06-30").flow().periods

    # Independent reference: net revenue per customer in (2010-12-09, 2011-12-09], positive only.
    raw = pd.read_parquet(RETAIL, dtype_backend="numpy_nullable")
    raw = raw[raw["CustomerID"].notna()]
    day = raw["InvoiceDate"].dt.date
    window = raw[(day > date(2010, 12, 9)) & (day <= date(2011, 12, 9))]
    # money at the documented precision: 6 decimals, so fully refunded customers net to 0
    net = (window["Quantity"] * window["UnitPrice"]).groupby(window["CustomerID"]).sum().round(6)
    pos = np.sort(net[net > 0].to_numpy(dtype=float))[::-1]
    n, total = len(pos), pos.sum()
    top20 = pos[: math.ceil(0.2 * n)].sum() / total
    # Gini as the mean absolute difference over twice the mean (no sorting formula involved)
    gini = np.abs(pos[:, None] - pos[None, :]).sum() / (2 * n * n * pos.mean())
    cum_before = np.concatenate([[0.0], np.cumsum(pos)[:-1]]) / total
    n_a = int((cum_before < 0.8).sum())
    n_b = int((cum_before < 0.95).sum()) - n_a

    assert p.accounts == n
    assert p.revenue == pytest.approx(total, rel=1e-9)
    assert p.top20_share == pytest.approx(top20, rel=1e-9)
    assert p.gini == pytest.approx(gini, rel=1e-6)
    assert (p.abc["A"]["accounts"], p.abc["B"]["accounts"], p.abc["C"]["accounts"]) == (n_a, n_b, n - n_a - n_b)

    # A sensible monthly flow: complete months Jan–Nov 2011 against their previous month (the partial
    # December 2011 is left out), balancing, with active customers per month as pandas counts them.
    months = flow.periods
    assert [str(m)[:7] for m in months.period_start] == [f"2011-{m:02d}" for m in range(1, 12)]
    lhs = months.start_revenue + months.new_revenue + months.growth - months.decline - months.churned_revenue + months.reactivated_revenue
    np.testing.assert_allclose(lhs, months.end_revenue, rtol=1e-9)
    by_month = (raw["Quantity"] * raw["UnitPrice"]).groupby([raw["InvoiceDate"].dt.to_period("M"), raw["CustomerID"]]).sum().round(6)
    active = (by_month > 0).groupby(level=0).sum()
    assert months.active_end.tolist() == [int(active[pd.Period(f"2011-{m:02d}", "M")]) for m in range(1, 12)]
    retained = months.grown_accounts + months.flat_accounts + months.declined_accounts
    assert (retained + months.new_accounts + months.reactivated_accounts == months.active_end).all()
    assert (retained + months.churned_accounts == months.active_start).all()

    # new = active in its first month ever, reactivated = active before but not in the previous month,
    # over the whole history - whichever months the range shows
    act = by_month[by_month > 0].reset_index()
    buyers = {m: set(g["CustomerID"]) for m, g in act.groupby("InvoiceDate")}
    seen, prev, want = set(), set(), {}
    for m in sorted(buyers):
        now = buyers[m]
        want[str(m)] = (len(now - seen), len((now - prev) & seen))
        seen, prev = seen | now, now
    for frame in (months, later):
        got = {str(m)[:7]: (n, r) for m, n, r in
               zip(frame.period_start, frame.new_accounts, frame.reactivated_accounts, strict=True)}
        assert got == {m: want[m] for m in got}
    assert [str(m)[:7] for m in later.period_start] == [f"2011-{m:02d}" for m in range(7, 12)]
