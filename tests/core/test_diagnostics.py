"""Diagnostics: hand-computed sizes and effect sizes, stability by matching, each guardrail, verdicts on real runs."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.stats.contingency import association

from sikta.core.diagnostics import (
    CAVEATS, NOT_USABLE, USABLE, Thresholds, axis_warnings, diagnose, matrix_verdict,
)
from sikta.errors import UsageError


def two_groups(n=100, gap=3.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a", "b"], n)
    x = np.r_[rng.normal(0, 1, n), rng.normal(gap, 1, n)]
    return labels, pd.DataFrame({"x": x, "rev": np.r_[np.full(n, 1.0), np.full(n, 3.0)]})


# -- measurements against hand-computed values --------------------------------------------------


def test_sizes_revenue_shares_and_actionability():
    labels = ["a"] * 50 + ["b"] * 40 + ["c"] * 10 + ["no answers"] * 100
    rev = [2.0] * 50 + [1.0] * 40 + [6.0] * 10 + [0.0] * 100
    d = diagnose(labels, revenue=rev, thresholds=Thresholds(min_units=30, min_share=0.02))
    t = d.sizes.set_index("segment")
    assert t.n_units.to_dict() == {"a": 50, "b": 40, "c": 10, "no answers": 100}
    assert t.loc["a", "revenue_share"] == pytest.approx(100 / 200) and t.loc["c", "revenue_share"] == pytest.approx(0.3)
    assert t.actionable.to_dict() == {"a": True, "b": True, "c": False, "no answers": False}
    assert d.placed_share == 0.5
    assert d.verdict == NOT_USABLE  # half the units unplaced
    assert d.reasons[0] == "50 % of units have no survey answers"
    assert "1 of 3 segments are too small to act on (fewer than 30 units or 2 %): c (10)" in d.reasons


def test_eta_squared_and_cohens_d_by_hand():
    labels = ["a"] * 3 + ["b"] * 3
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    row = diagnose(labels, frame=frame, variables=["x"], thresholds=Thresholds(min_units=1, min_share=0)) \
        .distinctiveness.iloc[0]
    # grand mean 3.5: SS total 17.5, SS between 3 (2 - 3.5)² + 3 (5 - 3.5)² = 13.5
    assert row.effect == pytest.approx(13.5 / 17.5)
    assert row.max_abs_d == pytest.approx(3.0) and row.pair == "a vs b"


def test_eta_squared_agrees_with_scipys_anova():
    rng = np.random.default_rng(4)
    labels = np.repeat(["a", "b", "c"], [40, 55, 70])
    x = np.r_[rng.normal(0, 1, 40), rng.normal(0.5, 1.2, 55), rng.normal(1.0, 0.8, 70)]
    eta2 = diagnose(labels, frame=pd.DataFrame({"x": x}), variables=["x"]).distinctiveness.effect.iloc[0]
    f = sps.f_oneway(x[:40], x[40:95], x[95:]).statistic
    df_b, df_w = 2, len(x) - 3
    assert eta2 == pytest.approx(f * df_b / (f * df_b + df_w))


def test_largest_d_over_many_segments_against_every_pair_by_hand():
    rng = np.random.default_rng(3)
    sizes = {"a": 400, "b": 150, "c": 60, "d": 1}  # d alone: in eta² but in no pair (no spread to pool)
    labels = np.concatenate([np.repeat(k, n) for k, n in sizes.items()])
    x = np.concatenate([rng.normal(mu, sd, n) for (mu, sd), n in zip([(0, 1), (0.4, 2), (1.5, 0.5), (9, 1)],
                                                                      sizes.values())])
    row = diagnose(labels, frame=pd.DataFrame({"x": x}), variables=["x"],
                   thresholds=Thresholds(min_units=1, min_share=0)).distinctiveness.iloc[0]
    groups = {k: x[labels == k] for k in sizes}
    best = max(((abs(groups[p].mean() - groups[q].mean()) / math.sqrt(
        (((groups[p] - groups[p].mean()) ** 2).sum() + ((groups[q] - groups[q].mean()) ** 2).sum())
        / (len(groups[p]) + len(groups[q]) - 2)), f"{p} vs {q}") for p, q in [("a", "b"), ("a", "c"), ("b", "c")]))
    assert row.max_abs_d == pytest.approx(best[0], rel=1e-12) and row.pair == best[1] == "a vs c"
    f, _ = sps.f_oneway(*groups.values())
    df_b, df_w = len(sizes) - 1, len(x) - len(sizes)
    assert row.effect == pytest.approx(f * df_b / (f * df_b + df_w), rel=1e-12)


def test_cramers_v_for_categorical_variables():
    labels = np.repeat(["a", "b"], 50)
    region = np.r_[["north"] * 40 + ["south"] * 10, ["north"] * 15 + ["south"] * 35]
    d = diagnose(labels, frame=pd.DataFrame({"region": region}), variables=["region"])
    table = pd.crosstab(labels, region).to_numpy()
    assert d.distinctiveness.effect.iloc[0] == pytest.approx(association(table, method="cramer"))


# -- stability ------------------------------------------------------------------------------------


def test_stability_ignores_renamed_segments():
    labels, frame = two_groups()
    rename = {"a": "cluster 7", "b": "cluster 2"}
    d = diagnose(labels, frame=frame, variables=["x"], refit=lambda idx: [rename[v] for v in labels[idx]])
    assert d.stability == 1.0 and d.stability_ari == 1.0
    assert d.unit_stability.dropna().eq(1.0).all()


def test_stability_counts_the_units_that_move():
    labels, frame = two_groups()
    moved = np.arange(len(labels)) % 4 == 0  # a quarter of the units switch in every refit
    flip = {"a": "b", "b": "a"}

    def refit(idx):
        return [flip[labels[i]] if moved[i] else labels[i] for i in idx]

    d = diagnose(labels, frame=frame, variables=["x"], refit=refit, n_bootstrap=10)
    assert d.stability == pytest.approx(0.75, abs=0.02)
    assert d.unit_stability[moved].eq(0).all() and d.unit_stability[~moved].dropna().eq(1).all()
    assert d.verdict == CAVEATS
    assert d.reasons[0].startswith("segments are somewhat unstable: only 75 % of units keep their segment")


def test_large_segmentations_refit_on_resamples_of_the_stability_sample():
    labels, frame = two_groups(n=300)
    moved = np.arange(len(labels)) % 4 == 0
    flip = {"a": "b", "b": "a"}
    sizes = []

    def refit(idx):
        sizes.append(len(idx))
        return [flip[labels[i]] if moved[i] else labels[i] for i in idx]

    d = diagnose(labels, frame=frame, variables=["x"], refit=refit, n_bootstrap=10, stability_sample=100)
    # 100 draws with replacement from 600 units: never more than 100 distinct units per refit
    assert len(sizes) == 10 and max(sizes) <= 100 and min(sizes) > 80
    assert d.stability == pytest.approx(0.75, abs=0.06)  # the same quarter moves, measured on fewer units
    assert d.notes == ["stability from 10 resamples of 100 of the 600 units each"]
    sizes.clear()
    full = diagnose(labels, frame=frame, variables=["x"], refit=refit, n_bootstrap=10, stability_sample=None)
    assert min(sizes) > 300 and full.notes == []  # a bootstrap of all 600: about 63 % distinct


def test_refits_on_threads_give_what_one_after_the_other_gives(monkeypatch):
    from sikta.core import parallel
    from sikta.core.clustering import StableClusterer

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 1.2, size=(300, 3)) for c in (0, 3, 6)])
    labels = StableClusterer(k_min=3, k_max=3, algorithm="gaussian").fit(X).labels_.astype(str)
    threads = set()

    def refit(idx):
        threads.add(threading.get_ident())
        return StableClusterer(k_min=3, k_max=3, algorithm="gaussian").fit(X[idx]).labels_

    runs = {}
    for workers in (1, 2):
        monkeypatch.setattr(parallel, "WORKERS", workers)
        threads.clear()
        d = diagnose(labels, frame=pd.DataFrame(X, columns=["x", "y", "z"]), variables=["x"], refit=refit,
                     n_bootstrap=8, stability_sample=500)
        runs[workers] = (d.stability, d.stability_ari, d.unit_stability.to_numpy(), len(threads))
    assert runs[1][3] == 1 and runs[2][3] == 2  # really side by side
    assert runs[1][0] == runs[2][0] and runs[1][1] == runs[2][1] and 0.5 < runs[1][0] < 1.0
    np.testing.assert_array_equal(runs[1][2], runs[2][2])


def test_random_refits_are_not_usable():
    labels, frame = two_groups()
    rng = np.random.default_rng(1)
    d = diagnose(labels, frame=frame, variables=["x"], refit=lambda idx: rng.choice(["a", "b"], len(idx)))
    assert d.stability < 0.6 and abs(d.stability_ari) < 0.05
    assert d.verdict == NOT_USABLE and "segments are unstable" in d.reasons[0]


# -- guardrails and verdicts ------------------------------------------------------------------


def test_usable_when_everything_holds():
    labels, frame = two_groups()
    d = diagnose(labels, name="demo", frame=frame, revenue="rev", variables=["x"], inputs=["x"],
                 refit=lambda idx: labels[idx])
    assert (d.verdict, d.reasons) == (USABLE, [])
    assert d.summary() == "demo: usable"
    out = json.loads(json.dumps(d.to_dict()))
    assert out["verdict"] == "usable" and out["reasons"] == [] and out["stability"] == 1.0
    assert {r["segment"] for r in out["sizes"]} == {"a", "b"}


def test_segments_that_do_not_differ():
    labels, frame = two_groups(gap=0.0)
    d = diagnose(labels, frame=frame.assign(x=np.tile(np.arange(10.0), 20)), variables=["x"])
    assert d.verdict == NOT_USABLE and d.reasons[0].startswith("segments hardly differ on x")
    labels, frame = two_groups(gap=0.35, seed=2)  # eta² about 0.03: small, not medium
    d = diagnose(labels, frame=frame, variables=["x"])
    assert d.verdict == CAVEATS and d.reasons[0].startswith("segments differ only a little on x")


def test_one_segment_or_all_too_small():
    d = diagnose(["a"] * 50)
    assert d.verdict == NOT_USABLE and d.reasons == ["only one segment (a): nothing to tell apart"]
    d = diagnose(["a"] * 10 + ["b"] * 12)
    assert d.verdict == NOT_USABLE and d.reasons[0].startswith("2 of 2 segments are too small to act on")


def test_inputs_missing_for_placed_units_and_several_unplaced_labels():
    labels = ["a"] * 60 + ["b"] * 60 + ["no answers"] * 10 + ["too few answers"] * 5
    frame = pd.DataFrame({"need_price": [1.0] * 80 + [np.nan] * 55, "need_speed": [1.0] * 80 + [np.nan] * 55})
    d = diagnose(labels, frame=frame, inputs=["need_price", "need_speed"], unit="accounts")
    assert d.reasons[0] == ("11 % of accounts have no segment (7 % have no survey answers, "
                            "4 % answered too few survey items)")
    assert "need_price, need_speed are missing for 33 % of the placed accounts" in d.reasons
    cov = d.coverage.set_index("input")
    assert cov.loc["need_price", "n_missing"] == 55 and cov.loc["need_price", "n_missing_placed"] == 40


def test_bad_calls():
    with pytest.raises(UsageError, match="no units"):
        diagnose([])
    with pytest.raises(UsageError, match="no column 'x'"):
        diagnose(["a", "b"], frame=pd.DataFrame({"y": [1, 2]}), variables=["x"])
    with pytest.raises(UsageError, match="3 labels for 2 units"):
        diagnose(["a", "b", "c"], frame=pd.DataFrame({"y": [1, 2]}))
    with pytest.raises(UsageError, match="refit returned 1 labels"):
        diagnose(["a", "b"] * 20, refit=lambda idx: ["a"])


# -- the matrix axes: one test per guardrail ------------------------------------------------------

GROUPS = ["invest", "qualify", "streamline", "maintain"]


def healthy(n=200, seed=0):
    rng = np.random.default_rng(seed)
    s = pd.DataFrame({"pain": rng.random(n), "potential": rng.random(n)})
    g = np.select([(s.pain >= .5) & (s.potential >= .5), s.potential >= .5, s.pain >= .5], GROUPS[:3], GROUPS[3])
    return s, g


def test_a_healthy_matrix_has_no_warnings():
    s, g = healthy()
    params = pd.DataFrame({"tickets": np.ones(len(s)), "wallet_gap": np.ones(len(s))})
    got = axis_warnings(s, {"pain": 0.5, "potential": 0.5}, params=params,
                        axis_params={"pain": ["tickets"], "potential": ["wallet_gap"]},
                        groups=g, expected_groups=GROUPS)
    assert got == [] and matrix_verdict(got) == USABLE


def test_constant_axis():
    s, _ = healthy()
    got = axis_warnings(s.assign(pain=0.0), {})
    assert got == ["pain axis is constant: every unit scores 0.00"] and matrix_verdict(got) == NOT_USABLE


def test_nearly_constant_axis():
    s, _ = healthy()
    pain = np.where(np.arange(len(s)) < 194, 0.0, 0.7)  # 97 % at 0
    assert axis_warnings(s.assign(pain=pain), {}) == ["pain axis is nearly constant: 97 % of units score 0.00"]


def test_threshold_at_the_axis_minimum_or_above_the_maximum():
    s, _ = healthy()
    s["pain"] = np.where(np.arange(len(s)) % 3 == 0, s.pain, 0.0)  # two thirds at 0: "high" = answered a survey
    got = axis_warnings(s, {"pain": 0.0, "potential": 1.5})
    assert got[0] == ("pain threshold 0.00 equals the axis minimum: every unit above the lowest score counts as "
                      "high pain")
    assert got[1].startswith("potential threshold 1.50 is above the axis maximum")
    assert matrix_verdict(got) == CAVEATS


def test_axis_resting_on_a_parameter_most_units_lack():
    s, _ = healthy()
    params = pd.DataFrame({"need_score": np.where(np.arange(len(s)) % 3 == 0, 4.0, np.nan)})
    got = axis_warnings(s, {}, params=params, axis_params={"pain": ["need_score"]}, unit="accounts")
    assert got == ["pain axis depends on need_score, which 66 % of accounts lack (they score as missing)"]


def test_empty_group():
    s, g = healthy()
    g = np.where(g == "streamline", "maintain", g)
    assert axis_warnings(s, {}, groups=g, expected_groups=GROUPS) == ["group 'streamline' is empty"]


# -- verdicts on real schemes --------------------------------------------------------------------


def test_needs_on_a_thin_survey_base_is_not_usable(synthetic_3000):
    """Two thirds of the accounts never answered a survey: the issue's own example."""
    from sikta.core.needs import NeedsSegmenter

    _, ws = synthetic_3000
    f = ws.store.frame(ws.features(grain="account")).set_index("unit_id")
    items = [c for c in f.columns if c.startswith("need_")]
    seg = NeedsSegmenter().fit(f)
    d = diagnose(seg.segments_.segment, name="needs", frame=f, variables=items, inputs=items, unit="accounts")
    share = f[items].isna().all(axis=1).mean()
    assert d.verdict == NOT_USABLE
    assert d.reasons[0] == f"{100 * share:.0f} % of accounts have no survey answers"
    assert d.summary().startswith("needs: not usable - ")


def test_behavioral_on_demo_like_data_is_usable(synthetic_3000):
    """Purchasing customers of the synthetic base, with bootstrap refits at the chosen k."""
    from sikta.core.behavioral import BehaviorSegmenter
    from sikta.engine.behavior import behavior_inputs

    d, ws = synthetic_3000
    tables = {n: ws.store.table(n) for n in ("orders", "products", "subscriptions", "tickets")}
    b = ws.store.frame(behavior_inputs(tables, ws.store.table("_sikta_hierarchy"), grain="account",
                                       as_of=ws.default_as_of()))
    f = ws.store.frame(ws.features(grain="account"))[["unit_id", "status", "revenue_12m"]]
    frame = f.merge(b, on="unit_id")
    frame = frame[(frame.status == "customer") & (frame.order_lines > 0)].reset_index(drop=True)
    seg = BehaviorSegmenter().fit(frame)
    k = seg.clusterer_.n_clusters_
    frame["support_rate"] = seg.segments_.support_rate

    def refit(idx):
        return BehaviorSegmenter(k_min=k, k_max=k).fit(frame.iloc[idx]).segments_.segment.to_numpy()

    diag = diagnose(seg.segments_.segment, name="behavioral", frame=frame, revenue="revenue_12m",
                    variables=seg.inputs_, inputs=["discount_rate", "price_tier", "tickets"], refit=refit,
                    n_bootstrap=8)
    assert diag.verdict == USABLE, diag.summary()
    assert diag.stability >= 0.8
    assert diag.sizes.revenue_share.sum() == pytest.approx(1.0)
    assert not math.isnan(diag.distinctiveness.effect.max()) and diag.distinctiveness.effect.max() >= 0.06


def test_the_same_units_in_another_row_order_give_the_same_stability():
    # A feature table built again holds its units in another row order; the resamples must draw the same units.
    from sikta.core.clustering import StableClusterer

    rng = np.random.default_rng(4)
    n = 400
    x = np.r_[rng.normal(0, 1, n // 2), rng.normal(1.6, 1, n // 2)]  # overlapping: refits disagree on some units
    frame = pd.DataFrame({"x": x}, index=[f"u{i:04d}" for i in range(n)])
    labels = pd.Series(StableClusterer(k_min=2, k_max=2).fit(frame[["x"]]).labels_, index=frame.index).astype(str)

    def diagnosis(order):
        f, lab = frame.iloc[order], labels.iloc[order]
        return diagnose(lab, frame=f, variables=["x"], n_bootstrap=8,
                        refit=lambda idx: StableClusterer(k_min=2, k_max=2).fit(f[["x"]].iloc[idx]).labels_)

    first = diagnosis(np.arange(n))
    again = diagnosis(rng.permutation(n))
    assert 0.5 < first.stability < 1.0
    assert (again.stability, again.stability_ari) == (first.stability, first.stability_ari)
    pd.testing.assert_series_equal(again.unit_stability.sort_index(), first.unit_stability.sort_index())
