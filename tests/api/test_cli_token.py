"""``sikta token create|list|revoke`` and ``sikta serve``, through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.service import tokens
from sikta.service.workspace import Workspace

runner = CliRunner()


@pytest.fixture
def ws_path(tmp_path):
    path = tmp_path / "ws.duckdb"
    Workspace(path).close()
    return path


def test_create_list_revoke(ws_path):
    r = runner.invoke(app, ["token", "create", "--role", "analyst", "--name", "ci", "-w", str(ws_path), "--json"])
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)
    assert created["role"] == "analyst" and created["token"].startswith("sk_")
    with Workspace(ws_path) as ws:
        assert tokens.verify_token(ws, created["token"])["token_id"] == created["token_id"]

    r = runner.invoke(app, ["token", "list", "-w", str(ws_path), "--json"])
    listed = json.loads(r.stdout)
    assert [t["token_id"] for t in listed] == [created["token_id"]]
    assert created["token"] not in r.stdout and "sha256" not in r.stdout

    human = runner.invoke(app, ["token", "list", "-w", str(ws_path)])
    assert created["token_id"] in human.stdout and "analyst" in human.stdout

    r = runner.invoke(app, ["token", "revoke", created["token_id"], "-w", str(ws_path)])
    assert r.exit_code == 0 and "revoked" in r.stdout
    with Workspace(ws_path) as ws:
        assert tokens.verify_token(ws, created["token"]) is None


def test_create_prints_the_token_once_for_people(ws_path):
    r = runner.invoke(app, ["token", "create", "--role", "viewer", "-w", str(ws_path)])
    assert r.exit_code == 0
    printed = [line for line in r.stdout.splitlines() if line.startswith("sk_")]
    assert len(printed) == 1
    with Workspace(ws_path) as ws:
        assert tokens.verify_token(ws, printed[0])["role"] == "viewer"


@pytest.mark.parametrize(("args", "code", "words"), [
    (["token", "create", "--role", "root"], 2, "not one of viewer, analyst, admin"),
    (["token", "revoke", "tok_nope"], 4, "no token 'tok_nope'"),
])
def test_mistakes_end_with_one_line(ws_path, args, code, words):
    r = runner.invoke(app, [*args, "-w", str(ws_path)])
    assert r.exit_code == code and words in r.stderr and "Traceback" not in r.output


def test_serve_refuses_a_missing_workspace(tmp_path):
    r = runner.invoke(app, ["serve", "-w", str(tmp_path / "nope.duckdb")])
    assert r.exit_code == 4 and "does not exist" in r.stderr


def test_serve_hands_the_app_to_uvicorn(ws_path, monkeypatch):
    import uvicorn

    seen = {}

    def fake_run(app, host, port, log_level, log_config):
        seen.update(host=host, port=port, workspace=app.state.sikta.path, log_config=log_config)
        app.state.sikta.close()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    r = runner.invoke(app, ["serve", "--port", "8123", "-w", str(ws_path)])
    assert r.exit_code == 0, r.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123 and seen["workspace"] == ws_path
    from sikta.api.accesslog import RedactTokens

    config = seen["log_config"]  # the access log redacts tokens (tests/cli/test_serve_process.py checks the lines)
    assert [config["filters"][f]["()"] for f in config["loggers"]["uvicorn.access"]["filters"]] == [RedactTokens]
    assert "no active tokens" in r.stderr  # a fresh workspace: the server would refuse everyone
