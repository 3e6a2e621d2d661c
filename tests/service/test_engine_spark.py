"""The same expressions on two engines: features and a run agree between DuckDB and Spark (local mode).

One Spark session serves the whole module (starting one takes seconds), on ~300 generated accounts.
The Spark settings below are for small data on a small machine (the JIT's quick tier, no adaptive
re-planning, one shuffle partition); they change how fast Spark gets there, not what it computes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.engine import spark
from sikta.engine.contract import GRAINS
from sikta.service.workspace import Workspace
from sikta.synth import generate

HAS_JAVA = bool(shutil.which("java") or os.environ.get("JAVA_HOME"))
needs_java = pytest.mark.skipif(not HAS_JAVA, reason="no Java: the spark engine needs Java 17 or later")
SMALL_DATA = ("spark.driver.extraJavaOptions='-XX:TieredStopAtLevel=1 -XX:+UseSerialGC' spark.sql.adaptive.enabled=false "
              "spark.sql.shuffle.partitions=1 spark.sql.autoBroadcastJoinThreshold=-1 spark.sql.codegen.wholeStage=false")
REL = 1e-9

cli = CliRunner()


def invoke(*args, code: int = 0):
    r = cli.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, (r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def wsfile(tmp_path_factory):
    """A workspace of ~300 generated accounts, and the module's one Spark session (stopped at the end)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SIKTA_SPARK_CONF", SMALL_DATA)
    for var in ("SIKTA_SPARK_MASTER", "SIKTA_SPARK_WAREHOUSE"):
        mp.delenv(var, raising=False)
    folder = tmp_path_factory.mktemp("spark")
    generate(folder / "data", accounts=300, seed=11)
    path = folder / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(folder / "data")
    started = time.perf_counter()
    yield path
    spark.stop()
    mp.undo()
    print(f"\nspark module: {time.perf_counter() - started:.1f} s after the data was made")


def _same(a, b) -> bool:
    """Equal, numbers to REL relative (None, NaN and NaT alike), lists element-wise."""
    missing_a, missing_b = (x is None or (not hasattr(x, "__len__") and pd.isna(x)) for x in (a, b))
    if missing_a or missing_b:
        return missing_a and missing_b
    if hasattr(a, "tolist"):
        a = a.tolist()
    if hasattr(b, "tolist"):
        b = b.tolist()
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL, abs_tol=0.0)
    return a == b


def _catalog_type(dtype):
    """DuckDB sums BIGINTs into HUGEINTs, which Ibis reads back as decimal(38, 0) where the catalogue says int64;
    the Spark result is stored as the catalogue's int64. Same numbers."""
    import ibis.expr.datatypes as dt

    return dt.int64 if dtype.is_decimal() and dtype.scale == 0 else dtype


def _build(path, grain: str, engine: str):
    with Workspace(path) as ws:
        build = ws.build_features(grain, engine=engine)
        frame = ws.store.frame(ws.store.table(build.table).order_by("unit_id"))
        schema = ws.store.table(build.table).schema()
    return build, frame, schema


@needs_java
@pytest.mark.parametrize("grain", GRAINS)
def test_features_are_the_same_on_both_engines(wsfile, grain):
    d_build, duck, d_schema = _build(wsfile, grain, "duckdb")
    s_build, sprk, s_schema = _build(wsfile, grain, "spark")
    assert (d_build.engine, s_build.engine) == ("duckdb", "spark")
    assert list(s_schema) == list(d_schema)  # same columns in the same order
    assert {c: _catalog_type(t) for c, t in d_schema.items()} == dict(s_schema.items())
    assert sprk.unit_id.tolist() == duck.unit_id.tolist() and len(duck) == d_build.units > 50
    assert duck.revenue_12m.sum() > 0 and (duck.status == "customer").sum() > 10  # data worth comparing
    differ = {}
    for col in duck.columns:
        bad = [u for u, a, b in zip(duck.unit_id, duck[col], sprk[col], strict=True) if not _same(a, b)]
        if bad:
            differ[col] = (bad[:3], len(bad))
    assert not differ, differ


@needs_java
def test_a_run_places_every_unit_in_the_same_group_on_both_engines(wsfile, tmp_path, monkeypatch):
    from sikta.engine import behavior

    model = tmp_path / "model.yaml"
    invoke("model", "init", "--out", model)
    read_on = []  # which backend the behavioral scheme's order lines were read on, per run

    def spy(tables, *args, **kwargs):
        read_on.append(type(tables["orders"]._find_backend()).__module__.split(".")[2])
        return behavior_inputs(tables, *args, **kwargs)

    behavior_inputs = behavior.behavior_inputs
    monkeypatch.setattr(behavior, "behavior_inputs", spy)  # the scheme context imports it at call time
    on_spark = json.loads(invoke("run", "--model", model, "--engine", "spark", "-w", wsfile, "--json").stdout)
    on_duck = json.loads(invoke("run", "--model", model, "--engine", "duckdb", "-w", wsfile, "--json").stdout)
    assert (on_spark["features"]["engine"], on_duck["features"]["engine"]) == ("spark", "duckdb")
    assert on_spark["groups"] == on_duck["groups"]
    with Workspace(wsfile) as ws:
        groups = [dict(ws.store.frame(ws.run_rows(doc["run_id"]).select("unit_id", "group")).values.tolist())
                  for doc in (on_spark, on_duck)]
        # the behavioral scheme's buying-style inputs come from the order lines: on Spark in the Spark run
        segments = [ws.store.frame(ws.run_rows(doc["run_id"]).select("unit_id", "scheme__behavioral").order_by("unit_id"))
                    for doc in (on_spark, on_duck)]
    assert groups[0] == groups[1] and len(groups[0]) == on_duck["units"] > 50
    assert segments[0].equals(segments[1]) and segments[0].scheme__behavioral.nunique() >= 2
    assert read_on == ["pyspark", "duckdb"]
    assert on_spark["schemes"]["behavioral"]["verdict"] == on_duck["schemes"]["behavioral"]["verdict"]
    status = json.loads(invoke("status", "-w", wsfile, "--json").stdout)
    assert status["features"]["features_account"]["engine"] == "duckdb"  # the run rebuilt it on duckdb


@needs_java
def test_pareto_figures_are_the_same_on_both_engines(wsfile):
    with Workspace(wsfile) as ws:
        duck = ws.analyze(engine="duckdb").pareto()
        sprk = ws.analyze(engine="spark").pareto()  # reads the feature table built on Spark
        assert ws.feature_build("account")["engine"] == "spark"
    assert duck.accounts == sprk.accounts > 50
    for figure in ("revenue", "top20_share", "gini"):
        assert _same(getattr(duck, figure), getattr(sprk, figure)), figure
    assert duck.abc == sprk.abc
    assert duck.curve.unit_id.tolist() == sprk.curve.unit_id.tolist()


def _rows(frame: pd.DataFrame) -> list[dict]:
    """A result frame as comparable rows: dates as Timestamps (DuckDB and Spark type them differently)."""
    out = frame.copy()
    for col in out.columns:
        if "date" in str(out[col].dtype) or col.endswith(("_start", "_date")):
            out[col] = pd.to_datetime(out[col])
    return out.sort_values(list(out.columns[:2])).to_dict("records")


@needs_java
@pytest.mark.parametrize(("grain", "period"), [("account", "month"), ("ultimate_parent", "quarter")])
def test_the_revenue_bridge_is_the_same_on_both_engines(wsfile, grain, period):
    with Workspace(wsfile, read_only=True) as ws:
        duck = ws.analyze(grain=grain, period=period).flow()
        sprk = ws.analyze(grain=grain, period=period, engine="spark").flow()
    assert len(duck.periods) >= 4 and duck.periods["end_revenue"].abs().sum() > 0  # a bridge worth comparing
    assert list(sprk.periods.columns) == list(duck.periods.columns)
    for a, b in [(duck.periods, sprk.periods), (duck.subscriptions, sprk.subscriptions)]:
        ra, rb = _rows(a), _rows(b)
        assert len(ra) == len(rb) > 0
        bad = [(x, y) for x, y in zip(ra, rb, strict=True) if not all(_same(x[k], y[k]) for k in x)]
        assert not bad, [{k: (x[k], y[k]) for k in x if not _same(x[k], y[k])} for x, y in bad[:3]]
    for rate in ("nrr", "grr", "start_arr"):
        assert _same(getattr(duck, rate), getattr(sprk, rate))


@needs_java
def test_clv_summaries_and_fits_are_the_same_on_both_engines(wsfile):
    with Workspace(wsfile) as ws:
        cal = ws.default_as_of() - pd.Timedelta(days=180)  # a holdout period, so its counts are compared too
        duck = ws.clv("account", calibration_end=cal, engine="duckdb", refresh=True)
        d_units = ws.store.frame(duck.units().order_by("unit_id"))
        sprk = ws.clv("account", calibration_end=cal, engine="spark")
        s_units = ws.store.frame(sprk.units().order_by("unit_id"))
    assert duck.customers == sprk.customers > 50 and d_units.unit_id.tolist() == s_units.unit_id.tolist()
    cols = ["frequency", "recency", "T", "monetary_value", "frequency_holdout", "value_holdout", "margin_rate"]
    differ = {c: int(sum(not _same(a, b) for a, b in zip(d_units[c], s_units[c], strict=True))) for c in cols}
    assert not any(differ.values()), differ
    assert d_units.frequency.sum() > 0 and d_units.frequency_holdout.sum() > 0  # data worth comparing
    # the same summaries give the same fits: parameters and CLV to the optimizer's tolerance
    for k, v in duck.params.items():
        assert math.isclose(v, sprk.params[k], rel_tol=1e-6), (k, v, sprk.params[k])
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(d_units.clv, s_units.clv, strict=True))
    assert any(n.startswith("purchases summarized on Spark") for n in sprk.notes)
    assert not any("Spark" in n for n in duck.notes)


def test_clv_contractual_takes_no_engine(wsfile):
    r = invoke("clv", "--contractual", "--engine", "spark", "-w", wsfile, code=2)
    assert "--engine is for the purchase summaries" in r.stderr


@needs_java
def test_the_snapshot_is_exported_once_per_ingest(wsfile):
    folder = wsfile.parent / "ws.duckdb.spark"
    snapshots = [p for p in folder.iterdir() if p.is_dir()]
    assert len(snapshots) == 1 and (snapshots[0] / "orders.parquet").exists()
    assert (snapshots[0] / spark.COMPLETE).exists() and (folder / "spark.log").exists()


@needs_java
def test_a_workspace_set_to_spark_builds_there_without_the_flag(wsfile, tmp_path):
    copy = tmp_path / "ws.duckdb"
    shutil.copy(wsfile, copy)
    assert json.loads(invoke("engine", "spark", "-w", copy, "--json").stdout) == {"engine": "spark", "set": True}
    built = json.loads(invoke("features", "--grain", "department", "-w", copy, "--json").stdout)
    assert built["engine"] == "spark" and built["units"] > 50
    status = json.loads(invoke("status", "-w", copy, "--json").stdout)
    assert status["engine"] == "spark" and status["features"]["features_department"]["engine"] == "spark"
    assert json.loads(invoke("features", "--grain", "department", "--engine", "duckdb", "-w", copy,
                             "--json").stdout)["engine"] == "duckdb"  # the flag still wins


def test_no_java_is_one_line_and_exit_2(wsfile, tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    r = invoke("features", "--engine", "spark", "-w", wsfile, code=2)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: the spark engine needs Java 17"), r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_an_unknown_engine_is_a_usage_error(wsfile):
    r = invoke("features", "--engine", "postgres", "-w", wsfile, code=2)
    assert "unknown engine 'postgres'" in r.stderr
