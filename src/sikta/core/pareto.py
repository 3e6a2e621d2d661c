"""Revenue concentration: the Pareto curve, the top-20 % share, Gini and A/B/C classes (SPEC §4.2).

Works on one revenue value per unit (the engine has already summed the
transactions). Only units with **positive** net revenue take part: a unit
whose credit notes outweigh its orders, or that bought nothing, has no share
of the revenue to rank; :attr:`ParetoResult.excluded` says how many were left
out.

Definitions, for the ``n`` units with revenue ``x > 0`` and total ``T``:

* **order** - descending revenue; ties are broken by ``unit_id`` ascending,
  so the same input always gives the same ranks;
* **curve** - after the unit of rank ``r``: ``share_accounts = r / n`` and
  ``share_revenue`` = cumulative revenue of ranks ``1..r`` / ``T``;
* **top20_share** - revenue of the top ``ceil(n / 5)`` units / ``T``
  (n = 5 → the single biggest unit);
* **A/B/C** - with thresholds ``a < b`` (default 0.8, 0.95), a unit is **A**
  while the cumulative share of the units ranked *before* it is below ``a``,
  **B** while it is below ``b``, else **C**. The unit that crosses ``a`` is
  therefore still A, so A is the smallest top set that reaches ``a`` of the
  revenue (and likewise A + B for ``b``);
* **Gini** - with the values sorted ascending ``x_(1) <= ... <= x_(n)`` and
  ``i = 1..n``: ``G = 2 Σ i·x_(i) / (n Σ x) − (n + 1) / n``. It equals the
  mean absolute difference ``Σ_i Σ_j |x_i − x_j| / (2 n² mean)``: 0 when all
  units are equal, ``(n − 1) / n`` when one of ``n`` has everything (the
  others 0; see :func:`gini`, which accepts zeros).

Examples
--------
>>> r = pareto(pd.Series({"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0, "e": 0.0}))
>>> r.accounts, r.revenue, r.top20_share, r.excluded
(4, 100.0, 0.5, 1)
>>> r.curve[["unit_id", "share_revenue", "abc"]].values.tolist()
[['a', 0.5, 'A'], ['b', 0.8, 'A'], ['c', 0.95, 'B'], ['d', 1.0, 'C']]
>>> round(r.gini, 4)
0.375
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sikta.errors import DataTooThinError, UsageError

__all__ = ["CLASSES", "CURVE_POINTS", "ParetoResult", "gini", "pareto"]

CLASSES = ("A", "B", "C")
#: about this many points of the curve go into :meth:`ParetoResult.to_dict`
CURVE_POINTS = 100
# Cumulative shares are sums of floats: a running total that "is" 0.8 may
# come out as 0.8000000000000002; compare against the threshold with this slack.
_EPS = 1e-12


@dataclass(frozen=True)
class ParetoResult:
    """Concentration of revenue over the units with positive revenue.

    Attributes
    ----------
    accounts
        Units with positive net revenue (``n``).
    revenue
        Their total revenue (``T``).
    top20_share
        Revenue of the top ``ceil(n / 5)`` units / ``T``.
    gini
        Gini coefficient of the positive revenues (0 = all equal, towards 1 =
        concentrated in one unit).
    curve
        One row per unit, biggest first: ``rank`` (1..n), ``unit_id``,
        ``revenue``, ``share_accounts`` (rank / n), ``share_revenue``
        (cumulative), ``abc``.
    abc
        ``"A"``/``"B"``/``"C"`` → ``{"accounts", "revenue", "share_accounts",
        "share_revenue"}`` (every class present, empty ones with zeros).
    thresholds
        ``(a, b)`` used for the classes.
    excluded
        Units left out because their revenue was zero, negative or missing.
    """

    accounts: int
    revenue: float
    top20_share: float
    gini: float
    curve: pd.DataFrame
    abc: dict[str, dict]
    thresholds: tuple[float, float]
    excluded: int = 0

    def to_dict(self, points: int = CURVE_POINTS) -> dict[str, Any]:
        """JSON-ready summary with a downsampled curve.

        The curve keeps about ``points`` evenly spaced units plus the first
        and last, and the units that cross the ``a`` and ``b`` thresholds (so
        a chart shows the A/B and B/C boundaries exactly); it starts at the
        origin ``(0, 0)`` (rank 0, no unit).

        Examples
        --------
        >>> d = pareto(pd.Series(np.arange(1.0, 1001.0))).to_dict()
        >>> d["accounts"], len(d["curve"]) <= 103, d["curve"][0]
        (1000, True, {'rank': 0, 'unit_id': None, 'share_accounts': 0.0, 'share_revenue': 0.0, 'abc': None})
        >>> sorted({p["abc"] for p in d["curve"][1:]})
        ['A', 'B', 'C']
        """
        c = self.curve
        n = len(c)
        keep = set(np.unique(np.round(np.linspace(0, n - 1, max(points, 2))).astype(int)).tolist())
        for threshold in self.thresholds:
            # the crossing unit: the first whose cumulative share reaches the threshold
            keep.add(int(min(np.searchsorted(c["share_revenue"].to_numpy(), threshold - _EPS), n - 1)))
        rows = c.iloc[sorted(keep)]
        curve = [{"rank": 0, "unit_id": None, "share_accounts": 0.0, "share_revenue": 0.0, "abc": None}]
        curve += [
            {
                "rank": int(r.rank),
                "unit_id": str(r.unit_id),
                "share_accounts": float(r.share_accounts),
                "share_revenue": float(r.share_revenue),
                "abc": str(r.abc),
            }
            for r in rows.itertuples(index=False)
        ]
        return {
            "accounts": int(self.accounts),
            "revenue": float(self.revenue),
            "top20_share": float(self.top20_share),
            "gini": float(self.gini),
            "excluded": int(self.excluded),
            "thresholds": [float(t) for t in self.thresholds],
            "abc": {
                k: {f: (int(v) if f == "accounts" else float(v)) for f, v in d.items()} for k, d in self.abc.items()
            },
            "curve": curve,
        }


def gini(values: np.ndarray | pd.Series | list[float]) -> float:
    """Gini coefficient of non-negative values: ``2 Σ i·x_(i) / (n Σ x) − (n + 1) / n``.

    ``x_(i)`` are the values sorted ascending, ``i = 1..n``.

    Parameters
    ----------
    values
        Non-negative numbers with a positive sum.

    Examples
    --------
    >>> gini([1, 2, 3, 4])  # 2·(1·1 + 2·2 + 3·3 + 4·4) / (4·10) − 5/4 = 60/40 − 1.25
    0.25
    >>> gini([5, 5, 5]), gini([0, 0, 0, 9])  # all equal; one of four has everything: 3/4
    (0.0, 0.75)
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0 or not np.isfinite(x).all() or x[0] < 0 or x.sum() <= 0:
        raise UsageError("gini needs finite non-negative values with a positive sum")
    i = np.arange(1, n + 1)
    g = 2.0 * float(np.dot(i, x)) / (n * float(x.sum())) - (n + 1) / n
    # rounding can leave -1e-17 for equal values; the coefficient is never negative
    return max(g, 0.0)


def _check_thresholds(a: float, b: float) -> None:
    if not (0.0 < a < b < 1.0):
        raise UsageError(f"A/B/C thresholds must satisfy 0 < a < b < 1, got a={a}, b={b}")


def _ordered(revenue: pd.Series) -> pd.DataFrame:
    """Positive values, biggest first, ties by unit_id ascending."""
    x = pd.to_numeric(revenue, errors="coerce").astype(float)
    df = pd.DataFrame({"unit_id": revenue.index, "revenue": x.to_numpy()})
    df = df[df["revenue"] > 0]
    try:
        df = df.sort_values("unit_id", kind="mergesort")
    except TypeError:  # mixed id types: order them by their text
        df = df.sort_values("unit_id", kind="mergesort", key=lambda s: s.astype(str))
    # a stable sort on revenue keeps the unit_id order within ties
    return df.sort_values("revenue", ascending=False, kind="mergesort").reset_index(drop=True)


def pareto(revenue: pd.Series, a: float = 0.8, b: float = 0.95) -> ParetoResult:
    """Pareto curve, top-20 % share, Gini and A/B/C classes of revenue per unit.

    Parameters
    ----------
    revenue
        Net revenue per unit, indexed by ``unit_id`` (unique). Zero,
        negative and missing values are left out.
    a, b
        Cumulative-share thresholds of the A and B classes, ``0 < a < b < 1``.

    Returns
    -------
    ParetoResult

    Raises
    ------
    DataTooThinError
        When no unit has positive revenue.
    UsageError
        Bad thresholds, or duplicate unit ids.

    Examples
    --------
    >>> r = pareto(pd.Series([40.0, 40.0, 20.0], index=["y", "x", "z"]))
    >>> r.curve["unit_id"].tolist(), r.curve["abc"].tolist()  # tie 40/40 broken by id
    (['x', 'y', 'z'], ['A', 'A', 'B'])
    >>> r.abc["A"]
    {'accounts': 2, 'revenue': 80.0, 'share_accounts': 0.6666666666666666, 'share_revenue': 0.8}
    """
    _check_thresholds(a, b)
    if revenue.index.has_duplicates:
        raise UsageError("revenue must have one value per unit; the unit ids are not unique")
    df = _ordered(revenue)
    n = len(df)
    if n == 0:
        raise DataTooThinError(
            "no account has positive revenue in the window: nothing to rank (check the dates and credit notes)"
        )
    x = df["revenue"].to_numpy()
    total = float(x.sum())
    cum = np.cumsum(x)
    before = np.concatenate([[0.0], cum[:-1]]) / total
    abc = np.where(before < a - _EPS, "A", np.where(before < b - _EPS, "B", "C"))
    rank = np.arange(1, n + 1)
    curve = pd.DataFrame(
        {
            "rank": rank,
            "unit_id": df["unit_id"].to_numpy(),
            "revenue": x,
            "share_accounts": rank / n,
            "share_revenue": cum / total,
            "abc": abc,
        }
    )
    top = -(-n // 5)  # ceil(0.2 n) in integers: 0.2 * n in floats can land just above a whole number
    classes = {}
    for k in CLASSES:
        mask = abc == k
        rev_k = float(x[mask].sum())
        classes[k] = {
            "accounts": int(mask.sum()),
            "revenue": rev_k,
            "share_accounts": float(mask.sum()) / n,
            "share_revenue": rev_k / total,
        }
    return ParetoResult(
        accounts=n,
        revenue=total,
        top20_share=float(cum[top - 1]) / total,
        gini=gini(x),
        curve=curve,
        abc=classes,
        thresholds=(float(a), float(b)),
        excluded=int(len(revenue) - n),
    )
