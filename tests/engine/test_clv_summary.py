"""CLV summaries in the engine: equal to lifetimes on CDNOW_master, and the conventions by hand."""

from __future__ import annotations

import datetime as dt
import itertools

import ibis
import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import (
    calibration_and_holdout_data,
    expected_cumulative_transactions,
    summary_data_from_transaction_data,
)

from sikta.core.clv import BetaGeo, tracking_curve
from sikta.engine.clv_summary import (
    clv_summary,
    daily_transactions,
    first_purchases_by_day,
    repeat_purchases_by_week,
)
from sikta.errors import UsageError
from tests.clv_data import cdnow_master

D = dt.date
CAL, OBS = D(1997, 9, 30), D(1998, 6, 30)
_counter = itertools.count()


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


@pytest.fixture(scope="module")
def cdnow(con):
    """CDNOW_master as an orders table in DuckDB; every customer is its own unit."""
    raw = cdnow_master()
    orders = con.create_table(
        "cdnow_orders",
        pd.DataFrame(
            {
                "account_id": raw.customer_id,
                "order_id": [f"o{i}" for i in range(len(raw))],
                "order_date": raw.order_date.dt.date,
                "amount": raw.dollar_value,
            }
        ),
    )
    ids = raw.customer_id.unique()
    units = con.create_table("cdnow_units", pd.DataFrame({"account_id": ids, "unit_id": ids}))
    return raw, orders, units


def test_cdnow_summary_equals_lifetimes_calibration_and_holdout(con, cdnow):
    raw, orders, units = cdnow
    daily = daily_transactions(orders, units)
    ours = con.to_pandas(clv_summary(daily, calibration_end=CAL, observation_end=OBS)).set_index("unit_id")
    ref = calibration_and_holdout_data(
        raw, "customer_id", "order_date", calibration_period_end=CAL, observation_period_end=OBS,
        freq="D", freq_multiplier=7, monetary_value_col="dollar_value",
    )
    assert len(ours) == len(ref) == 23_570
    ours = ours.loc[ref.index]
    for mine, theirs in [
        ("frequency", "frequency_cal"),
        ("recency", "recency_cal"),
        ("T", "T_cal"),
        ("monetary_value", "monetary_value_cal"),
        ("frequency_holdout", "frequency_holdout"),
        ("duration_holdout", "duration_holdout"),
    ]:
        np.testing.assert_allclose(ours[mine].to_numpy(float), ref[theirs].to_numpy(float), rtol=1e-12, err_msg=mine)
    # holdout value: the order lines after calibration, summed per customer (an independent pandas sum)
    late = raw[(raw.order_date > pd.Timestamp(CAL)) & (raw.order_date <= pd.Timestamp(OBS))]
    value = late.groupby("customer_id").dollar_value.sum().reindex(ref.index, fill_value=0.0)
    np.testing.assert_allclose(ours.value_holdout.to_numpy(), value.to_numpy(), atol=1e-9)
    # lifetimes averages holdout order lines, we average days: equal where no day has two lines
    lines = late.groupby(["customer_id", "order_date"]).size()
    single = ~ref.index.isin(lines[lines > 1].index.get_level_values(0))
    np.testing.assert_allclose(
        ours.monetary_value_holdout.to_numpy()[single], ref.monetary_value_holdout.to_numpy()[single], rtol=1e-12
    )


def test_cdnow_whole_period_summary_equals_lifetimes(con, cdnow):
    raw, orders, units = cdnow
    ours = con.to_pandas(clv_summary(daily_transactions(orders, units), calibration_end=OBS, time_unit="day"))
    ours = ours.set_index("unit_id")
    ref = summary_data_from_transaction_data(
        raw, "customer_id", "order_date", monetary_value_col="dollar_value", observation_period_end=OBS
    )
    ours = ours.loc[ref.index]
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col].to_numpy(float), ref[col].to_numpy(), rtol=1e-12, err_msg=col)


def test_cdnow_tracking_curve_equals_lifetimes(con, cdnow):
    raw, orders, units = cdnow
    daily = daily_transactions(orders, units)
    summary = con.to_pandas(clv_summary(daily, calibration_end=CAL))
    oracle = BetaGeoFitter().fit(summary.frequency, summary.recency, summary["T"])
    births = con.to_pandas(first_purchases_by_day(daily, calibration_end=CAL))
    weekly = con.to_pandas(repeat_purchases_by_week(daily, calibration_end=CAL, observation_end=OBS))
    assert births.start.nunique() == 1 and births.start.iloc[0] == pd.Timestamp("1997-01-01")
    assert births.customers.sum() == len(summary)
    assert (weekly.cumulative_repeat_transactions == weekly.repeat_transactions.cumsum()).all()
    weeks = ((OBS - D(1997, 1, 1)).days + 1) // 7  # 78 whole weeks
    curve = tracking_curve(BetaGeo.from_params(**oracle.params_.to_dict()), births, weekly, weeks=weeks)
    ref = expected_cumulative_transactions(
        oracle, raw, "order_date", "customer_id", t=7 * weeks, freq="D", freq_multiplier=7
    )
    np.testing.assert_allclose(curve.actual.to_numpy(), ref.actual.to_numpy())
    np.testing.assert_allclose(curve.predicted.to_numpy(), ref.predicted.to_numpy(), rtol=1e-10)


def _tables(con, lines, units, cost=False):
    cols = {"account_id": "string", "order_date": "date", "amount": "float64"} | ({"cost": "float64"} if cost else {})
    rows = [
        dict(zip(cols, (a, D.fromisoformat(d), float(x), *(() if not cost else (c,))), strict=True))
        for a, d, x, *rest in lines
        for c in [rest[0] if rest else None]
    ]
    o = con.create_table(f"o{next(_counter)}", ibis.memtable(pd.DataFrame(rows, columns=list(cols))).cast(cols))
    u = con.create_table(
        f"u{next(_counter)}", pd.DataFrame({"account_id": list(units), "unit_id": list(units.values())})
    )
    return o, u


def test_conventions_by_hand(con):
    orders, units = _tables(
        con,
        [
            ("a1", "2024-01-01", 100),  # first purchase day of unit A: two accounts, two lines
            ("a2", "2024-01-01", 50),
            ("a1", "2024-01-08", 30),
            ("a1", "2024-01-08", -10),  # same-day credit note: the day nets 20
            ("a2", "2024-01-15", -40),  # a pure return day: not a purchase
            ("a1", "2024-01-22", 0),  # a zero-value day: a purchase of 0
            ("a1", "2024-02-05", 70),  # holdout
            ("a1", "2024-02-05", 5),
            ("b", "2024-01-29", 12),  # unit B: one purchase on calibration_end
            ("c", "2024-02-10", 99),  # unit C: only holdout purchases, not in the summary
        ],
        {"a1": "A", "a2": "A", "b": "B", "c": "C"},
    )
    daily = daily_transactions(orders, units)
    summary = clv_summary(daily, calibration_end="2024-01-29", observation_end=D(2024, 2, 12), time_unit="day")
    s = con.to_pandas(summary).set_index("unit_id")
    assert sorted(s.index) == ["A", "B"]
    a, b = s.loc["A"], s.loc["B"]
    assert (a.frequency, a.recency, a["T"]) == (2, 21.0, 28.0)
    assert a.monetary_value == pytest.approx((20 + 0) / 2)  # repeat days only, the first (150) excluded
    assert (a.frequency_holdout, a.value_holdout, a.monetary_value_holdout) == (1, 75.0, 75.0)
    assert a.duration_holdout == 14.0
    assert (b.frequency, b.recency, b["T"], b.monetary_value) == (0, 0, 0, 0)
    assert (b.frequency_holdout, b.value_holdout) == (0, 0)
    assert s.frequency.dtype == np.int64 and s.first_purchase.loc["A"] == pd.Timestamp("2024-01-01")


@pytest.mark.parametrize(("unit", "days"), [("day", 1.0), ("week", 7.0), ("month", 365.25 / 12)])
def test_time_units_are_continuous_days(con, unit, days):
    orders, units = _tables(con, [("a", "2024-01-01", 10), ("a", "2024-01-11", 20)], {"a": "A"})
    s = con.to_pandas(clv_summary(daily_transactions(orders, units), calibration_end=D(2024, 3, 1), time_unit=unit))
    assert s.recency.iloc[0] == pytest.approx(10 / days)
    assert s["T"].iloc[0] == pytest.approx(60 / days)


def test_margin_rate_over_lines_with_a_cost(con):
    orders, units = _tables(
        con,
        [
            ("a", "2024-01-01", 100, 60),
            ("a", "2024-01-05", 50, None),
            ("a", "2024-01-09", 100, 90),
            ("b", "2024-01-02", 10, None),
        ],
        {"a": "A", "b": "B"},
        cost=True,
    )
    s = con.to_pandas(clv_summary(daily_transactions(orders, units), calibration_end=D(2024, 1, 31)))
    s = s.set_index("unit_id")
    assert s.margin_rate.loc["A"] == pytest.approx((40 + 10) / 200)
    assert pd.isna(s.margin_rate.loc["B"])
    no_cost, u = _tables(con, [("a", "2024-01-01", 100)], {"a": "A"})
    assert "margin_rate" not in clv_summary(daily_transactions(no_cost, u), calibration_end=D(2024, 1, 31)).columns


def test_tracking_tables_by_hand(con):
    orders, units = _tables(
        con,
        [
            ("a", "2024-01-01", 10), ("a", "2024-01-03", 10), ("a", "2024-01-20", 10),
            ("b", "2024-01-05", 10), ("b", "2024-01-05", 5), ("b", "2024-02-02", 10),
            ("c", "2024-02-01", 10), ("c", "2024-02-03", 10),  # born after calibration: not in the cohort
        ],
        {"a": "A", "b": "B", "c": "C"},
    )
    daily = daily_transactions(orders, units)
    births = con.to_pandas(first_purchases_by_day(daily, calibration_end=D(2024, 1, 31)).order_by("day"))
    assert births[["day", "customers"]].values.tolist() == [[0, 1], [4, 1]]
    weekly = con.to_pandas(
        repeat_purchases_by_week(daily, calibration_end=D(2024, 1, 31), observation_end=D(2024, 2, 29))
    )
    # repeats on days 2 (week 1), 19 (week 3) and 32 (week 5)
    assert weekly[["week", "repeat_transactions", "cumulative_repeat_transactions"]].values.tolist() == [
        [1, 1, 1], [3, 1, 2], [5, 1, 3],
    ]


def test_functions_are_lazy_and_check_their_arguments(con):
    orders, units = _tables(con, [("a", "2024-01-01", 10)], {"a": "A"})
    daily = daily_transactions(orders, units)
    assert isinstance(daily, ibis.Table)
    with pytest.raises(UsageError, match="unknown time unit 'year'"):
        clv_summary(daily, calibration_end=D(2024, 1, 31), time_unit="year")
    with pytest.raises(UsageError, match="must be after calibration_end"):
        clv_summary(daily, calibration_end=D(2024, 1, 31), observation_end=D(2024, 1, 31))
    with pytest.raises(UsageError, match="calibration_end must be a date"):
        clv_summary(daily, calibration_end="end of January")
    with pytest.raises(UsageError, match="must not be before calibration_end"):
        repeat_purchases_by_week(daily, calibration_end=D(2024, 1, 31), observation_end=D(2024, 1, 1))
