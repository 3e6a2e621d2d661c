"""The one place where Sikta's exception tree becomes HTTP statuses.

Every error leaves the API in one shape, ``{"error": {"type": ..., "message": ...}}``:
Sikta's own exceptions (type = the class name), a missing or wrong token
(401), a role that is too low (403), a request that does not fit the schema
(422, ``ValidationError``), an unknown path (404) and, for bugs, a 500 that
says nothing about the internals.

Examples
--------
>>> from sikta.errors import ModelError, NotFoundError, UsageError
>>> [status_for(e("x")) for e in (NotFoundError, ModelError, UsageError)]
[404, 422, 400]
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from sikta.errors import (
    DataTooThinError,
    InputError,
    NotFoundError,
    SiktaError,
    UsageError,
    WorkspaceError,
    WorkspaceLockedError,
)

log = logging.getLogger("sikta.api")

#: first match wins, so subclasses come before their bases
STATUS: tuple[tuple[type[SiktaError], int], ...] = (
    (NotFoundError, 404),      # a run, account, token ... that does not exist
    (WorkspaceLockedError, 503),  # another process reads the file this write needs: retry shortly
    (WorkspaceError, 409),     # the workspace lacks what the request needs (no data, no runs)
    (DataTooThinError, 422),   # understood, but the data cannot answer it
    (InputError, 422),         # a model file, mapping or contract problem in what was sent
    (UsageError, 400),         # a bad parameter value or combination
    (SiktaError, 400),
)
HTTP_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
              409: "Conflict", 415: "UnsupportedMediaType", 422: "ValidationError", 503: "Unavailable"}
#: seconds a 503 asks the caller to wait before trying again
RETRY_AFTER = "2"


class ErrorDetail(BaseModel):
    """What went wrong, for people (``message``) and programs (``type``)."""

    type: str
    message: str


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def status_for(exc: SiktaError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def error_response(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status, headers=headers)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses for a route declaration, so the OpenAPI schema documents their shape.

    422 is always there: FastAPI would otherwise document its own validation-error body,
    which this API never sends.
    """
    words = {400: "Bad request", 401: "Missing, unknown or revoked token", 403: "The token's role is too low",
             404: "Not found", 409: "The workspace cannot answer yet", 422: "Invalid input or too little data",
             503: "Another process is reading the workspace this write needs: retry after Retry-After seconds"}
    return {code: {"model": ErrorOut, "description": words.get(code, "Error")} for code in sorted({*codes, 422})}


def allowed_methods(request: Request) -> str:
    """Every method some route of the app answers on this request's path (the ``Allow`` of a 405).

    Starlette names only the methods of the first route that matched the path; a path served by
    several routes (``GET`` and ``POST /api/v1/runs``) needs them all.
    """
    methods: set[str] = set()

    def walk(routes: list) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI >= 0.13x wraps included routers
            if included is not None:
                walk(included.routes)
            elif getattr(route, "methods", None) and route.matches(request.scope)[0] is not Match.NONE:
                methods.update(route.methods)

    walk(request.app.router.routes)
    return ", ".join(sorted(methods))


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body" or len(err.get("loc", ())) == 1]
        where = " ".join(loc[:1]) + (f" '{'.'.join(loc[1:])}'" if len(loc) > 1 else "")
        parts.append(f"{where}: {err.get('msg', 'invalid')}".strip(": "))
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into :class:`ErrorOut`."""

    @app.exception_handler(SiktaError)
    async def _sikta(request: Request, exc: SiktaError) -> JSONResponse:
        status = status_for(exc)
        return error_response(status, type(exc).__name__, str(exc),
                              {"Retry-After": RETRY_AFTER} if status == 503 else None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 400 and message == "There was an error parsing the body":
            # a body that is not JSON (or not UTF-8) does not fit the schema: the same 422 as any other misfit
            return error_response(422, "ValidationError", "body: not valid JSON in UTF-8")
        if exc.status_code == 405:
            allow = allowed_methods(request)
            return error_response(405, "MethodNotAllowed", f"{request.method} is not allowed here: use {allow}",
                                  {"Allow": allow})
        return error_response(exc.status_code, HTTP_TYPES.get(exc.status_code, "HTTPError"), message,
                              getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "ValidationError", _validation_message(exc))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # the traceback goes to the server log; the caller learns only that it was not their fault
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "InternalError", "internal error: see the server log")


__all__ = ["ErrorDetail", "ErrorOut", "STATUS", "status_for", "error_response", "responses", "install"]
