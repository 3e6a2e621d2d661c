"""The team's daily pages: KPIs, coverage, alerts and actions, and the what-if preview of the model editor.

=====================  ========  ===================================================
page                   role      what it shows
=====================  ========  ===================================================
``/kpis``              viewer    KPIs per group (the judged KPI first) and per segment
``/coverage``          viewer    headcount per engagement model and the touch mix; a team
                                 CSV posted to it adds the gap (nothing is stored)
``/alerts``            viewer    units that changed group or segment between two runs,
                                 filtered; ``/alerts.csv`` downloads them
``/actions``           viewer    the playbooks' actions, per owner; ``/actions.csv``
``/model/preview``     analyst   what-if of the edited model against the latest run
=====================  ========  ===================================================

Money carries the workspace currency, rates are %; every unit id links to its
account page, and table rows with an account open it when clicked.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from sikta.engine.csvsafe import write_frame_csv
from sikta.errors import InputError, UsageError
from sikta.service.alerts import CHANGES, TIERS
from sikta.service.alerts import alerts as list_alerts
from sikta.service.operate import read_team
from sikta.service.segment_kpis import segment_kpis
from sikta.web import report_operate
from sikta.web.common import (
    HERE,
    PageRoute,
    cached,
    check_csrf,
    group_styles,
    page_currency,
    reader,
    render,
    signed_in,
    workspace,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: rows of a list shown on a page (the CSV has them all)
SHOWN = 500
#: alerts per page
ALERTS_PAGE = 100
MAX_TEAM_BYTES = 2_000_000


@router.get("/static/sikta-ui.js")
def ui_js() -> Response:
    """Clickable table rows and chart points (a file: the CSP allows no inline script)."""
    return Response((HERE / "static" / "sikta-ui.js").read_text(encoding="utf-8"),
                    media_type="application/javascript", headers={"Cache-Control": "public, max-age=3600"})


def _state(request: Request) -> Any:
    from sikta.api import deps

    return deps.state(request)


def _build(request: Request, key: tuple, work: Any) -> Any:
    """``work(ws)`` once per app and key (runs are immutable); read-only first, a feature build makes it a write."""
    return cached(request, key, lambda: _state(request).read_or_write(work))


def _run_choice(rr: Any, run: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    listed = rr.runs()
    if not listed:
        from sikta.errors import NotFoundError

        raise NotFoundError("the workspace has no runs yet: start one from the Model page or 'sikta run'")
    return rr.meta(run or "latest"), listed


# -- KPIs ------------------------------------------------------------------------------------
def dashboard_kpis(request: Request, run_id: str) -> dict[str, Any]:
    """For the dashboard: each group's judged KPI as text, and the whole base's churn and retention."""
    try:
        doc = _build(request, ("kpis", run_id), lambda w: segment_kpis(w, run_id))
    except (UsageError, InputError) as exc:
        return {"judged": {}, "all": None, "note": str(exc)}
    cur = page_currency(request)
    judged = {r["segment"]: report_operate.judged_text(r.get("judged_by"), r.get("judged_value"), cur)
              for r in doc["by"]["group"]}
    every = next((r for r in doc["by"]["group"] if r["segment"] == "(all)"), None)
    return {"judged": judged, "all": every, "period": doc["period"], "note": None}


@router.get("/kpis", response_class=HTMLResponse)
def kpis_page(request: Request, run: str | None = None) -> HTMLResponse:
    """KPIs per group and segment of a run."""
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        meta, listed = _run_choice(rr, run)
        styles = group_styles(rr.model(meta["run_id"]))
    doc = _build(request, ("kpis", meta["run_id"]), lambda w: segment_kpis(w, meta["run_id"]))
    cur = page_currency(request)
    judged = {r["segment"]: report_operate.judged_text(r.get("judged_by"), r.get("judged_value"), cur)
              for r in doc["by"]["group"]}
    return render(request, "kpis.html", doc=doc, meta=meta, runs=listed, styles=styles, judged=judged)


# -- coverage ----------------------------------------------------------------------------------
def _coverage(request: Request, run: str | None, team: pd.DataFrame | None, team_name: str | None,
              error: str | None = None, status: int = 200) -> HTMLResponse:
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        meta, listed = _run_choice(rr, run)
    if team is None:
        doc = _build(request, ("coverage", meta["run_id"]), lambda w: w.operate.coverage(meta["run_id"]))
    else:
        doc = _state(request).read_or_write(lambda w: w.operate.coverage(meta["run_id"], team, team_name=team_name))
    models = doc["models"]
    for m in models:
        m["fte"] = max(m.get("fte_accounts") or 0.0, m.get("fte_workload") or 0.0)
    return render(request, "coverage.html", status=status, doc=doc, meta=meta, runs=listed, error=error)


@router.get("/coverage", response_class=HTMLResponse)
def coverage_page(request: Request, run: str | None = None) -> HTMLResponse:
    """Headcount each engagement model needs and the touch mix."""
    return _coverage(request, run, None, None)


@router.post("/coverage", response_class=HTMLResponse)
async def coverage_with_team(request: Request, csrf: str = Form(""), run: str = Form(""),
                             team: UploadFile | None = File(None)) -> HTMLResponse:
    """The same, against a team file (owner_id, role, capacity_accounts[, capacity_workload]); nothing is stored."""
    def check() -> None:
        with workspace(request) as ws:
            user = signed_in(request, ws)
            check_csrf(request, user, csrf)

    await run_in_threadpool(check)
    if team is None or not team.filename:
        return await run_in_threadpool(_coverage, request, run or None, None, None, "Choose a team CSV file first.", 400)
    raw = await team.read(MAX_TEAM_BYTES + 1)
    if len(raw) > MAX_TEAM_BYTES:
        raise UsageError(f"a team file has at most {MAX_TEAM_BYTES:,} bytes")
    try:
        frame = read_team(io.StringIO(raw.decode("utf-8-sig")), team.filename)
    except (UnicodeDecodeError, InputError) as exc:
        message = f"{team.filename} is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        return await run_in_threadpool(_coverage, request, run or None, None, None, message, 400)
    try:
        return await run_in_threadpool(_coverage, request, run or None, frame, team.filename)
    except InputError as exc:
        return await run_in_threadpool(_coverage, request, run or None, None, None, str(exc), 400)


# -- alerts ------------------------------------------------------------------------------------
def _alerts(request: Request, run_from: str | None, run_to: str | None, change: str | None, tier: str | None,
            dimension: str | None) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    if change and change not in CHANGES:
        raise UsageError(f"change {change!r} is not one of {', '.join(CHANGES)}")
    if tier and tier not in TIERS:
        raise UsageError(f"tier {tier!r} is not one of {', '.join(TIERS)}")
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        meta, listed = _run_choice(rr, run_to)
        styles = group_styles(rr.model(meta["run_id"]))

    def work(w: Any) -> dict[str, Any]:
        return list_alerts(w, run_from or None, meta["run_id"], change=[change] if change else None,
                           tier=[tier] if tier else None, dimension=dimension or None)

    doc = _state(request).read_or_write(work)
    return doc, meta, listed, styles


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, run_from: str | None = None, run_to: str | None = None, change: str | None = None,
                tier: str | None = None, dimension: str | None = None, page: int = 1) -> HTMLResponse:
    """Who moved between two runs, filtered (e.g. downgrades of A-tier accounts), a page at a time."""
    doc, meta, listed, styles = _alerts(request, run_from, run_to, change, tier, dimension)
    frame = doc["alerts"]
    pages = max(1, -(-len(frame) // ALERTS_PAGE))
    page = min(max(1, page), pages)
    part = frame.iloc[(page - 1) * ALERTS_PAGE: page * ALERTS_PAGE]
    rows = part.astype(object).where(part.notna(), None).to_dict("records")
    cur = page_currency(request)
    return render(request, "alerts.html", doc=doc, rows=rows, meta=meta, runs=listed, styles=styles, currency=cur,
                  f={"run_from": doc["run_from"], "run_to": doc["run_to"], "change": change or "", "tier": tier or "",
                     "dimension": dimension or ""}, changes=CHANGES, tiers=TIERS, page=page, pages=pages)


@router.get("/alerts.csv")
def alerts_csv(request: Request, run_from: str | None = None, run_to: str | None = None, change: str | None = None,
               tier: str | None = None, dimension: str | None = None) -> Response:
    """Every alert matching the filters, as CSV."""
    doc, *_ = _alerts(request, run_from, run_to, change, tier, dimension)
    return _csv(doc["alerts"], f"sikta-alerts-{doc['run_from']}-{doc['run_to']}.csv")


def _csv(frame: pd.DataFrame, name: str) -> Response:
    buf = io.StringIO()
    write_frame_csv(frame, buf)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# -- actions -------------------------------------------------------------------------------------
def _actions(request: Request, run: str | None) -> tuple[dict[str, Any], dict[str, Any], list, dict]:
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        meta, listed = _run_choice(rr, run)
        styles = group_styles(rr.model(meta["run_id"]))
    doc = _build(request, ("actions", meta["run_id"]), lambda w: w.operate.actions(meta["run_id"]))
    return doc, meta, listed, styles


@router.get("/actions", response_class=HTMLResponse)
def actions_page(request: Request, run: str | None = None, owner: str | None = None) -> HTMLResponse:
    """The playbooks' actions, one list per owner."""
    doc, meta, listed, styles = _actions(request, run)
    acts = doc["actions"]
    if owner:
        acts = acts[acts["owner"].fillna("(no owner)") == owner]
    by_owner: list[tuple[str, list[dict[str, Any]], int]] = []
    for name, part in acts.assign(owner=acts["owner"].fillna("(no owner)")).groupby("owner", sort=False):
        part = part.sort_values(["due_date", "unit_id"])
        by_owner.append((str(name), part.head(SHOWN).astype(object).where(part.head(SHOWN).notna(), None)
                         .to_dict("records"), len(part)))
    by_owner.sort(key=lambda t: (-t[2], t[0]))
    return render(request, "actions.html", doc=doc, meta=meta, runs=listed, styles=styles, by_owner=by_owner,
                  owner=owner or "", total=len(acts), shown=SHOWN)


@router.get("/actions.csv")
def actions_csv(request: Request, run: str | None = None, owner: str | None = None) -> Response:
    """Every action (or one owner's), as CSV."""
    doc, meta, *_ = _actions(request, run)
    acts = doc["actions"]
    if owner:
        acts = acts[acts["owner"].fillna("(no owner)") == owner]
    return _csv(acts, f"sikta-actions-{meta['run_id']}.csv")


# -- what-if in the model editor ---------------------------------------------------------------
@router.post("/model/preview", response_class=HTMLResponse)
def model_preview(request: Request, text: str = Form(""), csrf: str = Form(""), fragment: str = Form("")) -> Response:
    """The edited model against the latest run: group sizes, revenue and who would move; nothing is stored.

    The editor's script posts here as you type and shows the fragment; without
    script the *Preview* button shows the whole page.
    """
    from sikta.service.whatif import preview
    from sikta.web.pages_runs import MAX_MODEL_BYTES, _check, _model_form

    if len(text) > MAX_MODEL_BYTES:
        raise UsageError(f"a model has at most {MAX_MODEL_BYTES:,} characters")
    text = text.replace("\r\n", "\n")
    with workspace(request) as ws, reader(request) as rr:
        user = signed_in(request, ws, "analyst")
        check_csrf(request, user, csrf)
        model, error, _ = _check(ws, text)
        styles = group_styles(model) if model is not None else group_styles(None)
    doc = None if error else _state(request).read_or_write(lambda w: preview(w, model))
    cur = page_currency(request)
    if fragment:
        return render(request, "_preview.html", preview=doc, preview_error=error, styles=styles, currency=cur)
    if error:
        return _model_form(request, text, status=400, error=error, source="your edit")
    return render(request, "model.html", text=text, error=None, line=None, snippet=None, ok=None,
                  source="your edit", preview=doc, preview_error=None, styles=styles, currency=cur)
