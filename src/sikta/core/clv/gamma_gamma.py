"""Gamma-Gamma: what a customer spends per purchase (Fader, Hardie & Lee 2005b; Hardie's note 025).

A customer's transaction values are Gamma(p, ν) around their own mean p/ν, and
ν is Gamma(q, v) across customers. Only the average value m of a customer's x
repeat purchases enters; its log-likelihood is::

    ℓ = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(xm+v)

fitted on **repeat customers** (x > 0) with a **positive** average: customers
whose repeat purchases average zero or less (free goods, net returns) cannot
come from a gamma distribution and are left out and counted
(:attr:`GammaGamma.n_excluded_`). Amounts are rescaled by their mean while
fitting (v is scaled back, the log-likelihood corrected), so the optimizer sees
the same problem in cents or in millions.

The model assumes a customer's spend per purchase is independent of how often
they buy. :attr:`GammaGamma.correlation_` is the Pearson correlation between
frequency and average spend over the fitted customers; when its absolute value
exceeds :data:`CORRELATION_THRESHOLD` (0.3, a "moderate" correlation),
:attr:`GammaGamma.correlation_warning_` says so and the spend predictions
should be read with care.

Examples
--------
>>> m = GammaGamma().fit([1, 2, 3, 1, 5, 2], [20.0, 35.5, 14.0, 61.0, 25.0, 30.0])
>>> sorted(m.params_), m.n_customers_
(['p', 'q', 'v'], 6)
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from sikta.core.clv._base import check_params, fitted, maximize, same_length, vector, weights_of
from sikta.errors import DataTooThinError, UsageError

__all__ = ["CORRELATION_THRESHOLD", "GammaGamma"]

PARAMS = ("p", "q", "v")
#: |Pearson r| between frequency and average spend above which independence is in doubt
CORRELATION_THRESHOLD = 0.3


class GammaGamma:
    """Gamma-Gamma spend model fitted by maximum likelihood.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v`` (``v`` in the currency of the amounts).
    log_likelihood_ : float
        Log-likelihood of the fitted customers' average spends.
    n_customers_ : int
        Repeat customers fitted.
    n_excluded_ : int
        Repeat customers left out because their average spend was ≤ 0.
    correlation_ : float or None
        Pearson correlation of frequency and average spend over the fitted
        customers (None when either is constant).
    correlation_warning_ : str or None
        One line when ``|correlation_| > CORRELATION_THRESHOLD``.

    Examples
    --------
    >>> m = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> [round(float(s), 2) for s in m.expected_spend([0, 2, 10], [0.0, 22.35, 50.0])]
    [35.22, 24.66, 49.38]
    """

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None

    @classmethod
    def from_params(cls, **params: float) -> GammaGamma:
        """A model with known parameters, ready to predict."""
        model = cls()
        model.params_ = check_params(PARAMS, params)
        return model

    def fit(self, frequency, monetary_value, weights=None) -> GammaGamma:
        """Estimate ``p, q, v`` from repeat customers' purchase counts and average spends.

        Customers with ``frequency == 0`` are ignored (they have no repeat
        purchase to average); repeat customers with an average ≤ 0 are left
        out and counted in :attr:`n_excluded_`.

        Raises
        ------
        UsageError
            Invalid or missing values, unequal lengths.
        DataTooThinError
            Fewer than two repeat customers with a positive average spend, or
            spends that do not vary (the model cannot be estimated).
        """
        x = vector("frequency", frequency, integer=True)
        m = _amounts(monetary_value)
        w = weights_of(weights, same_length(frequency=x, monetary_value=m))
        repeat = (x > 0) & (w > 0)
        keep = repeat & (m > 0)
        self.n_excluded_ = int(round(w[repeat & ~keep].sum()))
        x, m, w = x[keep], m[keep], w[keep]
        n = float(w.sum())
        if n < 2:
            excluded = f" ({self.n_excluded_} left out for an average spend <= 0)" if self.n_excluded_ else ""
            raise DataTooThinError(
                f"Gamma-Gamma needs at least 2 repeat customers with a positive average spend, got {n:g}{excluded}"
            )
        if np.ptp(m) == 0:
            raise DataTooThinError("Gamma-Gamma needs spends that vary; every repeat customer spends the same")
        scale = float(w @ m / n)
        data = _Spends(x, m / scale, w)
        starts = [np.zeros(3), np.log([1.0, 3.0, 2.0]), np.log([5.0, 5.0, 4.0]), np.log([0.5, 1.5, 0.25])]
        p, q, v = np.exp(maximize(data.negative_mean_ll, starts, "Gamma-Gamma"))
        self.params_ = {"p": float(p), "q": float(q), "v": float(v * scale)}
        self.log_likelihood_ = float(_Spends(x, m, w).log_likelihood(self._p()))
        self.n_customers_ = int(round(n))
        self.correlation_ = _pearson(x, m, w)
        self.correlation_warning_ = None
        if self.correlation_ is not None and abs(self.correlation_) > CORRELATION_THRESHOLD:
            self.correlation_warning_ = (
                f"frequency and spend per purchase are correlated (r = {self.correlation_:.2f}, "
                f"|r| > {CORRELATION_THRESHOLD}): Gamma-Gamma assumes they are independent, read spend "
                f"predictions with care"
            )
        return self

    def _p(self) -> np.ndarray:
        p = fitted(self)
        return np.array([p[k] for k in PARAMS])

    def expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """Expected average spend per future purchase, per customer (note 025, eq. 5).

        ``(p·v + p·x·m) / (p·x + q − 1)``: a weighted average of the customer's
        own mean and the population mean ``p·v/(q−1)``. Customers without a
        repeat purchase, or whose average is ≤ 0, get the population mean.

        Raises
        ------
        DataTooThinError
            The population mean is needed but infinite (q ≤ 1: spends too
            heavy-tailed to average).
        """
        p, q, v = self._p()
        x = vector("frequency", frequency, integer=True)
        m = _amounts(monetary_value)
        same_length(frequency=x, monetary_value=m)
        own = (x > 0) & (m > 0)
        if not own.all() and q <= 1:
            raise DataTooThinError(
                f"Gamma-Gamma q = {q:.3g} <= 1: the population's mean spend is infinite, so customers without "
                f"repeat purchases have no expected spend"
            )
        x = np.where(own, x, 0.0)
        m = np.where(own, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1.0)

    def log_likelihood(self, frequency, monetary_value, weights=None) -> float:
        """Log-likelihood of repeat customers with a positive average spend at the fitted parameters."""
        x = vector("frequency", frequency, integer=True)
        m = _amounts(monetary_value)
        w = weights_of(weights, same_length(frequency=x, monetary_value=m))
        keep = (x > 0) & (m > 0)
        return float(_Spends(x[keep], m[keep], w[keep]).log_likelihood(self._p()))


class _Spends:
    """Repeat customers' (x, m, weight) and the Gamma-Gamma log-likelihood over them."""

    def __init__(self, x: np.ndarray, m: np.ndarray, w: np.ndarray) -> None:
        xi = x.astype(np.intp)
        self.grid = np.arange(xi.max() + 1, dtype=float)
        self.w_by_x = np.bincount(xi, weights=w, minlength=len(self.grid))
        self.x, self.xm, self.w = x, x * m, w
        self.total = float(w.sum())
        self.w_log_mx = float(np.einsum("i,i->", w * x, np.log(m) + np.log(x)))  # Σ w·x·(ln m + ln x)
        self.w_log_m = float(np.einsum("i,i->", w, np.log(m)))

    def log_likelihood(self, params: np.ndarray) -> float:
        p, q, v = params
        pg = p * self.grid
        log_xmv = np.log(self.xm + v)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_x = np.where(self.grid > 0, gammaln(pg + q) - gammaln(pg), 0.0)
        return float(
            self.w_by_x @ per_x
            + self.total * (q * np.log(v) - gammaln(q))
            + p * self.w_log_mx
            - self.w_log_m
            - np.einsum("i,i->", self.w * (p * self.x + q), log_xmv)
        )

    def negative_mean_ll(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = params = np.exp(theta)
        g = self.grid[1:]
        wx = self.w_by_x[1:]
        pg = p * g
        inv = 1.0 / (self.xm + v)
        log_xmv = np.log(self.xm + v)
        ll = self.log_likelihood(params)
        d_p = wx @ (g * (digamma(pg + q) - digamma(pg))) + self.w_log_mx - np.einsum("i,i->", self.w * self.x, log_xmv)
        d_q = (
            wx @ digamma(pg + q)
            - self.total * (digamma(q) - np.log(v))
            - np.einsum("i,i->", self.w, log_xmv)
        )
        d_v = self.total * q / v - np.einsum("i,i->", self.w * (p * self.x + q), inv)
        grad = np.array([d_p, d_q, d_v]) * params
        return -ll / self.total, -grad / self.total


def _amounts(values) -> np.ndarray:
    try:
        m = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError) as exc:
        raise UsageError("monetary_value must be numbers") from exc
    if m.ndim != 1:
        raise UsageError(f"monetary_value must be one value per customer (1-D), got shape {m.shape}")
    if not np.isfinite(m).all():
        raise UsageError(f"monetary_value has {int((~np.isfinite(m)).sum())} missing or infinite value(s)")
    return m


def _pearson(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> float | None:
    """Weighted Pearson correlation; None when either variable is constant."""
    n = w.sum()
    dx = x - (w @ x) / n
    dm = m - (w @ m) / n
    sxx, smm = w @ (dx * dx), w @ (dm * dm)
    if sxx <= 0 or smm <= 0:
        return None
    return float((w @ (dx * dm)) / np.sqrt(sxx * smm))
