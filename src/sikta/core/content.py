"""Content by context: which catalog items fit each unit, and why (SPEC §4.6, seed 000).

Seed 000, "content vs. context": a large company should not get content
written for a small one; onboarding content belongs to customers that are
onboarding, not to customers of many years; a customer who needs help with
its CRM does not need content on warehouse efficiency.

**Catalog** (one row per item): ``item_id``, optional ``title``, and tag
columns - ``group``, ``segment``, ``size_band``, ``lifecycle_stage``,
``need``, ``channel``. A tag cell holds the values the item is for (a list,
or text with values separated by ``|`` or ``;``); an empty cell means "for
everyone" on that dimension. An absent column is empty everywhere.

**Unit context** (one row per unit): ``unit_id``, ``group``, ``segment``,
``size_band`` (see :func:`size_band`), ``lifecycle_stage``, ``needs`` (a
list, or text separated by ``|`` or ``;``; see :func:`needs_from_scores`) and
``channel_preference``. Absent columns are empty.

**Matching** (values compared as in :mod:`sikta.core.conditions`):

* ``group``, ``segment``, ``size_band``, ``lifecycle_stage`` are *strict*:
  an item tagged on one of them fits only units whose value is among its
  tags; a unit with no value there gets no item tagged on it. So small-
  business content (``size_band: small``) never reaches a large company,
  and onboarding content (``lifecycle_stage: onboarding``) only reaches
  units that are onboarding;
* ``need`` is strict too: an item tagged with needs fits a unit that has at
  least one of them; an item without need tags is general content;
* ``channel`` only ranks: an item offered on the unit's preferred channel
  comes first, but one on another channel is not withheld.

Each fitting item gets a **score** - the number of strict dimensions it is
tagged on (more specific first) plus one when its channel is the preferred
one - and a **reason** listing what matched. Per unit, items are ranked by
score, then catalog order.

Examples
--------
>>> catalog = pd.DataFrame({"item_id": ["smb-guide", "onb-kit", "crm-howto", "news"],
...                         "size_band": ["small", None, None, None],
...                         "lifecycle_stage": [None, "onboarding", None, None],
...                         "need": [None, None, "crm", None]})
>>> units = pd.DataFrame({"unit_id": ["big", "new-small"], "size_band": ["large", "small"],
...                       "lifecycle_stage": ["established", "onboarding"], "needs": [["crm"], []]})
>>> m = match_content(units, catalog)
>>> m.groupby("unit_id", sort=False)["item_id"].apply(list).to_dict()
{'big': ['crm-howto', 'news'], 'new-small': ['smb-guide', 'onb-kit', 'news']}
>>> m.loc[m["item_id"] == "crm-howto", "reason"].item()
'need=crm'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sikta.core.conditions import normalize
from sikta.core.frames import number_column, require_columns, unique_ids
from sikta.errors import InputError

__all__ = ["STRICT", "DEFAULT_SIZE_BANDS", "match_content", "needs_from_scores", "size_band"]

#: dimensions an item must match when it is tagged on them (``need`` matches any of the unit's needs)
STRICT = ("group", "segment", "size_band", "lifecycle_stage")
#: (label, lowest employees, first employees above the band) - the band is lowest <= employees < upper
DEFAULT_SIZE_BANDS: tuple[tuple[str, float, float | None], ...] = (
    ("small", 0, 50),
    ("mid", 50, 1000),
    ("large", 1000, None),
)
_SPLIT = re.compile(r"[|;]")


def size_band(employees: Any, bands: Sequence[tuple[str, float, float | None]] = DEFAULT_SIZE_BANDS) -> np.ndarray:
    """Size band per unit from its employees (empty → None); bands are ``lowest <= n < upper``.

    Examples
    --------
    >>> size_band([3, 50, 999, 1000, None]).tolist()
    ['small', 'mid', 'mid', 'large', None]
    """
    values = pd.to_numeric(pd.Series(employees, dtype=object), errors="coerce").to_numpy(dtype=float)
    out = np.full(len(values), None, dtype=object)
    for label, lo, hi in bands:
        inside = (values >= lo) & (values < (np.inf if hi is None else hi))
        out[inside & (out == None)] = label  # noqa: E711 - elementwise on an object array
    return out


def needs_from_scores(units: pd.DataFrame, prefix: str = "need_", threshold: float = 4.0) -> pd.Series:
    """The needs of each unit: the ``<prefix><need>`` columns scoring at least ``threshold``.

    The engine's ``need_<item>`` features are mean importances on a 1-5
    scale; 4 ("important") is the default bar.

    Examples
    --------
    >>> df = pd.DataFrame({"need_crm": [5.0, 2.0], "need_logistics": [4.0, None]})
    >>> needs_from_scores(df).tolist()
    [['crm', 'logistics'], []]
    """
    cols = [c for c in units.columns if isinstance(c, str) and c.startswith(prefix)]
    scores = {c[len(prefix):]: number_column(units, "units", c, missing=np.nan, key=None) for c in cols}
    needs = [[name for name, s in scores.items() if s[i] >= threshold] for i in range(len(units))]
    return pd.Series(needs, index=units.index, name="needs", dtype=object)


def _tags(cell: Any) -> frozenset:
    """A tag cell as a set of normalized values; empty set = for everyone."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return frozenset()
    if isinstance(cell, (list, tuple, set, frozenset, np.ndarray)):
        values = list(cell)
    elif isinstance(cell, str):
        values = _SPLIT.split(cell)
    else:
        values = [cell]
    return frozenset(v for v in (normalize(x) for x in values) if v is not None)


def _label(values: frozenset) -> str:
    return "|".join(sorted(f"{v:g}" if isinstance(v, float) else str(v) for v in values))


def match_content(units: pd.DataFrame, catalog: pd.DataFrame, *, limit: int | None = None,
                  explain: bool = False) -> pd.DataFrame:
    """The catalog items that fit each unit's context, ranked, with the reason.

    Parameters
    ----------
    units, catalog
        See the module docstring.
    limit
        At most this many items per unit (the best ranked).
    explain
        Also list the items that do not fit, with ``fits`` False and the
        reason they were withheld (e.g. ``size_band: for small, the unit is
        large``) - meant for one account at a time.

    Returns
    -------
    pandas.DataFrame
        ``unit_id``, ``item_id``, ``title`` (None without a title column),
        ``rank`` (1 = best; None when withheld), ``score``, ``fits`` and
        ``reason``; by unit (input order) then rank.
    """
    require_columns(units, "units", ("unit_id",))
    require_columns(catalog, "catalog", ("item_id",))
    unique_ids(units, "units", "unit_id")
    unique_ids(catalog, "catalog", "item_id")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be a whole number >= 1, got {limit!r}")
    n, k = len(units), len(catalog)
    columns = ["unit_id", "item_id", "title", "rank", "score", "fits", "reason"]
    if n == 0 or k == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    records = catalog.to_dict("records")
    dims = (*STRICT, "need", "channel")
    tags = {d: [_tags(it.get(d)) for it in records] for d in dims}
    tagged = {d: np.array([bool(t) for t in ts]) for d, ts in tags.items()}

    # Units differ in few contexts: work on the distinct values of each dimension (codes per unit).
    def distinct(raw: Sequence[Any], to_value) -> tuple[np.ndarray, list[Any]]:
        cells = pd.Series([tuple(v) if isinstance(v, (list, set, np.ndarray)) else v for v in raw], dtype=object)
        codes, uniques = pd.factorize(cells, use_na_sentinel=False)
        # several raw values can mean the same ("Invest", "invest "): merge them after normalizing
        values = [to_value(None if v is None or (isinstance(v, float) and np.isnan(v)) else v) for v in uniques]
        merged, kept = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
        return merged[codes], [None if isinstance(v, float) and np.isnan(v) else v for v in kept]

    def column(d: str) -> Sequence[Any]:
        return units[d].to_numpy(dtype=object) if d in units.columns else [None] * n

    code, value = {}, {}
    for d in STRICT:
        code[d], value[d] = distinct(column(d), normalize)
    code["need"], value["need"] = distinct(column("needs"), _tags)
    code["channel"], value["channel"] = distinct(column("channel_preference"), normalize)
    # does distinct value v match item j on dimension d (True where the item is untagged)?
    table = {}
    for d in dims:
        t = np.ones((len(value[d]), k), dtype=bool)
        for jj in np.flatnonzero(tagged[d]):
            if d == "need":
                t[:, jj] = [bool(v & tags[d][jj]) for v in value[d]]
            else:
                t[:, jj] = [v is not None and v in tags[d][jj] for v in value[d]]
        table[d] = t
    fits = np.logical_and.reduce([table[d][code[d]] for d in (*STRICT, "need")])
    score = sum((table[d][code[d]] & tagged[d][None, :]).astype(np.int64) for d in dims)

    # rank within each unit: fitting items by score, then catalog order
    key = np.where(fits, score * (k + 1) + (k - 1 - np.arange(k))[None, :], -1)
    order = np.argsort(-key, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(1, k + 1), (n, k)).copy(), axis=1)
    take = fits if limit is None else fits & (rank <= limit)
    if explain:
        take = take | ~fits
    u, j = np.nonzero(take)
    sort = np.lexsort((rank[u, j], u))
    u, j = u[sort], j[sort]

    # the reason depends only on the item and the unit's distinct values: build each once
    radix = [k] + [max(len(value[d]), 1) for d in dims]
    if np.prod(np.array(radix, dtype=float)) < 2.0**62:  # one integer per combination: a fast 1-D unique
        flat = j.astype(np.int64)
        for d, r in zip(dims, radix[1:], strict=True):
            flat = flat * r + code[d][u]
        _, first, back = np.unique(flat, return_index=True, return_inverse=True)
        combos = np.column_stack([j[first]] + [code[d][u[first]] for d in dims])
    else:
        combos, back = np.unique(np.column_stack([j] + [code[d][u] for d in dims]), axis=0, return_inverse=True)
    texts = np.array([_reason(row, dims, value, tags) for row in combos], dtype=object)
    titles = catalog["title"].to_numpy(dtype=object) if "title" in catalog.columns else np.full(k, None)
    return pd.DataFrame({
        "unit_id": units["unit_id"].to_numpy()[u],
        "item_id": catalog["item_id"].to_numpy()[j],
        "title": titles[j],
        "rank": pd.Series(rank[u, j]).where(fits[u, j]).astype("Int64").to_numpy(),
        "score": score[u, j],
        "fits": fits[u, j],
        "reason": texts[back.reshape(-1)],
    })


def _shown(v: Any) -> str:
    return "empty" if v is None else _label(frozenset([v]))


def _reason(row: np.ndarray, dims: Sequence[str], value: dict, tags: dict) -> str:
    """Why item ``row[0]`` fits (what matched) or is withheld (the first dimension that fails)."""
    j = int(row[0])
    have = {d: value[d][int(c)] for d, c in zip(dims, row[1:], strict=True)}
    matched = []
    for d in STRICT:
        t = tags[d][j]
        if t and (have[d] is None or have[d] not in t):
            return f"{d}: for {_label(t)}, the unit is {_shown(have[d])}"
        if t:
            matched.append(f"{d}={_shown(have[d])}")
    t = tags["need"][j]
    if t:
        common = t & have["need"]
        if not common:
            return f"need: for {_label(t)}, the unit needs {_label(have['need']) or 'none'}"
        matched.append(f"need={_label(common)}")
    t = tags["channel"][j]
    if t and have["channel"] is not None and have["channel"] in t:
        matched.append(f"channel={_shown(have['channel'])} (preferred)")
    return "; ".join(matched) or "general item (no tags for this unit)"
