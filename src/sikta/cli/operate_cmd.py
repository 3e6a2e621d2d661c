"""``sikta coverage | balance | actions | content``: the operating layer on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sikta.cli.app import JsonOpt, WorkspaceOpt, _json, _open, _progress, app, missing, out
from sikta.cli.errors import handles_errors

if TYPE_CHECKING:
    import pandas as pd

RunOpt = Annotated[str | None, typer.Option("--run", help="A run id (or unique suffix), latest or previous [default: latest].")]
TeamOpt = Annotated[Path | None, typer.Option("--team", help="Team CSV: owner_id, role, capacity_accounts[, capacity_workload].")]


def _num(x: Any, digits: int = 0) -> str:
    if missing(x):
        return "–"
    return f"{x:,.{digits}f}"


def _pct(x: Any) -> str:
    return "–" if missing(x) else f"{round(100 * x, 1) or 0.0:.1f} %"  # no "-0.0 %"


def _read_team(path: Path) -> pd.DataFrame:
    from sikta.service.operate import read_team

    return read_team(path)


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    from sikta.service.operate_io import write_table

    write_table(frame, path)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@app.command()
@handles_errors
def coverage(
    team: TeamOpt = None,
    run: RunOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Headcount each engagement model needs, against the team, the gap, and the high/tech-touch mix."""
    with _open(workspace) as ws:
        frame = _read_team(team) if team else None
        doc = ws.operate.coverage(run, frame, team_name=str(team) if team else "team")
    if as_json:
        _json(doc)
        return
    rules = "the model's coverage: block" if doc["rules"] == "model" else "default rules (the model has no coverage: block)"
    out.print(f"[bold]Coverage[/] of run {doc['run_id']} ({doc['grain']} grain, as of {doc['as_of']}), "
              f"{doc['units']:,} units by {rules}")
    t = Table(title_justify="left")
    cols = ["engagement", "touch", "accounts", "revenue", "workload", "per owner", "FTE", "headcount", "binding"]
    if doc["gap"] is not None:
        cols += ["team", "team capacity", "gap"]
    for c in cols:
        t.add_column(c, justify="left" if c in ("engagement", "touch", "binding") else "right")
    for m in doc["models"]:
        per = "–" if m["accounts_per_owner"] is None else (
            f"{m['accounts_per_owner']:,.0f} acc" + (f" / {m['workload_per_owner']:,.0f} wl" if m["workload_per_owner"] else ""))
        fte = max(m["fte_accounts"] or 0, m["fte_workload"] or 0)
        row = [m["engagement"], m["touch"], f"{m['accounts']:,}", _num(m["revenue"]), _num(m["workload"], 1), per,
               _num(fte, 2), str(m["headcount"]), m["binding"] or "–"]
        if doc["gap"] is not None:
            gap = m["gap"]
            # what the team's owners say they can carry, beside what the model's norms need
            cap = "–" if m.get("team_capacity_accounts") is None or m["touch"] == "tech" else (
                f"{m['team_capacity_accounts']:,.0f} acc" + (f" / {m['team_capacity_workload']:,.0f} wl"
                                                              if m.get("team_capacity_workload") else ""))
            row += [str(m["team_headcount"]), cap, f"[red]+{gap} to hire[/]" if gap > 0 else
                    (f"[yellow]{gap} spare[/]" if gap < 0 else "0")]
        t.add_row(*row)
    out.print(t)
    mix = " · ".join(f"{r['touch']} touch {r['accounts']:,} accounts ({_pct(r['share_accounts'])}), "
                     f"revenue {_pct(r['share_revenue'])}" for r in doc["mix"])
    out.print(f"mix: {mix}")
    line = f"headcount needed: {doc['headcount']}"
    if doc["gap"] is not None:
        line += f"; gap against {escape(str(doc['team']))}: {doc['gap']:+d}"
    out.print(line)
    for role, n in doc["unmatched_roles"].items():
        out.print(f"[yellow]note[/] {n} owner(s) with role {role!r} serve no engagement model")
    for note in doc.get("notes", []):
        out.print(f"note: {escape(note)}")


@app.command()
@handles_errors
def balance(
    team: Annotated[Path, typer.Option("--team", help="Team CSV: owner_id, role, capacity_accounts[, capacity_workload].")],
    keep_owners: Annotated[float, typer.Option("--keep-owners", help="Share of accounts that stay with their current owner.", min=0.0, max=1.0)] = 0.8,
    tolerance: Annotated[float, typer.Option(help="Allowed deviation of each owner's revenue and workload from target.", min=0.01, max=0.99)] = 0.1,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the assignment (CSV or .parquet).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do not store the assignment in the workspace.")] = False,
    run: RunOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign accounts to owners of the right role with balanced revenue and workload, keeping owners where possible."""
    with _open(workspace, write=not dry_run) as ws:
        frame = _read_team(team)
        with _progress() as bar:
            bar.add_task("balancing books", total=None)
            doc = ws.operate.balance(frame, run, keep_owners=keep_owners, tolerance=tolerance, store=not dry_run,
                                     team_name=str(team))
    if out_file:
        _write_table(doc["assignments"], out_file)
    s = doc["summary"]
    if as_json:
        _json({**{k: v for k, v in doc.items() if k not in ("assignments", "owners")},
               "owners": _records(doc["owners"]), "out": str(out_file) if out_file else None})
        return
    out.print(f"[bold]Books[/] of run {doc['run_id']}: {s.get('accounts', 0):,} accounts need an owner "
              f"({doc['tech_touch']:,} tech touch need none)")
    t = Table(title_justify="left")
    for c in ("owner", "role", "accounts", "capacity", "revenue", "vs target", "workload", "vs target", "kept", "gained", "lost"):
        t.add_column(c, justify="left" if c in ("owner", "role") else "right")
    for r in doc["owners"].to_dict("records"):
        t.add_row(str(r["owner_id"]), str(r["role"]), f"{r['accounts']:,}", _num(r["capacity_accounts"]),
                  _num(r["revenue"]), _signed(r["revenue_deviation"]), _num(r["workload"], 1),
                  _signed(r["workload_deviation"]), str(r["kept"]), str(r["gained"]), str(r["lost"]))
    out.print(t)
    out.print(f"kept {s.get('kept', 0):,}, moved {s.get('moved', 0):,}, unassigned {s.get('unassigned', 0):,}")
    for reason, n in (s.get("moved_by_reason") or {}).items():
        out.print(f"  moved: {n:,} × {reason}")
    for reason, n in (s.get("unassigned_by_reason") or {}).items():
        out.print(f"  [yellow]unassigned[/]: {n:,} × {reason}")
    for p in s.get("problems") or []:
        out.print(f"[yellow]not met[/] {escape(p)}")
    if out_file:
        out.print(f"wrote {out_file}")
    out.print("stored as the run's assignment" if doc["stored"] else "[dim]--dry-run: nothing stored[/]")


def _signed(x: Any) -> str:
    return "–" if missing(x) else f"{100 * x:+.1f} %"


@app.command()
@handles_errors
def actions(
    owner: Annotated[str | None, typer.Option(help="Only this owner's actions.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write every action (CSV or .parquet).")] = None,
    limit: Annotated[int, typer.Option(help="Actions shown (0 = all).", min=0)] = 20,
    run: RunOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The actions the model's playbooks produce: owner, channel, due date and content per unit."""
    with _open(workspace) as ws:
        doc = ws.operate.actions(run, owner=owner)
    acts = doc["actions"]
    if out_file:
        _write_table(acts, out_file)
    if as_json:
        _json({**{k: v for k, v in doc.items() if k != "actions"}, "total": len(acts),
               "actions": _records(acts if not limit else acts.head(limit)) if not out_file else _records(acts.head(limit)),
               "out": str(out_file) if out_file else None})
        return
    out.print(f"[bold]Actions[/] of run {doc['run_id']} (as of {doc['as_of']}): {len(acts):,} from {doc['rules']} rule(s)")
    if doc["per_owner"]:
        out.print("per owner: " + ", ".join(f"{k} {v:,}" for k, v in list(doc["per_owner"].items())[:12]))
    t = Table(title_justify="left")
    for c in ("unit", "name", "group", "action", "owner", "channel", "due", "content", "why"):
        t.add_column(c, overflow="fold")
    shown = acts if not limit else acts.head(limit)
    for r in shown.to_dict("records"):
        t.add_row(*[escape("" if missing(r.get(k)) else str(r[k]))
                    for k in ("unit_id", "name", "group", "action", "owner", "channel", "due_date", "content", "reason")])
    if len(shown):
        out.print(t)
    if limit and len(acts) > limit:
        out.print(f"[dim]showing {limit} of {len(acts):,}; --limit 0 shows all, --out FILE writes them[/]")
    for n in doc["notes"]:
        out.print(f"[yellow]note[/] {escape(n)}")
    if out_file:
        out.print(f"wrote {out_file}")


@app.command()
@handles_errors
def content(
    account: Annotated[str | None, typer.Option("--account", help="One account: every item, fitting or withheld, and why.")] = None,
    catalog: Annotated[Path | None, typer.Option("--catalog", help="A catalog file (CSV or YAML) instead of the model's content: block.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the matches (CSV or .parquet).")] = None,
    limit: Annotated[int | None, typer.Option(help="Items per unit [default: the model's content.limit, 3].", min=1)] = None,
    run: RunOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Content from the catalog that fits each unit's context (group, segment, size, lifecycle, needs), with the reason."""
    from sikta.service.operate_spec import ContentSpec, load_catalog

    frame = load_catalog(ContentSpec(catalog=str(catalog))) if catalog else None
    with _open(workspace) as ws:
        doc = ws.operate.content(run, account=account, catalog=frame, limit=limit)
    m = doc["matches"]
    if out_file:
        _write_table(m, out_file)
    if as_json:
        ctx = doc["context"]
        _json({**{k: v for k, v in doc.items() if k not in ("matches", "context")}, "matches": _records(m.head(1000)),
               "total": len(m), "context": _records(ctx) if account else None,
               "out": str(out_file) if out_file else None})
        return
    if account:
        c = doc["context"].iloc[0].to_dict() if len(doc["context"]) else {}
        needs = ", ".join(c.get("needs") or []) or "none"
        out.print(f"[bold]Content for {escape(account)}[/] (unit {doc['unit_id']}): group {c.get('group')}, "
                  f"segment {c.get('segment') or '–'}, size {c.get('size_band') or '–'}, "
                  f"lifecycle {c.get('lifecycle_stage') or '–'}, needs {needs}, channel {c.get('channel_preference') or '–'}")
    else:
        out.print(f"[bold]Content[/] of run {doc['run_id']}: {len(m):,} item matches for {doc['units']:,} units "
                  f"from {doc['items']} catalog items")
    t = Table(title_justify="left")
    for c in ("unit", "item", "title", "rank", "fits", "reason"):
        t.add_column(c, overflow="fold")
    for r in m.head(40 if not account else len(m)).to_dict("records"):
        t.add_row(str(r["unit_id"]), escape(str(r["item_id"])), escape(str(r["title"] or "")),
                  "" if missing(r["rank"]) else str(int(r["rank"])), "yes" if r["fits"] else "[dim]no[/]", escape(str(r["reason"])))
    out.print(t)
    if out_file:
        out.print(f"wrote {out_file}")
