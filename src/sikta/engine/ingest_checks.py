"""Table-level steps of an ingest, between the row checks of :mod:`validate` and the staged swap.

* :func:`union_sources` stacks the sources of one table (each typed by its own mapping);
* :func:`source_stats` counts rows, exact duplicate lines and future dates of a source;
* :func:`derive_accounts` makes one account per customer id of a revenue table;
* :func:`accounts_forest` resolves the parent links (or skips the work when there are none);
* :func:`attribute_types` / :func:`typed_attributes` type the mapping's extra columns;
* :func:`format_hints` names the mapping option that fixes a column whose rows all fail alike.

Examples
--------
>>> import ibis
>>> a = ibis.memtable({"k": ["x"], "n": [1.0]})
>>> b = ibis.memtable({"k": ["y"], "s": ["t"]})
>>> sorted(union_sources([a, b]).columns)
['k', 'n', 's']
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from sikta.core.formats import suggest_fix
from sikta.engine import validate as v
from sikta.engine.contract import CONTRACT
from sikta.engine.sources import ATTR_PREFIX

if TYPE_CHECKING:
    import pandas as pd

#: dates that decide "as of when" per table; rows after today are counted
DATE_COLUMNS = {
    "orders": ("order_date",), "subscriptions": ("start_date",), "usage": ("date",), "tickets": ("opened_at",),
    "survey_responses": ("answered_at",), "interactions": ("date",),
}
#: a column is "systematically" wrong when at least this share of a table's rows fail on it alike
SYSTEMATIC = 0.5
_DTYPES = {"string": "string", "int": "int64", "float": "float64", "date": "date", "timestamp": "timestamp"}
_DERIVED = "(derived)"


def union_sources(parts: list[ir.Table]) -> ir.Table:
    """Stack the checked sources of one table; a column one source lacks is null there.

    Columns whose types differ between sources are kept as text.
    """
    if len(parts) == 1:
        return parts[0]
    types: dict[str, object] = {}
    for p in parts:
        for name, dtype in p.schema().items():
            if name in types and types[name] != dtype:
                types[name] = ibis.dtype("string")
            else:
                types.setdefault(name, dtype)
    aligned = [
        p.select(**{c: (p[c].cast(t) if c in p.columns else ibis.null(t)) for c, t in types.items()}) for p in parts
    ]
    return ibis.union(*aligned, distinct=False)


def derive_accounts(source: ir.Table, derive: str, tm) -> ir.Table:
    """One account per distinct account_id among the revenue table's valid rows.

    ``first_seen`` is the first order (or subscription start); columns and
    attributes carried from the source take their most frequent value;
    ``status`` is ``customer`` unless the mapping gives it as a constant.
    """
    date_col = "order_date" if derive == "orders" else "start_date"
    carried = [c.removeprefix(ATTR_PREFIX) for c in source.columns if c.startswith(ATTR_PREFIX)]
    ok = source.filter(source._reason.isnull() & source.account_id.notnull())
    agg = ok.group_by("account_id").aggregate(
        first_seen=ok[date_col].min(),
        **{a: ok[ATTR_PREFIX + a].mode() for a in carried},
    )
    constants = tm.constants()
    cols = {a: agg[a] for a in carried if a not in ("first_seen", "status")}
    return agg.select(
        _file=ibis.literal(f"{_DERIVED} {derive}"),
        _row=(ibis.row_number().over(order_by=agg.account_id) + 1).cast("int64"),
        _line_hash=agg.account_id.hash(),
        account_id=agg.account_id,
        status=ibis.literal(str(constants.get("status", "customer"))),
        first_seen=agg.first_seen,
        **cols,
        **{c: ibis.literal(str(val)) for c, val in constants.items() if c not in ("status", *cols)},
    )


def accounts_forest(store, t: ir.Table) -> tuple[ir.Table, pd.DataFrame | ir.Table]:
    """Resolve parents on the valid accounts (one row each) and flag broken ones.

    Without a single parent link every account is its own tree: the
    hierarchy is written by the engine and nothing comes to Python.
    """
    ok = t.filter(t._reason.isnull())
    links = store.count(ok.filter(ok.parent_account_id.notnull()))
    if not links:
        h = ok.select(
            "account_id",
            parent_account_id=ibis.null("string"),
            ultimate_parent_id=ok.account_id,
            account_unit_id=ok.account_id,
            depth=ibis.literal(0, type="int64"),
        )
        return t, h
    import pandas as pd  # only accounts with parent links come to Python

    from sikta.core.hierarchy import resolve_forest

    rows = store.frame(ok.select("_file", "_row", "account_id", "parent_account_id", "account_type"))
    forest = resolve_forest(rows["account_id"].to_numpy(), rows["parent_account_id"].to_numpy(), rows["account_type"].to_numpy())
    positions = list(forest.broken)
    verdicts = pd.DataFrame({
        "_file": rows["_file"].iloc[positions].astype(str).tolist(),
        "_row": rows["_row"].iloc[positions].astype("int64").tolist(),
        "v_column": ["parent_account_id"] * len(positions),
        "v_reason": [forest.broken[i] for i in positions],
    })
    memo = ibis.memtable(verdicts, schema={"_file": "string", "_row": "int64", "v_column": "string", "v_reason": "string"})
    return v.flag_rows(t, memo), forest.frame


def source_stats(store, t: ir.Table, name: str, *, currencies: bool = False) -> dict:
    """Rows read, exact duplicate lines and rows dated in the future of a source (``_chk_<table>``).

    ``duplicates`` is exact: the lines' hashes (of every source column) in sorted order, counting
    each that equals the one before it (``n`` minus the number of distinct hashes). At 100 million
    lines DuckDB sorts them in 9 s where ``COUNT(DISTINCT)`` spends 15 s on a hash table that no
    cache holds. The dates and currencies are read in a pass of their own, which reads only their
    columns: carried through the sort they cost more than that second read. The hash reads every
    source column, so a file that cannot be decoded fails here.

    ``currencies``: also the smallest and largest currency value as written, under
    ``"currencies"``: one value (or none) unless the table may mix currencies. Read raw: trimming
    and upper-casing every value cost as much as reading the column again. Different values may still be
    one code ('eur ' and 'EUR'): the caller then looks closer.

    Examples
    --------
    >>> import ibis
    >>> from sikta.engine.store import Store
    >>> lines = ibis.memtable({"_line_hash": [7, 3, 7, 7], "_row": [1, 2, 3, 4]})
    >>> source_stats(Store(":memory:"), lines, "products")
    {'n': 4, 'duplicates': 2, 'future': None, 'first_future': None}
    """
    h = t.select(h=t._line_hash)
    h = h.select(h.h, prev=h.h.lag().over(ibis.window(order_by=h.h)))
    row = store.rows(h.aggregate(n=h.count(), duplicates=(h.h == h.prev).sum()))[0]
    out: dict = {"n": int(row["n"]), "duplicates": int(row["duplicates"] or 0), "future": None, "first_future": None}
    today = ibis.literal(date.today(), type="date")
    cols = [c for c in DATE_COLUMNS.get(name, ()) if c in t.columns]
    aggs = {}
    if cols:
        future = ibis.or_(*((t[c].cast("date") > today) for c in cols)).fill_null(False)
        aggs |= {"future": future.sum(), "first_future": t._row.min(where=future)}
    if currencies:
        aggs |= {"cur_min": t.currency.min(), "cur_max": t.currency.max()}
    if aggs:
        row = store.rows(t.aggregate(**aggs))[0]
        out |= {k: (None if row.get(k) is None else int(row[k])) for k in ("future", "first_future") if k in aggs}
    if currencies:
        out["currencies"] = {row["cur_min"], row["cur_max"]} - {None}
    return out


def attribute_types(store, t: ir.Table, names: list[str], declared: dict[str, str]) -> dict[str, str]:
    """The type of each ``attr_*`` column: declared, the source's own (Parquet), or inferred from text.

    Text is a number when every non-empty value parses as one and none has a
    leading zero (ids like 00123 stay text), a date when every value is an
    ISO date, else text.
    """
    out: dict[str, str] = {}
    infer = []
    for n in names:
        dtype = t.schema()[n]
        if n in declared:
            out[n] = _DTYPES[declared[n]]
        elif not dtype.is_string():
            out[n] = "float64" if dtype.is_numeric() and not dtype.is_integer() else str(dtype) if not dtype.is_null() else "string"
        else:
            infer.append(n)
    if infer:
        aggs = {}
        for i, n in enumerate(infer):
            s = t[n].strip()
            filled = s.notnull() & (s != "")
            aggs[f"f{i}"] = filled.sum()
            aggs[f"n{i}"] = (filled & s.try_cast("float64").notnull() & ~s.re_search(r"^[-+]?0\d")).sum()
            aggs[f"d{i}"] = (filled & s.try_cast("date").notnull()).sum()
        row = store.rows(t.aggregate(**aggs))[0]
        for i, n in enumerate(infer):
            filled = int(row[f"f{i}"] or 0)
            if filled and int(row[f"n{i}"] or 0) == filled:
                out[n] = "float64"
            elif filled and int(row[f"d{i}"] or 0) == filled:
                out[n] = "date"
            else:
                out[n] = "string"
    return out


def typed_attributes(t: ir.Table, types: dict[str, str]) -> ir.Table:
    """Cast the ``attr_*`` columns to their types (text trimmed, empty text null)."""
    changes = {}
    for n, dtype in types.items():
        col = t[n]
        if col.type().is_string():
            s = col.strip()
            s = ibis.ifelse(s == "", ibis.null("string"), s)
            changes[n] = s if dtype == "string" else s.try_cast(dtype)
        else:
            changes[n] = col.cast(dtype)
    return t.mutate(**changes) if changes else t


def format_hints(store, quarantine: ir.Table, reports: dict, mapping) -> dict[str, str]:
    """Per table, the mapping option that would fix its most common systematic parse failure.

    A failure is systematic when at least :data:`SYSTEMATIC` of the table's
    rows fail on the same column as "is not a date" / "is not a number";
    the failing raw values then decide the option (see :func:`sikta.core.formats.suggest_fix`).
    """
    q = quarantine.filter(quarantine.reason.contains(" is not a "))
    counts = store.rows(q.group_by(["table", "column"]).aggregate(n=q.count()).order_by(ibis.desc("n")))
    hints: dict[str, str] = {}
    for r in counts:
        name, col, n = r["table"], r["column"], int(r["n"])
        rep = reports.get(name)
        if name in hints or rep is None or n < SYSTEMATIC * rep.rows_in or col not in CONTRACT[name].names:
            continue
        sample = q.filter((q.table == name) & (q.column == col)).select("record").limit(200)
        values = [_raw_value(r["record"], col) for r in store.rows(sample)]
        values = [x for x in values if x]
        fix = suggest_fix(CONTRACT[name].column(col).dtype, values)
        if fix and values:
            hints[name] = (f"{name}.{col} fails for {n:,} of {rep.rows_in:,} rows (e.g. '{values[0]}'): "
                           f"add '{fix}' under {name} in the mapping")
    return hints


def _raw_value(record: str | None, col: str) -> str | None:
    try:
        value = json.loads(record or "{}").get(col)
    except (ValueError, AttributeError):
        return None
    return None if value is None else str(value)
