"""Degenerate and invalid inputs: one clear line from the error tree, never NaN parameters or a traceback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sikta.core.clv import BetaGeo, GammaGamma, ParetoNBD
from sikta.errors import DataTooThinError, SiktaError, UsageError

PURCHASE_MODELS = [BetaGeo, ParetoNBD]


@pytest.mark.parametrize("model", PURCHASE_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(
    ("frequency", "recency", "T", "error", "match"),
    [
        ([0, 0, 0], [0, 0, 0], [10, 20, 30], DataTooThinError, "none of the 3 customers bought more than once"),
        ([3], [10.0], [20.0], DataTooThinError, "at least 2 customers, got 1"),
        ([], [], [], DataTooThinError, "at least 2 customers, got 0"),
        # everyone bought once, on the last day of the calibration period
        ([0, 0], [0, 0], [0, 0], DataTooThinError, "bought more than once"),
        ([2, 1], [0, 0], [0, 0], DataTooThinError, "time to observe repeat purchases"),
        ([2, 1], [12.0, 5.0], [10.0, 30.0], UsageError, "recency is after T .* for 1 customer"),
        ([0, 1], [3.0, 5.0], [10.0, 30.0], UsageError, "recency must be 0 for customers without repeat purchases"),
        ([1.5, 1], [3.0, 5.0], [10.0, 30.0], UsageError, "whole numbers"),
        ([-1, 1], [0.0, 5.0], [10.0, 30.0], UsageError, "frequency must be >= 0"),
        ([1, 1], [float("nan"), 5.0], [10.0, 30.0], UsageError, "recency has 1 missing"),
        ([1, 1], [1.0, 5.0], [10.0, float("inf")], UsageError, "T has 1 missing or infinite"),
        ([1, 1, 2], [1.0, 5.0], [10.0, 30.0, 4.0], UsageError, "frequency: 3, recency: 2, T: 3"),
        (["a", 1], [1.0, 5.0], [10.0, 30.0], UsageError, "frequency must be numbers"),
        ([[1, 2]], [[1.0, 5.0]], [[10.0, 30.0]], UsageError, "1-D"),
    ],
)
def test_purchase_models_refuse_bad_summaries(model, frequency, recency, T, error, match):
    with pytest.raises(error, match=match) as info:
        model().fit(frequency, recency, T)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("frequency", "monetary", "error", "match"),
    [
        ([0, 0, 0], [0.0, 0.0, 0.0], DataTooThinError, "at least 2 repeat customers .* got 0"),
        ([2, 0], [10.0, 0.0], DataTooThinError, "got 1"),
        ([2, 3, 1], [-5.0, 0.0, 10.0], DataTooThinError, r"got 1 \(2 left out for an average spend <= 0\)"),
        ([2, 3, 1], [10.0, 10.0, 10.0], DataTooThinError, "spends that vary"),
        ([2, 3], [10.0, float("nan")], UsageError, "monetary_value has 1 missing"),
        ([2, 3.5], [10.0, 12.0], UsageError, "whole numbers"),
        ([2, 3], [10.0], UsageError, "frequency: 2, monetary_value: 1"),
    ],
)
def test_gamma_gamma_refuses_bad_spends(frequency, monetary, error, match):
    with pytest.raises(error, match=match) as info:
        GammaGamma().fit(frequency, monetary)
    assert "\n" not in str(info.value)


def test_weights_are_checked():
    with pytest.raises(UsageError, match="weights must have one value per row"):
        BetaGeo().fit([1, 2], [1.0, 2.0], [3.0, 4.0], weights=[1.0])
    with pytest.raises(UsageError, match="weights must be >= 0"):
        BetaGeo().fit([1, 2], [1.0, 2.0], [3.0, 4.0], weights=[1.0, -2.0])


customers = st.lists(
    st.tuples(st.integers(0, 6), st.floats(0.0, 1.0), st.floats(0.0, 60.0)), min_size=1, max_size=7
).map(lambda rows: [(x, (share * T if x > 0 else 0.0), T) for x, share, T in rows])


@settings(max_examples=25, deadline=None)
@given(rows=customers)
def test_fuzz_tiny_data_fits_or_says_why(rows):
    """On a handful of customers a fit may be impossible, but it never ends in NaN or a traceback."""
    x, tx, T = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    for model in PURCHASE_MODELS:
        try:
            m = model().fit(x, tx, T)
        except SiktaError as exc:
            assert "\n" not in str(exc)
            continue
        assert all(math.isfinite(v) and v > 0 for v in m.params_.values()), m.params_
        assert math.isfinite(m.log_likelihood_)
        assert np.isfinite(m.expected_purchases(10.0, x, tx, T)).all()
        assert np.isfinite(m.p_alive(x, tx, T)).all()


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 5), st.floats(-50.0, 500.0)), min_size=1, max_size=8))
def test_fuzz_tiny_spend_data_fits_or_says_why(rows):
    x, m = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    try:
        fit = GammaGamma().fit(x, m)
    except SiktaError as exc:
        assert "\n" not in str(exc)
        return
    assert all(math.isfinite(v) and v > 0 for v in fit.params_.values()), fit.params_
    assert math.isfinite(fit.log_likelihood_)
