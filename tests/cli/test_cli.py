"""The CLI through Typer's runner: outputs, JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sikta.cli import app
from tests.conftest import write

runner = CliRunner()


def run(*args: str, ok: bool = True):
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def assert_one_line_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def wsfile(tmp_path: Path) -> Path:
    return tmp_path / "ws.duckdb"


def test_ingest_json_counts(clean_exports, wsfile):
    doc = json.loads(run("ingest", clean_exports, "--workspace", wsfile, "--json").stdout)
    assert doc["tables"]["orders"] == {
        "rows_in": 4, "loaded": 4, "quarantined": 0, "files": [str(clean_exports / "orders.csv")], "derived_from": None,
        "duplicates": 0, "future": 0, "attributes": {},
    }
    assert doc["tables"]["accounts"]["loaded"] == 5
    assert doc["units_per_grain"] == {"ultimate_parent": 3, "account": 4, "department": 5}


def test_ingest_prints_a_summary_table(clean_exports, wsfile):
    out = run("ingest", clean_exports, "-w", wsfile).stdout
    assert "orders" in out and "accounts" in out and "units per grain: ultimate_parent 3, account 4, department 5" in out


def test_workspace_from_environment(clean_exports, wsfile, monkeypatch):
    monkeypatch.setenv("SIKTA_WORKSPACE", str(wsfile))
    run("ingest", clean_exports)
    assert wsfile.exists()
    assert json.loads(run("status", "--json").stdout)["workspace"] == str(wsfile)


def test_quarantine_lists_reasons(tmp_path, wsfile):
    d = tmp_path / "d"
    d.mkdir()
    write(d, "accounts.csv", "account_id,employees\nA,10\nB,many\n")
    write(d, "orders.csv", "order_id,account_id,order_date,amount\n1,A,2025-01-01,5\n2,Z,2025-01-02,5\n")
    run("ingest", d, "-w", wsfile)
    doc = json.loads(run("quarantine", "-w", wsfile, "--json").stdout)
    assert doc["total"] == 2
    assert [(r["table"], r["row"], r["column"], r["reason"]) for r in doc["rows"]] == [
        ("accounts", 2, "employees", "employees is not a whole number: 'many'"),
        ("orders", 2, "account_id", "account_id 'Z' is not a known account"),
    ]
    human = run("quarantine", "-w", wsfile, "--table", "orders").stdout
    assert "account_id 'Z' is not a known account" in human and "employees" not in human


def test_features_json(clean_exports, wsfile):
    run("ingest", clean_exports, "-w", wsfile)
    doc = json.loads(run("features", "-w", wsfile, "--grain", "ultimate_parent", "--as-of", "2025-06-30", "--json").stdout)
    assert doc["grain"] == "ultimate_parent" and doc["units"] == 3 and doc["as_of"] == "2025-06-30"
    # 100 + 50 (group G1) + 30 - 10 (S1): hand-summed from the fixture
    assert doc["revenue_12m"] == pytest.approx(170.0)
    assert doc["status"] == {"customers": 2, "prospects": 1, "former": 0}
    status = json.loads(run("status", "-w", wsfile, "--json").stdout)
    assert status["features"]["features_ultimate_parent__20250630_w12"] == {
        "grain": "ultimate_parent", "as_of": "2025-06-30", "window_months": 12, "units": 3, "engine": "duckdb"}


def test_missing_file_is_one_line_exit_3(tmp_path, wsfile):
    assert_one_line_error(runner.invoke(app, ["ingest", str(tmp_path / "nope.csv"), "-w", str(wsfile)]), 3, "nope.csv: file not found")


def test_unreadable_file_is_one_line_exit_3(tmp_path, wsfile):
    d = tmp_path / "d"
    d.mkdir()
    write(d, "accounts.csv", "account_id\nA\n")
    (d / "orders.parquet").write_bytes(b"PAR1 not really")
    result = runner.invoke(app, ["ingest", str(d), "-w", str(wsfile)])
    assert_one_line_error(result, 3, "orders.parquet: cannot read as PARQUET")


def test_bad_mapping_names_file_and_line(tmp_path, wsfile, clean_exports):
    m = write(tmp_path, "m.yaml", "orders:\n  columns:\n    account_id: Kunde\n  colums: {}\n")
    result = runner.invoke(app, ["ingest", str(clean_exports), "--mapping", str(m), "-w", str(wsfile)])
    assert_one_line_error(result, 3, f"{m}:4: orders.colums: unknown key")


def test_bad_grain_and_date_are_usage_errors(clean_exports, wsfile):
    run("ingest", clean_exports, "-w", wsfile)
    assert_one_line_error(runner.invoke(app, ["features", "-w", str(wsfile), "--grain", "team"]), 2, "grain 'team' is not one of")
    assert_one_line_error(runner.invoke(app, ["features", "-w", str(wsfile), "--as-of", "30.06.2025"]), 2, "is not a date")


def test_commands_before_ingest_say_what_to_do(wsfile):
    assert_one_line_error(runner.invoke(app, ["features", "-w", str(wsfile)]), 4, "run 'sikta ingest PATH")


def test_version():
    assert run("--version").stdout.startswith("sikta ")


def test_the_cli_starts_without_the_heavy_modules():
    """`sikta --help` and `--version` stay instant: the engine, pandas, the server and the charts load
    only when a command needs them."""
    import subprocess
    import sys

    code = ("import sys, sikta.cli; heavy = ('ibis', 'pandas', 'duckdb', 'numpy', 'fastapi', 'plotly', 'pyarrow', "
            "'sklearn', 'scipy', 'uvicorn', 'urllib.request', 'http.client'); print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_checking_a_model_file_loads_no_model_code():
    """`sikta model check` is the loop of editing a model: it validates the YAML (CLV settings included)
    without loading SciPy or scikit-learn."""
    import subprocess
    import sys
    from importlib import resources

    starter = resources.files("sikta.service") / "model_starter.yaml"
    code = ("import atexit, json, sys\n"
            "atexit.register(lambda: print(json.dumps(sorted(m for m in ('scipy', 'sklearn') if m in sys.modules)), "
            "file=sys.stderr))\nfrom sikta.cli import main\nsys.argv = ['sikta'] + sys.argv[1:]\nmain()")
    done = subprocess.run([sys.executable, "-c", code, "model", "check", str(starter)], capture_output=True, text=True)
    assert done.returncode == 0 and ": ok" in done.stdout, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


# -- the workspace's engine setting --------------------------------------------------------------


@pytest.fixture
def spark_here(monkeypatch):
    """Spark counts as available (whether it really starts is tests/service/test_engine_spark.py's job)."""
    from sikta.engine import spark

    monkeypatch.setattr(spark, "check_available", lambda: None)


def test_engine_setting_is_shown_set_kept_and_cleared(clean_exports, wsfile, spark_here):
    run("ingest", clean_exports, "-w", wsfile)
    assert "engine: duckdb (the default)" in run("engine", "-w", wsfile).stdout
    assert json.loads(run("engine", "-w", wsfile, "--json").stdout) == {"engine": "duckdb", "set": False}
    assert json.loads(run("engine", "spark", "-w", wsfile, "--json").stdout) == {"engine": "spark", "set": True}
    assert json.loads(run("engine", "-w", wsfile, "--json").stdout) == {"engine": "spark", "set": True}  # stored
    assert json.loads(run("status", "-w", wsfile, "--json").stdout)["engine"] == "spark"
    assert "engine: spark (set with 'sikta engine')" in run("status", "-w", wsfile).stdout
    assert json.loads(run("engine", "duckdb", "-w", wsfile, "--json").stdout) == {"engine": "duckdb", "set": False}
    assert json.loads(run("status", "-w", wsfile, "--json").stdout)["engine"] == "duckdb"
    assert_one_line_error(run("engine", "postgres", "-w", wsfile, ok=False), 2, "unknown engine 'postgres'")


def test_engine_spark_without_java_is_refused_and_changes_nothing(clean_exports, wsfile, tmp_path, monkeypatch):
    run("ingest", clean_exports, "-w", wsfile)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert_one_line_error(run("engine", "spark", "-w", wsfile, ok=False), 2, "the spark engine needs Java 17")
    assert json.loads(run("engine", "-w", wsfile, "--json").stdout)["set"] is False


def test_the_engine_setting_is_the_default_of_engine(clean_exports, wsfile, tmp_path, spark_here, monkeypatch):
    from sikta.errors import UsageError
    from sikta.service import engines
    from sikta.service.model import starter_model_text

    asked = []

    def spy(ws, engine):  # where the work would run; stop there
        asked.append(engine)
        raise UsageError(f"spy: {engine}")

    run("ingest", clean_exports, "-w", wsfile)
    model = tmp_path / "model.yaml"
    model.write_text(starter_model_text(), encoding="utf-8")
    monkeypatch.setattr(engines, "inputs", spy)
    commands = {"features": ["features"], "analyze": ["analyze", "flow"], "clv": ["clv"],
                "run": ["run", "--model", model]}
    run("engine", "spark", "-w", wsfile)
    for name, args in commands.items():
        assert_one_line_error(run(*args, "-w", wsfile, ok=False), 2, "spy: spark")
        assert_one_line_error(run(*args, "--engine", "duckdb", "-w", wsfile, ok=False), 2, "spy: duckdb")  # the flag wins
    assert asked == ["spark", "duckdb"] * len(commands)
    run("engine", "duckdb", "-w", wsfile)
    assert_one_line_error(run("clv", "-w", wsfile, ok=False), 2, "spy: None")  # no setting: as before


def test_a_served_workspace_set_to_spark_does_not_run_on_the_server(clean_exports, wsfile, tmp_path, spark_here,
                                                                     monkeypatch):
    import os

    from sikta.service import serving
    from sikta.service.model import starter_model_text

    run("ingest", clean_exports, "-w", wsfile)
    run("engine", "spark", "-w", wsfile)
    model = tmp_path / "model.yaml"
    model.write_text(starter_model_text(), encoding="utf-8")
    monkeypatch.setattr(serving, "running_server", lambda path: {"pid": os.getppid(), "url": "http://127.0.0.1:9"})
    assert_one_line_error(run("run", "--model", model, "-w", wsfile, ok=False), 2, "set to run on spark")


def test_a_scheme_that_could_not_be_computed_shows_no_unit_count():
    # CDNOW: "behavioral (behavioral, accounts with orders: 0)" read as if no account had orders (8,332 had)
    from sikta.cli.app import out
    from sikta.cli.schemes_cmd import render_scheme

    failed = {"scheme": "behavioral", "type": "behavioral", "scope": "buyers", "grain": "account", "units": 0,
              "verdict": "not usable", "reasons": ["behavioral: no usable input"]}
    with out.capture() as cap:
        render_scheme(failed)
    assert cap.get().splitlines()[0] == "behavioral (behavioral, accounts with orders): not usable"
    with out.capture() as cap:
        render_scheme(failed | {"units": 8332, "verdict": "usable", "reasons": []})
    assert cap.get().splitlines()[0] == "behavioral (behavioral, accounts with orders: 8,332): usable"
