"""Coverage maths on a small team worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sikta.core.coverage import (
    DEFAULT_MODELS,
    EngagementModel,
    assign_engagement,
    coverage,
    engagement_models,
    workload_weight,
)
from sikta.errors import InputError, ModelError


def _units():
    parts = [
        ("strategic", 10, 100.0, 6.0),  # workload 60
        ("dedicated", 120, 10.0, 1.5),  # workload 180
        ("pooled", 2500, 1.0, 1.0),
        ("tech_touch", 5000, 0.1, 1.0),
    ]
    rows = [(f"{e}-{i}", e, r, w) for e, n, r, w in parts for i in range(n)]
    return pd.DataFrame(rows, columns=["unit_id", "engagement", "revenue", "workload"])


TEAM = pd.DataFrame({
    "owner_id": ["s1", "d1", "d2", "d3", "d4", "p1", "p2", "x1", "x2", "x3"],
    "role": ["strategic"] + ["dedicated"] * 4 + ["pooled"] * 2 + ["sdr"] * 3,
    "capacity_accounts": [8, 40, 40, 40, 40, 1200, 1200, 0, 0, 0],
    "capacity_workload": [None, 90, 90, None, None, None, None, None, None, None],
})


def test_headcount_per_model_by_hand():
    r = coverage(_units(), DEFAULT_MODELS, TEAM).by_model.set_index("engagement")
    # strategic: 10 / 8 = 1.25 FTE by accounts, 60 / 40 = 1.5 by workload -> workload binds, 2 people
    s = r.loc["strategic"]
    assert (s["fte_accounts"], s["fte_workload"], s["headcount"], s["binding"]) == (1.25, 1.5, 2, "workload")
    # dedicated: 120 / 50 = 2.4 -> 3; 180 / 100 = 1.8 -> 2; accounts bind
    d = r.loc["dedicated"]
    assert (d["headcount_accounts"], d["headcount_workload"], d["headcount"], d["binding"]) == (3, 2, 3, "accounts")
    # pooled: 2500 / 1000 = 2.5 -> 3; 2500 / 1500 = 1.67 -> 2
    assert r.loc["pooled", "headcount"] == 3 and r.loc["pooled", "binding"] == "accounts"
    assert r.loc["tech_touch", "headcount"] == 0 and r.loc["tech_touch", "binding"] is None


def test_gap_against_the_team_by_hand():
    res = coverage(_units(), DEFAULT_MODELS, TEAM)
    r = res.by_model.set_index("engagement")
    assert r["team_headcount"].to_dict() == {"strategic": 1, "dedicated": 4, "pooled": 2, "tech_touch": 0}
    assert r["gap"].to_dict() == {"strategic": 1, "dedicated": -1, "pooled": 1, "tech_touch": 0}
    # the strategic owner takes 8 accounts and (no capacity_workload given) the model's 40 workload
    assert r.loc["strategic", "accounts_over_capacity"] == 2 and r.loc["strategic", "workload_over_capacity"] == 20
    # dedicated: 4 × 40 = 160 accounts; workload 90 + 90 + 100 + 100 = 380
    assert r.loc["dedicated", "team_capacity_accounts"] == 160 and r.loc["dedicated", "team_capacity_workload"] == 380
    assert r.loc["dedicated", "accounts_over_capacity"] == 0
    assert res.unmatched_roles == {"sdr": 3}
    d = json.loads(json.dumps(res.to_dict()))  # JSON-ready as it is
    assert d["headcount"] == 8 and d["gap"] == 1 and d["unmatched_roles"] == {"sdr": 3}


def test_touch_mix_in_accounts_and_revenue_by_hand():
    mix = coverage(_units()).mix.set_index("touch")
    # high: 10 + 120 accounts, 1000 + 1200 revenue; pooled 2500 / 2500; tech 5000 / 500; totals 7630 / 5200
    assert mix["accounts"].to_dict() == {"high": 130, "pooled": 2500, "tech": 5000}
    assert mix["revenue"].to_dict() == pytest.approx({"high": 2200.0, "pooled": 2500.0, "tech": 500.0})
    assert mix.loc["high", "share_accounts"] == pytest.approx(130 / 7630)
    assert mix.loc["high", "share_revenue"] == pytest.approx(2200 / 5200)
    assert mix["share_revenue"].sum() == pytest.approx(1.0)


def test_without_team_there_is_no_gap():
    r = coverage(_units())
    assert "gap" not in r.by_model.columns and r.to_dict()["gap"] is None


def test_workload_weight_formula():
    units = pd.DataFrame({"tickets_12m": [0, 12, 6, None], "interactions_12m": [0, 24, 0, 12],
                          "employees": [0, 900, 100, None]})
    # 1 + 0 + 0 + log10(1) ; 1 + 1 + 1 + log10(10) ; 1 + 0.5 + 0 + log10(2) ; 1 + 0 + 0.5 + 0
    assert workload_weight(units).tolist() == pytest.approx([1.0, 4.0, 1.5 + math.log10(2), 1.5])
    custom = workload_weight(units, base=0, tickets_per_unit=6, interactions_per_unit=12, size_weight=0)
    assert custom.tolist() == pytest.approx([0.0, 4.0, 1.0, 1.0])
    # columns that are absent contribute nothing
    assert workload_weight(pd.DataFrame({"x": [1, 2]})).tolist() == [1.0, 1.0]
    with pytest.raises(InputError, match=r"column 'tickets_12m': -1.0 is below 0"):
        workload_weight(pd.DataFrame({"tickets_12m": [-1]}))


def test_coverage_computes_workload_when_the_column_is_absent():
    units = pd.DataFrame({"unit_id": ["a", "b"], "engagement": "dedicated", "revenue": [1.0, None],
                          "tickets_12m": [12, 0], "interactions_12m": [0, 0]})
    r = coverage(units).by_model.set_index("engagement")
    assert r.loc["dedicated", "workload"] == 3.0 and r.loc["dedicated", "revenue"] == 1.0


def test_engagement_rules_first_match_wins():
    units = pd.DataFrame({"group": ["invest", "invest", "maintain", "qualify", "maintain"],
                          "segment": ["enterprise", "smb", "enterprise", "smb", None]})
    rules = [
        {"when": {"group": "invest", "segment": "enterprise"}, "engagement": "strategic"},
        {"when": {"segment": "enterprise"}, "engagement": "dedicated"},
        {"when": {"group": ["invest", "qualify"]}, "engagement": "pooled"},
    ]
    assert assign_engagement(units, rules).tolist() == ["strategic", "pooled", "dedicated", "pooled", "tech_touch"]
    assert assign_engagement(units, rules, default=None).tolist()[-1] is None
    with pytest.raises(ModelError, match="no engagement model 'vip'"):
        assign_engagement(units, [{"when": {}, "engagement": "vip"}])
    with pytest.raises(ModelError, match="no field 'tier'"):
        assign_engagement(units, [{"when": {"tier": "a"}, "engagement": "pooled"}])


def test_engagement_models_are_configurable_and_checked():
    models = engagement_models({"dedicated": {"accounts_per_owner": 25, "role": "csm"},
                                "scale": {"touch": "pooled", "accounts_per_owner": 400}})
    by_name = {m.name: m for m in models}
    assert by_name["dedicated"].accounts_per_owner == 25 and by_name["dedicated"].team_role == "csm"
    assert by_name["scale"] == EngagementModel("scale", "pooled", 400)
    with pytest.raises(ModelError, match="accounts_per_owner must be a positive number"):
        engagement_models({"dedicated": {"accounts_per_owner": 0}})
    with pytest.raises(ModelError, match="unknown field 'seats'"):
        engagement_models({"dedicated": {"seats": 3}})
    with pytest.raises(ModelError, match="needs 'touch'"):
        engagement_models({"new": {"accounts_per_owner": 3}})
    with pytest.raises(ModelError, match="tech touch has no owners"):
        engagement_models({"tech_touch": {"accounts_per_owner": 3}})


def test_a_unit_with_an_unknown_model_is_named():
    units = pd.DataFrame({"unit_id": ["a", "b"], "engagement": ["dedicated", "vip"], "revenue": [1, 2],
                          "workload": [1, 1]})
    with pytest.raises(InputError, match=r"units row 2 \(unit_id 'b'\), column 'engagement': 'vip' is not"):
        coverage(units)


def test_headcount_matches_a_plain_groupby():
    rng = np.random.default_rng(1)
    names = [m.name for m in DEFAULT_MODELS]
    units = pd.DataFrame({"unit_id": np.arange(5000).astype(str), "engagement": rng.choice(names, 5000),
                          "revenue": rng.gamma(2, 100, 5000), "workload": rng.gamma(2, 1, 5000)})
    got = coverage(units).by_model.set_index("engagement")
    g = units.groupby("engagement").agg(n=("unit_id", "size"), w=("workload", "sum"))
    for m in DEFAULT_MODELS[:3]:
        want = max(math.ceil(g.loc[m.name, "n"] / m.accounts_per_owner), math.ceil(g.loc[m.name, "w"] / m.workload_per_owner))
        assert got.loc[m.name, "headcount"] == want
