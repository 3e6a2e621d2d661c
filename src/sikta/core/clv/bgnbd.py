"""BG/NBD: how many purchases a customer will make, and whether they are still "alive".

The beta-geometric / negative binomial distribution model of Fader, Hardie &
Lee (2005), "Counting your customers the easy way", *Marketing Science* 24(2).
While alive, a customer buys at Poisson rate λ (Gamma(r, α) across customers);
after every repeat purchase they drop out with probability p (Beta(a, b)).
The data are one row per customer: ``frequency`` x (repeat purchases),
``recency`` t_x (time of the last purchase after the first) and ``T`` (time
from the first purchase to the end of the calibration period), all in one time
unit.

Log-likelihood of one customer (FHL 2005, section 7), in log space::

    ℓ = lnΓ(r+x) − lnΓ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
        + ln[ (α+T)^−(r+x) + 1{x>0} · a/(b+x−1) · (α+t_x)^−(r+x) ]

maximized with L-BFGS-B on log-parameters with its analytic gradient, over the
distinct ``(x, t_x, T)`` rows weighted by their counts. Time is rescaled so the
oldest customer has T = 1 while fitting (α is scaled back afterwards), which
keeps the problem well conditioned whatever the time unit.

Examples
--------
>>> m = BetaGeo().fit([2, 1, 0, 0, 4, 0, 7, 1], [30.4, 1.7, 0, 0, 20.0, 0, 35.1, 5.3],
...                   [38.9, 38.9, 38.9, 30.0, 38.9, 32.1, 38.9, 36.0])
>>> sorted(m.params_), m.n_customers_
(['a', 'alpha', 'b', 'r'], 8)
>>> bool(m.p_alive([0], [0], [38.9])[0] == 1.0)
True
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv, betaln, digamma, expit, gammaln, hyp2f1

from sikta.core.clv._base import (
    check_params,
    check_rft,
    compress,
    factorize,
    fitted,
    maximize,
    require_data,
    vector,
)
from sikta.errors import UsageError

__all__ = ["BetaGeo"]

PARAMS = ("r", "alpha", "a", "b")
# (a − 1) divides the expectations; closer to 1 than this we average a = 1 ± _A_STEP (error O(_A_STEP²))
_A_NEAR_ONE = 1e-9
_A_STEP = 1e-6
_NODES = 64


class BetaGeo:
    """BG/NBD purchase model fitted by maximum likelihood.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (in the data's time unit), ``a``, ``b``.
    log_likelihood_ : float
        Log-likelihood of the data at ``params_`` (summed over customers).
    n_customers_ : int
        Customers fitted (sum of the weights).

    Examples
    --------
    >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> round(float(m.expected_purchases(39, [2], [30.43], [38.86])[0]), 3)
    1.226
    >>> round(float(m.population_expected_purchases(39)[0]), 3)
    1.197
    """

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None

    @classmethod
    def from_params(cls, **params: float) -> BetaGeo:
        """A model with known parameters (e.g. from a stored run), ready to predict."""
        model = cls()
        model.params_ = check_params(PARAMS, params)
        return model

    def fit(self, frequency, recency, T, weights=None) -> BetaGeo:
        """Estimate ``r, alpha, a, b`` by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T
            One value per customer (or per distinct row with ``weights``).
        weights
            Customers per row; default one each.

        Raises
        ------
        UsageError
            Invalid summaries (see :func:`~sikta.core.clv._base.check_rft`).
        DataTooThinError
            Fewer than two customers, no repeat purchase, no time, or no convergence.
        """
        x, tx, t, w = check_rft(frequency, recency, T, weights)
        require_data(x, t, w, "BG/NBD")
        c = compress(x, tx, t, weights=w)
        x, tx, t = c.columns
        keep = c.weights > 0
        x, tx, t, w = x[keep], tx[keep], t[keep], c.weights[keep]
        scale = 1.0 / t.max()
        data = _Rows(x, tx * scale, t * scale, w)
        rate = max(float(w @ x) / float(w @ t * scale), 1e-3)
        starts = [
            np.zeros(4),
            np.log([0.5, 0.5 / rate, 0.5, 2.0]),
            np.log([2.0, 2.0 / rate, 2.0, 8.0]),
            np.log([0.1, 0.1 / rate, 1.5, 0.5]),
        ]
        theta = maximize(data.negative_mean_ll, starts, "BG/NBD")
        r, alpha, a, b = np.exp(theta)
        self.params_ = {"r": float(r), "alpha": float(alpha / scale), "a": float(a), "b": float(b)}
        self.log_likelihood_ = float(_Rows(x, tx, t, w).log_likelihood(self._p()))
        self.n_customers_ = int(round(w.sum()))
        return self

    def _p(self) -> np.ndarray:
        p = fitted(self)
        return np.array([p[k] for k in PARAMS])

    def log_likelihood(self, frequency, recency, T, weights=None) -> float:
        """Log-likelihood of the given customers at the fitted parameters."""
        x, tx, t, w = check_rft(frequency, recency, T, weights)
        return float(_Rows(x, tx, t, w).log_likelihood(self._p()))

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive at T | x, t_x, T) per customer (Fader, Hardie & Lee 2008, note 021).

        ``1 / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))``; 1 for x = 0.
        """
        x, tx, t, _ = check_rft(frequency, recency, T)
        return _p_alive(self._p(), x, tx, t)

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchases in (T, T+t] per customer (FHL 2005 eq. 10).

        The Gauss hypergeometric term is evaluated in its Euler-transformed
        form, ``(1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)`` with
        ``z = t/(α+T+t)``, whose series stays well behaved for large x (the
        untransformed one overflows, cf. Fader & Hardie's note 027).
        """
        horizon = _horizon(t)
        x, tx, T_ = check_rft(frequency, recency, T)[:3]
        c = compress(x, tx, T_)
        return c.expand(self._expected(horizon, *c.columns))

    def _expected(self, t: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """:meth:`expected_purchases` on validated arrays (for CLV sums over many horizons)."""
        return _conditional_expectation(self._p(), t, x, tx, T)

    def p_purchase(self, t, frequency, recency, T) -> np.ndarray:
        """P(at least one purchase in (T, T+t]) per customer.

        Alive at T, a customer's rate given the history is Gamma(r+x, α+T), so
        ``P = P(alive) · (1 − ((α+T)/(α+T+t))^(r+x))`` (a customer can only drop
        out right after a purchase, so p plays no part in the first one).
        """
        horizon = _horizon(t)
        x, tx, T_ = check_rft(frequency, recency, T)[:3]
        r, alpha = self._p()[:2]
        none = np.exp(-(r + x) * np.log1p(horizon / (alpha + T_)))
        return _p_alive(self._p(), x, tx, T_) * (1.0 - none)

    def population_expected_purchases(self, t) -> np.ndarray:
        """E[X(t)]: expected repeat purchases in (0, t] of a new customer (FHL 2005 eq. 9).

        ``t`` may be an array (e.g. customer ages for a tracking curve).
        """
        tt = vector("t", t)
        zero = np.zeros_like(tt)
        return _conditional_expectation(self._p(), tt, zero, zero, zero)


class _Rows:
    """Distinct summary rows with weights, and the BG/NBD log-likelihood over them.

    Terms that depend on x alone are computed once per distinct x, terms in T
    alone once per distinct T (a customer without repeat purchases contributes
    only those); only the repeat buyers' mixture term is evaluated row by row.
    """

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.total = float(w.sum())
        xi = x.astype(np.intp)
        self.grid = np.arange(xi.max() + 1, dtype=float)  # every x value 0..max once
        self.w_by_x = np.bincount(xi, weights=w, minlength=len(self.grid))
        self.T_u, T_idx = factorize(T)
        self.w_T = np.bincount(T_idx, weights=w)
        self.wx_T = np.bincount(T_idx, weights=w * x)
        pos = x > 0
        self.x, self.xi, self.w = x[pos], xi[pos], w[pos]
        self.T_idx = T_idx[pos]
        self.tx_u, self.tx_idx = factorize(tx[pos])

    def _parts(self, p: np.ndarray):
        r, alpha, a, b = p
        g = self.grid
        la_T_u = np.log(alpha + self.T_u)
        la_T = la_T_u[self.T_idx]
        la_tx = np.log(alpha + self.tx_u)[self.tx_idx]
        rx = r + self.x
        log_ratio = np.log(a) - np.log(b + np.maximum(g, 1.0) - 1.0)
        # log of the "dropped out after the last purchase" branch over the "alive at T" one
        d = log_ratio[self.xi] + rx * (la_T - la_tx)
        small = np.exp(-np.abs(d))
        softplus = np.maximum(d, 0.0) + np.log1p(small)  # log(1 + e^d) without overflow
        per_x = gammaln(r + g) - gammaln(r) + r * np.log(alpha) + betaln(a, b + g) - betaln(a, b)
        ll = _dot(self.w_by_x, per_x) - _dot(r * self.w_T + self.wx_T, la_T_u) + _dot(self.w, softplus)
        return float(ll), rx, la_T_u, la_T, la_tx, d, small

    def log_likelihood(self, p: np.ndarray) -> float:
        return self._parts(p)[0]

    def negative_mean_ll(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.exp(theta)
        r, alpha, a, b = p
        g = self.grid
        ll, rx, la_T_u, la_T, la_tx, d, small = self._parts(p)
        # posterior share of "dropped out" (the logistic of d); the rest is "alive at T"
        ww4 = self.w * np.where(d >= 0, 1.0, small) / (1.0 + small)
        wx = self.w_by_x
        d_r = (
            _dot(wx, digamma(r + g) - digamma(r))
            + self.total * np.log(alpha)
            - _dot(self.w_T, la_T_u)
            + _dot(ww4, la_T - la_tx)
        )
        inv_T = 1.0 / (alpha + self.T_u)
        d_alpha = (
            self.total * r / alpha
            - _dot(r * self.w_T + self.wx_T, inv_T)
            - _dot(ww4, rx * (1.0 / (alpha + self.tx_u)[self.tx_idx] - inv_T[self.T_idx]))
        )
        ab = digamma(a + b) - digamma(a + b + g)
        sw4 = np.bincount(self.xi, weights=ww4, minlength=len(g))
        d_a = _dot(wx, ab) + sw4.sum() / a
        d_b = _dot(wx, ab + digamma(b + g) - digamma(b)) - _dot(sw4[1:], 1.0 / (b + g[1:] - 1.0))
        grad = np.array([d_r, d_alpha, d_a, d_b]) * p
        return -ll / self.total, -grad / self.total


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    # einsum's own loop, not BLAS: a threaded BLAS dot spins on a busy machine (5x slower here)
    return float(np.einsum("i,i->", u, v))


def _horizon(t) -> float:
    tt = vector("t", t)
    if len(tt) != 1:
        raise UsageError("t must be one horizon (a single number of time units)")
    return float(tt[0])


def _p_alive(p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = p
    with np.errstate(divide="ignore"):
        log_odds = (r + x) * (np.log(alpha + T) - np.log(alpha + tx)) + np.log(a) - np.log(b + np.maximum(x, 1) - 1)
    return np.where(x > 0, expit(-log_odds), 1.0)


def _conditional_expectation(p, t, x, tx, T) -> np.ndarray:
    r, alpha, a, b = p
    if abs(a - 1.0) < _A_NEAR_ONE:
        lo = _conditional_expectation((r, alpha, 1.0 - _A_STEP, b), t, x, tx, T)
        hi = _conditional_expectation((r, alpha, 1.0 + _A_STEP, b), t, x, tx, T)
        return (lo + hi) / 2
    t, x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, tx, T)))
    z = t / (alpha + T + t)
    head = (a + b + x - 1.0) / (a - 1.0)
    with np.errstate(all="ignore"):
        tail = 1.0 - np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    out = head * tail * _p_alive(p, x, tx, T)
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = _by_quadrature(p, t[bad], x[bad], T[bad]) * _p_alive(p, x[bad], tx[bad], T[bad])
    return out


def _by_quadrature(p, t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T+t] | alive] as an integral over the drop-out probability.

    Alive at T, λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x); given both, a
    customer buys (1 − e^(−λpt))/p times on average before dropping out, so
    integrating λ out leaves ``E_p[(1 − (1 + p·t/(α+T))^−(r+x)) / p]``. The
    expectation is taken over the Beta quantiles (p = F⁻¹(u), u on a 64-point
    Gauss-Legendre grid), which stays finite for any parameters. It is the
    fallback for the rare parameters where the hypergeometric series fails
    (e.g. r and α in the millions: a nearly homogeneous purchase rate).
    """
    r, alpha, a, b = p
    u, weights = np.polynomial.legendre.leggauss(_NODES)
    u, weights = (u + 1.0) / 2.0, weights / 2.0
    out = np.empty(len(x))
    for value in np.unique(x):
        rows = x == value
        share = betaincinv(a, b + value, u)
        c = np.outer(t[rows] / (alpha + T[rows]), share)
        k = r + value
        with np.errstate(all="ignore"):
            g = np.where(c > 0, -np.expm1(-k * np.log1p(c)) / share, k * t[rows, None] / (alpha + T[rows, None]))
        out[rows] = g @ weights
    return out
