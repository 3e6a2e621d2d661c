"""``sikta run --dry-run``: what an edited model would do against the latest run, storing nothing."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from sikta.cli.app import _json, _open, out
from sikta.service import money as fmt
from sikta.service.runs import GROUPS


def dry_run(model_file: Path, workspace: Path | None, as_of: str | None, as_json: bool, limit: int = 10) -> None:
    """Preview ``model_file`` (see :func:`sikta.service.whatif.preview`) and print it."""
    from sikta.service.model import load_model
    from sikta.service.whatif import preview
    from sikta.service.workspace import parse_date

    model = load_model(model_file)
    with _open(workspace) as ws:
        doc = preview(ws, model, as_of=parse_date(as_of, "--as-of"), limit=limit)
        cur = fmt.currency(ws)
    if as_json:
        _json(doc)
        return
    against = f"against run {doc['against']}" if doc["against"] else "(no earlier run at this grain to compare with)"
    out.print(f"[bold]dry run[/] of {escape(str(model_file))} (model {doc['model']!r}, {doc['grain']} grain) "
              f"{against}: {doc['units']:,} units, nothing stored ({doc['seconds']:.2f} s)")
    t = Table(title_justify="left")
    for c in ("group", "accounts", "change", "revenue 12m", "before"):
        t.add_column(c, justify="left" if c == "group" else "right")
    for g in GROUPS:
        v = doc["groups"][g]
        change = "" if v.get("change") is None else f"{v['change']:+,}"
        t.add_row(g, f"{v['accounts']:,}", change, fmt.money(v["revenue"], cur), fmt.money(v["revenue_before"], cur))
    out.print(t)
    if doc["against"]:
        out.print(f"{doc['moved']:,} units would change group, carrying {fmt.money(doc['moved_revenue'], cur)}")
        if doc["movers"]:
            m = Table(title=f"largest movers (top {len(doc['movers'])} by revenue)", title_justify="left")
            for c in ("unit", "name", "from", "to", "revenue 12m"):
                m.add_column(c, justify="right" if c == "revenue 12m" else "left")
            for r in doc["movers"]:
                m.add_row(str(r["unit_id"]), escape(str(r["name"] or "")), r["group_from"], r["group_to"],
                          fmt.money(r["revenue"], cur))
            out.print(m)
