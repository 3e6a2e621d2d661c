"""Web sign-in sessions: the browser holds a random session id, never the token.

Signing in with a token creates a session on the server: a random id (256
bits, the ``sikta_session`` cookie: HttpOnly, SameSite=Strict, Secure over
HTTPS) that stands for the token's id, name and role, with its own CSRF token
for the forms. The token itself is not kept in the browser nor in the
session (only its id), so a stolen cookie is worth one session, not an API
token, and the REST API does not accept the cookie at all.

A session ends when its user signs out, after :data:`IDLE` without a request,
:func:`session_lifetime` after sign-in (``$SIKTA_SESSION_HOURS``, default 8 hours), when its token is
revoked (checked on every request), or when the server stops (sessions live
in its memory: sign in again after a restart).

Examples
--------
>>> s = Sessions()
>>> sid, session = s.create("tok_1", "ann", "viewer")
>>> s.get(sid).role, len(sid) >= 43, s.get("forged")
('viewer', True, None)
>>> s.end(sid); s.get(sid) is None
True
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass, field

from sikta.errors import UsageError

#: a session unused this long ends
IDLE = 3600.0
#: the most sessions kept (the oldest go first)
MAX_SESSIONS = 10_000


def session_lifetime() -> float:
    """Seconds a session lasts at most: ``$SIKTA_SESSION_HOURS`` (default 8) hours."""
    raw = os.environ.get("SIKTA_SESSION_HOURS", "8")
    try:
        hours = float(raw)
    except ValueError:
        raise UsageError(f"SIKTA_SESSION_HOURS={raw!r} is not a number of hours") from None
    return max(hours, 0.0) * 3600


@dataclass
class Session:
    """Who is signed in, until when, and the CSRF token of their forms."""

    token_id: str
    name: str | None
    role: str
    expires: float
    seen: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(30))


class Sessions:
    """The sessions of one server process (thread-safe)."""

    def __init__(self, *, idle: float = IDLE, lifetime: float | None = None) -> None:
        self.idle = idle
        self.lifetime = session_lifetime() if lifetime is None else lifetime
        self._by_key: dict[str, Session] = {}
        self._mutex = threading.Lock()

    @staticmethod
    def _key(sid: str) -> str:
        # kept by hash: a memory dump or a debug listing shows no usable session id
        return hashlib.sha256(sid.encode("utf-8")).hexdigest()

    def create(self, token_id: str, name: str | None, role: str) -> tuple[str, Session]:
        """A new session; returns its id (the cookie's value) and the session."""
        now = time.monotonic()
        sid = secrets.token_urlsafe(32)
        session = Session(token_id, name, role, expires=now + self.lifetime, seen=now)
        with self._mutex:
            self._drop_expired(now)
            while len(self._by_key) >= MAX_SESSIONS:
                self._by_key.pop(next(iter(self._by_key)))
            self._by_key[self._key(sid)] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of ``sid`` (its idle clock restarts), or None."""
        if not sid or len(sid) > 200:
            return None
        now = time.monotonic()
        with self._mutex:
            session = self._by_key.get(self._key(sid))
            if session is None:
                return None
            if now >= session.expires or now - session.seen >= self.idle:
                del self._by_key[self._key(sid)]
                return None
            session.seen = now
            return session

    def end(self, sid: str | None) -> None:
        """Sign out: forget the session."""
        if sid:
            with self._mutex:
                self._by_key.pop(self._key(sid), None)

    def end_token(self, token_id: str) -> int:
        """End every session of a token (it was revoked); returns how many."""
        with self._mutex:
            gone = [k for k, s in self._by_key.items() if s.token_id == token_id]
            for k in gone:
                del self._by_key[k]
        return len(gone)

    def __len__(self) -> int:
        return len(self._by_key)

    def _drop_expired(self, now: float) -> None:
        for k in [k for k, s in self._by_key.items() if now >= s.expires or now - s.seen >= self.idle]:
            del self._by_key[k]


__all__ = ["IDLE", "MAX_SESSIONS", "Session", "Sessions", "session_lifetime"]
