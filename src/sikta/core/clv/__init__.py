"""Customer lifetime value (SPEC §4.4): our own vectorized maximum-likelihood models.

Non-contractual (orders): :class:`BetaGeo` (BG/NBD) or :class:`ParetoNBD` for
how many purchases a customer will make and P(alive), :class:`GammaGamma` for
the spend per purchase, :func:`customer_lifetime_value` for the discounted
margin and :func:`clv_minus_cac`. Contractual (subscriptions):
:class:`ShiftedBetaGeometric` for retention and discounted expected lifetime.
Value tiers (A/B/C by cumulative share): :func:`value_tiers`.
:func:`holdout_check` and :func:`tracking_curve` compare a fit with what
happened after the calibration period.

Every model follows the scikit-learn contract: the constructor takes no data,
``fit`` returns the model, learned attributes end in ``_`` (``params_``,
``log_likelihood_``, ``n_customers_``); ``from_params`` rebuilds a model from
stored parameters. Summaries are one row per customer: ``frequency`` (repeat
purchases), ``recency`` and ``T`` in one time unit (see :data:`TIME_UNITS`);
the engine computes them (:mod:`sikta.engine.clv_summary`).

Examples
--------
>>> from sikta.core.clv import BetaGeo, GammaGamma, customer_lifetime_value
>>> x, tx, T = [2, 1, 0, 0, 4, 0, 7, 1], [30.4, 1.7, 0, 0, 20.0, 0, 35.1, 5.3], [38.9] * 8
>>> m = [22.4, 11.8, 0, 0, 18.0, 0, 40.1, 25.0]
>>> bg = BetaGeo().fit(x, tx, T)
>>> gg = GammaGamma().fit(x, m)
>>> clv = customer_lifetime_value(bg, x, tx, T, gg.expected_spend(x, m), periods=12, period_length=52 / 12)
>>> clv.shape, bool((clv >= 0).all())
((8,), True)
"""

from importlib import import_module

#: where each public name lives; the package imports a model (and SciPy's optimizers) on first use,
#: so a model file's CLV settings check against TIME_UNITS without loading them
_HOME = {
    "TIME_UNITS": "units",
    "BetaGeo": "bgnbd",
    "CORRELATION_THRESHOLD": "gamma_gamma",
    "GammaGamma": "gamma_gamma",
    "TOLERANCE": "holdout",
    "HoldoutCheck": "holdout",
    "holdout_check": "holdout",
    "tracking_curve": "holdout",
    "ParetoNBD": "paretonbd",
    "ShiftedBetaGeometric": "sbg",
    "simulate_bgnbd": "simulate",
    "simulate_spend": "simulate",
    "TIER_SCORE": "tiers",
    "TIERS": "tiers",
    "tier_summary": "tiers",
    "value_tiers": "tiers",
    "clv_minus_cac": "value",
    "customer_lifetime_value": "value",
}


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = sorted(_HOME)
