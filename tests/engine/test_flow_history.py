"""New or reactivated: the customer flow with the history before the range (active_before).

Without the history a customer returning after a pause that began before the range counted as
new, and the same month split new/reactivated differently for another range. References: a
hand-worked table, and a naive loop over the whole history written here.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sikta.engine.flow import active_before, customer_flow, period_revenue, period_starts
from sikta.errors import InputError
from tests.engine.test_flow import _orders, _subs, _table

D = dt.date


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


def _units(con, mapping):
    return _table(con, [{"account_id": a, "unit_id": u} for a, u in mapping.items()],
                  {"account_id": "string", "unit_id": "string"})


# ---------------------------------------------------------------------------
# Hand example: the range is Jan-Mar 2024 (Jan only provides the previous state of Feb).
#
#   U1  bought in Nov 2023, again in Feb 2024         -> reactivated in Feb (new without history)
#   U2  first purchase ever in Feb 2024               -> new in Feb
#   U3  Dec 2023: 50 bought, 50 credited (net 0)      -> never active before: new in Mar
#   U4  subscription Jun-Aug 2023, an order in Mar    -> reactivated in Mar
#   U5  active in Jan and Mar, not Feb                -> churned in Feb, reactivated in Mar (as before)
#   U6  an order in Oct 2023 netted by a credit note in Oct and a purchase in Sep -> active in Sep:
#       reactivated in Feb
# ---------------------------------------------------------------------------
ORDERS = [
    ("a1", "2023-11-15", 40), ("a1", "2024-02-03", 60),
    ("a2", "2024-02-20", 25),
    ("a3", "2023-12-01", 50), ("a3", "2023-12-20", -50), ("a3", "2024-03-05", 70),
    ("a4", "2024-03-09", 10),
    ("a5", "2024-01-09", 30), ("a5", "2024-03-09", 30),
    ("a6", "2023-09-30", 5), ("a6", "2023-10-02", 20), ("a6", "2023-10-28", -20), ("a6", "2024-02-29", 15),
]
SUBS = [("a4", "2023-06-01", "2023-09-01", 100)]
UNITS = {f"a{i}": f"U{i}" for i in range(1, 7)}
START, END = D(2024, 1, 1), D(2024, 3, 31)


@pytest.fixture(scope="module")
def hand(con):
    orders, subs, units = _orders(con, ORDERS), _subs(con, SUBS), _units(con, UNITS)
    per = period_revenue(orders, subs, units, period="month", start=START, end=END)
    grid = period_starts("month", START, END)
    before = active_before(orders, subs, units, period="month", before=grid[0])
    with_history = con.to_pandas(customer_flow(per, periods=grid, history=before))
    without = con.to_pandas(customer_flow(per, periods=grid))
    return con.to_pandas(before), with_history, without


def test_units_active_before_the_range(hand):
    # U3's December nets to 0 (inactive), U2 and U5 start in the range
    assert sorted(hand[0].unit_id) == ["U1", "U4", "U6"]


def test_returning_customers_are_reactivated_not_new(hand):
    f = hand[1].set_index(pd.to_datetime(hand[1].period_start).dt.date)
    # Feb: U2 new (25); U1 (60) and U6 (15) back after a pause that began before the range; U5 churned (30)
    # Mar: U3 new (70, its December netted to 0); U4 back (10); U5 back (30); U1, U2, U6 churned
    got = {p: (f.loc[p, "new_accounts"], f.loc[p, "reactivated_accounts"], f.loc[p, "new_revenue"],
               f.loc[p, "reactivated_revenue"]) for p in (D(2024, 2, 1), D(2024, 3, 1))}
    assert got == {D(2024, 2, 1): (1, 2, 25.0, 75.0), D(2024, 3, 1): (1, 2, 70.0, 40.0)}
    assert f.loc[D(2024, 2, 1), "churned_accounts"] == 1 and f.loc[D(2024, 3, 1), "churned_accounts"] == 3


def test_the_history_moves_units_between_new_and_reactivated_only(hand):
    with_history, without = hand[1], hand[2]
    # the range alone calls U1, U6 (Feb) and U4 (Mar) new
    assert without["new_accounts"].tolist() == [3, 2] and without["reactivated_accounts"].tolist() == [0, 1]
    for col in ("start_revenue", "end_revenue", "growth", "decline", "churned_revenue", "churned_accounts",
                "active_start", "active_end"):
        assert with_history[col].tolist() == without[col].tolist(), col
    moved = with_history.new_revenue + with_history.reactivated_revenue
    assert moved.tolist() == (without.new_revenue + without.reactivated_revenue).tolist()


def test_active_before_needs_a_revenue_table(con):
    with pytest.raises(InputError):
        active_before(None, None, _units(con, UNITS), period="month", before=START)


def test_the_answer_for_a_month_does_not_depend_on_the_range(con):
    orders, units = _orders(con, ORDERS), _units(con, UNITS)

    def march(start):
        grid = period_starts("month", start, END)
        per = period_revenue(orders, None, units, period="month", start=start, end=END)
        f = con.to_pandas(customer_flow(per, periods=grid,
                                        history=active_before(orders, None, units, period="month", before=grid[0])))
        return f[pd.to_datetime(f.period_start).dt.date == D(2024, 3, 1)].iloc[0]

    short, long = march(D(2024, 2, 1)), march(D(2023, 6, 1))
    for col in ("new_accounts", "reactivated_accounts", "new_revenue", "reactivated_revenue"):
        assert short[col] == long[col], col


# ---------------------------------------------------------------------------
# Property: random monthly orders over 7 months; the flow shown from month 3 on, with the
# history before it, equals a naive loop over all 7 months.
# ---------------------------------------------------------------------------
MONTHS = [D(2024, m, 1) for m in range(1, 8)]
SHOWN = 2  # months 0-1 are history, month 2 is the first month of the range


def _naive(rev: dict[tuple[str, int], float]) -> list[tuple[int, int, float, float]]:
    """(new, reactivated logos, new, reactivated revenue) per month after the first shown, from the definitions."""
    units = sorted({u for u, _ in rev})
    out = []
    for k in range(SHOWN + 1, len(MONTHS)):
        row = [0, 0, 0.0, 0.0]
        for u in units:
            now, prev = rev.get((u, k), 0.0), rev.get((u, k - 1), 0.0)
            if now > 0 and prev <= 0:
                ever = any(rev.get((u, i), 0.0) > 0 for i in range(k - 1))
                row[1 if ever else 0] += 1
                row[3 if ever else 2] += now
        out.append(tuple(row))
    return out


_cell = st.one_of(st.none(), st.integers(min_value=-300, max_value=2000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_cell, min_size=len(MONTHS), max_size=len(MONTHS)), min_size=1, max_size=8))
def test_flow_with_history_matches_a_naive_loop_over_all_months(con, grid):
    rows = [(f"a{u}", str(MONTHS[k] + dt.timedelta(days=9)), v)
            for u, line in enumerate(grid) for k, v in enumerate(line) if v not in (None, 0)]
    if not rows:
        return
    orders, units = _orders(con, rows), _units(con, {f"a{u}": f"u{u}" for u in range(len(grid))})
    rev = {(f"u{u}", k): float(v) for u, line in enumerate(grid) for k, v in enumerate(line) if v not in (None, 0)}
    shown = period_starts("month", MONTHS[SHOWN], D(2024, 7, 31))
    per = period_revenue(orders, None, units, period="month", start=MONTHS[SHOWN], end=D(2024, 7, 31))
    history = active_before(orders, None, units, period="month", before=shown[0])
    got = con.to_pandas(customer_flow(per, periods=shown, history=history))
    cols = ["new_accounts", "reactivated_accounts", "new_revenue", "reactivated_revenue"]
    assert [tuple(r) for r in got[cols].itertuples(index=False)] == _naive(rev)
