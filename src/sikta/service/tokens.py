"""API tokens with roles: who may read, run models, or manage the workspace (SPEC §4.9).

A token is shown once, when it is created; the workspace keeps only its
SHA-256 hash (table ``_sikta_tokens``), so a copied workspace file does not
leak working credentials. Roles are ordered: a *viewer* reads, an *analyst*
also validates and runs models, an *admin* also manages tokens, exports and
webhooks.

Tokens are 256 bits from :mod:`secrets`, so a plain (unsalted) SHA-256 is
enough: there is nothing to brute-force, and looking a token up by its hash
means no comparison ever runs over secret bytes an attacker controls.

Examples
--------
>>> import tempfile, pathlib, sikta
>>> ws = sikta.Workspace(pathlib.Path(tempfile.mkdtemp()) / "ws.duckdb")
>>> token, info = create_token(ws, "analyst", name="ci")
>>> token.startswith("sk_"), info["role"]
(True, 'analyst')
>>> verify_token(ws, token)["name"]
'ci'
>>> role_allows("analyst", "viewer"), role_allows("analyst", "admin")
(True, False)
>>> _ = revoke_token(ws, info["token_id"])
>>> verify_token(ws, token) is None
True
>>> ws.close()
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from sikta.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

#: ordered: each role may do everything the roles before it may
ROLES = ("viewer", "analyst", "admin")
TOKENS = "_sikta_tokens"
TOKENS_SCHEMA = {
    "token_id": "string", "name": "string", "role": "string", "sha256": "string",
    "created_at": "timestamp", "revoked_at": "timestamp",
}
PREFIX = "sk_"
#: what callers see of a token: never the hash
PUBLIC = ("token_id", "name", "role", "created_at", "revoked_at")
_generation = 0


def generation() -> int:
    """A counter that changes whenever this process creates or revokes a token.

    A server may cache :func:`verify_token` answers as long as this stays the same:
    while it holds the workspace open no other process can write to it.
    """
    return _generation


def _changed() -> None:
    global _generation
    _generation += 1


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (unknown roles may nothing).

    Examples
    --------
    >>> [role_allows("viewer", r) for r in ROLES]
    [True, False, False]
    """
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in PUBLIC}
    for k in ("created_at", "revoked_at"):
        v = out[k]
        out[k] = None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime()
    return out


def create_token(ws: Workspace, role: str, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """Create a token; returns the plaintext (show it once) and its public record.

    Parameters
    ----------
    ws
        The workspace that stores the hash.
    role
        ``viewer``, ``analyst`` or ``admin``.
    name
        Who or what the token is for (free text, shown in listings).
    """
    _check_role(role)
    if name is not None and len(name) > 200:
        raise UsageError("a token name has at most 200 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    record = {"token_id": "tok_" + secrets.token_hex(6), "name": name, "role": role, "sha256": _digest(token),
              "created_at": _now(), "revoked_at": None}
    frame = pd.DataFrame([record])
    with ws.store.transaction():
        ws.store.create_empty(TOKENS, TOKENS_SCHEMA, replace=False)
        ws.store.insert(TOKENS, frame, schema=TOKENS_SCHEMA)
    _changed()
    return token, _public(record)


def _rows(ws: Workspace, where: str = "", params: list | None = None) -> list[dict[str, Any]]:
    # Plain parameterized SQL: this runs on every API request, and a compiled Ibis
    # expression costs milliseconds; a missing table simply means "no tokens yet".
    cols = ", ".join(f'"{c}"' for c in TOKENS_SCHEMA)
    sql = f'SELECT {cols} FROM "{TOKENS}" {where} ORDER BY created_at, token_id'
    return ws.store.records(sql, params, missing_ok=True)


def list_tokens(ws: Workspace, *, include_revoked: bool = True) -> list[dict[str, Any]]:
    """Every token's public record (id, name, role, created, revoked), oldest first."""
    rows = _rows(ws, "" if include_revoked else "WHERE revoked_at IS NULL")
    return [_public(r) for r in rows]


def revoke_token(ws: Workspace, token_id: str) -> dict[str, Any]:
    """Revoke a token from now on; revoking twice keeps the first time."""
    hits = _rows(ws, "WHERE token_id = ?", [token_id])
    if not hits:
        raise NotFoundError(f"no token {token_id!r} (see 'sikta token list')")
    if hits[0]["revoked_at"] is None:
        ws.store.execute(f'UPDATE "{TOKENS}" SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL',
                         [_now(), token_id])
        _changed()
        hits = _rows(ws, "WHERE token_id = ?", [token_id])
    return _public(hits[0])


def is_active(ws: Workspace, token_id: str) -> bool:
    """Whether the token ``token_id`` exists and is not revoked (a web session lives only as long)."""
    hits = _rows(ws, "WHERE token_id = ?", [token_id])
    return bool(hits) and hits[0]["revoked_at"] is None


def verify_token(ws: Workspace, token: str | None) -> dict[str, Any] | None:
    """The token's ``token_id``, ``name`` and ``role``; ``None`` when unknown or revoked."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = _digest(token)
    hits = _rows(ws, "WHERE sha256 = ?", [digest])
    if not hits or not hmac.compare_digest(hits[0]["sha256"], digest) or hits[0]["revoked_at"] is not None:
        return None
    return {k: hits[0][k] for k in ("token_id", "name", "role")}


__all__ = ["ROLES", "generation", "create_token", "list_tokens", "revoke_token", "role_allows", "verify_token",
           "is_active"]
