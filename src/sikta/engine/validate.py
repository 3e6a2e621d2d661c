"""Validate staged rows against the contract, as pure Ibis transforms.

Every function takes a table and returns a new lazy table; nothing executes
here. The running table carries ``_file``, ``_row``, the raw source values
(``_raw__<col>``), the typed contract columns, and ``_column``/``_reason``,
which stay null while a row passes. A check only ever fills the reason of a
row that has none yet, so each row ends with exactly one verdict: loaded
(no reason) or quarantined (the first rule it broke). That is what makes
rows in = loaded + quarantined hold by construction.

Examples
--------
>>> import ibis
>>> from sikta.engine.contract import CONTRACT
>>> from sikta.engine.mapping import TableMapping
>>> raw = ibis.memtable({"_file": ["p.csv"] * 3, "_row": [1, 2, 3],
...                      "product_id": ["P1", "P1", "P2"], "list_price": ["9.5", "9", "cheap"]})
>>> t = flag_duplicates(cast_and_check(raw, CONTRACT["products"], TableMapping()), ("product_id",))
>>> t.order_by("_row")._reason.to_pyarrow().to_pylist()
[None, "duplicate product_id 'P1' (first at row 1)", "list_price is not a number: 'cheap'"]
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from sikta.engine.contract import SURVEY_SCALES, Column, TableContract

RAW = "_raw__"
META = ("_file", "_row", "_column", "_reason")
_HUMAN = {"int": "whole number", "float": "number", "date": "date", "timestamp": "date/time", "string": "text"}
_IBIS = {"string": dt.string, "int": dt.int64, "float": dt.float64, "date": dt.date, "timestamp": dt.timestamp}


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(text: str, fmt: str) -> dt.timestamp:  # type: ignore[empty-body]
    """DuckDB's non-failing strptime."""


def _text(v: ir.Value, width: int = 60) -> ir.StringValue:
    return v.cast("string").substr(0, width)


def _number(s: ir.StringValue, decimal_comma: bool) -> ir.FloatingValue:
    if decimal_comma:
        s = s.replace(".", "").replace(",", ".")
    num = s.try_cast("float64")
    return ibis.ifelse(num.isnan() | num.isinf(), ibis.null("float64"), num)


def _typed(raw: ir.Value, col: Column, date_format: str | None, decimal_comma: bool) -> tuple[ir.Value, ir.BooleanValue]:
    """(typed value, is-empty) for one raw column of any source type."""
    target = _IBIS[col.dtype]
    rtype = raw.type()
    if rtype.is_string():
        s = raw.strip()
        empty = s.isnull() | (s == "")
        if col.dtype == "string":
            v: ir.Value = s
        elif col.dtype in ("int", "float"):
            num = _number(s, decimal_comma)
            v = num if col.dtype == "float" else ibis.ifelse(num == num.round(), num.cast("int64"), ibis.null("int64"))
        else:
            ts = _try_strptime(s, date_format) if date_format else s.try_cast("timestamp")
            v = ts.date() if col.dtype == "date" else ts
        return ibis.ifelse(empty, ibis.null(target), v), empty
    empty = raw.isnull()
    if rtype.is_floating():
        empty = empty | raw.isnan()
    if col.dtype == "string":
        if rtype.is_floating():  # ids exported as floats (12346.0) keep their integer spelling
            v = ibis.ifelse(raw == raw.round(), raw.cast("int64").cast("string"), raw.cast("string"))
        else:
            v = raw.cast("string")
    elif col.dtype == "int" and rtype.is_numeric():
        v = ibis.ifelse(raw == raw.round(), raw.cast("int64"), ibis.null("int64")) if rtype.is_floating() else raw.cast("int64")
    elif col.dtype == "float" and rtype.is_numeric():
        v = raw.cast("float64")
    elif col.dtype in ("date", "timestamp") and rtype.is_temporal():
        v = raw.cast("timestamp").date() if col.dtype == "date" else raw.cast("timestamp")
    else:
        v = ibis.null(target)
    return ibis.ifelse(empty, ibis.null(target), v), empty


def _recode(raw: ir.Value, codes: dict[str, str]) -> ir.Value:
    if not codes or not raw.type().is_string():
        return raw
    key = raw.strip().lower()
    return ibis.cases(*((key == k.strip().lower(), ibis.literal(v)) for k, v in codes.items()), else_=raw)


def add_reason(t: ir.Table, failed: ir.BooleanValue, column: str, reason: ir.StringValue | str) -> ir.Table:
    """Give ``reason`` to rows that fail ``failed`` and have no reason yet."""
    hit = t._reason.isnull() & failed.fill_null(False)
    reason_expr = ibis.literal(reason) if isinstance(reason, str) else reason
    return t.mutate(
        _column=ibis.ifelse(hit, ibis.literal(column), t._column),
        _reason=ibis.ifelse(hit, reason_expr, t._reason),
    )


def cast_and_check(raw: ir.Table, contract: TableContract, tm) -> ir.Table:
    """Type every contract column and apply the column and row rules.

    Columns absent from the source become typed nulls, so every loaded
    table has the full contract schema.
    """
    present = [c for c in contract.names if c in raw.columns]
    extra = [c for c in raw.columns if c not in (*present, "_file", "_row")]
    t = raw.select(
        "_file",
        _row=raw._row.cast("int64"),
        **{RAW + c: raw[c] for c in present},
        **{c: raw[c] for c in extra},
    )
    typed: dict[str, ir.Value] = {}
    empties: list[tuple[Column, ir.BooleanValue, ir.Value]] = []
    for col in contract.columns:
        if col.name not in present:
            typed[col.name] = ibis.null(_IBIS[col.dtype])
            continue
        raw_v = _recode(t[RAW + col.name], tm.values.get(col.name, {}))
        value, empty = _typed(raw_v, col, tm.date_format, tm.decimal_comma)
        typed[col.name] = value.lower() if col.allowed else value
        empties.append((col, empty, raw_v))
    if contract.name == "orders" and "amount" not in present:
        # amount = quantity × unit_price when the export has no amount column
        typed["amount"] = typed["quantity"] * typed["unit_price"]
    if contract.name == "survey_responses" and "item" in present:
        typed["item"] = typed["item"].lower()  # 'NPS' and 'nps' are one item
    t = t.mutate(**typed)

    checks: list[tuple[ir.BooleanValue, str, ir.StringValue | str]] = []
    for col, empty, raw_v in empties:
        value = t[col.name]
        if not col.nullable:
            checks.append((empty, col.name, f"{col.name} is missing"))
        checks.append((~empty & value.isnull(), col.name, f"{col.name} is not a {_HUMAN[col.dtype]}: '" + _text(raw_v) + "'"))
        if col.allowed:
            checks.append((~value.isin(col.allowed), col.name, f"{col.name} '" + _text(value) + f"' is not one of {', '.join(col.allowed)}"))
        if col.min is not None:
            checks.append((value < col.min, col.name, f"{col.name} " + _text(value) + f" is below the minimum {col.min:g}"))
        if col.max is not None:
            checks.append((value > col.max, col.name, f"{col.name} " + _text(value) + f" is above the maximum {col.max:g}"))
    if contract.name == "orders" and "amount" not in present:
        checks.append((t.amount.isnull(), "amount", "amount is missing (no amount, quantity or unit_price)"))
    for start, end in contract.ordered:
        checks.append((t[end] < t[start], end, f"{end} is before {start}"))
    if contract.name == "survey_responses":
        checks.extend(_survey_rules(t))
    rates = tm.currency_rates if contract.name in ("orders", "subscriptions") else None
    if rates:
        checks.append((t.currency.notnull() & _rate(t, rates).isnull(), "currency",
                       "no conversion rate for currency '" + _text(t.currency) + "'"))
    # One flat CASE per table finds the first failing rule (chaining one CASE per rule makes the
    # engine's inlined expression grow exponentially with the number of rules); column and reason
    # are then looked up by its number, so no rule is evaluated twice.
    if checks:
        t = t.mutate(_check=ibis.cases(*((f.fill_null(False), i) for i, (f, _, _) in enumerate(checks)),
                                       else_=ibis.null("int64")))
        t = t.mutate(
            _column=ibis.cases(*((t._check == i, ibis.literal(c)) for i, (_, c, _) in enumerate(checks)),
                               else_=ibis.null("string")),
            _reason=ibis.cases(*((t._check == i, ibis.literal(r) if isinstance(r, str) else r)
                                 for i, (_, _, r) in enumerate(checks)), else_=ibis.null("string")),
        ).drop("_check")
    else:
        t = t.mutate(_column=ibis.null("string"), _reason=ibis.null("string"))
    if rates:
        t = convert_currency(t, rates)
    return t


def _survey_rules(t: ir.Table) -> list[tuple[ir.BooleanValue, str, ir.StringValue | str]]:
    checks: list[tuple[ir.BooleanValue, str, ir.StringValue | str]] = [
        (t.account_id.isnull() & t.contact_id.isnull(), "account_id", "account_id and contact_id are both missing")
    ]
    for item, (lo, hi) in SURVEY_SCALES.items():
        applies = t.item.startswith(item) if item.endswith("_") else t.item == item
        checks.append((
            applies & ((t.value < lo) | (t.value > hi)),
            "value",
            t.item + " value " + _text(t.value) + f" is outside {lo:g}-{hi:g}",
        ))
    return checks


def _rate(t: ir.Table, rates: dict[str, float]) -> ir.FloatingValue:
    cur = t.currency.strip().upper()
    return ibis.cases(*((cur == k.upper(), ibis.literal(float(v))) for k, v in rates.items()), else_=ibis.null("float64"))


def convert_currency(t: ir.Table, rates: dict[str, float]) -> ir.Table:
    """Convert amounts (orders) or MRR (subscriptions) to the base currency.

    The base is the currency whose rate is 1. Rows in a currency without a
    rate were already given a reason by :func:`cast_and_check`.
    """
    value_col = "amount" if "order_id" in t.columns else "mrr"
    base = next((k.upper() for k, v in rates.items() if v == 1), None)
    return t.mutate(
        **{value_col: ibis.ifelse(t.currency.isnull(), t[value_col], t[value_col] * _rate(t, rates))},
        currency=ibis.literal(base) if base else t.currency,
    )


def flag_duplicates(t: ir.Table, key: tuple[str, ...]) -> ir.Table:
    """Quarantine every repeat of a key after its first valid occurrence."""
    if not key:
        return t
    valid = t._reason.isnull()
    w = ibis.window(group_by=[*(t[k] for k in key), valid], order_by=[t._file, t._row])
    t = t.mutate(_dup_n=ibis.row_number().over(w), _dup_first=t._row.first().over(w), _dup_file=t._file.first().over(w))
    label = " / ".join(key)
    shown = t[key[0]] if len(key) == 1 else ibis.literal("…")
    where = ibis.ifelse(t._dup_file == t._file, ibis.literal(""), " of " + t._dup_file)
    t = add_reason(t, valid & (t._dup_n > 0), key[0], f"duplicate {label} '" + _text(shown) + "' (first at row " + t._dup_first.cast("string") + where + ")")
    return t.drop("_dup_n", "_dup_first", "_dup_file")


def flag_references(
    t: ir.Table, column: str, known: ir.Column, quarantined: ir.Column | None, target_label: str
) -> ir.Table:
    """Quarantine rows whose ``column`` is set but not among ``known`` ids.

    ``quarantined`` (ids that exist in the source but were quarantined)
    only sharpens the message.
    """
    missing = t[column].notnull() & ~t[column].isin(known)
    value = "'" + _text(t[column]) + "'"
    if quarantined is not None:
        reason = ibis.ifelse(
            t[column].isin(quarantined),
            f"{column} " + value + f" is a quarantined {target_label}",
            f"{column} " + value + f" is not a known {target_label}",
        )
    else:
        reason = f"{column} " + value + f" is not a known {target_label}"
    return add_reason(t, missing, column, reason)


def flag_rows(t: ir.Table, verdicts: ir.Table) -> ir.Table:
    """Apply reasons decided outside the engine (e.g. the account forest).

    ``verdicts`` has ``_file``, ``_row``, ``v_column``, ``v_reason``.
    """
    j = t.left_join(verdicts, ["_file", "_row"])
    hit = j._reason.isnull() & j.v_reason.notnull()
    return j.mutate(
        _column=ibis.ifelse(hit, j.v_column, j._column),
        _reason=ibis.ifelse(hit, j.v_reason, j._reason),
    ).drop("v_column", "v_reason")


def fill_account_from_contact(t: ir.Table, contacts: ir.Table) -> ir.Table:
    """Survey answers given by a contact belong to the contact's account."""
    c = contacts.select(_c_id=contacts.contact_id, _c_account=contacts.account_id)
    j = t.left_join(c, t.contact_id == c._c_id)
    return j.mutate(account_id=ibis.coalesce(j.account_id, j._c_account)).drop("_c_id", "_c_account")


def record_json(t: ir.Table, contract: TableContract) -> ir.StringValue:
    """The raw values of a row as JSON text, personal data redacted."""
    fields = {
        c[len(RAW):]: (ibis.literal("<redacted>") if c[len(RAW):] in contract.pii else t[c].cast("string"))
        for c in t.columns
        if c.startswith(RAW)
    }
    if not fields:
        return ibis.literal("{}")
    return ibis.struct(fields).cast("json").cast("string")


def finalize(t: ir.Table, contract: TableContract) -> ir.Table:
    """Keep typed columns and the verdict; raw values only as quarantine JSON."""
    record = ibis.ifelse(t._reason.notnull(), record_json(t, contract), ibis.null("string"))
    return t.select(*contract.names, *META, _record=record)


def loaded(t: ir.Table, contract: TableContract) -> ir.Table:
    """Rows that passed, with exactly the contract columns."""
    return t.filter(t._reason.isnull()).select(*contract.names)


def quarantined(t: ir.Table, table: str) -> ir.Table:
    """Rows that failed, in the quarantine layout."""
    q = t.filter(t._reason.notnull())
    return q.select(
        table=ibis.literal(table),
        file=q._file,
        row=q._row,
        column=q._column,
        reason=q._reason,
        record=q._record,
    )
