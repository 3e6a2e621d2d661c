"""Tokens, exports, background runs and webhooks, end to end through the API."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from sikta.errors import ModelError
from sikta.service import runs, tokens, webhooks
from sikta.service.runs import run_table
from tests.api.conftest import SECOND_MODEL
from tests.api.test_auth import assert_error


class Receiver:
    """A webhook receiver on a loopback port that fails its first ``fail`` requests with 503."""

    def __init__(self, fail: int = 1) -> None:
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 503 if len(receiver.calls) < receiver.fail else 200
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sikta"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


# -- tokens ------------------------------------------------------------------------
def test_a_token_is_shown_once_and_only_its_hash_is_stored(api):
    r = api.client.post("/api/v1/tokens", headers=api.headers("admin"), json={"role": "analyst", "name": "ci"})
    assert r.status_code == 201
    created = r.json()
    token = created["token"]
    assert token.startswith("sk_") and len(token) > 40
    listing = api.client.get("/api/v1/tokens", headers=api.headers("admin"))
    assert token not in listing.text and hashlib.sha256(token.encode()).hexdigest() not in listing.text
    assert created["token_id"] in listing.text
    stored = [r for r in api.sql("SELECT * FROM _sikta_tokens") if created["token_id"] in r]
    assert len(stored) == 1
    assert hashlib.sha256(token.encode()).hexdigest() in stored[0]
    # the plaintext is nowhere in the table, not even in part
    every_cell = " ".join(str(c) for row in api.sql("SELECT * FROM _sikta_tokens") for c in row)
    assert token not in every_cell and token[3:20] not in every_cell
    # it works, with its role
    assert api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "analyst"


def test_a_revoked_token_stops_working_at_once(api):
    token = api.client.post("/api/v1/tokens", headers=api.headers("admin"), json={"role": "admin"}).json()
    me = {"Authorization": f"Bearer {token['token']}"}
    assert api.client.get("/api/v1/tokens", headers=me).status_code == 200
    r = api.client.delete(f"/api/v1/tokens/{token['token_id']}", headers=api.headers("admin"))
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert_error(api.client.get("/api/v1/tokens", headers=me), 401)
    again = api.client.delete(f"/api/v1/tokens/{token['token_id']}", headers=api.headers("admin")).json()
    assert again["revoked_at"] == r.json()["revoked_at"]  # revoking twice keeps the first time
    assert_error(api.client.delete("/api/v1/tokens/tok_nope", headers=api.headers("admin")), 404)


def test_token_service_rejects_unknown_roles(api):
    with pytest.raises(Exception, match="not one of viewer, analyst, admin"):
        tokens.create_token(api.ws, "root")
    assert tokens.verify_token(api.ws, "") is None and tokens.verify_token(api.ws, "sk_" + "x" * 300) is None


# -- exports -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_exports_hold_the_run_and_no_personal_data(api, fmt):
    r = api.client.post("/api/v1/exports", headers=api.headers("admin"), json={"run": "latest", "format": fmt})
    assert r.status_code == 201, r.text
    e = r.json()
    frame = pd.read_csv(e["path"]) if fmt == "csv" else pd.read_parquet(e["path"])
    run_id = api.get("/api/v1/runs/latest").json()["run_id"]
    truth = dict(api.sql(f'SELECT unit_id, "group" FROM "{run_table(run_id)}"'))
    assert e["rows"] == len(frame) == len(truth)
    assert dict(zip(frame.unit_id, frame.group, strict=True)) == truth
    assert set(frame.run_id) == {run_id}
    assert not {"email", "contact_id"} & set(frame.columns)
    cells = {str(v) for v in frame.to_numpy().ravel()}
    assert not any("@" in c for c in cells)
    people = {v for r in api.sql("SELECT name, email FROM contacts") for v in r if v}
    assert people and not cells & people
    text = open(e["path"], "rb").read()
    download = api.client.get(f"/api/v1/exports/{e['export_id']}/file", headers=api.headers("admin"))
    assert download.status_code == 200 and download.content == text
    listed = api.client.get("/api/v1/exports", headers=api.headers("admin")).json()["exports"]
    assert e["export_id"] in [x["export_id"] for x in listed]


def test_an_export_of_some_groups(api):
    e = api.client.post("/api/v1/exports", headers=api.headers("admin"),
                        json={"run": "previous", "groups": ["invest", "qualify"]}).json()
    frame = pd.read_csv(e["path"])
    assert set(frame.group) == {"invest", "qualify"} and e["groups"] == ["invest", "qualify"]
    assert_error(api.client.post("/api/v1/exports", headers=api.headers("admin"), json={"run": "nope"}), 404)
    assert_error(api.client.post("/api/v1/exports", headers=api.headers("admin"), json={"format": "xlsx"}), 422)


# -- models, jobs and webhooks --------------------------------------------------------------
def test_validate_reports_problems_with_their_line(api):
    h = {**api.headers("analyst"), "Content-Type": "application/yaml"}
    ok = api.client.post("/api/v1/models/validate", headers=h, content=SECOND_MODEL).json()
    assert ok["ok"] and ok["checked_against_features"] and ok["name"] == "starter"
    bad = SECOND_MODEL.replace("expr: log(employees + 1)", "expr: log(employes + 1)")
    body = api.client.post("/api/v1/models/validate", headers=h, content=bad).json()
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "employes" in t)
    assert not body["ok"] and body["errors"][0]["line"] == line and "employees" in body["errors"][0]["message"]
    r = api.client.post("/api/v1/runs", headers=h, content=bad)
    assert assert_error(r, 422)["type"] == "ModelError"


def test_a_background_run_completes_and_signed_webhooks_announce_it(api):
    receiver = Receiver(fail=1)
    try:
        hook = api.client.post("/api/v1/webhooks", headers=api.headers("admin"), json={"url": receiver.url}).json()
        listing = api.client.get("/api/v1/webhooks", headers=api.headers("admin")).text
        assert hook["secret"] not in listing
        before = [r["run_id"] for r in api.get("/api/v1/runs").json()["runs"]]
        h = {**api.headers("analyst"), "Content-Type": "text/plain"}
        r = api.client.post("/api/v1/runs", headers=h, content=SECOND_MODEL)
        assert r.status_code == 202
        job = r.json()
        assert r.headers["location"] == f"/api/v1/jobs/{job['job_id']}" and job["status"] in ("queued", "running")
        done = wait_for(lambda: (j := api.get(f"/api/v1/jobs/{job['job_id']}", "analyst").json())["status"]
                        in ("done", "failed") and j)
        assert done["status"] == "done", done
        runs_now = [r["run_id"] for r in api.get("/api/v1/runs").json()["runs"]]
        assert runs_now[0] == done["run_id"] and runs_now[1:] == before
        assert api.get("/api/v1/runs/latest").json()["run_id"] == done["run_id"]
        # the job prepared the new run for account reads: its document table, read by the reader
        with api.app.state.sikta.lock:
            ctx = api.app.state.sikta.reader.account_context("latest")
        assert ctx["run_doc"] == f"_sikta_doc_{run_table(done['run_id'])}@"
        assert api.sql(f'SELECT count(*) FROM "{ctx["run_doc"]}"') == api.sql(f'SELECT count(*) FROM "{run_table(done["run_id"])}"')
        assert sum(g["accounts"] for g in api.get("/api/v1/groups").json()["groups"]) == \
            api.get("/api/v1/runs/latest").json()["units"]
        wait_for(lambda: len(receiver.calls) >= 2)
        (h1, b1, s1), (h2, b2, s2) = receiver.calls[:2]
        assert (s1, s2) == (503, 200)  # the first attempt failed and was retried
        assert b1 == b2 and h1["sikta-delivery"] == h2["sikta-delivery"] == h2["idempotency-key"]
        expected = "sha256=" + hmac.new(hook["secret"].encode(), b2, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(h2["sikta-signature"], expected)
        event = json.loads(b2)
        assert event["type"] == "run.completed" and event["run"]["run_id"] == done["run_id"]
        assert event["changes"]["previous_run_id"] == before[0]
        # the same model on the same data: nobody moved since the run before
        assert event["changes"]["moved"] == 0
        logged = wait_for(lambda: (d := api.client.get(f"/api/v1/webhooks/deliveries?run={done['run_id']}",
                                                       headers=api.headers("admin")).json()["deliveries"])
                          and d[0]["state"] == "delivered" and d)
        assert logged[0]["ok"] and logged[0]["attempts"] == 2 and logged[0]["status_code"] == 200
        job_after = wait_for(lambda: (j := api.get(f"/api/v1/jobs/{job['job_id']}", "analyst").json())["webhooks"] and j)
        assert job_after["webhooks"][0]["delivery_id"] == h2["sikta-delivery"]
        api.client.delete(f"/api/v1/webhooks/{hook['webhook_id']}", headers=api.headers("admin"))
        assert hook["webhook_id"] not in api.client.get("/api/v1/webhooks", headers=api.headers("admin")).text
    finally:
        receiver.close()


def test_a_tampered_body_fails_the_signature_check():
    body = json.dumps({"type": "run.completed", "run": {"run_id": "x"}}).encode()
    sig = webhooks.sign("a-long-enough-secret", body)
    tampered = body.replace(b"x", b"y")
    assert not hmac.compare_digest(sig, webhooks.sign("a-long-enough-secret", tampered))


def test_a_dead_port_is_tried_again_and_a_client_error_is_final():
    receiver = Receiver(fail=0)
    receiver.close()  # now nobody listens on that port
    dead = webhooks.attempt(receiver.url, "s" * 16, "{}", delivery_id="d", event_type="t", timeout=1)
    assert not dead["ok"] and dead["retry"] and dead["status_code"] is None
    policy = webhooks.RetryPolicy(backoff=0.5, max_interval=10, period=60)
    created = webhooks._now()
    row = {"attempts": 0, "created_at": created}
    later = [webhooks.outcome({**row, "attempts": n}, dead, policy, now=created) for n in range(5)]
    assert [(o["next_attempt_at"] - created).total_seconds() for o in later] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert all(o["state"] == "pending" for o in later)
    gone = webhooks.outcome(row, dead, policy, now=created + dt.timedelta(seconds=61))
    assert gone["state"] == "failed"  # the retry period is over
    refused = {"ok": False, "status_code": 410, "error": "HTTP 410", "retry": False}
    assert webhooks.outcome(row, refused, policy)["state"] == "failed"  # the receiver's final word


def test_a_failing_run_fails_its_job_with_the_message(api, monkeypatch):
    def broken(ws, model, as_of=None):
        raise ModelError("model.yaml:3: the data has no such thing")

    monkeypatch.setattr(runs, "create_run", broken)
    h = {**api.headers("analyst"), "Content-Type": "application/yaml"}
    job = api.client.post("/api/v1/runs", headers=h, content=SECOND_MODEL).json()
    done = wait_for(lambda: (j := api.get(f"/api/v1/jobs/{job['job_id']}", "analyst").json())["status"] == "failed" and j)
    assert done["error"] == {"type": "ModelError", "message": "model.yaml:3: the data has no such thing"}
    assert done["job_id"] in [j["job_id"] for j in api.get("/api/v1/jobs", "analyst").json()["jobs"]]


def test_webhook_urls_must_be_http(api):
    r = api.client.post("/api/v1/webhooks", headers=api.headers("admin"), json={"url": "file:///etc/passwd"})
    assert assert_error(r, 400)["type"] == "UsageError"
    r = api.client.post("/api/v1/webhooks", headers=api.headers("admin"), json={"url": "http://x", "secret": "short"})
    assert_error(r, 422)


def test_the_app_holds_the_file_read_only_and_writes_briefly(api):
    """Another process can read the workspace while the app serves it; a write of the app opens the file
    for writing for that write only."""
    import subprocess
    import sys

    st = api.app.state.sikta
    assert st.ws.store.read_only
    reader = subprocess.run([sys.executable, "-c", f"import duckdb; c = duckdb.connect({str(api.path)!r}, read_only=True); "
                             "print(c.execute('SELECT count(*) FROM _sikta_runs').fetchone()[0])"],
                            capture_output=True, text=True, timeout=120)
    assert reader.returncode == 0, reader.stderr
    assert int(reader.stdout) == len(api.get("/api/v1/runs").json()["runs"])
    before = dict(st.opened)
    r = api.client.post("/api/v1/tokens", headers=api.headers("admin"), json={"role": "viewer"})
    assert r.status_code == 201
    assert st.ws.store.read_only and st.opened == {"read_only": before["read_only"] + 1, "write": before["write"] + 1}


def test_deliveries_of_an_unknown_run_are_a_404(api):
    # an empty list read as "nothing was sent for that run"
    r = api.client.get("/api/v1/webhooks/deliveries?run=nope", headers=api.headers("admin"))
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    ok = api.client.get("/api/v1/webhooks/deliveries?run=latest", headers=api.headers("admin"))
    assert ok.status_code == 200 and isinstance(ok.json()["deliveries"], list)
