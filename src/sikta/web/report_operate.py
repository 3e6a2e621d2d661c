"""The operating sections of the static report: KPIs per group and segment, and the coverage gap.

:func:`kpi_section` and :func:`coverage_section` return report sections (the
dicts of :func:`sikta.web.report._section`) built from the service layer:
:func:`sikta.service.segment_kpis.segment_kpis` and ``ws.operate.coverage``.
Rates are shown as %, money with the workspace currency
(:func:`sikta.service.money.currency`).

Examples
--------
>>> KPI_COLUMNS[0]
('segment', 'segment', 'text')
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sikta.service import money as fmt
from sikta.service.segment_kpis import segment_kpis

__all__ = ["KPI_COLUMNS", "coverage_section", "kpi_section"]

#: (column, header, kind) of a KPI table after the judged KPI
KPI_COLUMNS = [("segment", "segment", "text"), ("units", "units", "int"), ("revenue_start", "revenue start", "money"),
               ("logo_churn", "logo churn", "pct"), ("dollar_churn", "dollar churn", "pct"), ("grr", "GRR", "pct"),
               ("nrr", "NRR", "pct"), ("expansion_rate", "expansion", "pct"), ("contraction_rate", "contraction", "pct"),
               ("avg_revenue", "avg revenue", "money"), ("onboarding_completion", "onboarding", "pct"),
               ("ttv_median_days", "TTV days", "int")]
KPI_LABELS = {"logo_churn": "logo churn", "dollar_churn": "dollar churn", "grr": "GRR", "nrr": "NRR",
              "expansion_rate": "expansion", "contraction_rate": "contraction", "avg_revenue": "avg revenue",
              "onboarding_completion": "onboarding", "ttv_median_days": "TTV days", "ttv_km_median_days": "TTV days"}


def judged_text(kpi: str | None, value: Any, cur: str | None) -> str | None:
    """``NRR 114.3 %`` for a group's judged KPI (None without one)."""
    if not kpi:
        return None
    if kpi == "avg_revenue":
        shown = fmt.money(value, cur)
    elif kpi.startswith("ttv"):
        shown = "–" if value is None else f"{value:,.0f} days"
    else:
        shown = fmt.rate(value)
    return f"{KPI_LABELS.get(kpi, kpi)} {shown}"


def kpi_section(ws: Any, meta: dict, section: Any, table: Any) -> dict[str, Any]:
    """KPIs per group (the judged KPI first) and per scheme segment."""
    doc = segment_kpis(ws, meta["run_id"])
    cur = fmt.currency(ws)
    tables = []
    for dim, rows in doc["by"].items():
        frame = pd.DataFrame(rows)
        cols = list(KPI_COLUMNS)
        if dim == "group" and doc["judged_by"]:
            frame["judged"] = [judged_text(r.get("judged_by"), r.get("judged_value"), cur) for r in rows]
            cols.insert(1, ("judged", "judged by", "text"))
        tables.append(table(frame, cols, table_id=f"table-kpis-{dim.replace('_', '-')}",
                            caption=f"KPIs by {dim.removeprefix('scheme__')}"))
    p = doc["period"]
    return section("kpis", "KPIs per group and segment",
                   lead=[f"{p['start']} → {p['end']} against the {doc['window_months']} months before; units judged "
                         f"in their groups of run {doc['cohort_run']}. Logo and dollar churn side by side; the KPI each "
                         "group is judged by (the model's kpi:) comes first. Definitions: docs/operate.md."],
                   notes=doc["notes"], tables=tables)


def coverage_section(ws: Any, meta: dict, section: Any, table: Any) -> dict[str, Any]:
    """Headcount per engagement model and the high/pooled/tech-touch mix (no team file: the need only)."""
    doc = ws.operate.coverage(meta["run_id"])
    cur = fmt.currency(ws)
    models = pd.DataFrame(doc["models"])
    models["fte"] = models[["fte_accounts", "fte_workload"]].astype(float).max(axis=1)
    mix = pd.DataFrame(doc["mix"])
    rules = "the model's coverage: block" if doc["rules"] == "model" else "the default rules (no coverage: block)"
    return section(
        "coverage", "Coverage: headcount and touch mix",
        lead=[f"{doc['units']:,} units by {rules}: {doc['headcount']} owners needed. Compare with your team: "
              "sikta coverage --team team.csv shows the gap per role."],
        tables=[table(models, [("engagement", "engagement model", "text"), ("touch", "touch", "text"),
                               ("accounts", "units", "int"), ("revenue", "revenue", "money"),
                               ("workload", "workload", "num"), ("accounts_per_owner", "units per owner", "int"),
                               ("fte", "FTE", "num"), ("headcount", "headcount", "int"), ("binding", "binding", "text")],
                      table_id="table-coverage", caption="Headcount per engagement model"),
                table(mix, [("touch", "touch", "text"), ("accounts", "units", "int"),
                            ("share_accounts", "share of units", "pct"), ("revenue", "revenue", "money"),
                            ("share_revenue", "share of revenue", "pct")],
                      table_id="table-mix", caption="High / pooled / tech touch")],
    )


def owners_and_groups(ws: Any, meta: dict | None, features: Any, ids: list[str]) -> pd.DataFrame:
    """``unit_id``, ``group`` (in the run; empty when not in it) and ``owner`` (the book assignment, else
    the CRM's) of the units ``ids``, for the opportunity lists."""
    from sikta.service import operate_units as ou

    if not ids:
        return pd.DataFrame({"unit_id": [], "group": [], "owner": []})
    f = features.filter(features.unit_id.isin(ids))
    base = f.select("unit_id", crm_owner=f.owner.cast("string") if "owner" in f.columns else None)
    if meta is None:
        out = ws.store.frame(base)
        return out.assign(group=None).rename(columns={"crm_owner": "owner"})[["unit_id", "group", "owner"]]
    ctx = ou.RunContext(ws, meta)
    rows = ctx.rows.select("unit_id", "group")
    t = base.left_join(rows, "unit_id").drop("unit_id_right")
    owners = ou._owners(ctx)
    if owners is not None:
        t = t.left_join(owners, "unit_id").drop("unit_id_right")
        t = t.mutate(owner=t.assigned_owner.fill_null(t.crm_owner))
    else:
        t = t.mutate(owner=t.crm_owner)
    return ws.store.frame(t.select("unit_id", "group", "owner"))
