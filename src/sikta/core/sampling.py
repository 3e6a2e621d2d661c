"""Deterministic stratified sampling quotas, for charts that cannot show every unit.

Examples
--------
>>> sum(stratified_quota({"a": 5_000, "b": 50, "c": 0}, 1_000).values())
1000
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["stratified_quota"]


def stratified_quota(counts: Mapping[str, int], max_points: int) -> dict[str, int]:
    """How many units of each group a sample of at most ``max_points`` keeps.

    Every non-empty group keeps at least ``min(its size, max_points // (4 × groups))``
    (so small groups stay visible); the rest is shared in proportion to size,
    by largest remainder. Without sampling (total ≤ max_points) every unit is kept.

    Examples
    --------
    >>> stratified_quota({"invest": 10, "maintain": 990}, 100)  # invest would get 1 in proportion
    {'invest': 10, 'maintain': 90}
    >>> stratified_quota({"invest": 1, "maintain": 990}, 100)
    {'invest': 1, 'maintain': 99}
    >>> stratified_quota({"invest": 3, "maintain": 5}, 100)
    {'invest': 3, 'maintain': 5}
    """
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    counts = {g: int(n) for g, n in counts.items()}
    if sum(counts.values()) <= max_points:
        return counts
    present = sorted((g for g, n in counts.items() if n > 0), key=lambda g: (-counts[g], g))
    if len(present) > max_points:  # fewer points than groups: one each for the biggest
        return {g: int(g in present[:max_points]) for g in counts}
    floor = max(1, max_points // (4 * len(present)))
    quota = {g: min(n, floor) for g, n in counts.items()}
    left = max_points - sum(quota.values())
    rest = {g: counts[g] - quota[g] for g in counts}
    rest_total = sum(rest.values())
    share = {g: left * rest[g] / rest_total for g in counts}
    add = {g: math.floor(s) for g, s in share.items()}
    for g in sorted(counts, key=lambda g: (-(share[g] - add[g]), g))[: left - sum(add.values())]:
        add[g] += 1
    return {g: min(counts[g], quota[g] + add[g]) for g in counts}
