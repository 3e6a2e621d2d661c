"""CSV cells a spreadsheet would run as a formula, neutralized: the one place every CSV Sikta writes goes through.

A company called ``=HYPERLINK("http://evil.example", "Click")`` or ``+cmd|' /C calc'!A0``
is data to Sikta but a formula to Excel, LibreOffice or Google Sheets when an
exported list is opened there (CSV or formula injection). Every *text* cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading apostrophe, which spreadsheets show as text and never evaluate.

Only text cells: a number in a numeric column (a credit note of ``-12.5``)
is written as the number it is; the same characters in a text column
(an account id ``-12.5``) get the apostrophe. Parquet files and JSON keep
the values exactly: they are not opened as spreadsheets.

Writers: :func:`write_frame_csv` for pandas frames (``sikta analyze --out``,
the web UI's CSV download) and :func:`safe_table` for Ibis tables that the
engine writes itself (segment exports).

Examples
--------
>>> [neutralize(v) for v in ("=1+1", "+cmd", "-2", "@SUM(A1)", "\\tx", "ACME", -12.5, None)]
["'=1+1", "'+cmd", "'-2", "'@SUM(A1)", "'\\tx", 'ACME', -12.5, None]
>>> import pandas as pd
>>> safe_frame(pd.DataFrame({"name": ["=HYPERLINK(1)", "Ok"], "revenue": [-12.5, 3.0]})).values.tolist()
[["'=HYPERLINK(1)", -12.5], ['Ok', 3.0]]
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

#: first characters that make a spreadsheet read a cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"


def neutralize(value: Any) -> Any:
    """``value`` with an apostrophe in front when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return PREFIX + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralized; numeric, boolean and date columns unchanged."""
    out = frame.copy()
    for col in out.columns:
        kind = out[col].dtype
        if pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_datetime64_any_dtype(kind):
            continue
        out[col] = out[col].map(neutralize)
    return out


def write_frame_csv(frame: pd.DataFrame, target: str | Path | IO[str], **to_csv: Any) -> None:
    """Write ``frame`` as CSV (no index) with its text cells neutralized."""
    safe_frame(frame).to_csv(target, index=False, **to_csv)


def safe_table(table: ir.Table) -> ir.Table:
    """``table`` with every string column neutralized, as an expression the engine computes."""
    cols = []
    for name, kind in table.schema().items():
        col = table[name]
        if kind.is_string():
            risky = col.substr(0, 1).isin(list(FORMULA_START))
            col = ibis.ifelse(risky, ibis.literal(PREFIX).concat(col), col).name(name)
        cols.append(col)
    return table.select(cols)


__all__ = ["FORMULA_START", "PREFIX", "neutralize", "safe_frame", "safe_table", "write_frame_csv"]
