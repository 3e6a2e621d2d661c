"""Effect sizes against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.stats.contingency import association

from sikta.core.stats import cohens_d, cramers_v, effect_sizes, split_kinds
from sikta.errors import UsageError


# -- Cohen's d -----------------------------------------------------------------------


def test_d_by_hand():
    assert cohens_d([1, 2, 3], [4, 5, 6]) == pytest.approx(-3.0)
    assert cohens_d([4, 5, 6], [1, 2, 3]) == pytest.approx(3.0)
    # unequal sizes: means 2 and 4, sample variances 2 and 4, pooled = sqrt((1*2 + 2*4) / 3)
    assert cohens_d([1, 3], [2, 4, 6]) == pytest.approx(-2 / math.sqrt(10 / 3))


def test_d_drops_missing_values():
    assert cohens_d([1, 2, None, 3, np.nan], pd.Series([4, 5, 6, None], dtype="Int64")) == pytest.approx(-3.0)


def test_d_constant_groups():
    assert cohens_d([2, 2, 2], [2, 2]) == 0.0
    assert cohens_d([3, 3], [1, 1]) == math.inf
    assert cohens_d([1, 1], [3, 3]) == -math.inf
    assert math.isnan(cohens_d([], [1, 2, 3]))
    assert math.isnan(cohens_d([1], [2]))  # no degrees of freedom for a pooled SD


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_d_agrees_with_scipy_t(seed):
    # Student's t (equal variances) is d / sqrt(1/na + 1/nb).
    rng = np.random.default_rng(seed)
    a, b = rng.normal(1.0, 2.0, 37), rng.normal(0.2, 1.5, 81)
    t = sps.ttest_ind(a, b, equal_var=True).statistic
    assert cohens_d(a, b) == pytest.approx(t * math.sqrt(1 / 37 + 1 / 81), rel=1e-10)


# -- Cramér's V -------------------------------------------------------------------------


def _rows(table: list[list[int]]) -> tuple[list[str], list[bool]]:
    """Rows of a category × (True, False) table."""
    x, g = [], []
    for i, (t, f) in enumerate(table):
        x += [f"c{i}"] * (t + f)
        g += [True] * t + [False] * f
    return x, g


def test_v_two_by_two_by_hand():
    # phi = (ad - bc) / sqrt((a+b)(c+d)(a+c)(b+d)) = (400 - 100) / 900
    x, g = _rows([[20, 10], [10, 20]])
    assert cramers_v(x, g) == pytest.approx(1 / 3)
    # Bergsma: phi2 - 1/(n-1), over min(r~, k~) - 1 with r~ = k~ = 2 - 1/(n-1), n = 60
    expected = math.sqrt((1 / 9 - 1 / 59) / (1 - 1 / 59))
    assert cramers_v(x, g, bias_correction=True) == pytest.approx(expected)


def test_v_perfect_and_none():
    assert cramers_v(["a", "a", "b", "b"], [True, True, False, False]) == pytest.approx(1.0)
    x, g = _rows([[10, 30], [5, 15]])
    assert cramers_v(x, g) == pytest.approx(0.0, abs=1e-12)
    assert cramers_v(["a"] * 5, [True, False, True, False, True]) == 0.0  # one category
    assert cramers_v(["a", "b", "c"], [True, True, True]) == 0.0  # one group


@pytest.mark.parametrize("table", [
    [[12, 30], [25, 18], [7, 40]],
    [[3, 9], [14, 2], [6, 6], [20, 31]],
    [[50, 50], [40, 60]],
])
def test_v_agrees_with_scipy(table):
    x, g = _rows(table)
    observed = np.array(table)
    assert cramers_v(x, g) == pytest.approx(association(observed, method="cramer", correction=False))
    chi2 = sps.chi2_contingency(observed, correction=False)[0]
    assert cramers_v(x, g) == pytest.approx(math.sqrt(chi2 / observed.sum()))


def test_v_drops_missing_and_checks_lengths():
    x, g = _rows([[20, 10], [10, 20]])
    assert cramers_v(x + [None, np.nan], g + [True, False]) == pytest.approx(1 / 3)
    with pytest.raises(UsageError):
        cramers_v(["a", "b"], [True])


def test_bias_correction_shrinks_noise():
    rng = np.random.default_rng(3)
    x = rng.choice(list("abcdefghij"), 120)
    g = rng.random(120) < 0.3
    assert cramers_v(x, g, bias_correction=True) < cramers_v(x, g)


# -- effect_sizes -------------------------------------------------------------------------


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "sites": pd.array([5, 4, 6, None, 1, 2, 1, 2], dtype="Int64"),
            "nps": [9.0, 10.0, 8.0, 9.0, 7.0, 7.0, 6.0, 8.0],
            "industry": ["it", "it", "it", "retail", "retail", "retail", "it", None],
            "flat": ["x"] * 8,
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )


def test_effect_sizes_table(frame):
    group = pd.Series([True, True, True, True, False, False, False, False], index=frame.index)
    out = effect_sizes(frame, group, numeric=["sites", "nps"], categorical=["industry", "flat"])
    assert list(out.columns) == [
        "feature", "kind", "effect", "abs_effect", "best_mean", "rest_mean",
        "top_category", "best_share", "rest_share", "coverage", "n_best", "n_rest",
    ]  # fmt: skip
    assert list(out.feature) == ["sites", "nps", "industry", "flat"]  # by |effect|
    assert out.abs_effect.is_monotonic_decreasing
    row = out.set_index("feature")
    assert row.loc["sites", "effect"] == pytest.approx(cohens_d([5, 4, 6], [1, 2, 1, 2]))
    assert row.loc["sites", "best_mean"] == pytest.approx(5.0)
    assert row.loc["sites", "coverage"] == pytest.approx(7 / 8)
    assert (row.loc["sites", "n_best"], row.loc["sites", "n_rest"]) == (3, 4)
    assert row.loc["nps", "effect"] == pytest.approx(cohens_d([9, 10, 8, 9], [7, 7, 6, 8]))
    # industry: best = it 3/4, retail 1/4; rest (missing dropped) = retail 2/3, it 1/3
    assert row.loc["industry", "kind"] == "categorical"
    assert row.loc["industry", "top_category"] == "it"
    assert row.loc["industry", "best_share"] == pytest.approx(0.75)
    assert row.loc["industry", "rest_share"] == pytest.approx(1 / 3)
    assert row.loc["industry", "effect"] == pytest.approx(cramers_v(frame.industry, group))
    assert row.loc["industry", "coverage"] == pytest.approx(7 / 8)
    assert row.loc["flat", "effect"] == 0.0


def test_effect_sizes_aligns_the_group_by_index(frame):
    group = pd.Series([True, True, True, True, False, False, False, False], index=frame.index)
    shuffled = group.sample(frac=1.0, random_state=1)
    a = effect_sizes(frame, group, numeric=["nps"])
    b = effect_sizes(frame, shuffled, numeric=["nps"])
    assert a.effect.iloc[0] == pytest.approx(b.effect.iloc[0])


def test_effect_sizes_unknown_column(frame):
    with pytest.raises(UsageError, match="nope"):
        effect_sizes(frame, pd.Series(True, index=frame.index), numeric=["nope"])


def test_split_kinds_treats_object_integers_as_numbers(frame):
    df = frame.assign(sites=frame.sites.astype(object), flag=[True, False] * 4, code=["1", "2", "x", None] * 2)
    assert split_kinds(df) == (["sites", "nps", "flag"], ["industry", "flat", "code"])
    assert split_kinds(df, ["industry", "sites"]) == (["sites"], ["industry"])
