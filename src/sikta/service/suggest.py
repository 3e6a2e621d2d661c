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

if TYPE_CHECKING:
    from sikta.service.analysis import BestResult
    from sikta.service.workspace import Workspace

#: pain candidates: stated needs first, then observed problems
PAIN_PATTERNS = ("need_",)
PAIN_FEATURES = ("tickets_12m", "tickets_high_12m", "avg_resolution_hours_12m")
MIN_EFFECT = 0.2  # below a "small" Cohen's d a difference is not evidence
#: a parameter with values for fewer in-scope units than this gets a note: the rest score `missing`
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

    def to_dict(self) -> dict:
        def p(x: Parameter) -> dict:
            return {"name": x.name, **x.source, "evidence": x.evidence, "effect": x.effect}

        return {"grain": self.grain, "as_of": str(self.as_of), "best": self.best_summary,
                "potential": [p(x) for x in self.potential], "pain": [p(x) for x in self.pain], "notes": self.notes}


def _effect_of(effects: pd.DataFrame, feature: str) -> pd.Series | None:
    hit = effects[effects.feature == feature]
    return None if hit.empty else hit.iloc[0]


def _potential(best: BestResult) -> list[Parameter]:
    out: list[Parameter] = []
    rules = {r.feature: r for r in best.rule_objects}
    table = best.effects
    for feature in best.drivers[:3]:
        e = _effect_of(table, feature)
        rule = rules.get(feature)
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


def _pain(best: BestResult) -> list[Parameter]:
    e = best.effects
    cands = e[(e.kind == "numeric") & (e.feature.str.startswith(PAIN_PATTERNS) | e.feature.isin(PAIN_FEATURES))]
    cands = cands[cands.effect >= MIN_EFFECT].sort_values("effect", ascending=False).head(3)
    out = []
    for r in cands.to_dict("records"):
        out.append(Parameter(
            "pain", r["feature"], {"feature": r["feature"], "scaling": "rank"},
            f"best customers {r['best_mean']:.2f} vs rest {r['rest_mean']:.2f} (d = {r['effect']:+.2f})",
            float(r["effect"]),
        ))
    return out


def suggest(
    ws: Workspace, *, grain: str = "account", as_of: str | date | None = None, by: str = "revenue",
    top_share: float | None = 0.1, top_n: int | None = None,
) -> Suggestion:
    """Propose potential and pain parameters from the best-customer analysis."""
    analysis = ws.analyze(grain=grain, as_of=as_of)
    best = analysis.best(by=by, top_share=top_share, top_n=top_n)
    potential = _potential(best)
    pain = _pain(best)
    notes: list[str] = []
    from sikta.service import clv_run  # CLV built-ins when the orders support a fit (docs/clv.md)

    clv_potential, clv_pain, clv_note = clv_run.suggestions(ws, grain, analysis.date)
    notes += [clv_note] if clv_note else []
    only_orders = clv_potential is not None and not clv_run.firmographic(ws, grain, analysis.date)
    if only_orders and len(potential) < 3:
        potential.append(clv_potential)  # transaction-only data: CLV is the potential, not lookalike wallets
        clv_potential = None
    if clv_pain is not None and len(pain) < 3:
        pain.append(clv_pain)
    if len(potential) < 3 and not only_orders:
        potential.append(Parameter(
            "potential", "wallet_gap", {},
            "built-in, not from the best customers: what lookalike customers spend (p75) minus what this "
            "account spends with us, so prospects get a potential too"))
    if clv_potential is not None and len(potential) < 3:
        potential.append(clv_potential)
    if not pain:
        pain.append(Parameter("pain", "need_score", {},
                              "built-in fallback: no need or support signal separates the best customers "
                              f"(all |d| < {MIN_EFFECT}); the mean stated need importance"))
        notes.append("pain: no stated need separates the best customers; review the fallback")
    coverage = _coverage(ws, grain, analysis.date, [p.source["feature"] for p in [*potential, *pain]
                                                    if "feature" in p.source])
    for p in [*potential, *pain]:
        share = coverage.get(p.source.get("feature", ""))
        if share is not None and share < MIN_COVERAGE:
            p.evidence += f"; a value for {share:.0%} of in-scope units, the others score 0 (missing)"
            notes.append(f"{p.axis}: {p.name} has a value for {share:.0%} of in-scope units; the others score 0, "
                         f"the lowest {p.axis} - set 'missing:' on the parameter (0..1) to score them otherwise")
    text = render(grain, analysis.date, potential, pain, best, ws)
    return Suggestion(grain, analysis.date, potential, pain, best.explanation, text, notes)


def _coverage(ws: Workspace, grain: str, as_of: date, cols: list[str]) -> dict[str, float]:
    """Share of in-scope units (:data:`SCOPE`) with a value, per feature of ``cols`` (one engine pass)."""
    f = ws.features(grain, as_of)
    scope = f.filter(f.status.isin(SCOPE)) if "status" in f.columns else f
    row = ws.store.frame(scope.aggregate(_units=scope.count(), **{c: scope[c].count() for c in cols})).iloc[0]
    units = int(row["_units"])
    return {c: int(row[c]) / units for c in cols} if units else {}


def render(grain: str, as_of: date, potential: list[Parameter], pain: list[Parameter], best: BestResult, ws: Workspace) -> str:
    """The model file: parameters with their evidence as comments."""
    f = ws.features(grain, as_of)
    lines = [
        "# Sikta segmentation model, suggested by `sikta suggest` from the best-customer analysis",
        f"# ({grain} grain, data to {as_of}; best = top customers by {best.by}: {best.best} of {best.best + best.rest}).",
        f"# {best.explanation}",
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
        "  potential: {quantile: 0.7}   # the top 30 % by potential count as high",
        "  pain: {quantile: 0.5}",
    ]
    if {"clv", "p_alive"} & {p.name for p in [*potential[:3], *pain[:3]]}:
        lines += ["clv:                             # settings of the clv / p_alive built-ins (docs/clv.md)",
                  "  horizon: 36                    # months of future purchases; model, discount, cac, tiers, ..."]
    rules = []
    if {"status", "months_since_last_order"} <= set(f.columns):
        rules.append(("long gone", "status == 'former' and months_since_last_order > 36"))
    if "employees" in f.columns:
        rules.append(("too small to serve", "employees < 5"))
    if rules:
        lines.append("deprioritize:")
        for name, when in rules:
            lines += [f"  - name: {name}", f"    when: {_yaml_str(when)}"]
    return "\n".join(lines) + "\n"
