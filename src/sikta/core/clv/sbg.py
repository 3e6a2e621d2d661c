"""Shifted-beta-geometric (sBG): retention of contractual customers (Fader & Hardie 2007).

"How to project customer retention", *Journal of Interactive Marketing* 21(1).
At each renewal a customer churns with probability θ, constant for that
customer, and θ ~ Beta(γ, δ) across customers. So the share of a cohort still
a customer after t renewal opportunities is::

    S(t) = B(γ, δ+t) / B(γ, δ)        P(churn at t) = B(γ+1, δ+t−1) / B(γ, δ)

and the retention rate ``S(t)/S(t−1) = (δ+t−1)/(γ+δ+t−1)`` rises with t: the
customers who stay are increasingly the loyal ones. The model is fitted on
cohort counts: ``[n₀, n₁, …, n_k]`` customers alive at the start and after each
of the first k renewal opportunities (several cohorts of different lengths
may be pooled).

Lifetime value follows Fader & Hardie (2010), "Customer-base valuation in a
contractual setting", *Marketing Science* 29(1), eq. 6. With a discount rate d
per period:

* ``discounted_expected_lifetime(d)`` (DEL) = Σ_{t≥0} S(t)/(1+d)^t =
  ₂F₁(1, δ; γ+δ; 1/(1+d)): the expected discounted number of payments of a
  new customer, the first one (now) included. CLV of a new customer = margin
  per period × DEL.
* ``derl(d, renewals=n)`` (DERL) = Σ_{t>n} [S(t)/S(n)] / (1+d)^(t−n−1) =
  (δ+n)/(γ+δ+n) · ₂F₁(1, δ+n+1; γ+δ+n+1; 1/(1+d)): the expected discounted
  number of *future* payments of a customer who has renewed n times and now
  faces the next renewal. Residual CLV = margin per period × DERL.

Examples
--------
>>> m = ShiftedBetaGeometric().fit([1000, 631, 468, 382, 326, 289, 262, 241])
>>> round(m.params_["gamma"], 3), round(m.params_["delta"], 3)
(0.704, 1.182)
>>> [round(float(s), 3) for s in m.survival([0, 1, 2])]
[1.0, 0.627, 0.474]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

from sikta.core.clv._base import check_params, fitted, maximize, vector
from sikta.errors import DataTooThinError, UsageError

__all__ = ["ShiftedBetaGeometric"]

PARAMS = ("gamma", "delta")


class ShiftedBetaGeometric:
    """sBG retention model fitted by maximum likelihood on cohort survivor counts.

    Attributes
    ----------
    params_ : dict
        ``gamma``, ``delta``.
    log_likelihood_ : float
        Log-likelihood of the cohorts' churn counts.
    n_customers_ : int
        Customers at the start of the cohorts (sum of the first counts).
    """

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None

    @classmethod
    def from_params(cls, **params: float) -> ShiftedBetaGeometric:
        """A model with known parameters."""
        model = cls()
        model.params_ = check_params(PARAMS, params)
        return model

    def fit(self, survivors: Sequence[float] | Sequence[Sequence[float]]) -> ShiftedBetaGeometric:
        """Estimate γ and δ from ``[n₀, n₁, …]`` (one cohort) or a list of such lists.

        Raises
        ------
        UsageError
            Counts that are negative, missing, fractional or increasing.
        DataTooThinError
            Fewer than two renewal opportunities observed (γ and δ are not
            separately identified), nobody churned, or everybody churned at the
            first renewal.
        """
        cohorts = _cohorts(survivors)
        if max(len(c) for c in cohorts) < 3:
            raise DataTooThinError(
                "the sBG model needs a cohort observed over at least 2 renewals (3 counts) to tell "
                "heterogeneity from churn"
            )
        churned = sum(c[0] - c[-1] for c in cohorts)
        if churned == 0:
            raise DataTooThinError("no customer churned in the cohorts: retention cannot be projected")
        if all(c[1] == 0 for c in cohorts):
            raise DataTooThinError("every customer churned at the first renewal: retention cannot be projected")
        data = _Counts(cohorts)
        starts = [np.zeros(2), np.log([0.5, 2.0]), np.log([2.0, 0.5]), np.log([5.0, 20.0])]
        gamma, delta = np.exp(maximize(data.negative_mean_ll, starts, "sBG"))
        self.params_ = {"gamma": float(gamma), "delta": float(delta)}
        self.log_likelihood_ = data.log_likelihood(np.array([gamma, delta]))
        self.n_customers_ = int(round(sum(c[0] for c in cohorts)))
        return self

    def _gd(self) -> tuple[float, float]:
        p = fitted(self)
        return p["gamma"], p["delta"]

    def survival(self, t) -> np.ndarray:
        """S(t): share of a new cohort still customers after t renewal opportunities."""
        gamma, delta = self._gd()
        tt = vector("t", t)
        return np.exp(betaln(gamma, delta + tt) - betaln(gamma, delta))

    def retention_rate(self, t) -> np.ndarray:
        """r(t) = S(t)/S(t−1) = (δ+t−1)/(γ+δ+t−1), for t ≥ 1."""
        gamma, delta = self._gd()
        tt = vector("t", t)
        if (tt < 1).any():
            raise UsageError("retention rates start at the first renewal (t >= 1)")
        return (delta + tt - 1.0) / (gamma + delta + tt - 1.0)

    def discounted_expected_lifetime(self, discount: float) -> float:
        """DEL: expected discounted payments of a new customer, the first (now) included."""
        gamma, delta = self._gd()
        return _sum(gamma, delta, 1.0, discount)

    def derl(self, discount: float, renewals=0) -> np.ndarray:
        """DERL: expected discounted future payments of a customer who has renewed ``renewals`` times.

        Examples
        --------
        >>> m = ShiftedBetaGeometric.from_params(gamma=0.704, delta=1.182)
        >>> [round(float(v), 2) for v in m.derl(0.10, [0, 4])]
        [2.96, 5.89]
        """
        gamma, delta = self._gd()
        n = vector("renewals", renewals, integer=True)
        return np.array([_sum(gamma, delta + k, (delta + k) / (gamma + delta + k), discount, shift=1.0) for k in n])


def _sum(gamma: float, delta: float, factor: float, discount: float, shift: float = 0.0) -> float:
    """``factor · ₂F₁(1, δ+shift; γ+δ+shift; 1/(1+d))`` with its d = 0 limit (finite only for γ > 1)."""
    d = float(discount)
    if not np.isfinite(d) or d < 0:
        raise UsageError(f"discount rate must be >= 0, got {discount!r}")
    b, c = delta + shift, gamma + delta + shift
    if d == 0:
        if gamma <= 1:
            raise UsageError(
                f"without discounting the expected lifetime is infinite (gamma = {gamma:.3g} <= 1); "
                f"use a discount rate > 0"
            )
        return factor * (c - 1.0) / (gamma - 1.0)
    return float(factor * hyp2f1(1.0, b, c, 1.0 / (1.0 + d)))


def _cohorts(survivors) -> list[np.ndarray]:
    first = np.asarray(survivors[0] if len(survivors) else [], dtype=object)
    nested = first.ndim > 0
    cohorts = [vector("survivors", c, integer=True) for c in (survivors if nested else [survivors])]
    for c in cohorts:
        if len(c) < 2:
            raise DataTooThinError("each cohort needs its starting count and at least one renewal count")
        if c[0] <= 0:
            raise DataTooThinError("a cohort starts with no customers")
        if (np.diff(c) > 0).any():
            raise UsageError("survivor counts must not increase over time (customers cannot rejoin a cohort)")
    return cohorts


class _Counts:
    """Churn counts per period and final survivors of each cohort."""

    def __init__(self, cohorts: list[np.ndarray]) -> None:
        self.deaths = [(np.arange(1, len(c)), -np.diff(c)) for c in cohorts]  # (t, churned at t)
        self.alive = [(len(c) - 1, c[-1]) for c in cohorts]  # (k, still alive after k)
        self.total = float(sum(c[0] for c in cohorts))

    def log_likelihood(self, p: np.ndarray) -> float:
        g, d = p
        ll = 0.0
        for t, n in self.deaths:
            ll += n @ (betaln(g + 1.0, d + t - 1.0) - betaln(g, d))
        for k, n in self.alive:
            ll += n * (betaln(g, d + k) - betaln(g, d))
        return float(ll)

    def negative_mean_ll(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        g, d = p = np.exp(theta)
        d_g = d_d = 0.0
        base_g, base_d = digamma(g) - digamma(g + d), digamma(d) - digamma(g + d)
        for t, n in self.deaths:
            d_g += n @ (digamma(g + 1.0) - digamma(g + d + t) - base_g)
            d_d += n @ (digamma(d + t - 1.0) - digamma(g + d + t) - base_d)
        for k, n in self.alive:
            d_g += n * (digamma(g) - digamma(g + d + k) - base_g)
            d_d += n * (digamma(d + k) - digamma(g + d + k) - base_d)
        grad = np.array([d_g, d_d]) * p
        return -self.log_likelihood(p) / self.total, -grad / self.total
