"""The CLI next to a running ``sikta serve`` (a real server process on a loopback port).

Before, the server kept the workspace open for writing, and every CLI command, even ``status``,
failed with "in use by another process". Now reads work while it runs, ``token create|revoke``
and ``run`` go through the server (which sees the change at once), and other writes say in one
line what to do.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sikta.service import runs, serving, tokens
from sikta.service.model import model_from_text, starter_model_text
from sikta.service.workspace import Workspace
from sikta.synth import generate

ENV = {**os.environ, "SIKTA_LOCK_WAIT": "20", "COLUMNS": "200"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sikta(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI in a process of its own, as a user runs it."""
    return subprocess.run([sys.executable, "-c", "from sikta.cli import main; main()", *args], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def http(url: str, token: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def start_server(path: Path, log_level: str = "warning") -> tuple[subprocess.Popen, str]:
    """``sikta serve`` on a free loopback port in a process of its own, once it answers: (process, URL)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from sikta.cli import main; main()", "serve", "--port", str(port),
         "--log-level", log_level, "-w", str(path)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"the server stopped: {server.communicate()}")
        try:
            if http(f"{url}/api/v1/health") == 200:
                return server, url
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet: the deadline below fails the test
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail("the server did not answer within 60 s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A workspace with one run and an admin token, served by ``sikta serve`` in its own process."""
    d = tmp_path_factory.mktemp("served")
    generate(d / "data", accounts=300, seed=4, lines_per_account=10, years=2)
    path = d / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(d / "data")
        run = runs.create_run(ws, model_from_text(starter_model_text()))
        admin, _ = tokens.create_token(ws, "admin", name="admin")
        unit = ws.store.frame(runs.run_rows(ws).select("unit_id").limit(1))["unit_id"].iat[0]
    (d / "model.yaml").write_text(starter_model_text().replace("version: 1", "version: 2"), encoding="utf-8")
    server, url = start_server(path)
    yield {"path": path, "dir": d, "url": url, "admin": admin, "run_id": run.run_id, "unit": unit, "server": server}
    server.send_signal(signal.SIGINT)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()


def one_line(r: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_the_server_announces_itself_beside_the_workspace(served):
    found = serving.running_server(served["path"])
    assert found is not None and found["pid"] == served["server"].pid and found["url"] == served["url"]
    assert oct(serving.server_file(served["path"]).stat().st_mode & 0o777) == "0o600"  # holds an admin secret


@pytest.mark.parametrize("args", [["status"], ["runs"], ["quarantine"]])
def test_read_commands_work_while_the_server_runs(served, args):
    r = sikta(*args, "-w", str(served["path"]))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "in use by another process" not in r.stderr


def test_explain_and_report_work_while_the_server_runs(served, tmp_path):
    r = sikta("explain", served["unit"], "-w", str(served["path"]), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["run_id"] == served["run_id"]
    r = sikta("report", "-w", str(served["path"]), "--out", str(tmp_path / "report.html"), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "report.html").stat().st_size > 100_000


def test_token_create_and_revoke_go_through_the_server_which_sees_them_at_once(served):
    r = sikta("token", "create", "--role", "viewer", "--name", "made while serving", "-w", str(served["path"]), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    created = json.loads(r.stdout)
    assert http(f"{served['url']}/api/v1/me", created["token"]) == 200
    r = sikta("token", "revoke", created["token_id"], "-w", str(served["path"]))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "revoked" in r.stdout
    assert http(f"{served['url']}/api/v1/me", created["token"]) == 401  # at once: no restart, no cache delay
    listed = json.loads(sikta("token", "list", "-w", str(served["path"]), "--json").stdout)
    assert next(t for t in listed if t["token_id"] == created["token_id"])["revoked_at"] is not None
    one_line(sikta("token", "revoke", "tok_nope", "-w", str(served["path"])), 4, "no token 'tok_nope'")


def test_run_goes_through_the_server(served):
    model = served["dir"] / "model.yaml"
    r = sikta("run", "--model", str(model), "-w", str(served["path"]), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    run = json.loads(r.stdout)
    assert run["model_version"] == "2" and run["units"] > 0
    assert set(run["schemes"]) == {"firmographic", "needs", "behavioral", "value"}  # the starter's, from the server
    assert run["diagnostics"]["verdict"] in ("usable", "usable with caveats", "not usable")
    listed = json.loads(sikta("runs", "-w", str(served["path"]), "--json").stdout)
    assert listed[0]["run_id"] == run["run_id"]
    assert http(f"{served['url']}/api/v1/runs/{run['run_id']}", served["admin"]) == 200


def test_a_bad_model_through_the_server_is_one_line(served, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(starter_model_text().replace("expr: log(employees + 1)", "expr: log(employes + 1)"))
    one_line(sikta("run", "--model", str(bad), "-w", str(served["path"])), 3, "employes")


@pytest.mark.parametrize(("args", "words"), [
    (["ingest", "{data}"], ("stop the server", "kill")),
    (["features", "--grain", "department"], ("stop the server", "this command writes")),
])
def test_other_writes_say_what_to_do_in_one_line(served, args, words):
    args = [a.replace("{data}", str(served["dir"] / "data")) for a in args]
    one_line(sikta(*args, "-w", str(served["path"])), 4, str(served["server"].pid), *words)


def test_a_second_server_is_refused(served):
    one_line(sikta("serve", "--port", str(_free_port()), "-w", str(served["path"])), 4, "already served")


def test_after_the_server_stops_the_cli_writes_itself(served, tmp_path):
    # last in this module: stops the module's server
    served["server"].send_signal(signal.SIGINT)
    served["server"].wait(30)
    assert not serving.server_file(served["path"]).exists()
    r = sikta("token", "create", "--role", "viewer", "-w", str(served["path"]), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    with Workspace(served["path"], read_only=True) as ws:
        assert tokens.verify_token(ws, json.loads(r.stdout)["token"]) is not None
