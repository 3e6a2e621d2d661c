"""How a request reaches the workspace and learns who is calling.

The app keeps one :class:`~sikta.service.workspace.Workspace` open for its
whole life (``app.state.sikta``), **read-only** while it only reads: DuckDB
lets any number of read-only processes share the file, so ``sikta status``,
``runs``, ``report`` ... work while the server runs. For its own writes (a
token created or revoked, an export, a webhook change, an API run, a feature
build of the analysis, an outbox update) the app opens the file for writing
inside :meth:`AppState.writing` and goes back to read-only when the last
writer is done; while it writes, CLI commands wait for it (``SIKTA_LOCK_WAIT``
seconds). Readers of this process keep being answered meanwhile.

A DuckDB connection is not safe to share between threads, and FastAPI runs
plain ``def`` endpoints in a thread pool, so every use goes through
:func:`workspace` (or :func:`run_reader`), which holds one re-entrant lock for
the duration. Point reads that run outside that lock hold :attr:`AppState.gate`
shared, so the connection is never swapped under them. Background runs use a
connection of their own (see :mod:`sikta.api.jobs`).

Callers of the API authenticate with ``Authorization: Bearer <token>`` only
(never a cookie: a browser would send it with a forged form; never a query
parameter, which would end up in access logs). The web UI signs in with a
server-side session of its own (:mod:`sikta.web.common`).

Examples
--------
>>> bearer_token("Bearer sk_abc"), bearer_token("basic xyz"), bearer_token(None)
('sk_abc', None, None)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sikta.errors import ReadOnlyWorkspaceError, UsageError, WorkspaceLockedError
from sikta.service import tokens
from sikta.service.segments import RunReader
from sikta.service.serving import lock_wait
from sikta.service.workspace import Workspace

log = logging.getLogger("sikta.api")
bearer = HTTPBearer(auto_error=False, description="A token from 'sikta token create' (or POST /api/v1/tokens).")
T = TypeVar("T")
#: the identity of the server's own CLI secret (see :attr:`AppState.local_secret`)
LOCAL_CLI = {"token_id": "local-cli", "name": "sikta CLI on the server's machine", "role": "admin"}


class Gate:
    """A shared/exclusive lock: many point reads at once, or one swap of the connection."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class AppState:
    """What one app holds open: the workspace (read-only between writes), its lock, the run reader.

    Parameters
    ----------
    workspace_path
        The workspace file (created empty when missing).
    wait
        Seconds to wait for the file while another process holds it (default :func:`lock_wait`).
    local_secret
        A secret that authenticates as an admin for this process only (``sikta serve`` writes it into
        its server file beside the workspace, so the CLI on the same machine can route writes here).
    """

    def __init__(self, workspace_path: str | Path, *, wait: float | None = None,
                 local_secret: str | None = None) -> None:
        self.path = Path(workspace_path)
        self.wait = lock_wait() if wait is None else wait
        self.local_secret = local_secret
        if not self.path.exists():
            Workspace(self.path).close()  # a new, empty workspace
        self.ws = Workspace(self.path, read_only=True, wait=self.wait)
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.gate = Gate()
        self._writers = 0
        self._closed = False
        self.reader = RunReader(self.ws)
        self.cache: dict[tuple, Any] = {}  # small results that only an ingest could change (analysis)
        #: verified tokens by SHA-256, with the token generation they were checked at
        self.token_cache: dict[str, tuple[dict[str, Any] | None, int]] = {}
        #: whether a token id is active, with the token generation it was checked at (web sessions)
        self.active_cache: dict[str, tuple[bool, int]] = {}
        self.opened = {"read_only": 1, "write": 0}  # how often the file was (re)opened, for the tests
        self.workers: list[Any] = []  # background threads to stop before the workspace closes

    # -- read-only between writes ------------------------------------------------
    def _reopen(self, *, read_only: bool) -> bool:
        """Swap the connection for one in the other mode; False when the file is busy for writing."""
        with self.gate.exclusive():
            self.ws.close()
            ok = True
            try:
                ws = Workspace(self.path, read_only=read_only, wait=0.0 if not read_only else max(self.wait, 60.0))
            except WorkspaceLockedError:
                if read_only:
                    raise
                ok = False  # a CLI command is reading the file: back to reading, try again soon
                ws = Workspace(self.path, read_only=True, wait=max(self.wait, 60.0))
            self.ws = ws
            self.reader.reconnect(ws)
            self.opened["read_only" if ws.store.read_only else "write"] += 1
            return ok

    @contextmanager
    def writing(self) -> Iterator[Workspace]:
        """The workspace opened for writing until the block ends (and every other writer's block).

        Waits (up to ``wait`` seconds, answering reads meanwhile) while another process reads the
        file, then raises :class:`~sikta.errors.WorkspaceLockedError` (the API's 503).
        """
        deadline = time.monotonic() + self.wait
        with self.lock:
            while self.ws.store.read_only:
                if self._reopen(read_only=False):
                    break
                if time.monotonic() >= deadline:
                    raise WorkspaceLockedError(
                        f"workspace {self.path} is being read by another process (a sikta command): "
                        "try again in a moment")
                self._changed.wait(0.2)  # lets this process's readers in while we wait
            self._writers += 1
        try:
            yield self.ws
        finally:
            with self.lock:
                self._writers -= 1
                if self._writers == 0 and not self._closed:
                    self._reopen(read_only=True)
                self._changed.notify_all()

    def read_or_write(self, work: Callable[[Workspace], T]) -> T:
        """``work(ws)`` on the read-only workspace; again in :meth:`writing` when it turns out to write
        (a feature build). Writes are staged, so the refused first try left nothing behind."""
        with self.lock:
            try:
                return work(self.ws)
            except ReadOnlyWorkspaceError:
                pass
        with self.writing() as ws, self.lock:
            return work(ws)

    def read(self, work: Callable[[Workspace], T]) -> T:
        """``work(ws)`` with the workspace as it is (read-only between writes), the lock held."""
        with self.lock:
            return work(self.ws)

    def write(self, work: Callable[[Workspace], T]) -> T:
        """``work(ws)`` with the workspace opened for writing (see :meth:`writing`)."""
        with self.writing(), self.lock:
            return work(self.ws)

    def close(self) -> None:
        """Stop the background workers registered in ``workers``, then close the workspace."""
        for worker in self.workers:
            worker.close()
        with self.lock:
            self._closed = True
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
def writing(request: Request) -> Iterator[Workspace]:
    """The app's workspace opened for writing, with the lock held, until the block ends."""
    st = state(request)
    with st.writing(), st.lock:
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
    if st.local_secret and hmac.compare_digest(token.encode(), st.local_secret.encode()):
        return dict(LOCAL_CLI)
    key = hashlib.sha256(token.encode("utf-8")).hexdigest()
    generation = tokens.generation()
    with st.lock:
        found = tokens.verify_token(st.ws, token)
        if len(st.token_cache) > 10_000:  # random tokens must not grow it without bound
            st.token_cache.clear()
        st.token_cache[key] = (found, generation)
    return found


def token_active(st: AppState, token_id: str) -> bool:
    """Whether ``token_id`` is still active: cached until this process creates or revokes a token."""
    generation = tokens.generation()
    hit = st.active_cache.get(token_id)
    if hit is not None and hit[1] == generation:
        return hit[0]
    with st.lock:
        active = tokens.is_active(st.ws, token_id)
        if len(st.active_cache) > 10_000:
            st.active_cache.clear()
        st.active_cache[token_id] = (active, generation)
    return active


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
    token = bearer_token(request.headers.get("authorization"))
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
        # token itself is read by current_token
        found = await current_token(request)
        if not tokens.role_allows(found["role"], role):
            raise HTTPException(403, f"this needs the {role} role; the token {found['token_id']} is {found['role']}")
        return found

    dependency.__name__ = f"require_{role}"
    return dependency


def new_local_secret() -> str:
    """A secret for :attr:`AppState.local_secret` (not a token: never stored in the workspace)."""
    return "sk_local_" + secrets.token_urlsafe(32)


__all__ = ["AppState", "Gate", "bearer", "state", "workspace", "writing", "run_reader", "current_token", "require", "bearer_token",
           "lock_wait", "new_local_secret", "LOCAL_CLI", "token_active"]
