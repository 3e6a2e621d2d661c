"""``sikta kpis | alerts | history``: KPIs per segment and the migrations between runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sikta.cli.app import JsonOpt, WorkspaceOpt, _json, _open, app, missing, out
from sikta.cli.errors import handles_errors
from sikta.cli.operate_cmd import RunOpt, _records, _write_table

_LABELS = {"logo_churn": "logo churn", "dollar_churn": "dollar churn", "grr": "GRR", "nrr": "NRR",
           "expansion_rate": "expansion", "contraction_rate": "contraction", "avg_revenue": "avg revenue",
           "onboarding_completion": "onboarding", "ttv_median_days": "TTV days", "ttv_km_median_days": "TTV days (KM)"}


def kpi_text(kpi: str, value: Any, cur: str | None) -> str:
    """One KPI value for people: rates as %, money with its currency, days as days."""
    from sikta.service import money as fmt

    if kpi == "avg_revenue":
        return fmt.money(value, cur)
    if kpi.startswith("ttv"):
        return "–" if value is None else f"{value:,.0f}"
    return fmt.rate(value)


@app.command()
@handles_errors
def kpis(
    run: RunOpt = None,
    cohort: Annotated[str | None, typer.Option(help="Judge units in their groups of this run [default: the newest run at or before the period start].")] = None,
    onboarding_days: Annotated[int, typer.Option(help="Onboarding window in days.", min=1, max=730)] = 90,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """KPIs per group and segment: logo and dollar churn, GRR, NRR, expansion, onboarding, time to value."""
    from sikta.service import money as fmt
    from sikta.service.segment_kpis import segment_kpis

    with _open(workspace) as ws:
        doc = segment_kpis(ws, run, cohort=cohort, onboarding_days=onboarding_days)
        cur = fmt.currency(ws)
    doc["currency"] = cur
    if as_json:
        _json(doc)
        return
    p = doc["period"]
    out.print(f"[bold]KPIs[/] of run {doc['run_id']} ({doc['grain']} grain): {p['start']} → {p['end']} "
              f"against the {doc['window_months']} months before; units judged in run {doc['cohort_run']}")
    for dim, rows in doc["by"].items():
        t = Table(title=f"by {dim}", title_justify="left")
        judged = dim == "group" and bool(doc["judged_by"])
        cols = ["segment", *(["judged by"] if judged else []), "units", "logos start→end", "revenue start",
                *[_LABELS[k] for k in doc["shown"]]]
        for c in cols:
            t.add_column(c, justify="left" if c in ("segment", "judged by") else "right")
        for r in rows:
            cells = [str(r["segment"])]
            if judged:
                k = r.get("judged_by")
                cells.append(f"[bold]{_LABELS.get(k, k)} {kpi_text(k, r.get('judged_value'), cur)}[/]" if k else "")
            cells += [f"{r['units']:,}", f"{r['logos_start']:,} → {r['logos_end']:,}", fmt.money(r["revenue_start"], cur)]
            cells += [kpi_text(k, r.get(k), cur) for k in doc["shown"]]
            t.add_row(*cells)
        out.print(t)
    for n in doc["notes"]:
        out.print(f"[yellow]note[/] {escape(n)}")


@app.command()
@handles_errors
def alerts(
    run_from: Annotated[str | None, typer.Option("--from", help="The earlier run [default: the run before --to at its grain].")] = None,
    run_to: Annotated[str | None, typer.Option("--to", help="The later run [default: latest].")] = None,
    change: Annotated[list[str] | None, typer.Option(help="Only these changes: upgrade, downgrade, changed, new, merged, left, gone.")] = None,
    tier: Annotated[list[str] | None, typer.Option(help="Only units of this revenue tier (A, B, C) in the earlier run.")] = None,
    dimension: Annotated[str | None, typer.Option(help="group, segment (the first scheme) or scheme__<name>.")] = None,
    group_from: Annotated[list[str] | None, typer.Option("--from-value", help="Only units that left this group/segment.")] = None,
    group_to: Annotated[list[str] | None, typer.Option("--to-value", help="Only units that arrived in this group/segment.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the alerts (CSV or .parquet).")] = None,
    limit: Annotated[int, typer.Option(help="Alerts shown (0 = all).", min=0)] = 20,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Units that changed group or segment between two runs (stored per run pair), filtered and exportable."""
    from sikta.service import money as fmt
    from sikta.service.alerts import alerts as list_alerts

    with _open(workspace) as ws:
        doc = list_alerts(ws, run_from, run_to, change=change, tier=[t.upper() for t in tier or []] or None,
                          dimension=dimension, value_from=group_from, value_to=group_to)
        cur = fmt.currency(ws)
    frame = doc["alerts"]
    if out_file:
        _write_table(frame, out_file)
    if as_json:
        _json({**{k: v for k, v in doc.items() if k != "alerts"},
               "alerts": _records(frame if not limit else frame.head(limit)), "out": str(out_file) if out_file else None})
        return
    out.print(f"[bold]Alerts[/] {doc['run_from']} → {doc['run_to']} ({doc['grain']} grain): {doc['matched']:,} of "
              f"{doc['total']:,}" + (" (" + ", ".join(f"{k} {v:,}" for k, v in doc["by_change"].items()) + ")"
                                      if doc["by_change"] else ""))
    t = Table(title_justify="left")
    for c in ("unit", "name", "dimension", "from", "to", "change", "tier", "revenue"):
        t.add_column(c, justify="right" if c == "revenue" else "left", overflow="fold")
    shown = frame if not limit else frame.head(limit)
    for r in shown.to_dict("records"):
        to = r["value_to"] or "–"
        if r["change"] == "merged":
            to = f"merged into {r['merged_into']}"
        tier_text = "→".join(dict.fromkeys(x for x in (r["tier_from"], r["tier_to"]) if isinstance(x, str))) or "–"
        t.add_row(str(r["unit_id"]), escape(str(r["name"] or "")), r["dimension"], r["value_from"] or "–", to,
                  r["change"], tier_text, fmt.money(r["revenue_to"] if not missing(r["revenue_to"]) else r["revenue_from"], cur))
    if len(shown):
        out.print(t)
    if limit and len(frame) > limit:
        out.print(f"[dim]showing {limit} of {len(frame):,}; --limit 0 shows all, --out FILE writes them[/]")
    if out_file:
        out.print(f"wrote {out_file}")


@app.command()
@handles_errors
def history(
    account: Annotated[str, typer.Argument(help="An account id (its unit at each run's grain is shown).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One account through every run: its unit, group, segments, scores, revenue and owner, and what changed."""
    from sikta.service import money as fmt
    from sikta.service.alerts import history as account_history

    with _open(workspace) as ws:
        doc = account_history(ws, account)
        cur = fmt.currency(ws)
    if as_json:
        _json(doc)
        return
    u = doc["units"]
    out.print(f"[bold]History of {escape(account)}[/]" + (
        f": unit {u.get('account')} at account grain, {u.get('ultimate_parent')} at ultimate_parent grain" if u else ""))
    segs = sorted({k for e in doc["runs"] for k in e if k.startswith("scheme__")})
    t = Table(title_justify="left")
    for c in ("run", "as of", "grain", "unit", "group", *segs, "potential", "pain", "revenue 12m", "owner", "change"):
        t.add_column(c, overflow="fold")
    for e in doc["runs"]:
        if not e["in_run"]:
            t.add_row(e["run_id"], e["as_of"], e["grain"], e["unit_id"], "[dim]not in run[/]", *[""] * len(segs),
                      "", "", "", "", e.get("change", ""))
            continue
        t.add_row(e["run_id"], e["as_of"], e["grain"], e["unit_id"], str(e.get("group")),
                  *[str(e.get(s) or "–") for s in segs], _score(e.get("potential_score")), _score(e.get("pain_score")),
                  fmt.money(e.get("revenue_12m"), cur), str(e.get("owner") or "–"), e.get("change", ""))
    out.print(t)


def _score(x: Any) -> str:
    return "–" if x is None else f"{x:.2f}"
