"""``sikta report``: the static, self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sikta.cli.app import JsonOpt, WorkspaceOpt, _json, _open, _progress, app, out
from sikta.cli.errors import handles_errors


@app.command()
@handles_errors
def report(
    run_id: Annotated[str | None, typer.Option("--run", help="Run to show: id, its suffix, or 'previous' (default: the latest run).")] = None,
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    max_points: Annotated[int, typer.Option(help="Most points in the matrix scatter; above it a stratified sample.", min=100)] = 20_000,
    top: Annotated[int, typer.Option(help="Rows per opportunity table.", min=1, max=1000)] = 50,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report (charts and sortable tables; opens offline)."""
    from sikta.web.report import write_report

    with _open(workspace) as ws:
        with _progress() as bar:
            bar.add_task("building the report", total=None)
            doc = write_report(ws, out_file, run_id, max_points=max_points, top_n=top)
    if as_json:
        _json(doc)
        return
    out.print(f"wrote {doc['path']} ({doc['size'] / 1e6:.1f} MB): {', '.join(doc['sections'])}")
    if doc["run"] is None:
        out.print("[yellow]no segmentation run yet[/]: the report holds the analysis only; "
                  "'sikta run --model model.yaml' adds the matrix, group profiles and migrations")
    for part, why in doc["skipped"].items():
        out.print(f"[dim]{part} left out: {why}[/]")
