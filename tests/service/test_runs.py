"""Runs: immutable snapshots, identical re-runs, thresholds that move exactly the right
accounts, diffs, explanations, atomicity, and the CLI over them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta import __version__
from sikta.cli import app
from sikta.errors import ModelError, NotFoundError, UsageError
from sikta.service import runs
from sikta.service.model import model_from_text, starter_model_text
from sikta.service.workspace import Workspace
from sikta.synth import generate

AS_OF = "2025-12-31"
VALUE_MODEL = """
name: fixed
version: {version}
customer: {{grain: account, statuses: [customer, prospect]}}
potential:
  - {{name: estimated_wallet, weight: 2}}
  - {{name: size, expr: "log(employees + 1)", scaling: minmax}}
pain:
  - {{name: need_score}}
  - {{name: ticket_load}}
thresholds:
  potential: {{value: {potential}}}
  pain: {{value: 0.4}}
deprioritize:
  - {{name: micro company, when: "employees < 10"}}
"""


def value_model(potential: float, version: int = 1):
    return model_from_text(VALUE_MODEL.format(potential=potential, version=version), source="fixed.yaml")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    generate(d / "data", accounts=700, seed=21)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(d / "data")
    starter = model_from_text(starter_model_text(), source="starter.yaml")
    first = runs.create_run(ws, starter, as_of=AS_OF, model_file="starter.yaml")
    again = runs.create_run(ws, starter, as_of=AS_OF, model_file="starter.yaml")
    low = runs.create_run(ws, value_model(0.3), as_of=AS_OF)
    high = runs.create_run(ws, value_model(0.5, version=2), as_of=AS_OF)
    yield {"ws": ws, "dir": d, "first": first, "again": again, "low": low, "high": high, "starter": starter}
    ws.close()


def frame(ws, run_id) -> pd.DataFrame:
    return ws.store.frame(runs.run_rows(ws, run_id)).set_index("unit_id").sort_index()


def test_a_run_records_what_made_it(built):
    ws, first = built["ws"], built["first"]
    meta = runs.get_run(ws, first.run_id)
    text = starter_model_text()
    assert meta["model_text"] == text
    assert meta["model_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert meta["sikta_version"] == __version__ and meta["model_file"] == "starter.yaml"
    assert str(meta["as_of"])[:10] == AS_OF and meta["grain"] == "account"
    # the input fingerprints are the files' own sha256
    inputs = {Path(r["file"]).name: r["sha256"] for r in json.loads(meta["inputs"])}
    for name in ("accounts.parquet", "orders.parquet"):
        assert inputs[name] == hashlib.sha256((built["dir"] / "data" / name).read_bytes()).hexdigest()


def test_every_in_scope_account_is_in_exactly_one_group(built):
    ws, first = built["ws"], built["first"]
    f = ws.store.frame(ws.features("account", AS_OF).select("unit_id", "status"))
    in_scope = set(f[f.status.isin(["customer", "prospect"])].unit_id)
    rows = frame(ws, first.run_id)
    assert rows.index.is_unique and set(rows.index) == in_scope
    assert set(rows.group) <= set(runs.GROUPS)
    counts = rows.group.value_counts()
    assert {g: v["accounts"] for g, v in first.groups.items()} == {g: int(counts.get(g, 0)) for g in runs.GROUPS}
    assert min(counts.get(g, 0) for g in runs.GROUPS) > 0  # the starter model fills every group
    revenue = rows.groupby("group").revenue_12m.sum()
    for g in runs.GROUPS:
        assert first.groups[g]["revenue"] == pytest.approx(revenue.get(g, 0.0), abs=0.01)


def test_rerunning_an_unchanged_model_gives_identical_groups_and_scores(built):
    ws = built["ws"]
    a, b = frame(ws, built["first"].run_id), frame(ws, built["again"].run_id)
    assert built["first"].run_id != built["again"].run_id
    pd.testing.assert_frame_equal(a, b)
    assert runs.diff(ws, built["first"].run_id, built["again"].run_id)["moved"] == 0


def test_a_higher_potential_threshold_moves_exactly_the_accounts_between_the_two(built):
    ws = built["ws"]
    low, high = frame(ws, built["low"].run_id), frame(ws, built["high"].run_id)
    pd.testing.assert_series_equal(low.potential_score, high.potential_score)
    in_matrix = low.group != "deprioritized"
    expected = set(low.index[in_matrix & (low.potential_score >= 0.3) & (low.potential_score < 0.5)])
    moved = set(low.index[low.group != high.group])
    assert moved == expected and expected
    pairs = set(zip(low.loc[sorted(moved), "group"], high.loc[sorted(moved), "group"], strict=True))
    assert pairs <= {("invest", "streamline"), ("qualify", "maintain")}


def test_diff_counts_transitions_and_says_why(built):
    ws = built["ws"]
    low, high = frame(ws, built["low"].run_id), frame(ws, built["high"].run_id)
    doc = runs.diff(ws, built["low"].run_id, built["high"].run_id, limit=None)
    expected = pd.crosstab(low.group, high.loc[low.index, "group"]).stack()
    got = {(r["group_a"], r["group_b"]): r["accounts"] for r in doc["transitions"]}
    assert got == {k: v for k, v in expected.items() if v}
    assert doc["model_changed"] and doc["moved"] == int((low.group != high.group).sum()) == len(doc["accounts"])
    for r in doc["accounts"]:  # the potential threshold rose from 0.3 to 0.5: potential fell from high to low
        assert r["why"].startswith("potential high → low (score ") and "threshold 0.30 → 0.50" in r["why"], r["why"]
        assert r["why"].endswith("(the model changed)") and "pain" not in r["why"]


def test_the_run_before_stays_intact(built):
    ws = built["ws"]
    listed = runs.list_runs(ws)
    assert list(listed.run_id[::-1]) == [built[k].run_id for k in ("first", "again", "low", "high")]
    assert runs.get_run(ws, "latest")["run_id"] == built["high"].run_id
    assert runs.get_run(ws, "previous")["run_id"] == built["low"].run_id
    assert runs.get_run(ws, built["low"].run_id[-4:])["run_id"] == built["low"].run_id
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        runs.get_run(ws, "nope")


def test_a_run_that_fails_half_way_leaves_no_trace(built, monkeypatch):
    ws = built["ws"]
    before_runs = len(runs.list_runs(ws))
    before_tables = set(ws.store.tables())

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "_group_counts", boom)
    with pytest.raises(RuntimeError):
        runs.create_run(ws, built["starter"], as_of=AS_OF)
    monkeypatch.undo()
    assert len(runs.list_runs(ws)) == before_runs
    assert set(ws.store.tables()) == before_tables


def test_a_model_naming_an_unknown_column_fails_before_anything_is_written(built):
    ws = built["ws"]
    before = len(runs.list_runs(ws))
    bad = model_from_text(VALUE_MODEL.format(potential=0.3, version=1).replace("employees + 1", "employes + 1"))
    with pytest.raises(ModelError, match="employes"):
        runs.create_run(ws, bad, as_of=AS_OF)
    assert len(runs.list_runs(ws)) == before


def test_explain_gives_every_parameter_threshold_and_the_group(built):
    ws = built["ws"]
    rows = frame(ws, built["low"].run_id)
    for group in ("invest", "maintain", "deprioritized"):
        unit = rows.index[rows.group == group][0]
        doc = runs.explain(ws, unit, built["low"].run_id)
        assert doc["group"] == group
        text = "\n".join(doc["lines"])
        if group == "deprioritized":
            assert "micro company" in text
        else:
            for label in ("estimated wallet", "size", "need score", "ticket load"):
                assert label in text.lower(), text
            assert "0.3" in text and "0.4" in text  # the thresholds
    with pytest.raises(NotFoundError):
        runs.explain(ws, "NO-SUCH-ACCOUNT")


def test_runs_at_two_dates_compare(built):
    ws = built["ws"]
    earlier = runs.create_run(ws, built["starter"], as_of="2025-06-30")
    doc = runs.diff(ws, earlier.run_id, built["first"].run_id)
    assert doc["as_of"] == ["2025-06-30", AS_OF] and not doc["model_changed"]
    assert sum(r["accounts"] for r in doc["transitions"]) >= len(frame(ws, built["first"].run_id))
    with pytest.raises(UsageError):
        runs.diff(ws, earlier.run_id, earlier.run_id)


# -- the CLI ------------------------------------------------------------------------------------

cli = CliRunner()


def invoke(*args, code: int = 0):
    r = cli.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, (r.stdout, r.stderr)
    if code:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stdout + r.stderr
    return r


def test_cli_model_init_check_run_runs_explain_diff(built, tmp_path):
    wsfile = built["ws"].path  # the CLI opens the same file again: DuckDB shares it in one process
    model = tmp_path / "model.yaml"
    invoke("model", "init", "--out", model)
    assert model.read_text() == starter_model_text()
    invoke("model", "init", "--out", model, code=2)  # exists
    assert "ok" in invoke("model", "check", model, "-w", wsfile).stdout
    doc = json.loads(invoke("run", "--model", model, "--as-of", AS_OF, "-w", wsfile, "--json").stdout)
    assert set(doc["groups"]) == set(runs.GROUPS) and sum(g["accounts"] for g in doc["groups"].values()) == doc["units"]
    assert doc["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    listed = json.loads(invoke("runs", "-w", wsfile, "--json").stdout)
    assert listed[0]["run_id"] == doc["run_id"]
    d = json.loads(invoke("diff", built["first"].run_id, "latest", "-w", wsfile, "--json").stdout)
    assert d["moved"] == 0 and d["run_b"] == doc["run_id"]
    ws = built["ws"]
    unit = ws.store.frame(runs.run_rows(ws, doc["run_id"]).limit(1)).unit_id.iat[0]
    out = invoke("explain", unit, "-w", wsfile).stdout
    assert unit in out and "→" in out
    invoke("explain", "NO-SUCH", "-w", wsfile, code=4)
    bad = tmp_path / "bad.yaml"
    bad.write_text(model.read_text().replace("  - name: ticket_load", "  - name: tiket_load"))
    r = invoke("model", "check", bad, "-w", wsfile, code=3)
    assert "bad.yaml" in r.stderr and "tiket_load" in r.stderr


def test_the_python_api_mirrors_the_cli(built, tmp_path):
    ws = built["ws"]
    model = tmp_path / "m.yaml"
    model.write_text(VALUE_MODEL.format(potential=0.3, version=1))
    run = ws.run(model, as_of=AS_OF)
    assert ws.runs().run_id.iat[0] == run.run_id
    assert runs.get_run(ws, run.run_id)["model_file"] == str(model)
    same = frame(ws, run.run_id)
    pd.testing.assert_frame_equal(same, frame(ws, built["low"].run_id))  # same model text, same data
    assert ws.explain(same.index[0], run.run_id)["group"] == same.group.iat[0]
    assert ws.diff(built["low"].run_id, run.run_id)["moved"] == 0
    assert ws.run_rows().count().execute() == len(same)


def test_model_check_finds_the_workspace_through_the_environment(built, tmp_path, monkeypatch):
    monkeypatch.setenv("SIKTA_WORKSPACE", str(built["ws"].path))
    monkeypatch.chdir(tmp_path)  # no ./sikta.duckdb here
    bad = tmp_path / "bad.yaml"
    bad.write_text(starter_model_text().replace("expr: log(employees + 1)", "expr: log(employes + 1)"))
    r = invoke("model", "check", bad, code=3)  # the column check needs the workspace's features
    assert "employes" in r.stderr and "employees" in r.stderr
