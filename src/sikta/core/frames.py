"""Checks at the boundary of the operating maths: columns present, ids unique, numbers valid.

Every failure is an :class:`~sikta.errors.InputError` with one line naming
the frame, the row (1 = the first data row, as in every Sikta error about a
file), the id of the row when there is one, the column and the reason.

Examples
--------
>>> df = pd.DataFrame({"unit_id": ["a", "b"], "revenue": [10.0, -1.0]})
>>> require_columns(df, "accounts", ["unit_id", "revenue"])
>>> try:
...     number_column(df, "accounts", "revenue", minimum=0)
... except InputError as exc:
...     print(exc)
accounts row 2 (unit_id 'b'), column 'revenue': -1.0 is below 0
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sikta.errors import InputError

__all__ = ["bad_row", "day", "is_missing", "number_column", "require_columns", "text_column", "unique_ids"]


def require_columns(frame: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    """Raise when ``frame`` lacks any of ``columns`` (all missing ones named)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name}: expected a table (DataFrame), got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(f"{name}: no column {', '.join(repr(c) for c in missing)} (columns: {have})")


def _where(frame: pd.DataFrame, name: str, pos: int, key: str | None) -> str:
    if key and key in frame.columns:
        return f"{name} row {pos + 1} ({key} {frame[key].iat[pos]!r})"
    return f"{name} row {pos + 1}"


def bad_row(frame: pd.DataFrame, name: str, pos: int, column: str, reason: str,
            key: str | None = "unit_id") -> InputError:
    """The error for one cell: ``<name> row <pos + 1> (<key> <id>), column '<column>': <reason>``.

    Rows count from 1 (the first data row), as in every Sikta error about a file.

    Examples
    --------
    >>> print(bad_row(pd.DataFrame({"unit_id": ["a"]}), "units", 0, "engagement", "'vip' is not a model"))
    units row 1 (unit_id 'a'), column 'engagement': 'vip' is not a model
    """
    return InputError(f"{_where(frame, name, pos, key)}, column {column!r}: {reason}")


def unique_ids(frame: pd.DataFrame, name: str, key: str) -> None:
    """Raise on a missing or repeated id in column ``key``.

    Examples
    --------
    >>> try:
    ...     unique_ids(pd.DataFrame({"owner_id": ["x", "y", "x"]}), "team", "owner_id")
    ... except InputError as exc:
    ...     print(exc)
    team row 3 (owner_id 'x'), column 'owner_id': repeats the id of row 1
    """
    ids = frame[key]
    bad = np.flatnonzero(is_missing(ids))
    if len(bad):
        raise InputError(f"{name} row {bad[0] + 1}, column {key!r}: the id is missing")
    dup = ids.duplicated(keep="first").to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((ids == ids.iat[pos]).to_numpy())[0])
        raise InputError(f"{_where(frame, name, pos, key)}, column {key!r}: repeats the id of row {first + 1}")


def number_column(
    frame: pd.DataFrame,
    name: str,
    column: str,
    *,
    key: str | None = "unit_id",
    minimum: float | None = None,
    missing: float | None = None,
) -> np.ndarray:
    """The column as floats; ``missing`` replaces empty cells (None: they are an error).

    Raises on text that is not a number, on ±inf, on empty cells when
    ``missing`` is None and on values below ``minimum``.
    """
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    empty = is_missing(raw)
    not_number = np.isnan(values) & ~empty
    if not_number.any():
        pos = int(np.flatnonzero(not_number)[0])
        raise InputError(f"{_where(frame, name, pos, key)}, column {column!r}: {raw.iat[pos]!r} is not a number")
    if np.isinf(values).any():
        pos = int(np.flatnonzero(np.isinf(values))[0])
        raise InputError(f"{_where(frame, name, pos, key)}, column {column!r}: {values[pos]} is not finite")
    if empty.any():
        if missing is None:
            pos = int(np.flatnonzero(empty)[0])
            raise InputError(f"{_where(frame, name, pos, key)}, column {column!r}: the value is missing")
        values = np.where(empty, missing, values)
    if minimum is not None and (values < minimum).any():
        pos = int(np.flatnonzero(values < minimum)[0])
        raise InputError(f"{_where(frame, name, pos, key)}, column {column!r}: {values[pos]} is below {minimum:g}")
    return values


def text_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column as an object array of ``str`` with ``None`` for empty cells (NaN, None, blank).

    Whole floats lose their ``.0`` (ids read from a column with gaps).

    Examples
    --------
    >>> text_column(pd.DataFrame({"owner": [101.0, None, " ann "]}), "owner").tolist()
    ['101', None, 'ann']
    """
    raw = frame[column]
    empty = is_missing(raw)
    out = raw.astype(object).to_numpy(copy=True)
    out[empty] = None
    out[~empty] = [_id_text(v) for v in out[~empty]]
    return out


def _id_text(value: object) -> str:
    # a column of numeric ids with a gap arrives as floats: 101.0 is the id "101"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def is_missing(values: pd.Series) -> np.ndarray:
    """True for None, NaN, NaT and strings that are blank."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    blank = s.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool) if s.dtype == object or \
        pd.api.types.is_string_dtype(s) else np.zeros(len(s), dtype=bool)
    return s.isna().to_numpy(dtype=bool) | blank


def day(value: object, what: str) -> pd.Timestamp:
    """One date (``what`` names it in the error), as a timestamp at midnight.

    Examples
    --------
    >>> day("2025-03-31", "as_of")
    Timestamp('2025-03-31 00:00:00')
    >>> try:
    ...     day("someday", "as_of")
    ... except InputError as exc:
    ...     print(exc)
    as_of: 'someday' is not a date
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise InputError(f"{what}: {value!r} is not a date")
    return stamp.tz_localize(None).normalize() if stamp.tzinfo else stamp.normalize()
