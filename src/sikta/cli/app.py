"""``sikta`` commands. Each one parses options, calls the service, renders.

Human output goes through Rich; ``--json`` prints one JSON document on
stdout and nothing else, for scripts.
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sikta import __version__
from sikta.cli.errors import WRITE_AGAIN, handles_errors
from sikta.engine.contract import GRAINS
from sikta.errors import UsageError, WorkspaceError, WorkspaceLockedError
from sikta.service.serving import describe, lock_wait, running_server
from sikta.service.locations import default_workspace

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

app = typer.Typer(
    name="sikta",
    help="Sikta: aim better. B2B customer segmentation from your CRM, billing and product exports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped or captured output gets a wide page, so table cells are not folded.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace file [default: $SIKTA_WORKSPACE or ./sikta.duckdb]", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
EngineOpt = Annotated[
    str | None,
    typer.Option("--engine", help="Where the transaction-level work runs: duckdb, or spark (PySpark, local[2] unless "
                 "$SIKTA_SPARK_MASTER; needs Java 17+; docs/engines.md) [default: the workspace's 'sikta engine', else "
                 "duckdb].", show_default=False),
]


def _engine(ws: Workspace, engine: str | None) -> str | None:
    """``--engine`` when given, else the workspace's engine setting (None: DuckDB, stored results as they are)."""
    return engine if engine is not None else ws.engine


def missing(x: Any) -> bool:
    """None, NaN, NaT or pandas' NA - without importing pandas (the CLI starts without it)."""
    return x is None or x != x or type(x).__name__ in ("NAType", "NaTType")  # NaN is unequal to itself


def _json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=Console(stderr=True), transient=True,
        disable=not sys.stderr.isatty(),  # bars are for people at a terminal, not for logs and pipes
    )


def _open(workspace: Path | None, *, must_exist: bool = True, write: bool = False) -> Workspace:
    """The workspace for a command: read-only unless it writes (``write``, or a new one).

    Many processes may read a workspace at once (a running ``sikta serve`` too); one that writes
    has it alone. A read-only command that turns out to write runs again for writing
    (:func:`sikta.cli.errors.handles_errors`), unless a server holds the workspace.
    """
    from sikta.service.workspace import Workspace

    path = Path(workspace or default_workspace())
    if must_exist and not path.exists():
        raise WorkspaceError(f"workspace {path} does not exist: run 'sikta ingest PATH --workspace {path}' first")
    server = running_server(path)
    wait = lock_wait()
    if write or not must_exist or WRITE_AGAIN.get():
        if server is not None:
            raise WorkspaceError(f"workspace {path} is served by {describe(server)} and this command writes to it: "
                                 f"stop the server (Ctrl-C where it runs, or kill {server['pid']}), then run it again")
        try:
            return Workspace(path, wait=wait)
        except WorkspaceLockedError:
            raise WorkspaceLockedError(f"workspace {path} is in use by another process (another sikta command or a "
                                       f"server): try again when it is done (waited {wait:.0f} s; SIKTA_LOCK_WAIT "
                                       "sets how long)") from None
    try:
        ws = Workspace(path, read_only=True, wait=wait)
    except WorkspaceLockedError:
        who = f"{describe(server)} is writing to it (a run or an admin change)" if server else \
            "another process is writing to it (an ingest or a run)"
        raise WorkspaceLockedError(f"workspace {path} is busy: {who}; try again in a moment (waited {wait:.0f} s; "
                                   "SIKTA_LOCK_WAIT sets how long)") from None
    if server is not None:
        ws.store.read_only_reason = (f"{describe(server)} serves it, and this needs to write to it (a feature build): "
                                     f"stop the server (Ctrl-C where it runs, or kill {server['pid']}), then run "
                                     "this command again")
    return ws


def _version(value: bool) -> None:
    if value:
        out.print(f"sikta {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """Sikta: aim better."""


@app.command()
@handles_errors
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    accounts: Annotated[int, typer.Option(help="Number of accounts (customers, prospects, former).", min=1)] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, byte-identical files.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    dirty: Annotated[float, typer.Option(help="Share of bad rows to inject (0-0.5), for quarantine tests.", min=0.0, max=0.5)] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Write a realistic synthetic B2B data set (the nine contract tables + truth)."""
    from sikta.synth import generate as synth_generate

    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format must be parquet or csv, not {fmt!r}")
    with _progress() as bar:
        task = bar.add_task(f"generating {accounts:,} accounts", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = synth_generate(out_dir, accounts=accounts, seed=seed, fmt=fmt, dirty=dirty, progress=tick)
    if as_json:
        _json({"out": str(out_dir), "rows": summary.rows, "files": {k: str(v) for k, v in summary.files.items()},
               "dirty_injected": summary.dirty_injected})
        return
    t = Table(title=f"Generated into {out_dir}", title_justify="left")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in summary.rows.items():
        t.add_row(name, f"{n:,}")
    out.print(t)


@app.command()
@handles_errors
def ingest(
    paths: Annotated[list[str], typer.Argument(
        help="Folders and/or files (CSV, Parquet, Excel), or one postgresql://user@host[:port]/database URL.",
        show_default=False, metavar="PATHS|URL")],
    mapping: Annotated[Path | None, typer.Option(help="YAML mapping of your column names onto the contract.")] = None,
    schema: Annotated[str | None, typer.Option(
        help="For a database URL: the schema whose tables are read.", show_default="public")] = None,
    allow_shrink: Annotated[bool, typer.Option(
        "--allow-shrink", help="Replace the workspace even if a table loses more than half of its rows.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load exports into the workspace; bad rows go to quarantine with a reason.

    A PostgreSQL database works like a folder: the tables named after the
    contract tables (or named with 'table:' in the mapping) are read. Keep the
    password out of the URL: libpq reads PGPASSWORD and ~/.pgpass.
    """
    path = Path(workspace or default_workspace())
    existed = path.exists()
    try:
        with _open(workspace, must_exist=False) as ws, _progress() as bar:
            bar.add_task("ingesting", total=None)
            report = ws.ingest(*paths, mapping=mapping, allow_shrink=allow_shrink, schema=schema)
            units = ws.units_per_grain()
    except BaseException:
        if not existed:  # a failed first ingest leaves no empty workspace behind
            for leftover in (path, Path(f"{path}.wal"), Path(f"{path}.tmp")):
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
        raise
    if as_json:
        _json({
            "ingest_id": report.ingest_id, "workspace": report.workspace,
            "tables": {k: {"rows_in": r.rows_in, "loaded": r.loaded, "quarantined": r.quarantined,
                           "files": r.files, "derived_from": r.derived_from, "duplicates": r.duplicates,
                           "future": r.future, "attributes": r.attributes} for k, r in report.tables.items()},
            "units_per_grain": units, "skipped": report.skipped, "removed": report.removed,
            "fingerprints": report.fingerprints, "hints": report.hints, "notes": report.notes,
        })
        return
    t = Table(title=f"Ingested into {report.workspace}", title_justify="left")
    for col, justify in (("table", "left"), ("rows in", "right"), ("loaded", "right"), ("quarantined", "right"), ("source", "left")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, r in report.tables.items():
        source = f"derived from {r.derived_from}" if r.derived_from else ", ".join(Path(f).name for f in r.files)
        q = f"[yellow]{r.quarantined:,}[/]" if r.quarantined else "0"
        t.add_row(name, f"{r.rows_in:,}", f"{r.loaded:,}", q, source)
    out.print(t)
    out.print("units per grain: " + ", ".join(f"{g} {n:,}" for g, n in units.items()))
    total_q = sum(r.quarantined for r in report.tables.values())
    if total_q:
        out.print(f"[yellow]{total_q:,} rows quarantined[/]: see 'sikta quarantine'")
    for hint in report.hints:
        out.print(f"[yellow]hint[/] {escape(hint)}")
    for note in report.notes:
        out.print(f"[dim]note[/] {escape(note)}")
    for note in report.skipped:
        out.print(f"[dim]skipped {escape(note)}[/]")
    if report.removed:
        out.print(f"[dim]removed tables not in this ingest: {', '.join(report.removed)}[/]")


@app.command()
@handles_errors
def quarantine(
    table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show (0 = all).", min=0)] = 50,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List quarantined rows: table, file, row, column and reason."""
    with _open(workspace) as ws:
        q = ws.quarantine(table)
        total = ws.store.count(q)
        by_reason = ws.store.frame(q.group_by(["table", "column"]).aggregate(rows=q.count()).order_by(["table", "column"]))
        rows = ws.store.frame(q, limit=limit or None)
    records = [
        {"table": r["table"], "file": r["file"], "row": int(r["row"]), "column": r["column"], "reason": r["reason"],
         "record": json.loads(r["record"]) if isinstance(r["record"], str) else None}
        for r in rows.to_dict("records")
    ]
    if as_json:
        _json({"total": total, "rows": records})
        return
    if total == 0:
        out.print("no quarantined rows")
        return
    s = Table(title=f"{total:,} quarantined rows", title_justify="left")
    for c in ("table", "column", "rows"):
        s.add_column(c, justify="right" if c == "rows" else "left")
    for r in by_reason.to_dict("records"):
        s.add_row(r["table"], r["column"] or "", f"{int(r['rows']):,}")
    out.print(s)
    t = Table(show_lines=False)
    for c in ("table", "file", "row", "column", "reason"):
        t.add_column(c, overflow="fold", justify="right" if c == "row" else "left")
    for r in records:
        t.add_row(r["table"], Path(r["file"]).name, str(r["row"]), r["column"] or "", r["reason"])
    out.print(t)
    if limit and total > limit:
        out.print(f"[dim]showing {limit} of {total:,}; --limit 0 shows all, --json for scripts[/]")


@app.command()
@handles_errors
def features(
    grain: Annotated[str, typer.Option(help=f"Customer grain: {', '.join(GRAINS)}.")] = "account",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Use only data up to this date (YYYY-MM-DD) [default: latest revenue date].")] = None,
    window_months: Annotated[int, typer.Option(help="Trailing window in months.", min=1, max=120)] = 12,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the per-unit feature table at a grain and store it in the workspace."""
    with _open(workspace, write=True) as ws:
        engine = _engine(ws, engine)
        started = time.perf_counter()
        with _progress() as bar:
            bar.add_task(f"building features at {grain} grain" + (f" on {engine}" if engine else ""), total=None)
            build = ws.build_features(grain, as_of, window_months=window_months, engine=engine)
        seconds = round(time.perf_counter() - started, 3)
        table = ws.store.table(build.table)
        totals = ws.store.frame(table.aggregate(
            revenue_12m=table.revenue_12m.sum(), customers=(table.status == "customer").sum(),
            prospects=(table.status == "prospect").sum(), former=(table.status == "former").sum()))
        units = ws.units_per_grain()
        cols = len(table.columns)
    row = totals.iloc[0]
    doc = {
        "grain": build.grain, "as_of": str(build.as_of), "units": build.units, "columns": cols,
        "table": build.table, "revenue_12m": float(row["revenue_12m"] or 0),
        "status": {k: int(row[k] or 0) for k in ("customers", "prospects", "former")},
        "units_per_grain": units, "missing": build.missing, "window_months": build.window_months,
        "notes": build.notes, "seconds": seconds, "engine": build.engine,
    }
    if as_json:
        _json(doc)
        return
    out.print(f"features at [bold]{build.grain}[/] grain as of {build.as_of}: {build.units:,} units × {cols} columns "
              f"→ table {build.table} (built on {build.engine} in {seconds:,.1f} s)")
    out.print(f"revenue in the {window_months} months to {build.as_of}: {doc['revenue_12m']:,.2f}; "
              + ", ".join(f"{k} {v:,}" for k, v in doc["status"].items()))
    for note in build.notes:
        out.print(f"[dim]note[/] {escape(note)}")
    out.print("units per grain: " + ", ".join(f"{g} {n:,}" for g, n in units.items()))
    for group, why in build.missing.items():
        out.print(f"[yellow]degraded[/] {group}: {'; '.join(why)}")


@app.command()
@handles_errors
def status(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """What the workspace holds: tables, quarantine, units per grain, features."""
    with _open(workspace) as ws:
        doc = ws.summary()
    if as_json:
        _json(doc)
        return
    out.print(f"workspace {doc['workspace']} (ingest {doc['ingest_id']}, {doc['ingested_at']})")
    t = Table()
    for c in ("table", "rows in", "loaded", "quarantined"):
        t.add_column(c, justify="left" if c == "table" else "right")
    for name, r in doc["tables"].items():
        t.add_row(name, f"{r['rows_in']:,}", f"{r['loaded']:,}", f"{r['quarantined']:,}")
    out.print(t)
    out.print("units per grain: " + ", ".join(f"{g} {n:,}" for g, n in doc["units_per_grain"].items()))
    for table, b in doc["features"].items():
        out.print(f"{table}: {b['units']:,} units at {b['grain']} grain as of {b['as_of']}, "
                  f"{b['window_months']}-month window, built on {b['engine']}")
    out.print(f"engine: {doc['engine']}" + (" (set with 'sikta engine')" if doc["engine"] != "duckdb" else ""))


@app.command("engine")
@handles_errors
def engine_setting(
    name: Annotated[str | None, typer.Argument(help="duckdb or spark; leave out to show the setting.",
                                               show_default=False)] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or set the engine this workspace's commands run on when --engine is not given."""
    with _open(workspace, write=name is not None) as ws:
        current = ws.set_engine(name) if name is not None else ws.engine
    if as_json:
        _json({"engine": current or "duckdb", "set": current is not None})
        return
    if current is None:
        out.print("engine: duckdb (the default): features, runs, analyses and CLV summaries run in the workspace's "
                  "DuckDB; 'sikta engine spark' makes Spark their default")
    else:
        out.print(f"engine: {current}: 'sikta features', 'run', 'analyze' and 'clv' run on {current} unless --engine "
                  "says otherwise; 'sikta engine duckdb' goes back to the default")


#: young-generation collections every this many allocations instead of CPython's 700
GC_YOUNG = 100_000


def main() -> None:
    """Console entry point."""
    # A command loads ~10^6 long-lived objects (Ibis, sqlglot, pydantic) and makes few cycles, so
    # CPython's default collector mostly re-traverses imports: 0.2 s of a 1.5 s small ingest. A
    # larger young generation keeps collecting cycles (a server stays bounded), far less often; at
    # exit, frozen objects are not traversed once more (another 0.2 s).
    gc.set_threshold(GC_YOUNG, 50, 100)
    try:
        app()
    finally:
        gc.freeze()
