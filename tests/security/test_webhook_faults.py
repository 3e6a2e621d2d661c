"""Webhook delivery against a real local receiver that fails in every way a real one does.

The receiver is down at first, then answers slower than the sender waits, then with 500s, and
the sender (the whole server app) is restarted in between. Every event still arrives, every
signature verifies, and repeats carry the same delivery key. Before the outbox, an event was lost
after ~3.5 s of downtime, a slow receiver got it 4 times while the delivery was logged as failed,
and deliveries held up the job worker. The backoff is made short here (it is configurable).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from sikta.api import create_app
from sikta.service import tokens, webhooks
from sikta.service.workspace import Workspace
from tests.api.conftest import SECOND_MODEL

POLICY = {"backoff": 0.05, "max_interval": 0.3, "period": 120.0, "timeout": 0.5}


class Receiver:
    """A receiver on a fixed loopback port that can go down and come back, and misbehave on cue."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls: list[dict] = []  # every request that reached it, with what it answered
        self.plan: list[str] = []  # what to do with the next requests: "slow", "500"; then "ok"
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                action = receiver.plan.pop(0) if receiver.plan else "ok"
                receiver.calls.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                                       "action": action})
                if action == "slow":
                    time.sleep(POLICY["timeout"] * 3)  # the sender gave up waiting long ago
                status = 500 if action == "500" else 200
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the sender hung up

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def setup(base_workspace, tmp_path):
    path = tmp_path / "ws.duckdb"
    shutil.copy(base_workspace, path)
    receiver = Receiver(_free_port())
    with Workspace(path) as ws:
        analyst, _ = tokens.create_token(ws, "analyst")
        hook, secret = webhooks.add_webhook(ws, f"http://127.0.0.1:{receiver.port}/hook")
    yield {"path": path, "receiver": receiver, "analyst": analyst, "secret": secret, "hook": hook}
    receiver.down()


def _outbox(app) -> list[dict]:
    st = app.state.sikta
    return st.read(lambda ws: webhooks.deliveries(ws))


def test_every_event_arrives_through_downtime_slowness_500s_and_a_restart(setup):
    receiver = setup["receiver"]
    h = {"Authorization": f"Bearer {setup['analyst']}", "Content-Type": "application/yaml"}
    # 1. the receiver is down; three runs complete all the same (the job worker never waits for it)
    app = create_app(setup["path"], webhook_options=POLICY)
    client = TestClient(app)
    run_ids = []
    for version in (2, 3, 4):
        job = client.post("/api/v1/runs", headers=h, content=SECOND_MODEL.replace("version: 1", f"version: {version}"))
        assert job.status_code == 202, job.text
        done = wait_for(lambda j=job.json(): (r := client.get(f"/api/v1/jobs/{j['job_id']}", headers=h).json())
                        ["status"] in ("done", "failed") and r)
        assert done["status"] == "done" and [w["state"] for w in done["webhooks"]] == ["pending"]
        run_ids.append(done["run_id"])
    wait_for(lambda: all(d["attempts"] >= 3 for d in _outbox(app)))  # tried again and again meanwhile
    assert {d["state"] for d in _outbox(app)} == {"pending"} and not receiver.calls
    # 2. the sender stops (server restart) with the events still pending
    app.state.jobs.close()
    app.state.sikta.close()
    # 3. the receiver comes back, slow for one request, then two 500s
    receiver.plan = ["slow", "500", "500"]
    receiver.up()
    app = create_app(setup["path"], webhook_options=POLICY)
    try:
        rows = wait_for(lambda: (o := _outbox(app)) and all(d["state"] == "delivered" for d in o) and o, timeout=60)
    finally:
        app.state.jobs.close()
        app.state.sikta.close()
    assert sorted(r["run_id"] for r in rows) == sorted(run_ids)
    # every request carried a valid signature over its exact bytes, and the same key on every repeat
    by_key: dict[str, set[bytes]] = {}
    for call in receiver.calls:
        expected = "sha256=" + hmac.new(setup["secret"].encode(), call["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(call["headers"]["sikta-signature"], expected)
        assert call["headers"]["idempotency-key"] == call["headers"]["sikta-delivery"]
        by_key.setdefault(call["headers"]["sikta-delivery"], set()).add(call["body"])
    assert all(len(bodies) == 1 for bodies in by_key.values())  # a repeat is byte for byte the same event
    events = {json.loads(next(iter(b)))["run"]["run_id"]: key for key, b in by_key.items()}
    assert sorted(events) == sorted(run_ids)  # every event arrived ...
    accepted = [c for c in receiver.calls if c["action"] == "ok"]
    assert sorted(json.loads(c["body"])["run"]["run_id"] for c in accepted) == sorted(run_ids)  # ... and was acknowledged
    # the slow answer and the 500s were repeats the receiver can recognize by key
    assert len(receiver.calls) == len(run_ids) + 3
    repeated = [k for k in by_key if sum(c["headers"]["sikta-delivery"] == k for c in receiver.calls) > 1]
    assert repeated
    assert all(r["attempts"] > 1 for r in rows)


def test_a_receiver_that_refuses_is_not_asked_again_and_a_removed_webhook_fails(setup):
    receiver = setup["receiver"]
    receiver.up()
    policy = webhooks.RetryPolicy(**POLICY)
    with Workspace(setup["path"]) as ws:
        run_id = ws.runs().run_id.iloc[0]
        queued = webhooks.enqueue_run(ws, run_id)
        assert webhooks.enqueue_run(ws, run_id) == []  # once per event and webhook
        rows = webhooks.due(ws)
        assert [r["delivery_id"] for r in rows] == [q["delivery_id"] for q in queued]
        webhooks.record(ws, webhooks.send_due(rows, policy))
        assert webhooks.deliveries(ws)[0]["state"] == "delivered"
        # an event for a webhook removed before it could be sent ends as failed, without a request
        hook2, _ = webhooks.add_webhook(ws, f"http://127.0.0.1:{receiver.port}/other")
        ws.store.execute(f'DELETE FROM "{webhooks.OUTBOX}"')
        webhooks.enqueue_run(ws, run_id)
        webhooks.remove_webhook(ws, hook2["webhook_id"])
        before = len(receiver.calls)
        webhooks.record(ws, webhooks.send_due(webhooks.due(ws), policy))
        states = {d["webhook_id"]: (d["state"], d["error"]) for d in webhooks.deliveries(ws)}
        assert states[hook2["webhook_id"]] == ("failed", "webhook removed")
        assert states[setup["hook"]["webhook_id"]][0] == "delivered"
        assert len(receiver.calls) == before + 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y", "javascript:alert(1)", "http://user:pw@x/h",
                                 "http:///nohost", "gopher://x"])
def test_only_http_and_https_urls_are_taken(tmp_path, url):
    with Workspace(tmp_path / "ws.duckdb") as ws, pytest.raises(Exception, match="webhook URL|user name"):
        webhooks.add_webhook(ws, url)
