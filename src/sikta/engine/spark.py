"""Run Sikta's Ibis expressions on a local (or remote) Spark, through Ibis's PySpark backend (SPEC §4.8).

The feature transforms in :mod:`sikta.engine.features` are pure Table → Table
functions, so running them on Spark only needs Spark tables to start from and
a way to bring the (per-unit, small) result back. This module holds the three
Spark-specific pieces, and nothing else knows about Spark:

* :func:`session` - one SparkSession per process (starting one takes seconds),
  with the JVM's console output sent to a log file instead of the terminal;
* :func:`export_snapshot` - the workspace's tables written once as Parquet
  into a folder keyed by the ingest snapshot, reused until the data changes;
* :func:`execute` - an expression run on Spark into an Arrow table, with
  Spark's multi-page errors cut to their first line.

``pyspark`` is imported inside the functions: the rest of Sikta (and its CLI)
starts without it, and a missing Java or pyspark is one clear
:class:`~sikta.errors.EngineUnavailableError` instead of a traceback.

Examples
--------
>>> SparkSettings.from_env({"SIKTA_SPARK_MASTER": "local[4]"}).master
'local[4]'
>>> SparkSettings.from_env({"SIKTA_SPARK_CONF": "spark.driver.memory=4g"}).conf
(('spark.driver.memory', '4g'),)
>>> snapshot_folder("/data/ws.duckdb.spark", "ing-2025 06/30")
'/data/ws.duckdb.spark/ing-2025_06_30'
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis.expr.types as ir

from sikta.errors import EngineUnavailableError, UsageError

DEFAULT_MASTER = "local[2]"
#: Spark 4 runs on Java 17 or later
MIN_JAVA = 17
#: shuffle partitions for a local master: Spark's 200 make a small job wait on 200 empty tasks
LOCAL_SHUFFLE_PARTITIONS = 4
#: a snapshot folder is complete when this file exists (written last, so a killed export is redone)
COMPLETE = "_COMPLETE"

_SESSION: dict[str, Any] = {}


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs.

    Attributes
    ----------
    master
        The Spark master URL: ``local[2]`` (two local cores) by default,
        ``$SIKTA_SPARK_MASTER`` to change it.
    conf
        Extra Spark settings, ``$SIKTA_SPARK_CONF`` as whitespace-separated
        ``key=value`` pairs (e.g. ``spark.driver.memory=4g``; quote a value
        with spaces as in a shell); they win over Sikta's own.
    """

    master: str = DEFAULT_MASTER
    conf: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SparkSettings:
        env = os.environ if env is None else env
        pairs = []
        try:  # shell-style words, so a value with spaces can be quoted: key='-Xa -Xb'
            items = shlex.split(env.get("SIKTA_SPARK_CONF") or "")
        except ValueError as exc:
            raise UsageError(f"SIKTA_SPARK_CONF: {exc}") from None
        for item in items:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise UsageError(f"SIKTA_SPARK_CONF: {item!r} is not key=value")
            pairs.append((key, value))
        return cls(env.get("SIKTA_SPARK_MASTER") or DEFAULT_MASTER, tuple(pairs))


def java_version(java: str) -> int | None:
    """The major version ``java -version`` reports (``1.8`` counts as 8), None when unreadable."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_available() -> None:
    """Raise :class:`EngineUnavailableError` unless pyspark imports and a Java 17+ is found.

    Java is ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set (that is what
    Spark starts), else ``java`` on the PATH.
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise EngineUnavailableError("the spark engine needs pyspark: install it (pip install 'pyspark>=4' "
                                     "'ibis-framework[pyspark]') or use --engine duckdb") from None
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on the PATH"
        raise EngineUnavailableError(f"the spark engine needs Java {MIN_JAVA} or later ({where}): install a JDK "
                                     "or use --engine duckdb")
    version = java_version(java)
    if version is not None and version < MIN_JAVA:
        raise EngineUnavailableError(f"the spark engine needs Java {MIN_JAVA} or later, {java} is Java {version}: "
                                     "set JAVA_HOME to a newer JDK or use --engine duckdb")


def session(settings: SparkSettings, log_file: str | Path) -> Any:
    """The process's Ibis PySpark backend, started on first use with ``settings.master``.

    The JVM inherits file descriptor 2 when it starts, so pointing it at
    ``log_file`` for that moment sends all of Spark's own console output
    (banner, warnings, stage progress) there for good, while Python's stderr
    is restored at once. Later calls return the same backend: a second master
    in one process would need a second JVM.
    """
    if "backend" in _SESSION:
        return _SESSION["backend"]
    check_available()
    import ibis
    from pyspark.sql import SparkSession

    # pyspark logs every failed query as a JSON document on stderr; the exception says it in one line
    logging.getLogger("SQLQueryContextLogger").disabled = True
    builder = (SparkSession.builder.master(settings.master).appName("sikta")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC"))  # dates and timestamps read as DuckDB wrote them
    if settings.master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
    for key, value in settings.conf:
        builder = builder.config(key, value)
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    try:
        with open(log_file, "ab") as log:
            os.dup2(log.fileno(), 2)
            try:
                spark = builder.getOrCreate()
            finally:
                os.dup2(saved, 2)
    except EngineUnavailableError:
        raise
    except Exception as exc:  # the JVM did not come up: say where its own words are
        raise EngineUnavailableError(f"Spark did not start ({first_line(exc)}); see {log_file}") from None
    finally:
        os.close(saved)
    spark.sparkContext.setLogLevel("ERROR")
    _SESSION.update(spark=spark, backend=ibis.pyspark.connect(spark), master=settings.master)
    atexit.register(stop)
    return _SESSION["backend"]


def stop() -> None:
    """Stop the process's Spark session, if one was started (the next :func:`session` starts anew)."""
    spark = _SESSION.pop("spark", None)
    _SESSION.clear()
    if spark is not None:
        spark.stop()


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text: Spark's messages run to pages of plan."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def snapshot_folder(warehouse: str | Path, snapshot_id: str) -> str:
    """The folder of one snapshot: the id with anything but letters, digits, ``-`` and ``.`` made ``_``."""
    return str(Path(warehouse) / re.sub(r"[^0-9A-Za-z.\-]+", "_", snapshot_id))


def export_snapshot(
    warehouse: str | Path, snapshot_id: str, names: Iterable[str], write: Any
) -> Path:
    """Write each table once as ``<name>.parquet`` into the snapshot's folder; reuse a complete one.

    Parameters
    ----------
    warehouse
        The folder holding snapshots; other snapshots in it are removed once
        this one is complete (they describe data the workspace no longer has).
    snapshot_id
        The ingest the tables come from: a new ingest means a new folder.
    names
        Tables to write; a leading ``_`` is dropped from the file name,
        because Spark skips files whose names start with ``_`` or ``.``.
    write
        ``write(table, path)`` writes one table as Parquet (the store does).

    The files go to a temporary folder first and are renamed into place, so a
    killed export leaves no half snapshot behind.
    """
    target = Path(snapshot_folder(warehouse, snapshot_id))
    if not (target / COMPLETE).exists():
        temp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        for name in names:
            write(name, temp / f"{name.lstrip('_')}.parquet")
        (temp / COMPLETE).write_text(snapshot_id + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        temp.rename(target)
    for old in Path(warehouse).iterdir():
        if old.is_dir() and old != target and not old.name.endswith(f".tmp-{os.getpid()}"):
            shutil.rmtree(old, ignore_errors=True)
    return target


def read_snapshot(backend: Any, folder: str | Path, names: Iterable[str]) -> dict[str, ir.Table]:
    """The snapshot's tables on Spark, by their workspace names (views named after the folder, so two
    snapshots never share a view)."""
    tag = re.sub(r"\W+", "_", Path(folder).name)
    return {name: backend.read_parquet(str(Path(folder) / f"{name.lstrip('_')}.parquet"),
                                       table_name=f"sikta_{tag}_{name.lstrip('_')}") for name in names}


def execute(backend: Any, expr: ir.Table) -> Any:
    """Run ``expr`` on Spark into a ``pyarrow.Table`` typed as the expression's schema.

    A Spark failure is re-raised as a RuntimeError carrying only the first line of Spark's message
    (the query plan it adds runs to hundreds of kilobytes).
    """
    try:
        return backend.to_pyarrow(expr)
    except Exception as exc:
        raise RuntimeError(f"Spark could not run the query: {first_line(exc)}") from None


__all__ = ["DEFAULT_MASTER", "SparkSettings", "check_available", "execute", "export_snapshot", "first_line",
           "read_snapshot", "session", "snapshot_folder", "stop"]
