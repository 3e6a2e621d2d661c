"""Feature table on a hand-drawn forest, values worked out by hand.

The forest (as_of = 2024-06-30; window = (2023-06-30, 2024-06-30],
previous window = (2022-06-30, 2023-06-30])::

    G (group)                 S (company)          P (company, prospect)
    ├── C1 (company)          └── N (first_seen 2024-09-01: after as_of, left out)
    │   └── D1 (department)
    └── C2 (company)

Units per grain: ultimate_parent {G, S, P}; account {G, C1 (+D1), C2, S, P};
department {G, C1, D1, C2, S, P}. N never counts.
"""

from __future__ import annotations

import datetime as dt
import math

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sikta.core.hierarchy import resolve_forest
from sikta.engine.contract import CONTRACT
from sikta.engine.features import (
    FEATURE_DOCS,
    FEATURE_TYPES,
    Dims,
    build_features,
    dims_queries,
    missing_inputs,
    slug,
    unit_map,
)
from sikta.engine.features_parts import DAYS_PER_MONTH as DPM
from sikta.engine.features_parts import minus_months
from sikta.errors import InputError, UsageError

AS_OF = dt.date(2024, 6, 30)
GRAINS = ("ultimate_parent", "account", "department")
_DTYPES = {"string": "string", "int": "int64", "float": "float64", "date": "date", "timestamp": "timestamp"}


def _contract_table(con, name: str, rows: list[dict]) -> ibis.Table:
    """A table with exactly the contract columns and types, as ingest writes it."""
    cols = CONTRACT[name].columns
    df = pd.DataFrame([{c.name: r.get(c.name) for c in cols} for r in rows], columns=[c.name for c in cols])
    expr = ibis.memtable(df).cast({c.name: _DTYPES[c.dtype] for c in cols})
    return con.create_table(f"{name}_{id(rows)}", expr)


def _hierarchy(con, accounts: list[dict]) -> ibis.Table:
    f = resolve_forest(
        [a["account_id"] for a in accounts],
        [a.get("parent_account_id") for a in accounts],
        [a.get("account_type") for a in accounts],
    )
    assert not f.broken
    types = {"account_id": "string", "parent_account_id": "string", "ultimate_parent_id": "string",
             "account_unit_id": "string", "depth": "int64"}
    return con.create_table(f"hierarchy_{id(accounts)}", ibis.memtable(f.frame).cast(types))


ACCOUNTS = [
    # G's industry/country/employees are empty: the unit falls back to its members
    dict(account_id="G", name="Group AB", account_type="group", status="prospect", employees=None,
         industry=None, country=None, first_seen="2019-01-01", sites=2),
    dict(account_id="C1", name="C One", parent_account_id="G", account_type="company", status="former",
         employees=300, industry="manufacturing", country="SE", first_seen="2020-01-01"),
    dict(account_id="C2", name="C Two", parent_account_id="G", account_type="company", status="customer",
         employees=200, industry="retail", country="SE"),
    dict(account_id="D1", name="D One", parent_account_id="C1", account_type="department",
         industry="retail", country="NO"),
    dict(account_id="S", name="Single", account_type="company", status="customer", employees=50,
         country="DK", first_seen="2021-06-01"),
    dict(account_id="P", name="Prospect", account_type="company", status="prospect", employees=10),
    dict(account_id="N", name="Newco", parent_account_id="S", account_type="company", first_seen="2024-09-01"),
]

ORDERS = [
    dict(order_id="o1", account_id="G", order_date="2024-01-15", product_line="hardware", amount=100.0, cost=60.0),
    # o2 has two lines: one order for frequency
    dict(order_id="o2", account_id="C1", order_date="2024-03-01", product_line="hardware", amount=200.0, cost=150.0),
    dict(order_id="o2", account_id="C1", order_date="2024-03-01", product_line="software", amount=20.0, cost=10.0),
    dict(order_id="o3", account_id="C1", order_date="2024-06-30", product_line="service", amount=50.0),  # on as_of
    dict(order_id="o4", account_id="C1", order_date="2024-07-01", product_line="hardware", amount=1000.0),  # after
    dict(order_id="cn1", account_id="C1", order_date="2024-04-01", product_line="hardware", amount=-30.0),
    dict(order_id="o5", account_id="C2", order_date="2023-03-01", product_line="hardware", amount=400.0),  # prev
    dict(order_id="o6", account_id="C2", order_date="2023-07-01", product_line="software", amount=80.0),
    dict(order_id="o7", account_id="D1", order_date="2024-05-01", product_line="service", amount=70.0, cost=20.0),
    dict(order_id="o8", account_id="S", order_date="2022-01-10", product_line="hardware", amount=500.0),
    dict(order_id="cn2", account_id="S", order_date="2022-02-01", product_line="service", amount=-10.0),
    dict(order_id="o9", account_id="N", order_date="2024-05-01", product_line="hardware", amount=999.0),  # N left out
]

SUBSCRIPTIONS = [
    # 2023-12-31 .. 2024-06-30 = 1 + 31 + 29 + 31 + 30 + 31 + 30 = 183 days in the window
    dict(subscription_id="s1", account_id="C2", product_line="software", start_date="2023-12-31", mrr=100.0, seats=5),
    # ended 2024-01-01 (exclusive): 2023-07-01 .. 2023-12-31 = 184 days in the window, 365 in the previous
    dict(subscription_id="s2", account_id="G", product_line="software", start_date="2022-01-01",
         end_date="2024-01-01", mrr=50.0, seats=2),
    # starts on as_of: one day; its end date lies in the future, so it is active
    dict(subscription_id="s4", account_id="C1", product_line="service", start_date="2024-06-30",
         end_date="2025-01-01", mrr=10.0, seats=1),
    dict(subscription_id="s3", account_id="C1", product_line="training", start_date="2024-07-15", mrr=999.0),
]

USAGE = [
    dict(account_id="C1", date="2024-06-30", events=10, active_users=3),
    dict(account_id="C1", date="2024-06-01", events=5, active_users=2),
    dict(account_id="C1", date="2024-03-15", events=20, active_users=4),  # previous 90 days
    dict(account_id="C1", date="2024-07-01", events=999, active_users=99),  # after
    dict(account_id="D1", date="2024-05-31", events=4, active_users=1),  # in 90 days, not in 30
]

TICKETS = [
    dict(ticket_id="t1", account_id="C1", opened_at="2024-06-30 10:00:00", priority="high"),
    dict(ticket_id="t2", account_id="C1", opened_at="2024-01-10 08:00:00", closed_at="2024-01-11 08:00:00",
         priority="low", csat=4.0),
    # closed after as_of: open then, and its csat is not known yet
    dict(ticket_id="t3", account_id="C1", opened_at="2024-06-01 00:00:00", closed_at="2024-07-02 00:00:00",
         priority="urgent", csat=1.0),
    dict(ticket_id="t4", account_id="C1", opened_at="2024-07-01 00:00:00", priority="high"),  # after
    # an hour before the window starts
    dict(ticket_id="t5", account_id="S", opened_at="2023-06-30 23:00:00", closed_at="2023-07-01 01:00:00",
         priority="high", csat=5.0),
]

SURVEYS = [
    dict(account_id="G", answered_at="2024-02-01", item="nps", value=9.0),
    dict(account_id="G", answered_at="2024-05-01", item="nps", value=6.0),
    dict(account_id="G", answered_at="2024-02-01", item="satisfaction", value=4.0),
    dict(account_id="G", answered_at="2022-01-01", item="need_price", value=5.0),  # needs: all up to as_of
    dict(account_id="C2", answered_at="2023-06-01", item="nps", value=10.0),  # before the window
    dict(account_id="C2", answered_at="2024-01-01", item="need_price", value=3.0),
    dict(account_id="C2", answered_at="2024-01-01", item="need_support", value=4.0),
    dict(account_id="C2", answered_at="2024-07-01", item="nps", value=0.0),  # after
    dict(account_id="C2", answered_at="2024-07-01", item="need_speed", value=2.0),  # after
]

INTERACTIONS = [
    dict(account_id="C1", date="2024-06-30", channel="email", direction="inbound"),
    dict(account_id="C1", date="2024-02-01", channel="Meeting", direction="outbound"),
    dict(account_id="C1", date="2023-06-30", channel="email", direction="inbound"),  # before the window
    dict(account_id="C1", date="2024-07-01", channel="event", direction="inbound"),  # after
    dict(account_id="P", date="2024-06-20", channel="call", direction="inbound"),
]

RAW = {
    "accounts": ACCOUNTS,
    "orders": ORDERS,
    "subscriptions": SUBSCRIPTIONS,
    "usage": USAGE,
    "tickets": TICKETS,
    "survey_responses": SURVEYS,
    "interactions": INTERACTIONS,
}


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


@pytest.fixture(scope="module")
def world(con):
    tables = {name: _contract_table(con, name, rows) for name, rows in RAW.items()}
    return tables, _hierarchy(con, ACCOUNTS)


@pytest.fixture(scope="module")
def dims(con, world):
    tables, _ = world
    return Dims.from_results({k: con.to_pandas(q) for k, q in dims_queries(tables, as_of=AS_OF).items()})


@pytest.fixture(scope="module")
def feats(con, world, dims):
    """Executed features per grain, indexed by unit_id."""
    tables, hierarchy = world
    return {
        g: con.to_pandas(build_features(tables, hierarchy, grain=g, as_of=AS_OF, dims=dims)).set_index("unit_id")
        for g in GRAINS
    }


def _row(feats, grain, unit):
    return feats[grain].loc[unit]


# Revenue per account in the window, by hand:
REV12 = {
    "G": 100 + 50 * 184 / DPM,  # o1 + s2 (184 days)
    "C1": 200 + 20 + 50 - 30 + 10 * 1 / DPM,  # o2 (two lines) + o3 + cn1 + s4 (1 day)
    "C2": 80 + 100 * 183 / DPM,  # o6 + s1 (183 days)
    "D1": 70.0,  # o7
    "S": 0.0,
    "P": 0.0,
}


def test_dims_are_cut_at_as_of(dims):
    # 'training' (s3), 'event' and 'need_speed' only appear after as_of
    assert dims.product_lines == ("hardware", "service", "software")
    assert dims.channels == ("Meeting", "call", "email")
    assert dims.need_items == ("need_price", "need_support")


def test_units_per_grain(feats):
    assert sorted(feats["ultimate_parent"].index) == ["G", "P", "S"]
    assert sorted(feats["account"].index) == ["C1", "C2", "G", "P", "S"]
    assert sorted(feats["department"].index) == ["C1", "C2", "D1", "G", "P", "S"]
    assert _row(feats, "ultimate_parent", "G").n_members == 4
    assert _row(feats, "account", "C1").n_members == 2  # C1 + its department D1
    assert _row(feats, "ultimate_parent", "S").n_members == 1  # N is first seen after as_of
    for g in GRAINS:
        assert list(feats[g].reset_index().columns[:3]) == ["unit_id", "grain", "as_of"]
        assert set(feats[g].grain) == {g}


def test_revenue_per_unit_and_conservation(feats):
    up, acc, dep = (feats[g].revenue_12m for g in GRAINS)
    for unit in ("G", "C1", "C2", "D1", "S", "P"):
        assert dep[unit] == pytest.approx(REV12[unit])
    assert acc["C1"] == pytest.approx(REV12["C1"] + REV12["D1"])
    assert up["G"] == pytest.approx(REV12["G"] + REV12["C1"] + REV12["C2"] + REV12["D1"])
    total = sum(REV12.values())  # 490 + (9200 + 18300 + 10) / DPM
    assert total == pytest.approx(490 + 27510 / DPM)
    for g in GRAINS:
        assert feats[g].revenue_12m.sum() == pytest.approx(total)
        assert feats[g].revenue_lifetime.sum() == pytest.approx(feats["department"].revenue_lifetime.sum())
        assert feats[g].frequency_12m.sum() == 5  # o1, o2, o3, o6, o7


def test_subscription_proration(feats):
    c2 = _row(feats, "department", "C2")
    assert c2.subscription_revenue_12m == pytest.approx(100 * 183 / DPM)
    assert c2.mrr == 100 and c2.arr == 1200 and c2.seats == 5 and c2.active_subscriptions == 1
    g = _row(feats, "department", "G")
    assert g.subscription_revenue_12m == pytest.approx(50 * 184 / DPM)
    # previous window 2022-07-01 .. 2023-06-30 = 365 days
    assert g.subscription_revenue_prev_12m == pytest.approx(50 * 365 / DPM)
    assert g.mrr == 0 and g.active_subscriptions == 0  # ended 2024-01-01
    assert g.subscription_start == pd.Timestamp("2022-01-01")  # dates come back as pandas timestamps
    # lifetime: 2022-01-01 .. 2023-12-31 = 365 + 365 = 730 days, plus o1
    assert g.revenue_lifetime == pytest.approx(100 + 50 * 730 / DPM)
    # at the top: mrr now (C2 100 + C1 10) - mrr a window ago (G 50)
    top = _row(feats, "ultimate_parent", "G")
    assert top.mrr == 110 and top.mrr_change_12m == 60 and top.seats == 6


def test_orders_rfm_credit_notes_and_margin(feats):
    c1 = _row(feats, "department", "C1")
    # 220 (o2) + 50 (o3, on as_of) - 30 (credit note); o4 the day after does not count
    assert c1.monetary_12m == 240 and c1.order_revenue_12m == 240
    assert c1.credit_notes_12m == 30
    assert c1.frequency_12m == 2  # o2, o3; the credit note is not an order
    assert c1.avg_order_value_12m == 120
    assert c1.last_order_date == pd.Timestamp("2024-06-30") and c1.recency_days == 0
    assert c1.gross_margin_12m == pytest.approx((220 - 160) / 220)  # only o2's lines carry a cost
    acc = _row(feats, "account", "C1")
    assert acc.frequency_12m == 3 and acc.avg_order_value_12m == pytest.approx(310 / 3)
    assert acc.gross_margin_12m == pytest.approx((290 - 180) / 290)  # + o7: 70, cost 20
    top = _row(feats, "ultimate_parent", "G")
    assert top.gross_margin_12m == pytest.approx((390 - 240) / 390)  # + o1: 100, cost 60
    assert top.orders_lifetime == 6  # o1, o2, o3, o5, o6, o7
    assert top.order_revenue_prev_12m == 400  # o5
    # revenue_prev = 400 + 50 * 365 / DPM; growth = revenue_12m / prev - 1
    prev = 400 + 50 * 365 / DPM
    assert top.revenue_prev_12m == pytest.approx(prev)
    assert top.revenue_growth == pytest.approx(top.revenue_12m / prev - 1)
    c2 = _row(feats, "department", "C2")
    assert math.isnan(c2.gross_margin_12m)  # no cost at all
    # last order 2023-07-01: 365 days and 11 whole months before 2024-06-30
    assert c2.recency_days == 365 and c2.months_since_last_order == 11
    s = _row(feats, "department", "S")
    # 2022-01-10 -> 2024-06-30: 29 months; growth undefined without previous revenue
    assert s.months_since_last_order == 29 and s.revenue_lifetime == 490
    assert s.frequency_12m == 0 and pd.isna(s.avg_order_value_12m) and pd.isna(s.revenue_growth)
    assert pd.isna(_row(feats, "department", "P").last_order_date)


def test_status_lifecycle_tenure(feats):
    dep = feats["department"]
    assert dep.status.to_dict() == {
        "G": "customer", "C1": "customer", "C2": "customer", "D1": "customer", "S": "former", "P": "prospect",
    }
    # D1's first revenue (2024-05-01) is within 90 days; first_seen is empty so tenure counts from it
    assert dep.lifecycle_stage["D1"] == "onboarding" and dep.tenure_days["D1"] == 60
    assert dep.lifecycle_stage["C1"] == "established"
    assert dep.lifecycle_stage["S"] == "former" and dep.lifecycle_stage["P"] == "prospect"
    assert dep.tenure_days["S"] == (AS_OF - dt.date(2021, 6, 1)).days
    assert pd.isna(dep.tenure_days["P"])  # never seen, never bought
    assert _row(feats, "account", "C1").lifecycle_stage == "established"  # C1's own orders are older
    # G's unit: earliest member first_seen (G 2019-01-01)
    assert _row(feats, "ultimate_parent", "G").tenure_days == (AS_OF - dt.date(2019, 1, 1)).days


def test_firmographics_head_then_members(feats):
    top = _row(feats, "ultimate_parent", "G")
    assert top["name"] == "Group AB" and top.account_type == "group" and top.sites == 2
    assert top.employees == 500  # head empty: C1 300 + C2 200 + D1 none
    assert top.industry == "retail"  # C2 and D1 retail vs C1 manufacturing
    assert top.country == "SE"  # C1, C2 SE vs D1 NO
    assert top.crm_status == "customer"  # C2 is; precedence customer > former > prospect
    c1 = _row(feats, "account", "C1")
    assert c1.industry == "manufacturing" and c1.crm_status == "former"
    d1 = _row(feats, "department", "D1")
    assert pd.isna(d1.crm_status) and pd.isna(d1.employees)


def test_products(feats):
    top = _row(feats, "ultimate_parent", "G")
    assert list(top.product_lines) == ["hardware", "service", "software"] and top.n_product_lines == 3
    assert top.rev12_hardware == 270  # 100 + 200 - 30
    assert top.rev12_software == pytest.approx(20 + 80 + (100 * 183 + 50 * 184) / DPM)
    assert top.rev12_service == pytest.approx(50 + 70 + 10 / DPM)
    s = _row(feats, "ultimate_parent", "S")
    assert list(s.product_lines) == ["hardware"]  # service is net negative (credit note only)
    p = _row(feats, "ultimate_parent", "P")
    assert list(p.product_lines) == [] and p.n_product_lines == 0
    assert "rev12_training" not in feats["account"].columns
    for g in GRAINS:  # per-line revenue adds up to order + subscription revenue
        lines = feats[g][["rev12_hardware", "rev12_service", "rev12_software"]].sum().sum()
        assert lines == pytest.approx(feats[g].revenue_12m.sum())


def test_product_lines_without_dims_match(con, world, feats):
    tables, hierarchy = world
    got = con.to_pandas(build_features(tables, hierarchy, grain="account", as_of=AS_OF)).set_index("unit_id")
    want = feats["account"]
    assert {u: list(v) for u, v in got.product_lines.items()} == {u: list(v) for u, v in want.product_lines.items()}
    assert got.n_product_lines.to_dict() == want.n_product_lines.to_dict()
    patterned = [c for c in got.columns if c.startswith(("rev12_", "need_", "interactions_"))]
    assert patterned == ["interactions_12m"]


def test_usage_tickets_surveys_interactions(feats):
    c1 = _row(feats, "department", "C1")
    assert (c1.usage_events_90d, c1.usage_events_prev_90d) == (15, 20)
    assert c1.usage_trend == pytest.approx(15 / 20 - 1)
    assert c1.active_users_30d == pytest.approx((3 + 2) / 30)
    assert c1.days_since_last_usage == 0
    acc = _row(feats, "account", "C1")
    assert acc.usage_events_90d == 19 and acc.active_users_30d == pytest.approx(5 / 30)
    d1 = _row(feats, "department", "D1")
    assert pd.isna(d1.active_users_30d) and d1.usage_events_90d == 4  # 2024-05-31 is 30 days back
    g = _row(feats, "department", "G")
    assert g.usage_events_90d == 0 and pd.isna(g.usage_trend) and pd.isna(g.days_since_last_usage)

    assert (c1.tickets_12m, c1.tickets_open, c1.tickets_high_12m) == (3, 2, 2)
    assert c1.avg_csat_12m == 4 and c1.avg_resolution_hours_12m == 24
    s = _row(feats, "department", "S")
    assert (s.tickets_12m, s.tickets_open) == (0, 0) and pd.isna(s.avg_csat_12m)

    assert g.nps == 7.5 and g.nps_category == "passive" and g.satisfaction == 4
    c2 = _row(feats, "department", "C2")
    assert pd.isna(c2.nps) and pd.isna(c2.nps_category) and c2.need_price == 3 and c2.need_support == 4
    top = _row(feats, "ultimate_parent", "G")
    assert top.nps == 7.5 and top.need_price == 4 and top.need_support == 4  # (5 + 3) / 2
    assert "need_speed" not in feats["department"].columns

    assert c1.interactions_12m == 2 and c1.interactions_email_12m == 1 and c1.interactions_meeting_12m == 1
    assert c1.inbound_share_12m == 0.5 and c1.days_since_last_interaction == 0
    p = _row(feats, "department", "P")
    assert p.interactions_call_12m == 1 and p.inbound_share_12m == 1 and p.days_since_last_interaction == 10
    assert g.interactions_12m == 0 and pd.isna(g.inbound_share_12m)


def test_no_leakage_from_later_data(con, feats, dims):
    """Dropping everything that happened after as_of changes nothing."""
    cut = {
        "accounts": [a for a in ACCOUNTS if a["account_id"] != "N"],
        "orders": [o for o in ORDERS if o["order_date"] <= "2024-06-30" and o["account_id"] != "N"],
        # s4's future end date and t3's future close were not known at as_of
        "subscriptions": [
            {**s, "end_date": None} if s["subscription_id"] == "s4" else s
            for s in SUBSCRIPTIONS
            if s["start_date"] <= "2024-06-30"
        ],
        "usage": [u for u in USAGE if u["date"] <= "2024-06-30"],
        "tickets": [
            {**t, "closed_at": None, "csat": None} if t["ticket_id"] == "t3" else t
            for t in TICKETS
            if t["opened_at"] < "2024-07-01"
        ],
        "survey_responses": [s for s in SURVEYS if s["answered_at"] <= "2024-06-30"],
        "interactions": [i for i in INTERACTIONS if i["date"] <= "2024-06-30"],
    }
    tables = {name: _contract_table(con, name, rows) for name, rows in cut.items()}
    hierarchy = _hierarchy(con, cut["accounts"])
    again = Dims.from_results({k: con.to_pandas(q) for k, q in dims_queries(tables).items()})
    assert again == dims
    for g in GRAINS:
        got = con.to_pandas(build_features(tables, hierarchy, grain=g, as_of=AS_OF, dims=dims)).set_index("unit_id")
        pd.testing.assert_frame_equal(got.sort_index(), feats[g].sort_index())


def test_the_day_after_counts_when_it_is_as_of(con, world):
    tables, hierarchy = world
    f = con.to_pandas(build_features(tables, hierarchy, grain="department", as_of=dt.date(2024, 7, 1)))
    c1 = f.set_index("unit_id").loc["C1"]
    assert c1.order_revenue_12m == 1240  # o4 now counts; o2 etc. are still in the window
    assert c1.tickets_12m == 4 and c1.usage_events_90d == 15 + 999


def test_accounts_first_seen_after_as_of_are_left_out(con, world):
    """At 2019-12-31 only G (seen 2019) and accounts with no first_seen (C2, D1, P) exist."""
    tables, hierarchy = world
    day = dt.date(2019, 12, 31)
    top = con.to_pandas(build_features(tables, hierarchy, grain="ultimate_parent", as_of=day)).set_index("unit_id")
    assert top.n_members.to_dict() == {"G": 3, "P": 1}  # S and N are not there yet
    acc = con.to_pandas(build_features(tables, hierarchy, grain="account", as_of=day)).set_index("unit_id")
    # C1 is not there yet, but its department is: the unit keeps C1's id, attributes come from D1
    c1 = acc.loc["C1"]
    assert c1.n_members == 1 and c1["name"] == "D One" and c1.country == "NO"
    assert (acc.revenue_12m == 0).all() and (acc.status == "prospect").all()


def test_missing_tables_degrade(con, world):
    tables, hierarchy = world
    some = {k: v for k, v in tables.items() if k in ("accounts", "orders")}
    got = missing_inputs(some)
    assert got["usage"] == ["no usage table"]
    assert got["subscriptions"] == ["no subscriptions table"]
    assert "rfm" not in got and "firmographics" not in got
    f = build_features(some, hierarchy, grain="account", as_of=AS_OF, dims=Dims(channels=("email",)))
    schema = f.schema()
    assert schema["usage_events_90d"].is_int64() and schema["mrr"].is_float64()
    df = con.to_pandas(f).set_index("unit_id")
    for col in ("usage_events_90d", "active_users_30d", "mrr", "subscription_revenue_12m", "tickets_12m", "nps",
                "interactions_email_12m", "satisfaction"):
        assert df[col].isna().all(), col
    # revenue comes from orders alone; status still works
    assert df.revenue_12m["C1"] == 240 + 70 and df.subscription_revenue_12m.isna().all()
    assert df.status["S"] == "former" and df.usage_events_90d.isna().all()
    assert missing_inputs(tables) == {}


def test_feature_docs_cover_every_column(con, world, dims):
    tables, hierarchy = world
    f = build_features(tables, hierarchy, grain="account", as_of=AS_OF, dims=dims)
    for col, dtype in f.schema().items():
        pattern = (
            "rev12_<line>" if col.startswith("rev12_")
            else "need_<item>" if col.startswith("need_")
            else "interactions_<channel>_12m" if col.startswith("interactions_") and col != "interactions_12m"
            else col
        )
        assert pattern in FEATURE_DOCS, col
        assert col.isidentifier()
        assert str(dtype).startswith(FEATURE_TYPES[pattern].split("<")[0]), (col, dtype)


def test_arguments_and_helpers(world):
    tables, hierarchy = world
    with pytest.raises(UsageError):
        build_features(tables, hierarchy, grain="planet", as_of=AS_OF)
    with pytest.raises(UsageError):
        unit_map(hierarchy, "planet")
    with pytest.raises(InputError):
        build_features({"orders": tables["orders"]}, hierarchy, grain="account", as_of=AS_OF)
    assert slug("E-Mail / Web") == "e_mail_web" and slug("") == "blank"
    assert minus_months(dt.date(2024, 3, 31), 1) == dt.date(2024, 2, 29)
    # a string as_of works, and the result stays lazy
    assert isinstance(build_features(tables, hierarchy, grain="account", as_of="2024-06-30"), ibis.Table)


@st.composite
def _forests(draw):
    n = draw(st.integers(1, 7))
    accounts = []
    for i in range(n):
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        kind = draw(st.sampled_from(["group", "company", "department"]))
        accounts.append(dict(account_id=f"a{i}", parent_account_id=None if parent is None else f"a{parent}",
                             account_type=kind))
    orders = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(-500, 500), st.integers(-26, 3)),
            max_size=12,
        )
    )
    return accounts, orders


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_forests())
def test_revenue_conserved_on_random_forests(con, case):
    accounts, raw_orders = case
    # offsets in months around as_of: 0 = on as_of, 1 = the day after, -12 = exactly the window start (out)
    dates = {k: AS_OF + dt.timedelta(days=1) if k == 1 else minus_months(AS_OF, -k) for k in range(-26, 4)}
    orders = [
        dict(order_id=f"o{j}", account_id=f"a{a}", order_date=dates[k].isoformat(), amount=float(amt))
        for j, (a, amt, k) in enumerate(raw_orders)
    ]
    tables = {"accounts": _contract_table(con, "accounts", accounts), "orders": _contract_table(con, "orders", orders)}
    hierarchy = _hierarchy(con, accounts)
    window_start = minus_months(AS_OF, 12)
    expected = sum(o["amount"] for o in orders if window_start.isoformat() < o["order_date"] <= AS_OF.isoformat())
    forest = resolve_forest(
        [a["account_id"] for a in accounts], [a["parent_account_id"] for a in accounts],
        [a["account_type"] for a in accounts],
    ).frame
    n_units = {
        "ultimate_parent": sum(a["parent_account_id"] is None for a in accounts),
        "account": forest.account_unit_id.nunique(),
        "department": len(accounts),
    }
    for g in GRAINS:
        df = con.to_pandas(build_features(tables, hierarchy, grain=g, as_of=AS_OF))
        assert df.revenue_12m.sum() == pytest.approx(expected, abs=1e-9)
        assert df.n_members.sum() == len(accounts)
        assert len(df) == n_units[g]


def test_purchase_signals_by_hand(feats, con):
    """frequency_trend, recency_overdue, return_rate_12m and products_12m on the world above, by hand."""
    # window (2023-06-30, 2024-06-30] is 366 days; its halves split at 2023-06-30 + 183 days = 2023-12-30
    c1, c2, s = (_row(feats, "department", u) for u in ("C1", "C2", "S"))
    assert c1.frequency_trend == 1.0  # o2 (2024-03-01) and o3 (2024-06-30): both in the second half
    assert c2.frequency_trend == -1.0  # o6 (2023-07-01) only, in the first half: buying stopped
    assert pd.isna(s.frequency_trend)  # no order in the window
    top = _row(feats, "ultimate_parent", "G")  # o1 (2024-01-15), o2, o3, o7 late; o6 early: (4 - 1) / 5
    assert top.frequency_trend == pytest.approx(3 / 5)
    # C2: o5 2023-03-01 and o6 2023-07-01 are 122 days apart (one gap); last order 365 days ago
    assert c2.recency_overdue == pytest.approx(365 / 122)
    assert c1.recency_overdue == 0.0  # ordered on as_of
    assert pd.isna(s.recency_overdue)  # one order (cn2 is a credit note)
    # C1: 30 credited of 240 + 30 gross in the window; C2 nothing credited; S no gross order amount in the window
    assert c1.return_rate_12m == pytest.approx(30 / 270) and c2.return_rate_12m == 0.0
    assert pd.isna(s.return_rate_12m)

    accounts = [dict(account_id="A", account_type="company"), dict(account_id="B", account_type="company")]
    orders = [
        dict(order_id="1", account_id="A", order_date="2024-05-01", product_id="x", amount=10.0),
        dict(order_id="1", account_id="A", order_date="2024-05-01", product_id="y", amount=10.0),
        dict(order_id="2", account_id="A", order_date="2024-06-01", product_id="x", amount=10.0),
        dict(order_id="3", account_id="A", order_date="2024-06-02", product_id="z", amount=-10.0),  # a return
        dict(order_id="4", account_id="A", order_date="2022-01-01", product_id="w", amount=10.0),  # before
        dict(order_id="5", account_id="B", order_date="2024-01-01", product_id="x", amount=5.0),
    ]
    tables = {"accounts": _contract_table(con, "accounts", accounts), "orders": _contract_table(con, "orders", orders)}
    f = con.to_pandas(build_features(tables, _hierarchy(con, accounts), grain="account", as_of=AS_OF)).set_index("unit_id")
    assert f.products_12m.to_dict() == {"A": 2, "B": 1}  # x and y; z only returned, w before the window


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["a1", "a2", "a3"]), st.sampled_from(["o1", "o2", "o3", "o4"]),
                          st.integers(-20, 3), st.sampled_from([-15.0, 0.0, 10.0, 40.0]),
                          st.sampled_from(["p1", "p2", "p3", None])), min_size=1, max_size=40))
def test_order_counts_are_distinct_orders_by_pandas(con, lines):
    """frequency_12m, orders_lifetime, products_12m and frequency_trend against pandas' nunique: one order's
    lines on several days (across the window start and its halves), credit lines, and the same order id
    at two accounts (each counts it)."""
    accounts = [dict(account_id=a, status="customer") for a in ("a1", "a2", "a3")]
    day = {k: minus_months(AS_OF, -k) if k <= 0 else AS_OF + dt.timedelta(days=k) for k in range(-20, 4)}
    orders = [dict(order_id=o, account_id=a, order_date=day[k].isoformat(), amount=amt, product_id=p)
              for a, o, k, amt, p in lines]
    tables = {"accounts": _contract_table(con, "accounts", accounts), "orders": _contract_table(con, "orders", orders)}
    got = con.to_pandas(build_features(tables, _hierarchy(con, accounts), grain="department", as_of=AS_OF)
                        ).set_index("unit_id")
    df = pd.DataFrame(orders)
    df["order_date"] = pd.to_datetime(df.order_date).dt.date
    w0 = minus_months(AS_OF, 12)
    mid = w0 + (AS_OF - w0) / 2
    seen = df[(df.order_date <= AS_OF) & (df.amount > 0)]
    in_w = seen[seen.order_date > w0]
    for a in ("a1", "a2", "a3"):
        mine, window = seen[seen.account_id == a], in_w[in_w.account_id == a]
        h1 = window[window.order_date <= mid].order_id.nunique()
        h2 = window[window.order_date > mid].order_id.nunique()
        row = got.loc[a]
        assert row.frequency_12m == window.order_id.nunique()
        assert row.orders_lifetime == mine.order_id.nunique()
        assert row.products_12m == window.product_id.dropna().nunique()
        if h1 + h2:
            assert row.frequency_trend == pytest.approx((h2 - h1) / (h1 + h2))
        else:
            assert pd.isna(row.frequency_trend)


def test_the_same_lines_in_another_order_give_the_same_bits(con):
    """Money columns and the ratios built from them do not depend on the order the lines are added in
    (parallel float sums add them in no fixed order; a score on a threshold must not flip between builds)."""
    import random

    rng = random.Random(7)
    accounts = [dict(account_id=f"a{i}", status="customer") for i in range(40)]
    orders = [dict(order_id=f"o{i}", account_id=f"a{i % 40}", order_date=(AS_OF - dt.timedelta(days=rng.randint(0, 300))).isoformat(),
                   product_id="p1", amount=round(rng.uniform(-20, 500), 2), cost=round(rng.uniform(0, 300), 2))
              for i in range(2400)]
    builds, acc, hierarchy = [], _contract_table(con, "accounts", accounts), _hierarchy(con, accounts)
    orderings = [orders, list(reversed(orders)), rng.sample(orders, len(orders))]  # kept alive: tables are named by id
    for lines in orderings:
        tables = {"accounts": acc, "orders": _contract_table(con, "orders", lines)}
        f = con.to_pandas(build_features(tables, hierarchy, grain="account", as_of=AS_OF))
        builds.append(f.sort_values("unit_id").reset_index(drop=True))
    assert builds[0].gross_margin_12m.notna().all()
    for other in builds[1:]:
        pd.testing.assert_frame_equal(builds[0], other, check_exact=True)
