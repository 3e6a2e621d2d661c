"""Webhooks: tell a CRM or automation tool when a run has changed the segments (SPEC §4.6).

An admin registers a URL (``http://`` or ``https://`` with a host; nothing
else) and a shared secret (table ``_sikta_webhooks``; listings never show the
secret). When a run completes, its ``run.completed`` event goes into the
**outbox** (``_sikta_webhook_outbox``, in the workspace): one row per webhook,
holding the exact body to send. Delivery is durable and at-least-once:

- the body is the event, serialized once; the header ``Sikta-Signature`` is
  ``sha256=`` + the hex HMAC-SHA256 of exactly those bytes with the secret, so
  the receiver recomputes it over the raw body before trusting anything;
- ``Sikta-Delivery`` (also sent as ``Idempotency-Key``) is the same for every
  attempt of one event to one webhook: a receiver that saw it already can
  acknowledge and ignore the repeat (a slow answer, a lost acknowledgement or
  a restart of the sender can repeat a delivery);
- a 2xx answer delivers it; a connection error, a timeout, a 408, 429 or 5xx
  is tried again after an exponential backoff (:class:`RetryPolicy`: 10 s,
  20 s, 40 s ... at most an hour apart) until the retry period ends (24 h by
  default, ``sikta serve --webhook-retry-hours``); any other status is final;
- the outbox survives restarts: a server sends what is due when it starts,
  so an event waits out a receiver (or a sender) that is down for hours.

The server sends from a thread of its own (:class:`Sender`), never from the
job worker, so a slow receiver holds up no run. ``sikta run`` without a server
tries each delivery once and leaves the rest to the next ``sikta serve``.

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
>>> p = RetryPolicy(backoff=10, max_interval=3600, period=86400)
>>> [p.delay(n) for n in (1, 2, 3, 10, 20)]
[10.0, 20.0, 40.0, 3600.0, 3600.0]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
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
OUTBOX = "_sikta_webhook_outbox"
OUTBOX_SCHEMA = {
    "delivery_id": "string", "webhook_id": "string", "event_id": "string", "event": "string", "run_id": "string",
    "body": "string", "created_at": "timestamp", "state": "string", "attempts": "int64",
    "next_attempt_at": "timestamp", "status_code": "int64", "error": "string", "finished_at": "timestamp",
}
#: states of an outbox row
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
#: answers worth trying again (anything else that is not 2xx is the receiver's final word)
RETRY_STATUS = (408, 429)
T = TypeVar("T")
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
    """A webhook URL must be absolute http(s) with a host (no file:, ftp:, data: ... and no user:password@)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise UsageError(f"webhook URL {url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"webhook URL {url!r} must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise UsageError("a webhook URL may not carry a user name or password: the signature authenticates Sikta")
    return url


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a delivery again: ``backoff`` seconds, doubling up to ``max_interval``, for ``period``.

    ``timeout`` is how long one attempt waits for the receiver's answer.
    """

    backoff: float = 10.0
    max_interval: float = 3600.0
    period: float = 24 * 3600.0
    timeout: float = 10.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return float(min(self.backoff * 2 ** min(attempts - 1, 60), self.max_interval))


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


def _body(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, separators=(",", ":"))


def attempt(url: str, secret: str, body: str, *, delivery_id: str, event_type: str, timeout: float = 10.0
            ) -> dict[str, Any]:
    """POST one signed body once; returns ``ok``, ``status_code``, ``error`` and whether to ``retry``."""
    data = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"sikta/{__version__}",
               SIGNATURE_HEADER: sign(secret, data), DELIVERY_HEADER: delivery_id, "Idempotency-Key": delivery_id,
               EVENT_HEADER: event_type}
    try:
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the scheme is checked on add
            status = resp.status
    except urllib.error.HTTPError as exc:
        return {"ok": False, "status_code": exc.code, "error": f"HTTP {exc.code}",
                "retry": exc.code in RETRY_STATUS or exc.code >= 500}
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, ValueError) as exc:
        return {"ok": False, "status_code": None, "error": type(getattr(exc, "reason", exc)).__name__, "retry": True}
    return {"ok": 200 <= status < 300, "status_code": status, "error": None if 200 <= status < 300 else f"HTTP {status}",
            "retry": False}


def enqueue_run(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    """Put the ``run.completed`` event of ``run_id`` into the outbox, one row per webhook (once per pair)."""
    hooks = _hooks(ws)
    if not hooks:
        return []
    event = run_event(ws, run_id)
    body, now = _body(event), _now()
    known = {r["delivery_id"] for r in _rows(ws, f'SELECT delivery_id FROM "{OUTBOX}" WHERE event_id = ?', [event["id"]])}
    rows = [{"delivery_id": f"{event['id']}.{h['webhook_id']}", "webhook_id": h["webhook_id"], "event_id": event["id"],
             "event": event["type"], "run_id": event["run"]["run_id"], "body": body, "created_at": now,
             "state": PENDING, "attempts": 0, "next_attempt_at": now, "status_code": None, "error": None,
             "finished_at": None} for h in hooks]
    rows = [r for r in rows if r["delivery_id"] not in known]
    if rows:
        with ws.store.transaction():
            ws.store.create_empty(OUTBOX, OUTBOX_SCHEMA, replace=False)
            ws.store.insert(OUTBOX, pd.DataFrame(rows, columns=list(OUTBOX_SCHEMA)), schema=OUTBOX_SCHEMA)
    return [_delivery(r) for r in rows]


def _delivery(r: dict[str, Any]) -> dict[str, Any]:
    out = {k: r.get(k) for k in ("delivery_id", "webhook_id", "event_id", "event", "run_id", "state", "attempts",
                                 "status_code", "error", "created_at", "next_attempt_at", "finished_at")}
    out["ok"] = r.get("state") == DELIVERED
    for k in ("created_at", "next_attempt_at", "finished_at"):
        v = out[k]
        out[k] = None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime()
    out["attempts"] = int(out["attempts"] or 0)
    out["status_code"] = None if out["status_code"] is None or pd.isna(out["status_code"]) else int(out["status_code"])
    if out["state"] != PENDING:
        out["next_attempt_at"] = None
    return out


def deliveries(ws: Workspace, run_id: str | None = None) -> list[dict[str, Any]]:
    """The outbox, newest first (optionally of one run's event): state, attempts, last status and error.

    ``run_id`` is any run reference :func:`sikta.service.runs.get_run` takes; an unknown one is an
    error (an empty list read as "nothing was sent")."""
    if run_id:
        from sikta.service.runs import get_run

        run_id = get_run(ws, run_id)["run_id"]
    where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
    cols = ", ".join(f'"{c}"' for c in OUTBOX_SCHEMA if c != "body")
    rows = _rows(ws, f'SELECT {cols} FROM "{OUTBOX}" {where} ORDER BY created_at DESC, delivery_id', params)
    return [_delivery(r) for r in rows]


def due(ws: Workspace, now: datetime | None = None) -> list[dict[str, Any]]:
    """Pending deliveries whose time has come, with their webhook's URL and secret (None: webhook removed)."""
    return _rows(ws, f'SELECT o.*, w.url, w.secret FROM "{OUTBOX}" o LEFT JOIN "{WEBHOOKS}" w USING (webhook_id) '
                     "WHERE o.state = ? AND o.next_attempt_at <= ? ORDER BY o.next_attempt_at, o.delivery_id",
                 [PENDING, now or _now()])


def next_due(ws: Workspace) -> datetime | None:
    """When the next pending delivery is due (None: nothing pending)."""
    rows = _rows(ws, f'SELECT min(next_attempt_at) AS t FROM "{OUTBOX}" WHERE state = ?', [PENDING])
    return None if not rows or rows[0]["t"] is None else pd.Timestamp(rows[0]["t"]).to_pydatetime()


def outcome(row: dict[str, Any], result: dict[str, Any], policy: RetryPolicy, now: datetime | None = None
            ) -> dict[str, Any]:
    """The outbox row's new state after one attempt (delivered, pending again at a later time, or failed)."""
    now = now or _now()
    attempts = int(row["attempts"] or 0) + 1
    new = {"attempts": attempts, "status_code": result["status_code"], "error": result["error"]}
    if result["ok"]:
        return {**new, "state": DELIVERED, "finished_at": now, "next_attempt_at": None, "error": None}
    deadline = pd.Timestamp(row["created_at"]).to_pydatetime() + timedelta(seconds=policy.period)
    if not result["retry"] or now >= deadline:
        return {**new, "state": FAILED, "finished_at": now, "next_attempt_at": None}
    # one last try at the end of the period, not past it
    return {**new, "state": PENDING, "next_attempt_at": min(now + timedelta(seconds=policy.delay(attempts)), deadline),
            "finished_at": None}


def record(ws: Workspace, changes: list[tuple[str, dict[str, Any]]]) -> None:
    """Write the outcomes of one pass (``delivery_id``, :func:`outcome`) in one transaction."""
    if not changes:
        return
    with ws.store.transaction():
        for delivery_id, c in changes:
            ws.store.execute(f'UPDATE "{OUTBOX}" SET state = ?, attempts = ?, status_code = ?, error = ?, '
                             "next_attempt_at = ?, finished_at = ? WHERE delivery_id = ? AND state = ?",
                             [c["state"], c["attempts"], c["status_code"], c["error"], c["next_attempt_at"],
                              c["finished_at"], delivery_id, PENDING])


def send_due(rows: list[dict[str, Any]], policy: RetryPolicy, *, stop: threading.Event | None = None
             ) -> list[tuple[str, dict[str, Any]]]:
    """Try each due row once (no workspace needed meanwhile); returns the outcomes to :func:`record`."""
    changes = []
    for row in rows:
        if stop is not None and stop.is_set():
            break
        if row.get("url") is None:  # the webhook was removed: nobody to send to
            result = {"ok": False, "status_code": None, "error": "webhook removed", "retry": False}
        else:
            result = attempt(row["url"], row["secret"], row["body"], delivery_id=row["delivery_id"],
                             event_type=row["event"], timeout=policy.timeout)
            if not result["ok"]:
                # the host only: a URL's path or query may carry a receiver's own token
                log.warning("webhook %s (%s) attempt %d failed: %s", row["webhook_id"],
                            urlsplit(row["url"]).hostname, int(row["attempts"] or 0) + 1, result["error"])
        changes.append((row["delivery_id"], outcome(row, result, policy)))
    return changes


def notify_run(ws: Workspace, run_id: str, policy: RetryPolicy | None = None) -> list[dict[str, Any]]:
    """For a process without a sender (``sikta run``): queue the event, try each delivery once, record it.

    What is still pending is sent by the next ``sikta serve`` (its :class:`Sender` starts with the
    outbox's due rows).
    """
    queued = enqueue_run(ws, run_id)
    if not queued:
        return []
    policy = policy or RetryPolicy()
    rows = [r for r in due(ws) if r["run_id"] == run_id]
    record(ws, send_due(rows, policy))
    return [d for d in deliveries(ws, run_id) if d["delivery_id"] in {q["delivery_id"] for q in queued}]


class Sender:
    """Sends the outbox in a thread of its own (one per server), never on the job worker.

    Parameters
    ----------
    read
        Runs a function with the workspace for reading (the app's lock held), returns its result.
    write
        Runs a function with the workspace opened for writing, returns its result.
    policy
        The :class:`RetryPolicy`.
    """

    def __init__(self, read: Callable[[Callable[[Workspace], Any]], Any],
                 write: Callable[[Callable[[Workspace], Any]], Any], policy: RetryPolicy | None = None) -> None:
        self.read, self.write = read, write
        self.policy = policy or RetryPolicy()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sending (first what became due while no server ran)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sikta-webhooks", daemon=True)
            self._thread.start()

    def poke(self) -> None:
        """New rows are in the outbox: look now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                rows = self.read(lambda ws: due(ws))
                if rows:
                    changes = send_due(rows, self.policy, stop=self._stop)
                    self.write(lambda ws: record(ws, changes))
                when = self.read(next_due)
            except Exception:  # noqa: BLE001 - the sender must outlive a bad pass; the log has it
                log.exception("webhook sender pass failed")
                when = _now() + timedelta(seconds=max(self.policy.backoff, 1.0))
            wait = 300.0 if when is None else max(0.0, (when - _now()).total_seconds())
            self._wake.wait(min(wait, 300.0))

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the attempt at hand (an unsent delivery stays pending in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = ["add_webhook", "list_webhooks", "remove_webhook", "notify_run", "attempt", "sign", "run_event",
           "deliveries", "enqueue_run", "due", "next_due", "outcome", "record", "send_due", "RetryPolicy", "Sender",
           "OUTBOX", "PENDING", "DELIVERED", "FAILED"]
