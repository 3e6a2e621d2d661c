"""The Spark engine's plumbing, without starting Spark: settings, Java and pyspark checks, the snapshot folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sikta.engine import spark
from sikta.errors import EngineUnavailableError, UsageError
from sikta.service.engines import check_engine, warehouse_for


def test_settings_from_the_environment():
    got = spark.SparkSettings.from_env({"SIKTA_SPARK_MASTER": "local[3]",
                                        "SIKTA_SPARK_CONF": "spark.driver.memory=2g  a.b=x=y c='-Xa -Xb'"})
    assert got.master == "local[3]"
    assert got.conf == (("spark.driver.memory", "2g"), ("a.b", "x=y"), ("c", "-Xa -Xb"))
    assert spark.SparkSettings.from_env({}).master == "local[2]"
    with pytest.raises(UsageError, match="SIKTA_SPARK_CONF"):
        spark.SparkSettings.from_env({"SIKTA_SPARK_CONF": "no-equals-sign"})


def test_engine_names():
    assert check_engine(None) == "duckdb" and check_engine(" Spark ") == "spark"
    with pytest.raises(UsageError, match="use duckdb or spark"):
        check_engine("polars")


def test_the_warehouse_sits_next_to_the_workspace_or_in_its_own_folder_of_a_shared_one(tmp_path):
    ws = tmp_path / "a" / "ws.duckdb"
    assert warehouse_for(ws, env={}) == Path(f"{ws}.spark")
    shared = warehouse_for(ws, env={"SIKTA_SPARK_WAREHOUSE": str(tmp_path / "wh")})
    other = warehouse_for(tmp_path / "b" / "ws.duckdb", env={"SIKTA_SPARK_WAREHOUSE": str(tmp_path / "wh")})
    assert shared.parent == other.parent == tmp_path / "wh" and shared != other


def test_a_snapshot_is_written_once_per_ingest_and_replaces_the_previous(tmp_path):
    written = []

    def write(name, path):
        written.append(name)
        Path(path).write_text(name)

    first = spark.export_snapshot(tmp_path, "ing-1", ["orders", "_sikta_hierarchy"], write)
    assert sorted(p.name for p in first.iterdir()) == ["_COMPLETE", "orders.parquet", "sikta_hierarchy.parquet"]
    again = spark.export_snapshot(tmp_path, "ing-1", ["orders", "_sikta_hierarchy"], write)
    assert again == first and written == ["orders", "_sikta_hierarchy"]  # reused, not written again
    second = spark.export_snapshot(tmp_path, "ing-2", ["orders"], write)
    assert [p.name for p in tmp_path.iterdir()] == [second.name]  # the old snapshot is gone


def test_a_half_written_snapshot_is_written_again(tmp_path):
    half = Path(spark.snapshot_folder(tmp_path, "ing-1"))
    half.mkdir()
    (half / "orders.parquet").write_text("truncated")  # no _COMPLETE: a killed export
    folder = spark.export_snapshot(tmp_path, "ing-1", ["orders"], lambda n, p: Path(p).write_text("whole"))
    assert (folder / "orders.parquet").read_text() == "whole"


def test_without_pyspark_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now raises ImportError
    with pytest.raises(EngineUnavailableError, match="needs pyspark") as err:
        spark.check_available()
    assert err.value.exit_code == 2


def test_an_old_java_is_refused(tmp_path, monkeypatch):
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(EngineUnavailableError, match="is Java 11"):
        spark.check_available()
    assert spark.java_version(str(java)) == 11


def test_first_line_keeps_spark_errors_short():
    assert spark.first_line(RuntimeError("[UNRESOLVED_COLUMN] x\n'Project [...]\n" + "plan\n" * 1000)) == \
        "[UNRESOLVED_COLUMN] x"
