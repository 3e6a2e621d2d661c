"""sBG against Fader & Hardie (2007)'s two published cohorts and its lifetime sums computed term by term."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betaln

from sikta.core.clv import ShiftedBetaGeometric
from sikta.errors import DataTooThinError, UsageError

# "How to project customer retention" (2007), figure 1 / appendix: survivors out of 1,000, years 0-7
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
# and the years 8-12 they use to check the projection
REGULAR_LATER = [223, 207, 194, 183, 173]
HIGH_END_LATER = [468, 445, 427, 409, 394]


@pytest.mark.parametrize(
    ("survivors", "gamma", "delta", "later"),
    [(REGULAR, 0.704, 1.182, REGULAR_LATER), (HIGH_END, 0.668, 3.806, HIGH_END_LATER)],
    ids=["regular", "high-end"],
)
def test_published_estimates_and_projection(survivors, gamma, delta, later):
    m = ShiftedBetaGeometric().fit(survivors)
    assert (round(m.params_["gamma"], 3), round(m.params_["delta"], 3)) == (gamma, delta)
    assert m.n_customers_ == 1000
    # the fitted curve projects years 8-12 within 3 percentage points (FH 2007, figure 5)
    projected = 1000 * m.survival(np.arange(8, 13))
    assert np.abs(projected - np.array(later)).max() < 30


def test_log_likelihood_is_the_sum_over_churn_periods():
    m = ShiftedBetaGeometric().fit(REGULAR)
    g, d = m.params_["gamma"], m.params_["delta"]
    lost = -np.diff(REGULAR)
    t = np.arange(1, 8)
    by_hand = lost @ (betaln(g + 1, d + t - 1) - betaln(g, d)) + REGULAR[-1] * (betaln(g, d + 7) - betaln(g, d))
    assert m.log_likelihood_ == pytest.approx(by_hand)
    assert m.log_likelihood_ == pytest.approx(-1680.27, abs=0.01)


def test_cohorts_pool_and_may_differ_in_length():
    pooled = ShiftedBetaGeometric().fit([REGULAR, HIGH_END[:5]])
    a = ShiftedBetaGeometric.from_params(**pooled.params_)
    assert pooled.n_customers_ == 2000
    # the pooled optimum beats the regular cohort's own estimates on the pooled data
    own = ShiftedBetaGeometric().fit(REGULAR).params_
    ll_own = ShiftedBetaGeometric.from_params(**own)
    assert pooled.log_likelihood_ > _pooled_ll(ll_own, [REGULAR, HIGH_END[:5]])
    assert _pooled_ll(a, [REGULAR, HIGH_END[:5]]) == pytest.approx(pooled.log_likelihood_)


def _pooled_ll(model, cohorts) -> float:
    total = 0.0
    for c in cohorts:
        s = model.survival(np.arange(len(c)))
        total += -np.diff(c) @ np.log(s[:-1] - s[1:]) + c[-1] * np.log(s[-1])
    return total


def test_retention_rate_is_the_survival_ratio_and_rises():
    m = ShiftedBetaGeometric.from_params(gamma=0.704, delta=1.182)
    t = np.arange(1, 12)
    s = m.survival(np.arange(0, 12))
    np.testing.assert_allclose(m.retention_rate(t), s[1:] / s[:-1])
    assert (np.diff(m.retention_rate(t)) > 0).all()
    with pytest.raises(UsageError, match="t >= 1"):
        m.retention_rate([0])


@pytest.mark.parametrize("renewals", [0, 1, 4, 10])
def test_derl_and_del_equal_their_series(renewals):
    """Fader & Hardie (2010) eq. 6 against Σ S(t)/S(n)/(1+d)^(t−n−1), summed until the terms vanish."""
    m = ShiftedBetaGeometric.from_params(gamma=0.704, delta=1.182)
    d = 0.10
    t = np.arange(0, 3000)
    s = m.survival(t)
    n = renewals
    series = (s[n + 1 :] / s[n] / (1 + d) ** (t[n + 1 :] - n - 1)).sum()
    assert m.derl(d, renewals)[0] == pytest.approx(series, rel=1e-10)
    assert m.discounted_expected_lifetime(d) == pytest.approx((s / (1 + d) ** t).sum(), rel=1e-10)
    # a new customer's future after the first payment is the DERL of 0 renewals, one period later
    assert m.discounted_expected_lifetime(d) == pytest.approx(1 + m.derl(d, 0)[0] / (1 + d))


def test_undiscounted_lifetime_is_finite_only_for_gamma_above_one():
    m = ShiftedBetaGeometric.from_params(gamma=2.5, delta=4.0)
    t = np.arange(0, 200_000)
    assert m.discounted_expected_lifetime(0) == pytest.approx(m.survival(t).sum(), rel=1e-6)
    with pytest.raises(UsageError, match="infinite"):
        ShiftedBetaGeometric.from_params(gamma=0.7, delta=1.2).derl(0.0)
    with pytest.raises(UsageError, match="discount rate must be >= 0"):
        m.derl(-0.1)


@pytest.mark.parametrize(
    ("survivors", "error", "match"),
    [
        ([1000, 800], DataTooThinError, "at least 2 renewals"),
        ([1000, 1000, 1000], DataTooThinError, "no customer churned"),
        ([1000, 0, 0, 0], DataTooThinError, "every customer churned at the first renewal"),
        ([1000, 900, 950], UsageError, "must not increase"),
        ([1000, -5, -6], UsageError, "negative"),
        ([1000, 900.5, 800], UsageError, "whole numbers"),
        ([0, 0, 0], DataTooThinError, "no customers"),
        ([1000], DataTooThinError, "at least one renewal"),
        ([1000, float("nan"), 3], UsageError, "missing"),
    ],
)
def test_bad_cohorts_give_one_clear_line(survivors, error, match):
    with pytest.raises(error, match=match) as info:
        ShiftedBetaGeometric().fit(survivors)
    assert "\n" not in str(info.value)
