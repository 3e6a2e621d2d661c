"""Per-account change events against a real local HTTP receiver that fails the first attempts.

Every event arrives, every signature verifies over the exact body, a repeat carries the same
delivery key, and a later send delivers only what was not delivered before (the outbox is the log).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from sikta.service import change_events as ce
from sikta.service import webhooks as wh
from sikta.service.model import model_from_text
from sikta.service.workspace import Workspace
from tests.conftest import write
from tests.security.test_webhook_faults import Receiver, _free_port
from tests.service.test_operate import ACCOUNTS, MODEL, ORDERS

SECRET = "0123456789abcdef-secret"


@pytest.fixture
def world(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write(data, "accounts.csv", ACCOUNTS)
    write(data, "orders.csv", ORDERS)
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.ingest(data)
    first = ws.run(model_from_text(MODEL, source="m.yaml"))
    # retail loses its pain: A1, A2 invest → qualify, A4 streamline → maintain
    second = ws.run(model_from_text(MODEL.replace("rule: industry == 'retail'", "rule: industry == 'none'"), source="m.yaml"))
    receiver = Receiver(_free_port())
    receiver.up()
    yield ws, first.run_id, second.run_id, receiver
    receiver.down()
    ws.close()


def _verified(call) -> dict:
    expected = "sha256=" + hmac.new(SECRET.encode(), call["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(call["headers"]["sikta-signature"], expected)
    assert call["headers"]["idempotency-key"] == call["headers"]["sikta-delivery"]
    return json.loads(call["body"])


def test_changes_arrive_despite_failures_and_are_sent_once(world):
    ws, first, second, receiver = world
    hook, _ = wh.add_webhook(ws, f"http://127.0.0.1:{receiver.port}/hook", SECRET)
    receiver.plan = ["500", "500"]  # the first two attempts fail
    doc = ce.send(ws, attempts=4, backoff=0.05)
    h = doc["webhooks"][0]
    assert (h["run_from"], h["run_to"], h["queued"], h["delivered"], h["left"]) == (first, second, 1, 1, 0)
    events = [_verified(c) for c in receiver.calls]
    assert [c["action"] for c in receiver.calls] == ["500", "500", "ok"]
    keys = {c["headers"]["sikta-delivery"] for c in receiver.calls}
    assert len(keys) == 1  # the same key on every attempt: a receiver recognizes the repeats
    got = {(c["unit_id"], c["from"], c["to"], c["change"]) for c in events[-1]["changes"]}
    assert got == {("A1", "invest", "qualify", "downgrade"), ("A2", "invest", "qualify", "downgrade"),
                   ("A4", "streamline", "maintain", "downgrade")}
    assert events[-1]["type"] == "accounts.changed" and "name" not in json.dumps(events[-1]["changes"])
    # nothing new: a second call sends nothing
    again = ce.send(ws, attempts=2, backoff=0.05)["webhooks"][0]
    assert again["run_from"] == second and again["queued"] == 0 and len(receiver.calls) == 3
    # a new run: only its changes (from the last delivered run) go out
    third = ws.run(model_from_text(MODEL.replace("version: 1", "version: 3"), source="m.yaml"))
    h3 = ce.send(ws)["webhooks"][0]
    assert (h3["run_from"], h3["run_to"], h3["delivered"]) == (second, third.run_id, 1)
    back = _verified(receiver.calls[-1])
    assert {(c["unit_id"], c["to"]) for c in back["changes"]} == {("A1", "invest"), ("A2", "invest"),
                                                                  ("A4", "streamline")}


def test_what_is_not_delivered_is_sent_by_a_later_call(world):
    ws, first, second, receiver = world
    wh.add_webhook(ws, f"http://127.0.0.1:{receiver.port}/hook", SECRET)
    receiver.plan = ["500"] * 5
    h = ce.send(ws, attempts=2, backoff=0.05)["webhooks"][0]
    assert h["delivered"] == 0 and h["left"] == 1 and len(receiver.calls) == 2
    receiver.down()
    h = ce.send(ws, attempts=2, backoff=0.05)["webhooks"][0]  # receiver down: still left, not lost
    assert h["queued"] == 0 and h["left"] == 1
    receiver.up()
    receiver.plan = []
    h = ce.send(ws, attempts=2, backoff=0.05)["webhooks"][0]
    assert h["delivered"] == 1 and h["left"] == 0
    bodies = [c["body"] for c in receiver.calls]
    assert len(set(bodies)) == 1  # the same event, byte for byte, on every attempt
    _verified(receiver.calls[-1])


def test_large_changes_go_in_batches(world, monkeypatch):
    ws, first, second, receiver = world
    monkeypatch.setattr(ce, "BATCH", 2)
    wh.add_webhook(ws, f"http://127.0.0.1:{receiver.port}/hook", SECRET)
    h = ce.send(ws)["webhooks"][0]
    events = [_verified(c) for c in receiver.calls]
    assert h["queued"] == 2 and [e["batch"] for e in events] == [1, 2] and {e["batches"] for e in events} == {2}
    assert sum(len(e["changes"]) for e in events) == 3 == events[0]["total"]
