"""``sikta analyze``: the fact-based customer analysis, rendered for people."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sikta.cli.app import EngineOpt, JsonOpt, WorkspaceOpt, _engine, _json, _open, _progress, app, out
from sikta.cli.errors import handles_errors
from sikta.engine.contract import GRAINS
from sikta.errors import UsageError
from sikta.service.locations import PARTS, PERIODS

if TYPE_CHECKING:
    import pandas as pd  # noqa: F401

    from sikta.service.analysis import AnalysisReport, BestResult, FlowResult



def _isna(x) -> bool:
    """Missing (None or NaN) without importing pandas at start-up."""
    return x is None or (isinstance(x, float) and x != x)


def _money(x: float | None) -> str:
    return "–" if x is None or _isna(x) else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "–" if x is None or _isna(x) else f"{round(100 * x, 1) or 0.0:.1f} %"  # no "-0.0 %"


def _table(title: str, frame: pd.DataFrame, columns: dict[str, str], limit: int) -> Table:
    t = Table(title=title, title_justify="left")
    for label in columns.values():
        t.add_column(label, overflow="fold")
    for row in frame.head(limit).to_dict("records"):
        cells = []
        for col in columns:
            v = row.get(col)
            if isinstance(v, float):
                cells.append(f"{v:.2f}" if col.startswith("p_") and not pd.isna(v)
                             else _pct(v) if ("rate" in col or "share" in col) else _money(v))
            else:
                cells.append("" if v is None else str(v))
        t.add_row(*cells)
    return t


#: the headings of the list parts, also when a list is empty and only says why
LIST_TITLES = {"outflow": "Unwanted outflow", "whitespace": "Cross-sell whitespace", "upsell": "Up-sell",
               "reactivation": "Inactive with potential"}


def _render_flow(flow: FlowResult) -> None:
    p = flow.period
    # the first row has no earlier row to compare with: say what "new" is measured against
    t = Table(title=f"Revenue bridge per {p}", title_justify="left", caption_justify="left",
              caption=f"new: active in its first {p} ever (all history up to the as-of date, not only the {p}s shown); "
                      f"reactivated: active before, but not in the previous {p}. Definitions: docs/analysis.md")
    for c in ("period", "start", "+ new", "+ growth", "− decline", "− churned", "+ reactivated", "end",
              "new/grown/flat/declined/churned/react. (logos)"):
        t.add_column(c, justify="right" if c != "period" else "left")
    for r in flow.periods.to_dict("records"):
        logos = "/".join(str(int(r[f"{c}_accounts"])) for c in ("new", "grown", "flat", "declined", "churned", "reactivated"))
        t.add_row(str(r["period_start"])[:10], _money(r["start_revenue"]), _money(r["new_revenue"]), _money(r["growth"]),
                  _money(r["decline"]), _money(r["churned_revenue"]), _money(r["reactivated_revenue"]),
                  _money(r["end_revenue"]), logos)
    out.print(t)
    if flow.nrr is not None:
        out.print(f"subscriptions: NRR {_pct(flow.nrr)}, GRR {_pct(flow.grr)} on a starting ARR of {_money(flow.start_arr)}")


def _render_best(best: BestResult, limit: int) -> None:
    from sikta.engine.best import is_rule

    how = f"customers meeting {best.by}" if is_rule(best.by) else f"top by {best.by}"
    out.print(f"[bold]Best customers[/] ({how}): {best.best:,} best vs {best.rest:,} other customers")
    if best.beats_chance:
        out.print(best.explanation)
        if best.rules:
            out.print("rules: " + "; ".join(best.rules))
    else:
        out.print(f"[yellow]{best.explanation}[/]", highlight=False)
    t = Table(title="How they differ (largest effect sizes: Cohen's d / Cramér's V)", title_justify="left",
              caption="best / rest: the mean, or for a category the share of its most over-represented value",
              caption_justify="left")
    for label in ("feature", "kind", "effect size", "best", "rest"):
        t.add_column(label)

    def side(r: dict, mean: str, share: str) -> str:
        if r["kind"] == "categorical" and not _isna(r.get(share)):
            return f"{r.get('top_category')}: {_pct(r[share])}"
        return "" if _isna(r.get(mean)) else f"{r[mean]:,.2f}"

    for r in best.effects.head(min(limit, 10)).to_dict("records"):
        t.add_row(str(r["feature"]), str(r["kind"]), f"{r['effect']:+.2f}",
                  side(r, "best_mean", "best_share"), side(r, "rest_mean", "rest_share"))
    out.print(t)


def render(report: AnalysisReport, limit: int) -> None:
    out.print(f"[bold]Customer analysis[/] at {report.grain} grain, {report.window_months} months to {report.as_of}")
    for note in report.notes:
        out.print(f"[yellow]note[/]: {note}", highlight=False)
    r = report.results
    if "pareto" in r:
        p = r["pareto"]
        out.print(f"\n[bold]Pareto[/]: {p.accounts:,} units with revenue {_money(p.revenue)}; the top 20 % carry "
                  f"{_pct(p.top20_share)}; Gini {p.gini:.2f}")
        t = Table(title="ABC classes", title_justify="left")
        for c in ("class", "units", "share of units", "revenue", "share of revenue"):
            t.add_column(c, justify="right")
        for k, v in p.abc.items():
            t.add_row(k, f"{v['accounts']:,}", _pct(v["share_accounts"]), _money(v["revenue"]), _pct(v["share_revenue"]))
        out.print(t)
    if "flow" in r:
        out.print()
        _render_flow(r["flow"])
    if "outflow" in r and not r["outflow"].empty:
        o = r["outflow"]
        out.print(f"\n[bold]Unwanted outflow[/]: {len(o):,} customers, {_money(o['revenue_at_risk'].sum())} revenue at risk")
        by_value = "alive_value" in o.columns
        out.print(_table("Top by P(alive) × CLV" if by_value else "Top by revenue at risk", o,
                         {"unit_id": "unit", "name": "name", "revenue_12m": "revenue 12m", "revenue_at_risk": "at risk",
                          **({"p_alive": "P(alive)", "alive_value": "P(alive) × CLV"} if by_value else {}),
                          "signals": "signals"}, limit))
    if "whitespace" in r and not r["whitespace"].empty:
        w = r["whitespace"]
        out.print(f"\n[bold]Cross-sell whitespace[/]: {len(w):,} unit × line gaps, expected value {_money(w['expected_value'].sum())}")
        out.print(_table("Top by expected value", w, {"unit_id": "unit", "product_line": "line", "adoption_rate": "peer adoption rate",
                                                        "peer_median_spend": "peer median", "expected_value": "expected value"}, limit))
    if "upsell" in r and not r["upsell"].empty:
        u = r["upsell"]
        out.print(f"\n[bold]Up-sell[/]: {len(u):,} unit × line below peers, gap {_money(u['gap'].sum())}")
        out.print(_table("Top by gap", u, {"unit_id": "unit", "product_line": "line", "spend": "spend",
                                            "peer_median_spend": "peer median", "gap": "gap"}, limit))
    if "reactivation" in r and not r["reactivation"].empty:
        a = r["reactivation"]
        out.print(f"\n[bold]Inactive with potential[/]: {len(a):,} former or lapsed customers")
        out.print(_table("Top by score", a, {"unit_id": "unit", "name": "name", "status": "status",
                                              "revenue_lifetime": "lifetime revenue", "potential": "potential"}, limit))
    for part, why in report.nothing_found.items():
        out.print(f"\n[bold]{LIST_TITLES[part]}[/]: {why}", highlight=False)
    if "best" in r:
        out.print()
        _render_best(r["best"], limit)
    for part, why in report.skipped.items():
        out.print(f"[yellow]{part} skipped[/]: {why}")


@app.command()
@handles_errors
def analyze(
    part: Annotated[str, typer.Argument(help=f"One part ({', '.join(PARTS)}) or all.")] = "all",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Analyse data up to this date [default: latest revenue date].")] = None,
    period: Annotated[str, typer.Option(help=f"Flow period: {', '.join(PERIODS)}.")] = "month",
    window_months: Annotated[int, typer.Option(help="Trailing window in months.", min=1, max=120)] = 12,
    grain: Annotated[str, typer.Option(help=f"Customer grain: {', '.join(GRAINS)}.")] = "account",
    best_by: Annotated[str, typer.Option(help="Best customers by revenue, margin, growth, any numeric feature, or a rule "
                                         "(\"revenue_12m > 50000 and gross_margin_12m > 0.3\").")] = "revenue",
    top_share: Annotated[float, typer.Option(help="Best customers: this top share of customers.", min=0.01, max=0.9)] = 0.1,
    top_n: Annotated[int | None, typer.Option(help="Best customers: the top N instead of a share.", min=1)] = None,
    rank_by: Annotated[str, typer.Option(
        "--rank-by", help="Outflow order: revenue_at_risk, or alive_value (P(alive) × CLV, fits the CLV models).")
    ] = "revenue_at_risk",
    limit: Annotated[int, typer.Option(help="Rows shown per list.", min=1)] = 10,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write every result table as Parquet and CSV here.")] = None,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fact-based customer analysis: Pareto/ABC, revenue bridge, outflow, whitespace, reactivation, best customers."""
    if part != "all" and part not in PARTS:
        raise UsageError(f"part {part!r} is not one of {', '.join(PARTS)} (or all)")
    parts = PARTS if part == "all" else (part,)
    with _open(workspace) as ws:
        analysis = ws.analyze(grain=grain, as_of=as_of, window_months=window_months, period=period,
                              outflow_rank=rank_by, engine=_engine(ws, engine))
        with _progress() as bar:
            bar.add_task(f"analysing ({', '.join(parts)})", total=None)
            report = analysis.run(parts, by=best_by, top_share=top_share, top_n=top_n)
    if part != "all" and part in report.skipped:
        from sikta.errors import DataTooThinError

        raise DataTooThinError(report.skipped[part])
    written = report.write(out_dir) if out_dir else []
    if as_json:
        _json(report.to_dict(limit))
        return
    render(report, limit)
    if written:
        out.print(f"\nwrote {len(written)} files to {out_dir}")
