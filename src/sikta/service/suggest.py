"""``sikta suggest``: propose the matrix parameters from the best customers (seed 001 steps 2–3).

Potential: the 1–3 factors that separate the best customers from the rest
(they are firmographic or behavioural, so prospects can be scored too), each
with its evidence. Pain: the needs and problems the best customers report
much more strongly than the rest — what we solve for them. The result is a
model file the user edits and keeps under version control.

Examples
--------
>>> _yaml_str("industry in ('Retail')")
'"industry in (\\'Retail\\')"'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from sikta.errors import DataTooThinError

if TYPE_CHECKING:
    from sikta.service.analysis import BestResult
    from sikta.service.workspace import Workspace

#: pain candidates: stated needs first, then observed problems
PAIN_PATTERNS = ("need_",)
PAIN_FEATURES = ("tickets_12m", "tickets_high_12m", "avg_resolution_hours_12m")
MIN_EFFECT = 0.2  # below a "small" Cohen's d a difference is not evidence
#: a parameter with values for fewer in-scope units than this is never proposed (the rest would all score
#: `missing`, the bottom of the axis: "high pain" would only mean "answered a survey")
MIN_COVERAGE = 0.6
#: the statuses the suggested model puts in scope
SCOPE = ("customer", "prospect")


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


@dataclass
class Parameter:
    """One proposed parameter with the evidence behind it."""

    axis: str
    name: str
    source: dict[str, Any]
    evidence: str
    effect: float | None = None

    def yaml(self) -> list[str]:
        lines = [f"  - name: {self.name}", f"    # evidence: {self.evidence}"]
        for key, value in self.source.items():
            lines.append(f"    {key}: {_yaml_str(value) if isinstance(value, str) and key in ('expr', 'rule') else value}")
        return lines


@dataclass
class Suggestion:
    """What ``suggest`` proposes, and the model file it wrote."""

    grain: str
    as_of: date
    potential: list[Parameter]
    pain: list[Parameter]
    best_summary: str
    text: str = ""
    notes: list[str] = field(default_factory=list)
    matrix: dict[str, Any] | None = None  # the matrix diagnosis of the written model (sikta.service.matrix_checks)

    def to_dict(self) -> dict:
        def p(x: Parameter) -> dict:
            return {"name": x.name, **x.source, "evidence": x.evidence, "effect": x.effect}

        return {"grain": self.grain, "as_of": str(self.as_of), "best": self.best_summary,
                "potential": [p(x) for x in self.potential], "pain": [p(x) for x in self.pain], "notes": self.notes,
                "matrix": self.matrix}


def _effect_of(effects: pd.DataFrame, feature: str) -> pd.Series | None:
    hit = effects[effects.feature == feature]
    return None if hit.empty else hit.iloc[0]


def _holdout(best: BestResult) -> tuple[int, int]:
    """Best customers and others in the holdout the driver search checked on."""
    return best.n_holdout_best, best.n_holdout - best.n_holdout_best


def _potential(best: BestResult, coverage: dict[str, tuple[float, int]], notes: list[str]) -> list[Parameter]:
    from sikta.core.diagnostics import rate_beats_chance

    out: list[Parameter] = []
    drivers = list(best.drivers[:3])
    pos, neg = _holdout(best)
    if drivers and best.n_holdout and not best.beats_chance:  # the driver search's own test (auc_beats_chance)
        notes.append(f"potential: the factors that separate the best customers ({', '.join(drivers)}) do no better "
                     f"than chance on the holdout (AUC {best.holdout_auc:.2f}, {pos} best and {neg} other "
                     "customers): not proposed")
        return out
    rules = {r.feature: r for r in best.rule_objects}
    table = best.effects
    checks = best.rule_table.set_index("feature") if best.rule_table is not None and len(best.rule_table) else None
    for feature in drivers:
        e = _effect_of(table, feature)
        rule = rules.get(feature)
        share = coverage.get(feature, (1.0, 2))[0]
        if share < MIN_COVERAGE:
            notes.append(f"potential: {feature} separates the best customers but has a value for only {share:.0%} "
                         f"of in-scope units (the minimum is {MIN_COVERAGE:.0%}): not proposed")
            continue
        if checks is not None and feature in checks.index and best.n_holdout:
            hit = checks.loc[feature]
            if not rate_beats_chance(float(hit.best_meeting), float(hit.rest_meeting), pos, neg):
                notes.append(f"potential: {feature} ('{hit.rule}') meets {hit.best_meeting:.0%} of holdout best "
                             f"customers and {hit.rest_meeting:.0%} of the others - no better than chance: not proposed")
                continue
        size = "" if e is None else f"effect {e['effect']:+.2f} ({e['kind']}); "
        meets = ""
        if rule is not None:
            meets = f"rule '{rule.text}'; "
        if e is not None and e["kind"] == "numeric":
            source: dict[str, Any] = {"feature": feature, "scaling": "rank",
                                      "direction": "higher" if e["effect"] >= 0 else "lower"}
        elif rule is not None:
            source = {"rule": rule.expression}
        else:
            continue
        out.append(Parameter("potential", feature, source,
                             f"{size}{meets}separates best customers (holdout AUC {best.holdout_auc:.2f}, "
                             f"capture {best.holdout_capture:.0%} vs {best.base_rate:.0%} at random)",
                             None if e is None else float(e["effect"])))
    return out


def _pain(best: BestResult, coverage: dict[str, tuple[float, int]], notes: list[str]) -> list[Parameter]:
    e = best.effects
    needs = [c for c in coverage if c.startswith(PAIN_PATTERNS)]
    if needs and all(coverage[c][0] == 0 for c in needs) or not needs and not e.feature.str.startswith(
            PAIN_PATTERNS).any():
        notes.append("pain: no survey answers in scope, so stated needs cannot be used")
    cands = e[(e.kind == "numeric") & (e.feature.str.startswith(PAIN_PATTERNS) | e.feature.isin(PAIN_FEATURES))]
    cands = cands[cands.effect >= MIN_EFFECT].sort_values("effect", ascending=False)
    out = []
    for r in cands.to_dict("records"):
        share = coverage.get(r["feature"], (1.0, 2))[0]
        if share < MIN_COVERAGE:
            notes.append(f"pain: {r['feature']} is stronger among the best customers (d = {r['effect']:+.2f}) but has "
                         f"a value for only {share:.0%} of in-scope units (the minimum is {MIN_COVERAGE:.0%}): "
                         "not proposed")
            continue
        out.append(Parameter(
            "pain", r["feature"], {"feature": r["feature"], "scaling": "rank"},
            f"best customers {r['best_mean']:.2f} vs rest {r['rest_mean']:.2f} (d = {r['effect']:+.2f})",
            float(r["effect"]),
        ))
    return out[:3]


def _usable(coverage: dict[str, tuple[float, int]], name: str) -> bool:
    share, distinct = coverage.get(name, (0.0, 0))
    return share >= MIN_COVERAGE and distinct >= 2


def suggest(
    ws: Workspace, *, grain: str = "account", as_of: str | date | None = None, by: str = "revenue",
    top_share: float | None = 0.1, top_n: int | None = None,
) -> Suggestion:
    """Propose potential and pain parameters from the best-customer analysis.

    Guardrails (no degenerate matrix without a word): a parameter is proposed
    only when at least :data:`MIN_COVERAGE` of the in-scope units have a value
    and it takes two values or more; the best customers' factors only when
    their holdout AUC beats chance (one-sided test at 5 %,
    :func:`sikta.core.diagnostics.auc_beats_chance`) and each factor's rule
    meets more holdout best customers than others beyond chance; without
    survey answers the notes say so. When the best customers leave an axis
    empty, it is filled from what exists (:data:`POTENTIAL_FALLBACKS`,
    :data:`PAIN_FALLBACKS`), so transaction-only data get a matrix too. The
    written model is scored once without storing a run, and its matrix
    diagnosis (:mod:`sikta.service.matrix_checks`) comes with the suggestion.
    """
    from sikta.engine.wallet import BUILTINS

    analysis = ws.analyze(grain=grain, as_of=as_of)
    best = analysis.best(by=by, top_share=top_share, top_n=top_n)
    f = ws.features(grain, analysis.date)
    wanted = [c for c in f.columns if c.startswith(PAIN_PATTERNS)] + list(best.drivers) + [
        c for c in best.effects.feature if c in f.columns] + [c for c, _, _ in [*POTENTIAL_FALLBACKS, *PAIN_FALLBACKS]]
    coverage = _coverage(ws, grain, analysis.date, list(dict.fromkeys(wanted + ["industry", "employees"])))
    notes: list[str] = []
    potential = _potential(best, coverage, notes)
    pain = _pain(best, coverage, notes)
    from sikta.service import clv_run  # CLV built-ins when the orders support a fit (docs/clv.md)

    clv_potential, clv_pain, clv_note = clv_run.suggestions(ws, grain, analysis.date)
    notes += [clv_note] if clv_note else []
    only_orders = clv_potential is not None and not clv_run.firmographic(ws, grain, analysis.date)
    if only_orders and len(potential) < 3:
        potential.append(clv_potential)  # transaction-only data: CLV is the potential, not lookalike wallets
        clv_potential = None
    if clv_pain is not None and len(pain) < 3:
        pain.append(clv_pain)
    if len(potential) < 3 and not only_orders and _usable(coverage, "industry"):
        potential.append(Parameter(
            "potential", "wallet_gap", {},
            "built-in, not from the best customers: what lookalike customers spend (p75) minus what this "
            "account spends with us, so prospects get a potential too"))
    if clv_potential is not None and len(potential) < 3:
        potential.append(clv_potential)
    for name, source, why in POTENTIAL_FALLBACKS:
        if len(potential) >= 2 or any(p.name == name for p in potential):
            continue
        if _usable(coverage, name) or name in BUILTINS:
            potential.append(Parameter("potential", name, source, why))
    for name, source, why in PAIN_FALLBACKS:
        if len(pain) >= (1 if pain and pain[0].effect is not None else 3) or any(p.name == name for p in pain):
            continue
        if _usable(coverage, name):
            pain.append(Parameter("pain", name, source, why))
    if not pain:
        raise DataTooThinError(
            "no pain parameter has values for at least "
            f"{MIN_COVERAGE:.0%} of the in-scope units (no survey answers, tickets, usage or purchase signals): "
            "write the pain axis by hand")
    if not potential:
        raise DataTooThinError(f"no potential parameter has values for at least {MIN_COVERAGE:.0%} of the in-scope "
                               "units: write the potential axis by hand")
    from sikta.service.matrix_checks import check_model
    from sikta.service.model import model_from_text

    quantiles = dict(QUANTILES)
    text = render(grain, analysis.date, potential, pain, best, ws, coverage, quantiles)
    matrix = check_model(ws, model_from_text(text, source="the suggested model"), analysis.date)
    moved = False
    for axis, q in QUANTILES.items():
        low = matrix["axes"][axis].get("at_min_share") or 0.0
        if q <= low < 0.95:  # the quantile would sit on the units tied at the bottom (no signal at all)
            quantiles[axis] = round(low + (1 - low) * (1 - q), 2)
            notes.append(f"{axis}: {low:.0%} of in-scope units score the axis minimum (no {axis} signal); the "
                         f"threshold is the {quantiles[axis]:.0%} quantile, so high {axis} means the top "
                         f"{1 - q:.0%} of those with any signal")
            moved = True
    if moved:
        text = render(grain, analysis.date, potential, pain, best, ws, coverage, quantiles)
        matrix = check_model(ws, model_from_text(text, source="the suggested model"), analysis.date)
    return Suggestion(grain, analysis.date, potential, pain, _summary(best), text, notes, matrix)


def _who(by: str) -> str:
    from sikta.engine.best import is_rule

    return f"the customers meeting {by}" if is_rule(by) else f"top customers by {by}"


def _summary(best: BestResult) -> str:
    """What the best customers have in common - or, when no factor beats chance on the holdout, that none does
    (the explanation of :meth:`sikta.core.drivers.DriverSelector.explain` says either)."""
    return best.explanation


#: default thresholds of the suggested model: the top 30 % by potential and the top half by pain are high
QUANTILES = {"potential": 0.7, "pain": 0.5}


#: potential when the best customers' factors leave room: (name, source, evidence)
POTENTIAL_FALLBACKS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("revenue_12m", {"feature": "revenue_12m", "scaling": "rank"},
     "value: what the unit spends in the window (the customer lifetime value, when computed, says it better)"),
    ("products_12m", {"feature": "products_12m", "scaling": "rank"},
     "assortment breadth: distinct products bought in the window; broad buyers carry more to win"),
)
#: pain when the best customers report no need: signals of trouble that exist without surveys
PAIN_FALLBACKS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("ticket_load", {}, "built-in fallback: support tickets per 100 employees in the window"),
    ("usage_decline", {}, "built-in fallback: how far product usage fell in the last 90 days"),
    ("frequency_trend", {"feature": "frequency_trend", "scaling": "rank", "direction": "lower"},
     "purchase signal: fewer orders in the second half of the window than in the first (lower = buying less)"),
    ("recency_overdue", {"feature": "recency_overdue", "scaling": "rank"},
     "purchase signal: days since the last order against the unit's own buying cycle (higher = overdue)"),
    ("return_rate_12m", {"feature": "return_rate_12m", "scaling": "rank"},
     "purchase signal: share of the window's order amount credited back (returns, cancellations)"),
)


def _coverage(ws: Workspace, grain: str, as_of: date, cols: list[str]) -> dict[str, tuple[float, int]]:
    """Per column or built-in: (share of in-scope units (:data:`SCOPE`) with a value, distinct values up to 2)."""
    from sikta.engine.wallet import BUILTINS, add_builtins

    f = ws.features(grain, as_of)
    builtins = [c for c in cols if c in BUILTINS and c not in f.columns]
    if builtins:
        f = add_builtins(f, builtins)
    cols = [c for c in dict.fromkeys(cols) if c in f.columns]
    scope = f.filter(f.status.isin(SCOPE)) if "status" in f.columns else f
    aggs = {}
    for i, c in enumerate(cols):
        aggs[f"n{i}"] = scope[c].count()
        aggs[f"d{i}"] = scope[c].nunique() if not scope[c].type().is_array() else scope[c].count()
    row = ws.store.frame(scope.aggregate(_units=scope.count(), **aggs)).iloc[0]
    units = int(row["_units"])
    if not units:
        return {}
    return {c: (int(row[f"n{i}"]) / units, min(int(row[f"d{i}"]), 2)) for i, c in enumerate(cols)}


def _buying_traces(ws: Workspace) -> list[str]:
    """What in the data shows *how* customers buy - the behavioral scheme's inputs - from two cheap counts.

    Product ids give the price tier (and, with catalogue prices, the discount), credit notes the
    returns, tickets the support needs; a purchase log of dates and amounts alone (CDNOW) has none.
    """
    store, found = ws.store, []
    if store.has("orders"):
        o = store.table("orders")
        aggs = {"credits": (o.amount < 0).sum()}
        if "product_id" in o.columns:
            aggs["products"] = o.product_id.count()
        row = store.rows(o.aggregate(**aggs))[0]
        found += [what for key, what in (("products", "product ids"), ("credits", "credit notes")) if row.get(key)]
    if store.has("tickets") and store.count(store.table("tickets")):
        found.append("tickets")
    return found


def _schemes_block(columns: list[str], coverage: dict[str, tuple[float, int]] | None,
                   buying: list[str] | None = None) -> list[str]:
    """The schemes the data can carry: value always, behavioral with product ids, credit notes or tickets
    (``buying``; None: not checked), needs with survey answers, firmographic with industries or head counts
    (``sikta diagnose`` judges each after the run)."""
    def has(name: str) -> bool:
        return coverage is None or coverage.get(name, (0.0, 0))[0] > 0

    lines = ["schemes:                         # other cuts of the same customers, computed into every run "
             "(docs/schemes.md)",
             "  value: {type: value}           # A/B/C: the customers carrying 80 % / 95 % of revenue"]
    if buying is None or buying:
        lines.append("  behavioral: {type: behavioral} # how they buy: price-, quality-, support-driven or routine")
    else:
        lines.append("  # behavioral: {type: behavioral}   # not proposed: the orders have no product ids and no credit "
                     "notes, and there are no tickets - nothing shows how customers buy")
    if any(c.startswith("need_") and has(c) for c in columns):
        lines.append("  needs: {type: needs}           # clusters of survey answers; no answers = 'no answers'")
    if coverage is None or _usable(coverage, "industry") or _usable(coverage, "employees"):
        lines.append("  firmographic: {type: firmographic}  # size tier x vertical by rules (lacks nuance alone)")
    return lines


def render(grain: str, as_of: date, potential: list[Parameter], pain: list[Parameter], best: BestResult, ws: Workspace,
           coverage: dict[str, tuple[float, int]] | None = None, quantiles: dict[str, float] | None = None) -> str:
    """The model file: parameters with their evidence as comments."""
    f = ws.features(grain, as_of)
    lines = [
        "# Sikta segmentation model, suggested by `sikta suggest` from the best-customer analysis",
        f"# ({grain} grain, data to {as_of}; best = {_who(best.by)}: {best.best} of {best.best + best.rest}).",
        f"# {_summary(best)}",
        "# Edit freely: 1-3 parameters per axis are the watersheds that decide; keep this file under version control.",
        "name: suggested",
        "version: 1",
        "customer:",
        f"  grain: {grain}",
        "  statuses: [customer, prospect]",
        "potential:",
    ]
    for p in potential[:3]:
        lines += p.yaml()
    lines.append("pain:")
    for p in pain[:3]:
        lines += p.yaml()
    lines += [
        "thresholds:",
    ]
    for axis, q in (quantiles or QUANTILES).items():
        lines.append(f"  {axis}: {{quantile: {q:g}}}   # the top {1 - q:.0%} by {axis} count as high")
    if {"clv", "p_alive"} & {p.name for p in [*potential[:3], *pain[:3]]}:
        lines += ["clv:                             # settings of the clv / p_alive built-ins (docs/clv.md)",
                  "  horizon: 36                    # months of future purchases; model, discount, cac, tiers, ..."]
    lines += _schemes_block(f.columns, coverage, _buying_traces(ws))
    rules = []
    if {"status", "months_since_last_order"} <= set(f.columns):
        rules.append(("long gone", "status == 'former' and months_since_last_order > 36"))
    if "employees" in f.columns and (coverage is None or _usable(coverage, "employees")):
        rules.append(("too small to serve", "employees < 5"))
    if rules:
        lines.append("deprioritize:")
        for name, when in rules:
            lines += [f"  - name: {name}", f"    when: {_yaml_str(when)}"]
    return "\n".join(lines) + "\n"
