"""``sikta model``, ``run``, ``runs``, ``explain``, ``diff``, ``suggest``: segmentation as code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sikta.cli import remote
from sikta.cli.app import EngineOpt, JsonOpt, WorkspaceOpt, _engine, _json, _open, _progress, app, out
from sikta.cli.errors import handles_errors
from sikta.errors import UsageError
from sikta.service import serving
from sikta.service.locations import default_workspace


def _runs():
    """The runs service, imported when a command needs it (the CLI starts without the engine)."""
    from sikta.service import runs

    return runs

model_app = typer.Typer(help="Write and check segmentation model files (YAML under version control).", no_args_is_help=True)
app.add_typer(model_app, name="model")

@model_app.command("init")
@handles_errors
def model_init(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the starter model.")] = Path("model.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter model that runs on the demo data."""
    from sikta.service.model import starter_model_text

    if out_file.exists() and not force:
        raise UsageError(f"{out_file} exists: pass --force to overwrite it")
    out_file.write_text(starter_model_text(), encoding="utf-8")
    out.print(f"wrote {out_file}: edit it, then 'sikta model check {out_file}' and 'sikta run --model {out_file}'")


@model_app.command("check")
@handles_errors
def model_check(
    model_file: Annotated[Path, typer.Argument(help="The model YAML file.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a model file without running it (against the workspace's features when there is one)."""
    from sikta.service.model import load_model, validate_against

    model = load_model(model_file)
    checked_columns = False
    matrix = None
    if workspace is not None or default_workspace().exists():  # $SIKTA_WORKSPACE or ./sikta.duckdb
        with _open(workspace) as ws:
            f = ws.features(model.customer.grain)
            validate_against(model, f.columns)
            checked_columns = True
            from sikta.service.matrix_checks import check_model

            matrix = check_model(ws, model)  # a degenerate matrix is valid YAML, but not without a word
    doc = {"file": str(model_file), "name": model.name, "version": str(model.version), "sha256": model.sha256,
           "grain": model.customer.grain, "potential": [p.label for p in model.potential],
           "pain": [p.label for p in model.pain], "checked_against_features": checked_columns,
           "schemes": model.schemes.names(), "matrix": matrix}
    if as_json:
        _json(doc)
        return
    out.print(f"{model_file}: ok — model {model.name!r} v{model.version}, {model.customer.grain} grain; "
              f"potential: {', '.join(doc['potential'])}; pain: {', '.join(doc['pain'])}"
              + (f"; schemes: {', '.join(doc['schemes'])}" if doc["schemes"] else "")
              + ("" if checked_columns else " (no workspace: expressions checked for syntax only)"))
    _matrix_warnings(matrix)


def _matrix_warnings(matrix: dict | None) -> None:
    """The matrix verdict and its reasons, when there is anything to warn about."""
    if matrix and matrix.get("reasons"):
        from sikta.cli.schemes_cmd import verdict_text

        out.print(f"[yellow]warning[/]: the matrix is {verdict_text(matrix['verdict'])}:")
        for r in matrix["reasons"]:
            out.print(f"  - {r}")


def _groups_table(title: str, groups: dict[str, dict[str, float]]) -> Table:
    t = Table(title=title, title_justify="left")
    for c, j in (("group", "left"), ("accounts", "right"), ("revenue 12m", "right"), ("what it means", "left")):
        t.add_column(c, justify=j)  # type: ignore[arg-type]
    for g in _runs().GROUPS:
        v = groups.get(g, {"accounts": 0, "revenue": 0})
        t.add_row(g, f"{int(v['accounts']):,}", f"{v['revenue']:,.0f}", _runs().GROUP_SUMMARY[g])
    return t


@app.command()
@handles_errors
def run(
    model_file: Annotated[Path, typer.Option("--model", help="The model YAML file.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score data up to this date [default: latest revenue date].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Preview group sizes, revenue and who would move against the latest run; store nothing.")] = False,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Place every in-scope customer and prospect in the pain × potential matrix; store an immutable run."""
    from sikta.service.model import load_model
    from sikta.service.workspace import parse_date

    if dry_run:  # what-if: nothing is stored (sikta.service.whatif)
        from sikta.cli.whatif_cmd import dry_run as preview_run

        if engine is not None:
            raise UsageError("--dry-run scores the stored features and builds none: drop --engine, or build them "
                             "first with 'sikta features --engine ...'")
        return preview_run(model_file, workspace, as_of, as_json)

    model = load_model(model_file)
    as_of_d = parse_date(as_of, "--as-of")
    server = serving.running_server(workspace or default_workspace())
    if server is not None:  # the server holds the workspace: it runs the model (and sends the webhooks)
        if engine is None:
            with _open(workspace) as ws:
                if (engine := ws.engine) is not None:
                    raise UsageError(f"the workspace is set to run on {engine}, and it is served by "
                                     f"{serving.describe(server)}, which builds features on duckdb: stop the server, "
                                     "or run on duckdb with --engine duckdb")
        elif engine != "duckdb":
            raise UsageError(f"the workspace is served by {serving.describe(server)}, which builds features on "
                             "duckdb: drop --engine, or stop the server to build them on another engine")
        with _progress() as bar:
            bar.add_task(f"scoring on {serving.describe(server)}", total=None)
            meta = remote.run_job(server, model.text, as_of=None if as_of_d is None else str(as_of_d))
        summary = _runs().RunSummary(meta["run_id"], meta["as_of"], meta["grain"], meta["model_name"],
                                      str(meta["model_version"]), meta["model_sha256"], int(meta["units"]),
                                      meta["groups"])
        diagnosis = remote.call(server, "GET", f"/api/v1/runs/{meta['run_id']}/diagnostics")
        summary.schemes, summary.diagnostics = diagnosis["schemes"], diagnosis["matrix"]
        deliveries = meta["webhooks"]
    else:
        with _open(workspace, write=True) as ws:
            with _progress() as bar:
                bar.add_task("scoring", total=None)
                summary = _runs().create_run(ws, model, as_of=as_of_d, model_file=str(model_file),
                                             engine=_engine(ws, engine))
            from sikta.service.webhooks import notify_run

            deliveries = notify_run(ws, summary.run_id)  # the same run.completed event the API's runs send
    if as_json:
        _json(summary.to_dict())
        return
    out.print(f"run [bold]{summary.run_id}[/]: model {summary.model_name!r} v{summary.model_version} "
              f"({summary.model_sha256[:12]}), {summary.grain} grain, as of {summary.as_of}, {summary.units:,} units")
    if summary.features:
        used = summary.features
        out.print(f"[dim]scored features {used['table']} (as of {used['as_of']}, {used['window_months']}-month window, "
                  f"built {used['built_at']} on {used.get('engine', 'duckdb')})[/]")
    out.print(_groups_table("The matrix", summary.groups))
    _matrix_warnings(summary.diagnostics)
    if summary.schemes:
        from sikta.cli.schemes_cmd import render_schemes_line

        out.print("schemes (details: 'sikta diagnose'):")
        render_schemes_line(summary.schemes)
    if deliveries:
        states = [d["state"] for d in deliveries]
        out.print(f"webhooks: {states.count('delivered')} delivered, {states.count('pending')} pending (the server "
                  f"tries again for 24 h), {states.count('failed')} failed; see GET /api/v1/webhooks/deliveries")


@app.command("runs")
@handles_errors
def runs_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List the stored runs, newest first."""
    with _open(workspace) as ws:
        frame = _runs().list_runs(ws)
    if as_json:
        _json(frame.to_dict("records"))
        return
    if frame.empty:
        out.print("no runs yet: 'sikta run --model MODEL.yaml'")
        return
    t = Table()
    for c in ("run", "created", "as of", "grain", "model", "version", "sha256", "units"):
        t.add_column(c)
    for r in frame.to_dict("records"):
        t.add_row(r["run_id"], str(r["created_at"])[:19], str(r["as_of"])[:10], r["grain"], r["model_name"],
                  str(r["model_version"]), str(r["model_sha256"])[:12], f"{int(r['units']):,}")
    out.print(t)


@app.command()
@handles_errors
def explain(
    unit_id: Annotated[str, typer.Argument(help="The account (unit) id.")],
    run_id: Annotated[str | None, typer.Option("--run", help="Run id [default: the latest run].")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why an account landed in its group: every parameter, score, weight, threshold and rule."""
    with _open(workspace) as ws:
        doc = _runs().explain(ws, unit_id, run_id)
    if as_json:
        _json(doc)
        return
    out.print(f"[bold]{doc['unit_id']}[/] in run {doc['run_id']}: [bold]{doc['group']}[/]")
    for line in doc["lines"]:
        out.print(f"  {line}")


@app.command()
@handles_errors
def diff(
    run_a: Annotated[str, typer.Argument(help="The earlier run (or 'previous').")],
    run_b: Annotated[str, typer.Argument(help="The later run (or 'latest').")],
    limit: Annotated[int, typer.Option(help="Changed accounts to list.", min=0)] = 20,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which accounts changed group between two runs, and why."""
    with _open(workspace) as ws:
        doc = _runs().diff(ws, run_a, run_b, limit=limit or None)
    if as_json:
        _json(doc)
        return
    out.print(f"{doc['run_a']} → {doc['run_b']}: {doc['moved']:,} accounts changed group"
              + (" (the model changed)" if doc["model_changed"] else "") + f"; as of {doc['as_of'][0]} → {doc['as_of'][1]}")
    t = Table(title="Transitions", title_justify="left")
    for c in ("from", "to", "accounts"):
        t.add_column(c, justify="right" if c == "accounts" else "left")
    for r in doc["transitions"]:
        t.add_row(r["group_a"], r["group_b"], f"{int(r['accounts']):,}")
    out.print(t)
    if doc["accounts"]:
        m = Table(title="Changed accounts", title_justify="left")
        for c in ("unit", "name", "from", "to", "why"):
            m.add_column(c, overflow="fold")
        for r in doc["accounts"]:
            m.add_row(r["unit_id"], str(r.get("name") or ""), r["group_a"], r["group_b"], r["why"])
        out.print(m)


@app.command()
@handles_errors
def suggest(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the suggested model.")] = Path("model.yaml"),
    best_by: Annotated[str, typer.Option("--best", help="Best customers by revenue | margin | growth | a numeric feature | a rule "
                                         "(\"revenue_12m > 50000 and gross_margin_12m > 0.3\").")] = "revenue",
    top_share: Annotated[float | None, typer.Option(help="Best = this share of the customers.", min=0.0, max=1.0)] = 0.1,
    top_n: Annotated[int | None, typer.Option(help="Best = the top N customers (instead of --top-share).", min=1)] = None,
    grain: Annotated[str, typer.Option(help="ultimate_parent | account | department")] = "account",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Analyse data up to this date.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose 1-3 potential and 1-3 pain parameters from the best customers, with evidence; write a model file."""
    from sikta.service.model import model_from_text
    from sikta.service.suggest import suggest as suggest_model

    if out_file.exists() and not force:
        raise UsageError(f"{out_file} exists: pass --force to overwrite it")
    with _open(workspace) as ws:
        with _progress() as bar:
            bar.add_task("analysing the best customers", total=None)
            s = suggest_model(ws, grain=grain, as_of=as_of, by=best_by,
                              top_share=None if top_n else top_share, top_n=top_n)
    model_from_text(s.text, source=str(out_file))  # what we write must load
    out_file.write_text(s.text, encoding="utf-8")
    if as_json:
        _json({**s.to_dict(), "file": str(out_file)})
        return
    out.print(f"[bold]Best customers[/]: {s.best_summary}")
    for axis, params in (("Potential", s.potential), ("Pain", s.pain)):
        t = Table(title=axis, title_justify="left")
        t.add_column("parameter")
        t.add_column("how")
        t.add_column("evidence", overflow="fold")
        for p in params:
            how = ", ".join(f"{k}: {v}" for k, v in p.source.items()) or "built-in"
            t.add_row(p.name, how, p.evidence)
        out.print(t)
    for note in s.notes:
        out.print(f"note: {note}")
    if s.matrix:
        from sikta.cli.schemes_cmd import verdict_text

        groups = ", ".join(f"{g['group']} {g['units']:,}" for g in s.matrix.get("groups", []))
        out.print(f"matrix of the written model (as of {s.as_of}): {verdict_text(s.matrix['verdict'])} - {groups}")
    _matrix_warnings(s.matrix)
    out.print(f"wrote {out_file}: review it, then 'sikta run --model {out_file}'")
