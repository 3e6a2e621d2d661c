"""``sikta export``: a run in CRM import layouts, or written back into a database table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sikta.cli.app import JsonOpt, WorkspaceOpt, _json, _open, _progress, app, out
from sikta.cli.errors import handles_errors
from sikta.cli.operate_cmd import RunOpt
from sikta.errors import UsageError


@app.command()
@handles_errors
def export(
    to: Annotated[str | None, typer.Option("--to", help="salesforce, hubspot, csv or parquet.")] = None,
    to_db: Annotated[str | None, typer.Option("--to-db", help="Write back into a database: postgresql://user@host/db or a .duckdb file.")] = None,
    table: Annotated[str | None, typer.Option("--table", help="With --to-db: the table to replace.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for the files [default: <workspace>_exports/<layout>_<run>].")] = None,
    include_contacts: Annotated[bool, typer.Option("--include-contacts", help="Also export contacts (names, e-mails): personal data.")] = False,
    run: RunOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a run's groups, segments, scores, CLV and owners for a CRM, or write them back into a database."""
    from sikta.service.crm_export import export_layout
    from sikta.service.writeback import write_back

    if (to is None) == (to_db is None):
        raise UsageError("give --to salesforce|hubspot|csv|parquet, or --to-db URL --table NAME")
    if to_db is not None and not table:
        raise UsageError("--to-db needs --table NAME (the table to replace)")
    if to is not None and table:
        raise UsageError("--table goes with --to-db")
    with _open(workspace) as ws, _progress() as bar:
        bar.add_task("exporting", total=None)
        if to_db is not None:
            doc = write_back(ws, to_db, table, run, include_contacts=include_contacts)
        else:
            doc = export_layout(ws, to, run, out_dir=out_dir, include_contacts=include_contacts)
    if as_json:
        _json(doc)
        return
    if to_db is not None:
        written = ", ".join(f"{t} ({n:,} rows)" for t, n in doc["tables"].items())
        out.print(f"wrote run {doc['run_id']} into {escape(doc['database'])}: {written}")
        return
    out.print(f"exported run {doc['run_id']} for {doc['to']}: {doc['rows']:,} rows, {len(doc['columns'])} columns "
              f"→ {escape(doc['files']['accounts'])}")
    if doc["unmatched"]:
        out.print(f"[yellow]{doc['unmatched']:,} units the CRM cannot match[/] (no id) → {escape(doc['files']['unmatched'])}")
    if doc["contacts"] is not None:
        out.print(f"[yellow]personal data[/]: {doc['contacts']:,} contacts → {escape(doc['files']['contacts'])}")
    else:
        out.print("[dim]no personal data: contacts left out (--include-contacts adds them)[/]")
