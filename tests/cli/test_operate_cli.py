"""The operating commands on the command line: JSON shapes, files written, exit codes, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error, run
from tests.conftest import write
from tests.service.test_operate import ACCOUNTS, MODEL, ORDERS


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("opcli")
    data = d / "data"
    data.mkdir()
    write(data, "accounts.csv", ACCOUNTS)
    write(data, "orders.csv", ORDERS)
    model = write(d, "model.yaml", MODEL)
    path = d / "ws.duckdb"
    run("ingest", data, "-w", path)
    run("run", "--model", model, "-w", path)
    write(d, "team.csv", "owner_id,role,capacity_accounts,capacity_workload\n"
                         "sam,strategic,1,\ndana,dedicated,1,\ndora,dedicated,1,\npool,pooled,10,50\n")
    return path, d


def test_coverage_json_and_table(ws):
    path, d = ws
    doc = json.loads(run("coverage", "--team", d / "team.csv", "-w", path, "--json").stdout)
    assert set(doc) >= {"models", "mix", "headcount", "gap", "unmatched_roles", "run_id", "units"}
    assert doc["gap"] == 0 and doc["headcount"] == 4 and doc["units"] == 5
    human = run("coverage", "--team", d / "team.csv", "-w", path).stdout
    assert "headcount needed: 4; gap against" in human and "high touch 3 accounts" in human
    # the team's own capacity beside the need: dedicated 1 + 1 accounts; pooled 10 accounts, 50 workload
    assert "team capacity" in human and "2 acc" in human and "10 acc / 50 wl" in human


def test_missing_team_file_is_one_line(ws):
    path, d = ws
    assert_one_line_error(run("coverage", "--team", d / "nope.csv", "-w", path, ok=False), 3, "no such file")


def test_balance_writes_the_assignment(ws):
    path, d = ws
    out = d / "assignments.csv"
    doc = json.loads(run("balance", "--team", d / "team.csv", "--keep-owners", "1", "--out", out, "-w", path,
                         "--json").stdout)
    assert doc["stored"] and doc["summary"]["accounts"] == 4 and doc["out"] == str(out)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["unit_id", "name", "engagement", "role", "revenue", "workload", "current_owner",
                             "owner_id", "status", "reason"]
    assert {r["unit_id"]: r["owner_id"] for r in rows} == {"A1": "sam", "A2": "dana", "A3": "dora", "A4": "pool"}


def test_actions_json_and_out(ws):
    path, d = ws
    out = d / "actions.csv"
    doc = json.loads(run("actions", "-w", path, "--json", "--out", out).stdout)
    assert doc["total"] == 2 and {a["unit_id"] for a in doc["actions"]} == {"A1", "A2"}
    assert out.read_text().splitlines()[0] == ("unit_id,name,group,engagement,rule,action,owner,owner_reason,channel,"
                                               "channel_reason,due_date,content,reason")
    assert "quarterly business review" in run("actions", "-w", path).stdout


def test_kpis_json(ws):
    path, _ = ws
    doc = json.loads(run("kpis", "-w", path, "--json").stdout)
    assert doc["judged_by"] == {"invest": "nrr", "qualify": "grr"} and "group" in doc["by"]
    human = run("kpis", "-w", path).stdout
    assert "NRR 114.3 %" in human  # invest: 160 / 140


def test_alerts_history_and_bad_filters(ws):
    path, d = ws
    edited = write(d, "m2.yaml", MODEL.replace("rule: industry == 'retail'", "rule: industry == 'none'"))
    run("run", "--model", edited, "-w", path)
    doc = json.loads(run("alerts", "-w", path, "--change", "downgrade", "--json").stdout)
    # retail loses its pain: A1, A2 invest → qualify, A4 streamline → maintain
    assert {a["unit_id"]: a["value_to"] for a in doc["alerts"]} == {"A1": "qualify", "A2": "qualify", "A4": "maintain"}
    out = d / "alerts.csv"
    run("alerts", "-w", path, "--out", out)
    assert out.read_text().splitlines()[0].startswith("unit_id,name,dimension,value_from,value_to,change")
    assert_one_line_error(run("alerts", "-w", path, "--change", "sideways", ok=False), 2, "change 'sideways'")
    h = json.loads(run("history", "A1", "-w", path, "--json").stdout)
    assert [e["group"] for e in h["runs"]] == ["invest", "qualify"]
    assert_one_line_error(run("history", "NOPE", "-w", path, ok=False), 4, "no account 'NOPE'")


def test_content_needs_a_catalog_or_takes_one(ws):
    path, d = ws
    first = json.loads(run("runs", "-w", path, "--json").stdout)[-1]["run_id"]  # A1 in invest
    doc = json.loads(run("content", "--account", "A1", "--run", first, "-w", path, "--json").stdout)
    assert doc["unit_id"] == "A1" and {m["item_id"] for m in doc["matches"] if m["fits"]} == {"enterprise-guide", "retail-news"}
    catalog = write(d, "catalog.csv", "item_id,title,size_band\nx,For the small,small\n")
    doc = json.loads(run("content", "--catalog", catalog, "-w", path, "--json").stdout)
    assert {m["unit_id"] for m in doc["matches"]} == {"A4", "A5"}


def test_export_options_and_files(ws):
    path, d = ws
    doc = json.loads(run("export", "--to", "hubspot", "--out", d / "hs", "-w", path, "--json").stdout)
    assert doc["columns"][:2] == ["Record ID", "Company Domain Name"] and doc["unmatched"] == 5  # no ids mapped
    assert (d / "hs" / "hubspot_unmatched.csv").exists()
    assert_one_line_error(run("export", "-w", path, ok=False), 2, "give --to")
    assert_one_line_error(run("export", "--to-db", str(d / "x.duckdb"), "-w", path, ok=False), 2, "needs --table")
    assert_one_line_error(run("export", "--to", "excel", "-w", path, ok=False), 2, "--to 'excel'")
    run("export", "--to-db", str(d / "x.duckdb"), "--table", "seg", "-w", path)
    import duckdb

    con = duckdb.connect(str(d / "x.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM seg").fetchone()[0] == 5
    con.close()


def test_dry_run_stores_nothing(ws):
    path, d = ws
    before = json.loads(run("runs", "-w", path, "--json").stdout)
    edited = write(d, "m3.yaml", MODEL.replace("rule: employees >= 100", "rule: employees >= 400"))
    doc = json.loads(run("run", "--model", edited, "--dry-run", "-w", path, "--json").stdout)
    assert doc["stored"] is False and doc["against"] == before[0]["run_id"]
    assert len(json.loads(run("runs", "-w", path, "--json").stdout)) == len(before)
    assert "units would change group" in run("run", "--model", edited, "--dry-run", "-w", path).stdout


def test_webhook_commands(ws):
    from tests.security.test_webhook_faults import Receiver, _free_port

    path, d = ws
    receiver = Receiver(_free_port())
    receiver.up()
    try:
        added = json.loads(run("webhook", "add", f"http://127.0.0.1:{receiver.port}/h", "-w", path, "--json").stdout)
        assert added["webhook_id"].startswith("whk_") and len(added["secret"]) >= 16
        listed = json.loads(run("webhook", "list", "-w", path, "--json").stdout)
        assert [h["webhook_id"] for h in listed] == [added["webhook_id"]] and "secret" not in listed[0]
        sent = json.loads(run("webhook", "send", "-w", path, "--json").stdout)
        assert sent["webhooks"][0]["delivered"] >= 1 and receiver.calls
        assert "changes sent up to run" in run("webhook", "list", "-w", path).stdout
        assert_one_line_error(run("webhook", "add", "ftp://x/h", "-w", path, ok=False), 2, "must be http")
        run("webhook", "remove", added["webhook_id"], "-w", path)
        assert json.loads(run("webhook", "list", "-w", path, "--json").stdout) == []
        assert_one_line_error(run("webhook", "remove", "whk_nope", "-w", path, ok=False), 4, "no webhook")
    finally:
        receiver.down()
