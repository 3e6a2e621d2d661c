"""Behavior inputs per unit (engine): every column checked against a hand-computed value."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from sikta.engine.behavior import BEHAVIOR_COLUMNS, behavior_inputs
from sikta.errors import InputError, UsageError

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _d(*days):
    return pd.to_datetime(list(days)).date


@pytest.fixture
def world(con):
    # C is a company with one department D: at account grain D rolls into C.
    hierarchy = pd.DataFrame({
        "account_id": ["C", "D", "S", "P"], "ultimate_parent_id": ["C", "C", "S", "P"],
        "account_unit_id": ["C", "C", "S", "P"],
    })
    products = pd.DataFrame({
        "product_id": ["a1", "a2", "a3", "a4", "b1", "b2"],
        "product_line": ["A", "A", "A", "A", "B", "B"],
        "list_price": [10.0, 20.0, 20.0, 40.0, 100.0, 300.0],
    })
    orders = pd.DataFrame({
        "account_id": ["C", "C", "C", "D", "S", "S", "S", "S", "S"],
        "order_id": ["o1", "o2", "o2-CN", "o3", "s1", "s2", "s3", "s4", "s5"],
        "order_date": _d("2024-01-01", "2024-01-11", "2024-01-20", "2024-01-31",
                         "2024-02-01", "2024-03-02", "2024-04-01", "2024-05-01", "2025-02-01"),
        "product_id": ["a1", "b2", "b2", "a4", "a2", "a3", "a2", "x9", "a1"],
        "product_line": ["A", "B", "B", "A", "A", "A", "A", None, "A"],
        "quantity": [10.0, 1.0, -1.0, 2.0, 1.0, 1.0, 1.0, 3.0, 1.0],
        "amount": [80.0, 300.0, -300.0, 80.0, 20.0, 20.0, 20.0, 15.0, 5.0],
    })
    tickets = pd.DataFrame({
        "ticket_id": ["t1", "t2", "t3", "t4"], "account_id": ["C", "D", "S", "P"],
        "opened_at": pd.to_datetime(["2024-02-15 10:00", "2024-06-30 09:00", "2024-03-01 00:00", "2024-07-01 00:00"]),
    })
    subs = pd.DataFrame({
        "subscription_id": ["u1"], "account_id": ["S"], "product_line": ["B"],
        "start_date": _d("2023-12-01"), "end_date": pd.Series([None], dtype="datetime64[s]"), "mrr": [50.0],
    })
    t = {n: con.create_table(n, df) for n, df in
         {"orders": orders, "products": products, "tickets": tickets, "subscriptions": subs}.items()}
    return t, con.create_table("hierarchy", hierarchy)


def run(con, tables, h, grain="account", **kw):
    return con.to_pandas(behavior_inputs(tables, h, grain=grain, as_of=AS_OF, **kw)).set_index("unit_id").sort_index()


def test_columns_by_hand(con, world):
    tables, h = world
    r = run(con, tables, h)
    assert list(r.columns) == list(BEHAVIOR_COLUMNS)
    assert sorted(r.index) == ["C", "P", "S"]
    c = r.loc["C"]
    # C + its department D: lines > 0 are a1 ×10 @8 (list 10), b2 ×1 @300 (list 300), a4 ×2 @40 (list 40)
    assert c.order_lines == 3 and c.orders == 3
    assert c.discount_rate == pytest.approx(1 - (80 + 300 + 80) / (100 + 300 + 80))
    # tiers: line A prices 10, 20, 20, 40 -> a1 (0+1)/2/4, a4 (3+4)/2/4; line B 100, 300 -> b2 (1+2)/2/2
    assert c.price_tier == pytest.approx((1 / 8 + 7 / 8 + 3 / 4) / 3)
    assert c.credit_share == pytest.approx(300 / 460)
    # order dates 01-01, 01-11, 01-31: gaps 10 and 20 days
    assert c.order_interval_days == pytest.approx(15.0)
    assert c.order_regularity == pytest.approx(5 / 15)
    # tickets t1 (C) and t2 (D); activity 2024-01-01 .. 2024-06-30 (the last ticket)
    assert c.tickets == 2 and c.active_days == 182


def test_prices_without_a_catalogue_entry_and_subscriptions(con, world):
    tables, h = world
    s = run(con, tables, h).loc["S"]
    # the 2025 order is after as_of; x9 has no list price: it counts as a line but not for the discount
    assert s.order_lines == 4
    assert s.discount_rate == pytest.approx(0.0)  # a2, a3, a2 paid at list price
    # a2 and a3 (20 in line A: 1 cheaper, 3 cheaper or equal) -> (1 + 3) / 2 / 4; x9 (no line) is
    # ranked among products without a line by its paid price: alone -> (0 + 1) / 2 / 1
    assert s.price_tier == pytest.approx((0.5 + 0.5 + 0.5 + 0.5) / 4)
    assert s.credit_share == 0.0
    assert s.order_interval_days == pytest.approx(30.0)  # 02-01, 03-02 (leap year), 04-01, 05-01
    assert s.order_regularity == pytest.approx(0.0)
    # the open subscription runs from 2023-12-01 to as_of
    assert s.active_days == (AS_OF - dt.date(2023, 12, 1)).days + 1
    p = run(con, tables, h).loc["P"]  # a prospect with a ticket only
    assert p.order_lines == 0 and pd.isna(p.discount_rate) and p.tickets == 1 and p.active_days == 1


def test_department_grain_keeps_accounts_apart(con, world):
    tables, h = world
    r = run(con, tables, h, grain="department")
    assert r.loc["D", "order_lines"] == 1 and r.loc["D", "discount_rate"] == pytest.approx(0.0)
    assert pd.isna(r.loc["D", "order_interval_days"])  # one order date: no cycle
    assert r.loc["C", "order_interval_days"] == pytest.approx(10.0)
    assert pd.isna(r.loc["C", "order_regularity"])  # two dates, one gap: no spread to measure


def test_without_products_tier_comes_from_paid_prices(con, world):
    tables, h = world
    r = run(con, {k: v for k, v in tables.items() if k != "products"}, h)
    assert r.discount_rate.isna().all()
    # paid unit prices up to as_of: line A a1 8, a2 20, a3 20, a4 40 (same order as the list prices);
    # line B: only b2 was bought, so it is alone in its line -> 0.5
    assert r.loc["C", "price_tier"] == pytest.approx((1 / 8 + 7 / 8 + 0.5) / 3)


def test_lookback_and_missing_tables(con, world):
    tables, h = world
    r = run(con, tables, h, lookback_months=9)  # from 2024-04-01 on (exclusive of 03-31)
    assert r.loc["S", "order_lines"] == 2 and r.loc["C", "tickets"] == 1
    no_tickets = run(con, {k: v for k, v in tables.items() if k != "tickets"}, h)
    assert no_tickets.tickets.isna().all()  # no table is not zero tickets
    with pytest.raises(UsageError, match="grain"):
        behavior_inputs(tables, h, grain="team", as_of=AS_OF)
    with pytest.raises(UsageError, match="lookback_months"):
        behavior_inputs(tables, h, grain="account", as_of=AS_OF, lookback_months=0)
    with pytest.raises(InputError, match="orders or a subscriptions"):
        behavior_inputs({"tickets": tables["tickets"]}, h, grain="account", as_of=AS_OF)


def test_a_unit_needs_activity_to_have_a_row(con):
    # R only sent a credit note (no line > 0, no subscription, no ticket): no activity, no row.
    # Q sent a credit note and holds a subscription: a row, no order lines, no credit share (no sales).
    h = con.create_table("h2", pd.DataFrame({"account_id": ["R", "Q"], "ultimate_parent_id": ["R", "Q"],
                                              "account_unit_id": ["R", "Q"]}))
    orders = con.create_table("o2", pd.DataFrame({
        "account_id": ["R", "Q"], "order_id": ["r1", "q1"], "order_date": _d("2024-03-01", "2024-03-01"),
        "product_id": ["a1", "a1"], "product_line": ["A", "A"], "quantity": [-1.0, -1.0], "amount": [-8.0, -8.0]}))
    subs = con.create_table("s2", pd.DataFrame({
        "subscription_id": ["u1"], "account_id": ["Q"], "product_line": ["B"], "start_date": _d("2024-12-01"),
        "end_date": _d("2024-12-10"), "mrr": [50.0]}))
    r = run(con, {"orders": orders, "subscriptions": subs}, h)
    assert list(r.index) == ["Q"]
    q = r.loc["Q"]
    assert q.order_lines == 0 and q.orders == 0 and pd.isna(q.credit_share) and pd.isna(q.order_interval_days)
    assert q.active_days == 10 and pd.isna(q.tickets)
    only_subs = run(con, {"subscriptions": subs}, h)
    assert list(only_subs.index) == ["Q"] and only_subs.loc["Q", "active_days"] == 10
    assert only_subs.loc["Q", "order_lines"] is None or pd.isna(only_subs.loc["Q", "order_lines"])


def test_products_paid_the_same_price_share_a_tier(con):
    # Without a catalogue both products were paid 0.10 a unit, but the float means differ in the last bits
    # (3 lines: 0.30000000000000004 / 3; 7 lines: 0.7 / 7): unrounded, one ranked above the other.
    assert sum([0.1] * 3) / 3 != sum([0.1] * 7) / 7
    h = con.create_table("h3", pd.DataFrame({"account_id": ["A", "B"], "ultimate_parent_id": ["A", "B"],
                                              "account_unit_id": ["A", "B"]}))
    orders = con.create_table("o3", pd.DataFrame({
        "account_id": ["A"] * 3 + ["B"] * 7, "order_id": [f"o{i}" for i in range(10)],
        "order_date": _d(*["2024-03-01"] * 10), "product_id": ["p"] * 3 + ["q"] * 7,
        "product_line": ["L"] * 10, "quantity": [1.0] * 10, "amount": [0.1] * 10}))
    r = run(con, {"orders": orders}, h)
    # two products tied in line L: each (0 cheaper + 2 cheaper or equal) / 2 / 2
    assert r.loc["A", "price_tier"] == r.loc["B", "price_tier"] == pytest.approx(0.5)


def test_buying_cycle_against_numpy_on_random_order_days(con):
    # The gaps between consecutive distinct days with a line > 0, per unit: mean and population SD / mean,
    # computed here from np.diff of the sorted days. Several lines on one day, credit lines on days of their
    # own, units with one, two and many days, perfectly regular units (SD exactly 0) and a department rolled up.
    rng = np.random.default_rng(7)
    rows = []
    for k in range(120):
        n = int(rng.choice([1, 1, 2, 3, 5, 20, 60]))
        if k % 10 == 0:
            days = [dt.date(2020, 1, 1) + dt.timedelta(days=30 * i) for i in range(n + 3)]  # like clockwork
        else:
            days = [dt.date(2019, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 2000, n)]
        for day in days:
            for _ in range(int(rng.integers(1, 4))):
                amount = 50.0 if k % 10 == 0 else float(rng.choice([50.0, 50.0, 50.0, -20.0, 0.0]))
                rows.append((f"A{k}", day, amount))
    frame = pd.DataFrame(rows, columns=["account_id", "order_date", "amount"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    frame["product_id"], frame["product_line"], frame["quantity"] = "p", "L", 1.0
    frame.loc[frame.account_id == "A1", "account_id"] = "A1-dept"  # a department of A2 at account grain
    ids = sorted(frame.account_id.unique())
    h = con.create_table("h_cycle", pd.DataFrame({
        "account_id": ids, "ultimate_parent_id": ids,
        "account_unit_id": ["A2" if a == "A1-dept" else a for a in ids]}))
    got = run(con, {"orders": con.create_table("o_cycle", frame)}, h)
    frame["unit"] = frame.account_id.replace({"A1-dept": "A2"})
    checked = zero = 0
    for unit, lines in frame[(frame.amount > 0) & (frame.order_date <= AS_OF)].groupby("unit"):
        gaps = np.diff(np.array(sorted(set(lines.order_date)), dtype="datetime64[D]").astype("int64")).astype(float)
        r = got.loc[unit]
        if len(gaps) == 0:
            assert pd.isna(r.order_interval_days) and pd.isna(r.order_regularity)
            continue
        assert r.order_interval_days == pytest.approx(gaps.mean(), rel=1e-12)
        if len(gaps) < 2:
            assert pd.isna(r.order_regularity)
            continue
        assert r.order_regularity == pytest.approx(gaps.std() / gaps.mean(), rel=1e-9, abs=1e-12)
        zero += gaps.std() == 0 and r.order_regularity == 0.0
        checked += 1
    assert checked >= 50 and zero >= 5


def test_orders_are_counted_per_account_and_summed_per_unit(con):
    # Against pandas: orders with a line > 0 up to as-of, distinct per account, summed per unit. Order numbers
    # repeat across the accounts of one unit (two orders), orders hold credit lines only (not counted), lines
    # have no order number (not counted), and lines after as-of are ignored.
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame({
        "account_id": rng.choice([f"A{i}" for i in range(40)], n),
        "order_id": pd.Series(rng.choice([f"o{i}" for i in range(300)], n)).where(rng.random(n) > 0.03),
        "order_date": [dt.date(2023, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 800, n)],
        "amount": rng.choice([100.0, 40.0, -30.0, 0.0], n),
    })
    frame["product_id"], frame["product_line"], frame["quantity"] = "p", "L", 1.0
    ids = sorted(frame.account_id.unique())
    h = con.create_table("h_orders", pd.DataFrame({
        "account_id": ids, "ultimate_parent_id": ids, "account_unit_id": [f"U{int(a[1:]) % 7}" for a in ids]}))
    got = run(con, {"orders": con.create_table("o_orders", frame)}, h)
    lines = frame[(frame.amount > 0) & (frame.order_date <= AS_OF) & frame.order_id.notna()]
    per_account = lines.groupby("account_id").order_id.nunique()
    expected = per_account.groupby(lambda a: f"U{int(a[1:]) % 7}").sum()
    assert got.orders.to_dict() == {u: int(expected.get(u, 0)) for u in got.index}
    assert (expected > lines.assign(u=lines.account_id.map(lambda a: f"U{int(a[1:]) % 7}"))
            .groupby("u").order_id.nunique()).all()  # the data does repeat order numbers within a unit


def test_given_order_counts_replace_the_count(con, world):
    tables, h = world
    counts = con.create_table("counts", pd.DataFrame({"unit_id": ["C", "S"], "orders": [41, 42]}))
    r = run(con, tables, h, order_counts=counts)
    assert r.orders.to_dict() == {"C": 41, "P": 0, "S": 42}  # P has no orders: 0, as when counted
    assert r.drop(columns="orders").equals(run(con, tables, h).drop(columns="orders"))
    with pytest.raises(UsageError, match="all history"):
        run(con, tables, h, order_counts=counts, lookback_months=6)


def test_the_same_lines_in_another_order_give_the_same_bits(con):
    # Floats added in another order differ in the last bits (0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1), and DuckDB
    # adds in no fixed order on parallel threads: the clustering then ordered its rows differently and the
    # behavioral scheme's stability moved between two runs of the same data. Sums must not depend on the order.
    assert 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1
    rng = np.random.default_rng(11)
    n = 4000
    frame = pd.DataFrame({
        "account_id": rng.choice([f"A{i}" for i in range(30)], n),
        "order_id": [f"o{i}" for i in range(n)],
        "order_date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 300, n)],
        "product_id": rng.choice([f"p{i}" for i in range(12)], n),
        "quantity": rng.choice([1.0, 3.0, 0.7], n),
        "amount": rng.choice([0.1, 0.2, 0.3, 1e6 + 0.01, -0.7, 33.33], n),
    })
    frame["product_line"] = frame.product_id.str[-1]
    products = con.create_table("p_bits", pd.DataFrame({
        "product_id": [f"p{i}" for i in range(12)], "product_line": [str(i)[-1] for i in range(12)],
        "list_price": [0.1 * (i + 1) + 1e5 * (i % 2) for i in range(12)]}))
    ids = sorted(frame.account_id.unique())
    h = con.create_table("h_bits", pd.DataFrame({"account_id": ids, "ultimate_parent_id": ids, "account_unit_id": ids}))
    runs = [run(con, {"orders": con.create_table(f"o_bits{k}", frame.sample(frac=1.0, random_state=k)),
                      "products": products}, h) for k in range(3)]
    for other in runs[1:]:
        for c in ("discount_rate", "price_tier", "credit_share"):
            assert runs[0][c].to_numpy().tobytes() == other[c].to_numpy().tobytes(), c
