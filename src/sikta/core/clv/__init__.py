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

from sikta.core.clv._base import TIME_UNITS
from sikta.core.clv.bgnbd import BetaGeo
from sikta.core.clv.gamma_gamma import CORRELATION_THRESHOLD, GammaGamma
from sikta.core.clv.holdout import TOLERANCE, HoldoutCheck, holdout_check, tracking_curve
from sikta.core.clv.paretonbd import ParetoNBD
from sikta.core.clv.sbg import ShiftedBetaGeometric
from sikta.core.clv.simulate import simulate_bgnbd, simulate_spend
from sikta.core.clv.tiers import TIER_SCORE, TIERS, tier_summary, value_tiers
from sikta.core.clv.value import clv_minus_cac, customer_lifetime_value

__all__ = [
    "CORRELATION_THRESHOLD",
    "TIERS",
    "TIER_SCORE",
    "TIME_UNITS",
    "TOLERANCE",
    "BetaGeo",
    "GammaGamma",
    "HoldoutCheck",
    "ParetoNBD",
    "ShiftedBetaGeometric",
    "clv_minus_cac",
    "customer_lifetime_value",
    "holdout_check",
    "simulate_bgnbd",
    "simulate_spend",
    "tier_summary",
    "tracking_curve",
    "value_tiers",
]
