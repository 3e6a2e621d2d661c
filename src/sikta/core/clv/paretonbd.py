"""Pareto/NBD: purchases while alive, with a lifetime in continuous time (Schmittlein et al. 1987).

While alive a customer buys at Poisson rate λ ~ Gamma(r, α); their lifetime is
exponential with rate μ ~ Gamma(s, β). Same data as :class:`~sikta.core.clv.BetaGeo`:
``frequency`` x, ``recency`` t_x and age ``T`` per customer.

The likelihood follows Fader & Hardie's note 009 ("A note on deriving the
Pareto/NBD model and related expressions", eq. 18-20), as lifetimes and CLVTools
do::

    ℓ = lnΓ(r+x) − lnΓ(r) + r ln α + s ln β
        + ln[ (α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · A₀ ]

    A₀ = (r+s+x) ∫_{t_x}^{T} (α+y)^−(r+x) (β+y)^−(s+1) dy

(the second term is the chance of dying unseen between the last purchase and
T). A₀ is a difference of two Gauss hypergeometric terms. Note 009 writes them as
₂F₁(r+s+x, ·; r+s+x+1; z), whose first parameter grows with x; here each is
Euler-transformed to ₂F₁(1, ·; r+s+x+1; z) (a series of positive terms that
stays bounded), with ``z = (α−β)/(α+y)`` when α ≥ β and ``z = (β−α)/(β+y)``
when α < β, so |z| < 1 in both branches. The difference is taken in log space
(``log(e^u₁ − e^u₂)`` with ``expm1``), so A₀ = 0 (t_x = T) is exact.

The gradient is by central differences in log-parameters (derivatives of ₂F₁ in
its parameters have no practical closed form); the likelihood is evaluated on
the distinct ``(x, t_x, T)`` rows.

Examples
--------
>>> m = ParetoNBD.from_params(r=0.55, alpha=10.58, s=0.61, beta=11.67)
>>> round(float(m.p_alive([2], [30.43], [38.86])[0]), 3)
0.868
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, hyp2f1

from sikta.core.clv._base import (
    check_params,
    check_rft,
    compress,
    fitted,
    maximize,
    numeric_gradient,
    require_data,
    vector,
)
from sikta.errors import UsageError

__all__ = ["ParetoNBD"]

PARAMS = ("r", "alpha", "s", "beta")
_S_NEAR_ONE = 1e-10
_BLOCK = 65_536
_PANELS = np.array([0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 50.0])


class ParetoNBD:
    """Pareto/NBD purchase model fitted by maximum likelihood.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta`` (α and β in the data's time unit).
    log_likelihood_ : float
        Log-likelihood of the data at ``params_``.
    n_customers_ : int
        Customers fitted.
    """

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None

    @classmethod
    def from_params(cls, **params: float) -> ParetoNBD:
        """A model with known parameters, ready to predict."""
        model = cls()
        model.params_ = check_params(PARAMS, params)
        return model

    def fit(self, frequency, recency, T, weights=None) -> ParetoNBD:
        """Estimate ``r, alpha, s, beta`` by maximum likelihood (see :meth:`BetaGeo.fit`)."""
        x, tx, t, w = check_rft(frequency, recency, T, weights)
        require_data(x, t, w, "Pareto/NBD")
        c = compress(x, tx, t, weights=w)
        keep = c.weights > 0
        x, tx, t = (col[keep] for col in c.columns)
        w = c.weights[keep]
        scale = 1.0 / t.max()
        xs, txs, ts = x, tx * scale, t * scale
        total = float(w.sum())

        def f(theta: np.ndarray) -> float:
            with np.errstate(all="ignore"):
                value = -float(w @ _log_likelihood(np.exp(theta), xs, txs, ts)) / total
            return value if np.isfinite(value) else np.inf

        def f_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            value = f(theta)
            if not np.isfinite(value):
                return 1e300, np.zeros_like(theta)
            return value, numeric_gradient(f, theta)

        rate = max(float(w @ x) / float(w @ ts), 1e-3)
        starts = [np.zeros(4), np.log([0.5, 0.5 / rate, 0.5, 1.0]), np.log([2.0, 2.0 / rate, 2.0, 2.0])]
        theta = maximize(f_and_grad, starts, "Pareto/NBD", gtol=1e-8)
        r, alpha, s, beta = np.exp(theta)
        self.params_ = {"r": float(r), "alpha": float(alpha / scale), "s": float(s), "beta": float(beta / scale)}
        self.log_likelihood_ = float(w @ _log_likelihood(self._p(), x, tx, t))
        self.n_customers_ = int(round(total))
        return self

    def _p(self) -> np.ndarray:
        p = fitted(self)
        return np.array([p[k] for k in PARAMS])

    def log_likelihood(self, frequency, recency, T, weights=None) -> float:
        """Log-likelihood of the given customers at the fitted parameters."""
        x, tx, t, w = check_rft(frequency, recency, T, weights)
        return float(w @ _log_likelihood(self._p(), x, tx, t))

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive at T | x, t_x, T) per customer (note 009, eq. 36-37)."""
        x, tx, t, _ = check_rft(frequency, recency, T)
        return _p_alive(self._p(), x, tx, t)

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchases in (T, T+t] per customer (note 009, eq. 41).

        ``P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)]``,
        with its limit ``(r+x)(β+T)/(α+T) · ln((β+T+t)/(β+T))`` at s = 1.
        """
        horizon = vector("t", t)
        if len(horizon) != 1:
            raise UsageError("t must be one horizon (a single number of time units)")
        x, tx, T_ = check_rft(frequency, recency, T)[:3]
        c = compress(x, tx, T_)
        return c.expand(self._expected(float(horizon[0]), *c.columns))

    def _expected(self, t: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """:meth:`expected_purchases` on validated arrays (for CLV sums over many horizons)."""
        r, alpha, s, beta = self._p()
        growth = (r + x) * (beta + T) / (alpha + T) * _power_integral(s, (beta + T) / (beta + T + t))
        return _p_alive(self._p(), x, tx, T) * growth

    def p_purchase(self, t, frequency, recency, T) -> np.ndarray:
        """P(at least one purchase in (T, T+t]) per customer.

        Alive at T, a customer's λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T), independently; the
        first purchase after T comes at u before the customer dies with density
        ``λ e^(−λu) e^(−μu)``, so integrating λ and μ out::

            P = P(alive) · ∫₀ᵗ (r+x)/(α+T) · ((α+T)/(α+T+u))^(r+x+1) · ((β+T)/(β+T+u))^s du

        The first factor is the Lomax density F′ of the first purchase without death; with
        z = −ln(1 − F(u)) as the variable the integrand is smooth and bounded (see
        ``_first_purchase``). Without deaths (β → ∞) it is ``1 − ((α+T)/(α+T+t))^(r+x)``,
        BG/NBD's expression.

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.55, alpha=10.58, s=0.61, beta=11.67)
        >>> round(float(m.p_purchase(39, [2], [30.43], [38.86])[0]), 3)
        0.591
        """
        horizon = vector("t", t)
        if len(horizon) != 1:
            raise UsageError("t must be one horizon (a single number of time units)")
        x, tx, T_ = check_rft(frequency, recency, T)[:3]
        c = compress(x, tx, T_)
        return c.expand(_p_alive(self._p(), *c.columns) * _first_purchase(self._p(), float(horizon[0]), *c.columns))

    def population_expected_purchases(self, t) -> np.ndarray:
        """E[X(t)] for a new customer: ``rβ/(α(s−1)) · [1 − (β/(β+t))^(s−1)]`` (note 009, eq. 27)."""
        tt = vector("t", t)
        r, alpha, s, beta = self._p()
        return r * beta / alpha * _power_integral(s, beta / (beta + tt))


def _first_purchase(p: np.ndarray, t: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(a purchase in (T, T+t] | alive at T), see :meth:`ParetoNBD.p_purchase`; rows in blocks to bound memory.

    With z = −ln(1 − F(u)) the integral is ``∫₀^Z e^(−z) h(z) dz``, ``Z = (r+x) ln(1 + t/(α+T))`` and
    ``h(z) = (1 + (α+T)/(β+T) · (e^(z/(r+x)) − 1))^(−s)`` (the chance to be alive at the purchase),
    smooth and in (0, 1]; it is summed over geometric panels (16-point Gauss-Legendre each) up to
    min(Z, 50), past which e^(−z) < 2e-22.
    """
    r, _, s, _ = p
    nodes, weights = np.polynomial.legendre.leggauss(16)
    nodes, weights = (nodes + 1.0) / 2.0, weights / 2.0
    out = np.empty(len(x))
    for lo in range(0, len(x), _BLOCK):
        sl = slice(lo, lo + _BLOCK)
        a = r + x[sl]
        ratio = (p[1] + T[sl]) / (p[3] + T[sl])
        upper = np.minimum(a * np.log1p(t / (p[1] + T[sl])), _PANELS[-1])
        total = np.zeros(len(a))
        for left, right in zip(_PANELS[:-1], _PANELS[1:], strict=True):
            lo_z, hi_z = np.minimum(left, upper), np.minimum(right, upper)
            z = lo_z[:, None] + (hi_z - lo_z)[:, None] * nodes[None, :]
            with np.errstate(over="ignore"):
                log_h = -s * np.log1p(ratio[:, None] * np.expm1(np.minimum(z / a[:, None], 700.0)))
            total += (hi_z - lo_z) * (np.exp(log_h - z) @ weights)
        out[sl] = total
    return out


def _power_integral(s: float, ratio: np.ndarray) -> np.ndarray:
    """``(1 − ratio^(s−1)) / (s−1)``, and ``−ln ratio`` at s = 1."""
    log_ratio = np.log(ratio)
    if abs(s - 1.0) < _S_NEAR_ONE:
        return -log_ratio
    return -np.expm1((s - 1.0) * log_ratio) / (s - 1.0)


def _log_a0(p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """ln A₀, −inf where t_x = T."""
    r, alpha, s, beta = p
    c = r + s + x + 1.0

    def term(y: np.ndarray) -> np.ndarray:
        if alpha >= beta:
            z = (alpha - beta) / (alpha + y)
            return np.log(hyp2f1(1.0, r + x, c, z)) - s * np.log(beta + y) - (r + x) * np.log(alpha + y)
        z = (beta - alpha) / (beta + y)
        return np.log(hyp2f1(1.0, s + 1.0, c, z)) + (1.0 - r - x) * np.log(alpha + y) - (s + 1.0) * np.log(beta + y)

    upper, lower = term(tx), term(T)
    with np.errstate(divide="ignore"):
        return upper + np.log(-np.expm1(np.minimum(lower - upper, 0.0)))


def _log_likelihood(p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, s, beta = p
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) - np.log(r + s + x) + _log_a0(p, x, tx, T)
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(alive, died)


def _p_alive(p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, s, beta = p
    log_odds = np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + _log_a0(p, x, tx, T)
    return expit(-log_odds)
