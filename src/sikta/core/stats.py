"""Effect sizes: how strongly one feature differs between two groups (SPEC §4.2, §4.5).

Used to say what characterizes the best customers compared to the rest, and
later how distinct two segments are. Pure numpy/pandas maths; missing values
are dropped per feature (how much is missing is reported as ``coverage``).

* **Cohen's d** for numeric features: difference of the group means over
  the pooled standard deviation (sample variances, ``ddof=1``). Rough scale:
  0.2 small, 0.5 medium, 0.8 large.
* **Cramér's V** for categorical features: ``sqrt(chi2 / (n * (min(r, c) - 1)))``
  on the category × group contingency table, chi-squared without Yates'
  continuity correction (the *plain* V, equal to
  ``scipy.stats.contingency.association(table, method="cramer")``). It lies
  in [0, 1] and has no sign. ``bias_correction=True`` gives Bergsma's (2013)
  bias-corrected V, which shrinks the spurious association that many rare
  categories produce in small samples.

Examples
--------
>>> cohens_d([1, 2, 3], [4, 5, 6])
-3.0
>>> round(cramers_v(["a"] * 30 + ["b"] * 30, [True] * 20 + [False] * 10 + [True] * 10 + [False] * 20), 4)
0.3333
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sikta.errors import UsageError

__all__ = ["cohens_d", "cramers_v", "effect_sizes", "split_kinds", "MISSING"]

#: label of missing values where a category is needed (effect_sizes' top category never is one)
MISSING = "(missing)"


def _numeric(values: object) -> np.ndarray:
    """Float array with NaN for missing; nullable ints and objects holding numbers are accepted."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if s.dtype == bool:
        s = s.astype(float)
    return pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)


def split_kinds(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Split columns into numeric and categorical ones, as :func:`effect_sizes` wants them.

    Nullable integer columns often arrive from the engine with ``object``
    dtype (numbers and ``None``); they count as numeric when every present
    value parses as a number. Booleans are numeric (0/1).

    Examples
    --------
    >>> df = pd.DataFrame({"sites": [3, None, 5], "industry": ["it", "retail", None], "nps": [9.0, 7.5, None]})
    >>> df["sites"] = df["sites"].astype(object)
    >>> split_kinds(df)
    (['sites', 'nps'], ['industry'])
    """
    numeric, categorical = [], []
    for col in frame.columns if columns is None else columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
            continue
        present = s.dropna()
        parsed = pd.to_numeric(present, errors="coerce")
        is_number = not isinstance(s.dtype, pd.CategoricalDtype) and len(present) > 0 and parsed.notna().all()
        (numeric if is_number else categorical).append(col)
    return numeric, categorical


def cohens_d(a: Sequence[float] | np.ndarray | pd.Series, b: Sequence[float] | np.ndarray | pd.Series) -> float:
    """Cohen's d of ``a`` against ``b``: ``(mean(a) - mean(b)) / pooled SD``.

    Parameters
    ----------
    a, b
        Numeric values of the two groups; NaN / None are dropped.

    Returns
    -------
    float
        Positive when ``a`` is larger on average. The pooled SD is
        ``sqrt(((na - 1) var_a + (nb - 1) var_b) / (na + nb - 2))`` with
        sample variances. When it is 0 (both groups constant) the result is
        0.0 if the means are equal and ``±inf`` if they differ (a perfect
        separation has no finite d). NaN when a group is empty or there are
        fewer than 3 values in all (no pooled SD).

    Examples
    --------
    >>> cohens_d([1, 2, 3], [4, 5, 6])
    -3.0
    >>> cohens_d([2, 2, None], [2, 2])
    0.0
    >>> cohens_d([1, 1], [0, 0])
    inf
    """
    x, y = _numeric(a), _numeric(b)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    na, nb = len(x), len(y)
    if na == 0 or nb == 0 or na + nb < 3:
        return math.nan
    diff = float(x.mean() - y.mean())
    ss = (x.var(ddof=0) * na) + (y.var(ddof=0) * nb)  # = (na-1) var_a + (nb-1) var_b
    pooled = math.sqrt(ss / (na + nb - 2))
    # Float noise in a constant group's variance must not turn 0/0 into a huge d.
    scale = max(abs(float(x.mean())), abs(float(y.mean())), 1.0)
    if pooled <= 1e-12 * scale:
        return 0.0 if abs(diff) <= 1e-12 * scale else math.copysign(math.inf, diff)
    return diff / pooled


def _table(x_categories: object, group_bool: object) -> pd.DataFrame:
    x = pd.Series(x_categories).reset_index(drop=True)
    g = pd.Series(group_bool).reset_index(drop=True)
    if len(x) != len(g):
        raise UsageError(f"categories and groups differ in length ({len(x)} vs {len(g)})")
    keep = x.notna() & g.notna()
    return pd.crosstab(x[keep].astype(str), g[keep].astype(bool))


def cramers_v(
    x_categories: Sequence[object] | pd.Series, group_bool: Sequence[bool] | pd.Series, *, bias_correction: bool = False
) -> float:
    """Cramér's V between a categorical feature and a boolean group.

    Parameters
    ----------
    x_categories
        One category per row; missing values are dropped (with their rows).
    group_bool
        Group membership per row (e.g. ``is_best``); same length.
    bias_correction
        False (default): the plain V, no continuity correction - for two
        groups it is the absolute phi coefficient of each category split.
        True: Bergsma's bias-corrected V.

    Returns
    -------
    float
        In [0, 1]; 0.0 when there is only one category or one group left
        (nothing to associate).

    Examples
    --------
    A 2×2 table ``[[20, 10], [10, 20]]``: phi = (20·20 - 10·10) / 30² = 1/3.

    >>> x = ["a"] * 30 + ["b"] * 30
    >>> g = [True] * 20 + [False] * 10 + [True] * 10 + [False] * 20
    >>> round(cramers_v(x, g), 6)
    0.333333
    >>> round(cramers_v(x, g, bias_correction=True), 4)
    0.3095
    """
    table = _table(x_categories, group_bool).to_numpy(dtype=float)
    if table.ndim != 2 or min(table.shape) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(axis=1, keepdims=True) @ table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    r, k = table.shape
    if not bias_correction:
        return math.sqrt(chi2 / (n * (min(r, k) - 1)))
    if n <= 1:
        return 0.0
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_c = r - (r - 1) ** 2 / (n - 1)
    k_c = k - (k - 1) ** 2 / (n - 1)
    denom = min(r_c - 1, k_c - 1)
    return 0.0 if denom <= 0 else math.sqrt(phi2 / denom)


def _top_category(x: pd.Series, g: pd.Series) -> tuple[object, float, float]:
    """Category most over-represented in the group, with its share in the group and in the rest."""
    keep = x.notna()
    cats = x[keep].astype(str)
    best = cats[g[keep]].value_counts(normalize=True)
    rest = cats[~g[keep]].value_counts(normalize=True)
    if best.empty:
        return None, math.nan, math.nan
    shares = pd.DataFrame({"best": best, "rest": rest}).fillna(0.0)
    shares["lift"] = shares["best"] - shares["rest"]
    # Stable order: largest lift, then the larger best share, then the name.
    shares = shares.reset_index(names="category").sort_values(
        ["lift", "best", "category"], ascending=[False, False, True], kind="mergesort"
    )
    top = shares.iloc[0]
    return top["category"], float(top["best"]), float(top["rest"])


def effect_sizes(
    frame: pd.DataFrame,
    group: pd.Series,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    *,
    bias_correction: bool = False,
) -> pd.DataFrame:
    """Effect size of each feature between a group (e.g. the best customers) and the rest.

    Parameters
    ----------
    frame
        One row per unit.
    group
        Boolean per row of ``frame`` (aligned on the index); rows where it
        is missing belong to neither side.
    numeric, categorical
        Column names; numeric ones get Cohen's d, categorical ones Cramér's V.
    bias_correction
        Passed to :func:`cramers_v`.

    Returns
    -------
    pandas.DataFrame
        One row per feature: ``feature``, ``kind`` ('numeric' / 'categorical'),
        ``effect`` (d, signed: positive = higher in the group; or V, in
        [0, 1]), ``abs_effect``, ``best_mean`` / ``rest_mean`` (numeric),
        ``top_category`` / ``best_share`` / ``rest_share`` (categorical: the
        category whose share in the group exceeds its share in the rest the
        most, and those two shares), ``coverage`` (share of the rows with a
        value) and ``n_best`` / ``n_rest`` (rows with a value per side).
        Sorted by ``abs_effect``, largest first (NaN last). d and V are on
        different scales - compare like with like within ``kind``.

    Examples
    --------
    >>> df = pd.DataFrame({"sites": [5, 4, 6, 1, 2, 1], "industry": ["it", "it", "it", "it", "retail", "retail"]})
    >>> g = pd.Series([True, True, True, False, False, False])
    >>> out = effect_sizes(df, g, numeric=["sites"], categorical=["industry"])
    >>> out[["feature", "kind", "effect"]].round(3).values.tolist()
    [['sites', 'numeric', 4.491], ['industry', 'categorical', 0.707]]
    >>> out.loc[1, "top_category"], out.loc[1, ["best_share", "rest_share"]].astype(float).round(3).tolist()
    ('it', [1.0, 0.333])
    """
    g = pd.Series(group).reindex(frame.index) if isinstance(group, pd.Series) else pd.Series(group, index=frame.index)
    known = g.notna()
    g = g[known].astype(bool)
    rows = []
    for col in numeric:
        if col not in frame.columns:
            raise UsageError(f"no column {col!r} in the frame")
        x = pd.Series(_numeric(frame[col]), index=frame.index)[known]
        a, b = x[g].dropna(), x[~g].dropna()
        d = cohens_d(a, b)
        rows.append({
            "feature": col, "kind": "numeric", "effect": d, "abs_effect": abs(d),
            "best_mean": a.mean() if len(a) else math.nan, "rest_mean": b.mean() if len(b) else math.nan,
            "top_category": None, "best_share": math.nan, "rest_share": math.nan,
            "coverage": float(x.notna().mean()) if len(x) else math.nan, "n_best": len(a), "n_rest": len(b),
        })
    for col in categorical:
        if col not in frame.columns:
            raise UsageError(f"no column {col!r} in the frame")
        x = frame[col][known]
        v = cramers_v(x, g, bias_correction=bias_correction)
        top, bs, rs = _top_category(x, g)
        rows.append({
            "feature": col, "kind": "categorical", "effect": v, "abs_effect": abs(v),
            "best_mean": math.nan, "rest_mean": math.nan,
            "top_category": top, "best_share": bs, "rest_share": rs,
            "coverage": float(x.notna().mean()) if len(x) else math.nan,
            "n_best": int(x[g].notna().sum()), "n_rest": int(x[~g].notna().sum()),
        })
    columns = ["feature", "kind", "effect", "abs_effect", "best_mean", "rest_mean",
               "top_category", "best_share", "rest_share", "coverage", "n_best", "n_rest"]
    out = pd.DataFrame(rows, columns=columns)
    out = out.sort_values("abs_effect", ascending=False, na_position="last", kind="mergesort")
    return out.reset_index(drop=True)
