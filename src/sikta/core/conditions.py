"""The one small rule language of the operating layer: ``when`` = field → allowed values.

Engagement mapping, playbooks and the content catalog all select units the
same way. A condition is a dict from a column of the unit rows to what that
column may hold; every entry must hold (AND), and a unit matches an entry
when its value is one of the allowed ones (OR):

* ``{"group": "invest"}`` - one value;
* ``{"segment": ["growth", "core"]}`` - any of a list;
* ``{"onboarding_struggle": {"min": 0.5}}`` - a number in a closed range
  (``min`` and/or ``max``; an empty cell never matches);
* ``{"owner": None}`` - ``None`` in the allowed values matches an empty cell.

Values compare after normalizing: text is stripped and case-folded
(``"Invest"`` matches ``invest``); numbers and booleans compare as numbers
(``1``, ``1.0``, ``"1"`` and ``True`` are the same); NaN and blank text are empty. A
cell holding a list (e.g. a unit's needs) matches when *any* of its items
is allowed. An empty ``when`` matches every unit.

Examples
--------
>>> units = pd.DataFrame({"group": ["invest", "maintain", "Invest"], "struggle": [1.0, 1.0, 0.0]})
>>> matches(units, {"group": "invest", "struggle": {"min": 0.5}}).tolist()
[True, False, False]
>>> describe({"group": ["invest", "qualify"], "struggle": {"min": 0.5}})
'group in {invest, qualify}, struggle ≥ 0.5'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from sikta.errors import ModelError

__all__ = ["check_when", "matches", "describe", "first_match", "normalize"]

_RANGE_KEYS = {"min", "max"}
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?")


def normalize(value: Any) -> Any:
    """The comparable form of one value: stripped case-folded text, a float, or None for empty.

    Examples
    --------
    >>> normalize(" Invest "), normalize(True), normalize(2), normalize(float("nan")), normalize("")
    ('invest', 1.0, 2.0, None, None)
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_, Number)) and not isinstance(value, complex):
        f = float(value)
        return None if math.isnan(f) else f
    text = str(value).strip().casefold()
    if _NUMBER.fullmatch(text):  # "2" from a CSV equals 2 from a model file
        return float(text)
    return text or None


def _is_range(allowed: Any) -> bool:
    return isinstance(allowed, Mapping)


def check_when(when: Any, context: str, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Validate a condition; ``fields`` (when given) are the columns it may name.

    Returns the condition with every entry in canonical form: a range stays a
    dict of floats, anything else becomes a frozenset of normalized values.
    Raises :class:`~sikta.errors.ModelError` naming ``context``.

    Examples
    --------
    >>> c = check_when({"group": ["Invest", None], "nps": {"max": 6}}, "rule 'x'")
    >>> c["group"] == frozenset({"invest", None}), c["nps"]
    (True, {'max': 6.0})
    >>> try:
    ...     check_when({"grup": "invest"}, "rule 'x'", fields=["group", "segment"])
    ... except ModelError as exc:
    ...     print(exc)
    rule 'x': no field 'grup' in the unit rows (fields: group, segment)
    """
    if when is None:
        return {}
    if not isinstance(when, Mapping):
        raise ModelError(f"{context}: 'when' must map fields to allowed values, got {type(when).__name__}")
    known = None if fields is None else list(fields)
    out: dict[str, Any] = {}
    for field, allowed in when.items():
        if not isinstance(field, str) or not field:
            raise ModelError(f"{context}: a field name must be text, got {field!r}")
        if known is not None and field not in known:
            raise ModelError(f"{context}: no field {field!r} in the unit rows (fields: {', '.join(known)})")
        if _is_range(allowed):
            extra = set(allowed) - _RANGE_KEYS
            if extra or not allowed:
                raise ModelError(f"{context}: field {field!r}: a range takes 'min' and/or 'max', got {dict(allowed)}")
            rng = {}
            for k in ("min", "max"):
                if k in allowed:
                    v = normalize(allowed[k])
                    if not isinstance(v, float):
                        raise ModelError(f"{context}: field {field!r}: {k} must be a number, got {allowed[k]!r}")
                    rng[k] = v
            if "min" in rng and "max" in rng and rng["min"] > rng["max"]:
                raise ModelError(f"{context}: field {field!r}: min {rng['min']:g} is above max {rng['max']:g}")
            out[field] = rng
            continue
        values = allowed if isinstance(allowed, (list, tuple, set, frozenset)) else [allowed]
        if not values:
            raise ModelError(f"{context}: field {field!r} allows no value (an empty list never matches)")
        for v in values:
            if isinstance(v, (Mapping, list, tuple, set)):
                raise ModelError(f"{context}: field {field!r}: allowed values must be plain values, got {v!r}")
        out[field] = frozenset(normalize(v) for v in values)
    return out


def _cell_matches(cell: Any, allowed: frozenset) -> bool:
    if isinstance(cell, (list, tuple, set, frozenset, np.ndarray)):
        items = [normalize(v) for v in cell]
        return any(v in allowed for v in items) or (None in allowed and not items)
    return normalize(cell) in allowed


def matches(frame: pd.DataFrame, when: Mapping[str, Any] | None, context: str = "condition") -> np.ndarray:
    """Boolean mask of the rows of ``frame`` that meet ``when`` (validated against its columns)."""
    cond = check_when(when, context, fields=frame.columns)
    mask = np.ones(len(frame), dtype=bool)
    for field, allowed in cond.items():
        col = frame[field]
        if isinstance(allowed, dict):
            num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            ok = ~np.isnan(num)
            if "min" in allowed:
                ok &= num >= allowed["min"]
            if "max" in allowed:
                ok &= num <= allowed["max"]
        else:  # decide once per distinct cell value (columns repeat few values)
            cells = pd.Series([tuple(v) if isinstance(v, (list, set, np.ndarray)) else v
                               for v in col.to_numpy(dtype=object)], dtype=object)
            codes, uniques = pd.factorize(cells, use_na_sentinel=False)
            ok = np.array([_cell_matches(v, allowed) for v in uniques], dtype=bool)[codes]
        mask &= ok
    return mask


def describe(when: Mapping[str, Any] | None) -> str:
    """A short human reading of a condition, for the reason columns (``"all units"`` when empty)."""
    if not when:
        return "all units"
    parts = []
    for field, allowed in when.items():
        if _is_range(allowed):
            lo, hi = allowed.get("min"), allowed.get("max")
            if lo is not None and hi is not None:
                parts.append(f"{lo:g} ≤ {field} ≤ {hi:g}")
            elif lo is not None:
                parts.append(f"{field} ≥ {lo:g}")
            else:
                parts.append(f"{field} ≤ {hi:g}")
            continue
        values = allowed if isinstance(allowed, (list, tuple, set, frozenset)) else [allowed]
        shown = sorted(("(empty)" if v is None else f"{v:g}" if isinstance(v, float) else str(v)) for v in values)
        parts.append(f"{field}={shown[0]}" if len(shown) == 1 else f"{field} in {{{', '.join(shown)}}}")
    return ", ".join(parts)


def first_match(frame: pd.DataFrame, whens: Sequence[Mapping[str, Any] | None], context: str = "rule") -> np.ndarray:
    """Index of the first condition each row meets, -1 when none does.

    Examples
    --------
    >>> units = pd.DataFrame({"group": ["invest", "maintain", "qualify"]})
    >>> first_match(units, [{"group": "invest"}, {"group": ["invest", "maintain"]}]).tolist()
    [0, 1, -1]
    """
    out = np.full(len(frame), -1, dtype=np.int64)
    for i, when in enumerate(whens):
        hit = (out == -1) & matches(frame, when, f"{context} {i + 1}")
        out[hit] = i
    return out
