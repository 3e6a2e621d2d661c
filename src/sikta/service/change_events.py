"""Per-account change events for webhooks, with a delivery log: ``sikta webhook send`` (SPEC §4.6).

Besides the ``run.completed`` event (:mod:`sikta.service.webhooks`), a
webhook receives ``accounts.changed`` events: one item per unit whose group
or segment changed (the alerts of :mod:`sikta.service.alerts`: ``unit_id``,
``dimension``, ``from``, ``to``, ``change``, ``merged_into``; ids and labels
only, no names, no personal data), in batches of :data:`BATCH` items per
event, each event signed and sent like every webhook event (``Sikta-Signature``
over the exact body, the same ``Sikta-Delivery`` / ``Idempotency-Key`` on
every attempt, so a receiver recognizes a repeat).

The **delivery log** is the webhook outbox itself: for each webhook,
:func:`send` finds the last run whose change events to it were all
delivered and sends the changes from that run to the target run (default the
latest at its grain). A webhook that never received any gets the changes
since the run before the target. Events already delivered are never sent
again; events that failed or are still pending are tried again, so a later
call sends exactly what was not delivered.

Examples
--------
>>> [len(b) for b in batches(list(range(1200)), 500)]
[500, 500, 200]
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from sikta import __version__
from sikta.errors import UsageError
from sikta.service import alerts as alerts_svc
from sikta.service import operate_units as ou
from sikta.service import runs as runs_svc
from sikta.service import webhooks as wh

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["ACCOUNTS_CHANGED", "BATCH", "batches", "change_events", "send"]

ACCOUNTS_CHANGED = "accounts.changed"
#: account changes per event
BATCH = 500


def batches(items: list[Any], size: int = BATCH) -> list[list[Any]]:
    """``items`` in consecutive chunks of at most ``size``."""
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def _event_prefix(run_from: str, run_to: str) -> str:
    return f"evt_chg_{run_from}_{run_to}"


def change_events(ws: Workspace, run_from: str, run_to: str) -> list[dict[str, Any]]:
    """The ``accounts.changed`` events from ``run_from`` to ``run_to`` (at least one, maybe with no changes)."""
    doc = alerts_svc.alerts(ws, run_from, run_to, store=False)
    a, b = doc["run_from"], doc["run_to"]
    frame = doc["alerts"]
    items = [{"unit_id": r["unit_id"], "dimension": r["dimension"], "from": r["value_from"], "to": r["value_to"],
              "change": r["change"], "merged_into": r["merged_into"]}
             for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]
    meta = runs_svc.get_run(ws, b)
    chunks = batches(items, BATCH)
    now = wh._now().isoformat() + "Z"
    return [{"id": f"{_event_prefix(a, b)}_{i + 1}", "type": ACCOUNTS_CHANGED, "created_at": now,
             "sikta_version": __version__, "run_from": a, "run_to": b, "grain": meta["grain"],
             "as_of": str(pd.Timestamp(meta["as_of"]).date()), "batch": i + 1, "batches": len(chunks),
             "total": len(items), "changes": chunk} for i, chunk in enumerate(chunks)]


def _log(ws: Workspace, webhook_id: str) -> list[dict[str, Any]]:
    """This webhook's change-event rows of the outbox (the delivery log)."""
    return ws.store.records(f'SELECT delivery_id, event_id, run_id, state, body FROM "{wh.OUTBOX}" '
                            "WHERE webhook_id = ? AND event = ?", [webhook_id, ACCOUNTS_CHANGED], missing_ok=True)


def _last_delivered(ws: Workspace, rows: list[dict[str, Any]], grain: str) -> str | None:
    """The newest run (at ``grain``) whose change events to the webhook were all delivered."""
    by_run: dict[str, list[str]] = {}
    for r in rows:
        by_run.setdefault(r["run_id"], []).append(r["state"])
    done = {run for run, states in by_run.items() if all(s == wh.DELIVERED for s in states)}
    listing = runs_svc.list_runs(ws)
    listing = listing[listing["grain"] == grain]
    return next((run for run in listing["run_id"] if run in done), None)  # newest first


def _enqueue(ws: Workspace, hook: dict[str, Any], events: list[dict[str, Any]], known: set[str]) -> int:
    now = wh._now()
    rows = [{"delivery_id": f"{e['id']}.{hook['webhook_id']}", "webhook_id": hook["webhook_id"], "event_id": e["id"],
             "event": ACCOUNTS_CHANGED, "run_id": e["run_to"], "body": wh._body(e), "created_at": now,
             "state": wh.PENDING, "attempts": 0, "next_attempt_at": now, "status_code": None, "error": None,
             "finished_at": None} for e in events]
    rows = [r for r in rows if r["delivery_id"] not in known]
    if rows:
        with ws.store.transaction():
            ws.store.create_empty(wh.OUTBOX, wh.OUTBOX_SCHEMA, replace=False)
            ws.store.insert(wh.OUTBOX, pd.DataFrame(rows, columns=list(wh.OUTBOX_SCHEMA)), schema=wh.OUTBOX_SCHEMA)
    return len(rows)


def send(ws: Workspace, run: str | None = None, *, webhook_id: str | None = None, attempts: int = 3,
         backoff: float = 1.0, timeout: float = 10.0) -> dict[str, Any]:
    """Queue and send the change events each webhook has not received, up to ``run`` (default the latest).

    Each undelivered event is tried up to ``attempts`` times in this call,
    ``backoff`` seconds apart (doubling); what still fails stays in the
    outbox (pending, or failed when the receiver refused it) and a later call
    tries it again. Returns, per webhook, the runs compared, the events
    queued, delivered and left, and the delivery rows.
    """
    if attempts < 1:
        raise UsageError("attempts must be at least 1")
    hooks = [h for h in wh._hooks(ws) if webhook_id in (None, h["webhook_id"])]
    if webhook_id is not None and not hooks:
        from sikta.errors import NotFoundError

        raise NotFoundError(f"no webhook {webhook_id!r} (see 'sikta webhook list')")
    target = runs_svc.get_run(ws, run)
    report: list[dict[str, Any]] = []
    for hook in hooks:
        log = _log(ws, hook["webhook_id"])
        base = _last_delivered(ws, log, target["grain"])
        if base is None:
            prev = ou.previous_run(ws, target)
            base = prev["run_id"] if prev is not None else None
        queued = 0
        if base is not None and base != target["run_id"]:
            known = {r["delivery_id"] for r in log}
            queued = _enqueue(ws, hook, change_events(ws, base, target["run_id"]), known)
        # everything of this webhook not delivered yet: this call's events and earlier leftovers
        wh_rows = [r for r in _log(ws, hook["webhook_id"]) if r["state"] != wh.DELIVERED]
        if any(r["state"] == wh.FAILED for r in wh_rows):  # asked again explicitly: give refused events a new try
            with ws.store.transaction():
                for r in wh_rows:
                    if r["state"] == wh.FAILED:
                        ws.store.execute(f'UPDATE "{wh.OUTBOX}" SET state = ?, next_attempt_at = ? '
                                             "WHERE delivery_id = ?", [wh.PENDING, wh._now(), r["delivery_id"]])
        ids = {r["delivery_id"] for r in wh_rows}
        policy = wh.RetryPolicy(backoff=backoff, max_interval=max(backoff, 60.0), period=365 * 86400, timeout=timeout)
        for n in range(attempts):
            pending = [r for r in wh.due(ws, now=wh._now() + pd.Timedelta(days=1))
                       if r["delivery_id"] in ids and r["state"] == wh.PENDING]
            if not pending:
                break
            if n:
                time.sleep(policy.delay(n))
            wh.record(ws, wh.send_due(pending, policy))
        rows = [d for d in wh.deliveries(ws) if d["delivery_id"] in ids]
        report.append({"webhook_id": hook["webhook_id"], "url": hook["url"], "run_from": base,
                       "run_to": target["run_id"], "queued": queued,
                       "delivered": sum(1 for d in rows if d["state"] == wh.DELIVERED),
                       "left": sum(1 for d in rows if d["state"] != wh.DELIVERED), "deliveries": rows})
    return {"run_id": target["run_id"], "webhooks": report}


def describe(body: str) -> dict[str, Any]:
    """The summary of one stored event body (for listings)."""
    e = json.loads(body)
    return {k: e.get(k) for k in ("id", "type", "run_from", "run_to", "batch", "batches", "total")}
