"""Segment profiles in z units and in plain words, shared by the clustering schemes (SPEC §4.4).

A segment is described by what sets it apart: for each variable the
segment's mean minus the mean of all profiled units, in units of their
standard deviation (``z``). ``|z| ≥ 0.5`` (half a standard deviation, a
"medium" difference on Cohen's scale) counts as distinctive; the words
name at most three variables on each side, strongest first.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"need_price": [5, 5, 1, 1], "need_support": [1, 2, 5, 4]})
>>> z = z_profile(df, [0, 0, 1, 1], ["need_price", "need_support"])
>>> z.round(2).to_dict("index")
{0: {'need_price': 0.87, 'need_support': -0.82}, 1: {'need_price': -0.87, 'need_support': 0.82}}
>>> describe(z.loc[1], words=item_word)
'values support; price matters little'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["DISTINCT", "z_profile", "describe", "phrase", "item_word", "unique_labels"]

#: |z| from which a variable counts as distinctive for a segment
DISTINCT = 0.5
#: at most this many variables named on each side
MAX_NAMED = 3


def z_profile(frame: pd.DataFrame, labels: Sequence[object] | np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Mean of each column per segment, relative to all rows, in z units.

    Parameters
    ----------
    frame : pandas.DataFrame
        The profiled units only (no "no answers" rows).
    labels : array-like
        Segment of each row.
    columns : list of str
        Numeric columns; missing values are left out per column.

    Returns
    -------
    pandas.DataFrame
        One row per segment (sorted), one column per variable:
        ``(segment mean - overall mean) / overall SD`` (sample SD). A
        constant column gives 0.

    Examples
    --------
    >>> z_profile(pd.DataFrame({"x": [1.0, 3.0]}), ["a", "b"], ["x"]).x.round(3).tolist()
    [-0.707, 0.707]
    """
    X = frame[list(columns)].apply(pd.to_numeric, errors="coerce").astype(float)
    mean, sd = X.mean(), X.std(ddof=1)
    sd = sd.where(sd > 0, np.inf)  # a constant column distinguishes nobody
    by = X.groupby(np.asarray(labels)).mean()
    return ((by - mean) / sd).fillna(0.0)


def item_word(column: str) -> str:
    """The plain word of a survey or behavior column: prefix and underscores dropped.

    ``rev12_<line>`` (revenue of a product line) and ``attr_<name>`` (a mapped
    account attribute) read as the line or attribute.

    Examples
    --------
    >>> item_word("need_price"), item_word("pain_slow_delivery"), item_word("Detergents_Paper")
    ('price', 'slow delivery', 'Detergents Paper')
    >>> item_word("rev12_detergents_paper"), item_word("attr_segment")
    ('detergents paper', 'segment')
    """
    for prefix in ("need_", "pain_", "rev12_", "attr_"):
        if column.startswith(prefix):
            column = column[len(prefix):]
    return column.replace("_", " ")


def phrase(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    Examples
    --------
    >>> phrase(["price"]), phrase(["price", "speed"]), phrase(["a", "b", "c"])
    ('price', 'price and speed', 'a, b and c')
    """
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _sides(z: pd.Series, threshold: float) -> tuple[list[str], list[str]]:
    z = z.dropna()
    high = z[z >= threshold].sort_values(ascending=False, kind="mergesort").index[:MAX_NAMED]
    low = z[z <= -threshold].sort_values(kind="mergesort").index[:MAX_NAMED]
    return list(high), list(low)


def describe(
    z: pd.Series,
    *,
    words: Callable[[str], str] = item_word,
    high: str = "values {}",
    low: str = "{} {verb} little",
    neutral: str = "close to the average on every need",
    threshold: float = DISTINCT,
) -> str:
    """One segment's profile in words, from its z row.

    Parameters
    ----------
    z : pandas.Series
        z per variable (a row of :func:`z_profile`).
    words : callable
        Column name -> word.
    high, low : str
        Templates for the distinctive high and low variables; ``{}`` gets
        the phrase, ``{verb}`` "matters" / "matter".
    neutral : str
        Text when no variable reaches the threshold.
    threshold : float
        ``|z|`` from which a variable is named (default 0.5).

    Examples
    --------
    >>> describe(pd.Series({"need_support": 1.2, "need_training": 0.7, "need_price": -0.9, "need_speed": 0.1}))
    'values support and training; price matters little'
    >>> describe(pd.Series({"Fresh": 0.8, "Grocery": -1.0}), high="high {}", low="low {}")
    'high Fresh; low Grocery'
    """
    hi, lo = _sides(z, threshold)
    parts = []
    if hi:
        parts.append(high.format(phrase([words(c) for c in hi])))
    if lo:
        parts.append(low.format(phrase([words(c) for c in lo]), verb="matters" if len(lo) == 1 else "matter"))
    return "; ".join(parts) if parts else neutral


def unique_labels(rankings: Sequence[Sequence[str]], fallback: str = "segment") -> list[str]:
    """Short unique labels: each segment's first word, adding its next words while labels collide.

    Parameters
    ----------
    rankings : list of list of str
        Per segment, its words strongest first (may be empty).
    fallback : str
        Label of a segment without words; numbered when needed.

    Examples
    --------
    >>> unique_labels([["support", "speed"], ["support", "price"], ["price"], []])
    ['support and speed', 'support and price', 'price', 'segment']
    >>> unique_labels([["x"], ["x"]])
    ['x', 'x (2)']
    """
    n = len(rankings)
    depth = [1] * n

    def label(i: int) -> str:
        r = list(rankings[i])
        return phrase(r[: depth[i]]) if r else fallback

    for _ in range(MAX_NAMED):  # deepen colliding labels, at most MAX_NAMED words
        labels = [label(i) for i in range(n)]
        clash = [i for i in range(n) if labels.count(labels[i]) > 1 and depth[i] < len(rankings[i])]
        if not clash:
            break
        for i in clash:
            depth[i] += 1
    labels = [label(i) for i in range(n)]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out
