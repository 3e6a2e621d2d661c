"""``sikta serve`` as a process of its own: what it leaves behind when it stops, what it logs.

uvicorn stops gracefully on SIGTERM and then raises the signal again; under the default handler
that killed the process before the serve command's cleanup, so the server file outlived every
``kill PID``. And its access log wrote each request line whole, so a token sent in the query
string (refused with 401) still ended up in the log.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from sikta.service import serving
from sikta.service.workspace import Workspace
from tests.cli.test_serve_alongside import http
from tests.cli.test_serve_alongside import start_server as start

@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("serve_process") / "ws.duckdb"
    Workspace(path).close()  # an empty workspace is enough to serve
    return path


def stop(server: subprocess.Popen, sig: signal.Signals) -> tuple[str, str]:
    server.send_signal(sig)
    try:
        return server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        raise


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 0)])
def test_a_stopped_server_removes_its_server_file(workspace, sig, status):
    server, _ = start(workspace)
    announced = serving.server_file(workspace)
    assert json.loads(announced.read_text(encoding="utf-8"))["pid"] == server.pid
    out, err = stop(server, sig)
    assert "Traceback" not in err, err
    assert server.returncode == status, (server.returncode, err[-2000:])  # SIGTERM still ends it as SIGTERM does
    assert not announced.exists()
    assert serving.running_server(workspace) is None


def test_a_stopped_server_leaves_a_server_file_that_is_not_its_own(workspace):
    server, _ = start(workspace)
    announced = serving.server_file(workspace)
    doc = json.loads(announced.read_text(encoding="utf-8"))
    announced.write_text(json.dumps({**doc, "pid": os.getpid()}), encoding="utf-8")  # another server took over
    try:
        stop(server, signal.SIGTERM)
        assert server.returncode == -signal.SIGTERM
        assert json.loads(announced.read_text(encoding="utf-8"))["pid"] == os.getpid()
    finally:
        announced.unlink(missing_ok=True)


def test_the_access_log_never_holds_a_token(workspace):
    token, local = "sk_" + secrets.token_urlsafe(32), "sk_local_" + secrets.token_urlsafe(32)
    server, url = start(workspace, log_level="info")
    try:
        assert http(f"{url}/api/v1/runs?limit=5&token={token}") == 401  # refused, as before
        assert http(f"{url}/api/v1/runs?Access_Token={token}&API_KEY=opaque") == 401
        assert http(f"{url}/api/v1/runs?q={local}&sort=risk_share") == 401
        assert http(f"{url}/api/v1/tokens/{token}") in (401, 404, 405)
    finally:
        out, err = stop(server, signal.SIGTERM)
    log = out + err
    assert re.search(r"\bsk_", log) is None and token not in log and local not in log and "opaque" not in log, log
    # the requests are still logged, with only the secrets taken out
    assert '"GET /api/v1/runs?limit=5&token=<redacted> HTTP/1.1" 401' in log, log
    assert '"GET /api/v1/runs?Access_Token=<redacted>&API_KEY=<redacted> HTTP/1.1" 401' in log, log
    assert '"GET /api/v1/runs?q=<redacted>&sort=risk_share HTTP/1.1" 401' in log, log
    assert '"GET /api/v1/tokens/<redacted> HTTP/1.1"' in log, log
