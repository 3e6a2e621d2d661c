"""Run pages: the list of runs, a comparison of two, the model editor and a run's job.

``/runs`` lists every run and picks two to compare; ``/runs/compare?a=&b=``
shows the group-to-group transitions of :func:`sikta.service.runs.diff` as a
table and a Sankey, and who moved with why. ``/model`` (analysts) edits or
uploads a model: *Validate* checks it against the workspace's features and
shows errors with their line; *Run* starts a background run through the
API's job queue (:class:`sikta.api.jobs.Jobs`, as ``POST /api/v1/runs``)
and goes to ``/jobs/{id}``, which refreshes itself until
the run is done and then links to it.

Examples
--------
>>> error_line("model.yaml:7: pain parameter 'x': unknown feature 'y'")
7
>>> error_line("no line here") is None
True
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sikta.errors import ModelError, NotFoundError, UsageError
from sikta.service import runs
from sikta.service.model import model_from_text, starter_model_text, validate_against
from sikta.web import charts
from sikta.web.common import (
    GROUPS,
    PageRoute,
    cached,
    check_csrf,
    group_styles,
    reader,
    render,
    signed_in,
    workspace,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: moved accounts listed on the comparison page
MOVED_SHOWN = 500
MAX_MODEL_BYTES = 200_000
MODEL_SOURCE = "model.yaml"
_LINE = re.compile(r"^[^:\n]*:(\d+):")


def error_line(message: str) -> int | None:
    """The line number a model error message points at, if any."""
    m = _LINE.match(message)
    return int(m.group(1)) if m else None


# -- runs and comparisons --------------------------------------------------------------
@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> HTMLResponse:
    """Every stored run, newest first, with a form to compare two."""
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        rows = rr.runs()
        styles = group_styles(rr.model(rows[0]["run_id"]) if rows else None)
    return render(request, "runs.html", runs=rows, styles=styles)


def _pivot(transitions: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], int]]:
    order = [*GROUPS, "(not in run)"]
    cells = {(t["group_a"], t["group_b"]): int(t["accounts"]) for t in transitions}
    left = [g for g in order if any(a == g for a, _ in cells)]
    right = [g for g in order if any(b == g for _, b in cells)]
    return left, right, cells


@router.get("/runs/compare", response_class=HTMLResponse)
def compare(request: Request, a: str = "previous", b: str = "latest") -> HTMLResponse:
    """How two runs differ: transitions, a Sankey, and every account that moved with why."""
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        run_a, run_b = rr.resolve(a or "previous")["run_id"], rr.resolve(b or "latest")["run_id"]
        model = rr.model(run_b)
        listed = rr.runs()

        def build() -> tuple[dict[str, Any], str]:
            doc = runs.diff(ws, run_a, run_b, limit=MOVED_SHOWN)
            return doc, charts.to_data_div(charts.sankey_figure(doc, model), div_id="sankey")

        doc, sankey = cached(request, ("compare", run_a, run_b), build)  # runs never change
    left, right, cells = _pivot(doc["transitions"])
    stayed = sum(n for (ga, gb), n in cells.items() if ga == gb)
    return render(request, "compare.html", doc=doc, left=left, right=right, cells=cells, sankey=sankey,
                  styles=group_styles(model), runs=listed, stayed=stayed, shown=MOVED_SHOWN)


# -- the model editor ------------------------------------------------------------------------
def _check(ws: Any, text: str) -> tuple[Any, str | None, bool]:
    """The model or its first problem, and whether it was checked against the features.

    As ``POST /api/v1/models/validate``: syntax and schema always, the
    feature columns when the model's grain has a stored feature table.
    """
    try:
        model = model_from_text(text, source=MODEL_SOURCE)
        name = f"features_{model.customer.grain}"
        if not ws.store.has(name):
            return model, None, False
        validate_against(model, ws.store.table(name).schema())
    except ModelError as exc:
        return None, str(exc), False
    return model, None, True


def _model_form(request: Request, text: str, *, status: int = 200, error: str | None = None,
                ok: str | None = None, source: str = "") -> HTMLResponse:
    line = error_line(error) if error else None
    lines = text.splitlines()
    snippet = lines[line - 1] if line and 0 < line <= len(lines) else None
    return render(request, "model.html", status=status, text=text, error=error, line=line, snippet=snippet,
                  ok=ok, source=source)


@router.get("/model", response_class=HTMLResponse)
def model_page(request: Request) -> HTMLResponse:
    """The latest run's model (or the starter model) in an editor."""
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws, "analyst")
        if rr.runs():
            meta = rr.meta("latest")
            text, source = meta["model_text"], f"the model of run {meta['run_id']}"
        else:
            text, source = starter_model_text(), "the starter model (no runs yet)"
    return _model_form(request, text, source=source)


@router.post("/model", response_class=HTMLResponse)
async def model_submit(
    request: Request,
    text: str = Form(""),
    csrf: str = Form(""),
    action: str = Form("validate"),
    upload: UploadFile | None = File(None),
) -> Response:
    """Validate the model, or validate and start a run of it."""
    source = "your edit"
    if upload is not None and upload.filename:
        raw = await upload.read(MAX_MODEL_BYTES + 1)
        if len(raw) > MAX_MODEL_BYTES:
            raise UsageError(f"a model file has at most {MAX_MODEL_BYTES:,} bytes")
        try:
            text, source = raw.decode("utf-8"), f"the uploaded file {upload.filename}"
        except UnicodeDecodeError:
            raise UsageError(f"{upload.filename} is not UTF-8 text") from None
    if len(text) > MAX_MODEL_BYTES:
        raise UsageError(f"a model has at most {MAX_MODEL_BYTES:,} characters")
    text = text.replace("\r\n", "\n")
    if action not in ("validate", "run"):
        raise UsageError("the form's action is validate or run")
    return await _submit(request, text, csrf, action, source)


async def _submit(request: Request, text: str, csrf: str, action: str, source: str) -> Response:
    def check() -> tuple[Any, Any, str | None, bool]:
        with workspace(request) as ws:
            user = signed_in(request, ws, "analyst")
            check_csrf(request, user, csrf)
            return (user, *_check(ws, text))

    user, model, error, against = await run_in_threadpool(check)
    if error:
        return _model_form(request, text, status=400, error=error, source=source)
    if action == "validate":
        ok = (f"Valid: model '{model.name}' v{model.version}, {model.customer.grain} grain; potential: "
              f"{', '.join(p.label or p.name for p in model.potential)}; pain: "
              f"{', '.join(p.label or p.name for p in model.pain)}."
              + ("" if against else " (no feature table at this grain yet: checked for syntax only)"))
        return _model_form(request, text, ok=ok, source=source)
    job = request.app.state.jobs.submit(model, submitted_by=user.name or user.token_id)
    return RedirectResponse(f"/jobs/{job['job_id']}", status_code=303)


# -- background runs -----------------------------------------------------------------------------
@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> HTMLResponse:
    """A background run: refreshes every second until it is done, then links to the run."""
    with workspace(request) as ws:
        signed_in(request, ws, "analyst")
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} on this server (jobs are kept until it restarts)")
    return render(request, "job.html", job=job, job_id=job_id)
