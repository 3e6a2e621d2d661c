"""Layering: two schemes' labels combined into one cross segment (SPEC §4.4, seeds 000, 002).

"Firmographic tier × needs cluster" is how a-priori segments gain the nuance
they lack on their own. :func:`layer` pairs two label arrays unit by unit
(``enterprise × values support``); a unit missing either label is
``unknown`` on that side. Cross cells multiply quickly, so cells smaller
than ``min_size`` units can be pooled into ``<first label> × other``.
:func:`layer_table` is the contingency table behind it, with counts and the
share of each first-scheme segment that falls in each second-scheme one.

Examples
--------
>>> layer(["enterprise", "SMB", None], ["values support", "values price", "values price"]).tolist()
['enterprise × values support', 'SMB × values price', 'unknown × values price']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sikta.errors import UsageError

__all__ = ["layer", "layer_table", "SEP", "UNKNOWN", "OTHER"]

SEP = " × "
UNKNOWN = "unknown"
OTHER = "other"


def _labels(x: Sequence[object] | pd.Series | np.ndarray, name: str) -> pd.Series:
    s = x if isinstance(x, pd.Series) else pd.Series(list(x) if not isinstance(x, np.ndarray) else x)
    s = s.astype(object)
    return s.where(s.notna(), UNKNOWN).map(str).rename(name)


def _align(a, b) -> tuple[pd.Series, pd.Series]:
    sa, sb = _labels(a, "first"), _labels(b, "second")
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if not sa.index.equals(sb.index):
            if set(sa.index) != set(sb.index):
                raise UsageError("layering: the two label series cover different units")
            sb = sb.reindex(sa.index)
    elif len(sa) != len(sb):
        raise UsageError(f"layering: {len(sa)} labels in the first scheme but {len(sb)} in the second")
    else:
        sb.index = sa.index
    return sa, sb


def layer(
    first: Sequence[object] | pd.Series,
    second: Sequence[object] | pd.Series,
    *,
    min_size: int = 0,
    sep: str = SEP,
) -> pd.Series:
    """Cross segment of two label arrays, unit by unit.

    Parameters
    ----------
    first, second : array-like or pandas.Series
        One label per unit; two Series are aligned on their index (they must
        cover the same units), anything else by position. Missing labels
        read as ``unknown``.
    min_size : int, default 0
        Cells with fewer units become ``<first> × other``.
    sep : str, default " × "

    Returns
    -------
    pandas.Series
        ``"<first> × <second>"`` per unit, on the first input's index.

    Examples
    --------
    >>> a = ["SMB"] * 4 + ["enterprise"]
    >>> b = ["price", "price", "price", "support", "support"]
    >>> layer(a, b, min_size=2).tolist()
    ['SMB × price', 'SMB × price', 'SMB × price', 'SMB × other', 'enterprise × other']
    """
    if not isinstance(min_size, (int, np.integer)) or min_size < 0:
        raise UsageError(f"layering: min_size must be a non-negative integer, not {min_size!r}")
    sa, sb = _align(first, second)
    out = sa + sep + sb
    if min_size:
        small = out.map(out.value_counts()) < min_size
        out = out.where(~small, sa + sep + OTHER)
    return out.rename("segment")


def layer_table(first: Sequence[object] | pd.Series, second: Sequence[object] | pd.Series) -> pd.DataFrame:
    """Units per (first, second) pair, and each pair's share of its first-scheme segment.

    Examples
    --------
    >>> t = layer_table(["SMB", "SMB", "SMB", "enterprise"], ["price", "price", "support", "support"])
    >>> t.round(3).values.tolist()
    [['SMB', 'price', 2, 0.667], ['SMB', 'support', 1, 0.333], ['enterprise', 'support', 1, 1.0]]
    """
    sa, sb = _align(first, second)
    t = pd.DataFrame({"first": sa, "second": sb}).value_counts().rename("n_units").reset_index()
    t["share_of_first"] = t.n_units / t.groupby("first").n_units.transform("sum")
    return t.sort_values(["first", "n_units", "second"], ascending=[True, False, True], kind="mergesort").reset_index(
        drop=True
    )
