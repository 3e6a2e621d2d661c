"""Pareto/NBD against lifetimes' ParetoNBDFitter, the published CDNOW fit and direct integration of A₀."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifetimes import ParetoNBDFitter
from scipy import integrate

from sikta.core.clv import ParetoNBD
from sikta.core.clv.paretonbd import _log_a0
from tests.clv_data import cdnow_summary

NAMES = ["r", "alpha", "s", "beta"]


@pytest.fixture(scope="module")
def data():
    d = cdnow_summary()
    return d.frequency.to_numpy(float), d.recency.to_numpy(), d["T"].to_numpy()


@pytest.fixture(scope="module")
def ours(data):
    return ParetoNBD().fit(*data)


@pytest.fixture(scope="module")
def oracle(data):
    # lifetimes' default Nelder-Mead (tol 1e-4, random start) stops ~1e-4 short of the optimum;
    # a fixed start and a tight tolerance let it reach it
    x, tx, T = data
    return ParetoNBDFitter().fit(x, tx, T, initial_params=np.ones(4), tol=1e-10, maxiter=20_000)


def test_cdnow_parameters_equal_lifetimes_and_the_published_fit(ours, oracle, data):
    got = np.array([ours.params_[k] for k in NAMES])
    np.testing.assert_allclose(got, oracle.params_[NAMES].to_numpy(), rtol=1e-4)
    # Fader, Hardie & Lee (2005): r 0.55, alpha 10.58, s 0.61, beta 11.67, LL -9595.0
    np.testing.assert_allclose(np.round(got, 2), [0.55, 10.58, 0.61, 11.67])
    ref_ll = ParetoNBDFitter._conditional_log_likelihood(oracle.params_[NAMES].to_numpy(), *data).sum()
    assert ours.log_likelihood_ == pytest.approx(ref_ll, abs=1e-6)
    assert ours.log_likelihood_ >= ref_ll - 1e-9
    assert round(ours.log_likelihood_, 1) == -9595.0


def test_predictions_equal_lifetimes_at_the_same_parameters(oracle, data):
    x, tx, T = data
    m = ParetoNBD.from_params(**oracle.params_.to_dict())
    for t in (1.0, 39.0, 104.0):
        np.testing.assert_allclose(
            m.expected_purchases(t, x, tx, T),
            oracle.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T),
            rtol=1e-6,
        )
    np.testing.assert_allclose(m.p_alive(x, tx, T), oracle.conditional_probability_alive(x, tx, T), rtol=1e-6)
    ages = np.linspace(0.5, 150, 30)
    np.testing.assert_allclose(
        m.population_expected_purchases(ages), oracle.expected_number_of_purchases_up_to_time(ages), rtol=1e-6
    )


@settings(max_examples=60, deadline=None)
@given(
    log_params=st.lists(st.floats(-3.0, 3.0), min_size=4, max_size=4),
    x=st.integers(0, 60),
    T=st.floats(0.1, 100.0),
    share=st.floats(0.0, 1.0),
)
def test_a0_equals_its_integral_in_both_branches(log_params, x, T, share):
    """A₀ = (r+s+x) ∫_{t_x}^T (α+y)^−(r+x) (β+y)^−(s+1) dy, for α < β and α ≥ β alike."""
    r, alpha, s, beta = np.exp(log_params)
    tx = share * T if x > 0 else 0.0
    integral = integrate.quad(
        lambda y: (alpha + y) ** -(r + x) * (beta + y) ** -(s + 1), tx, T, epsabs=0, epsrel=1e-12, limit=200
    )[0]
    got = _log_a0(np.array([r, alpha, s, beta]), np.array([float(x)]), np.array([tx]), np.array([T]))[0]
    if integral == 0:
        assert got == -np.inf
    else:
        assert got == pytest.approx(np.log((r + s + x) * integral), abs=1e-8)


def test_s_equal_to_one_is_the_continuous_limit():
    x, tx, T = [0.0, 4.0], [0.0, 30.0], [38.0, 38.0]
    at = ParetoNBD.from_params(r=0.5, alpha=10.0, s=1.0, beta=12.0).expected_purchases(52, x, tx, T)
    lo = ParetoNBD.from_params(r=0.5, alpha=10.0, s=1.0 - 1e-5, beta=12.0).expected_purchases(52, x, tx, T)
    hi = ParetoNBD.from_params(r=0.5, alpha=10.0, s=1.0 + 1e-5, beta=12.0).expected_purchases(52, x, tx, T)
    np.testing.assert_allclose(at, (lo + hi) / 2, rtol=1e-8)


def test_a_customer_seen_on_the_last_day_is_alive():
    m = ParetoNBD.from_params(r=0.55, alpha=10.58, s=0.61, beta=11.67)
    # t_x = T: A0 = 0 exactly, nobody can have died unseen
    assert m.p_alive([3], [38.86], [38.86])[0] == 1.0
    assert 0 < m.p_alive([3], [5.0], [38.86])[0] < m.p_alive([3], [30.0], [38.86])[0] < 1


def test_p_purchase_equals_lifetimes_probability_of_no_purchase(oracle, data):
    """P(≥1 purchase in t) = 1 − lifetimes' P(X(t) = 0), its own closed form (Fader & Hardie's note on P(X(t) = x))."""
    x, tx, T = data
    m = ParetoNBD.from_params(**oracle.params_.to_dict())
    rows = np.unique(np.column_stack([x, tx, T]), axis=0)[::7]  # a few hundred distinct customers
    for t in (1.0, 39.0, 104.0):
        ref = 1.0 - oracle.conditional_probability_of_n_purchases_up_to_time(0, t, rows[:, 0], rows[:, 1], rows[:, 2])
        np.testing.assert_allclose(m.p_purchase(t, rows[:, 0], rows[:, 1], rows[:, 2]), ref, rtol=1e-9, atol=1e-12)


def test_p_purchase_limits():
    # without deaths (beta huge) the first purchase alone decides: 1 - ((a+T)/(a+T+t))^(r+x)
    m = ParetoNBD.from_params(r=0.55, alpha=10.58, s=0.61, beta=1e12)
    x, T, t = np.array([0.0, 3.0, 40.0]), np.array([38.0, 38.0, 38.0]), 26.0
    np.testing.assert_allclose(m.p_purchase(t, x, [0.0, 30.0, 37.0], T),
                               m.p_alive(x, [0.0, 30.0, 37.0], T) * (1 - ((10.58 + T) / (10.58 + T + t)) ** (0.55 + x)),
                               rtol=1e-9)
    # a very frequent buyer alive at T buys almost at once: 1 - s E[u] / (beta + T), E[u] = (a+T)/(r+x-1)
    m = ParetoNBD.from_params(r=0.55, alpha=10.58, s=0.61, beta=11.67)
    got = m.p_purchase(1000.0, [3000.0], [10.0], [10.0])[0] / m.p_alive([3000.0], [10.0], [10.0])[0]
    assert got == pytest.approx(1 - 0.61 * (20.58 / 2999.55) / 21.67, abs=1e-7)
    p = m.p_purchase(5.0, [2, 2], [30.0, 30.0], [38.0, 38.0])
    assert (p <= m.p_alive([2, 2], [30.0, 30.0], [38.0, 38.0])).all()
    assert (np.diff([m.p_purchase(t, [2], [30.0], [38.0])[0] for t in (1, 5, 50, 500)]) > 0).all()
