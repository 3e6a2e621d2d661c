"""Customer lifetime value from a purchase model and a spend: discounted margin, and CLV − CAC.

Non-contractual CLV per customer is the discounted expected margin over a
horizon of ``periods`` periods of ``period_length`` model time units each (e.g.
12 months of 365.25/12/7 weeks for a weekly model)::

    CLV = Σ_{k=1..periods} [E(k·L) − E((k−1)·L)] · spend · margin / (1 + d)^k

where E(t) is the model's conditional expected number of repeat purchases in
(T, T+t], ``spend`` the expected value per purchase (e.g. from
:class:`~sikta.core.clv.GammaGamma`), ``margin`` the margin rate and d the
discount rate per period: purchases expected in period k are discounted k
periods, as in lifetimes' ``customer_lifetime_value``.

Examples
--------
>>> from sikta.core.clv import BetaGeo
>>> bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
>>> clv = customer_lifetime_value(bg, [2, 0], [30.43, 0.0], [38.86, 38.86], spend=[25.0, 35.0],
...                               periods=12, period_length=4.345, discount_rate=0.01, margin=0.3)
>>> [round(float(v), 2) for v in clv]
[11.04, 2.5]
>>> clv_minus_cac([100.0, 40.0], {"web": 30.0, "field": 60.0}, segments=["web", "field"]).tolist()
[70.0, -20.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sikta.core.clv._base import check_rft, compress
from sikta.errors import UsageError

__all__ = ["clv_minus_cac", "customer_lifetime_value"]


def customer_lifetime_value(
    model,
    frequency,
    recency,
    T,
    spend,
    *,
    periods: int = 12,
    period_length: float = 1.0,
    discount_rate: float = 0.01,
    margin=1.0,
) -> np.ndarray:
    """Discounted expected margin per customer over ``periods`` periods.

    Parameters
    ----------
    model
        A fitted :class:`~sikta.core.clv.BetaGeo` or :class:`~sikta.core.clv.ParetoNBD`.
    frequency, recency, T
        The customers' summaries, in the model's time unit.
    spend
        Expected value per purchase: one number, or one per customer.
    periods, period_length
        Horizon as a number of discounting periods, each ``period_length``
        model time units long.
    discount_rate
        Per period, > −1 (0 = no discounting).
    margin
        Margin rate on the spend (1 = revenue, not margin): one number or one
        per customer.

    Returns
    -------
    numpy.ndarray
        CLV per customer, in the currency of ``spend``.
    """
    if int(periods) != periods or periods < 1:
        raise UsageError(f"periods must be a whole number >= 1, got {periods!r}")
    if not np.isfinite(period_length) or period_length <= 0:
        raise UsageError(f"period_length must be > 0 model time units, got {period_length!r}")
    if not np.isfinite(discount_rate) or discount_rate <= -1:
        raise UsageError(f"discount_rate must be > -1, got {discount_rate!r}")
    x, tx, t, _ = check_rft(frequency, recency, T)
    value = _per_customer("spend", spend, len(x)) * _per_customer("margin", margin, len(x))
    c = compress(x, tx, t)
    discounted = np.zeros(len(c.weights))
    before = np.zeros(len(c.weights))
    for k in range(1, int(periods) + 1):
        upto = model._expected(k * period_length, *c.columns)
        discounted += (upto - before) / (1.0 + discount_rate) ** k
        before = upto
    return c.expand(discounted) * value


def clv_minus_cac(clv, cac: float | Mapping[str, float], segments: Sequence[str] | None = None) -> np.ndarray:
    """CLV minus the cost to acquire, one CAC for all or one per segment/channel.

    Parameters
    ----------
    clv
        CLV per customer.
    cac
        A number, or ``{segment: cost}`` with ``segments`` naming each customer's segment.
    segments
        Segment (or channel) per customer; required with a mapping.

    Raises
    ------
    UsageError
        A segment without a CAC, a mapping without segments, a non-finite cost.
    """
    values = np.atleast_1d(np.asarray(clv, dtype=float))
    if not isinstance(cac, Mapping):
        return values - _finite("CAC", cac)
    if segments is None:
        raise UsageError("a CAC per segment needs each customer's segment")
    labels = np.asarray(segments, dtype=object)
    if len(labels) != len(values):
        raise UsageError(f"one segment per customer: {len(labels)} segments for {len(values)} CLV values")
    missing = sorted({str(s) for s in labels if s not in cac})
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise UsageError(f"no CAC for segment(s) {', '.join(missing[:3])}{more}")
    costs = {k: _finite(f"CAC of {k}", v) for k, v in cac.items()}
    return values - np.array([costs[s] for s in labels])


def _finite(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be a number, got {value!r}") from exc
    if not np.isfinite(v):
        raise UsageError(f"{name} must be a finite number, got {value!r}")
    return v


def _per_customer(name: str, value, n: int) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be numbers") from exc
    if arr.shape not in {(1,), (n,)}:
        raise UsageError(f"{name} must be one number or one per customer ({n}), got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise UsageError(f"{name} has missing or infinite values")
    return arr
