"""KPIs per group and per segment of a run: churn, retention, expansion, onboarding, time to value (SPEC §4.6).

The **period** is the run's feature window: the ``W`` months up to the run's
as-of date, against the ``W`` months before (``revenue_prev_12m`` →
``revenue_12m`` of the run's feature table, credit notes netted, a negative
total counted as 0). Every unit at the grain takes part - customers,
prospects and former customers - so a unit that churned during the period
is counted even though it left the matrix.

The **cohort** labels (the group or segment a unit is judged in) come from
the newest run at the same grain whose as-of date is on or before the
period start: the units as they were when the period began. When no such run
exists the run's own labels are used and a note says so; units outside that
run (out of scope, typically former customers) form the segment
``(out of scope)``. Every ``scheme__<name>`` label column of the cohort run
is a segment dimension beside ``group``.

Onboarding and time to value use :func:`sikta.engine.kpi_inputs.onboarding_dates`
for units whose first revenue falls in the period (``since`` = period start).

The KPI each group is **judged by** is the model's ``groups: <group>: kpi:``;
names are read loosely (``NRR``, ``net revenue retention``, ``logo churn``
...; see :data:`ALIASES`) and shown first.

Examples
--------
>>> kpi_name("Net revenue retention"), kpi_name("logo churn"), kpi_name("TTV"), kpi_name("happiness")
('nrr', 'logo_churn', 'ttv_median_days', None)
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from sikta.core import kpis as core_kpis
from sikta.engine.contract import CONTRACT
from sikta.engine.kpi_inputs import onboarding_dates
from sikta.service import ingest as ing
from sikta.service import operate_units as ou
from sikta.service import runs as runs_svc

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["ALIASES", "OUT_OF_SCOPE", "kpi_name", "segment_kpis"]

OUT_OF_SCOPE = "(out of scope)"
ALIASES = {
    "churn": "logo_churn", "logo_churn": "logo_churn", "volume_churn": "logo_churn", "customer_churn": "logo_churn",
    "dollar_churn": "dollar_churn", "revenue_churn": "dollar_churn", "gross_churn": "dollar_churn",
    "grr": "grr", "gross_revenue_retention": "grr", "gross_retention": "grr",
    "nrr": "nrr", "net_revenue_retention": "nrr", "net_retention": "nrr", "ndr": "nrr",
    "expansion": "expansion_rate", "expansion_rate": "expansion_rate",
    "contraction": "contraction_rate", "contraction_rate": "contraction_rate",
    "avg_revenue": "avg_revenue", "average_revenue": "avg_revenue", "arpa": "avg_revenue", "arpu": "avg_revenue",
    "onboarding": "onboarding_completion", "onboarding_completion": "onboarding_completion",
    "ttv": "ttv_median_days", "time_to_value": "ttv_median_days", "ttv_median_days": "ttv_median_days",
    "ttv_km_median_days": "ttv_km_median_days",
}
#: KPI columns shown, in order, after the judged KPI
SHOWN = ("logo_churn", "dollar_churn", "grr", "nrr", "expansion_rate", "contraction_rate", "avg_revenue",
         "onboarding_completion", "ttv_median_days", "ttv_km_median_days")


def kpi_name(text: str | None) -> str | None:
    """The KPI a model's ``kpi:`` means (None when it names none Sikta computes)."""
    if not text:
        return None
    key = "_".join(str(text).strip().casefold().replace("-", " ").split())
    return ALIASES.get(key)


def _cohort_run(ws: Workspace, meta: dict[str, Any], start: pd.Timestamp) -> dict[str, Any] | None:
    runs = runs_svc.list_runs(ws)
    runs = runs[(runs["grain"] == meta["grain"]) & (pd.to_datetime(runs["as_of"]) <= start)]
    return None if runs.empty else runs_svc.get_run(ws, runs.iloc[0]["run_id"])


def _clean(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in frame.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    return out


def segment_kpis(ws: Workspace, run: str | None = None, *, cohort: str | None = None, onboarding_days: int = 90,
                 min_active_users: int = 3) -> dict[str, Any]:
    """KPIs per group and per scheme segment of ``run`` (see the module docstring).

    Returns a JSON-ready dict: ``run_id``, ``period`` (start, end),
    ``cohort_run``, ``by`` (dimension → rows, ``(all)`` last), ``judged_by``
    (group → KPI), ``notes``.
    """
    ctx = ou.run_context(ws, run)
    used = json.loads(ctx.meta["features"]) if isinstance(ctx.meta.get("features"), str) else {}
    window = int(used.get("window_months") or 12)
    end = pd.Timestamp(ctx.as_of)
    start = end - pd.DateOffset(months=window)
    notes: list[str] = []
    if cohort is not None:
        cmeta = runs_svc.get_run(ws, cohort)
        if cmeta["grain"] != ctx.grain:
            from sikta.errors import UsageError

            raise UsageError(f"cohort run {cmeta['run_id']} is at {cmeta['grain']} grain, run {ctx.run_id} at {ctx.grain}")
    else:
        cmeta = _cohort_run(ws, ctx.meta, start)
        if cmeta is None:
            cmeta = ctx.meta
            notes.append(f"no run at {ctx.grain} grain as of {start.date()} or earlier: units are judged in their "
                         f"group of this run; units it leaves out (e.g. customers who churned and are now former) "
                         f"are the segment {OUT_OF_SCOPE!r}, so churn inside a group is not measured; for churn "
                         f"per group store a run at the period start first (sikta run --as-of {start.date()})")
    crows = ws.store.table(runs_svc.run_table(cmeta["run_id"]))
    labels = ["group", *ou.label_columns(crows.columns)]
    f = ctx.features
    base = f.select("unit_id", revenue_start=f.revenue_prev_12m.fill_null(0.0), revenue_end=f.revenue_12m.fill_null(0.0))
    base = base.mutate(revenue_start=ibis.greatest(base.revenue_start, 0.0), revenue_end=ibis.greatest(base.revenue_end, 0.0))
    tables = {n: ws.store.table(n) for n in CONTRACT if ws.store.has(n)}
    dates = onboarding_dates(tables, ws.store.table(ing.HIERARCHY), ctx.grain, ctx.as_of,
                             min_active_users=min_active_users)
    t = base.left_join(dates, "unit_id").drop("unit_id_right")
    t = t.left_join(crows.select("unit_id", *labels), "unit_id").drop("unit_id_right")
    units = ws.store.frame(t.order_by("unit_id"))
    if "usage" not in tables:
        notes.append("no usage table: the onboarding milestone and first value are the second order")
    if "orders" in tables:  # revenue_start is the window (start - window, start]: partial when the data begin later
        first = ws.store.scalar(tables["orders"].order_date.min())
        needed = start - pd.DateOffset(months=window)
        if first is not None and pd.Timestamp(first) > needed:
            notes.append(f"the orders begin {pd.Timestamp(first).date()}, after {needed.date()}: the revenue at the "
                         f"period start covers only {(start - pd.Timestamp(first)).days + 1} days instead of {window} "
                         "months, so NRR, GRR, expansion and dollar churn compare against a partial year")
    model = ctx.model
    judged = {g: kpi_name(getattr(getattr(model.groups, g), "kpi", None)) for g in runs_svc.GROUPS}
    for g in runs_svc.GROUPS:
        raw = getattr(getattr(model.groups, g), "kpi", None)
        if raw and judged[g] is None:
            notes.append(f"group {g}: kpi {raw!r} is not one Sikta computes ({', '.join(core_kpis.KPIS)})")
    judged = {g: k for g, k in judged.items() if k}
    by: dict[str, list[dict[str, Any]]] = {}
    for col in labels:
        units[col] = units[col].where(units[col].notna(), OUT_OF_SCOPE)
    kpis = core_kpis.segment_kpis_by(units, labels, as_of=ctx.as_of, since=start.date(), onboarding_days=onboarding_days,
                                     judged_by={"group": judged} if judged else None)
    for col in labels:
        k = kpis[col].rename(columns={col: "segment"})
        if col == "group":  # the matrix order, not the alphabet
            order = {g: i for i, g in enumerate([*runs_svc.GROUPS, OUT_OF_SCOPE, core_kpis.ALL])}
            k = k.sort_values("segment", key=lambda s: s.map(lambda v: order.get(v, len(order)))).reset_index(drop=True)
        by[col] = _clean(k)
    return {"run_id": ctx.run_id, "as_of": str(ctx.as_of), "grain": ctx.grain, "window_months": window,
            "period": {"start": str(start.date()), "end": str(end.date())}, "cohort_run": cmeta["run_id"],
            "onboarding_days": onboarding_days, "units": len(units), "judged_by": judged, "shown": list(SHOWN),
            "by": by, "notes": notes}
