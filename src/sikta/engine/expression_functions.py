"""The operators and functions of the expression language (see :mod:`sikta.engine.expressions`).

Each is one :class:`Function` row: the kinds it takes and gives, its Python
meaning (the reference semantics) and its Ibis translation, so the two
evaluators and the type checker read one table and cannot drift apart.

Examples
--------
>>> f = FUNCTIONS["least"]
>>> f.py(3.0, None, 1.5), f.arity, f.strict
(1.5, (2, None), False)
>>> OPERATORS["/"].py(7.0, 0.0) is None  # dividing by zero gives NULL
True
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops

KINDS = ("boolean", "numeric", "string", "unknown")
WORD = {"numeric": "a number", "string": "text", "boolean": "true/false"}
DTYPE = {"numeric": "float64", "string": "string", "boolean": "boolean"}


# DuckDB functions with exactly our semantics and no Ibis spelling: divide() is
# true division of doubles with NULL for a zero divisor, try() turns the error
# of ln(0) or sqrt(-1) into NULL without repeating its argument (CASE would,
# doubling the SQL per level), and floor/ceil/round keep doubles where Ibis
# would cast to BIGINT, which overflows.
@ibis.udf.scalar.builtin(name="divide")
def _divide(x: float, y: float) -> float: ...  # pragma: no cover
@ibis.udf.scalar.builtin(name="try")
def _try(x: float) -> float: ...  # pragma: no cover
@ibis.udf.scalar.builtin(name="floor")
def _floor(x: float) -> float: ...  # pragma: no cover
@ibis.udf.scalar.builtin(name="ceil")
def _ceil(x: float) -> float: ...  # pragma: no cover
@ibis.udf.scalar.builtin(name="round")
def _round_db(x: float, n: dt.int32) -> float: ...  # pragma: no cover


def _key(v: Any) -> Any:
    """Order of a value as in DuckDB: NaN equals NaN and is above every number."""
    return ((1, 0.0) if v != v else (0, v)) if isinstance(v, float) else v


def _round(x: float, n: float = 0.0) -> float:
    # DuckDB's rounding of doubles step by step; std::round is half away from zero
    def half_away(v: float) -> float:
        if not math.isfinite(v) or abs(v) >= 2.0**52:  # whole already; Decimal would need more digits
            return v
        return float(Decimal(v).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    if not math.isfinite(x):
        return x
    m = 10.0 ** abs(int(n))
    r = half_away(x / m) * m if n < 0 else half_away(x * m) / m
    return r if math.isfinite(r) else (0.0 if n < 0 else x)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _and(a: Any, b: Any) -> bool | None:
    return False if False in (a, b) else None if None in (a, b) else True


def _or(a: Any, b: Any) -> bool | None:
    return True if True in (a, b) else None if None in (a, b) else False


def _in(x: Any, *items: Any) -> bool | None:
    if x is None:
        return None
    return True if any(v is not None and _key(v) == _key(x) for v in items) else None if None in items else False


def _cmp(op: Callable) -> Callable:
    return lambda a, b: None if a is None or b is None else op(_key(a), _key(b))


@functools.lru_cache(maxsize=256)
def _like(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.S)


@dataclass(frozen=True)
class Function:
    """An operator or whitelisted function: argument and result kinds, and both translations.

    ``args`` is the kind of every argument, ``"same"`` (all share one kind),
    ``"if"`` (a condition, then values of one kind) or ``"any"``; ``result``
    is a kind or ``"same"``. A ``strict`` one is NULL when any argument is.
    """

    name: str
    arity: tuple[int, int | None]
    args: str
    result: str
    doc: str
    py: Callable[..., Any] = field(repr=False)
    ib: Callable[..., Any] = field(repr=False)
    strict: bool = True


def _table(*rows: tuple) -> dict[str, Function]:
    return {r[0]: Function(*r) for r in rows}


_pick = lambda f: lambda *vs: f((v for v in vs if v is not None), key=_key, default=None)  # noqa: E731
_num1, _str1, _same2 = ((1, 1), "numeric", "numeric"), ((1, 1), "string", "string"), ((2, None), "same", "same")
FUNCTIONS: dict[str, Function] = _table(
    ("abs", *_num1, "absolute value", abs, lambda x: x.abs()),
    ("ceil", *_num1, "smallest whole number >= x", lambda x: float(math.ceil(x)) if math.isfinite(x) else x, _ceil),
    ("coalesce", (1, None), "same", "same", "first argument that is not null",
     lambda *vs: next((v for v in vs if v is not None), None), ibis.coalesce, False),
    ("exp", *_num1, "e to the power x", _exp, lambda x: x.exp()),
    ("floor", *_num1, "largest whole number <= x", lambda x: float(math.floor(x)) if math.isfinite(x) else x, _floor),
    ("greatest", *_same2, "largest argument, nulls skipped", _pick(max), ibis.greatest, False),
    ("if", (3, 3), "if", "same", "if(condition, a, b): a when the condition is true, else b",
     lambda c, a, b: a if c is True else b, ibis.ifelse, False),
    ("least", *_same2, "smallest argument, nulls skipped", _pick(min), ibis.least, False),
    ("length", (1, 1), "string", "numeric", "number of characters", lambda s: float(len(s)),
     lambda s: s.length().cast("float64")),
    ("ln", *_num1, "natural logarithm; null for x <= 0", lambda x: math.log(x) if _key(x) > (0, 0) else None,
     lambda x: _try(x.ln())),
    ("log", *_num1, "natural logarithm, as ln; null for x <= 0", lambda x: math.log(x) if _key(x) > (0, 0) else None,
     lambda x: _try(x.ln())),
    ("log10", *_num1, "base-10 logarithm; null for x <= 0", lambda x: math.log10(x) if _key(x) > (0, 0) else None,
     lambda x: _try(x.log10())),
    ("lower", *_str1, "text in lower case", str.lower, lambda s: s.lower()),
    ("nullif", (2, 2), "same", "same", "nullif(a, b): null when a = b, else a",
     lambda a, b: None if a is None or (b is not None and _key(a) == _key(b)) else a, lambda a, b: a.nullif(b), False),
    ("round", (1, 2), "numeric", "numeric", "round(x[, digits]), half away from zero; digits a whole number",
     _round, lambda x, n=ibis.literal(0.0): _round_db(x, n.cast("int32"))),
    ("sqrt", *_num1, "square root; null for x < 0", lambda x: math.sqrt(x) if _key(x) >= (0, 0) else None,
     lambda x: _try(x.sqrt())),
    ("upper", *_str1, "text in upper case", str.upper, lambda s: s.upper()),
)
_b2 = ((2, 2), "boolean", "boolean", "")
_n2 = ((2, 2), "numeric", "numeric", "")
_c2 = ((2, 2), "same", "boolean", "")
# comparisons go through ops, not operators: Ibis turns `x == null` into `x IS NULL`
OPERATORS = _table(
    ("and", *_b2, _and, lambda a, b: ops.And(a, b).to_expr(), False),
    ("or", *_b2, _or, lambda a, b: ops.Or(a, b).to_expr(), False),
    ("not", (1, 1), "boolean", "boolean", "", operator.not_, lambda a: ops.Not(a).to_expr()),
    ("neg", (1, 1), "numeric", "numeric", "", operator.neg, operator.neg),
    ("pos", (1, 1), "numeric", "numeric", "", operator.pos, lambda x: x),
    ("+", *_n2, operator.add, operator.add), ("-", *_n2, operator.sub, operator.sub),
    ("*", *_n2, operator.mul, operator.mul), ("/", *_n2, lambda a, b: None if b == 0 else a / b, _divide),
    *((op, *_c2, _cmp(f), lambda a, b, o=o: o(a, b).to_expr()) for op, f, o in [
        ("=", operator.eq, ops.Equals), ("!=", operator.ne, ops.NotEquals), ("<", operator.lt, ops.Less),
        ("<=", operator.le, ops.LessEqual), (">", operator.gt, ops.Greater), (">=", operator.ge, ops.GreaterEqual)]),
    ("in", (2, None), "same", "boolean", "", _in, lambda x, *items: x.isin(items), False),
    ("between", (3, 3), "same", "boolean", "", lambda x, lo, hi: _and(_cmp(operator.ge)(x, lo), _cmp(operator.le)(x, hi)),
     lambda x, lo, hi: x.between(lo, hi), False),
    ("like", (2, 2), "string", "boolean", "", lambda s, p: _like(p).fullmatch(s) is not None, lambda s, p: s.like(p)),
    ("isnull", (1, 1), "any", "boolean", "", lambda v: v is None, lambda v: v.isnull(), False),
)
COMPARE = ("=", "!=", "<", "<=", ">", ">=")

__all__ = ["KINDS", "WORD", "DTYPE", "Function", "FUNCTIONS", "OPERATORS", "COMPARE"]
