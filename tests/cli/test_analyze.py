"""``sikta analyze``: a part that finds nothing says so, with the reason; the bridge says what "new" means."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.service.workspace import Workspace
from tests.conftest import write

runner = CliRunner()


@pytest.fixture(scope="module")
def young(tmp_path_factory):
    """Six customers that all started buying in May 2025, one product line: nothing to win back or cross-sell."""
    d = tmp_path_factory.mktemp("analyze_young")
    write(d, "accounts.csv", "account_id,industry\n" + "".join(f"A{i},retail\n" for i in range(6)))
    write(d, "orders.csv", "order_id,account_id,order_date,amount,product_line\n" + "".join(
        f"{i}{m},A{i},2025-0{m}-{10 + i},{100 + 10 * i},core\n" for i in range(6) for m in (5, 6)))
    with Workspace(d / "ws.duckdb") as ws:
        ws.ingest(d)
    return d / "ws.duckdb"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_an_empty_reactivation_list_says_why(young):
    r = runner.invoke(app, ["analyze", "reactivation", "-w", str(young), "--as-of", "2025-06-30"])
    assert r.exit_code == 0, r.stderr
    assert ("Inactive with potential: no former or lapsed customers at 2025-06-30: all 6 units that ever bought "
            "are current customers with revenue in the 12 months to 2025-06-30 (the data start on 2025-05-10, "
            "less than 12 months earlier)") in _flat(r.stdout)
    doc = json.loads(runner.invoke(app, ["analyze", "reactivation", "-w", str(young), "--as-of", "2025-06-30",
                                         "--json"]).stdout)
    assert doc["reactivation"]["rows"] == 0
    assert doc["reactivation"]["nothing_found"].startswith("no former or lapsed customers at 2025-06-30")


def test_every_empty_list_says_why(young):
    r = runner.invoke(app, ["analyze", "-w", str(young), "--as-of", "2025-06-30"])
    assert r.exit_code == 0, r.stderr
    out = _flat(r.stdout)
    assert "Unwanted outflow: none of the 6 current customers shows a warning signal at 2025-06-30" in out
    assert "Cross-sell whitespace: only one product line in the data: no other line to cross-sell" in out
    # each spends more than half the peers' median (100..150 a month against a median of 125)
    assert "Up-sell: no current customer spends less than half its lookalike peers' median on a line it buys" in out


def test_without_enough_peers_the_lists_say_so(tmp_path):
    write(tmp_path, "accounts.csv", "account_id\nA\nB\n")
    write(tmp_path, "orders.csv", "order_id,account_id,order_date,amount,product_line\n"
          "1,A,2024-01-10,50,core\n2,B,2025-06-10,80,core\n3,B,2025-06-12,20,extra\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(tmp_path)
        report = ws.analyze(as_of="2025-06-30").run(("reactivation", "whitespace"))
    assert report.nothing_found["reactivation"] == (
        "1 former or lapsed customer, but fewer than 5 active customers (revenue in the window) to compare them with")
    assert report.nothing_found["whitespace"] == ("only 1 current customer: fewer than 5 lookalike peers to "
                                                  "compare with")


def test_the_bridge_says_what_new_means_and_notes_are_shown(young):
    r = runner.invoke(app, ["analyze", "flow", "-w", str(young), "--as-of", "2025-07-31"])
    assert r.exit_code == 0, r.stderr
    out = _flat(r.stdout)
    assert "new: active in its first month ever (all history up to the as-of date, not only the months shown)" in out
    assert "note: as-of 2025-07-31 is 46 days after the last revenue date in the data (2025-06-15)" in out
