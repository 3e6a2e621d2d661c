"""What the CLV models share: input checks, row compression and the optimizer.

Every model takes per-customer summaries (one value per customer, never
transactions) and checks them at the boundary: an argument that cannot be a
summary (negative, missing, recency after T, ...) is a :class:`UsageError`;
data that are valid but cannot support an estimate (one customer, nobody
bought twice) is a :class:`DataTooThinError`. Either way the message is one
line, and no model ever stores NaN parameters.

Fitting works on **compressed** rows: customers with identical summaries share
one row and a weight (their count). Data built from daily transactions repeat
the same ``(x, t_x, T)`` often, so a million customers shrink to a few hundred
thousand rows or fewer, and the likelihood is evaluated once per distinct row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sikta.errors import DataTooThinError, UsageError


# Log-parameters are kept inside these bounds: e^±25 is far beyond any
# meaningful value, and the bound keeps exp() finite when the likelihood is flat.
_LOG_BOUND = 25.0


def vector(name: str, values: object, *, integer: bool = False, positive: bool = False) -> np.ndarray:
    """``values`` as a 1-D float array of finite numbers ≥ 0 (> 0 with ``positive``), else a UsageError."""
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be numbers") from exc
    if arr.ndim != 1:
        raise UsageError(f"{name} must be one value per customer (1-D), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise UsageError(f"{name} has {int(bad.sum())} missing or infinite value(s)")
    if positive and (arr <= 0).any():
        raise UsageError(f"{name} must be > 0; {int((arr <= 0).sum())} value(s) are not")
    if (arr < 0).any():
        raise UsageError(f"{name} must be >= 0; {int((arr < 0).sum())} value(s) are negative")
    if integer and (arr != np.round(arr)).any():
        raise UsageError(f"{name} must be whole numbers of repeat purchases")
    return arr


def same_length(**arrays: np.ndarray) -> int:
    """The common length of ``arrays``, else a UsageError naming the lengths."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise UsageError(f"one value per customer in each argument, got {got}")
    return next(iter(lengths.values()))


def weights_of(weights: object, n: int) -> np.ndarray:
    """Customer counts per row (default 1 each): whole numbers ≥ 0."""
    if weights is None:
        return np.ones(n)
    w = vector("weights", weights, integer=False)
    if len(w) != n:
        raise UsageError(f"weights must have one value per row ({n}), got {len(w)}")
    return w


def check_rft(frequency: object, recency: object, T: object, weights: object = None):
    """Validated ``(x, t_x, T, w)`` arrays for the purchase models.

    Raises
    ------
    UsageError
        Negative, missing or fractional frequencies, recency after T, recency
        without repeat purchases, unequal lengths.
    """
    x = vector("frequency", frequency, integer=True)
    tx = vector("recency", recency)
    t = vector("T", T)
    n = same_length(frequency=x, recency=tx, T=t)
    w = weights_of(weights, n)
    if (late := tx > t).any():
        raise UsageError(f"recency is after T (the customer's age) for {int(late.sum())} customer(s)")
    if (odd := (x == 0) & (tx > 0)).any():
        raise UsageError(f"recency must be 0 for customers without repeat purchases ({int(odd.sum())} are not)")
    return x, tx, t, w


def require_data(x: np.ndarray, t: np.ndarray, w: np.ndarray, model: str) -> None:
    """DataTooThinError unless there are ≥ 2 customers, some repeat purchases and some time."""
    n = float(w.sum())
    if n < 2:
        raise DataTooThinError(f"{model} needs at least 2 customers, got {n:g}")
    if not (w * x).sum() > 0:
        raise DataTooThinError(f"{model} needs repeat purchases; none of the {n:g} customers bought more than once")
    if not (w * t).sum() > 0:
        raise DataTooThinError(
            f"{model} needs time to observe repeat purchases; all {n:g} customers bought first on the last day"
        )


@dataclass(frozen=True)
class Compressed:
    """Distinct rows of a summary table, their customer counts and the map back."""

    columns: tuple[np.ndarray, ...]
    weights: np.ndarray
    inverse: np.ndarray

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Per distinct row → per original customer."""
        return values[self.inverse]


def compress(*columns: np.ndarray, weights: np.ndarray | None = None) -> Compressed:
    """Group identical rows (hash grouping, linear time).

    Examples
    --------
    >>> c = compress(np.array([1.0, 1.0, 0.0]), np.array([2.0, 2.0, 0.0]))
    >>> [col.tolist() for col in c.columns], c.weights.tolist(), c.inverse.tolist()
    ([[1.0, 0.0], [2.0, 0.0]], [2.0, 1.0], [0, 0, 1])
    """
    n = len(columns[0])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(columns)}, copy=False)
    inverse = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    k = int(inverse.max()) + 1 if n else 0
    unique = []
    for c in columns:
        u = np.empty(k, dtype=float)
        u[inverse] = c  # every row of a group holds the same value
        unique.append(u)
    return Compressed(tuple(unique), np.bincount(inverse, weights=w, minlength=k), inverse)


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and, per element, the index of its value (hash based, no sort)."""
    codes, uniques = pd.factorize(values)
    return np.asarray(uniques, dtype=float), codes


def maximize(
    neg_mean_ll: Callable[[np.ndarray], tuple[float, np.ndarray]],
    starts: Sequence[Sequence[float]],
    model: str,
    *,
    gtol: float = 1e-9,
) -> np.ndarray:
    """Log-parameters maximizing a likelihood, from the first start that converges.

    ``neg_mean_ll(theta)`` returns the mean negative log-likelihood and its
    gradient in log-parameters. Each start is tried in turn with L-BFGS-B
    until one ends at a finite optimum with a small gradient; if none does, the
    best finite end point among them is kept only when its gradient is small,
    else a :class:`DataTooThinError` says the model did not converge. An
    optimum with a parameter at the bounds (e^±25: the likelihood grows
    without limit as it runs off to 0 or infinity) is refused the same way.
    """
    from scipy.optimize import minimize  # SciPy's optimizers load with the first fit, not with a stored result

    best: tuple[float, np.ndarray, float] | None = None
    for start in starts:
        theta0 = np.clip(np.asarray(start, dtype=float), -_LOG_BOUND, _LOG_BOUND)
        # L-BFGS-B's tiny matrix products go through BLAS; its threads spin against each other on a
        # busy machine (10 ms per iteration here instead of 0.6 ms), so it runs on one thread
        with np.errstate(all="ignore"), threadpool_limits(limits=1, user_api="blas"):
            res = minimize(
                neg_mean_ll,
                theta0,
                jac=True,
                method="L-BFGS-B",
                bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(theta0),
                options={"maxiter": 500, "gtol": gtol, "ftol": 1e-15, "maxcor": 20},
            )
        if not np.isfinite(res.fun) or not np.all(np.isfinite(res.x)):
            continue
        grad = float(np.max(np.abs(_projected(res.x, res.jac))))
        if best is None or res.fun < best[0]:
            best = (float(res.fun), res.x, grad)
        if res.success and grad < 1e-5:
            return _inside(res.x, model)
    if best is not None and best[2] < 1e-4:
        return _inside(best[1], model)
    raise DataTooThinError(f"the {model} model did not converge on these data (try a longer calibration period)")


def _inside(theta: np.ndarray, model: str) -> np.ndarray:
    """``theta`` unless a parameter ran off to 0 or infinity (a likelihood without a proper maximum)."""
    if (np.abs(theta) > _LOG_BOUND - 1e-3).any():
        raise DataTooThinError(
            f"these data do not identify the {model} model (a parameter runs off to 0 or infinity); "
            f"it needs more customers or a longer calibration period"
        )
    return theta


def _projected(theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The gradient with components pushing out of the bounds zeroed (a bound optimum is converged)."""
    g = np.asarray(grad, dtype=float).copy()
    g[(theta >= _LOG_BOUND) & (g < 0)] = 0.0
    g[(theta <= -_LOG_BOUND) & (g > 0)] = 0.0
    return g


def numeric_gradient(f: Callable[[np.ndarray], float], theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of ``f`` at ``theta`` (for likelihoods without a practical analytic gradient)."""
    grad = np.empty_like(theta)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad


def fitted(model: object, name: str = "params_") -> dict[str, float]:
    """The learned parameters, else a UsageError saying to fit first."""
    params = getattr(model, name, None)
    if params is None:
        raise UsageError(f"{type(model).__name__} is not fitted yet: call fit() or from_params() first")
    return params


def check_params(names: Sequence[str], values: dict[str, float]) -> dict[str, float]:
    """Exactly ``names``, each a finite number > 0."""
    if set(values) != set(names):
        raise UsageError(f"parameters must be {', '.join(names)}; got {', '.join(sorted(values)) or 'none'}")
    out = {}
    for k in names:
        v = float(values[k])
        if not np.isfinite(v) or v <= 0:
            raise UsageError(f"parameter {k} must be a finite number > 0, got {values[k]!r}")
        out[k] = v
    return out
