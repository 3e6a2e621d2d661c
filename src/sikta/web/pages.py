"""The web UI's pages: one :class:`~fastapi.APIRouter` the API app includes.

Server-rendered (Jinja2, autoescaped) with Plotly charts; plotly.js and the
stylesheet are served from the installed package (no CDN, no build step).

=====================  ========  ===================================================
page                   role      what it shows
=====================  ========  ===================================================
``/signin``            –         a form taking a token; starts a session (``sikta_session`` cookie)
``/``                  viewer    group counts, matrix scatter, Pareto, bridge, Sankey
``/accounts``          viewer    units of a run: sort, filter, page; ``/accounts.csv``
``/groups/{group}``    viewer    the same list for one group
``/accounts/{id}``     viewer    parameters, explanation, features, history, contacts
``/runs``              viewer    every run; pick two to compare
``/runs/compare``      viewer    transitions, Sankey and who moved why
``/schemes``           viewer    each scheme's verdict and segments, the matrix diagnosis
``/model``             analyst   edit or upload a model, validate it, start a run
``/jobs/{id}``         analyst   a background run until it finishes
=====================  ========  ===================================================

Without a live session a page redirects (303) to ``/signin``; a page needing
a higher role answers 403 with a friendly page. Forms that change state
carry the session's CSRF token, and the cookie is ``SameSite=Strict`` and
HttpOnly. Sessions live on the server (:mod:`sikta.web.sessions`): the
cookie is a random id, never the token, and every page has a strict
Content-Security-Policy (charts are drawn by ``/static/sikta-charts.js``
from JSON in the page, with no inline script).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from sikta.errors import DataTooThinError, NotFoundError
from sikta.service import runs, tokens
from sikta.web import charts, report
from sikta.web.common import (
    COOKIE,
    HERE,
    OLD_COOKIE,
    SIGNIN_COOKIE,
    PageRoute,
    cached,
    check_csrf,
    current_user,
    group_styles,
    reader,
    render,
    safe_next,
    sessions,
    signed_in,
    workspace,
)
from sikta.web.pages_accounts import router as accounts_router
from sikta.web.pages_operate import dashboard_kpis
from sikta.web.pages_operate import router as operate_router
from sikta.web.pages_runs import router as runs_router
from sikta.web.pages_schemes import router as schemes_router
from sikta.web.pages_schemes import run_diagnosis

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: above this many units the dashboard's matrix shows a stratified sample
MATRIX_POINTS = 5000


# -- static files ------------------------------------------------------------------
@router.get("/static/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js from the installed plotly package."""
    return Response(charts.plotly_js(), media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/sikta-charts.js")
def charts_js() -> Response:
    """Draws every chart div of a page (the figures travel as JSON: the CSP allows no inline script)."""
    return Response((HERE / "static" / "sikta-charts.js").read_text(encoding="utf-8"),
                    media_type="application/javascript", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/static/sikta.css")
def stylesheet() -> Response:
    """The one stylesheet."""
    return Response((HERE / "static" / "sikta.css").read_text(encoding="utf-8"), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})


# -- signing in and out ---------------------------------------------------------------
def _signin_form(request: Request, status: int = 200, error: str | None = None, next_: str = "/") -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = render(request, "signin.html", status=status, error=error, csrf=nonce, next=safe_next(next_))
    response.set_cookie(SIGNIN_COOKIE, nonce, httponly=True, samesite="strict", path="/signin",
                        secure=request.url.scheme == "https", max_age=3600)
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
    """The sign-in form (or straight on when the session is still good)."""
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _signin_form(request, next_=next)


@router.post("/signin")
def signin(
    request: Request, token: str = Form(""), csrf: str = Form(""), next: str = Form("/"),  # noqa: A002
) -> Response:
    """Check the token; on success start a session (HttpOnly, SameSite=Strict cookie) and go on."""
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected or not secrets.compare_digest(expected, csrf):
        return _signin_form(request, 403, "The sign-in form expired: please try again.", next)
    token = token.strip()
    with workspace(request) as ws:
        record = tokens.verify_token(ws, token)
    if record is None:
        return _signin_form(request, 401, "That token is not valid (unknown or revoked).", next)
    store = sessions(request)
    store.end(request.cookies.get(COOKIE))  # a new session id at every sign-in (no fixation)
    sid, _ = store.create(str(record["token_id"]), record.get("name"), str(record["role"]))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/", max_age=int(store.lifetime),
                        secure=request.url.scheme == "https")
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    response.delete_cookie(OLD_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request, csrf: str = Form("")) -> Response:
    """End the session and go back to the sign-in page."""
    user = signed_in(request)
    check_csrf(request, user, csrf)
    sessions(request).end(request.cookies.get(COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- dashboard ---------------------------------------------------------------------------
def _chart(name: str, build: Any) -> dict[str, str]:
    """A chart's div, or why there is none (thin data is a message, not an error page)."""
    try:
        return {"div": charts.to_data_div(build(), div_id=name)}
    except (DataTooThinError, NotFoundError) as exc:
        return {"message": str(exc)}


def _analysis_charts(request: Request, ws: Any, grain: str) -> dict[str, dict[str, str]]:
    """Pareto and bridge for ``grain`` (cached: only an ingest changes them)."""
    from sikta.api import deps

    st = deps.state(request)

    def work(w: Any) -> dict[str, dict[str, str]]:
        analysis = w.analyze(grain=grain)
        out = {"pareto": _chart("pareto", lambda: charts.pareto_figure(analysis.pareto())),
               "bridge": _chart("bridge", lambda: charts.bridge_figure(analysis.flow()))}
        if not w.store.read_only:
            st.reader.refresh(prepare=True)  # the analysis rebuilt a feature table: index its documents
        return out

    def build() -> dict[str, dict[str, str]]:
        # read-only first; a feature build makes it a write (the server takes the file briefly)
        return st.read_or_write(work)

    return cached(request, ("analysis-charts", grain), build)


def _run_charts(request: Request, ws: Any, model: Any, run_id: str, previous: str | None) -> dict[str, dict[str, str]]:
    """The matrix of a run and the Sankey from the run before (cached: runs never change)."""

    def matrix() -> dict[str, str]:
        rows, total = report.matrix_rows(ws, run_id, max_points=MATRIX_POINTS)
        return _chart("matrix", lambda: charts.matrix_figure(rows, model, MATRIX_POINTS, total=total))

    out = {"matrix": cached(request, ("matrix", run_id), matrix)}
    if previous is not None:
        out["sankey"] = cached(request, ("sankey", previous, run_id), lambda: _chart(
            "sankey", lambda: charts.sankey_figure(runs.diff(ws, previous, run_id, limit=0), model)))
    return out


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    """The latest run at a glance, over live workspace data."""
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        listed = rr.runs()
        if not listed:
            return render(request, "dashboard.html", meta=None, charts={})
        meta = rr.meta(listed[0]["run_id"])
        model = rr.model(meta["run_id"])
        kpis = rr.groups(meta["run_id"])
        previous = listed[1]["run_id"] if len(listed) > 1 else None
        out = _run_charts(request, ws, model, meta["run_id"], previous)
        out.update(_analysis_charts(request, ws, meta["grain"]))
        diagnosis = run_diagnosis(request, ws, meta)  # scheme verdicts and the matrix notice
    judged = dashboard_kpis(request, meta["run_id"])  # the KPI each group is judged by (pages_operate)
    return render(request, "dashboard.html", meta=meta, kpis=kpis, charts=out, styles=group_styles(model),
                  previous=previous, diagnosis=diagnosis, judged=judged)


router.include_router(accounts_router)
router.include_router(runs_router)
router.include_router(schemes_router)
router.include_router(operate_router)

__all__ = ["router"]
