"""Workspace behaviour a notebook or CLI user relies on."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.errors import UsageError, WorkspaceError
from sikta.service.workspace import Workspace


def test_a_locked_workspace_is_a_clear_error(tmp_path, clean_exports, monkeypatch):
    monkeypatch.setenv("SIKTA_LOCK_WAIT", "1")  # the CLI waits this long for a writer to finish
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(clean_exports)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WorkspaceError, match="in use by another process"):
            Workspace(path)
        result = CliRunner().invoke(app, ["status", "-w", str(path)])
        assert result.exit_code == 4 and "busy: another process is writing to it" in result.stderr
        assert "SIKTA_LOCK_WAIT" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_the_cli_waits_for_a_writer_that_finishes(tmp_path, clean_exports, monkeypatch):
    monkeypatch.setenv("SIKTA_LOCK_WAIT", "60")
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(clean_exports)
    holder = subprocess.Popen(  # holds the file for writing for 2 s, as a short ingest would
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ok', flush=True); "
                               "time.sleep(2); c.close()"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        result = CliRunner().invoke(app, ["status", "-w", str(path), "--json"])
        assert result.exit_code == 0, result.output
    finally:
        holder.kill()
        holder.wait()


def test_many_readers_share_a_workspace(tmp_path, clean_exports):
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(clean_exports)
    reader = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}, read_only=True); "
                               "print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ok"
        with Workspace(path, read_only=True) as ws:
            assert ws.summary()["tables"]["accounts"]["loaded"] == 5
            with pytest.raises(WorkspaceError, match="read-only"):
                ws.store.create_empty("x", {"a": "int64"})
        with pytest.raises(WorkspaceError, match="in use by another process"):
            Workspace(path)  # a writer needs the file alone
    finally:
        reader.kill()
        reader.wait()


def test_a_file_that_is_not_a_workspace(tmp_path):
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("shopping list")
    with pytest.raises(WorkspaceError, match="notes.duckdb"):
        Workspace(bogus)


def test_stored_features_are_reused_until_the_data_changes(ws, clean_exports):
    ws.ingest(clean_exports)
    ws.features("account", as_of="2025-06-30")
    ws.features("account", as_of="2025-06-30")  # same ingest, same date and window: the stored build serves
    builds = ws.store.table("_sikta_feature_builds")
    assert ws.store.count(builds) == 1
    ws.features("account")  # the default build (as of the last revenue date) is another build
    ws.features("account")
    assert ws.store.count(builds) == 2
    assert {"features_account", "features_account__20250630_w12"} <= set(ws.store.tables())
    ws.ingest(clean_exports)  # new data: feature tables are dropped with the old snapshot
    assert not [t for t in ws.store.tables() if t.startswith("features_")]


def test_api_validates_at_the_boundary(ws, clean_exports):
    ws.ingest(clean_exports)
    with pytest.raises(UsageError, match="grain 'group' is not one of"):
        ws.features("group")
    with pytest.raises(UsageError, match="'leads' is not a contract table"):
        ws.table("leads")
    with pytest.raises(UsageError, match="at least one folder or file"):
        ws.ingest()


def test_an_as_of_after_today_is_refused_and_stores_nothing(ws, clean_exports):
    # an as-of of 2199 stored a run of prospects only, and every later run "changed group" against it
    import datetime as dt

    from sikta.service.model import model_from_text

    ws.ingest(clean_exports)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    before = set(ws.store.tables())
    model = model_from_text("name: m\npotential: [{name: growth}]\npain: [{name: ticket_load}]\n")
    for attempt in (lambda: ws.features("account", tomorrow), lambda: ws.run(model, as_of=tomorrow),
                    lambda: ws.clv("account", as_of=tomorrow)):
        with pytest.raises(UsageError, match=rf"as-of {tomorrow} is after today \({dt.date.today()}\)"):
            attempt()
    assert set(ws.store.tables()) == before and ws.runs().empty
    r = CliRunner().invoke(app, ["analyze", "pareto", "--as-of", "2150-01-01", "-w", str(ws.path)])
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        f"error: as-of 2150-01-01 is after today ({dt.date.today()}): there are no data from the future to score"]


def test_summary_counts(ws, clean_exports):
    ws.ingest(clean_exports)
    s = ws.summary()
    assert s["tables"]["orders"] == {"rows_in": 4, "loaded": 4, "quarantined": 0}
    assert s["units_per_grain"] == {"ultimate_parent": 3, "account": 4, "department": 5}
    assert s["features"] == {}


def test_metadata_of_an_older_workspace_gains_new_columns(ws, clean_exports):
    ws.ingest(clean_exports)
    ws.store.con.raw_sql('CREATE TABLE "_sikta_feature_builds" (grain VARCHAR, as_of DATE)')  # an older layout
    ws.features("account", as_of="2025-06-30")
    builds = ws.store.table("_sikta_feature_builds")
    assert {"dims", "units", "ingest_id"} <= set(builds.columns)
    assert ws.feature_build("account", "2025-06-30")["units"] == 4
