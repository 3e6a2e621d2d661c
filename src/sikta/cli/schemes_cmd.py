"""``sikta scheme`` and ``sikta diagnose``: segmentation schemes and whether a segmentation is any good."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sikta.cli.app import JsonOpt, WorkspaceOpt, _json, _open, _progress, app, out
from sikta.cli.errors import handles_errors

_COLOUR = {"usable": "green", "usable with caveats": "yellow", "not usable": "red"}


def verdict_text(verdict: str) -> str:
    """The verdict in its colour (green, yellow, red)."""
    return f"[{_COLOUR.get(verdict, 'white')}]{verdict}[/]"


def _pct(x: Any) -> str:
    return "–" if x is None else f"{round(100 * float(x)) or 0:.0f} %"  # no "-0 %" for a slightly negative share


def _segments_table(doc: dict, unit: str) -> Table:
    t = Table(title=f"{doc['scheme']}: segments", title_justify="left")
    for c, j in (("segment", "left"), (unit, "right"), ("share", "right"), ("revenue share", "right"),
                 ("profile", "left")):
        t.add_column(c, justify=j, overflow="fold")  # type: ignore[arg-type]
    for p in doc.get("profiles", []):
        small = "" if p.get("actionable", True) or not p.get("placed", True) else " [dim](small)[/]"
        t.add_row(escape(str(p["segment"])) + small, f"{int(p['n_units']):,}", _pct(p.get("share")),
                  _pct(p.get("revenue_share")), escape(str(p.get("description", ""))))
    return t


def render_scheme(doc: dict, *, detail: bool = False) -> None:
    """One scheme: verdict line, segments with profiles, notes (the firmographic note among them)."""
    from sikta.service.schemes import unit_word

    unit = unit_word(doc.get("grain", ""))
    reasons = doc.get("reasons", [])
    scope = {"all": f"all {unit} in scope", "customers": f"customer {unit}", "buyers": f"{unit} with orders"}
    # a scheme that could not be computed placed no unit: "accounts with orders: 0" read as a count of the data
    count = f": {doc['units']:,}" if doc.get("units") else ""
    out.print(f"[bold]{doc['scheme']}[/] ({doc['type']}, {scope.get(doc['scope'], doc['scope'])}{count}): "
              f"{verdict_text(doc['verdict'])}")
    for r in reasons:
        out.print(f"  - {escape(r)}")
    if doc.get("profiles"):
        out.print(_segments_table(doc, unit))
    details = doc.get("details", {})
    if "k" in details:
        stab = doc.get("stability")
        kept = f"; {_pct(stab)} of {unit} keep their segment when resampled" if stab is not None else ""
        out.print(f"[dim]{details['k']} clusters, chosen by bootstrap stability{kept}[/]")
    for note in doc.get("notes", []):
        out.print(f"note: {escape(note)}")
    if detail:
        _render_detail(doc, unit)


def _render_detail(doc: dict, unit: str) -> None:
    dist = doc.get("distinctiveness", [])[:6]
    if dist:
        t = Table(title="Distinctiveness (eta²: 0.01 small, 0.06 medium; Cramér's V: 0.1 small, 0.3 medium)",
                  title_justify="left")
        for c in ("variable", "measure", "effect", "largest |d|", "between"):
            t.add_column(c)
        for r in dist:
            d = r.get("max_abs_d")
            t.add_row(r["variable"], r["measure"], f"{r['effect']:.3f}", "" if d is None else f"{d:.2f}",
                      escape(str(r.get("pair") or "")))
        out.print(t)
    cov = [c for c in doc.get("coverage", []) if c.get("n_missing")]
    if cov:
        out.print("coverage: " + "; ".join(f"{c['input']} missing for {c['n_missing']:,} {unit} "
                                           f"({_pct(c['share_missing'])})" for c in cov))
    if doc.get("stability") is not None:
        out.print(f"stability: {_pct(doc['stability'])} of {unit} keep their segment under bootstrap resampling "
                  f"(mean ARI {doc['stability_ari']:.2f})")
    for note in doc.get("diagnosis_notes", []):
        out.print(f"[dim]{escape(note)}[/]")


def render_matrix(doc: dict, unit: str) -> None:
    """The matrix: verdict with reasons, why each axis is what it is, the groups."""
    out.print(f"[bold]matrix[/]: {verdict_text(doc['verdict'])}")
    for r in doc.get("reasons", []):
        out.print(f"  - {escape(r)}")
    for axis, a in doc.get("axes", {}).items():
        out.print(f"  {escape(a.get('why', axis))}")
    t = Table(title="Groups", title_justify="left")
    for c in ("group", unit, "share", "revenue share"):
        t.add_column(c, justify="left" if c == "group" else "right")
    for g in doc.get("groups", []):
        t.add_row(g["group"], f"{g['units']:,}", _pct(g["share"]), _pct(g.get("revenue_share")))
    out.print(t)


def render_schemes_line(schemes: dict[str, dict]) -> None:
    """One line per scheme: name, verdict, first reason (what ``run`` and ``model check`` print)."""
    for name, d in schemes.items():
        why = f" - {escape('; '.join(d['reasons'][:2]))}" if d.get("reasons") else ""
        out.print(f"  scheme [bold]{escape(name)}[/]: {verdict_text(d['verdict'])}{why}")


@app.command()
@handles_errors
def scheme(
    name: Annotated[str, typer.Argument(help="The scheme: a name under schemes: in the model, or a type with defaults "
                                        "(firmographic, needs, behavioral, value).")],
    model_file: Annotated[Path | None, typer.Option("--model", help="Model file declaring the scheme "
                                                    "[default: the latest run's model, else the starter model].")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Use data up to this date.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write NAME.parquet, NAME.csv (unit_id, segment, the "
                                                 "numbers) and NAME.json here.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute one segmentation scheme: a segment per unit, profiles in plain words, a verdict with reasons."""
    with _open(workspace) as ws:
        with _progress() as bar:
            bar.add_task(f"computing scheme {name}", total=None)
            result = ws.schemes(name, model=model_file, as_of=as_of)
    written = result.write(out_dir) if out_dir else []
    doc = result.to_dict()
    if as_json:
        _json(doc | {"files": [str(p) for p in written]})
        return
    render_scheme(doc)
    if written:
        out.print(f"wrote {', '.join(str(p) for p in written)}")


@app.command()
@handles_errors
def diagnose(
    scheme_name: Annotated[str | None, typer.Option("--scheme", help="Only this scheme of the run.")] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="Only the pain × potential matrix.")] = False,
    run_id: Annotated[str | None, typer.Option("--run", help="Run id, its suffix, or 'previous' [default: latest].")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Is the segmentation any good? Sizes, revenue shares, distinctiveness, stability, coverage and a verdict."""
    from sikta.service.diagnose import diagnose_run, pick
    from sikta.service.schemes import unit_word

    with _open(workspace) as ws:
        doc = diagnose_run(ws, run_id)
    part = pick(doc["schemes"], doc["matrix"], scheme=scheme_name, only_matrix=matrix)
    head = {k: doc[k] for k in ("run_id", "model", "grain", "as_of")}
    if as_json:
        _json(head | part | ({"note": doc["note"]} if "note" in doc else {}))
        return
    unit = unit_word(doc["grain"])
    out.print(f"run {doc['run_id']}: model {doc['model']!r}, {doc['grain']} grain, as of {doc['as_of']}")
    if "note" in doc:
        out.print(f"[yellow]note[/] {doc['note']}")
    if scheme_name is not None:
        render_scheme(part, detail=True)
        return
    if not matrix:
        if not doc["schemes"]:
            out.print("no schemes in this run: declare them under schemes: in the model file (sikta model init "
                      "writes a starter that does)")
        for d in doc["schemes"].values():
            render_scheme(d)
            out.print()
    render_matrix(doc["matrix"], unit)
