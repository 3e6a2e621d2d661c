"""CLV (discounted margin), CLV − CAC, the holdout check and the tracking curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

from sikta.core.clv import (
    BetaGeo,
    GammaGamma,
    ParetoNBD,
    clv_minus_cac,
    customer_lifetime_value,
    holdout_check,
    tracking_curve,
)
from sikta.errors import UsageError
from tests.clv_data import cdnow_summary

# lifetimes converts months to weeks with this factor for freq="W"
WEEKS_PER_MONTH = 4.345


@pytest.fixture(scope="module")
def cdnow():
    d = cdnow_summary()
    return d.frequency.to_numpy(float), d.recency.to_numpy(), d["T"].to_numpy(), d.monetary_value.to_numpy()


@pytest.fixture(scope="module")
def fitted(cdnow):
    x, tx, T, m = cdnow
    bg = BetaGeoFitter().fit(x, tx, T)
    gg = GammaGammaFitter().fit(x[x > 0], m[x > 0])
    return bg, gg


@pytest.mark.parametrize(("months", "discount"), [(12, 0.01), (6, 0.02), (36, 0.0)])
def test_clv_equals_lifetimes_customer_lifetime_value(cdnow, fitted, months, discount):
    x, tx, T, m = cdnow
    bg, gg = fitted
    idx = pd.RangeIndex(len(x))
    ref = gg.customer_lifetime_value(
        bg, pd.Series(x, idx), pd.Series(tx, idx), pd.Series(T, idx), pd.Series(m, idx),
        time=months, discount_rate=discount, freq="W",
    )
    spend = GammaGamma.from_params(**gg.params_.to_dict()).expected_spend(x, m)
    got = customer_lifetime_value(
        BetaGeo.from_params(**bg.params_.to_dict()), x, tx, T, spend,
        periods=months, period_length=WEEKS_PER_MONTH, discount_rate=discount,
    )
    np.testing.assert_allclose(got, ref.to_numpy(), rtol=1e-8)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # inside lifetimes
def test_clv_with_pareto_nbd_equals_lifetimes(cdnow, fitted):
    x, tx, T, m = cdnow
    _, gg = fitted
    pn = ParetoNBDFitter().fit(x, tx, T, initial_params=np.ones(4))
    idx = pd.RangeIndex(len(x))
    ref = gg.customer_lifetime_value(
        pn, pd.Series(x, idx), pd.Series(tx, idx), pd.Series(T, idx), pd.Series(m, idx), time=12, freq="W"
    )
    spend = GammaGamma.from_params(**gg.params_.to_dict()).expected_spend(x, m)
    got = customer_lifetime_value(
        ParetoNBD.from_params(**pn.params_.to_dict()), x, tx, T, spend, periods=12, period_length=WEEKS_PER_MONTH
    )
    np.testing.assert_allclose(got, ref.to_numpy(), rtol=1e-8)


def test_undiscounted_clv_is_expected_purchases_times_spend_and_margin(cdnow):
    x, tx, T, _ = cdnow
    bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    got = customer_lifetime_value(bg, x, tx, T, 30.0, periods=10, period_length=5.2, discount_rate=0.0, margin=0.25)
    np.testing.assert_allclose(got, bg.expected_purchases(52.0, x, tx, T) * 30.0 * 0.25, rtol=1e-12)
    # discounting only ever lowers it
    lower = customer_lifetime_value(bg, x, tx, T, 30.0, periods=10, period_length=5.2, discount_rate=0.05, margin=0.25)
    assert (lower <= got).all()


def test_clv_minus_cac_one_or_per_segment():
    assert clv_minus_cac([100.0, 20.0], 25.0).tolist() == [75.0, -5.0]
    got = clv_minus_cac([100.0, 20.0, 5.0], {"web": 10.0, "field": 50.0}, segments=["field", "web", "web"])
    assert got.tolist() == [50.0, 10.0, -5.0]
    with pytest.raises(UsageError, match="no CAC for segment"):
        clv_minus_cac([1.0, 2.0], {"web": 1.0}, segments=["web", "partner"])
    with pytest.raises(UsageError, match="needs each customer's segment"):
        clv_minus_cac([1.0], {"web": 1.0})
    with pytest.raises(UsageError, match="finite"):
        clv_minus_cac([1.0], float("nan"))


def test_clv_arguments_are_checked(cdnow):
    x, tx, T, _ = cdnow
    bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    for kwargs, match in [
        ({"periods": 0}, "periods"),
        ({"period_length": 0}, "period_length"),
        ({"discount_rate": -1}, "discount_rate"),
        ({"margin": [0.1, 0.2]}, "margin must be one number or one per customer"),
    ]:
        with pytest.raises(UsageError, match=match):
            customer_lifetime_value(bg, x, tx, T, 10.0, **kwargs)


def test_holdout_check_by_hand():
    bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x = np.array([0, 0, 1, 3, 8, 12], dtype=float)
    tx = np.array([0, 0, 5.0, 20.0, 35.0, 38.0])
    T = np.full(6, 39.0)
    actual = np.array([0, 1, 0, 2, 6, 9], dtype=float)
    check = holdout_check(bg, x, tx, T, 39.0, actual)
    each = bg.expected_purchases(39.0, x, tx, T)
    table = check.table.set_index("frequency")
    assert table.loc["0", "customers"] == 2 and table.loc["0", "actual"] == 1
    assert table.loc["0", "predicted"] == pytest.approx(each[0] + each[1])
    assert table.loc["7+", "customers"] == 2 and table.loc["7+", "actual"] == 15
    assert table.loc["7+", "predicted_mean"] == pytest.approx((each[4] + each[5]) / 2)
    assert table.loc["2", "customers"] == 0 and table.loc["2", "actual_mean"] == 0
    assert check.actual == 18 and check.predicted == pytest.approx(each.sum())
    assert check.error == pytest.approx((each.sum() - 18) / 18)
    assert check.to_dict()["by_frequency"][0]["frequency"] == "0"


def test_holdout_verdict_only_beyond_the_tolerance():
    bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x, tx, T = [2.0, 5.0], [30.0, 38.0], [39.0, 39.0]
    predicted = bg.expected_purchases(39.0, x, tx, T).sum()
    close = holdout_check(bg, x, tx, T, 39.0, [predicted * 0.5, predicted * 0.55])  # total 1.05 × predicted
    assert close.verdict is None
    over = holdout_check(bg, x, tx, T, 39.0, [predicted * 0.4, predicted * 0.4])
    assert over.verdict.startswith("the model over-predicts holdout repeat purchases by 25%")
    nothing = holdout_check(bg, x, tx, T, 39.0, [0, 0])
    assert nothing.error is None and nothing.verdict.startswith("no repeat purchases in the holdout period")


def test_tracking_curve_by_hand():
    bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    births = pd.DataFrame({"day": [0, 10], "customers": [100, 40]})
    repeats = pd.DataFrame({"week": [1, 3, 9], "repeat_transactions": [5, 7, 100]})
    curve = tracking_curve(bg, births, repeats, weeks=4)
    assert curve["week"].tolist() == [1, 2, 3, 4]
    assert curve["actual"].tolist() == [5, 5, 12, 12]  # week 9 lies beyond the tracked weeks
    e = bg.population_expected_purchases
    expected = [100 * e(j)[0] + (40 * e((7 * j - 10) / 7)[0] if 7 * j > 10 else 0) for j in range(1, 5)]
    np.testing.assert_allclose(curve["predicted"], expected, rtol=1e-12)
    daily = tracking_curve(bg, births, repeats, weeks=4, days_per_unit=1.0)  # the same model read in days
    assert daily["predicted"].iloc[-1] == pytest.approx(100 * e(28)[0] + 40 * e(18)[0])
