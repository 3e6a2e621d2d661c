"""Webhooks: tell a CRM or automation tool when a run has changed the segments (SPEC §4.6).

An admin registers a URL and a shared secret (table ``_sikta_webhooks``;
listings never show the secret). When a run completes, :func:`notify_run`
POSTs one JSON event to every webhook:

- the body is the event, serialized once; the header ``Sikta-Signature`` is
  ``sha256=`` + the hex HMAC-SHA256 of exactly those bytes with the secret, so
  the receiver recomputes it over the raw body before trusting anything;
- ``Sikta-Delivery`` (also sent as ``Idempotency-Key``) is the same for every
  attempt of one event to one webhook: a receiver that saw it already can
  acknowledge and ignore the repeat;
- a connection error, a timeout, a 429 or a 5xx is retried up to
  ``retries`` times with doubling waits; any other status is final. Each
  delivery is logged in ``_sikta_webhook_deliveries``.

The event (``type: run.completed``) holds the run's metadata and group
counts and, when an earlier run at the same grain exists, the transitions
and the accounts that changed group (unit ids and groups only: no names, no
personal data).

Examples
--------
>>> sign("secret", b'{"a":1}')
'sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494'
>>> check_url("ftp://example.com/hook")
Traceback (most recent call last):
...
sikta.errors.UsageError: webhook URL 'ftp://example.com/hook' must be http:// or https:// with a host
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from sikta import __version__
from sikta.errors import NotFoundError, UsageError
from sikta.service import runs as runs_svc

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

log = logging.getLogger(__name__)

WEBHOOKS = "_sikta_webhooks"
WEBHOOKS_SCHEMA = {"webhook_id": "string", "url": "string", "secret": "string", "created_at": "timestamp"}
DELIVERIES = "_sikta_webhook_deliveries"
DELIVERIES_SCHEMA = {
    "delivery_id": "string", "webhook_id": "string", "event_id": "string", "event": "string", "run_id": "string",
    "attempts": "int64", "status_code": "int64", "ok": "boolean", "error": "string", "finished_at": "timestamp",
}
SIGNATURE_HEADER = "Sikta-Signature"
DELIVERY_HEADER = "Sikta-Delivery"
EVENT_HEADER = "Sikta-Event"
RUN_COMPLETED = "run.completed"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def sign(secret: str, body: bytes) -> str:
    """The ``Sikta-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_url(url: str) -> str:
    """A webhook URL must be absolute http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"webhook URL {url!r} must be http:// or https:// with a host")
    return url


def _rows(ws: Workspace, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    return ws.store.records(sql, params, missing_ok=True)  # no table yet: no webhooks


def _public(r: dict[str, Any]) -> dict[str, Any]:
    return {"webhook_id": r["webhook_id"], "url": r["url"], "created_at": pd.Timestamp(r["created_at"]).to_pydatetime()}


def add_webhook(ws: Workspace, url: str, secret: str | None = None) -> tuple[dict[str, Any], str]:
    """Register a webhook; returns its record and the secret (generated when not given)."""
    check_url(url)
    if secret is not None and len(secret) < 16:
        raise UsageError("a webhook secret needs at least 16 characters (or leave it out to get one)")
    secret = secret or secrets.token_urlsafe(32)
    record = {"webhook_id": "whk_" + secrets.token_hex(6), "url": url, "secret": secret, "created_at": _now()}
    with ws.store.transaction():
        ws.store.create_empty(WEBHOOKS, WEBHOOKS_SCHEMA, replace=False)
        ws.store.insert(WEBHOOKS, pd.DataFrame([record]), schema=WEBHOOKS_SCHEMA)
    return _public(record), secret


def _hooks(ws: Workspace) -> list[dict[str, Any]]:
    return _rows(ws, f'SELECT * FROM "{WEBHOOKS}" ORDER BY created_at, webhook_id')


def list_webhooks(ws: Workspace) -> list[dict[str, Any]]:
    """Every webhook (id, URL, created), oldest first; never the secret."""
    return [_public(h) for h in _hooks(ws)]


def remove_webhook(ws: Workspace, webhook_id: str) -> dict[str, Any]:
    """Stop sending to a webhook; returns what was removed."""
    hits = [h for h in _hooks(ws) if h["webhook_id"] == webhook_id]
    if not hits:
        raise NotFoundError(f"no webhook {webhook_id!r}")
    ws.store.execute(f'DELETE FROM "{WEBHOOKS}" WHERE webhook_id = ?', [webhook_id])
    return _public(hits[0])


def deliveries(ws: Workspace, run_id: str | None = None) -> list[dict[str, Any]]:
    """Logged deliveries, newest first (optionally of one run's event)."""
    where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
    return _rows(ws, f'SELECT * FROM "{DELIVERIES}" {where} ORDER BY finished_at DESC', params)


def run_event(ws: Workspace, run_id: str, *, changes_limit: int = 1000) -> dict[str, Any]:
    """The ``run.completed`` event of a run: metadata, group counts, and changes since the run before."""
    meta = runs_svc.get_run(ws, run_id)
    listing = runs_svc.list_runs(ws)
    same = listing[listing.grain == meta["grain"]].run_id.tolist()  # newest first
    position = same.index(meta["run_id"])
    previous = same[position + 1] if position + 1 < len(same) else None
    changes = None
    if previous is not None:
        d = runs_svc.diff(ws, previous, meta["run_id"], limit=changes_limit)
        changes = {
            "previous_run_id": previous, "moved": int(d["moved"]), "model_changed": bool(d["model_changed"]),
            "transitions": [{"from": r["group_a"], "to": r["group_b"], "accounts": int(r["accounts"])} for r in d["transitions"]],
            "accounts": [{"unit_id": r["unit_id"], "from": r["group_a"], "to": r["group_b"]} for r in d["accounts"]],
            "accounts_truncated": int(d["moved"]) > len(d["accounts"]),
        }
    return {
        "id": f"evt_{meta['run_id']}", "type": RUN_COMPLETED, "created_at": _now().isoformat() + "Z",
        "sikta_version": __version__,
        "run": {"run_id": meta["run_id"], "as_of": str(pd.Timestamp(meta["as_of"]).date()), "grain": meta["grain"],
                "model_name": meta["model_name"], "model_version": str(meta["model_version"]),
                "units": int(meta["units"]), "groups": meta["groups"]},
        "changes": changes,
    }


def deliver(
    url: str, secret: str, event: dict[str, Any], *, delivery_id: str, retries: int = 3, backoff: float = 0.5,
    timeout: float = 5.0, sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST one signed event, retrying transient failures; returns attempts, status and error."""
    body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"sikta/{__version__}",
               SIGNATURE_HEADER: sign(secret, body), DELIVERY_HEADER: delivery_id, "Idempotency-Key": delivery_id,
               EVENT_HEADER: str(event.get("type"))}
    status, error, attempt = None, None, 0
    for attempt in range(1, retries + 2):
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the scheme is checked on add
                status, error = resp.status, None
            break
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break  # the receiver refused this event: sending it again will not help
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            status, error = None, type(getattr(exc, "reason", exc)).__name__
        if attempt <= retries:
            sleep(backoff * 2 ** (attempt - 1))
    ok = status is not None and 200 <= status < 300
    return {"ok": ok, "attempts": attempt, "status_code": status, "error": None if ok else error}


def notify_run(ws: Workspace, run_id: str, **deliver_options: Any) -> list[dict[str, Any]]:
    """Send the ``run.completed`` event of ``run_id`` to every webhook and log each delivery."""
    hooks = _hooks(ws)
    if not hooks:
        return []
    event = run_event(ws, run_id)
    results = []
    for h in hooks:
        delivery_id = f"{event['id']}.{h['webhook_id']}"
        r = deliver(h["url"], h["secret"], event, delivery_id=delivery_id, **deliver_options)
        if not r["ok"]:
            # the host only: a URL's path or query may carry a receiver's own token
            log.warning("webhook %s (%s) failed after %d attempts: %s", h["webhook_id"], urlsplit(h["url"]).hostname,
                        r["attempts"], r["error"])
        results.append({"delivery_id": delivery_id, "webhook_id": h["webhook_id"], "event_id": event["id"],
                        "event": event["type"], "run_id": event["run"]["run_id"], **r, "finished_at": _now()})
    with ws.store.transaction():
        ws.store.create_empty(DELIVERIES, DELIVERIES_SCHEMA, replace=False)
        ws.store.insert(DELIVERIES, pd.DataFrame(results, columns=list(DELIVERIES_SCHEMA)), schema=DELIVERIES_SCHEMA)
    return results


__all__ = ["add_webhook", "list_webhooks", "remove_webhook", "notify_run", "deliver", "sign", "run_event", "deliveries"]
