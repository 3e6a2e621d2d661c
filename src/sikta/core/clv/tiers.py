"""Value tiers: A/B/C by cumulative share of a value (revenue, margin or CLV) per unit (SPEC §4.4).

The same rule as the Pareto A/B/C classes of the customer analysis
(:mod:`sikta.core.pareto`), applied to any value: units are ordered by value,
biggest first (ties by unit id); a unit is **A** while the cumulative share of
the units ranked *before* it is below ``a``, **B** while it is below ``b``,
else **C**. So A is the smallest top set that carries ``a`` of the total (the
unit that crosses the threshold is still A), and A + B the smallest that
carries ``b``.

Units whose value is zero or negative have no share of the total to rank:
they are **C** (they are worth nothing, or cost more than they bring). Units
without a value (missing: a prospect without a CLV) get no tier (``None``).

Examples
--------
>>> value_tiers([50.0, 30.0, 15.0, 5.0, 0.0, None], ["a", "b", "c", "d", "e", "f"]).tolist()
['A', 'A', 'B', 'C', 'C', None]
>>> TIER_SCORE["A"], TIER_SCORE["C"]
(3, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sikta.errors import UsageError

__all__ = ["TIERS", "TIER_SCORE", "tier_summary", "value_tiers"]

TIERS = ("A", "B", "C")
#: the number a matrix parameter reads for a tier (higher is more valuable)
TIER_SCORE = {"A": 3, "B": 2, "C": 1}
_EPS = 1e-12  # running totals of floats may land a hair past a threshold


def value_tiers(values, unit_ids: Sequence | None = None, *, a: float = 0.8, b: float = 0.95) -> np.ndarray:
    """A/B/C per unit by cumulative share of ``values`` (see the module notes).

    Parameters
    ----------
    values
        One value per unit (revenue, margin, CLV, ...); missing values are
        allowed and get no tier.
    unit_ids
        The units' ids, to break ties reproducibly (default: the position).
    a, b
        Cumulative-share thresholds, ``0 < a < b < 1``.

    Returns
    -------
    numpy.ndarray
        ``"A"``, ``"B"``, ``"C"`` or ``None`` per unit, in the input order.

    Raises
    ------
    UsageError
        Thresholds out of order, or ``unit_ids`` of another length.

    Examples
    --------
    >>> value_tiers([40.0, 40.0, 20.0], ["y", "x", "z"]).tolist()  # the tie is broken by id: x first
    ['A', 'A', 'B']
    >>> value_tiers([10.0, 10.0], a=0.3, b=0.6).tolist()  # the first unit crosses 0.3, the second 0.6
    ['A', 'B']
    """
    if not (0.0 < a < b < 1.0):
        raise UsageError(f"value tier thresholds must satisfy 0 < a < b < 1, got a={a}, b={b}")
    x = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").astype(float).to_numpy()
    n = len(x)
    ids = np.arange(n) if unit_ids is None else np.asarray(list(unit_ids), dtype=object)
    if len(ids) != n:
        raise UsageError(f"one unit id per value: {len(ids)} ids for {n} values")
    out = np.full(n, None, dtype=object)
    known = ~np.isnan(x)
    out[known] = "C"
    positive = np.flatnonzero(known & (x > 0))
    if len(positive) == 0:
        return out
    frame = pd.DataFrame({"pos": positive, "id": [str(i) for i in ids[positive]], "x": x[positive]})
    frame = frame.sort_values("id", kind="mergesort").sort_values("x", ascending=False, kind="mergesort")
    v = frame["x"].to_numpy()
    before = np.concatenate([[0.0], np.cumsum(v)[:-1]]) / v.sum()
    out[frame["pos"].to_numpy()] = np.where(before < a - _EPS, "A", np.where(before < b - _EPS, "B", "C"))
    return out


def tier_summary(tiers, values) -> dict[str, dict[str, float]]:
    """Units and value per tier, and their shares (of units with a tier, of the positive total).

    Examples
    --------
    >>> tier_summary(["A", "B", "C", None], [8.0, 1.5, 0.5, None])["A"]
    {'units': 1, 'value': 8.0, 'share_units': 0.3333333333333333, 'share_value': 0.8}
    """
    t = np.asarray(list(tiers), dtype=object)
    x = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").astype(float).to_numpy()
    has = np.array([v is not None for v in t], dtype=bool)
    total = float(np.nansum(np.where(x > 0, x, 0.0)))
    units = int(has.sum())
    out = {}
    for k in TIERS:
        m = has & (t == k)
        value = float(np.nansum(x[m]))
        out[k] = {
            "units": int(m.sum()),
            "value": value,
            "share_units": float(m.sum()) / units if units else 0.0,
            "share_value": value / total if total > 0 else 0.0,
        }
    return out
