"""Pareto / ABC / Gini against hand-worked numbers and independent formulas."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sikta.core.pareto import gini, pareto
from sikta.errors import DataTooThinError, UsageError

# Five units, total 100. Sorted: a 50, b 25, c 10, d 10 (tie: c before d by id), e 5.
FIVE = pd.Series({"e": 5.0, "d": 10.0, "a": 50.0, "c": 10.0, "b": 25.0})


def test_curve_of_five_units_by_hand():
    r = pareto(FIVE)
    assert r.accounts == 5 and r.revenue == 100.0 and r.excluded == 0
    c = r.curve
    assert c["rank"].tolist() == [1, 2, 3, 4, 5]
    assert c["unit_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert c["revenue"].tolist() == [50.0, 25.0, 10.0, 10.0, 5.0]
    # cumulative 50, 75, 85, 95, 100 of 100
    assert c["share_revenue"].tolist() == pytest.approx([0.5, 0.75, 0.85, 0.95, 1.0])
    assert c["share_accounts"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_top20_of_five_is_the_single_biggest_unit():
    # ceil(0.2 * 5) = 1 unit: 50 / 100
    assert pareto(FIVE).top20_share == pytest.approx(0.5)
    # ceil(0.2 * 6) = 2 units: (60 + 20) / (60 + 20 + 4·5) = 80 / 100
    six = pd.Series([60.0, 20.0, 5.0, 5.0, 5.0, 5.0], index=list("uvwxyz"))
    assert pareto(six).top20_share == pytest.approx(0.8)


def test_abc_keeps_the_crossing_unit_in_a():
    r = pareto(FIVE)
    # share before each unit: 0, .50, .75, .85, .95
    # a: 0 < .8 A | b: .5 < .8 A | c: .75 < .8 A (c crosses 80 %: still A)
    # d: .85 < .95 B | e: .95 is not < .95 -> C
    assert r.curve["abc"].tolist() == ["A", "A", "A", "B", "C"]
    assert r.abc["A"] == {"accounts": 3, "revenue": 85.0, "share_accounts": pytest.approx(0.6), "share_revenue": 0.85}
    assert r.abc["B"] == {"accounts": 1, "revenue": 10.0, "share_accounts": pytest.approx(0.2), "share_revenue": 0.1}
    assert r.abc["C"] == {"accounts": 1, "revenue": 5.0, "share_accounts": pytest.approx(0.2), "share_revenue": 0.05}
    assert r.thresholds == (0.8, 0.95)


def test_abc_when_a_unit_lands_exactly_on_the_threshold():
    # ten equal units u0..u9 of 0.1: the float running total after eight is 0.7999999999999999,
    # but eight of ten is exactly 80 %, so A = 8 units; the 9th starts at 80 % -> B,
    # the 10th starts at 90 % < 95 % -> B; no C.
    r = pareto(pd.Series([0.1] * 10, index=[f"u{i}" for i in range(10)]))
    assert r.curve["unit_id"].tolist() == [f"u{i}" for i in range(10)]  # all tied: by id
    assert r.curve["abc"].tolist() == ["A"] * 8 + ["B"] * 2
    assert r.abc["C"]["accounts"] == 0 and r.abc["C"]["revenue"] == 0.0
    # 80 / 20 with custom thresholds: unit 1 holds exactly a = 0.8 -> the 2nd starts at 0.8 -> B
    two = pareto(pd.Series({"x": 80.0, "y": 20.0}), a=0.8, b=0.9)
    assert two.curve["abc"].tolist() == ["A", "B"]


def test_ties_are_broken_by_unit_id_whatever_the_input_order():
    ids = ["k", "b", "z", "a", "m"]
    forward = pareto(pd.Series([3.0, 7.0, 3.0, 3.0, 7.0], index=ids))
    backward = pareto(pd.Series([3.0, 7.0, 3.0, 3.0, 7.0][::-1], index=ids[::-1]))
    assert forward.curve["unit_id"].tolist() == ["b", "m", "a", "k", "z"]
    pd.testing.assert_frame_equal(forward.curve, backward.curve)
    # numeric ids tie in numeric order (2 before 10), not as text
    assert pareto(pd.Series([1.0, 1.0], index=[10, 2])).curve["unit_id"].tolist() == [2, 10]


def test_non_positive_and_missing_revenue_is_left_out():
    r = pareto(pd.Series({"x": 30.0, "y": 0.0, "z": -5.0, "w": np.nan, "v": 10.0}))
    assert r.accounts == 2 and r.excluded == 3
    assert r.revenue == 40.0
    assert r.curve["unit_id"].tolist() == ["x", "v"]
    # ascending [10, 30]: 2·(1·10 + 2·30) / (2·40) − 3/2 = 140/80 − 1.5 = 0.25
    assert r.gini == pytest.approx(0.25)


def test_no_positive_revenue_is_too_thin():
    with pytest.raises(DataTooThinError, match="no account has positive revenue in the window"):
        pareto(pd.Series({"x": 0.0, "y": -3.0}))
    with pytest.raises(DataTooThinError):
        pareto(pd.Series([], dtype=float))


@pytest.mark.parametrize(("a", "b"), [(0.95, 0.8), (0.8, 0.8), (0.0, 0.5), (0.5, 1.0), (-0.1, 0.5)])
def test_thresholds_are_validated(a, b):
    with pytest.raises(UsageError, match="0 < a < b < 1"):
        pareto(FIVE, a=a, b=b)


def test_duplicate_units_are_refused():
    with pytest.raises(UsageError, match="not unique"):
        pareto(pd.Series([1.0, 2.0], index=["x", "x"]))


def test_single_unit():
    r = pareto(pd.Series({"only": 42.0}))
    assert (r.accounts, r.top20_share, r.gini) == (1, 1.0, 0.0)
    assert r.curve["abc"].tolist() == ["A"]


def test_gini_by_hand():
    # ascending [1, 2, 3, 4], Σ i·x = 1 + 4 + 9 + 16 = 30: 2·30 / (4·10) − 5/4 = 1.5 − 1.25
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25)
    assert gini([7.0] * 9) == pytest.approx(0.0, abs=1e-15)
    # one of n has everything: (n − 1) / n
    for n in (2, 5, 10):
        assert gini([0.0] * (n - 1) + [3.0]) == pytest.approx((n - 1) / n)
    # in pareto() zeros are excluded; tiny positive others approach the same limit
    r = pareto(pd.Series([1e-9] * 4 + [1e6], index=list("abcde")))
    assert r.gini == pytest.approx(4 / 5, abs=1e-9)
    assert pareto(pd.Series({"p": 5.0, "q": 5.0, "r": 5.0})).gini == pytest.approx(0.0, abs=1e-15)


def test_gini_refuses_unusable_input():
    for bad in ([], [0.0, 0.0], [1.0, -1.0], [1.0, np.inf]):
        with pytest.raises(UsageError):
            gini(bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=1, max_size=40))
def test_gini_equals_the_mean_absolute_difference(values):
    x = np.asarray(values)
    n = len(x)
    mad = np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean())
    assert pareto(pd.Series(x, index=[f"u{i:02d}" for i in range(n)])).gini == pytest.approx(mad, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=40))
def test_classes_are_the_smallest_prefixes_reaching_the_thresholds(values):
    # independent, exact: A = the fewest top units whose revenue reaches 4/5 of the total,
    # A + B = the fewest reaching 19/20; top20 = the top ceil(n/5) units.
    ordered = sorted(values, reverse=True)
    total = sum(ordered)
    prefix = [sum(ordered[: k + 1]) for k in range(len(ordered))]
    n_a = next(k + 1 for k, s in enumerate(prefix) if Fraction(s, total) >= Fraction(4, 5))
    n_ab = next(k + 1 for k, s in enumerate(prefix) if Fraction(s, total) >= Fraction(19, 20))
    r = pareto(pd.Series([float(v) for v in values], index=[f"u{i:02d}" for i in range(len(values))]))
    assert r.abc["A"]["accounts"] == n_a
    assert r.abc["A"]["accounts"] + r.abc["B"]["accounts"] == n_ab
    assert r.abc["C"]["accounts"] == len(values) - n_ab
    assert r.top20_share == pytest.approx(sum(ordered[: math.ceil(len(values) / 5)]) / total)
    assert r.curve["share_revenue"].is_monotonic_increasing
    assert r.curve["share_revenue"].iat[-1] == pytest.approx(1.0)


def test_to_dict_is_json_ready_and_downsampled():
    # 1,000 units of revenue 1000, 999, ..., 1 (total 500,500)
    vals = pd.Series(np.arange(1000.0, 0.0, -1.0), index=[f"u{i:04d}" for i in range(1000)])
    r = pareto(vals)
    d = r.to_dict()
    json.dumps(d)  # no numpy scalars or frames
    assert "curve" in d and isinstance(d["curve"], list) and 90 <= len(d["curve"]) <= 103
    assert d["curve"][0] == {"rank": 0, "unit_id": None, "share_accounts": 0.0, "share_revenue": 0.0, "abc": None}
    assert d["curve"][-1]["rank"] == 1000 and d["curve"][-1]["share_revenue"] == pytest.approx(1.0)
    # the unit crossing 80 % (the last A) is among the points, with its exact values
    last_a = r.abc["A"]["accounts"]
    crossing = [p for p in d["curve"] if p["rank"] == last_a]
    assert crossing and crossing[0]["abc"] == "A"
    assert crossing[0]["share_revenue"] >= 0.8 > r.curve["share_revenue"].iat[last_a - 2]
    assert d["abc"]["A"]["accounts"] == last_a and d["thresholds"] == [0.8, 0.95]
    assert d["accounts"] == 1000 and d["revenue"] == 500500.0
    # small curves keep every unit
    assert [p["unit_id"] for p in pareto(FIVE).to_dict()["curve"][1:]] == ["a", "b", "c", "d", "e"]
