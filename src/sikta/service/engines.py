"""Which engine runs the transaction-level work of a feature build: DuckDB (default) or Spark.

Both engines run the *same* Ibis expressions (:func:`sikta.engine.features.build_features`);
only where the input tables live and who executes differ. With ``duckdb`` the
tables are the workspace's own. With ``spark`` the workspace's tables are
exported once per ingest snapshot as Parquet into a warehouse folder, read by a
Spark session, and only the result - one row per unit - comes back into the
workspace. Runs, the matrix and everything downstream then read it from DuckDB
as always. Details: docs/engines.md.

Settings (environment)
----------------------
``SIKTA_SPARK_MASTER``
    Spark master URL, default ``local[2]``.
``SIKTA_SPARK_WAREHOUSE``
    Folder for the Parquet snapshots; each workspace gets its own subfolder
    there. Default: ``<workspace>.spark/`` next to the workspace file.

Examples
--------
>>> check_engine("duckdb"), check_engine(None)
('duckdb', 'duckdb')
>>> check_engine("postgres")
Traceback (most recent call last):
...
sikta.errors.UsageError: unknown engine 'postgres': use duckdb or spark
>>> from pathlib import Path
>>> warehouse_for(Path("/data/ws.duckdb"), env={})
PosixPath('/data/ws.duckdb.spark')
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

from sikta.engine.contract import CONTRACT
from sikta.errors import UsageError, WorkspaceError

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"
#: the workspace's settings (key, value): so far the engine its commands run on by default
SETTINGS = "_sikta_settings"
SETTINGS_SCHEMA = {"key": "string", "value": "string", "set_at": "timestamp"}


def check_engine(name: str | None) -> str:
    """The engine's name, checked; None means the default (duckdb)."""
    name = DEFAULT_ENGINE if name is None else str(name).strip().lower()
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r}: use {' or '.join(ENGINES)}")
    return name


def workspace_engine(ws: Workspace) -> str | None:
    """The engine this workspace is set to run on (``sikta engine spark``), or None when none is set.

    The setting is the default of ``--engine`` for the commands that take it: with none, DuckDB
    builds what is missing and stored results are used whichever engine made them.

    Examples
    --------
    >>> from sikta.service.workspace import Workspace
    >>> ws = Workspace(":memory:")
    >>> workspace_engine(ws) is None
    True
    >>> set_workspace_engine(ws, "duckdb") is None  # DuckDB is the default: setting it clears the setting
    True
    """
    if not ws.store.has(SETTINGS):
        return None
    row = ws.store.raw.execute(f'SELECT value FROM "{SETTINGS}" WHERE key = ?', ["engine"]).fetchone()
    return None if row is None or row[0] == DEFAULT_ENGINE else check_engine(row[0])


def set_workspace_engine(ws: Workspace, name: str) -> str | None:
    """Set the engine of the workspace; ``duckdb`` (the default) clears the setting. Returns the setting.

    Setting ``spark`` checks first that Spark can start here (pyspark, Java 17+), so a machine
    that cannot run it says so now, not at the next build.
    """
    engine = check_engine(name)
    ws.store.writable()
    if engine != DEFAULT_ENGINE:
        from sikta.engine import spark

        spark.check_available()
    with ws.store.transaction():
        ws.store.create_empty(SETTINGS, SETTINGS_SCHEMA, replace=False)
        ws.store.execute(f'DELETE FROM "{SETTINGS}" WHERE key = \'engine\'')
        if engine != DEFAULT_ENGINE:
            ws.store.execute(f'INSERT INTO "{SETTINGS}" VALUES (\'engine\', ?, now()::TIMESTAMP)', [engine])
    return workspace_engine(ws)


def warehouse_for(workspace: Path, env: Mapping[str, str] | None = None) -> Path:
    """The Parquet warehouse of a workspace: ``<workspace>.spark/``, or a subfolder of ``$SIKTA_SPARK_WAREHOUSE``.

    In a shared warehouse each workspace gets ``<file name>-<hash of its path>``, because an export
    removes the snapshots it replaces and must never remove another workspace's.
    """
    env = os.environ if env is None else env
    base = env.get("SIKTA_SPARK_WAREHOUSE")
    if not base:
        return Path(f"{workspace}.spark")
    digest = hashlib.sha256(str(Path(workspace).resolve()).encode()).hexdigest()[:10]
    return Path(base) / f"{Path(workspace).name}-{digest}"


@dataclass
class Inputs:
    """The tables one feature build reads, and who executes expressions over them.

    ``tables`` are the contract tables by name, ``hierarchy`` the ingest's
    account hierarchy, ``backend`` the workspace's store (duckdb) or the Ibis
    PySpark backend (spark).
    """

    engine: str
    tables: dict[str, ir.Table]
    hierarchy: ir.Table
    backend: Any
    notes: list[str] = field(default_factory=list)

    def frame(self, expr: ir.Table) -> Any:
        """A small query's result as pandas (the distinct values that name columns)."""
        return self.backend.frame(expr) if self.engine == "duckdb" else self.backend.to_pandas(expr)

    def result(self, expr: ir.Table) -> ir.Table:
        """What the workspace stores for ``expr``: the expression itself on duckdb; on spark its result,
        fetched as Arrow (one row per unit) and typed as the expression says."""
        if self.engine == "duckdb":
            return expr
        import ibis

        from sikta.engine import spark

        return ibis.memtable(spark.execute(self.backend, expr)).cast(expr.schema())


def inputs(ws: Workspace, engine: str | None) -> Inputs:
    """The inputs of a build on ``engine`` (None: duckdb).

    For duckdb: the workspace's own tables. For spark: the Spark session
    (started once per process), and the workspace's tables as of its last
    ingest, exported to Parquet on first use and reused until the next ingest.
    """
    from sikta.service import ingest as ing

    names = [n for n in CONTRACT if ws.store.has(n)]
    if check_engine(engine) == "duckdb":
        return Inputs("duckdb", {n: ws.store.table(n) for n in names}, ws.store.table(ing.HIERARCHY), ws.store)
    from sikta.engine import spark

    spark.check_available()  # before exporting anything: a missing Java is said at once
    snapshot = (ws.last_ingest() or {}).get("ingest_id")
    if not snapshot:
        raise WorkspaceError(f"workspace {ws.path} holds no ingest yet: run 'sikta ingest PATH' first")
    settings = spark.SparkSettings.from_env()
    warehouse = warehouse_for(ws.path)
    folder = spark.export_snapshot(warehouse, str(snapshot), [*names, ing.HIERARCHY], ws.store.export_parquet)
    backend = spark.session(settings, warehouse / "spark.log")
    tables = spark.read_snapshot(backend, folder, [*names, ing.HIERARCHY])
    hierarchy = tables.pop(ing.HIERARCHY)
    return Inputs("spark", tables, hierarchy, backend, [f"built on Spark ({settings.master}) from {folder}"])


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Inputs", "check_engine", "inputs", "set_workspace_engine", "warehouse_for",
           "workspace_engine"]
