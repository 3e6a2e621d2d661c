"""The FastAPI application: ``create_app(workspace_path)``, served by ``sikta serve``.

Everything lives under ``/api/v1``; the OpenAPI schema is at ``/openapi.json``
and the interactive docs at ``/docs`` (they describe the API and show no
data, so they need no token). The web UI's pages, when installed
(:mod:`sikta.web.pages`), are mounted on the same app and share its
workspace, lock and tokens.

Examples
--------
>>> import tempfile, pathlib
>>> from fastapi.testclient import TestClient
>>> app = create_app(pathlib.Path(tempfile.mkdtemp()) / "ws.duckdb")
>>> client = TestClient(app)
>>> client.get("/api/v1/health").json()["status"]
'ok'
>>> client.get("/api/v1/runs").json()["error"]["type"]
'Unauthorized'
>>> app.state.sikta.close()
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from sikta import __version__
from sikta.api import errors
from sikta.api.deps import AppState
from sikta.api.headers import HTML_HEADERS
from sikta.api.jobs import Jobs
from sikta.api.routes_clv import router as clv_router
from sikta.api.routes_operate import router as operate_router
from sikta.api.routes_read import router as read_router
from sikta.api.routes_schemes import router as schemes_router
from sikta.api.routes_write import router as write_router
from sikta.errors import UsageError
from sikta.service import webhooks

log = logging.getLogger("sikta.api")

DESCRIPTION = """\
Segments, accounts and runs of one Sikta workspace.

Every endpoint but `/api/v1/health` needs a token: `Authorization: Bearer <token>`
(create one with `sikta token create --role viewer|analyst|admin`). A **viewer** reads;
an **analyst** also checks models and starts runs; an **admin** also manages tokens,
exports and webhooks. Errors always have the shape `{"error": {"type": ..., "message": ...}}`.
"""


def create_app(workspace_path: str | Path, *, prepare: bool = True,
               webhook_options: dict[str, Any] | None = None, threads: int | None = None,
               local_secret: str | None = None, wait: float | None = None) -> FastAPI:
    """Build the app over one workspace (opened now, read-only between its own writes; closed on shutdown).

    Parameters
    ----------
    workspace_path
        The workspace file.
    prepare
        Index every run and feature table now (once per table: the indexes are kept in the
        workspace), so that reading one account never scans a table.
    webhook_options
        Backoff, longest interval, retry period and timeout of webhook deliveries, in seconds
        (the fields of :class:`sikta.service.webhooks.RetryPolicy`).
    threads
        Worker threads for requests (default: two per CPU). At 1M accounts with 20 clients on
        2 CPUs, 4 threads answer one account in p95 38 ms / p99 44 ms, 40 (the size of
        FastAPI's pool) in 47 / 79 ms (bench/results/api_latency.md).
    local_secret
        Accept this secret as an admin for this process (``sikta serve`` shares it with the CLI
        through its server file; see :class:`sikta.api.deps.AppState`).
    wait
        Seconds to wait for the workspace while another process holds it (default
        ``$SIKTA_LOCK_WAIT`` or 30).
    """
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, not {threads}")
    pool = threads or 2 * (os.cpu_count() or 1)
    st = AppState(workspace_path, wait=wait, local_secret=local_secret)

    def on_run(run_id: str) -> None:
        with st.lock:
            st.reader.refresh()  # the job prepared the new run's index and documents itself

    sender = webhooks.Sender(st.read, st.write, webhooks.RetryPolicy(**(webhook_options or {})))
    st.workers.append(sender)
    jobs = Jobs(st.path, on_run=on_run, lock=st.lock, writing=st.writing, sender=sender)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Plain ``def`` endpoints run in this pool. Python runs one thread at a time, so threads
        # beyond a few per core only queue for the interpreter and stretch the slowest answers;
        # a few per core still let DuckDB, which lets go of the interpreter, use every core.
        anyio.to_thread.current_default_thread_limiter().total_tokens = pool
        yield
        jobs.close()
        st.close()  # stops the webhook sender too

    # FastAPI's own docs pages load Swagger UI from a CDN; ours serves it from the installed package.
    app = FastAPI(title="Sikta", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    _install_docs(app)
    app.state.sikta = st
    app.state.jobs = jobs
    app.state.sender = sender
    errors.install(app)
    app.include_router(read_router)
    app.include_router(write_router)
    app.include_router(clv_router)
    app.include_router(schemes_router)
    app.include_router(operate_router)
    if prepare:
        with st.lock:
            pending = st.reader.pending()
        if pending:  # once per table: the indexes and documents stay in the workspace
            with st.writing(), st.lock:
                indexed = st.reader.prepare()
            log.info("indexed %s", ", ".join(indexed))
    sender.start()  # first what became due while no server ran
    _include_web(app)
    return app


def _include_web(app: FastAPI) -> None:
    """Mount the web UI's pages when that package is present."""
    try:
        pages = importlib.import_module("sikta.web.pages")
    except ModuleNotFoundError as exc:
        if exc.name not in ("sikta.web", "sikta.web.pages"):
            raise  # the web package exists but is broken: say so, do not hide it
        return
    router = getattr(pages, "router", None)
    if router is not None:
        app.include_router(router)


__all__ = ["create_app"]


DOCS_ASSETS = "/docs-assets"
DOCS_INIT = "/docs-init.js"
#: the docs page: Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes) from the installed
#: swagger-ui-bundle-v2 package; no inline script, so the page keeps the strict CSP of the web UI
DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sikta API</title>
<link rel="icon" href="{DOCS_ASSETS}/favicon-32x32.png">
<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="{DOCS_INIT}"></script>
</body>
</html>
"""
DOCS_SCRIPT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""


def _install_docs(app: FastAPI) -> None:
    """The interactive API docs at ``/docs``, with Swagger UI's files served locally (works offline)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE, headers=HTML_HEADERS)

    @app.get(DOCS_INIT, include_in_schema=False)
    def docs_init() -> Response:
        return Response(DOCS_SCRIPT, media_type="application/javascript", headers={"Cache-Control": "no-cache"})
