"""Built-in potential and pain features on hand-made peer groups; every number is worked out in comments."""

from __future__ import annotations

import math

import ibis
import pandas as pd
import pytest

from sikta.engine.wallet import BUILTINS, add_builtins, peer_stats
from sikta.errors import UsageError

CON = ibis.duckdb.connect()


def table(rows: list[dict]) -> ibis.Table:
    df = pd.DataFrame(rows)
    types = {"unit_id": "string", "status": "string", "industry": "string", "employees": "int64",
             "revenue_12m": "float64"}
    types.update({c: "float64" for c in df.columns if c not in types and c not in ("lifecycle_stage",)})
    if "tickets_12m" in df.columns:
        types["tickets_12m"] = "int64"
    if "lifecycle_stage" in df.columns:
        types["lifecycle_stage"] = "string"
    return ibis.memtable(df).cast({c: t for c, t in types.items() if c in df.columns})


def run(t: ibis.Table) -> dict[str, dict]:
    return {r["unit_id"]: r for r in CON.to_pandas(t).to_dict("records")}


def _u(uid, status, industry, employees, revenue, **kw):
    return dict(unit_id=uid, status=status, industry=industry, employees=employees, revenue_12m=revenue, **kw)


PEERS = [
    # it / 10-49: five active customers, revenue 100..500 → p75 at position 0.75 × 4 = 3 → 400
    *(_u(f"C{i}", "customer", "it", 20, 100.0 * i) for i in range(1, 6)),
    _u("C0", "customer", "it", 30, 0.0),  # a customer without revenue is no peer, but gets a wallet
    _u("P1", "prospect", "it", 15, None),  # prospect: wallet 400 from its customer peers, gap 400
    _u("F1", "former", "it", 40, 0.0),  # former: 400, gap 400
    # it / 250-999: two customers (< 5) → falls back to industry 'it': 100..500, 1000, 2000 (7 values)
    # p75 at 0.75 × 6 = 4.5 → between 500 and 1000 → 750
    _u("B1", "customer", "it", 300, 1000.0),
    _u("B2", "customer", "it", 400, 2000.0),
    _u("P2", "prospect", "it", 500, None),
    # law: one customer → falls back to all 8 active customers 50, 100..500, 1000, 2000
    # p75 at 0.75 × 7 = 5.25 → 500 + 0.25 × 500 = 625
    _u("L1", "customer", "law", 20, 50.0),
    _u("P3", "prospect", "law", 20, None),
    _u("P4", "prospect", None, None, None),  # unknown industry and size: the 'all' level too → 625
]


def test_estimated_wallet_is_the_p75_of_active_customer_peers_with_fallback():
    out = run(add_builtins(table(PEERS), ["estimated_wallet", "wallet_gap"]))
    wallet = {u: r["estimated_wallet"] for u, r in out.items()}
    # at least the unit's own revenue: C5 spends 500 > 400, B1 and B2 more than their 750
    assert wallet == {**{f"C{i}": 400.0 for i in range(5)}, "C5": 500.0, "P1": 400.0, "F1": 400.0,
                      "B1": 1000.0, "B2": 2000.0, "P2": 750.0, "L1": 625.0, "P3": 625.0, "P4": 625.0}
    gap = {u: r["wallet_gap"] for u, r in out.items()}
    # max(wallet − revenue, 0): C1 300, C2 200, C3 100, C4 0, C5 0 (spends more than the p75)
    assert [gap[f"C{i}"] for i in range(6)] == [400.0, 300.0, 200.0, 100.0, 0.0, 0.0]
    assert gap["B1"] == 0.0 and gap["L1"] == 575.0
    # prospects get a potential too: their whole wallet (a null revenue counts as 0)
    assert (gap["P1"], gap["P2"], gap["P3"], gap["F1"]) == (400.0, 750.0, 625.0, 400.0)


def test_the_percentile_and_the_peer_key_are_settings():
    out = run(add_builtins(table(PEERS), ["estimated_wallet"], percentile=0.5, by=("industry",)))
    # by industry only, median: it → 100..500, 1000, 2000 → 400; law has 1 peer → all 8 → (300 + 400) / 2
    assert out["C1"]["estimated_wallet"] == 400.0 and out["C3"]["estimated_wallet"] == 400.0
    assert out["B1"]["estimated_wallet"] == 1000.0  # its own revenue beats the median 400
    assert out["P3"]["estimated_wallet"] == 350.0


def test_too_few_customers_anywhere_means_no_wallet():
    out = run(add_builtins(table(PEERS), ["estimated_wallet", "wallet_gap"], min_peers=100))
    assert all(pd.isna(r["estimated_wallet"]) and pd.isna(r["wallet_gap"]) for r in out.values())


def test_peer_stats_picks_the_first_level_with_enough_peers():
    out = run(peer_stats(table(PEERS), {"n": lambda p: p.count(), "top": lambda p: p.revenue_12m.max()}))
    assert (out["C1"]["n"], out["C1"]["top"]) == (5, 500.0)  # it / 10-49
    assert (out["B1"]["n"], out["B1"]["top"]) == (7, 2000.0)  # it
    assert (out["P3"]["n"], out["P3"]["top"]) == (8, 2000.0)  # all


def test_need_ticket_usage_and_growth():
    rows = [
        _u("A", "customer", "it", 50, 10.0, tickets_12m=5, usage_trend=-0.3, revenue_growth=0.2,
           need_price=4.0, need_speed=2.0, need_support=None),  # needs (4 + 2) / 2 = 3; 100 × 5 / 50 = 10 tickets
        _u("B", "customer", "it", 0, 10.0, tickets_12m=2, usage_trend=0.5, revenue_growth=None,
           need_price=None, need_speed=None, need_support=None),  # no answers → null; 0 employees → null load
        _u("C", "prospect", "it", 200, None, tickets_12m=None, usage_trend=None, revenue_growth=None,
           need_price=5.0, need_speed=5.0, need_support=2.0),  # needs 4; no tickets data → null load
    ]
    out = run(add_builtins(table(rows), ["need_score", "ticket_load", "usage_decline", "growth"]))
    got = {u: [r["need_score"], r["ticket_load"], r["usage_decline"], r["growth"]] for u, r in out.items()}
    assert got["A"] == pytest.approx([3.0, 10.0, 0.3, 0.2])
    assert pd.isna(got["B"][0]) and pd.isna(got["B"][1]) and got["B"][2] == 0.0 and pd.isna(got["B"][3])
    assert got["C"][0] == 4.0 and all(pd.isna(v) for v in got["C"][1:])  # no usage → null, not 0


def test_need_score_is_null_without_need_columns():
    out = run(add_builtins(table([_u("A", "customer", "it", 5, 1.0)]), ["need_score"]))
    assert pd.isna(out["A"]["need_score"])


def test_onboarding_struggle():
    pool = [
        # it / 10-49 active customers: active users 10..50 → median 30; tickets 0, 4, 4, 8, 12 → p75 8 → 8 / 4 = 2
        _u(f"C{i}", "customer", "it", 20, 100.0, lifecycle_stage="established", active_users_30d=10.0 * i, tickets_12m=t)
        for i, t in zip(range(1, 6), [0, 4, 4, 8, 12], strict=True)
    ]
    # onboarding units have no revenue in these rows so that they stay out of the pool
    fresh = [
        _u("O1", "customer", "it", 20, None, lifecycle_stage="onboarding", active_users_30d=10.0, tickets_12m=3),  # 10 < 15, 3 > 2 → 1
        _u("O2", "customer", "it", 20, None, lifecycle_stage="onboarding", active_users_30d=20.0, tickets_12m=2),  # neither → 0
        _u("O3", "customer", "it", 20, None, lifecycle_stage="onboarding", active_users_30d=None, tickets_12m=0),  # no usage → 0.5
        _u("O4", "customer", "it", 20, None, lifecycle_stage="onboarding", active_users_30d=40.0, tickets_12m=5),  # tickets → 0.5
        _u("E1", "customer", "it", 20, None, lifecycle_stage="established", active_users_30d=0.0, tickets_12m=50),  # not onboarding → 0
    ]
    out = run(add_builtins(table(pool + fresh), ["onboarding_struggle"]))
    assert [out[u]["onboarding_struggle"] for u in ("O1", "O2", "O3", "O4", "E1", "C1")] == [1.0, 0.0, 0.5, 0.5, 0.0, 0.0]


def test_only_the_requested_builtins_are_added_and_inputs_may_be_absent():
    f = table([_u("A", "customer", "it", 5, 1.0)])
    out = add_builtins(f, ["usage_decline", "onboarding_struggle"])
    assert out.columns == (*f.columns, "usage_decline", "onboarding_struggle")
    row = run(out)["A"]
    assert pd.isna(row["usage_decline"]) and row["onboarding_struggle"] == 0.0
    assert add_builtins(f, []) is f


def test_bad_requests():
    f = table([_u("A", "customer", "it", 5, 1.0)])
    with pytest.raises(UsageError, match="unknown built-in wallet; built-ins are estimated_wallet"):
        add_builtins(f, ["wallet"])
    with pytest.raises(UsageError, match="percentile"):
        add_builtins(f, ["wallet_gap"], percentile=1.0)
    assert set(BUILTINS) == {"estimated_wallet", "wallet_gap", "growth", "need_score", "ticket_load",
                             "usage_decline", "onboarding_struggle", "industry_fit", "competitive_pressure",
                             "clv", "clv_minus_cac", "p_alive", "expected_purchases", "value_tier"}


def test_fitted_builtins_pass_through_and_are_never_invented():
    from sikta.engine.wallet import FITTED_BUILTINS

    assert set(FITTED_BUILTINS) <= set(BUILTINS)
    f = table([_u("A", "customer", "it", 5, 1.0)])
    with pytest.raises(UsageError, match="clv needs a fitted CLV model"):
        add_builtins(f, ["clv"])
    with_clv = f.mutate(clv=ibis.literal(123.5), p_alive=ibis.literal(0.25))
    out = ibis.duckdb.connect().to_pandas(add_builtins(with_clv, ["clv", "p_alive", "growth"]))
    assert out[["clv", "p_alive"]].values.tolist() == [[123.5, 0.25]]



# -- industry_fit and competitive_pressure ---------------------------------------------------------------------


def test_industry_fit_by_hand():
    """10 customers; the best 2 by revenue are an 'it' and a 'law' company. p = 0.2, m = 10:
    it: 4 customers, 1 best -> (1 + 2) / 14 / 0.2; law: 2 customers, 1 best -> 3 / 12 / 0.2; retail 4, 0 -> 2 / 14 / 0.2.
    Size bands (employees 5 -> 1-9, 500 -> 250-999) give lifts alike; the fit is their geometric mean."""
    import pandas as pd

    from sikta.engine.fit_builtins import add_fit, industry_fit_table

    rows = [("A", "it", 500, 100.0), ("B", "law", 500, 90.0), ("C", "it", 5, 10.0), ("D", "it", 5, 9.0),
            ("E", "it", 5, 8.0), ("F", "law", 5, 7.0), ("G", "retail", 5, 6.0), ("H", "retail", 5, 5.0),
            ("I", "retail", 5, 4.0), ("J", "retail", 5, 3.0)]
    units = [dict(unit_id=u, status="customer", industry=i, employees=e, revenue_12m=r) for u, i, e, r in rows]
    units.append(dict(unit_id="P", status="prospect", industry="law", employees=None, revenue_12m=None))
    f = ibis.memtable(pd.DataFrame(units))
    con = ibis.duckdb.connect()
    lifts = con.to_pandas(industry_fit_table(f, best_share=0.2)).set_index(["dimension", "value"]).lift
    assert lifts["industry", "it"] == pytest.approx(3 / 14 / 0.2)
    assert lifts["industry", "law"] == pytest.approx(3 / 12 / 0.2)
    assert lifts["industry", "retail"] == pytest.approx(2 / 14 / 0.2)
    assert lifts["size_band", "250-999"] == pytest.approx((2 + 2) / 12 / 0.2)  # A and B: both best
    assert lifts["size_band", "1-9"] == pytest.approx(2 / 18 / 0.2)
    out = con.to_pandas(add_fit(f, ["industry_fit"], best_share=0.2, min_best=2)).set_index("unit_id").industry_fit
    assert out["A"] == pytest.approx(math.sqrt(3 / 14 / 0.2 * 4 / 12 / 0.2))
    assert out["P"] == pytest.approx(3 / 12 / 0.2)  # a prospect: its industry only (no employees)
    assert out["G"] < 1 < out["A"]


def test_industry_fit_needs_enough_best_customers_and_a_dimension():
    import pandas as pd

    f = ibis.memtable(pd.DataFrame({"unit_id": ["A", "B"], "status": ["customer"] * 2, "industry": ["x", "y"],
                                    "revenue_12m": [2.0, 1.0]}))
    out = ibis.duckdb.connect().to_pandas(add_builtins(f, ["industry_fit"]))
    assert out.industry_fit.isna().all()  # 1 best customer of 2: nothing to learn from (MIN_BEST = 10)


def test_competitive_pressure_sources_in_order():
    import pandas as pd

    con = ibis.duckdb.connect()
    base = {"unit_id": ["A", "B"], "status": ["customer"] * 2}
    none = con.to_pandas(add_builtins(ibis.memtable(pd.DataFrame(base)), ["competitive_pressure"]))
    assert none.competitive_pressure.isna().all()  # no source: missing, not zero
    inter = ibis.memtable(pd.DataFrame(base | {"competitive_interactions_12m": [3, 0]}))
    assert con.to_pandas(add_builtins(inter, ["competitive_pressure"])).competitive_pressure.tolist() == [3.0, 0.0]
    both = ibis.memtable(pd.DataFrame(base | {"competitive_interactions_12m": [3, 0],
                                              "attr_competitive_pressure": [0.2, 0.9]}))
    assert con.to_pandas(add_builtins(both, ["competitive_pressure"])).competitive_pressure.tolist() == [0.2, 0.9]
