"""Best customers: selection, purchase history and product mix in the engine, and the
drivers found on the synthetic generator's planted best customers."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import Counter

import ibis
import numpy as np
import pandas as pd
import pytest

from sikta.core.drivers import DriverSelector
from sikta.core.stats import effect_sizes
from sikta.engine.best import (
    CANDIDATE_FEATURES,
    candidate_features,
    product_line_columns,
    product_mix,
    purchase_history,
    select_best,
)
from sikta.engine.features import FEATURE_DOCS, FEATURE_GROUPS, unit_map
from sikta.errors import UsageError

AS_OF = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


@pytest.fixture
def small():
    return ibis.memtable({
        "unit_id": ["u1", "u2", "u3", "u4", "u5", "u6", "u7"],
        "status": ["customer", "customer", "customer", "customer", "customer", "prospect", "former"],
        "revenue_12m": [100.0, 500.0, 300.0, 300.0, None, 0.0, 900.0],
        "revenue_prev_12m": [10.0, 600.0, 100.0, 0.0, 50.0, 0.0, 1000.0],
        "gross_margin_12m": [0.9, 0.1, 0.5, None, 0.3, None, 0.5],
        "tickets_12m": [1, 9, 3, 3, 0, 0, 4],
        "industry": ["a", "b", "c", "d", "e", "f", "g"],
    })  # fmt: skip


def _best(con, t) -> list[str]:
    df = con.to_pandas(t)
    return sorted(df.loc[df.is_best, "unit_id"])


# -- select_best ---------------------------------------------------------------------------


def test_select_by_revenue_breaks_ties_by_unit_id(con, small):
    assert _best(con, select_best(small, top_n=2)) == ["u2", "u3"]  # u3 and u4 tie at 300
    out = con.to_pandas(select_best(small, top_n=2)).set_index("unit_id")
    assert out.loc[["u2", "u3", "u4", "u1"], "best_rank"].tolist() == [1, 2, 3, 4]
    assert out.loc[["u5", "u6", "u7"], "best_rank"].isna().all()  # no revenue / not customers
    assert not out.is_best.isna().any()
    assert out.loc["u7", "best_metric"] != out.loc["u7", "best_metric"]  # formers get no metric


def test_top_share_counts_eligible_customers(con, small):
    # 4 customers have revenue: round(0.5 * 4) = 2, round(0.2 * 4 + 0.5) = 1, 0.375 * 4 = 1.5 -> 2
    assert _best(con, select_best(small, top_share=0.5)) == ["u2", "u3"]
    assert _best(con, select_best(small)) == ["u2"]
    assert _best(con, select_best(small, top_share=0.375)) == ["u2", "u3"]
    assert _best(con, select_best(small, top_n=50)) == ["u1", "u2", "u3", "u4"]  # more than there are


def test_other_metrics(con, small):
    # margin = revenue * margin: u1 90, u2 50, u3 150 (u4 has no margin)
    assert _best(con, select_best(small, by="margin", top_n=2)) == ["u1", "u3"]
    # growth = revenue - previous: u1 90, u2 -100, u3 200, u4 300, u5 null
    assert _best(con, select_best(small, by="growth", top_n=2)) == ["u3", "u4"]
    assert _best(con, select_best(small, by="tickets_12m", top_n=1)) == ["u2"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_n": 2, "top_share": 0.3}, "not both"),
        ({"top_n": None, "top_share": None}, "give top_n or top_share"),
        ({"top_n": 0}, "positive"),
        ({"top_share": 1.5}, "top_share"),
        ({"by": "nonsense"}, "cannot pick"),
        ({"by": "industry"}, "not a number"),
    ],
)
def test_select_best_rejects(small, kwargs, match):
    with pytest.raises(UsageError, match=match):
        select_best(small, **kwargs)


def test_select_best_is_lazy(small):
    assert isinstance(select_best(small), ibis.Table)


# -- purchase_history / product_mix on hand-made data ---------------------------------------------


@pytest.fixture
def shop():
    orders = ibis.memtable({
        "account_id": ["a1", "a2", "a1", "b1", "b1", "c1", "p1", "a1"],
        "order_date": [dt.date(2025, 1, 5), dt.date(2025, 2, 1), dt.date(2025, 5, 9), dt.date(2025, 4, 2),
                       dt.date(2025, 5, 1), dt.date(2025, 6, 30), dt.date(2025, 3, 1), dt.date(2026, 1, 2)],
        "amount": [10.0, 5.0, 20.0, 7.0, -1.0, 3.0, 99.0, 1000.0],
    })  # fmt: skip
    units = ibis.memtable({"account_id": ["a1", "a2", "b1", "c1", "p1"], "unit_id": ["A", "A", "B", "C", "P"]})
    best = ibis.memtable({
        "unit_id": ["A", "B", "C", "P"], "status": ["customer", "customer", "customer", "former"],
        "is_best": [True, False, False, False],
    })  # fmt: skip
    return orders, units, best


def test_purchase_history_by_quarter(con, shop):
    h = con.to_pandas(purchase_history(*shop, as_of=AS_OF))
    h["period_start"] = pd.to_datetime(h.period_start).dt.date.astype(str)
    got = h[["group", "period_start", "revenue", "units", "group_units", "revenue_per_unit"]].values.tolist()
    assert got == [
        ["best", "2025-01-01", 15.0, 1, 1, 15.0],
        ["best", "2025-04-01", 20.0, 1, 1, 20.0],
        ["rest", "2025-04-01", 9.0, 2, 2, 4.5],  # B: 7 - 1 credit note, C: 3; the former P is in neither
    ]  # the 2026 order is after as_of


def test_purchase_history_periods(con, shop):
    months = con.to_pandas(purchase_history(*shop, period="month", as_of=AS_OF))
    assert len(months[months.group == "best"]) == 3
    years = con.to_pandas(purchase_history(*shop, period="year", as_of=AS_OF))
    assert years.revenue.tolist() == [35.0, 9.0]
    with pytest.raises(UsageError, match="period"):
        purchase_history(*shop, period="week", as_of=AS_OF)


def test_product_mix_by_hand(con):
    f = ibis.memtable({
        "unit_id": list("abcde"), "status": ["customer"] * 4 + ["prospect"],
        "is_best": [True, True, False, False, False],
        "rev12_x": [10.0, 0.0, 5.0, 5.0, 100.0], "rev12_y": [30.0, 20.0, 0.0, None, 100.0],
    })  # fmt: skip
    m = con.to_pandas(product_mix(f, {"x": "rev12_x", "y": "rev12_y"})).set_index("product_line")
    assert m.loc["x"].tolist()[1:] == pytest.approx([0.5, 1.0, 0.5, 10 / 60, 1.0, 10 / 20])
    y = m.loc["y"]
    assert (y.best_buyers, y.rest_buyers, y.best_revenue_share, y.rest_revenue_share, y.best_share_of_line) == (
        1.0, 0.0, 50 / 60, 0.0, 1.0,
    )  # fmt: skip
    assert np.isnan(y.lift)  # no rest buyers: no ratio
    with pytest.raises(UsageError, match="rev12_z"):
        product_mix(f, {"z": "rev12_z"})


# -- candidates ----------------------------------------------------------------------------------------


def test_candidates_exist_and_are_not_the_outcome():
    outcome_groups = {"key", "status", "rfm", "revenue", "products", "subscriptions"}
    for pattern in CANDIDATE_FEATURES:
        # the catalog names pattern columns like interactions_<channel>_12m
        spelled = {pattern.replace("*", "<channel>"), pattern.replace("*", "<item>")}
        matches = [name for name in FEATURE_DOCS if fnmatch.fnmatchcase(name, pattern) or name in spelled]
        assert matches, f"{pattern} names no catalog feature"
        for name in matches:
            assert FEATURE_GROUPS[name] not in outcome_groups, name
    for excluded in ("revenue_12m", "monetary_12m", "frequency_12m", "gross_margin_12m", "rev12_<line>", "owner",
                     "mrr", "seats", "recency_days", "n_product_lines", "status", "usage_events_90d",
                     "active_users_30d"):
        assert not any(fnmatch.fnmatchcase(excluded, p) for p in CANDIDATE_FEATURES), excluded


def test_candidate_features_drops_the_metric():
    cols = ["unit_id", "industry", "usage_events_90d", "usage_trend", "tickets_12m", "rev12_x", "need_price"]
    # usage volume grows with paid seats, so it is no candidate; the trend is
    assert candidate_features(cols) == ["industry", "usage_trend", "tickets_12m", "need_price"]
    assert candidate_features(cols, by="usage_trend") == ["industry", "tickets_12m", "need_price"]
    assert product_line_columns(cols) == {"x": "rev12_x"}


# -- on the synthetic generator ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(synthetic_3000):
    from sikta.service.ingest import HIERARCHY

    d, ws = synthetic_3000
    f = ws.features(grain="account", as_of=AS_OF.isoformat())
    units = unit_map(ws.store.table(HIERARCHY), "account")
    truth = pd.read_parquet(d / "data" / "truth.parquet")
    umap = ws.store.frame(units)
    planted = truth.merge(umap, on="account_id").groupby("unit_id").is_best.any()
    drivers = set(truth.best_drivers.dropna().unique()[0].split(","))
    b = select_best(f, by="revenue", top_share=0.1)
    customers = ws.store.frame(b.filter(b.status == "customer"))
    customers["planted"] = customers.unit_id.map(planted).fillna(False).astype(bool)
    return {"ws": ws, "f": f, "best": b, "units": units, "customers": customers, "drivers": drivers}


def test_generator_plants_one_driver_pair(synthetic):
    assert len(synthetic["drivers"]) == 2
    assert synthetic["customers"].planted.sum() >= 100


def test_revenue_top_tenth(synthetic):
    c = synthetic["customers"]
    eligible = c.revenue_12m.notna().sum()
    assert c.is_best.sum() == int(np.floor(0.1 * eligible + 0.5))
    assert c[c.is_best].revenue_12m.min() >= c[~c.is_best].revenue_12m.max()


def test_purchase_history_matches_the_feature_table(synthetic):
    ws, b = synthetic["ws"], synthetic["best"]
    h = purchase_history(ws.table("orders"), synthetic["units"], b, period="quarter", as_of=AS_OF)
    h = ws.store.frame(h)
    assert len(h) <= 2 * 4 * 4  # small: groups × quarters
    c = synthetic["customers"]
    # calendar 2025 is exactly the feature window (as_of - 12 months, as_of]
    for group, mask in (("best", c.is_best), ("rest", ~c.is_best)):
        rows = h[(h.group == group) & (pd.to_datetime(h.period_start).dt.year == 2025)]
        assert rows.revenue.sum() == pytest.approx(c[mask].order_revenue_12m.sum(), rel=1e-9)
        assert (rows.group_units == mask.sum()).all()


def test_best_customers_buy_more_of_the_catalog(synthetic):
    b, f, ws = synthetic["best"], synthetic["f"], synthetic["ws"]
    mix = ws.store.frame(product_mix(b, product_line_columns(f.columns)))
    assert len(mix) >= 4
    assert mix.best_revenue_share.sum() == pytest.approx(1.0)
    assert (mix.lift > 1).mean() >= 0.75


def test_drivers_of_the_planted_best_customers(synthetic):
    c = synthetic["customers"]
    X = c[candidate_features(c.columns)]
    sel = DriverSelector(random_state=0).fit(X, c.planted)
    assert synthetic["drivers"] <= set(sel.features_), sel.cv_scores_
    assert sel.holdout_auc_ > 0.8
    assert sel.holdout_capture_ > 2 * sel.base_rate_


def test_the_revenue_best_are_mostly_the_planted_ones(synthetic):
    """The generator lets fit beat size: most of the top tenth by revenue are planted best customers."""
    c = synthetic["customers"]
    overlap = (c.is_best & c.planted).sum() / c.is_best.sum()
    assert overlap >= 0.6
    es = effect_sizes(c, c.is_best, numeric=["employees", "tech_maturity", "sites"]).set_index("feature").effect
    assert es["sites"] > es["employees"]


def test_drivers_of_the_revenue_best_are_the_planted_ones(synthetic):
    """The revenue-best are a noisy proxy of the planted best (above), so one holdout split may find one
    planted driver only (over 40 seeds both were found 12-15 times, with scikit-learn's splits or ours):
    pooled over six splits, the planted drivers are the columns chosen most often."""
    c = synthetic["customers"]
    X = c[candidate_features(c.columns)]
    chosen = Counter(f for seed in range(6) for f in DriverSelector(random_state=seed).fit(X, c.is_best).features_)
    top_two = {f for f, _ in chosen.most_common(2)}
    assert top_two == synthetic["drivers"], chosen
    others = [n for f, n in chosen.items() if f not in synthetic["drivers"]]
    assert max(others, default=0) < min(chosen[f] for f in synthetic["drivers"]), chosen
