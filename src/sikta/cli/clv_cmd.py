"""``sikta clv``: customer lifetime value from orders (BG/NBD or Pareto/NBD × Gamma-Gamma) or subscriptions (sBG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sikta.cli.app import EngineOpt, JsonOpt, WorkspaceOpt, _engine, _json, _open, _progress, app, out
from sikta.cli.errors import handles_errors
from sikta.engine.contract import GRAINS
from sikta.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

_NAMES = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD"}


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and x != x)  # NaN is the only float unequal to itself


def _n(x: Any, digits: int = 4) -> str:
    return "–" if _missing(x) else f"{x:,.{digits}g}"


def _money(x: Any) -> str:
    return "–" if _missing(x) else f"{x:,.0f}"


def _settings(model_file: Path | None):
    from sikta.service.clv_settings import ClvSettings
    from sikta.service.model import load_model

    if model_file is None:
        return ClvSettings()
    return load_model(model_file).clv or ClvSettings()


def _render(doc: dict, top: pd.DataFrame) -> None:
    m = doc["model"]
    out.print(f"[bold]Customer lifetime value[/] at {doc['grain']} grain: {_NAMES[m]} fitted on "
              f"{doc['customers']:,} units' purchases to {doc['calibration_end']} (time in {doc['time_unit']}s); "
              f"{doc['horizon_months']} months ahead, discounted at {doc['discount']:.0%} a year")
    t = Table(title="Fitted parameters", title_justify="left")
    t.add_column("model")
    t.add_column("parameters")
    t.add_column("log-likelihood", justify="right")
    t.add_row(_NAMES[m], ", ".join(f"{k} {_n(v)}" for k, v in doc[m].items()), f"{doc['log_likelihood']:,.2f}")
    gg, check = doc["gamma_gamma"], doc["gamma_gamma_check"]
    if gg:
        t.add_row("Gamma-Gamma", ", ".join(f"{k} {_n(v)}" for k, v in gg.items()),
                  f"{check['customers']:,} repeat units; r(frequency, spend) = {_n(check['correlation'], 2)}")
    else:
        t.add_row("mean spend", f"{_money(check['mean_spend'])} per purchase", f"{check['customers']:,} repeat units")
    out.print(t)
    if check["warning"]:
        out.print(f"[yellow]warning[/] {escape(check['warning'])}")
    h = doc["holdout"]
    if h:
        ht = Table(title=f"Holdout {h['calibration_end']} → {h['observation_end']}: repeat purchases, "
                         "predicted vs actual", title_justify="left")
        for c in ("calibration purchases", "units", "actual", "predicted", "actual per unit", "predicted per unit"):
            ht.add_column(c, justify="right")
        for r in h["by_frequency"]:
            ht.add_row(r["frequency"], f"{r['customers']:,}", _money(r["actual"]), _money(r["predicted"]),
                       f"{r['actual_mean']:.2f}", f"{r['predicted_mean']:.2f}")
        ht.add_row("total", f"{sum(r['customers'] for r in h['by_frequency']):,}", _money(h["actual"]),
                   _money(h["predicted"]), "", "", style="bold")
        out.print(ht)
        err = "–" if h["error"] is None else f"{h['error']:+.1%}"
        out.print(f"holdout error {err}; tracking curve over {len(h['tracking'])} weeks in --json and the report")
        if h["verdict"]:
            out.print(f"[yellow]verdict[/] {escape(h['verdict'])}")
    tot = doc["totals"]
    out.print(f"\nCLV total {_money(tot['clv'])} (mean {_money(tot['clv_mean'])}, median {_money(tot['clv_median'])}); "
              f"CLV − CAC {_money(tot['clv_minus_cac'])}; mean P(alive) {tot['p_alive_mean']:.2f}; "
              f"margin from {doc['margin']['source']}")
    tiers = doc["tiers"]
    tt = Table(title=f"Value tiers by {tiers['by']} (A to {tiers['a']:.0%}, B to {tiers['b']:.0%} of the value)",
               title_justify="left")
    for c in ("tier", "units", "share of units", "value", "share of value"):
        tt.add_column(c, justify="right")
    for k, v in tiers["classes"].items():
        tt.add_row(k, f"{v['units']:,}", f"{v['share_units']:.1%}", _money(v["value"]), f"{v['share_value']:.1%}")
    out.print(tt)
    if not top.empty:
        ut = Table(title="Top units by CLV", title_justify="left")
        for c in ("unit", "purchases", "P(alive)", "expected purchases", "spend per purchase", "CLV", "CLV − CAC", "tier"):
            ut.add_column(c, justify="left" if c == "unit" else "right")
        for r in top.to_dict("records"):
            ut.add_row(str(r["unit_id"]), f"{int(r['frequency']) + 1:,}", f"{r['p_alive']:.2f}",
                       f"{r['expected_purchases']:.1f}", _money(r["expected_spend"]), _money(r["clv"]),
                       _money(r["clv_minus_cac"]), str(r["value_tier"] or ""))
        out.print(ut)
    for note in doc["notes"]:
        out.print(f"[dim]note[/] {escape(note)}")


def _render_contract(doc: dict, curves: pd.DataFrame) -> None:
    p = doc["sbg"]
    out.print(f"[bold]Contractual CLV[/] at {doc['grain']} grain as of {doc['as_of']}: {doc['units']:,} units with "
              f"subscriptions, {doc['active']:,} active, {doc['ended']:,} ended; ARR {_money(doc['arr'])}")
    rates = ", ".join(f"{r:.1%}" for r in doc["retention_rate"][:3])
    out.print(f"sBG per {doc['period']}: gamma {_n(p['gamma'])}, delta {_n(p['delta'])} (log-likelihood "
              f"{doc['log_likelihood']:,.2f}, {len(doc['cohorts'])} start cohorts); retention at renewals 1-3: {rates}")
    marks = [m for m in (12, 24, 36, 60) if m <= (curves["month"].max() if not curves.empty else 0)]
    t = Table(title="Retention (Kaplan-Meier): share still customers after … months", title_justify="left")
    for c in ("curve", "units", *[str(m) for m in marks]):
        t.add_column(c, justify="left" if c == "curve" else "right")
    for (kind, group), c in curves.groupby(["kind", "group"], sort=False):
        at = c.set_index("month")["retention"]
        t.add_row(group if kind == "overall" else f"{kind} {group}", f"{int(c['units'].iat[0]):,}",
                  *["–" if _missing(at.get(m)) else f"{at.get(m):.1%}" for m in marks])
    out.print(t)
    out.print(f"CLV of the active units (ARR × margin {doc['margin_rate']:.0%} × discounted expected lifetime, "
              f"{doc['discount']:.0%} a year): total {_money(doc['clv'])}, mean {_money(doc['clv_mean_active'])}")
    for note in doc["notes"]:
        out.print(f"[dim]note[/] {escape(note)}")


def _write(folder: Path, tables: dict[str, pd.DataFrame], doc: dict) -> list[Path]:
    """Every table as Parquet and CSV (through the one CSV writer, :mod:`sikta.engine.csvsafe`), the summary as JSON."""
    from sikta.engine.csvsafe import write_frame_csv

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
        write_frame_csv(frame, folder / f"{name}.csv")  # text cells a spreadsheet would run are neutralized
        written += [folder / f"{name}.parquet", folder / f"{name}.csv"]
    (folder / "clv.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return [*written, folder / "clv.json"]


@app.command()
@handles_errors
def clv(
    grain: Annotated[str, typer.Option(help=f"Customer grain: {', '.join(GRAINS)}.")] = "account",
    calibration_end: Annotated[str | None, typer.Option(
        "--calibration-end", help="Fit on purchases up to this date (YYYY-MM-DD) [default: the as-of date].")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Use data up to this date; after --calibration-end it opens a holdout check "
                        "[default: latest revenue date].")] = None,
    time_unit: Annotated[str | None, typer.Option("--time-unit", help="day, week or month [default: week].")] = None,
    model: Annotated[str | None, typer.Option("--model", help="bgnbd or paretonbd [default: bgnbd].")] = None,
    horizon: Annotated[int | None, typer.Option(help="Months of future purchases counted [default: 36].")] = None,
    discount: Annotated[float | None, typer.Option(help="Yearly discount rate [default: 0.10].")] = None,
    model_file: Annotated[Path | None, typer.Option(
        "--model-file", help="A model file whose clv: block sets margin rate, CAC, tiers (docs/clv.md).")] = None,
    contractual: Annotated[bool, typer.Option(
        "--contractual", help="Subscriptions: retention curves, sBG and contractual CLV instead of orders.")] = False,
    by: Annotated[str | None, typer.Option(help="--contractual: retention curves per value of this feature.")] = None,
    renewal_period: Annotated[str | None, typer.Option(
        "--renewal-period", help="--contractual: month, quarter or year [default: year].")] = None,
    limit: Annotated[int, typer.Option(help="Top units shown.", min=0)] = 10,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write the per-unit table as Parquet and CSV here.")] = None,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Customer lifetime value: purchase and spend models fitted on the orders, CLV and CLV − CAC per unit, value tiers."""
    if grain not in GRAINS:
        raise UsageError(f"--grain must be one of {', '.join(GRAINS)}, not {grain!r}")
    settings = _settings(model_file)
    if contractual:
        if engine is not None:
            raise UsageError("--engine is for the purchase summaries of the non-contractual CLV, not --contractual")
        if calibration_end or time_unit or model or horizon:
            raise UsageError("--contractual takes --as-of, --discount, --by and --renewal-period "
                             "(not --calibration-end, --time-unit, --model or --horizon)")
        with _open(workspace) as ws, _progress() as bar:
            bar.add_task("retention curves and the renewal model", total=None)
            res = ws.clv.contractual(grain, as_of=as_of, settings=settings, by=by, period=renewal_period,
                                     discount=discount)
            units = res.units().to_pandas()
        written = _write(out_dir, {"clv_contract_units": units, "retention_curves": res.curves}, res.to_dict()) \
            if out_dir else []
        if as_json:
            _json(res.to_dict())
            return
        _render_contract(res.summary, res.curves)
        if written:
            out.print(f"\nwrote {len(written)} files to {out_dir}")
        return
    if by or renewal_period:
        raise UsageError("--by and --renewal-period go with --contractual")
    import pandas as pd

    with _open(workspace) as ws, _progress() as bar:
        task = bar.add_task("CLV", total=5)

        def tick(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        res = ws.clv(grain, calibration_end=calibration_end, as_of=as_of, time_unit=time_unit, model=model,
                     horizon=horizon, discount=discount, settings=settings, progress=tick,
                     engine=_engine(ws, engine))
        units = res.units()
        top = ws.store.frame(units.order_by([units.clv.desc(), units.unit_id]), limit=limit) if limit else pd.DataFrame()
        frame = ws.store.frame(units.order_by("unit_id")) if out_dir else None
    doc = res.to_dict()
    written = []
    if out_dir:
        tables = {"clv_units": frame}
        if doc["holdout"]:
            tables["clv_holdout"] = pd.DataFrame(doc["holdout"]["by_frequency"])
            tables["clv_tracking"] = pd.DataFrame(doc["holdout"]["tracking"])
        written = _write(out_dir, tables, doc)
    if as_json:
        _json(doc)
        return
    _render(doc, top)
    if written:
        out.print(f"\nwrote {len(written)} files to {out_dir}")
    out.print(f"[dim]per-unit table: {res.table} (ws.clv(...).units() in Python)[/]")
