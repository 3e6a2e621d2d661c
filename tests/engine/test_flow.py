"""Customer flow, ARR bridge and retention against hand-worked tables and a naive reference."""

from __future__ import annotations

import datetime as dt
import itertools

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sikta.engine.features_parts import DAYS_PER_MONTH as DPM
from sikta.engine.flow import (
    customer_flow,
    period_revenue,
    period_starts,
    retention_rates,
    subscription_flow,
)
from sikta.errors import InputError, UsageError

D = dt.date
CATS = ("new", "grown", "flat", "declined", "churned", "reactivated")
BRIDGE = ("start_revenue", "new_revenue", "growth", "decline", "churned_revenue", "reactivated_revenue", "end_revenue")

_counter = itertools.count()


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


def _table(con, rows: list[dict], schema: dict[str, str]) -> ibis.Table:
    df = pd.DataFrame(rows, columns=list(schema))
    return con.create_table(f"t{next(_counter)}", ibis.memtable(df).cast(schema), overwrite=True)


def _orders(con, rows):
    rows = [{"account_id": a, "order_date": D.fromisoformat(d), "amount": float(x)} for a, d, x in rows]
    return _table(con, rows, {"account_id": "string", "order_date": "date", "amount": "float64"})


def _subs(con, rows):
    rows = [
        {"account_id": a, "product_line": "core", "start_date": D.fromisoformat(s),
         "end_date": None if e is None else D.fromisoformat(e), "mrr": float(m)}
        for a, s, e, m in rows
    ]
    schema = {"account_id": "string", "product_line": "string", "start_date": "date", "end_date": "date",
              "mrr": "float64"}
    return _table(con, rows, schema)


def _units(con, mapping: dict[str, str]):
    rows = [{"account_id": a, "unit_id": u} for a, u in mapping.items()]
    return _table(con, rows, {"account_id": "string", "unit_id": "string"})


def _frame(con, expr) -> pd.DataFrame:
    df = con.to_pandas(expr)
    for c in ("period_start", "prev_period_start", "period_end"):
        if c in df.columns:
            df[c] = pd.to_datetime(df[c]).dt.date
    return df


def _balance(row) -> float:
    return (row["start_revenue"] + row["new_revenue"] + row["growth"] - row["decline"]
            - row["churned_revenue"] + row["reactivated_revenue"])


# ---------------------------------------------------------------------------
# The hand example: 4 units x 4 months (Jan-Apr 2024), orders only.
#
# net revenue per unit and month (a1 + a2 roll up into U1):
#
#         Jan          Feb                  Mar    Apr
#   U1    60+40=100    101 (+1 %: flat)     150    120
#   U2    50           30-40 = -10 (credit  -      80   (reactivated after a gap)
#                      note: inactive)
#   U3    -            200 (new)            200    197  (-1.5 %: flat)
#   U4    30           30                   -      -
#
# ignored: U3's Dec 2023 order (before the range: U3 is still new in Feb), U1's
# 2024-05-03 order (May is not complete by end = 2024-05-15), and account "x"
# (not in the unit map).
# ---------------------------------------------------------------------------
HAND_ORDERS = [
    ("a1", "2024-01-05", 60), ("a2", "2024-01-20", 40), ("a1", "2024-02-10", 101),
    ("a1", "2024-03-01", 100), ("a2", "2024-03-31", 50), ("a1", "2024-04-15", 120),
    ("b", "2024-01-31", 50), ("b", "2024-02-01", 30), ("b", "2024-02-28", -40), ("b", "2024-04-02", 80),
    ("c", "2023-12-20", 999), ("c", "2024-02-14", 200), ("c", "2024-03-14", 200), ("c", "2024-04-14", 197),
    ("d", "2024-01-09", 30), ("d", "2024-02-09", 30),
    ("a1", "2024-05-03", 500), ("x", "2024-02-02", 77),
]
HAND_UNITS = {"a1": "U1", "a2": "U1", "b": "U2", "c": "U3", "d": "U4"}

# Feb vs Jan: active Jan U1 100, U2 50, U4 30 -> start 180.
#   U1 flat (+1, growth 1), U2 churned (50), U3 new (200), U4 flat (0). end 101 + 200 + 30 = 331.
#   180 + 200 + 1 - 0 - 50 + 0 = 331
# Mar vs Feb: active Feb U1 101, U3 200, U4 30 -> start 331.
#   U1 grown (+49), U3 flat (0), U4 churned (30); U2 inactive both months: nothing. end 150 + 200 = 350.
#   331 + 0 + 49 - 0 - 30 + 0 = 350
# Apr vs Mar: active Mar U1 150, U3 200 -> start 350.
#   U1 declined (-30), U3 flat (-3, counted in decline), U2 reactivated (80). end 120 + 197 + 80 = 397.
#   350 + 0 + 0 - 33 - 0 + 80 = 397
HAND_EXPECTED = pd.DataFrame(
    [
        # period     prev        start  new  growth decline churned react end
        (D(2024, 2, 1), D(2024, 1, 1), 180.0, 200.0, 1.0, 0.0, 50.0, 0.0, 331.0),
        (D(2024, 3, 1), D(2024, 2, 1), 331.0, 0.0, 49.0, 0.0, 30.0, 0.0, 350.0),
        (D(2024, 4, 1), D(2024, 3, 1), 350.0, 0.0, 0.0, 33.0, 0.0, 80.0, 397.0),
    ],
    columns=["period_start", "prev_period_start", *BRIDGE],
)
HAND_LOGOS = {
    #        new grown flat declined churned react | retained active_start active_end
    D(2024, 2, 1): (1, 0, 2, 0, 1, 0, 2, 3, 3),
    D(2024, 3, 1): (0, 1, 1, 0, 1, 0, 2, 3, 2),
    D(2024, 4, 1): (0, 0, 1, 1, 0, 1, 2, 2, 3),
}


@pytest.fixture(scope="module")
def hand(con):
    orders = _orders(con, HAND_ORDERS)
    units = _units(con, HAND_UNITS)
    per = period_revenue(orders, None, units, period="month", start=D(2024, 1, 1), end=D(2024, 5, 15))
    return per, _frame(con, customer_flow(per))


def test_period_revenue_by_hand(con, hand):
    per = _frame(con, hand[0]).sort_values(["unit_id", "period_start"])
    got = {(r.unit_id, r.period_start.month): r.revenue for r in per.itertuples()}
    assert got == {
        ("U1", 1): 100.0, ("U1", 2): 101.0, ("U1", 3): 150.0, ("U1", 4): 120.0,
        ("U2", 1): 50.0, ("U2", 2): -10.0, ("U2", 4): 80.0,
        ("U3", 2): 200.0, ("U3", 3): 200.0, ("U3", 4): 197.0,
        ("U4", 1): 30.0, ("U4", 2): 30.0,
    }


def test_customer_flow_bridge_by_hand(hand):
    flow = hand[1]
    pd.testing.assert_frame_equal(
        flow[HAND_EXPECTED.columns].reset_index(drop=True), HAND_EXPECTED, check_exact=False, rtol=1e-12
    )


def test_customer_flow_logos_by_hand(hand):
    flow = hand[1].set_index("period_start")
    cols = [f"{c}_accounts" for c in CATS] + ["retained_accounts", "active_start", "active_end"]
    got = {p: tuple(int(v) for v in flow.loc[p, cols]) for p in flow.index}
    assert got == HAND_LOGOS
    assert str(flow[cols].dtypes.unique()[0]) == "int64"
    # churn rates: Feb 1 of 3 logos, 50 of 180 dollars; Apr none lost
    assert flow.loc[D(2024, 2, 1), "logo_churn_rate"] == pytest.approx(1 / 3)
    assert flow.loc[D(2024, 2, 1), "dollar_churn_rate"] == pytest.approx(50 / 180)
    assert flow.loc[D(2024, 3, 1), "dollar_churn_rate"] == pytest.approx(30 / 331)
    assert flow.loc[D(2024, 4, 1), "logo_churn_rate"] == 0.0


def test_the_bridge_balances_in_every_period(hand):
    for _, row in hand[1].iterrows():
        assert _balance(row) == pytest.approx(row["end_revenue"], rel=1e-12, abs=1e-9)
        assert min(row[c] for c in BRIDGE) >= 0


def test_tolerance_moves_units_between_flat_and_grown(con, hand):
    # with tolerance 0 U1's +1 % in Feb is growth and U4's 0 % stays flat;
    # U3's -1.5 % in Apr becomes a decline
    flow = _frame(con, customer_flow(hand[0], tolerance=0.0)).set_index("period_start")
    assert flow.loc[D(2024, 2, 1), ["grown_accounts", "flat_accounts"]].tolist() == [1, 1]
    assert flow.loc[D(2024, 4, 1), ["declined_accounts", "flat_accounts"]].tolist() == [2, 0]
    # the dollar view does not depend on the tolerance
    assert flow.loc[D(2024, 4, 1), "decline"] == 33.0
    with pytest.raises(UsageError):
        customer_flow(hand[0], tolerance=-0.1)


def test_an_empty_period_needs_the_period_list(con):
    # U1: Jan 100, nobody buys in Feb, Mar 100.
    units = _units(con, {"a": "U1"})
    per = period_revenue(_orders(con, [("a", "2024-01-10", 100), ("a", "2024-03-10", 100)]), None, units,
                         period="month", start="2024-01-01", end="2024-03-31")
    full = _frame(con, customer_flow(per, periods=period_starts("month", "2024-01-01", "2024-03-31")))
    # Feb: U1 churned (100), end 0; Mar: reactivated (100)
    assert full["period_start"].tolist() == [D(2024, 2, 1), D(2024, 3, 1)]
    assert full["churned_accounts"].tolist() == [1, 0]
    assert full["reactivated_accounts"].tolist() == [0, 1]
    assert full["end_revenue"].tolist() == [0.0, 100.0]
    assert full["dollar_churn_rate"].isna().tolist() == [False, True]  # Mar starts from 0
    # without the list only the months present in the data exist: Mar is compared with Jan
    skipped = _frame(con, customer_flow(per))
    assert skipped["prev_period_start"].tolist() == [D(2024, 1, 1)]
    assert skipped["flat_accounts"].tolist() == [1]


# ---------------------------------------------------------------------------
# Quarters and years
# ---------------------------------------------------------------------------
def test_quarterly_flow_by_hand(con):
    # U1: Q1 50 + 50 = 100, Q2 -, Q3 70, Q4 70.   U2: Q1 10, Q2 30, Q3 30, Q4 -.
    orders = _orders(con, [
        ("a", "2024-01-31", 50), ("a", "2024-03-31", 50), ("a", "2024-07-01", 70), ("a", "2024-12-31", 70),
        ("b", "2024-02-29", 10), ("b", "2024-04-01", 30), ("b", "2024-09-30", 30),
    ])
    per = period_revenue(orders, None, _units(con, {"a": "U1", "b": "U2"}),
                         period="quarter", start="2024-01-01", end="2024-12-31")
    f = _frame(con, customer_flow(per))
    assert f["period_start"].tolist() == [D(2024, 4, 1), D(2024, 7, 1), D(2024, 10, 1)]
    # Q2: start 110; U1 churned 100, U2 grown +20; end 30
    # Q3: start 30; U1 reactivated 70, U2 flat; end 100
    # Q4: start 100; U1 flat, U2 churned 30; end 70
    assert f[list(BRIDGE)].values.tolist() == [
        [110.0, 0.0, 20.0, 0.0, 100.0, 0.0, 30.0],
        [30.0, 0.0, 0.0, 0.0, 0.0, 70.0, 100.0],
        [100.0, 0.0, 0.0, 0.0, 30.0, 0.0, 70.0],
    ]
    assert f["grown_accounts"].tolist() == [1, 0, 0]
    assert f["reactivated_accounts"].tolist() == [0, 1, 0]


def test_yearly_flow_by_hand(con):
    # U1: 2022 100, 2023 120 (+20 %), 2024 60.  U2: 2023 40 (new), 2024 40.  2021 is outside the range.
    orders = _orders(con, [
        ("a", "2021-06-01", 5), ("a", "2022-03-01", 100), ("a", "2023-03-01", 70), ("a", "2023-11-01", 50),
        ("a", "2024-02-01", 60), ("b", "2023-06-30", 40), ("b", "2024-12-31", 40),
    ])
    per = period_revenue(orders, None, _units(con, {"a": "U1", "b": "U2"}),
                         period="year", start="2021-07-01", end="2025-03-01")
    f = _frame(con, customer_flow(per))
    # periods 2022, 2023, 2024 (2021 and 2025 are not complete)
    # 2023: start 100 + new 40 + growth 20 = end 160; 2024: start 160 - decline 60 = end 100
    assert f["period_start"].tolist() == [D(2023, 1, 1), D(2024, 1, 1)]
    assert f[list(BRIDGE)].values.tolist() == [
        [100.0, 40.0, 20.0, 0.0, 0.0, 0.0, 160.0],
        [160.0, 0.0, 0.0, 60.0, 0.0, 0.0, 100.0],
    ]
    assert f[["new_accounts", "grown_accounts", "declined_accounts", "flat_accounts"]].values.tolist() == [
        [1, 1, 0, 0], [0, 0, 1, 1],
    ]


def test_period_starts():
    assert period_starts("month", "2024-01-15", "2024-04-29") == [D(2024, 2, 1), D(2024, 3, 1)]
    assert period_starts("quarter", "2023-10-01", "2024-06-30") == [D(2023, 10, 1), D(2024, 1, 1), D(2024, 4, 1)]
    assert period_starts("year", "2023-01-01", "2023-12-31") == [D(2023, 1, 1)]
    with pytest.raises(UsageError, match="no complete year"):
        period_starts("year", "2023-01-02", "2024-12-30")
    with pytest.raises(UsageError, match="period"):
        period_starts("week", "2023-01-01", "2024-01-01")


# ---------------------------------------------------------------------------
# Subscriptions as revenue
# ---------------------------------------------------------------------------
def test_subscription_revenue_is_recognised_per_day(con):
    # mrr = 10 × (365.25 / 12) earns exactly 10 per covered day.
    # s: 2024-01-21 .. 2024-03-11 (exclusive): Jan 21-31 = 11 days, Feb 29 days, Mar 1-10 = 10 days.
    # t: from 2023-11-01, running: whole Jan 31, Feb 29, Mar 31 days (nothing before the range counts).
    subs = _subs(con, [("s", "2024-01-21", "2024-03-11", 10 * DPM), ("t", "2023-11-01", None, 10 * DPM)])
    units = _units(con, {"s": "S", "t": "T"})
    per = _frame(con, period_revenue(None, subs, units, period="month", start="2024-01-01", end="2024-03-31"))
    got = {(r.unit_id, r.period_start.month): r.revenue for r in per.itertuples()}
    assert got == pytest.approx({("S", 1): 110.0, ("S", 2): 290.0, ("S", 3): 100.0,
                                 ("T", 1): 310.0, ("T", 2): 290.0, ("T", 3): 310.0})
    f = _frame(con, customer_flow(period_revenue(None, subs, units, period="month", start="2024-01-01",
                                                 end="2024-04-30")))
    # Apr: S has no days left -> churned with its March revenue 100; T 300 vs 310 (-3.2 %) -> declined
    apr = f.set_index("period_start").loc[D(2024, 4, 1)]
    assert (apr["churned_accounts"], apr["churned_revenue"], apr["declined_accounts"]) == (1, pytest.approx(100.0), 1)


def test_orders_and_subscriptions_add_up(con):
    # unit U: order 50 in Jan + subscription 10/day for Jan 21-31 (110) = 160 in Jan, 290 in Feb
    orders = _orders(con, [("a", "2024-01-03", 50)])
    subs = _subs(con, [("a", "2024-01-21", None, 10 * DPM)])
    per = _frame(con, period_revenue(orders, subs, _units(con, {"a": "U"}), period="month",
                                     start="2024-01-01", end="2024-02-29"))
    assert per.sort_values("period_start")["revenue"].tolist() == pytest.approx([160.0, 290.0])


def test_period_revenue_needs_a_revenue_table(con):
    with pytest.raises(InputError):
        period_revenue(None, None, _units(con, {"a": "U"}), period="month", start="2024-01-01", end="2024-03-31")


# ---------------------------------------------------------------------------
# Subscription ARR bridge and retention: a textbook example
#
#   U1: a1 mrr 100 since 2023-01-01 (ARR 1,200) + add-on on a1b (also U1) mrr 30 from 2024-06-01: +360
#   U2: mrr 50 (600) 2023-05-01 .. 2024-09-01: churns in Q3
#   U3: mrr 50 (600) 2023-03-01 .. 2024-04-01, renewed at mrr 40 (480) from 2024-04-01: -120
#   U4: new, mrr 70 (840) from 2024-02-01
#   U5: a trial 2024-07-10 .. 2024-08-10: never on a quarter's last day, so never in the ARR bridge
#
# Snapshots (ARR on the day): 2023-12-31 2,400 | 03-31 3,240 | 06-30 3,480 | 09-30 2,880 | 12-31 2,880
#   Q1: 2,400 + new 840 = 3,240
#   Q2: 3,240 + 360 - 120 = 3,480
#   Q3: 3,480 - 600 = 2,880
#   Q4: 2,880
# Retention 2024-01-01 -> 2024-12-31 over U1-U3 (U4 is new, excluded):
#   start 1,200 + 600 + 600 = 2,400; end 1,560 + 0 + 480 = 2,040
#   NRR = 2,040 / 2,400 = 0.85;  GRR = (1,200 + 0 + 480) / 2,400 = 0.7
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def textbook(con):
    subs = _subs(con, [
        ("a1", "2023-01-01", None, 100), ("a1b", "2024-06-01", None, 30),
        ("b", "2023-05-01", "2024-09-01", 50),
        ("c", "2023-03-01", "2024-04-01", 50), ("c", "2024-04-01", None, 40),
        ("d", "2024-02-01", None, 70),
        ("e", "2024-07-10", "2024-08-10", 500),
    ])
    units = _units(con, {"a1": "U1", "a1b": "U1", "b": "U2", "c": "U3", "d": "U4", "e": "U5"})
    return subs, units


def test_subscription_flow_by_hand(con, textbook):
    f = _frame(con, subscription_flow(*textbook, period="quarter", start="2024-01-01", end="2024-12-31"))
    assert f["period_start"].tolist() == [D(2024, 1, 1), D(2024, 4, 1), D(2024, 7, 1), D(2024, 10, 1)]
    assert f["period_end"].tolist() == [D(2024, 3, 31), D(2024, 6, 30), D(2024, 9, 30), D(2024, 12, 31)]
    cols = ["start_arr", "new_arr", "expansion_arr", "contraction_arr", "churned_arr", "end_arr"]
    assert f[cols].values.tolist() == [
        [2400.0, 840.0, 0.0, 0.0, 0.0, 3240.0],
        [3240.0, 0.0, 360.0, 120.0, 0.0, 3480.0],
        [3480.0, 0.0, 0.0, 0.0, 600.0, 2880.0],
        [2880.0, 0.0, 0.0, 0.0, 0.0, 2880.0],
    ]
    units = ["start_units", "new_units", "expanded_units", "contracted_units", "churned_units", "end_units"]
    assert f[units].values.tolist() == [[3, 1, 0, 0, 0, 4], [4, 0, 1, 1, 0, 4], [4, 0, 0, 0, 1, 3], [3, 0, 0, 0, 0, 3]]
    for _, r in f.iterrows():
        assert r.start_arr + r.new_arr + r.expansion_arr - r.contraction_arr - r.churned_arr == pytest.approx(r.end_arr)


def test_an_unchanged_arr_summed_from_other_parts_is_not_a_contraction(con):
    # U pays 0.1 + 0.2 a month until Feb 1, then one subscription of 0.3: the same ARR (3.6), but as floats
    # (0.1 + 0.2) * 12 and 0.3 * 12 differ in the last bit - float noise, not a price change
    subs = _subs(con, [("a", "2023-06-01", "2024-02-01", 0.1), ("b", "2023-06-01", "2024-02-01", 0.2),
                       ("c", "2024-02-01", None, 0.3)])
    f = _frame(con, subscription_flow(subs, _units(con, {"a": "U", "b": "U", "c": "U"}), period="month",
                                      start="2024-01-01", end="2024-03-31"))
    assert f["contracted_units"].tolist() == [0, 0, 0] and f["expanded_units"].tolist() == [0, 0, 0]
    assert f["contraction_arr"].tolist() == [0.0, 0.0, 0.0] and f["expansion_arr"].tolist() == [0.0, 0.0, 0.0]
    assert f["end_units"].tolist() == [1, 1, 1]
    # a real change of one cent a month in 3.6 a year still counts
    subs = _subs(con, [("a", "2023-06-01", "2024-02-01", 0.3), ("c", "2024-02-01", None, 0.31)])
    f = _frame(con, subscription_flow(subs, _units(con, {"a": "U", "c": "U"}), period="month",
                                      start="2024-01-01", end="2024-03-31"))
    assert f["expanded_units"].tolist() == [0, 1, 0] and f["expansion_arr"].iat[1] == pytest.approx(0.12)


def test_retention_rates_by_hand(con, textbook):
    r = _frame(con, retention_rates(*textbook, start="2024-01-01", end="2024-12-31")).iloc[0]
    assert (r.start_units, r.retained_units) == (3, 2)
    assert (r.start_arr, r.end_arr) == (2400.0, 2040.0)
    assert r.nrr == pytest.approx(0.85)
    assert r.grr == pytest.approx(0.7)
    # with U1's expansion in the window NRR > GRR; over Q3 only U2 churns:
    # 2024-06-30 U1 1,560, U2 600, U3 480, U4 840 = 3,480 -> 2024-09-30 2,880: NRR = GRR = 2,880 / 3,480
    q3 = _frame(con, retention_rates(*textbook, start="2024-06-30", end="2024-09-30")).iloc[0]
    assert q3.nrr == pytest.approx(2880 / 3480) and q3.grr == pytest.approx(2880 / 3480)


def test_retention_without_starting_arr_is_null_not_an_error(con, textbook):
    r = _frame(con, retention_rates(*textbook, start="2020-01-01", end="2024-12-31")).iloc[0]
    assert r.start_arr == 0.0 and r.start_units == 0
    assert pd.isna(r.nrr) and pd.isna(r.grr)
    with pytest.raises(UsageError):
        retention_rates(*textbook, start="2024-12-31", end="2024-01-01")


def test_subscription_only_customer_flow(con, textbook):
    # quarterly recognised revenue; U2 stops 2024-09-01 -> it still earns in Q3 (Jul + Aug), churns in Q4
    per = period_revenue(None, *textbook, period="quarter", start="2024-01-01", end="2024-12-31")
    f = _frame(con, customer_flow(per)).set_index("period_start")
    assert f.loc[D(2024, 10, 1), "churned_accounts"] == 2  # U2 and the Q3 trial U5
    assert f.loc[D(2024, 7, 1), "new_accounts"] == 1  # U5
    for _, row in f.iterrows():
        assert _balance(row) == pytest.approx(row["end_revenue"], rel=1e-12)


# ---------------------------------------------------------------------------
# Property: random monthly revenue vs a naive loop
# ---------------------------------------------------------------------------
def _naive_flow(rev: dict[tuple[str, int], float], n_periods: int, tol: float) -> list[dict]:
    """The definitions, unit by unit and period by period."""
    units = sorted({u for u, _ in rev})
    out = []
    for k in range(1, n_periods):
        row = {c: 0 for c in (*BRIDGE, *(f"{c}_accounts" for c in CATS))}
        for u in units:
            now, prev = rev.get((u, k), 0.0), rev.get((u, k - 1), 0.0)
            ever = any(rev.get((u, i), 0.0) > 0 for i in range(k - 1))
            if prev > 0:
                row["start_revenue"] += prev
            if now > 0:
                row["end_revenue"] += now
            if now > 0 and prev <= 0:
                cat = "reactivated" if ever else "new"
                row[f"{cat}_revenue"] += now
            elif prev > 0 and now <= 0:
                cat = "churned"
                row["churned_revenue"] += prev
            elif now > 0 and prev > 0:
                d = (now - prev) / prev
                cat = "grown" if d > tol else "declined" if d < -tol else "flat"
                row["growth"] += max(now - prev, 0.0)
                row["decline"] += max(prev - now, 0.0)
            else:
                continue
            row[f"{cat}_accounts"] += 1
        out.append(row)
    return out


_cell = st.one_of(st.none(), st.floats(min_value=-500, max_value=5000, allow_nan=False).map(lambda v: round(v, 2)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_cell, min_size=5, max_size=5), min_size=1, max_size=8))
def test_flow_matches_a_naive_loop_and_balances(con, grid):
    # grid[u][k]: revenue of unit u in month k of Jan-May 2024 (None = no row; zero never appears as a row)
    starts = [D(2024, m, 1) for m in range(1, 6)]
    rev = {(f"u{u}", k): v for u, row in enumerate(grid) for k, v in enumerate(row) if v not in (None, 0.0)}
    rows = [{"unit_id": u, "period_start": starts[k], "revenue": v} for (u, k), v in rev.items()]
    pr = _table(con, rows, {"unit_id": "string", "period_start": "date", "revenue": "float64"})
    got = _frame(con, customer_flow(pr, periods=starts))
    want = _naive_flow(rev, 5, 0.02)
    assert len(got) == 4
    for (_, g), w in zip(got.iterrows(), want, strict=True):
        for c, v in w.items():
            assert g[c] == pytest.approx(v, rel=1e-9, abs=1e-6), c
        assert _balance(g) == pytest.approx(g["end_revenue"], rel=1e-9, abs=1e-6)
        assert g["retained_accounts"] == g["grown_accounts"] + g["flat_accounts"] + g["declined_accounts"]
