"""How a request reaches the workspace and learns who is calling.

The app opens one :class:`~sikta.service.workspace.Workspace` for its whole
life (``app.state.sikta``). A DuckDB connection is not safe to share between
threads, and FastAPI runs plain ``def`` endpoints in a thread pool, so every
use goes through :func:`workspace` (or :func:`run_reader`), which holds one
re-entrant lock for the duration. Background runs use a connection of their
own (see :mod:`sikta.api.jobs`).

Callers authenticate with ``Authorization: Bearer <token>`` or, for the web
UI, the ``sikta_token`` cookie; never with a query parameter, which would end
up in access logs.

Examples
--------
>>> bearer_token("Bearer sk_abc"), bearer_token("basic xyz"), bearer_token(None)
('sk_abc', None, None)
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sikta.errors import UsageError
from sikta.service import tokens
from sikta.service.segments import RunReader
from sikta.service.workspace import Workspace

COOKIE = "sikta_token"
bearer = HTTPBearer(auto_error=False, description="A token from 'sikta token create' (or POST /api/v1/tokens).")


class AppState:
    """What one app holds open: the workspace, its lock and the cached run reader."""

    def __init__(self, workspace_path: str | Path) -> None:
        self.path = Path(workspace_path)
        self.ws = Workspace(self.path)
        self.lock = threading.RLock()
        self.reader = RunReader(self.ws)
        self.cache: dict[tuple, Any] = {}  # small results that only an ingest could change (analysis)
        #: verified tokens by SHA-256, with the token generation they were checked at
        self.token_cache: dict[str, tuple[dict[str, Any] | None, int]] = {}

    def close(self) -> None:
        with self.lock:
            self.ws.close()


def state(request: Request) -> AppState:
    return request.app.state.sikta


@contextmanager
def workspace(request: Request) -> Iterator[Workspace]:
    """The app's workspace, with the lock held until the block ends."""
    st = state(request)
    with st.lock:
        yield st.ws


@contextmanager
def run_reader(request: Request) -> Iterator[RunReader]:
    """The app's cached :class:`~sikta.service.segments.RunReader`, with the lock held."""
    st = state(request)
    with st.lock:
        yield st.reader


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header value."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _verify(st: AppState, token: str) -> dict[str, Any] | None:
    """The token's record (None: unknown or revoked), from the workspace."""
    # a lookup per request would cost a query; any token created or revoked in this
    # process (the only one that can write while the server runs) invalidates the cache
    key = hashlib.sha256(token.encode("utf-8")).hexdigest()
    generation = tokens.generation()
    with st.lock:
        found = tokens.verify_token(st.ws, token)
        if len(st.token_cache) > 10_000:  # random tokens must not grow it without bound
            st.token_cache.clear()
        st.token_cache[key] = (found, generation)
    return found


def _known(st: AppState, token: str) -> tuple[bool, dict[str, Any] | None]:
    """(whether the cache knows the token, its record) without touching the workspace."""
    hit = st.token_cache.get(hashlib.sha256(token.encode("utf-8")).hexdigest())
    return (True, hit[0]) if hit is not None and hit[1] == tokens.generation() else (False, None)


async def current_token(request: Request) -> dict[str, Any]:
    """The caller's token (``token_id``, ``name``, ``role``); 401 when missing, unknown or revoked.

    A coroutine, so that FastAPI runs it on the event loop: a known token costs a dict lookup,
    not a trip through the thread pool; an unknown one is checked in a worker thread, because
    that waits for the workspace lock, which a background run may hold for a while.
    """
    token = bearer_token(request.headers.get("authorization")) or request.cookies.get(COOKIE)
    if not token:
        raise _unauthorized("missing token: send 'Authorization: Bearer <token>' (see 'sikta token create')")
    st = state(request)
    known, found = _known(st, token)
    if not known:
        found = await run_in_threadpool(_verify, st, token)
    if found is None:
        raise _unauthorized("unknown or revoked token")
    request.state.token = found
    return found


def require(role: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A dependency that lets the request through when the caller's role is at least ``role`` (else 403)."""
    if role not in tokens.ROLES:
        raise UsageError(f"role {role!r} is not one of {', '.join(tokens.ROLES)}")

    async def dependency(
        request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> dict[str, Any]:
        # the Security parameter puts the bearer scheme into the OpenAPI schema; the
        # token itself is read by current_token, which also accepts the web UI's cookie
        found = await current_token(request)
        if not tokens.role_allows(found["role"], role):
            raise HTTPException(403, f"this needs the {role} role; the token {found['token_id']} is {found['role']}")
        return found

    dependency.__name__ = f"require_{role}"
    return dependency


__all__ = ["AppState", "COOKIE", "bearer", "state", "workspace", "run_reader", "current_token", "require", "bearer_token"]
