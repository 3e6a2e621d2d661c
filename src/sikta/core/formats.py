"""Guess the mapping option that fixes a column whose values all fail the same way.

When most rows of a column are quarantined as "'06.01.2023' is not a date"
or "'1,00' is not a number", the export is not wrong row by row: it is
written in a format the mapping did not declare. :func:`suggest_fix` looks at
a sample of the failing values and names the option and value to try.

Examples
--------
>>> suggest_fix("date", ["06.01.2023", "17.02.2023", "31.12.2022"])
'date_format: "%d.%m.%Y"'
>>> suggest_fix("float", ["1,00", "1.234,50", "-3,5"])
'decimal_comma: true'
>>> suggest_fix("date", ["yesterday", "soon"]) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

#: formats tried for dates, most specific first (day-first before month-first: Europe writes most exports here)
DATE_FORMATS = (
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%y",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%y",
    "%d-%m-%Y %H:%M", "%d-%m-%Y", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y%m%d", "%d %b %Y", "%b %d, %Y",
    "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ",
)
_DECIMAL_COMMA = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")


def _parses(fmt: str, value: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def date_format_for(values: Iterable[str]) -> str | None:
    """The first of :data:`DATE_FORMATS` that parses every value (at least one value), else None.

    Examples
    --------
    >>> date_format_for(["12/31/2022", "01/02/2023"])
    '%m/%d/%Y'
    >>> date_format_for(["19970101", "19970218"])
    '%Y%m%d'
    """
    sample = [v.strip() for v in values if v and v.strip()]
    if not sample:
        return None
    for fmt in DATE_FORMATS:
        if all(_parses(fmt, v) for v in sample):
            return fmt
    return None


def suggest_fix(dtype: str, values: Iterable[str]) -> str | None:
    """The mapping option (``key: value``) that would make ``values`` parse as ``dtype``, or None.

    Parameters
    ----------
    dtype
        ``date``, ``timestamp``, ``int`` or ``float``.
    values
        A sample of the raw values that failed.
    """
    sample = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not sample:
        return None
    if dtype in ("date", "timestamp"):
        fmt = date_format_for(sample)
        return None if fmt is None else f'date_format: "{fmt}"'
    if dtype in ("int", "float"):
        if all(_DECIMAL_COMMA.match(v) for v in sample) and any("," in v for v in sample):
            return "decimal_comma: true"
    return None
