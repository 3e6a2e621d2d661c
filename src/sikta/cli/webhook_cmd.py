"""``sikta webhook add | list | remove | send``: webhooks from the command line, with their delivery log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sikta.cli.app import JsonOpt, WorkspaceOpt, _json, _open, _progress, app, out
from sikta.cli.errors import handles_errors
from sikta.cli.operate_cmd import RunOpt

webhook_app = typer.Typer(help="Webhooks: signed, retried, idempotent events for a CRM or automation tool.",
                          no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")


@webhook_app.command("add")
@handles_errors
def webhook_add(
    url: Annotated[str, typer.Argument(help="http:// or https:// URL that receives the events.")],
    secret: Annotated[str | None, typer.Option(help="Shared secret (16+ characters) [default: generated, printed once].")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a webhook; prints its secret once (the receiver checks Sikta-Signature with it)."""
    from sikta.service.webhooks import add_webhook

    with _open(workspace, write=True) as ws:
        record, plain = add_webhook(ws, url, secret)
    if as_json:
        _json({**record, "secret": plain})
        return
    out.print(f"webhook {record['webhook_id']} → {escape(url)}")
    out.print(f"secret (shown once): {plain}")


@webhook_app.command("list")
@handles_errors
def webhook_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The webhooks (never their secrets) and what each has received."""
    from sikta.service import webhooks as wh

    with _open(workspace) as ws:
        hooks = wh.list_webhooks(ws)
        log = wh.deliveries(ws)
    for h in hooks:
        mine = [d for d in log if d["webhook_id"] == h["webhook_id"]]
        h["delivered"] = sum(1 for d in mine if d["state"] == wh.DELIVERED)
        h["pending"] = sum(1 for d in mine if d["state"] == wh.PENDING)
        h["failed"] = sum(1 for d in mine if d["state"] == wh.FAILED)
        done = [d for d in mine if d["state"] == wh.DELIVERED and d["event"] == "accounts.changed"]
        h["last_changes_run"] = max(done, key=lambda d: d["created_at"])["run_id"] if done else None
    if as_json:
        _json(hooks)
        return
    if not hooks:
        out.print("no webhooks: 'sikta webhook add URL'")
        return
    t = Table()
    for c in ("id", "url", "created", "delivered", "pending", "failed", "changes sent up to run"):
        t.add_column(c, justify="right" if c in ("delivered", "pending", "failed") else "left")
    for h in hooks:
        t.add_row(h["webhook_id"], escape(h["url"]), str(h["created_at"])[:16], str(h["delivered"]), str(h["pending"]),
                  str(h["failed"]), h["last_changes_run"] or "–")
    out.print(t)


@webhook_app.command("remove")
@handles_errors
def webhook_remove(
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id (see 'sikta webhook list').")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop sending to a webhook."""
    from sikta.service.webhooks import remove_webhook

    with _open(workspace, write=True) as ws:
        gone = remove_webhook(ws, webhook_id)
    if as_json:
        _json(gone)
        return
    out.print(f"removed webhook {gone['webhook_id']} ({escape(gone['url'])})")


@webhook_app.command("send")
@handles_errors
def webhook_send(
    run: RunOpt = None,
    webhook_id: Annotated[str | None, typer.Option("--webhook", help="Only this webhook.")] = None,
    attempts: Annotated[int, typer.Option(help="Tries per event in this call.", min=1, max=20)] = 3,
    backoff: Annotated[float, typer.Option(help="Seconds before the second try (doubling).", min=0.0)] = 1.0,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send each webhook the per-account changes since the last run it received, up to RUN (the latest)."""
    from sikta.service.change_events import send

    with _open(workspace, write=True) as ws, _progress() as bar:
        bar.add_task("sending change events", total=None)
        doc = send(ws, run, webhook_id=webhook_id, attempts=attempts, backoff=backoff)
    if as_json:
        _json(doc)
        return
    if not doc["webhooks"]:
        out.print("no webhooks: 'sikta webhook add URL'")
        return
    for h in doc["webhooks"]:
        span = f"{h['run_from']} → {h['run_to']}" if h["run_from"] else f"{h['run_to']} (no earlier run)"
        line = (f"{h['webhook_id']} ({escape(h['url'])}): changes {span}: {h['queued']} new event(s), "
                f"{h['delivered']} delivered")
        out.print(line + (f", [yellow]{h['left']} not delivered yet[/] (sent again by the next call)" if h["left"] else ""))
