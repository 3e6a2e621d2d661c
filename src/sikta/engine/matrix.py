"""The pain × potential prioritization matrix (SPEC §4.3, seed 001 steps 2–4), pure Ibis.

:func:`score` places every in-scope unit of a feature table in one of five
groups with a model (:mod:`sikta.service.model`; anything with the same
attributes works). :func:`explain_row` says why, in sentences.

How a unit is scored
--------------------
1. **Scope.** Only units whose ``status`` is in ``customer.statuses`` are
   scored; the others are not in the output.
2. **Values.** Per parameter the raw ``<axis>__<param>__value``: the built-in
   (:mod:`sikta.engine.wallet`, computed over the *whole* table so prospects
   get wallets from customer peers), the feature, the expression, or for a
   ``rule`` 1 when the expression is true and 0 when false or null. Booleans
   count as 1/0.
3. **Scores** ``<axis>__<param>__score`` in 0..1, over the in-scope units:

   ======== ================================================================
   rank     the share of the other units with a strictly lower value:
            (rank − 1) / (n − 1), ties share the lowest rank (SQL percent_rank)
   minmax   (value − min) / (max − min)
   z        Φ((value − mean) / sd), the standard normal CDF of the z-score
            (sample sd; Φ from Abramowitz & Stegun 7.1.26, within 1e-7)
   log      log(1 + max(value, 0)), then minmax: for money and counts with a long tail
   none     the value itself, which must already be 0..1; it is clipped to 0..1
   ======== ================================================================

   Statistics ignore missing values. When every unit has the same value (or
   only one has a value) the parameter tells units apart by nothing and
   scores 0. ``direction: lower`` turns the score into 1 − score. A unit
   without a value gets the parameter's ``missing`` score (default 0: no
   evidence of potential or pain counts as none), whatever the direction.
4. **Axis scores** ``potential_score``, ``pain_score``: the weighted mean of
   the axis's parameter scores. All scores are rounded to 12 decimals so a
   re-run gives the same numbers to the bit.
5. **Deprioritization** before the matrix: the rules are tried in order and
   ``deprioritized_by`` is the name of the first that fires. A rule fires
   only when its expression is true; a null (missing data) does not fire.
6. **High or low**, against ``<axis>_threshold``: a ``value`` threshold is
   high when the axis score is **at or above** it; a ``quantile`` q is
   resolved to the exact q-quantile (linear interpolation) of the axis scores
   of the units in the matrix (in scope and not deprioritized), and high is
   strictly **above** it, so units tied at the bottom (for example everybody
   without pain data at 0) are low together instead of all high.
7. **Group**: ``deprioritized`` if a rule fired, else invest (high pain,
   high potential), qualify (low pain, high potential), streamline (high
   pain, low potential) or maintain (low pain, low potential). Every in-scope
   unit is in exactly one group.

Output columns: ``unit_id``, ``status``, the columns the rules read, per
parameter ``<axis>__<param>__value`` and ``__score``, ``potential_score``,
``pain_score``, ``potential_threshold``, ``pain_threshold``,
``potential_high``, ``pain_high``, ``deprioritized_by``, ``group``.

Examples
--------
>>> import ibis, pandas as pd
>>> from sikta.service.model import model_from_text
>>> m = model_from_text('''
... name: demo
... potential: [{name: size, feature: employees}]
... pain: [{name: tickets, feature: tickets_12m}]
... thresholds: {potential: {value: 0.5}, pain: {value: 0.5}}
... deprioritize: [{name: micro, when: employees < 5}]
... ''')
>>> f = ibis.memtable(pd.DataFrame({"unit_id": list("ABCDE"), "status": ["customer"] * 5,
...     "employees": [2, 10, 20, 30, 40], "tickets_12m": [0, 9, 1, 8, 2]}))
>>> out = ibis.duckdb.connect().to_pandas(score(f, m).order_by("unit_id"))
>>> out[["unit_id", "potential_score", "pain_score", "group"]].values.tolist()
[['A', 0.0, 0.0, 'deprioritized'], ['B', 0.25, 1.0, 'streamline'], ['C', 0.5, 0.25, 'qualify'], ['D', 0.75, 0.75, 'invest'], ['E', 1.0, 0.5, 'invest']]
>>> explain_row(out.iloc[2].to_dict(), m)[-1]
'→ qualify: low pain and high potential — wanted, but is the need critical? Listen for the pain.'
"""

from __future__ import annotations

import math
from typing import Any

import ibis
import ibis.expr.types as ir

from sikta.engine.expressions import compile_expression, parse
from sikta.engine.wallet import BUILTINS, FITTED_BUILTINS, add_builtins, builtin_inputs
from sikta.errors import InputError, ModelError

__all__ = [
    "AXES",
    "GROUPS",
    "GROUP_MEANING",
    "GROUP_SUMMARY",
    "MAX_PARAMETERS",
    "SCALINGS",
    "STATUSES",
    "explain_row",
    "param_column",
    "scheme_param_column",
    "score",
]

AXES = ("potential", "pain")
GROUPS = ("invest", "qualify", "streamline", "maintain", "deprioritized")
STATUSES = ("customer", "prospect", "former")
SCALINGS = ("rank", "minmax", "z", "log", "none")
#: "Keep it simple: 1–3 parameters" per axis (SPEC §2.3)
MAX_PARAMETERS = 3
GROUP_MEANING = {
    "invest": "high pain and high potential — over-invest for the long term.",
    "qualify": "low pain and high potential — wanted, but is the need critical? Listen for the pain.",
    "streamline": "high pain and low potential — the tail that takes time; re-prioritize.",
    "maintain": "low pain and low potential — least resources without losing them.",
    "deprioritized": "not a single minute — decided early by the rules.",
}
#: the same in a few words, for tables (CLI, web, report)
GROUP_SUMMARY = {
    "invest": "high pain, high potential — over-invest, long term",
    "qualify": "low pain, high potential — wanted, but is the need critical?",
    "streamline": "high pain, low potential — the tail that takes time",
    "maintain": "low pain, low potential — least effort without losing them",
    "deprioritized": "decided early by a rule — not a single minute",
}
_DIGITS = 12
# Abramowitz & Stegun 7.1.26: erf(x) = 1 - t(a1 + t(a2 + ...)) exp(-x²), t = 1 / (1 + p x)
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def param_column(axis: str, name: str, part: str) -> str:
    """Output column of a parameter: ``<axis>__<name>__<part>``, part ``value`` or ``score``.

    Double underscores keep the names plain identifiers for DuckDB and Parquet
    (parameter names cannot contain ``__``).

    Examples
    --------
    >>> param_column("potential", "size", "score")
    'potential__size__score'
    """
    return f"{axis}__{name}__{part}"


def scheme_param_column(ref: str) -> str:
    """The column a ``scheme:`` parameter reads; the service adds it to the feature table before scoring.

    ``NAME`` reads the scheme's number, ``NAME=SEGMENT`` a 1/0 membership (see
    :mod:`sikta.service.scheme_spec`).

    Examples
    --------
    >>> scheme_param_column("opportunity"), scheme_param_column("needs=values support")
    ('scheme__opportunity__score', 'scheme__needs__is__values_support')
    """
    from sikta.engine.features_parts import slug

    name, eq, segment = ref.partition("=")
    name, segment = name.strip(), segment.strip()
    return f"scheme__{name}__is__{slug(segment)}" if eq else f"scheme__{name}__score"


def _params(model) -> list[tuple[str, int, Any]]:
    return [(axis, i, p) for axis in AXES for i, p in enumerate(getattr(model, axis))]


def _texts(model) -> list[str]:
    return [p.source for _, _, p in _params(model) if p.kind in ("expr", "rule")] + [r.when for r in model.deprioritize]


def _numeric(v: ir.Value, what: str) -> ir.Value:
    dtype = v.type()
    if dtype.is_boolean():
        return v.cast("float64")
    if not dtype.is_numeric():
        raise ModelError(f"{what} is {dtype}, not a number: use rule: for a yes/no test, or expr: to make a number")
    return v.cast("float64")


def _condition(text: str, t: ir.Table, what: str) -> ir.BooleanValue:
    """A yes/no expression where null (missing data) counts as no."""
    cond = compile_expression(text, t, what=what)
    if not cond.type().is_boolean():
        raise ModelError(f"{what} '{text}' is {cond.type()}, not true/false")
    return cond.fill_null(False)


def _value(t: ir.Table, axis: str, p) -> ir.Value:
    what = f"{axis} parameter '{p.name}'"
    if p.kind == "rule":
        return ibis.ifelse(_condition(p.rule, t, f"{what}: rule"), 1.0, 0.0)
    if p.kind == "expr":
        return _numeric(compile_expression(p.expr, t, what=f"{what}: expr"), f"{what}: expr '{p.expr}'")
    if p.kind == "scheme":
        col = scheme_param_column(p.scheme)
        if col not in t.columns:
            raise ModelError(f"{what}: scheme '{p.scheme}' is not computed: run the model with its schemes "
                             "(sikta run, Workspace.run)")
        return _numeric(t[col], f"{what}: scheme '{p.scheme}'")
    col = p.feature if p.kind == "feature" else p.name
    if col not in t.columns:
        raise ModelError(f"{what}: unknown feature '{col}'")
    return _numeric(t[col], f"{what}: feature '{col}'")


def _phi(z: ir.NumericValue) -> ir.NumericValue:
    x = z.abs() / math.sqrt(2.0)
    u = 1.0 / (1.0 + _AS_P * x)
    poly = ibis.literal(_AS_A[-1])
    for a in reversed(_AS_A[:-1]):
        poly = a + u * poly
    erf = 1.0 - u * poly * (-(x * x)).exp()
    return ibis.ifelse(z >= 0, 0.5 + 0.5 * erf, 0.5 - 0.5 * erf)


def _spread(v: ir.NumericValue) -> ir.NumericValue:
    whole = ibis.window()
    lo, hi = v.min().over(whole), v.max().over(whole)
    return ibis.ifelse(hi > lo, (v - lo) / (hi - lo), 0.0)


def _scaled(v: ir.NumericValue, scaling: str) -> ir.NumericValue:
    """0..1 score of a value column over the whole (in-scope) table; null where the value is."""
    if scaling == "rank":
        s = v.percent_rank().over(ibis.window(group_by=v.isnull(), order_by=v))
    elif scaling == "minmax":
        s = _spread(v)
    elif scaling == "log":
        # DuckDB's greatest() turns null into 0, which would join the min/max: keep nulls null
        s = _spread(ibis.ifelse(v.isnull(), ibis.null("float64"), (ibis.greatest(v, 0.0) + 1.0).ln()))
    elif scaling == "z":
        whole = ibis.window()
        sd = v.std().over(whole)
        z = ibis.ifelse(sd > 0, (v - v.mean().over(whole)) / sd, ibis.null("float64"))
        s = ibis.ifelse(sd > 0, _phi(z), 0.0)
    elif scaling == "none":
        s = ibis.greatest(ibis.least(v, 1.0), 0.0)
    else:
        raise ModelError(f"unknown scaling '{scaling}': use one of {', '.join(SCALINGS)}")
    return ibis.ifelse(v.isnull(), ibis.null("float64"), s.cast("float64"))


def score(f: ir.Table, model) -> ir.Table:
    """Score the feature table ``f`` with ``model``: one row per in-scope unit, in one group.

    Parameters
    ----------
    f
        The feature table (:mod:`sikta.engine.features`) at the model's grain.
    model
        A :class:`sikta.service.model.Model`.

    Returns
    -------
    ibis.expr.types.Table
        See the module docstring for the definitions and columns.

    Raises
    ------
    ModelError
        A parameter reads a column that does not exist or is not a number, or an
        expression does not compile (checked when the expression is built, before
        anything runs).
    """
    if "status" not in f.columns or "unit_id" not in f.columns:
        raise InputError("not a feature table: it needs unit_id and status")
    params = _params(model)
    # built-in parameters are always computed; a built-in that a feature: or an expression
    # reads only when the table lacks a column of that name
    named = {p.name for _, _, p in params if p.kind == "builtin"}
    read = {p.source for _, _, p in params if p.kind == "feature"}.union(*(parse(t).columns for t in _texts(model)))
    read |= {scheme_param_column(p.scheme) for _, _, p in params if p.kind == "scheme"}
    wanted = [n for n in BUILTINS if n in named or (n in read and n not in f.columns)]
    w = model.wallet
    # Only the columns the model reads travel through the window sorts below: a feature
    # table has a hundred columns, and carrying them makes a 1M-unit run several times slower.
    rule_reads = {c for r in model.deprioritize for c in parse(r.when).columns}
    keep = {"unit_id", "status", *read, *rule_reads, *(builtin_inputs(f.columns, w.peers) if wanted else ())}
    keep |= {n for n in wanted if n in FITTED_BUILTINS}  # joined on by the service before scoring
    f = f.select(*[c for c in f.columns if c in keep])
    f = add_builtins(f, wanted, percentile=w.percentile, by=tuple(w.peers), min_peers=w.min_peers)
    t = f.filter(f.status.isin(list(model.customer.statuses)))

    values = {param_column(a, p.name, "value"): _value(t, a, p) for a, _, p in params}
    rules = [(_condition(r.when, t, f"deprioritization rule '{r.name}': when"), r.name) for r in model.deprioritize]
    # ibis.cases takes the first true branch: the first rule that fires is the one recorded
    dep = ibis.cases(*((c, ibis.literal(n)) for c, n in rules), else_=ibis.null("string")) if rules else ibis.null("string")
    t = t.mutate(**values, deprioritized_by=dep)

    scores = {}
    for a, _, p in params:
        v = t[param_column(a, p.name, "value")]
        s = _scaled(v, p.scaling)
        if p.direction == "lower":
            s = 1.0 - s
        scores[param_column(a, p.name, "score")] = ibis.ifelse(v.isnull(), p.missing, s).round(_DIGITS)
    t = t.mutate(**scores)

    axes = {}
    for a in AXES:
        ps = getattr(model, a)
        total = sum(p.weight for p in ps)
        axes[f"{a}_score"] = sum(
            (t[param_column(a, p.name, "score")] * (p.weight / total) for p in ps), ibis.literal(0.0)
        ).round(_DIGITS)
    t = t.mutate(**axes)

    in_matrix = t.deprioritized_by.isnull()
    marks = {}
    for a in AXES:
        th = getattr(model.thresholds, a)
        s = t[f"{a}_score"]
        if th.quantile is not None:
            cut = s.quantile(th.quantile, where=in_matrix).over(ibis.window()).round(_DIGITS)
            high = s > cut
        else:
            cut = ibis.literal(float(th.value))
            high = s >= cut
        marks[f"{a}_threshold"] = cut.cast("float64")
        marks[f"{a}_high"] = high.fill_null(False)
    t = t.mutate(**marks)

    group = ibis.cases(
        (t.deprioritized_by.notnull(), "deprioritized"),
        (t.pain_high & t.potential_high, "invest"),
        (t.potential_high, "qualify"),
        (t.pain_high, "streamline"),
        else_="maintain",
    )
    t = t.mutate(group=group)
    rule_cols = sorted(rule_reads & set(t.columns))
    front = list(dict.fromkeys(["unit_id", "status", *rule_cols]))
    per_param = [param_column(a, p.name, part) for a, _, p in params for part in ("value", "score")]
    tail = [*(f"{a}_score" for a in AXES), *(f"{a}_threshold" for a in AXES), *(f"{a}_high" for a in AXES)]
    return t.select(*front, *per_param, *tail, "deprioritized_by", "group")


# -- explanations ------------------------------------------------------------------------------


def _num(v: Any) -> str:
    """A number as a sales manager reads it: 120,000 / 6.2 / 0.25."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "no value"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not isinstance(v, int | float):
        return str(v)
    x = float(v)
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:,.1f}"
    return f"{x:.3g}"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _describe(axis: str, p, row: dict) -> str:
    value = row.get(param_column(axis, p.name, "value"))
    s = row.get(param_column(axis, p.name, "score"))
    weight = f" × weight {p.weight:g}"
    if p.kind == "rule":
        what = f"{p.label} ({p.rule}): {'yes' if value == 1 else 'no'}"
    elif p.kind == "scheme" and "=" in p.scheme:
        scheme, _, segment = (x.strip() for x in p.scheme.partition("="))
        what = f"{p.label} (segment '{segment}' of scheme {scheme}): {'yes' if value == 1 else 'no'}"
    elif p.kind == "builtin" and p.name == "industry_fit" and not _missing(value):
        what = (f"{p.label} {_num(value)} (its industry, size band and region make a best customer {_num(value)}× as "
                "likely as for an average customer)")
    elif p.kind == "builtin" or p.source in (p.name, p.label):
        what = f"{p.label} {_num(value)}"
    else:
        what = f"{p.label} {p.source} = {_num(value)}"
    if _missing(value) and p.kind != "rule":
        return f"{p.label}: no value → score {p.missing:.2f} (a missing value scores {p.missing:g}){weight}"
    lower = ", lower is more" if p.direction == "lower" else ""
    return f"{what} → score {_score(s)}{lower}{weight}"


def _score(s: Any) -> str:
    return "?" if _missing(s) else f"{float(s):.2f}"


def _pair(a: Any, b: Any) -> tuple[str, str]:
    """Two scores with enough decimals that they do not print alike when they differ."""
    if _missing(a) or _missing(b):
        return _score(a), _score(b)
    for digits in (2, 3, 4, 6):
        x, y = f"{float(a):.{digits}f}", f"{float(b):.{digits}f}"
        if x != y:
            return x, y
    return x, y


def _axis_sentence(axis: str, model, row: dict) -> str:
    th = getattr(model.thresholds, axis)
    high = bool(row.get(f"{axis}_high"))
    value, cut = _pair(row.get(f"{axis}_score"), row.get(f"{axis}_threshold"))
    if th.quantile is not None:
        where = f"{'' if high else 'not '}above {cut}, the {th.quantile * 100:g}th percentile of the matrix"
    else:
        where = f"{'at or above' if high else 'below'} {cut}"
    parts = "; ".join(_describe(axis, p, row) for p in getattr(model, axis))
    return f"{axis.capitalize()} {value} ({'high' if high else 'low'}: {where}): {parts}."


def explain_row(row: dict, model) -> list[str]:
    """Why one scored unit landed in its group, in sentences.

    Parameters
    ----------
    row
        One row of :func:`score`'s output as a dict (missing values as None or NaN).
    model
        The model it was scored with.

    Returns
    -------
    list of str
        For a unit in the matrix: the potential sentence, the pain sentence and the
        group; for a deprioritized unit: the rule that fired (with the values it read)
        and the group.

    Examples
    --------
    See the module docstring.
    """
    group = row.get("group")
    style = getattr(model.groups, group, None) if group in GROUPS else None
    name = (style.label if style is not None and style.label else None) or group
    kpi = f" Judged by {style.kpi}." if style is not None and style.kpi else ""
    closing = f"→ {name}: {GROUP_MEANING.get(group, '')}{kpi}"
    fired = row.get("deprioritized_by")
    if not _missing(fired):
        rule = next((r for r in model.deprioritize if r.name == fired), None)
        if rule is None:
            return [f"Deprioritized by rule '{fired}', decided before the matrix.", closing]
        cols = sorted(parse(rule.when).columns)
        seen = ", ".join(f"{c} = {_num(row.get(c))}" for c in cols if c in row)
        here = f"; here {seen}" if seen else ""
        return [f"Deprioritized by rule '{rule.name}' ({rule.when}{here}), decided before the matrix.", closing]
    return [_axis_sentence("potential", model, row), _axis_sentence("pain", model, row), closing]
