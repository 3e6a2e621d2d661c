"""The small, safe expression language of segmentation models.

Analysts write rules and formulas over the feature table in model files
(``employees < 5``, ``log(revenue_12m + 1) * 0.5``). A recursive-descent
parser turns them into a tree of :class:`Node`; only the grammar below is
accepted, so nothing an analyst types reaches the database as SQL text. The
tree becomes a lazy Ibis value (:meth:`Expression.to_ibis`) or is evaluated in
plain Python (:meth:`Expression.evaluate`, the reference semantics); the tests
hold the two equal on random expressions and rows. Every operator and function
is one entry of a table (kinds, Python, Ibis), so the three stay in step.

Grammar (keywords case-insensitive, column names exact)::

    expr      := expr 'or' expr | expr 'and' expr | 'not' expr | predicate
    predicate := sum [ ('='|'=='|'!='|'<>'|'<'|'<='|'>'|'>=') sum
                     | ['not'] 'in' ('(' list ')' | '[' list ']')
                     | ['not'] 'between' sum 'and' sum | ['not'] 'like' sum
                     | 'is' ['not'] ('null' | 'none' | 'true' | 'false') ]
    sum       := product (('+'|'-') product)*      product := unary (('*'|'/') unary)*
    unary     := ('-'|'+') unary | number | 'text' | true | false | null | None | column
               | function '(' [expr (',' expr)*] ')' | '(' expr ')'
               | 'case' ('when' expr 'then' expr)+ ['else' expr] 'end'

Decisions:

* Numbers are doubles: integer columns are read as doubles, ``/`` is true
  division (``7 / 2`` is 3.5) and dividing by zero gives NULL.
* NULL is SQL's: it propagates through arithmetic, comparisons and functions,
  ``and``/``or``/``not`` are three-valued, ``x in (1, null)`` is NULL unless x
  is 1. ``x = null`` / ``x == None`` is refused (never true): write ``is null``.
* ``log`` is the natural logarithm, as ``ln`` (Python's meaning, not DuckDB's);
  ``log``/``ln``/``log10`` of a number <= 0 and ``sqrt`` of a negative one are
  NULL, not errors. ``least``/``greatest`` skip NULLs; ``if(c, a, b)`` is
  ``case when c then a else b end``. The list is :data:`FUNCTIONS`.
* Otherwise floats are IEEE as in DuckDB: overflow gives infinity, ``inf - inf``
  NaN, and NaN equals NaN and sorts above every number.
* Text is in single quotes (``'it''s'``) and compares case-sensitively. Double
  quotes, backticks, casts, comments, semicolons, placeholders, subqueries,
  ``*``, ``t.col``, aggregates and window functions are refused by name. There
  is no concatenation, remainder or power (exp/log/sqrt cover the uses).
* ``lower``/``upper`` follow DuckDB; Python maps a few letters (ß, İ) otherwise.
* Limits: 2,000 characters, nesting 40 deep, and a bound on the size DuckDB
  expands ``in``/``between``/``nullif`` to (it copies their first argument).

Examples
--------
>>> e = parse("status == 'former' and months_since_last_order > 36")
>>> sorted(e.columns), e.kind
(['months_since_last_order', 'status'], 'boolean')
>>> e.evaluate({"status": "former", "months_since_last_order": None}) is None
True
>>> parse("employes < 5", columns=["employees"], what="deprioritize rule")
Traceback (most recent call last):
...
sikta.errors.ModelError: deprioritize rule 'employes < 5': unknown column 'employes' (did you mean 'employees'?)
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir

from sikta.engine.expression_functions import COMPARE, DTYPE, FUNCTIONS, KINDS, OPERATORS, WORD, Function
from sikta.errors import ModelError

MAX_LENGTH, MAX_DEPTH, MAX_SIZE = 2_000, 40, 20_000
_AGGREGATES = set("count sum avg mean min max median mode stddev std variance var quantile percentile_cont "
                  "percentile_disc first last any_value list array_agg string_agg group_concat row_number rank "
                  "dense_rank lag lead ntile".split())
_STATEMENT = set("select insert update delete drop create alter attach detach copy pragma install load call export "
                 "import with from where union intersect except into table values set reset vacuum checkpoint begin "
                 "commit rollback truncate grant revoke execute prepare describe show summarize explain use merge "
                 "join group order having limit offset exists distinct returning pivot unpivot qualify any all some"
                 .split())
_WINDOW = {"over", "partition", "window", "filter", "within"}
_REFUSED_WORDS = {"lambda": "lambdas are not allowed",
                  **dict.fromkeys(_STATEMENT, "only expressions are allowed, not statements or subqueries"),
                  **dict.fromkeys(_WINDOW, "window functions are not allowed: an expression works on one row")}
_KEYWORDS = {*"and or not in is null none true false between like case when then else end".split(), *_REFUSED_WORDS}
_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels)"
_TOKEN = re.compile(r"""(?P<ws>\s+)
  |(?P<bad>--|\#|/\*|\*/|\*\*|::|;|\$\w*|\?|:\w*|["`]|&&?|\|\|?|%|\^|!(?!=)|\.(?=[A-Za-z_]))
  |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  |(?P<str>'(?:[^']|'')*')
  |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
  |(?P<op><=|>=|<>|!=|==|[-+*/=<>(),\[\]])""", re.X)
_BAD = [(("--", "#", "/*", "*/"), "comments ('--', '/* */', '#') are not allowed"),
        ((";",), "semicolons are not allowed: write a single expression, not statements"),
        (("::",), "casts ('::') are not allowed: every number is already a double and text stays text"),
        (("$", "?", ":"), "parameters and placeholders ('$1', '?', ':name') are not allowed"),
        (('"', "`"), "double quotes are not allowed: write text in single quotes ('like this') and columns bare"),
        (("&", "|"), "'{t}' is not supported: use 'and' / 'or'"), (("!",), "'!' is not supported: use 'not' or '!='"),
        (("%",), "'%' (remainder) is not supported"), (("^", "**"), "powers are not supported: use exp, log or sqrt"),
        ((".",), "table-qualified names are not allowed: write the column name alone")]


@dataclass(frozen=True, eq=False)
class Node:
    """A node of a parsed expression: ``op`` is 'lit', 'col' or 'case' (``args``:
    when, then, …, else), 'fn' (``value`` names the function) or an operator."""

    op: str
    args: tuple[Node, ...] = ()
    value: Any = None
    depth: int = 1


def _spec(n: Node) -> Function:
    return FUNCTIONS[n.value] if n.op == "fn" else OPERATORS[n.op]


def _label(n: Node) -> str:
    """How messages name the operator or function of a node."""
    return f"{n.value}()" if n.op == "fn" else f"'{ {'neg': '-', 'pos': '+', 'isnull': 'is null'}.get(n.op, n.op)}'"


def _show(n: Node) -> str:
    """A node as text, for messages."""
    v, a = n.value, [_show(x) for x in n.args]
    if n.op == "lit":
        return ("null" if v is None else str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float)
                else "'" + v.replace("'", "''") + "'")
    return {"col": lambda: v, "fn": lambda: f"{v}({', '.join(a)})", "neg": lambda: f"-{a[0]}", "pos": lambda: a[0],
            "not": lambda: f"not {a[0]}", "isnull": lambda: f"{a[0]} is null", "case": lambda: "case … end",
            "in": lambda: f"{a[0]} in ({', '.join(a[1:])})", "between": lambda: f"{a[0]} between {a[1]} and {a[2]}",
            }.get(n.op, lambda: f"{a[0]} {n.op} {a[1]}")()


class _Parser:
    def __init__(self, text: str, kinds: Mapping[str, str] | None, fail: Callable[[str], ModelError]):
        self.fail, self.kinds, self.i, self.nest, self.columns, self.functions = fail, kinds, 0, 0, set(), set()
        self.toks = self.tokens(text)

    def tokens(self, text: str) -> list[tuple[str, Any, int]]:
        out, pos = [], 0
        while pos < len(text):
            if (m := _TOKEN.match(text, pos)) is None:
                what = "text has no closing quote (')" if text[pos] == "'" else f"unexpected {text[pos]!r}"
                raise self.fail(f"{what} at character {pos + 1}")
            kind, tok = m.lastgroup, m.group()
            if kind == "bad":
                raise self.fail(next(m for starts, m in _BAD if tok.startswith(starts)).replace("{t}", tok))
            if kind == "name" and tok.lower() in _KEYWORDS:
                kind, tok = "kw", tok.lower()
                if tok in _REFUSED_WORDS:
                    raise self.fail(_REFUSED_WORDS[tok])
            if kind != "ws":
                out.append((kind, tok, pos + 1))
            pos = m.end()
        return [*out, ("end", "", len(text) + 1)]

    def peek(self, k: int = 0) -> tuple[str, Any, int]:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self, *values: str) -> str | None:
        kind, tok, _ = self.peek()
        if kind in ("kw", "op") and tok in values:
            self.i += 1
            return tok
        return None

    def expect(self, value: str, context: str) -> None:
        if not self.take(value):
            raise self.unexpected(f"expected '{value}' {context}")

    def unexpected(self, hint: str = "") -> ModelError:
        kind, tok, pos = self.peek()
        hint = "write if(condition, a, b) or case when … then … else … end" if tok == "if" else hint
        where = "unexpected end of expression" if kind == "end" else f"unexpected '{tok}' at character {pos}"
        return self.fail(where + (f" ({hint})" if hint else ""))

    def mk(self, op: str, *args: Node, value: Any = None) -> Node:
        depth = 1 + max((a.depth for a in args), default=0)
        if depth > MAX_DEPTH:
            raise self.fail(_DEEP)
        return Node(op, args, value, depth)

    def nested(self, parse: Callable[[], Node]) -> Node:
        # bounds Python's recursion before any node exists (e.g. '((((…' or '- - - …')
        self.nest += 1
        if self.nest > MAX_DEPTH:
            raise self.fail(_DEEP)
        node = parse()
        self.nest -= 1
        return node

    def parse(self) -> Node:
        node = self.expr()
        if self.peek()[0] != "end":
            raise self.unexpected("after a complete expression")
        return node

    def expr(self) -> Node:
        return self.nested(lambda: self.chain(("or",), lambda: self.chain(("and",), self.negation)))

    def chain(self, words: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        node = operand()
        while op := self.take(*words):
            node = self.mk(op, node, operand())
        return node

    def negation(self) -> Node:
        return self.nested(lambda: self.mk("not", self.negation())) if self.take("not") else self.predicate()

    def predicate(self) -> Node:
        left = self.sum()
        node = self.suffix(left)
        kind, tok, _ = self.peek()
        if node is not left and kind in ("op", "kw") and tok in (*COMPARE, "==", "<>", "in", "is", "between", "like"):
            raise self.fail("chained comparisons are not allowed: write 'a < b and b < c'")
        return node

    def sum(self) -> Node:
        return self.chain(("+", "-"), lambda: self.chain(("*", "/"), self.unary))

    def suffix(self, left: Node) -> Node:
        if op := self.take(*COMPARE, "==", "<>"):
            right = self.sum()
            if any(x.op == "lit" and x.value is None for x in (left, right)):
                raise self.fail("comparing with null is never true: write 'is null' or 'is not null'")
            return self.mk({"==": "=", "<>": "!="}.get(op, op), left, right)
        if self.take("is"):
            negated, what = bool(self.take("not")), self.take("null", "none", "true", "false")
            if what is None:
                raise self.unexpected("after 'is' write null, not null, true or false")
            if what in ("null", "none"):
                node = self.mk("isnull", left)
            else:  # 'x is true' is never null: coalesce(x, false)
                self.functions.add("coalesce")
                node = self.mk("fn", left if what == "true" else self.mk("not", left), Node("lit", (), False),
                               value="coalesce")
            return self.mk("not", node) if negated else node
        negated = self.peek()[1] == "not" and self.peek(1)[1] in ("in", "between", "like") and bool(self.take("not"))
        if self.take("in"):
            if (close := {"(": ")", "[": "]"}.get(self.take("(", "[") or "")) is None:
                raise self.unexpected("'in' needs a list like ('SE', 'NO')")
            if not (items := self.items(close, "in the 'in' list")):
                raise self.fail("'in' needs at least one value")
            node = self.mk("in", left, *items)
        elif self.take("between"):
            low = self.sum()
            self.expect("and", "in 'between … and …'")
            node = self.mk("between", left, low, self.sum())
        elif self.take("like"):
            node = self.mk("like", left, self.sum())
        else:
            return left
        return self.mk("not", node) if negated else node

    def items(self, close: str, context: str) -> list[Node]:
        items = []
        while not self.take(close):
            items.append(self.expr())
            if not self.take(","):
                self.expect(close, context)
                break
        return items

    def unary(self) -> Node:
        if not (op := self.take("-", "+")):
            return self.primary()
        arg = self.nested(self.unary)
        if arg.op == "lit" and isinstance(arg.value, float):  # fold, so round(x, -2) has literal digits
            return Node("lit", (), -arg.value if op == "-" else arg.value)
        return self.mk("neg" if op == "-" else "pos", arg)

    def primary(self) -> Node:
        kind, tok, _ = self.peek()
        self.i += 1
        if kind == "num":
            if not math.isfinite(value := float(tok)):
                raise self.fail(f"number {tok if len(tok) <= 24 else tok[:20] + '…'} is too large")
            return Node("lit", (), value)
        if kind == "str":
            return Node("lit", (), tok[1:-1].replace("''", "'"))
        if kind == "kw" and tok in ("true", "false", "null", "none"):
            return Node("lit", (), {"true": True, "false": False}.get(tok))
        if kind == "kw" and tok == "case":
            return self.case()
        if kind == "op" and tok == "(":
            node = self.expr()
            self.expect(")", "to close '('")
            return node
        if kind == "op" and tok == "*":
            raise self.fail("'*' (all columns) is not allowed: name the columns")
        if kind == "name":
            return self.call(tok) if self.peek()[1] == "(" else self.column(tok)
        self.i -= 1
        raise self.unexpected()

    def column(self, name: str) -> Node:
        if self.kinds is not None and name not in self.kinds:
            hit = difflib.get_close_matches(name, list(self.kinds), n=1, cutoff=0.6)
            hit = hit or [c for c in self.kinds if c.lower() == name.lower()]
            raise self.fail(f"unknown column '{name}'" + (f" (did you mean '{hit[0]}'?)" if hit else ""))
        self.columns.add(name)
        return Node("col", (), name)

    def call(self, name: str) -> Node:
        low = name.lower()
        if low in ("cast", "try_cast", "convert"):
            raise self.fail("casts are not allowed: every number is already a double and text stays text")
        if low in _AGGREGATES:
            raise self.fail(f"aggregate and window functions like '{low}' are not allowed: an expression works on "
                            "one row (least/greatest pick the smallest/largest of values)")
        if low not in FUNCTIONS:
            raise self.fail(f"function '{name}' is not allowed (allowed: {', '.join(sorted(FUNCTIONS))})")
        self.i += 1  # the '('
        args, (lo, hi) = self.items(")", f"to close {low}("), FUNCTIONS[low].arity
        if not lo <= len(args) <= (hi or len(args)):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            raise self.fail(f"{low}() takes {want} argument{'s' * (want != '1')}, got {len(args)}")
        if low == "round" and len(args) == 2:
            d = args[1].value if args[1].op == "lit" else None
            if not isinstance(d, float) or d != int(d) or abs(d) > 15:
                raise self.fail("round(x, digits): digits must be a whole number from -15 to 15, like round(x, 2)")
        self.functions.add(low)
        return self.mk("fn", *args, value=low)

    def case(self) -> Node:
        if self.peek()[1] != "when":
            raise self.unexpected("write 'case when condition then value … end'")
        parts = []
        while self.take("when"):
            parts.append(self.expr())
            self.expect("then", "after 'case when …'")
            parts.append(self.expr())
        parts.append(self.expr() if self.take("else") else Node("lit", (), None))
        self.expect("end", "to close 'case'")
        return self.mk("case", *parts)


class _Typer:
    """Kinds bottom-up (``kinds``, and the shared kind of 'same' arguments in
    ``operand``); refuses mixes, and bounds the size DuckDB will expand to."""

    def __init__(self, columns: Mapping[str, str], fail: Callable[[str], ModelError]):
        self.cols, self.fail, self.kinds, self.operand, self.size = columns, fail, {}, {}, {}

    def need(self, node: Node, want: str, label: str) -> None:
        if (got := self.kind(node)) not in ("unknown", want):
            raise self.fail(f"{label} needs {WORD[want]}, but {_show(node)} is {WORD[got]}")

    def unify(self, nodes: Iterable[Node], label: str) -> str:
        known = {k for k in (self.kind(n) for n in nodes) if k != "unknown"}
        if len(known) > 1:
            raise self.fail(f"{label} mixes {' and '.join(WORD[k] for k in sorted(known))}")
        return known.pop() if known else "unknown"

    def kind(self, n: Node) -> str:
        if id(n) not in self.kinds:
            self.kinds[id(n)] = self._kind(n)
            copies = {"between": 1, "in": len(n.args) - 2, "fn": int(n.value == "nullif")}.get(n.op, 0)
            size = 1 + sum(self.size.get(id(a), 1) for a in n.args) + (copies * self.size[id(n.args[0])] if copies else 0)
            if size > MAX_SIZE:
                raise self.fail("too complex: split it into simpler parameters")
            self.size[id(n)] = size
        return self.kinds[id(n)]

    def _kind(self, n: Node) -> str:
        a = n.args
        if n.op == "lit":
            v = n.value
            return "unknown" if v is None else "boolean" if isinstance(v, bool) else "numeric" if isinstance(v, float) else "string"
        if n.op == "col":
            if (k := self.cols.get(n.value, "unknown")) not in KINDS:
                raise self.fail(f"column '{n.value}' is {k}: only 'is null' works on it")
            return k
        if n.op == "case":
            for c in a[0:-1:2]:
                self.need(c, "boolean", "'case when'")
            return self.unify(a[1:-1:2] + a[-1:], "'case'")
        f, label = _spec(n), _label(n)
        if f.args == "any":
            if not (a[0].op == "col" and self.cols.get(a[0].value, "unknown") not in KINDS):
                self.kind(a[0])
            return f.result
        if f.args == "if":
            self.need(a[0], "boolean", label)
        for x in a if f.args not in ("same", "if") else ():
            self.need(x, f.args, label)
        operand = self.unify(a[f.args == "if":], label) if f.args in ("same", "if") else f.args
        self.operand[id(n)] = operand
        return operand if f.result == "same" else f.result


def _norm(v: Any) -> Any:
    """A row value as the language sees it: None, bool, float, str, or something else (a date)."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(v, bool) or type(v).__name__ in ("bool_", "bool"):
        return bool(v)
    if isinstance(v, numbers.Real | Decimal):
        return None if (v := float(v)) != v else v  # pandas writes a missing number as NaN
    return v


class _Eval:
    def __init__(self, row: Mapping[str, Any], fail: Callable[[str], ModelError]):
        self.row, self.fail = row, fail

    def check(self, values: list[Any], want: str | None, label: str) -> None:
        got = {"boolean" if isinstance(v, bool) else "numeric" if isinstance(v, float) else "string"
               if isinstance(v, str) else "other" for v in values if v is not None}
        if (want is not None and got - {want}) or len(got) > 1 or "other" in got:
            raise self.fail(f"{label} cannot work on {', '.join(repr(v) for v in values if v is not None)}")

    def ev(self, n: Node) -> Any:
        if n.op == "lit":
            return n.value
        if n.op == "col":
            if n.value not in self.row:
                raise self.fail(f"the row has no column '{n.value}'")
            return _norm(self.row[n.value])
        if n.op == "case":
            for c, v in zip(n.args[0:-1:2], n.args[1:-1:2], strict=True):
                if self.ev(c) is True:
                    return self.ev(v)
            return self.ev(n.args[-1])
        f, vals = _spec(n), [self.ev(x) for x in n.args]
        label = _label(n)
        if f.args == "if":
            self.check(vals[:1], "boolean", label)
        if f.args != "any":
            self.check(vals[f.args == "if":], None if f.args in ("same", "if") else f.args, label)
        return None if f.strict and any(v is None for v in vals) else f.py(*vals)


class _Ibis:
    def __init__(self, table: ir.Table, typer: _Typer):
        self.t, self.typer = table, typer

    def build(self, n: Node, want: str) -> ir.Value:
        k = self.typer.kinds.get(id(n), "unknown")
        k = want if k == "unknown" else k  # a bare null takes the kind its place needs
        if n.op == "lit":
            if isinstance(n.value, float):  # Ibis prints a bare 0.1, which DuckDB reads as DECIMAL: 0.1 + 0.2 = 0.3
                return ops.Cast(ibis.literal(repr(n.value)), to=dt.float64).to_expr()
            return ibis.null(DTYPE[k]) if n.value is None else ibis.literal(n.value, type=DTYPE[k])
        if n.op == "col":
            col, t = self.t[n.value], self.t[n.value].type()
            return col.cast("float64") if t.is_numeric() and not (t.is_boolean() or t.is_float64()) else col
        if n.op == "case":
            a = n.args
            whens = [(self.build(c, "boolean"), self.build(v, k)) for c, v in zip(a[0:-1:2], a[1:-1:2], strict=True)]
            return ibis.cases(*whens, else_=self.build(a[-1], k))
        f = _spec(n)
        operand = self.typer.operand.get(id(n), "unknown")
        operand = operand if operand != "unknown" else k if f.result == "same" else "numeric"
        wants = {"if": ["boolean", operand, operand], "same": [operand] * len(n.args),
                 "any": ["numeric"]}.get(f.args, [f.args] * len(n.args))
        return f.ib(*(self.build(x, w) for x, w in zip(n.args, wants, strict=True)))


@dataclass(frozen=True)
class Expression:
    """A parsed, whitelisted expression.

    Attributes
    ----------
    text
        What the analyst wrote.
    columns
        The feature columns it reads.
    kind
        'boolean', 'numeric', 'string', or 'unknown' (column types not given, or only nulls).
    functions
        The functions of :data:`FUNCTIONS` it calls.

    Examples
    --------
    >>> e = parse("least(revenue_12m, 100) / 2")
    >>> e.kind, sorted(e.functions), e.evaluate({"revenue_12m": None})
    ('numeric', ['least'], 50.0)
    """

    text: str
    columns: frozenset[str]
    kind: str
    functions: frozenset[str]
    tree: Node = field(repr=False, compare=False)
    what: str = field(default="expression", repr=False, compare=False)

    def to_ibis(self, table: ir.Table) -> ir.Value:
        """The expression as a lazy Ibis value over ``table``; numbers are float64.

        Raises
        ------
        ModelError
            A column is missing from ``table``, or its type does not fit (``country + 1``).
        """
        kinds, fail = _kinds(table.schema()), _failer(self.what, self.text)
        for name in sorted(self.columns - set(kinds)):
            _Parser("", kinds, fail).column(name)  # raises, with the closest name
        typer = _Typer(kinds, fail)
        typer.kind(self.tree)
        return _Ibis(table, typer).build(self.tree, "numeric")

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        """The value on one row in plain Python: None for NULL (NaN in the row counts as NULL).

        Examples
        --------
        >>> parse("country not in ('SE', 'NO') or employees between 10 and 50").evaluate({"country": "SE", "employees": 12})
        True
        """
        return _Eval(row, _failer(self.what, self.text)).ev(self.tree)


def _one_line(text: str) -> str:
    # messages are one line (CLI, logs, JSON errors): control characters, even inside quoted text, are shown escaped
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _failer(what: str, text: str) -> Callable[[str], ModelError]:
    shown = _one_line(" ".join(text.split()))
    shown = shown if len(shown) <= 80 else shown[:77] + "…"
    return lambda problem: ModelError(f"{what} '{shown}': {_one_line(problem)}")


def _kinds(columns: Iterable[str] | Mapping[str, Any] | None) -> dict[str, str] | None:
    """Column name -> kind; a type that is no kind (a date) is kept by its name."""
    if columns is None or not hasattr(columns, "items"):
        return None if columns is None else {str(c): "unknown" for c in columns}
    out = {}
    for name, t in columns.items():
        try:
            d = None if isinstance(t, str) and t in KINDS else ibis.dtype(t)
        except Exception:  # noqa: BLE001 - a type Ibis cannot read is simply unknown
            t, d = "unknown", None
        out[name] = t if d is None else ("boolean" if d.is_boolean() else "numeric" if d.is_numeric() else "string"
                                         if d.is_string() else "unknown" if d.is_null() else str(d).lower())
    return out


def parse(text: str, *, columns: Iterable[str] | Mapping[str, Any] | None = None, what: str = "expression") -> Expression:
    """Parse and check an expression.

    Parameters
    ----------
    text
        The expression, e.g. ``"revenue_12m between 1000 and 5000"``.
    columns
        The known columns: names, or a mapping of name to type (an Ibis schema
        or dtype, or one of :data:`KINDS`) to check types as well. None checks
        the syntax only.
    what
        Names the expression in messages, e.g. ``"deprioritization rule 'small'"``.

    Raises
    ------
    ModelError
        One line, ``"<what> '<text>': <problem>"``.

    Examples
    --------
    >>> parse("'abc' + 1")
    Traceback (most recent call last):
    ...
    sikta.errors.ModelError: expression ''abc' + 1': '+' needs a number, but 'abc' is text
    """
    if not isinstance(text, str):
        raise ModelError(f"{what}: an expression must be text, not {type(text).__name__}")
    if not text.strip():
        raise ModelError(f"{what} is empty")
    fail = _failer(what, text)
    if len(text) > MAX_LENGTH:
        raise fail(f"too long ({len(text):,} characters; at most {MAX_LENGTH:,})")
    kinds = _kinds(columns)
    p = _Parser(text, kinds, fail)
    tree = p.parse()
    kind = _Typer(kinds or {}, fail).kind(tree)
    return Expression(text, frozenset(p.columns), kind, frozenset(p.functions), tree, what)


def compile_expression(text: str, table: ir.Table, *, what: str = "expression") -> ir.Value:
    """Parse ``text`` against ``table``'s columns and types; the lazy Ibis value.

    Examples
    --------
    >>> t = ibis.memtable({"employees": [3, 12, None]})
    >>> t.select(small=compile_expression("employees < 5", t)).to_pandas()["small"].tolist()
    [True, False, None]
    """
    return parse(text, columns=table.schema(), what=what).to_ibis(table)


__all__ = ["FUNCTIONS", "KINDS", "MAX_DEPTH", "MAX_LENGTH", "Expression", "Function", "Node", "compile_expression", "parse"]
