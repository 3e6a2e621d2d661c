"""The per-unit feature table: one row per customer unit at a chosen grain (SPEC §2.1, §4.2, §4.8).

Everything here builds lazy Ibis expressions; the caller (the workspace)
executes them. Each event table is aggregated to the account once (one
group_by with conditional aggregates, see :mod:`features_parts`), rolled up
account → unit with one more group_by on at most one row per account, and
the per-table results are joined on ``unit_id``. Big event tables are never
joined to each other.

Two guarantees the rest of Sikta relies on:

* **no leakage** - every event is cut at ``as_of`` and accounts first seen
  after it are left out, so a build for a past date does not change when
  later data arrives (given the same :class:`Dims`; build those with
  ``dims_queries(..., as_of=...)`` to make the column set leak-free too);
* **conservation** - each account lands in exactly one unit at every grain
  and additive metrics are sums of account-level sums, so e.g. the total of
  ``revenue_12m`` is the same at every grain.

The definitions of all columns are in :data:`FEATURE_DOCS`.

Examples
--------
>>> import datetime as dt, ibis, pandas as pd
>>> con = ibis.duckdb.connect()
>>> accounts = con.create_table("accounts", pd.DataFrame({"account_id": ["G", "C"],
...     "parent_account_id": [None, "G"]}))
>>> orders = con.create_table("orders", pd.DataFrame({"account_id": ["G", "C"], "order_id": ["1", "2"],
...     "order_date": pd.to_datetime(["2024-03-01", "2024-05-01"]).date, "amount": [100.0, 50.0]}))
>>> hierarchy = con.create_table("hierarchy", pd.DataFrame({"account_id": ["G", "C"],
...     "parent_account_id": [None, "G"], "ultimate_parent_id": ["G", "G"],
...     "account_unit_id": ["G", "C"], "depth": [0, 1]}))
>>> f = build_features({"accounts": accounts, "orders": orders}, hierarchy,
...                    grain="ultimate_parent", as_of=dt.date(2024, 6, 30))
>>> con.to_pandas(f)[["unit_id", "n_members", "revenue_12m", "status"]].values.tolist()
[['G', 2, 150.0, 'customer']]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from sikta.engine.contract import GRAINS
from sikta.engine.features_catalog import FEATURE_DOCS, FEATURE_GROUPS, FEATURE_TYPES
from sikta.engine.features_derive import final_columns
from sikta.engine.features_parts import (
    Windows,
    attribute_columns,
    firmographics,
    groups,
    interactions_part,
    lines_by_unit,
    lines_part,
    members_of,
    orders_part,
    rollup,
    slug,
    subscriptions_part,
    surveys_part,
    tickets_part,
    usage_part,
)
from sikta.errors import InputError, UsageError

__all__ = [
    "FEATURE_DOCS",
    "FEATURE_GROUPS",
    "FEATURE_TYPES",
    "Dims",
    "build_features",
    "dims_queries",
    "missing_inputs",
    "slug",
    "unit_lines",
    "unit_map",
]

#: optional event tables -> (feature group, columns whose absence degrades it)
_EVENT_TABLES = {
    "usage": ("usage", ("date", "events", "active_users")),
    "tickets": ("tickets", ("opened_at", "closed_at", "priority", "csat")),
    "survey_responses": ("surveys", ("answered_at", "item", "value")),
    "interactions": ("interactions", ("date", "channel", "direction")),
}


@dataclass(frozen=True)
class Dims:
    """Small distinct-value lists that decide the pattern-named columns.

    Attributes
    ----------
    product_lines
        Product lines, one ``rev12_<line>`` column each; ``product_lines``
        and ``n_product_lines`` then come from the same single pass and
        consider only these lines, so pass them all. When empty, those two
        are computed by an extra grouped pass and no ``rev12_*`` columns
        are made.
    channels
        ``interactions.channel`` values, one ``interactions_<channel>_12m`` each.
    need_items
        Survey items starting with ``need_``, one ``need_<x>`` column each.

    Examples
    --------
    >>> Dims.from_results({"channels": ["web", "call"], "need_items": []})
    Dims(product_lines=(), channels=('call', 'web'), need_items=())
    """

    product_lines: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    need_items: tuple[str, ...] = ()

    @classmethod
    def from_results(cls, results: Mapping[str, Any]) -> Dims:
        """Dims from executed :func:`dims_queries` (DataFrames with a ``value`` column, or plain lists)."""
        out: dict[str, tuple[str, ...]] = {}
        for key, got in results.items():
            values = got["value"] if hasattr(got, "columns") else got
            out[key] = tuple(sorted({str(v) for v in values if v is not None and v == v}))
        return cls(**out)


def _distinct_values(table: ir.Table, col: str) -> ir.Table:
    # group_by, not distinct(): Ibis's PySpark compiler turns distinct + order_by on a renamed column
    # into a DISTINCT over (value, column) - duplicates - while a grouping means the same everywhere
    t = table.select(value=table[col])
    return t.filter(t.value.notnull()).group_by("value").aggregate().order_by("value")


def dims_queries(tables: Mapping[str, ir.Table], as_of: dt.date | None = None) -> dict[str, ir.Table]:
    """Queries whose results fill :class:`Dims`: one sorted, distinct, non-null ``value`` column each.

    Parameters
    ----------
    tables
        Contract tables by name; absent tables are skipped.
    as_of
        When given, only values seen on or before it, so that the column set
        of a past build does not depend on later data.

    Returns
    -------
    dict
        ``product_lines``, ``channels``, ``need_items`` → lazy table (only
        those whose source table exists).

    Examples
    --------
    >>> import ibis
    >>> q = dims_queries({"interactions": ibis.memtable({"channel": ["web", None, "call", "web"]})})
    >>> ibis.duckdb.connect().to_pandas(q["channels"]).value.tolist()
    ['call', 'web']
    """
    cut = None if as_of is None else ibis.literal(as_date(as_of), type="date")

    def upto(t: ir.Table, col: str) -> ir.Table:
        return t if cut is None or col not in t.columns else t.filter(t[col] <= cut)

    out: dict[str, ir.Table] = {}
    lines = []
    for name, date_col in (("orders", "order_date"), ("subscriptions", "start_date"), ("products", "")):
        t = tables.get(name)
        if t is not None and "product_line" in t.columns:
            lines.append(upto(t, date_col).select(value=t.product_line.cast("string")))
    if lines:
        out["product_lines"] = _distinct_values(ibis.union(*lines, distinct=False), "value")
    inter = tables.get("interactions")
    if inter is not None and "channel" in inter.columns:
        out["channels"] = _distinct_values(upto(inter, "date"), "channel")
    survey = tables.get("survey_responses")
    if survey is not None and "item" in survey.columns:
        s = upto(survey, "answered_at")
        out["need_items"] = _distinct_values(s.filter(s.item.startswith("need_")), "item")
    return out


def unit_map(hierarchy: ir.Table, grain: str) -> ir.Table:
    """``account_id`` → ``unit_id`` at a grain, from the ingest hierarchy table.

    Parameters
    ----------
    hierarchy
        One row per loaded account with ``ultimate_parent_id`` and
        ``account_unit_id`` (see :mod:`sikta.core.hierarchy`).
    grain
        ``ultimate_parent`` (root of the tree), ``account`` (nearest
        ancestor-or-self that is not a department) or ``department`` (the
        account itself).

    Examples
    --------
    >>> import ibis
    >>> h = ibis.memtable({"account_id": ["G", "D"], "ultimate_parent_id": ["G", "G"],
    ...                    "account_unit_id": ["G", "G"]})
    >>> ibis.duckdb.connect().to_pandas(unit_map(h, "department").order_by("account_id")).unit_id.tolist()
    ['D', 'G']
    """
    column = {"ultimate_parent": "ultimate_parent_id", "account": "account_unit_id", "department": "account_id"}
    if grain not in column:
        raise UsageError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")
    return hierarchy.select("account_id", unit_id=hierarchy[column[grain]])


def missing_inputs(tables: Mapping[str, ir.Table]) -> dict[str, list[str]]:
    """Feature groups that degrade (null columns) for lack of an input, and why.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.table({"account_id": "string"}, name="t")
    >>> got = missing_inputs({"accounts": t, "orders": t})
    >>> got["usage"], got["subscriptions"]
    (['no usage table'], ['no subscriptions table'])
    """
    out: dict[str, list[str]] = {}

    def add(group: str, reason: str) -> None:
        out.setdefault(group, []).append(reason)

    has_o, has_s = "orders" in tables, "subscriptions" in tables
    if not has_o:
        add("rfm", "no orders table")
        add("revenue", "no orders table: order_* columns, credit notes and margin are null")
    elif "cost" not in tables["orders"].columns:
        add("revenue", "orders has no cost column: gross_margin_12m is null")
    if not has_s:
        add("subscriptions", "no subscriptions table")
        add("revenue", "no subscriptions table: subscription_* columns are null")
    if not has_o and not has_s:
        for group in ("status", "products", "tenure"):
            add(group, "no orders or subscriptions table")
    elif not any("product_line" in tables[n].columns for n in ("orders", "subscriptions") if n in tables):
        add("products", "no product_line column in orders or subscriptions")
    for name, (group, cols) in _EVENT_TABLES.items():
        if name not in tables:
            add(group, f"no {name} table")
            continue
        for col in cols:
            if col not in tables[name].columns:
                add(group, f"{name} has no column {col!r}")
    return out


def as_date(value: dt.date | str, name: str = "as_of") -> dt.date:
    """A date from a date, a datetime or ISO text; a clear error naming ``name`` otherwise.

    Examples
    --------
    >>> as_date("2025-06-30"), as_date(dt.datetime(2025, 6, 30, 12))
    (datetime.date(2025, 6, 30), datetime.date(2025, 6, 30))
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise UsageError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from exc


def build_features(
    tables: Mapping[str, ir.Table],
    hierarchy: ir.Table,
    *,
    grain: str,
    as_of: dt.date,
    dims: Dims = Dims(),
    window_months: int = 12,
    active_months: int = 12,
) -> ir.Table:
    """The feature table: one row per unit at ``grain``, as of ``as_of`` (lazy).

    Parameters
    ----------
    tables
        Contract tables by name (``accounts`` required; any other may be
        absent - its columns are then typed nulls, see :func:`missing_inputs`).
    hierarchy
        The ingest hierarchy table (``account_id``, ``ultimate_parent_id``,
        ``account_unit_id``, ...); accounts not in it are left out.
    grain
        ``ultimate_parent``, ``account`` or ``department``.
    as_of
        Cut-off date: nothing dated after it is read.
    dims
        Distinct values (from :func:`dims_queries`) that name the
        ``rev12_*``, ``interactions_*_12m`` and ``need_*`` columns.
    window_months, active_months
        Length of the "12m" windows, and of the window in which a positive
        order makes a customer.

    Returns
    -------
    ibis.expr.types.Table
        ``unit_id``, ``grain``, ``as_of`` then the features in
        :data:`FEATURE_DOCS` order. Nothing is executed.

    Examples
    --------
    >>> import ibis
    >>> acc = ibis.table({"account_id": "string", "first_seen": "date"}, name="accounts")
    >>> h = ibis.table({"account_id": "string", "ultimate_parent_id": "string",
    ...                 "account_unit_id": "string"}, name="hierarchy")
    >>> f = build_features({"accounts": acc}, h, grain="account", as_of=dt.date(2024, 6, 30))
    >>> f.columns[:3], f.schema()["revenue_12m"], f.schema()["tickets_12m"]
    (('unit_id', 'grain', 'as_of'), Float64(nullable=True), Int64(nullable=True))
    """
    if "accounts" not in tables:
        raise InputError("features need an accounts table")
    if grain not in GRAINS:
        raise UsageError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")
    if window_months < 1 or active_months < 1:
        raise UsageError("window_months and active_months must be at least 1")
    as_of = as_date(as_of)
    w = Windows.make(as_of, window_months, active_months)
    members = members_of(tables["accounts"], unit_map(hierarchy, grain), as_of)
    mmap = members.select("account_id", "unit_id")
    lines = tuple(sorted(set(dims.product_lines)))
    channels = groups(dims.channels)
    needs = groups(dims.need_items, prefix="need_")

    orders, subs, products = tables.get("orders"), tables.get("subscriptions"), tables.get("products")
    parts: dict[str, tuple[ir.Table, dict[str, str]]] = {}
    if orders is not None:
        parts["o"] = orders_part(orders, products, w, lines)
    if subs is not None:
        parts["s"] = subscriptions_part(subs, w, lines)
    if "usage" in tables:
        parts["u"] = usage_part(tables["usage"], w)
    if "tickets" in tables:
        parts["t"] = tickets_part(tables["tickets"], w)
    if "survey_responses" in tables:
        parts["q"] = surveys_part(tables["survey_responses"], w, needs)
    if "interactions" in tables:
        parts["i"] = interactions_part(tables["interactions"], w, channels)

    j = firmographics(members, grain)
    for p, (acct, rolls) in parts.items():
        unit = rollup(acct, rolls, mmap, grain, f"_{p}_unit")
        j = j.left_join(unit, j.unit_id == unit[f"_{p}_unit"])
    if not lines and (orders is not None or subs is not None):
        lp = lines_part(orders, subs, products, w, mmap)
        j = j.left_join(lp, j.unit_id == lp.unit_id)
    cols = final_columns(j, set(parts), grain, w, lines, channels, needs, attribute_columns(tables["accounts"]))
    return j.select(**cols)


def unit_lines(
    tables: Mapping[str, ir.Table],
    hierarchy: ir.Table,
    *,
    grain: str,
    as_of: dt.date,
    window_months: int = 12,
) -> ir.Table:
    """Revenue per unit and product line, long and sparse: any number of lines (lazy).

    One row per (unit, line) with revenue in the window or ever:
    ``unit_id``, ``product_line``, ``rev`` (net revenue in the trailing window,
    what ``rev12_<line>`` holds when lines are few enough for columns) and
    ``rev_lifetime``. Orders and recognised subscription revenue, cut at
    ``as_of``; product lines come from the catalogue where an order has none.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> con = ibis.duckdb.connect()
    >>> acc = con.create_table("a", pd.DataFrame({"account_id": ["A"]}))
    >>> o = con.create_table("o", pd.DataFrame({"account_id": ["A", "A", "A"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2023-01-01", "2024-05-01", "2024-06-01"]).date,
    ...     "amount": [10.0, 5.0, 7.0], "product_line": ["x", "x", "y"]}))
    >>> h = con.create_table("h", pd.DataFrame({"account_id": ["A"], "ultimate_parent_id": ["A"],
    ...     "account_unit_id": ["A"]}))
    >>> got = unit_lines({"accounts": acc, "orders": o}, h, grain="account", as_of=dt.date(2024, 6, 30))
    >>> con.to_pandas(got.order_by("product_line")).values.tolist()
    [['A', 'x', 5.0, 15.0], ['A', 'y', 7.0, 7.0]]
    """
    w = Windows.make(as_date(as_of), window_months, window_months)
    members = members_of(tables["accounts"], unit_map(hierarchy, grain), w.as_of).select("account_id", "unit_id")
    return lines_by_unit(tables.get("orders"), tables.get("subscriptions"), tables.get("products"), w, members)
