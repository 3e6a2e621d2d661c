"""The static report: one self-contained HTML file with the analysis and the latest run.

:func:`build_report` gathers the results through the service APIs (the
analysis, the run rows, :func:`sikta.service.runs.diff`), draws them with
:mod:`sikta.web.charts` and renders ``templates/report.html``; plotly.js is
inlined from the installed package, so the file opens offline and loads
nothing from the network. Queries stay bounded: the matrix reads at most
``max_points`` run rows (a stratified sample drawn in the engine), the group
profiles are aggregated in the engine, and the opportunity tables keep the
top ``top_n`` rows.

Sections: revenue concentration, revenue bridge, the pain × potential matrix,
whether the matrix is any good (its verdict, warnings and why each axis is
what it is; a notice at the top when it is not plainly usable), group
profiles, the run's segmentation schemes with their verdicts and segment
profiles, migrations against the previous run, KPIs per group and segment
(the KPI each group is judged by first), the coverage headcount and touch mix,
customer lifetime value (the fit the run scored with, else a stored fit as of
the run's date: distribution, tiers, holdout check), and the top opportunities
(outflow, whitespace, reactivation) with their group and owner. Without a run
the report shows the analysis alone. A part without enough data, or with
nothing to show (an empty list), is left out with the reason.

Examples
--------
>>> from sikta.web.report import SECTIONS
>>> SECTIONS[:3]
('pareto', 'bridge', 'matrix')
"""

from __future__ import annotations

import contextvars
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from sikta import __version__
from sikta.errors import DataTooThinError, ModelError
from sikta.service import clv as clv_svc
from sikta.service import money as money_fmt
from sikta.service import runs
from sikta.service.run_views import PROFILE_FEATURES, group_profiles, matrix_rows
from sikta.service.model import model_from_text
from sikta.web import charts, charts_clv, report_operate

__all__ = ["SECTIONS", "build_report", "group_profiles", "matrix_rows", "write_report"]

SECTIONS = ("pareto", "bridge", "matrix", "diagnostics", "profiles", "schemes", "migrations", "kpis", "coverage", "clv",
            "outflow", "whitespace", "reactivation")


# -- tables ------------------------------------------------------------------------------------
def _fmt(v: Any, kind: str) -> tuple[str, Any]:
    """Display text and sort value of one cell."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "–", None
    if kind in ("money", "int", "num", "pct", "rate"):
        x = float(v)
        if kind == "money":
            return f"{x:,.0f}", x
        if kind == "int":
            return f"{int(x):,}", x
        if kind == "pct":
            return f"{round(100 * x, 1) or 0.0:.1f} %", x  # or 0.0: no "-0.0 %" for a share just below zero
        if kind == "rate":
            return f"{round(100 * x) or 0:+.0f} %", x
        return (f"{x:,.2f}" if abs(x) < 100 and x != int(x) else f"{x:,.0f}"), x
    if kind == "date":
        return str(pd.Timestamp(v).date()), str(pd.Timestamp(v).date())
    if kind == "cells":  # already formatted (a transposed table), shown right-aligned
        return str(v), None
    if isinstance(v, list | tuple):
        v = ", ".join(map(str, v))
    return str(v), None


#: the currency money columns are in, set while a report is gathered (named in their headers)
CURRENCY: contextvars.ContextVar[str | None] = contextvars.ContextVar("sikta_report_currency", default=None)


def _table(frame: pd.DataFrame, columns: list[tuple[str, str, str]], *, table_id: str, caption: str,
           sorted_by: str | None = None) -> dict[str, Any]:
    """A sortable table for the template: ``columns`` are (column, header, kind); money headers name the currency."""
    cur = CURRENCY.get()
    cols = [(c, f"{label} ({cur})" if kind == "money" and cur else label, kind)
            for c, label, kind in columns if c in frame.columns]
    rows = []
    for rec in frame.to_dict("records"):
        rows.append([dict(zip(("text", "v"), _fmt(rec.get(c), kind), strict=True)) for c, _, kind in cols])
    return {
        "id": table_id, "caption": caption, "rows": rows,
        "columns": [{"label": label, "num": kind not in ("text", "date"),
                     "sorted": "descending" if c == sorted_by else None} for c, label, kind in cols],
    }


# -- sections -----------------------------------------------------------------------------------
def _section(sid: str, title: str, **parts: Any) -> dict[str, Any]:
    return {"id": sid, "title": title, "lead": [], "charts": [], "tables": [], "notes": [], "skipped": None} | parts


def _pareto(analysis: Any) -> dict[str, Any]:
    p = analysis.pareto()
    abc = pd.DataFrame([{"cls": k, **v} for k, v in p.abc.items()])
    return _section(
        "pareto", "Revenue concentration (Pareto / ABC)",
        lead=[f"{p.accounts:,} units with positive revenue in the {analysis.window_months} months to {analysis.date}. "
              f"The top 20 % carry {p.top20_share:.1%} of the revenue; "
              f"Gini {p.gini:.2f}. A units make the first {p.thresholds[0]:.0%} of revenue, B up to {p.thresholds[1]:.0%}."],
        charts=[charts.to_div(charts.pareto_figure(p), div_id="chart-pareto")],
        tables=[_table(abc, [("cls", "class", "text"), ("accounts", "units", "int"), ("share_accounts", "share of units", "pct"),
                             ("revenue", "revenue", "money"), ("share_revenue", "share of revenue", "pct")],
                       table_id="table-abc", caption="ABC classes")],
    )


def _bridge(analysis: Any, periods: int) -> dict[str, Any]:
    flow = analysis.flow()
    shown = flow.periods.sort_values("period_start").tail(periods)
    lead = [f"Per {flow.period}: start + new + growth − decline − churned + reactivated = end; hover a bar for the "
            "number of units behind it. Definitions: docs/analysis.md."]
    if flow.nrr is not None:
        lead.append(f"Subscriptions over the window: NRR {flow.nrr:.1%}, GRR {flow.grr:.1%} on a starting ARR of "
                    f"{flow.start_arr:,.0f}.")
    shown = shown.assign(period_label=[charts.period_label(d, flow.period) for d in shown["period_start"]])
    cols = [("period_label", "period", "text"), ("start_revenue", "start", "money"), ("new_revenue", "+ new", "money"),
            ("growth", "+ growth", "money"), ("decline", "− decline", "money"), ("churned_revenue", "− churned", "money"),
            ("reactivated_revenue", "+ reactivated", "money"), ("end_revenue", "end", "money"),
            ("new_accounts", "new units", "int"), ("churned_accounts", "churned units", "int"),
            ("reactivated_accounts", "reactivated units", "int"), ("logo_churn_rate", "logo churn", "pct"),
            ("dollar_churn_rate", "dollar churn", "pct")]
    return _section(
        "bridge", "Revenue bridge", lead=lead,
        charts=[charts.to_div(charts.bridge_figure(flow, periods=periods), div_id="chart-bridge")],
        tables=[_table(shown, cols, table_id="table-bridge", caption=f"The last {len(shown)} {flow.period}s")],
    )


def _matrix(ws: Any, meta: dict, model: Any, max_points: int) -> dict[str, Any]:
    rows, total = matrix_rows(ws, meta["run_id"], max_points=max_points)
    fig = charts.matrix_figure(rows, model, max_points=max_points, total=total)
    styles = charts.group_styles(model)
    groups = pd.DataFrame([{"group": styles[g]["label"], "meaning": runs.GROUP_SUMMARY[g], **meta["groups"].get(g, {})}
                           for g in runs.GROUPS])
    n, rev = groups["accounts"].sum(), groups["revenue"].sum()
    groups["share_accounts"] = groups["accounts"] / n if n else 0.0
    groups["share_revenue"] = groups["revenue"] / rev if rev else 0.0
    notes = []
    if len(rows) < total:
        notes.append(f"The scatter shows a stratified sample of {len(rows):,} of {total:,} units (every group kept, "
                     "in proportion, small groups topped up) to keep the file small; the table counts all units.")
    return _section(
        "matrix", "The pain × potential matrix",
        lead=[f"{total:,} units in run {meta['run_id']}: x is the potential score, y the pain score, the dashed lines "
              "the thresholds. Hover a point for the account and its group."],
        charts=[charts.to_div(fig, div_id="chart-matrix")], notes=notes,
        tables=[_table(groups, [("group", "group", "text"), ("meaning", "what it means", "text"),
                                ("accounts", "units", "int"), ("share_accounts", "share of units", "pct"),
                                ("revenue", "revenue 12m", "money"), ("share_revenue", "share of revenue", "pct")],
                       table_id="table-groups", caption="Groups")],
    )


def _param_labels(model: Any) -> dict[str, str]:
    if model is None:
        return {}
    out = {}
    for axis, _, p in model.parameters():
        out[f"{axis}__{p.name}__value"] = f"{axis}: {p.label}"
        out[f"{axis}__{p.name}__score"] = f"{axis}: {p.label}"
    return out


def _profiles(ws: Any, meta: dict, model: Any, features: Any) -> dict[str, Any]:
    prof = group_profiles(ws, meta["run_id"], features=features)
    styles = charts.group_styles(model)
    labels = _param_labels(model)
    # one row per measure, one column per group: fits a 1366 px window whatever the number of parameters
    values = [c.removesuffix("__mean") for c in prof.columns if c.endswith("__value__mean")]
    by_group = prof.set_index("group")
    measures: list[tuple[str, list[str]]] = [
        ("units", [_fmt(by_group.loc[g, "accounts"], "int")[0] for g in by_group.index]),
        ("share of units", [_fmt(by_group.loc[g, "share_accounts"], "pct")[0] for g in by_group.index]),
        ("revenue 12m" + (f" ({CURRENCY.get()})" if CURRENCY.get() else ""),
         [_fmt(by_group.loc[g, "revenue_12m"], "money")[0] for g in by_group.index]),
        ("share of revenue", [_fmt(by_group.loc[g, "share_revenue"], "pct")[0] for g in by_group.index]),
    ]
    for m in [*values, *PROFILE_FEATURES]:
        name = labels.get(m, PROFILE_FEATURES.get(m, m))
        kind = "rate" if m == "revenue_growth" else "num"
        if f"{m}__mean" not in by_group.columns:
            continue
        measures.append((f"{name} (mean / median)", [
            f"{_fmt(by_group.loc[g, f'{m}__mean'], kind)[0]} / {_fmt(by_group.loc[g, f'{m}__median'], kind)[0]}"
            for g in by_group.index]))
    table = pd.DataFrame({"measure": [m for m, _ in measures],
                          **{str(g): [cells[i] for _, cells in measures] for i, g in enumerate(by_group.index)}})
    cols = [("measure", "measure", "text")] + [(str(g), styles[g]["label"], "cells") for g in by_group.index]
    return _section(
        "profiles", "Group profiles",
        lead=["Where the units are and where the revenue is, what each group scores on the model's parameters, and "
              "the raw parameter values and a few firmographics per group (mean and median)."],
        charts=[charts.to_div(charts.group_profile_figure(prof, model), div_id="chart-groups"),
                charts.to_div(charts.parameter_profile_figure(prof, model, labels), div_id="chart-params")],
        tables=[_table(table, cols, table_id="table-profiles", caption="Group profiles")],
    )


def _diagnostics(doc: dict[str, Any]) -> dict[str, Any]:
    """Is the matrix any good: verdict, warnings, why each axis is what it is, groups (sikta diagnose --matrix)."""
    m = doc["matrix"]
    groups = pd.DataFrame(m["groups"])
    return _section(
        "diagnostics", f"Is the matrix any good? {m['verdict']}",
        lead=[f"Verdict: {m['verdict']}" + (" - " + "; ".join(m["reasons"]) if m["reasons"] else
                                             ": no axis is constant, no threshold sits at an axis' end, every "
                                             "parameter has values for most units and each of the four matrix "
                                             "groups holds units (deprioritized holds what the rules set aside).")],
        notes=[a["why"] for a in m["axes"].values()],
        tables=[_table(groups, [("group", "group", "text"), ("units", "units", "int"), ("share", "share of units", "pct"),
                                ("revenue_share", "share of revenue", "pct")],
                       table_id="table-matrix-groups", caption="Groups")],
    )


def _schemes(doc: dict[str, Any]) -> dict[str, Any]:
    """Each scheme of the run: verdict with reasons, notes and its segments with their profiles."""
    if not doc["schemes"]:
        raise DataTooThinError("the run's model declares no schemes (add a schemes: block; sikta model init writes "
                               "a starter that does)")
    lead, tables = [], []
    for name, d in doc["schemes"].items():
        lead.append(f"{name} ({d['type']}, {d['scope']}): {d['verdict']}"
                    + (" - " + "; ".join(d["reasons"]) if d["reasons"] else ""))
        prof = pd.DataFrame(d.get("profiles") or [])
        if not prof.empty:
            tables.append(_table(prof, [("segment", "segment", "text"), ("n_units", "units", "int"),
                                        ("share", "share of units", "pct"), ("revenue_share", "share of revenue", "pct"),
                                        ("description", "profile", "text")],
                                 table_id=f"table-scheme-{name}", caption=f"{name}: {d['verdict']}"))
    notes = sorted({n for d in doc["schemes"].values() for n in d.get("notes", [])})
    return _section("schemes", "Segmentation schemes", lead=lead, tables=tables, notes=notes)


def _previous_run(ws: Any, meta: dict) -> str | None:
    """The newest run before ``meta`` at the same grain (other grains have other units)."""
    all_runs = runs.list_runs(ws)
    older = all_runs[(all_runs["created_at"] < meta["created_at"]) & (all_runs["grain"] == meta["grain"])]
    return None if older.empty else str(older.iloc[0]["run_id"])


def _migrations(ws: Any, meta: dict, model: Any, top_n: int) -> dict[str, Any]:
    prev = _previous_run(ws, meta)
    if prev is None:
        raise DataTooThinError(f"no earlier run at {meta['grain']} grain to compare with: migrations show from the second run on")
    doc = runs.diff(ws, prev, meta["run_id"], limit=top_n)
    moved = pd.DataFrame(doc["accounts"])
    total = sum(int(t["accounts"]) for t in doc["transitions"])
    tables = []
    if not moved.empty:
        tables.append(_table(moved, [("unit_id", "unit", "text"), ("name", "name", "text"), ("group_a", "from", "text"),
                                     ("group_b", "to", "text"), ("why", "why", "text")],
                             table_id="table-moved", caption=f"Changed units (first {len(moved):,} of {doc['moved']:,} by id)"))
    return _section(
        "migrations", "Migrations since the previous run",
        lead=[f"Run {doc['run_a']} → {doc['run_b']}: {doc['moved']:,} of {total:,} units changed group"
              + (" (the model changed)." if doc["model_changed"] else ".")],
        charts=[charts.to_div(charts.sankey_figure(doc, model), div_id="chart-sankey")], tables=tables,
    )


def _names(features: Any, store: Any, ids: list[str]) -> pd.DataFrame:
    if not ids or "name" not in features.columns:
        return pd.DataFrame({"unit_id": ids, "name": [None] * len(ids)})
    return store.frame(features.filter(features.unit_id.isin(ids)).select("unit_id", "name"))


def _by_unit(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """``left`` with ``right``'s columns, matched on ``unit_id`` as text.

    pandas gives an empty frame float64 ids, and a numeric id column (customer numbers) can come
    back as integers from one side and text from the other: either fails or mismatches a merge.
    """
    return left.assign(unit_id=left["unit_id"].astype(str)).merge(
        right.assign(unit_id=right["unit_id"].astype(str)), on="unit_id", how="left")


def _with_owner(analysis: Any, meta: dict | None, features: Any, top: pd.DataFrame) -> pd.DataFrame:
    """``top`` with each unit's group in the run and its owner (report_operate.owners_and_groups)."""
    ids = top["unit_id"].astype(str).unique().tolist()
    return _by_unit(top, report_operate.owners_and_groups(analysis.ws, meta, features, ids))


def _opportunities(analysis: Any, features: Any, top_n: int, meta: dict | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    store = analysis.ws.store
    try:
        o = analysis.outflow()
        if o.empty:  # the reasons are analyze's own (docs/analysis.md)
            raise DataTooThinError("nothing to show: " + analysis.nothing_found("outflow"))
        out.append(_section(
            "outflow", "Unwanted outflow",
            lead=[f"{len(o):,} customers whose revenue is falling or whose activity stopped; "
                  f"{o['revenue_at_risk'].sum():,.0f} revenue at risk in total. Top {min(top_n, len(o)):,} by revenue at risk."],
            tables=[_table(_with_owner(analysis, meta, features, o.head(top_n)),
                           [("unit_id", "unit", "text"), ("name", "name", "text"), ("group", "group", "text"),
                            ("owner", "owner", "text"), ("industry", "industry", "text"),
                                           ("revenue_12m", "revenue 12m", "money"), ("revenue_prev_12m", "previous 12m", "money"),
                                           ("revenue_at_risk", "revenue at risk", "money"), ("signals", "signals", "text")],
                           table_id="table-outflow", caption="Top outflow", sorted_by="revenue_at_risk")],
        ))
    except DataTooThinError as exc:
        out.append(_section("outflow", "Unwanted outflow", skipped=str(exc)))
    try:
        w = analysis.whitespace()
        if w.empty:
            raise DataTooThinError("nothing to show: " + analysis.nothing_found("whitespace"))
        top = w.head(top_n)
        top = _by_unit(top, _names(features, store, top["unit_id"].astype(str).unique().tolist()))
        top = _with_owner(analysis, meta, features, top)
        out.append(_section(
            "whitespace", "Cross-sell whitespace",
            lead=[f"{len(w):,} unit × product line gaps that lookalike customers fill; expected value "
                  f"{w['expected_value'].sum():,.0f} in total. Top {len(top):,} by expected value."],
            tables=[_table(top, [("unit_id", "unit", "text"), ("name", "name", "text"), ("group", "group", "text"),
                                 ("owner", "owner", "text"), ("product_line", "product line", "text"),
                                 ("peer_group", "peers", "text"), ("adoption_rate", "peer adoption", "pct"),
                                 ("peer_median_spend", "peer median spend", "money"), ("expected_value", "expected value", "money")],
                           table_id="table-whitespace", caption="Top whitespace", sorted_by="expected_value")],
        ))
    except DataTooThinError as exc:
        out.append(_section("whitespace", "Cross-sell whitespace", skipped=str(exc)))
    try:
        a = analysis.reactivation()
        if a.empty:
            raise DataTooThinError("nothing to show: " + analysis.nothing_found("reactivation"))
        out.append(_section(
            "reactivation", "Inactive customers with potential",
            lead=[f"{len(a):,} former or lapsed customers; score = √(lifetime revenue × potential). "
                  f"Top {min(top_n, len(a)):,} by score."],
            tables=[_table(_with_owner(analysis, meta, features, a.head(top_n)),
                           [("unit_id", "unit", "text"), ("name", "name", "text"), ("group", "group", "text"),
                            ("owner", "owner", "text"), ("status", "status", "text"),
                                           ("revenue_lifetime", "lifetime revenue", "money"),
                                           ("months_since_last_order", "months since last order", "int"),
                                           ("potential", "potential", "money"), ("score", "score", "money")],
                           table_id="table-reactivation", caption="Top reactivation", sorted_by="score")],
        ))
    except DataTooThinError as exc:
        out.append(_section("reactivation", "Inactive customers with potential", skipped=str(exc)))
    return out


def _clv_fit(ws: Any, meta: dict | None, grain: str, day: date) -> tuple[clv_svc.ClvResult, str]:
    """The stored CLV fit the report shows (:func:`sikta.service.clv.shown_for`), and words that say which."""
    fit, own = clv_svc.shown_for(ws, meta, grain, day)
    if fit is not None:
        if own:
            return fit, f"The fit run {meta['run_id']} scored with: "
        return fit, f"Run {meta['run_id']} uses no CLV; shown is a stored fit as of its date: " if meta is not None else ""
    if meta is not None:
        raise DataTooThinError(f"no CLV for this run: its model uses none, and no CLV is stored at {grain} grain as "
                               f"of {day} ('sikta clv --as-of {day}' makes one)")
    raise DataTooThinError(f"no CLV computed at {grain} grain as of {day} from the current data: 'sikta clv' makes "
                           "one (or a run whose model uses CLV)")


def _clv(ws: Any, meta: dict | None, analysis: Any, top_n: int) -> dict[str, Any]:
    """The CLV section (docs/clv.md) of the fit :func:`_clv_fit` picks."""
    fit, which = _clv_fit(ws, meta, analysis.grain, analysis.date)
    return charts_clv.report_section(ws, fit, which, top_n=top_n, to_div=charts.to_div, table=_table, section=_section)


# -- the whole report ---------------------------------------------------------------------------
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sikta.web", "templates"), autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


def _model(meta: dict) -> Any:
    try:
        return model_from_text(meta["model_text"], source=f"run {meta['run_id']}")
    except ModelError:  # a run from an older model schema still has its rows; draw it with default styles
        return None


def _gather(ws: Any, run_id: str | None, **options: Any) -> dict[str, Any]:
    """:func:`_gather_sections` with money headers in the workspace currency."""
    token = CURRENCY.set(money_fmt.currency(ws))
    try:
        return _gather_sections(ws, run_id, **options)
    finally:
        CURRENCY.reset(token)


def _gather_sections(ws: Any, run_id: str | None, *, max_points: int, top_n: int, periods: int) -> dict[str, Any]:
    meta = None
    if run_id is not None or not runs.list_runs(ws).empty:
        meta = runs.get_run(ws, run_id)
    analysis = ws.analyze
    if meta is not None:  # the analysis at the run's grain and date, so both describe the same units
        analysis = analysis(grain=meta["grain"], as_of=pd.Timestamp(meta["as_of"]).date())
    features = analysis.features()
    model = _model(meta) if meta is not None else None
    sections: list[dict[str, Any]] = []

    def attempt(sid: str, title: str, build: Any) -> None:
        try:
            sections.append(build())
        except DataTooThinError as exc:
            sections.append(_section(sid, title, skipped=str(exc)))

    attempt("pareto", "Revenue concentration (Pareto / ABC)", lambda: _pareto(analysis))
    attempt("bridge", "Revenue bridge", lambda: _bridge(analysis, periods))
    diagnosis = None
    if meta is not None:
        from sikta.service.diagnose import diagnosis_of

        diagnosis = diagnosis_of(ws, meta)
        attempt("matrix", "The pain × potential matrix", lambda: _matrix(ws, meta, model, max_points))
        attempt("diagnostics", "Is the matrix any good?", lambda: _diagnostics(diagnosis))
        attempt("profiles", "Group profiles", lambda: _profiles(ws, meta, model, features))
        attempt("schemes", "Segmentation schemes", lambda: _schemes(diagnosis))
        attempt("migrations", "Migrations since the previous run", lambda: _migrations(ws, meta, model, top_n))
        attempt("kpis", "KPIs per group and segment", lambda: report_operate.kpi_section(ws, meta, _section, _table))
        attempt("coverage", "Coverage", lambda: report_operate.coverage_section(ws, meta, _section, _table))
    attempt("clv", "Customer lifetime value", lambda: _clv(ws, meta, analysis, top_n))
    sections += _opportunities(analysis, features, top_n, meta)
    run = None
    if meta is not None:
        run = {"id": meta["run_id"], "model": meta["model_name"], "version": meta["model_version"],
               "sha": str(meta["model_sha256"])[:12], "created": str(meta["created_at"])[:19], "units": int(meta["units"])}
    return {
        "title": f"Sikta report: {Path(ws.path).name}",
        "workspace": Path(ws.path).name, "grain": analysis.grain, "as_of": str(analysis.date),
        "window_months": analysis.window_months, "run": run,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "version": __version__,
        "sections": sections,
        "notice": None if diagnosis is None or diagnosis["matrix"]["verdict"] == "usable" else diagnosis["matrix"],
    }


def _render(context: dict[str, Any]) -> str:
    return _env().get_template("report.html").render(**context, plotly_js=charts.plotly_js())


def build_report(ws: Any, run_id: str | None = None, *, max_points: int = 20_000, top_n: int = 50,
                 periods: int = 6) -> str:
    """The report as one self-contained HTML document.

    Parameters
    ----------
    ws
        An open :class:`~sikta.service.workspace.Workspace` with ingested data.
    run_id
        The run to show (``None``: the latest; ``previous``; an id or its
        suffix). Without any run, the report holds the analysis only.
    max_points
        Most points in the matrix scatter (a stratified sample above it).
    top_n
        Rows per opportunity table.
    periods
        Periods in the revenue bridge.

    Raises
    ------
    NotFoundError
        ``run_id`` names no run.
    WorkspaceError
        The workspace holds no data.
    """
    return _render(_gather(ws, run_id, max_points=max_points, top_n=top_n, periods=periods))


def write_report(ws: Any, out: str | Path, run_id: str | None = None, **options: Any) -> dict[str, Any]:
    """Write :func:`build_report` to ``out``; returns path, size in bytes, run, and sections shown or skipped."""
    context = _gather(ws, run_id, **({"max_points": 20_000, "top_n": 50, "periods": 6} | options))
    text = _render(context)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return {
        "path": str(path.resolve()), "size": path.stat().st_size,
        "run": context["run"]["id"] if context["run"] else None,
        "sections": [s["id"] for s in context["sections"] if not s.get("skipped")],
        "skipped": {s["id"]: s["skipped"] for s in context["sections"] if s.get("skipped")},
    }
