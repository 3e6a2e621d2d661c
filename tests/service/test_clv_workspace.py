"""CLV on a small hand-made workspace: margin from cost, CAC per segment, value tiers, grains, runs, subscriptions.

The expected values are computed here from the exported rows with pandas (margins, CAC per channel,
Kaplan-Meier by the product-limit formula), independently of the engine and of lifelines.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sikta.core.clv import ShiftedBetaGeometric, value_tiers
from sikta.errors import DataTooThinError, UsageError
from sikta.service import runs
from sikta.service.clv_contract import survivor_counts
from sikta.service.clv_settings import ClvSettings
from sikta.service.model import model_from_text, validate
from sikta.service.workspace import Workspace

AS_OF = dt.date(2025, 6, 30)
CHANNELS = ["field", "digital", "partner", None]


def _exports(folder):
    rng = np.random.default_rng(7)
    n = 80
    ids = [f"A{i:02d}" for i in range(n)]
    accounts = pd.DataFrame({
        "account_id": ids + ["D1", "D2"],
        "name": [f"Account {i}" for i in ids] + ["A00 sales", "A00 ops"],
        "parent_account_id": [None] * n + ["A00", "A00"],
        "account_type": ["company"] * n + ["department"] * 2,
        "status": ["customer"] * (n + 2),
        "channel_preference": [CHANNELS[i % 4] for i in range(n)] + ["field", "field"],
        "industry": ["it"] * (n + 2),
    })
    rows = []
    start = dt.date(2023, 1, 1)
    for i, acc in enumerate([*ids, "D1", "D2"]):
        lam = rng.gamma(2.0, 1 / 30)  # purchases per day
        scale = rng.gamma(3.0, 10.0)  # customers differ in what they spend per purchase
        life = rng.exponential(500)
        t = rng.integers(0, 200)
        while t < min(life, 910):
            day = start + dt.timedelta(days=int(t))
            amount = float(np.round(rng.gamma(4.0, scale), 2))
            cost = round(0.6 * amount, 2) if CHANNELS[i % 4] == "field" and i < n else None
            rows.append((f"O{len(rows)}", acc, day.isoformat(), amount, cost))
            t += max(1, int(rng.exponential(1 / lam)))
    orders = pd.DataFrame(rows, columns=["order_id", "account_id", "order_date", "amount", "cost"])
    subs = []
    for i, acc in enumerate(ids[:60]):
        s = dt.date(2019 + i % 5, 1 + i % 12, 1)
        ended = i % 3 == 0 and s.year < 2024
        e = s + dt.timedelta(days=int(400 + 90 * (i % 7))) if ended else None
        subs.append((f"S{i}", acc, s.isoformat(), e.isoformat() if e and e <= AS_OF else None, 100.0 + i))
    subscriptions = pd.DataFrame(subs, columns=["subscription_id", "account_id", "start_date", "end_date", "mrr"])
    accounts.to_csv(folder / "accounts.csv", index=False)
    orders.to_csv(folder / "orders.csv", index=False)
    subscriptions.to_csv(folder / "subscriptions.csv", index=False)
    return accounts, orders, subscriptions


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("clv_ws")
    data = d / "data"
    data.mkdir()
    exported = _exports(data)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(data)
    yield ws, exported
    ws.close()


def test_margin_from_cost_per_unit_and_overall_for_the_rest(made):
    ws, (_, orders, _) = made
    res = ws.clv("department", as_of=AS_OF)
    u = res.units().to_pandas().set_index("unit_id")
    o = orders[pd.to_datetime(orders.order_date).dt.date <= AS_OF]
    with_cost = o[o.cost.notna()]
    own = (with_cost.amount - with_cost.cost).groupby(with_cost.account_id).sum() / with_cost.groupby(
        "account_id").amount.sum()
    np.testing.assert_allclose(u.loc[own.index, "margin_rate"], own, rtol=1e-9)
    overall = (with_cost.amount - with_cost.cost).sum() / with_cost.amount.sum()
    rest = u.index.difference(own.index)
    np.testing.assert_allclose(u.loc[rest, "margin_rate"], overall, rtol=1e-9)
    assert res.summary["margin"]["source"] == "cost"
    assert res.summary["margin"]["units_without_cost"] == len(rest)


def test_a_margin_rate_from_the_model_file_scales_clv_without_costs(made, tmp_path):
    ws, (accounts, orders, _) = made
    d = tmp_path / "nocost"
    d.mkdir()
    accounts.to_csv(d / "accounts.csv", index=False)
    orders.drop(columns="cost").to_csv(d / "orders.csv", index=False)
    with Workspace(tmp_path / "w.duckdb") as w:
        w.ingest(d)
        revenue = w.clv(as_of=AS_OF).units().to_pandas().set_index("unit_id").clv
        margin = w.clv(as_of=AS_OF, settings=ClvSettings(margin_rate=0.25)).units().to_pandas().set_index("unit_id").clv
        assert any("CLV is revenue" in n for n in w.clv(as_of=AS_OF).notes)
    # two fits of the same data: DuckDB's parallel sums may add in another order, and the optimizer turns
    # that last bit into ~1e-8 (seen once in a full run); a wrong margin would be off by a factor of 4
    np.testing.assert_allclose(margin, 0.25 * revenue.loc[margin.index], rtol=1e-6)


def test_cac_per_channel_with_a_default(made):
    ws, (accounts, _, _) = made
    s = ClvSettings(cac={"default": 50, "by": "channel_preference", "values": {"field": 900, "partner": 300}})
    u = ws.clv("account", as_of=AS_OF, settings=s).units().to_pandas().set_index("unit_id")
    channel = accounts.set_index("account_id").channel_preference
    expected = channel.loc[u.index].map({"field": 900.0, "partner": 300.0}).fillna(50.0)
    np.testing.assert_allclose(u.cac, expected)
    np.testing.assert_allclose(u.clv_minus_cac, u.clv - expected)
    assert set(u.loc[channel.loc[u.index].isna().to_numpy(), "cac"]) == {50.0}  # no channel: the default


def test_cac_for_a_segment_without_a_cost_is_refused(made):
    ws, _ = made
    s = ClvSettings(cac={"by": "channel_preference", "values": {"field": 900}})
    with pytest.raises(UsageError, match=r"no cost for channel_preference \(no value\), digital, partner;"):
        ws.clv("account", as_of=AS_OF, settings=s)
    with pytest.raises(UsageError, match="unknown feature 'channel'"):
        ws.clv("account", as_of=AS_OF, settings=ClvSettings(cac={"by": "channel", "default": 1}))


def test_grains_fold_departments_into_their_company(made):
    ws, _ = made
    dept = ws.clv("department", as_of=AS_OF).units().to_pandas()
    acc = ws.clv("account", as_of=AS_OF).units().to_pandas()
    assert {"D1", "D2"} <= set(dept.unit_id) and not {"D1", "D2"} & set(acc.unit_id)
    a00 = dept[dept.unit_id.isin(["A00", "D1", "D2"])]
    # the company's purchase days are the union of its own and its departments' days
    assert acc.set_index("unit_id").loc["A00", "frequency"] >= a00.frequency.max()


def test_value_tiers_by_clv_are_the_cumulative_share_rule(made):
    ws, _ = made
    u = ws.clv("account", as_of=AS_OF).units().to_pandas()
    c = u.sort_values(["clv", "unit_id"], ascending=[False, True])
    before = (c.clv.clip(lower=0).cumsum() - c.clv.clip(lower=0)) / c.clv.clip(lower=0).sum()
    expected = np.where(c.clv <= 0, "C", np.where(before < 0.8, "A", np.where(before < 0.95, "B", "C")))
    assert c.value_tier.tolist() == expected.tolist()


def test_value_tiers_by_revenue_cover_every_unit(made):
    ws, _ = made
    tiers = ws.clv.value_tiers("account", AS_OF, by="revenue", a=0.5, b=0.9)
    f = ws.features("account", AS_OF).to_pandas().set_index("unit_id")
    assert set(tiers.unit_id) == set(f.index)
    t = tiers.set_index("unit_id")
    np.testing.assert_allclose(t.tier_value, f.loc[t.index, "revenue_12m"])
    assert t.value_tier.tolist() == value_tiers(t.tier_value, t.index, a=0.5, b=0.9).tolist()


def test_degenerate_data_give_one_clear_line(made):
    ws, _ = made
    with pytest.raises(DataTooThinError, match="nothing to fit"):
        ws.clv(calibration_end="2022-12-31", as_of=AS_OF)
    with pytest.raises(UsageError, match="after the as-of date"):
        ws.clv(calibration_end="2025-07-01", as_of=AS_OF)


MODEL = """
name: clv-model
potential:
  - name: clv
  - name: tier
    expr: value_tier
pain:
  - name: p_alive
    direction: lower
clv:
  horizon: 12
  cac: {default: 100}
"""


def test_a_run_joins_the_clv_builtins_and_stores_clv_columns(made):
    ws, _ = made
    model = model_from_text(MODEL, source="clv.yaml")
    validate(model, ws.features("account", AS_OF).schema())  # model check knows the built-ins
    summary = runs.create_run(ws, model, as_of=AS_OF)
    rows = ws.run_rows(summary.run_id).to_pandas().set_index("unit_id")
    res = ws.clv("account", as_of=AS_OF, horizon=12, settings=model.clv)
    u = res.units().to_pandas().set_index("unit_id")
    bought = rows.index.intersection(u.index)  # units in scope (customers, prospects) that bought
    assert len(bought) > len(u) / 2
    assert rows.loc[rows.index.difference(u.index), "clv__clv"].isna().all()  # no purchase, no CLV
    np.testing.assert_allclose(rows.loc[bought, "clv__clv"], u.loc[bought, "clv"])
    np.testing.assert_allclose(rows.loc[bought, "potential__clv__value"], u.loc[bought, "clv"])
    np.testing.assert_allclose(rows.loc[bought, "clv__clv_minus_cac"], u.loc[bought, "clv"] - 100)
    np.testing.assert_allclose(rows.loc[bought, "pain__p_alive__value"], u.loc[bought, "p_alive"])
    assert rows.loc[bought, "clv__value_tier"].tolist() == u.loc[bought, "value_tier"].tolist()
    tier_number = u.loc[bought, "value_tier"].map({"A": 3.0, "B": 2.0, "C": 1.0})
    np.testing.assert_allclose(rows.loc[bought, "potential__tier__value"], tier_number)
    meta = runs.get_run(ws, summary.run_id)
    import json

    assert json.loads(meta["clv"])["bgnbd"] == res.params


def test_a_run_without_clv_has_no_clv_columns(made):
    ws, _ = made
    m = model_from_text("name: plain\npotential: [{name: growth}]\npain: [{name: need_score}]\n")
    s = runs.create_run(ws, m, as_of=AS_OF)
    assert not [c for c in ws.run_rows(s.run_id).columns if c.startswith("clv__")]
    assert runs.get_run(ws, s.run_id)["clv"] is None


def _kaplan_meier(durations: np.ndarray, ended: np.ndarray, t: float) -> float:
    """Product-limit estimate at t, by hand."""
    s = 1.0
    for u in np.unique(durations[ended & (durations <= t)]):
        at_risk = (durations >= u).sum()
        s *= 1 - (ended & (durations == u)).sum() / at_risk
    return s


def test_contractual_retention_sbg_and_clv(made):
    ws, (_, _, subs) = made
    res = ws.clv.contractual("account", as_of=AS_OF, settings=ClvSettings(margin_rate=0.5))
    u = res.units().to_pandas().set_index("unit_id")
    assert len(u) == 60
    start = pd.to_datetime(subs.set_index("account_id").start_date)
    end = pd.to_datetime(subs.set_index("account_id").end_date)
    assert u.active.to_dict() == end.isna().to_dict()
    stop = end.fillna(pd.Timestamp(AS_OF))
    np.testing.assert_array_equal(u.duration_days.loc[start.index], (stop - start).dt.days)
    months = (stop - start).dt.days.to_numpy() / (365.25 / 12)
    overall = res.curves[res.curves.kind == "overall"].set_index("month").retention
    for m in (6, 12, 24, 36):
        assert overall[m] == pytest.approx(_kaplan_meier(months, end.notna().to_numpy(), m), abs=1e-12)
    counts = survivor_counts(start, (stop - start).dt.days, AS_OF, 12)
    assert res.summary["cohorts"] == counts
    sbg = ShiftedBetaGeometric().fit(list(counts.values()))
    assert res.summary["sbg"] == pytest.approx(sbg.params_)
    # CLV of an active unit: ARR × margin × DERL at its completed renewals, 10 % a year
    active = u[u.active]
    renewals = np.floor(active.duration_days / 365.25 + 1e-9).astype(int)
    derl = np.array([sbg.derl(0.10, [n])[0] for n in renewals])
    np.testing.assert_allclose(active.clv, active.arr * 0.5 * derl, rtol=1e-12)
    assert (u.loc[~u.active, "clv"] == 0).all()
    assert res.summary["arr"] == pytest.approx(12 * subs[subs.end_date.isna()].mrr.sum())


def test_survivor_counts_by_hand():
    starts = pd.Series(pd.to_datetime(["2020-01-01", "2020-07-01", "2021-01-01", "2024-06-01"]))
    got = survivor_counts(starts, pd.Series([100, 800, 1500, 30]), dt.date(2023, 1, 1), 12)
    # the 2020 cohort reached 2 full years (of 365.25 days) by 2023-01-01 (its last start 2020-07-01):
    # 2 at the start, 1 after a year (800 days), 1 after two; the 2021 cohort's 730 days are just short
    # of two years; the 2024 start is in the future of the as-of date's cohorts: no full year, no counts
    assert got == {"2020": [2, 1, 1], "2021": [1, 1]}


def test_spends_without_spread_fall_back_to_their_mean(tmp_path):
    """Every purchase worth 40: Gamma-Gamma cannot be fitted; each unit is expected to spend 40, and it says so."""
    rng = np.random.default_rng(3)
    d = tmp_path / "flat"
    d.mkdir()
    rows = []
    for i in range(30):
        for day in sorted(set(rng.integers(0, 500, size=int(rng.integers(1, 8))).tolist())):
            rows.append((f"O{len(rows)}", f"C{i}", (dt.date(2024, 1, 1) + dt.timedelta(days=day)).isoformat(), 40.0))
    pd.DataFrame(rows, columns=["order_id", "account_id", "order_date", "amount"]).to_csv(d / "orders.csv", index=False)
    (d / "mapping.yaml").write_text("accounts: {derive_from: orders}\n")
    with Workspace(tmp_path / "w.duckdb") as w:
        w.ingest(d / "orders.csv", mapping=d / "mapping.yaml")
        res = w.clv(as_of="2025-06-30")
        u = res.units().to_pandas()
    assert (u.expected_spend == 40.0).all()
    assert res.gamma_gamma is None and res.summary["gamma_gamma_check"]["mean_spend"] == 40.0
    assert any("Gamma-Gamma cannot be fitted" in n for n in res.notes)


def test_outflow_ranked_by_alive_value(made):
    ws, _ = made
    by_risk = ws.analyze(grain="account", as_of=AS_OF).outflow()
    by_value = ws.analyze(grain="account", as_of=AS_OF, outflow_rank="alive_value").outflow()
    assert len(by_risk) > 5 and sorted(by_value.unit_id) == sorted(by_risk.unit_id)  # same customers, another order
    u = ws.clv("account", as_of=AS_OF).units().to_pandas().set_index("unit_id")
    v = by_value.set_index("unit_id")
    known = v.index.intersection(u.index)
    np.testing.assert_allclose(v.loc[known, "alive_value"], u.loc[known, "p_alive"] * u.loc[known, "clv"])
    values = by_value.alive_value.dropna().to_numpy()
    assert (np.diff(values) <= 0).all() and by_value.alive_value.notna().sum() == len(known)
    with pytest.raises(UsageError, match="outflow rank"):
        ws.analyze(outflow_rank="clv")
