"""Analyst endpoints (check a model, start a run, follow the job) and admin endpoints
(tokens, exports, webhooks).

A model travels as its YAML text in the request body (``Content-Type:
application/yaml`` or ``text/plain``), exactly as it is kept under version
control; the run stores that text and its hash.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse

from sikta.api import schemas as s
from sikta.api.deps import require, workspace, writing
from sikta.api.errors import responses
from sikta.errors import ModelError, NotFoundError
from sikta.service import exports, tokens, webhooks
from sikta.service.model import Model, model_from_text, validate_against
from sikta.service.workspace import Workspace

router = APIRouter(prefix="/api/v1")
Analyst = Annotated[dict, Depends(require("analyst"))]
Admin = Annotated[dict, Depends(require("admin"))]
SOURCE = "model.yaml"
ModelText = Annotated[str, Body(media_type="application/yaml", max_length=200_000,
                                description="the model file's YAML text (see 'sikta model init')")]
IdPath = Annotated[str, Path(max_length=100)]


def _checked(ws: Workspace, text: str) -> tuple[Model, bool]:
    """Parse a model and, when its grain's feature table exists, check it against the columns."""
    model = model_from_text(text, source=SOURCE)
    table = f"features_{model.customer.grain}"
    if ws.store.has(table):
        validate_against(model, ws.store.table(table).schema())
        return model, True
    return model, False


def _problem(exc: ModelError) -> dict[str, Any]:
    m = re.match(rf"^{re.escape(SOURCE)}:(\d+): (.*)$", str(exc), flags=re.S)
    return {"line": int(m.group(1)), "message": m.group(2)} if m else {"line": None, "message": str(exc)}


# -- analyst -------------------------------------------------------------------
@router.post("/models/validate", response_model=s.ModelCheck, tags=["models"], responses=responses(401, 403, 422))
def validate_model(request: Request, text: ModelText, _: Analyst) -> dict[str, Any]:
    """Check a model file without running it; problems come with their line."""
    with workspace(request) as ws:
        try:
            model, against = _checked(ws, text)
        except ModelError as exc:
            return {"ok": False, "errors": [_problem(exc)]}
    return {"ok": True, "name": model.name, "version": str(model.version), "sha256": model.sha256,
            "grain": model.customer.grain, "potential": [p.label for p in model.potential],
            "pain": [p.label for p in model.pain], "checked_against_features": against}


@router.post("/runs", response_model=s.JobOut, status_code=202, tags=["runs"], responses=responses(401, 403, 422))
def start_run(
    request: Request, response: Response, text: ModelText, token: Analyst,
    as_of: Annotated[date | None, Query(ge=s.FIRST_DATE, le=s.LAST_DATE,
                                        description="score data up to this date (default: the latest revenue date)")] = None,
) -> dict[str, Any]:
    """Check the model, then score it in the background; poll the returned job."""
    with workspace(request) as ws:
        model, _ = _checked(ws, text)  # a bad model is a 422 now, not a failed job later
    job = request.app.state.jobs.submit(model, as_of=as_of, submitted_by=token["name"] or token["token_id"])
    response.headers["Location"] = f"/api/v1/jobs/{job['job_id']}"
    return job


@router.get("/jobs", response_model=s.JobList, tags=["runs"], responses=responses(401, 403))
def list_jobs(request: Request, _: Analyst) -> dict[str, Any]:
    """This server's jobs, newest first."""
    return {"jobs": request.app.state.jobs.list()}


@router.get("/jobs/{job_id}", response_model=s.JobOut, tags=["runs"], responses=responses(401, 403, 404))
def get_job(request: Request, job_id: IdPath, _: Analyst) -> dict[str, Any]:
    """A job's status: queued, running, done (with the run id) or failed (with the error)."""
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} on this server (jobs are kept until it restarts)")
    return job


# -- admin: tokens ---------------------------------------------------------------
@router.post("/tokens", response_model=s.TokenCreated, status_code=201, tags=["admin"],
             responses=responses(401, 403, 422, 503))
def create_token(request: Request, body: s.TokenCreate, _: Admin) -> dict[str, Any]:
    """Create a token; the response is the only place its text ever appears."""
    with writing(request) as ws:
        token, info = tokens.create_token(ws, body.role, body.name)
    return {**info, "token": token}


@router.get("/tokens", response_model=s.TokenList, tags=["admin"], responses=responses(401, 403))
def list_tokens(request: Request, _: Admin) -> dict[str, Any]:
    """Every token (never its text or hash), oldest first."""
    with workspace(request) as ws:
        return {"tokens": tokens.list_tokens(ws)}


@router.delete("/tokens/{token_id}", response_model=s.TokenOut, tags=["admin"], responses=responses(401, 403, 404, 503))
def revoke_token(request: Request, token_id: IdPath, _: Admin) -> dict[str, Any]:
    """Revoke a token from now on."""
    with writing(request) as ws:
        return tokens.revoke_token(ws, token_id)


# -- admin: exports --------------------------------------------------------------
@router.post("/exports", response_model=s.ExportOut, status_code=201, tags=["admin"],
             responses=responses(400, 401, 403, 404, 503))
def create_export(request: Request, body: s.ExportCreate, token: Admin) -> dict[str, Any]:
    """Write a run's segment list (no personal data) as CSV or Parquet beside the workspace; the oldest
    exports beyond the retention (SIKTA_EXPORTS_KEEP files, SIKTA_EXPORTS_MAX_MB) are deleted."""
    with writing(request) as ws:
        return exports.export_run(ws, body.run, fmt=body.format, groups=body.groups,
                                  created_by=token["name"] or token["token_id"])


@router.get("/exports", response_model=s.ExportList, tags=["admin"], responses=responses(401, 403))
def list_exports(request: Request, _: Admin) -> dict[str, Any]:
    """Every export kept, newest first (the oldest go beyond SIKTA_EXPORTS_KEEP files or SIKTA_EXPORTS_MAX_MB)."""
    with workspace(request) as ws:
        return {"exports": exports.list_exports(ws)}


@router.delete("/exports/{export_id}", response_model=s.ExportOut, tags=["admin"],
               responses=responses(401, 403, 404, 503))
def delete_export(request: Request, export_id: IdPath, _: Admin) -> dict[str, Any]:
    """Delete an export's file and record."""
    with writing(request) as ws:
        return exports.delete_export(ws, export_id)


@router.get("/exports/{export_id}/file", tags=["admin"], response_class=FileResponse,
            responses={200: {"description": "the file", "content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
                       **responses(401, 403, 404)})
def download_export(request: Request, export_id: IdPath, _: Admin) -> FileResponse:
    """Download an export's file."""
    with workspace(request) as ws:
        e = exports.get_export(ws, export_id)
    media = "text/csv" if e["format"] == "csv" else "application/vnd.apache.parquet"
    return FileResponse(e["path"], media_type=media, filename=PurePath(e["path"]).name)


# -- admin: webhooks -------------------------------------------------------------
@router.post("/webhooks", response_model=s.WebhookCreated, status_code=201, tags=["admin"],
             responses=responses(400, 401, 403, 422, 503))
def create_webhook(request: Request, body: s.WebhookCreate, _: Admin) -> dict[str, Any]:
    """Register a URL for signed ``run.completed`` events; the secret is shown once."""
    with writing(request) as ws:
        info, secret = webhooks.add_webhook(ws, body.url, body.secret)
    return {**info, "secret": secret}


@router.get("/webhooks", response_model=s.WebhookList, tags=["admin"], responses=responses(401, 403))
def list_webhooks(request: Request, _: Admin) -> dict[str, Any]:
    """Every webhook (never its secret)."""
    with workspace(request) as ws:
        return {"webhooks": webhooks.list_webhooks(ws)}


@router.get("/webhooks/deliveries", response_model=s.DeliveryList, tags=["admin"], responses=responses(401, 403, 404))
def list_deliveries(
    request: Request, _: Admin, run: Annotated[str | None, Query(max_length=100, description="only this run's event")] = None,
) -> dict[str, Any]:
    """Logged deliveries, newest first: attempts, status and error of each."""
    with workspace(request) as ws:
        return {"deliveries": webhooks.deliveries(ws, run)}


@router.delete("/webhooks/{webhook_id}", response_model=s.WebhookOut, tags=["admin"], responses=responses(401, 403, 404, 503))
def delete_webhook(request: Request, webhook_id: IdPath, _: Admin) -> dict[str, Any]:
    """Stop sending events to a webhook."""
    with writing(request) as ws:
        return webhooks.remove_webhook(ws, webhook_id)


__all__ = ["router"]
