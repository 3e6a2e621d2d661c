"""CLV inside a run: the fitted built-ins of the matrix and the ``clv__*`` columns of a run (docs/clv.md).

A model that names ``clv``, ``clv_minus_cac``, ``p_alive``,
``expected_purchases`` or ``value_tier`` (as a parameter, or inside an
expression or rule), or that has a ``clv:`` block, gets CLV computed at the
run's grain and as-of date (calibration end = as-of unless the block sets
one) before scoring. The values are joined onto the feature table as
columns of those names, so :func:`sikta.engine.matrix.score` reads them like
features; the run table gets them as ``clv__clv``, ``clv__clv_minus_cac``,
``clv__p_alive``, ``clv__expected_purchases`` and ``clv__value_tier`` (A/B/C),
and the run's record keeps the fit's summary. Units without a purchase up to
the calibration end (prospects) have no CLV: their values are empty and a
parameter scores them with its ``missing`` score.

Examples
--------
>>> from sikta.service.model import model_from_text
>>> m = model_from_text("name: m\\npotential: [{name: clv}]\\npain: [{name: risk, expr: 1 - p_alive}]\\n")
>>> uses_clv(m), uses_clv(model_from_text("name: m\\npotential: [{name: growth}]\\npain: [{name: need_score}]\\n"))
(True, False)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from sikta.core.clv import TIER_SCORE
from sikta.engine.expressions import parse
from sikta.engine.wallet import FITTED_BUILTINS
from sikta.service.clv import compute, value_tier_frame
from sikta.service.clv_settings import ClvSettings

if TYPE_CHECKING:
    from sikta.service.model import Model
    from sikta.service.workspace import Workspace

__all__ = ["RUN_COLUMNS", "RunClv", "for_run", "uses_clv"]

#: per-unit run columns contributed by CLV
RUN_COLUMNS = tuple(f"clv__{n}" for n in FITTED_BUILTINS)


def uses_clv(model: Model) -> bool:
    """Whether a run of ``model`` needs CLV: a CLV built-in is read, or the model has a ``clv:`` block."""
    if model.clv is not None:
        return True
    read: set[str] = set()
    for _, _, p in model.parameters():
        if p.kind == "builtin":
            read.add(p.name)
        elif p.kind in ("expr", "rule"):
            read |= set(parse(p.source).columns)
    for r in model.deprioritize:
        read |= set(parse(r.when).columns)
    return bool(read & set(FITTED_BUILTINS))


@dataclass
class RunClv:
    """The CLV part of a run: the values per unit and the fit's summary."""

    values: ir.Table  # unit_id + the FITTED_BUILTINS columns (value_tier as its number)
    tiers: ir.Table  # unit_id, value_tier (A/B/C)
    summary: dict[str, Any]

    def features(self, f: ir.Table) -> ir.Table:
        """The feature table with the CLV built-ins joined on (replacing columns of the same names)."""
        base = f.drop(*[c for c in FITTED_BUILTINS if c in f.columns])
        return base.left_join(self.values, "unit_id").drop("unit_id_right")

    def add_columns(self, scored: ir.Table) -> ir.Table:
        """The scored run rows with the ``clv__*`` columns."""
        v = self.values.select(
            "unit_id", *[self.values[n].name(f"clv__{n}") for n in FITTED_BUILTINS if n != "value_tier"]
        )
        t = self.tiers.select("unit_id", clv__value_tier=self.tiers.value_tier)
        out = scored.left_join(v, "unit_id").drop("unit_id_right")
        return out.left_join(t, "unit_id").drop("unit_id_right")

    def to_json(self) -> str:
        return json.dumps(self.summary, default=str)


def for_run(ws: Workspace, model: Model, as_of: date, *, store: bool = True, engine: str | None = None) -> RunClv | None:
    """CLV at the model's grain for a run as of ``as_of``, or None when the model does not need it.

    Raises
    ------
    DataTooThinError
        The model needs CLV but the data cannot support it (no orders, no repeat purchases, ...).
    """
    if not uses_clv(model):
        return None
    s = model.clv or ClvSettings()
    grain = model.customer.grain
    res = compute(ws, grain, calibration_end=s.calibration_end or as_of, as_of=as_of, settings=s, store=store,
                  engine=engine)
    u = res.units()
    tiers = u.select("unit_id", "value_tier")
    if s.tiers.by != "clv":  # revenue and margin tiers cover every unit of the feature table
        frame = value_tier_frame(ws, grain, as_of, by=s.tiers.by, a=s.tiers.a, b=s.tiers.b)
        tiers = ibis.memtable(frame[["unit_id", "value_tier"]], schema={"unit_id": "string", "value_tier": "string"})
        tiers = ws.store.create("_sikta_run_tiers", tiers, temp=True)
    score = ibis.cases(*((tiers.value_tier == k, float(v)) for k, v in TIER_SCORE.items()),
                       else_=ibis.null("float64"))
    numbers = tiers.select("unit_id", value_tier=score)
    values = u.select("unit_id", *[n for n in FITTED_BUILTINS if n != "value_tier"])
    values = values.left_join(numbers, "unit_id").drop("unit_id_right")
    summary = {k: v for k, v in res.summary.items() if k not in ("distribution",)}
    if summary.get("holdout"):
        summary["holdout"] = {k: v for k, v in summary["holdout"].items() if k != "tracking"}
    return RunClv(values, tiers, summary)


def suggestions(ws: Workspace, grain: str, as_of: date) -> tuple[Any, Any, str | None]:
    """``sikta suggest``'s CLV proposals: potential ``clv`` and pain ``p_alive`` (lower is more), with evidence.

    Returns ``(potential, pain, note)``: two :class:`sikta.service.suggest.Parameter` (None when the
    workspace has no orders or they do not support a fit; the note then says why).
    """
    from sikta.errors import ReadOnlyWorkspaceError, SiktaError
    from sikta.service.suggest import Parameter

    if not ws.store.has("orders"):
        return None, None, None
    try:
        res = compute(ws, grain, calibration_end=as_of, as_of=as_of)
    except ReadOnlyWorkspaceError as exc:
        if exc.reason is None:  # the CLI opened it read-only: it reopens for writing and runs the command again
            raise
        return None, None, f"clv: no CLV built-ins proposed - {exc}"
    except SiktaError as exc:
        return None, None, f"clv: no CLV built-ins proposed - {exc}"
    u = res.units().to_pandas()
    clv = u["clv"].clip(lower=0).sort_values(ascending=False)
    top = clv.head(max(1, -(-len(clv) // 5))).sum() / clv.sum() if clv.sum() > 0 else 0.0
    gone = int((u["p_alive"] < 0.5).sum())
    fit = f"BG/NBD × Gamma-Gamma on {res.customers:,} customers' purchases to {as_of}"
    potential = Parameter("potential", "clv", {},
                          f"built-in: customer lifetime value ({fit}); the top 20 % by CLV carry {top:.0%} of it; "
                          "units without a purchase (prospects) have none")
    if gone == 0:  # every customer more likely alive than not: P(alive) would rank noise as churn risk
        return potential, None, (f"pain: p_alive not proposed - the fit ({fit}) finds no customer more likely gone "
                                 "than not (P(alive) < 0.5)")
    pain = Parameter("pain", "p_alive", {"direction": "lower"},
                     f"built-in: the chance a customer still buys ({fit}); {gone:,} of {len(u):,} "
                     f"({gone / len(u):.0%}) are more likely gone than not (P(alive) < 0.5): a churn risk")
    return potential, pain, None


def firmographic(ws: Workspace, grain: str, as_of: date) -> bool:
    """Whether most units have an industry or a head count (else the data are transaction-only)."""
    f = ws.features(grain, as_of)
    cols = [c for c in ("industry", "employees") if c in f.columns]
    if not cols:
        return False
    row = ws.store.frame(f.aggregate(n=f.count(), **{c: f[c].count() for c in cols})).iloc[0]
    return bool(row["n"]) and max(int(row[c]) for c in cols) / int(row["n"]) > 0.5


def rank_by_alive_value(ws: Workspace, grain: str, as_of: date, outflow) -> Any:
    """The outflow list with ``p_alive``, ``clv`` and ``alive_value`` = P(alive) × CLV, ordered by it.

    A customer who is probably gone (low P(alive)) is not worth the save effort however much it
    bought; one likely still there with a high CLV is. Units without a CLV come last.
    """
    res = compute(ws, grain, calibration_end=as_of, as_of=as_of)
    u = res.units().select("unit_id", "p_alive", "clv").to_pandas()
    out = outflow.merge(u, on="unit_id", how="left")
    out["alive_value"] = out["p_alive"] * out["clv"]
    return out.sort_values(["alive_value", "revenue_at_risk", "unit_id"], ascending=[False, False, True],
                           na_position="last", kind="mergesort").reset_index(drop=True)
