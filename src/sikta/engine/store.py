"""The store: one DuckDB file reached through Ibis; the only place that executes.

Transforms elsewhere in :mod:`sikta.engine` build lazy Ibis expressions;
the store materializes them (``create``), runs small result queries
(``frame``) and wraps writes in transactions so that a failed ingest or run
leaves the file as it was.

Examples
--------
>>> import ibis
>>> st = Store(":memory:")
>>> _ = st.create("t", ibis.memtable({"a": [1, 2, 3]}))
>>> int(st.scalar(st.table("t").a.sum()))
6
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import ibis
import ibis.expr.types as ir

from sikta.errors import NotFoundError, ReadOnlyWorkspaceError, WorkspaceError, WorkspaceLockedError

if TYPE_CHECKING:  # pandas and pyarrow load when a frame is asked for: a small ingest needs neither (0.4 s)
    import pandas as pd
    import pyarrow as pa

DEFAULT_MEMORY_LIMIT = "4GB"
#: the tables Ibis's list_tables lists: the current catalog or temp, the current schema
_LISTED = "table_catalog IN (current_database(), 'temp') AND table_schema = current_schema()"
STAGE_PREFIX = "_sikta_stage__"
#: row documents kept beside a table for point reads (see :meth:`sikta.service.segments.RunReader.prepare`)
DOC_PREFIX = "_sikta_doc_"


class Store:
    """A DuckDB workspace file (or ``:memory:``) opened through Ibis.

    Parameters
    ----------
    path
        The DuckDB file; created when missing unless ``read_only``.
    read_only
        Open without write access (several readers may share a file).
    memory_limit
        DuckDB's memory limit; larger work spills to a temp folder beside
        the file. Default ``$SIKTA_MEMORY_LIMIT`` or 4GB.
    threads
        DuckDB worker threads (default: all cores).
    wait
        Seconds to keep trying while another process holds the file (DuckDB lets many read-only
        processes share a file, or one writer have it alone); then :class:`WorkspaceLockedError`.

    A read-only store refuses every write with :class:`ReadOnlyWorkspaceError` before DuckDB
    sees it; ``read_only_reason`` (set by whoever opened it) says why it is read-only.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        wait: float = 0.0,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.read_only_reason: str | None = None
        in_memory = self.path == ":memory:"
        if read_only and not in_memory and not Path(self.path).exists():
            raise NotFoundError(f"workspace {self.path} does not exist: run 'sikta ingest' first")
        config: dict[str, Any] = {
            "memory_limit": memory_limit or os.environ.get("SIKTA_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT),
            # Extensions ship inside the wheel; never fetch one from the network.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": True,
        }
        if threads:
            config["threads"] = threads
        if not in_memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = self.path + ".tmp"
            # A new workspace file gets DuckDB's current storage format: its string compression writes
            # ten million order lines in two thirds of the time (7.0 -> 4.7 s). Only DuckDB of this
            # version or later reads such a file, which is the version Sikta pins (uv.lock); a file
            # made earlier keeps its format.
            config["storage_compatibility_version"] = "latest"
        self.con = self._connect(read_only, config, wait)
        # DuckDB draws its own bar on stdout after 2 s of a query: it broke '--json' output on large data
        self.raw.execute("SET enable_progress_bar = false")
        self._depth = 0
        if not read_only:
            self._discard_leftovers()

    def _connect(self, read_only: bool, config: dict[str, Any], wait: float) -> Any:
        deadline, pause = time.monotonic() + wait, 0.05
        while True:
            try:
                return ibis.duckdb.connect(self.path, read_only=read_only, **config)
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc):
                    raise WorkspaceError(f"cannot open workspace {self.path}: {str(exc).splitlines()[0]}") from None
                if read_only:
                    # this process has the file open for writing already (a notebook's Workspace):
                    # DuckDB shares one database per process, so read through that one
                    self.read_only = False
                    return ibis.duckdb.connect(self.path, read_only=False, **config)
                raise WorkspaceLockedError(f"workspace {self.path} is open read-only in this process: close that "
                                           "first to write to it") from None
            except duckdb.IOException as exc:
                msg = str(exc)
                if "lock" not in msg.lower():
                    raise WorkspaceError(f"cannot open workspace {self.path}: {msg.splitlines()[0]}") from None
                if time.monotonic() >= deadline:
                    raise WorkspaceLockedError(f"workspace {self.path} is in use by another process") from None
            except duckdb.Error as exc:
                raise WorkspaceError(f"{self.path} is not a Sikta workspace: {str(exc).splitlines()[0]}") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def writable(self) -> None:
        """Raise :class:`ReadOnlyWorkspaceError` when this store may not write."""
        if self.read_only:
            why = f": {self.read_only_reason}" if self.read_only_reason else ""
            raise ReadOnlyWorkspaceError(f"workspace {self.path} is open read-only{why}", self.read_only_reason)

    def execute(self, sql: str, params: list | None = None) -> None:
        """Run one parameterized write statement (an UPDATE or DELETE of a metadata table)."""
        self.writable()
        _run(self.raw, sql, params)

    def _discard_leftovers(self) -> None:
        """Tables staged by a process that died before swapping them in."""
        for name in self._table_names():
            if name.startswith(STAGE_PREFIX):
                self.drop(name)

    # -- reading ---------------------------------------------------------
    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The underlying DuckDB connection, for source scans and :meth:`records`."""
        return self.con.con

    def records(
        self, sql: str, params: list | None = None, *, missing_ok: bool = False,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of a small parameterized metadata query as dicts.

        For the hot paths of a server (tokens, one account) where compiling an
        Ibis expression costs more than the query. ``missing_ok``: a table that
        does not exist yet reads as no rows. ``con``: another connection to the
        same database (a per-thread cursor).

        Examples
        --------
        >>> Store(":memory:").records("SELECT 1 AS one, ? AS two", ["x"])
        [{'one': 1, 'two': 'x'}]
        """
        try:
            cur = _run(con or self.raw, sql, params)
        except duckdb.CatalogException:
            if missing_ok:
                return []
            raise
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def rows(self, expr: ir.Table) -> list[dict[str, Any]]:
        """A small expression's rows as dicts of plain Python values (``date``, ``Decimal``, ``None``).

        For the few-row answers of an ingest (counts, verdict summaries): DuckDB hands the values
        over directly, with no pandas or Arrow conversion to load or run.

        Examples
        --------
        >>> t = ibis.memtable({"a": [1, 2, 2]})
        >>> Store(":memory:").rows(t.group_by("a").aggregate(n=t.count()).order_by("a"))
        [{'a': 1, 'n': 1}, {'a': 2, 'n': 2}]
        """
        self.con._run_pre_execute_hooks(expr)
        return self.records(self.con.compile(expr))

    def frame_sql(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """A small metadata query as pandas, typed by DuckDB (see :meth:`records` for why not Ibis).

        Examples
        --------
        >>> Store(":memory:").frame_sql("SELECT 2 AS two, DATE '2025-01-31' AS day").dtypes.astype(str).tolist()
        ['int32', 'datetime64[us]']
        """
        return self.raw.execute(sql, params or []).df()

    def has(self, name: str) -> bool:
        # the question Ibis's list_tables asks (current catalog or temp, current schema), for one name: Ibis
        # builds that query with sqlglot and looks up the catalog and schema first (4 ms against 2 ms), and a
        # command asks it a hundred times or more. The name is inlined, not bound: binding a parameter makes
        # DuckDB load pandas (0.4 s that a small ingest otherwise never pays).
        return self.raw.execute(
            f"SELECT 1 FROM information_schema.tables WHERE table_name = {sql_text(name)} AND {_LISTED} LIMIT 1"
        ).fetchone() is not None

    def tables(self) -> list[str]:
        """The workspace's tables (in-memory inputs Ibis registered on this connection are not among them)."""
        return sorted(t for t in self._table_names() if not t.startswith("ibis_"))

    def _table_names(self) -> list[str]:
        # Ibis's list_tables, without its Arrow fetch (a small ingest would load Arrow for it alone)
        return [r[0] for r in self.raw.execute(
            f"SELECT DISTINCT table_name FROM information_schema.tables WHERE {_LISTED}").fetchall()]

    def table(self, name: str) -> ir.Table:
        if not self.has(name):
            raise NotFoundError(f"the workspace has no table {name!r}")
        return self.con.table(name)

    def frame(self, expr: ir.Table, *, limit: int | None = None) -> pd.DataFrame:
        """Execute a small expression into pandas (one row per account or fewer).

        Whole-number decimals arrive as int64: DuckDB sums integers as HUGEINT, which Ibis reads
        as ``decimal(38, 0)`` and turns into Python ``Decimal`` objects one value at a time (5 s
        for 40,000 units x 19 count columns, against 0.1 s for the same numbers as int64).
        """
        if not isinstance(expr, ir.Table):
            return self.con.execute(expr, limit=limit)
        from ibis.backends.duckdb.converter import DuckDBPandasData
        from ibis.formats.pandas import PandasData

        expr = _whole_decimals_as_int(expr)
        table = self.con.to_pyarrow(expr, limit=limit)
        df = _arrow_to_pandas(table)
        # Ibis's two conversions (its DuckDB one, then its generic one), each column once, in place:
        # Ibis rebuilds the frame after each (2 x 1.5 s for 1M accounts) and copies every list twice.
        for name, dtype in expr.schema().items():
            if dtype.is_array() and (dtype.value_type.is_string() or dtype.value_type.is_numeric()
                                     or dtype.value_type.is_boolean()):
                continue  # already lists of plain values with None for null: both conversions keep them
            s = df[name]
            c = PandasData.convert_column(DuckDBPandasData.convert_column(s, dtype), dtype)
            if c is not s:
                df[name] = c
        return df

    def scalar(self, expr: ir.Scalar) -> Any:
        return self.con.execute(expr)

    def count(self, expr: ir.Table) -> int:
        self.con._run_pre_execute_hooks(expr)
        return int(self.raw.execute(f"SELECT count(*) FROM ({self.con.compile(expr)})").fetchone()[0])

    def export_parquet(self, name: str, path: str | Path) -> None:
        """Write table ``name`` as one Parquet file, for another engine to read (works read-only too).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> st = Store(":memory:")
        >>> _ = st.create("t", ibis.memtable({"a": [1, 2]}))
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
        >>> st.export_parquet("t", f)
        >>> st.records(f"SELECT sum(a) AS s FROM read_parquet('{f}')")
        [{'s': 3}]
        """
        self.raw.execute(f'COPY (SELECT * FROM "{name}") TO {sql_text(str(path))} (FORMAT parquet)')

    # -- writing ---------------------------------------------------------
    def create(
        self, name: str, expr: ir.Table | pd.DataFrame, *, temp: bool = False, schema: dict | None = None,
        view: bool = False,
    ) -> ir.Table:
        """Materialize ``expr`` as table ``name`` (replacing it); with ``view`` (temp only) just name it.

        A DataFrame needs ``schema`` when a column may be all-null. One
        ``CREATE OR REPLACE`` statement, because Ibis's create-then-rename
        confuses DuckDB's catalog inside a transaction.
        """
        if not temp:
            self.writable()
        if view and not temp:
            raise ValueError("only temporary views: a workspace view would outlive the data it reads")
        expr = _as_table(expr, schema)
        if null_cols := expr.schema().null_fields:
            raise TypeError(f"{name}: columns without a type: {null_cols}")
        self.con._run_pre_execute_hooks(expr)  # registers in-memory tables with DuckDB
        sql = self.con.compile(expr)
        kind = "TEMP VIEW" if view else "TEMP TABLE" if temp else "TABLE"
        body = sql if view else _typed_as_declared(sql, expr.schema())  # a view stays the query it names
        self.con.raw_sql(f'CREATE OR REPLACE {kind} "{name}" AS {body}')
        return self.con.table(name, database="temp") if temp else self.con.table(name)

    def create_empty(self, name: str, schema: dict[str, str], *, replace: bool = True) -> ir.Table:
        """Create an empty table from a schema with plain DDL.

        With ``replace=False`` an existing table is kept and given any
        column of ``schema`` it lacks (metadata tables of older workspaces).
        """
        self.writable()
        defs = ibis.schema(schema).to_sqlglot_column_defs("duckdb")
        if not replace and self.has(name):
            # Workspaces outlive versions of Sikta: add what an older one lacks.
            present = set(self.con.table(name).columns)
            for col, d in zip(schema, defs, strict=True):
                if col not in present:
                    self.con.raw_sql(f'ALTER TABLE "{name}" ADD COLUMN {d.sql("duckdb")}')
            return self.con.table(name)
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        self.con.raw_sql(f'{verb} "{name}" ({", ".join(d.sql("duckdb") for d in defs)})')
        return self.con.table(name)

    def drop(self, name: str) -> None:
        self.writable()
        self.con.drop_table(name, force=True)

    def insert(self, name: str, expr: ir.Table | pd.DataFrame | list[dict], *, schema: dict | None = None) -> None:
        """Append rows to table ``name``: an expression, a DataFrame, or a list of dicts with ``schema``."""
        self.writable()
        if isinstance(expr, list):
            self._insert_rows(name, expr, schema)
            return
        expr = _as_table(expr, schema)
        # One INSERT ... SELECT by column name: Ibis's own insert inspects both tables first (slow on
        # a busy catalog) for what this does in one statement.
        self.con._run_pre_execute_hooks(expr)
        cols = ", ".join('"' + c.replace('"', '""') + '"' for c in expr.columns)
        self.con.raw_sql(f'INSERT INTO "{name}" ({cols}) {self.con.compile(expr)}')

    def _insert_rows(self, name: str, rows: list[dict], schema: dict | None) -> None:
        """Rows given as dicts, through a JSON-lines file DuckDB reads with the declared types.

        Neither an in-memory table (Arrow) nor bound parameters: both make DuckDB or Arrow load
        pandas, 0.4 s that a small ingest would pay for its three bookkeeping rows.
        """
        if schema is None:
            raise TypeError("rows given as dicts need a schema")
        if not rows:
            return
        import json
        import tempfile

        defs = ibis.schema(schema).to_sqlglot_column_defs("duckdb")
        types = ", ".join(f"'{c}': '{d.args['kind'].sql('duckdb')}'" for c, d in zip(schema, defs, strict=True))
        cols = ", ".join('"' + c.replace('"', '""') + '"' for c in schema)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8", delete=False) as f:
            for r in rows:
                f.write(json.dumps({c: r.get(c) for c in schema}, default=str) + "\n")
        try:
            self.raw.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM read_json({sql_text(f.name)}, '
                             f"format = 'newline_delimited', columns = {{{types}}})")
        finally:
            Path(f.name).unlink(missing_ok=True)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all (re-entrant)."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self.writable()
        self.con.raw_sql("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self.con.raw_sql("ROLLBACK")
            raise
        self._depth = 0
        self.con.raw_sql("COMMIT")

    @contextmanager
    def staged(self) -> Iterator[Stage]:
        """Build new tables aside, then swap them all in at once.

        Inside the block, write through the yielded :class:`Stage`; the
        current tables stay untouched and readable. On success every staged
        table replaces its namesake in one short transaction; on any error
        (or a killed process) the staged tables are discarded.
        """
        self.writable()  # before any work: a read-only store learns it at once, not after the build
        stage = Stage(self)
        try:
            yield stage
        except BaseException:
            stage.discard()
            raise
        stage.commit()

    def close(self) -> None:
        self.con.disconnect()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Stage:
    """Tables being built for an atomic swap (see :meth:`Store.staged`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.built: list[str] = []
        self.removed: list[str] = []
        self.on_commit: list[Any] = []

    def name(self, final: str) -> str:
        return STAGE_PREFIX + final

    def create(self, final: str, expr: ir.Table | pd.DataFrame, *, schema: dict | None = None) -> ir.Table:
        out = self.store.create(self.name(final), expr, schema=schema)
        self._built(final)
        return out

    def create_empty(self, final: str, schema: dict[str, str]) -> ir.Table:
        out = self.store.create_empty(self.name(final), schema)
        self._built(final)
        return out

    def insert(self, final: str, expr: ir.Table | pd.DataFrame | list[dict], *, schema: dict | None = None) -> None:
        self.store.insert(self.name(final), expr, schema=schema)

    def table(self, final: str) -> ir.Table:
        return self.store.table(self.name(final))

    def prune(self, final: str, *, failed: str, drop: tuple[str, ...]) -> None:
        """Delete the rows of staged ``final`` where column ``failed`` is set, then drop the columns ``drop``.

        So a table is written once, bookkeeping columns and all, and cut to its final shape in place:
        in DuckDB a delete only marks rows and a dropped column's data is no longer referenced (both
        take milliseconds), where a second ``CREATE TABLE AS`` would rewrite every row. Outside a
        transaction only: DuckDB refuses to commit a column drop in the transaction that deleted rows,
        so each statement commits on its own.
        """
        if self.store._depth:
            raise RuntimeError("Stage.prune runs outside a transaction (a drop after a delete cannot commit)")
        table = '"' + self.name(final) + '"'
        self.store.execute(f'DELETE FROM {table} WHERE "{failed}" IS NOT NULL')
        for column in drop:
            self.store.execute(f'ALTER TABLE {table} DROP COLUMN "{column}"')

    def remove(self, final: str) -> None:
        """Drop ``final`` when the stage commits."""
        self.removed.append(final)

    def _built(self, final: str) -> None:
        if final not in self.built:
            self.built.append(final)

    def commit(self) -> None:
        with self.store.transaction():
            for final in self.removed:
                self.store.drop(final)
            for final in self.built:
                self.store.drop(final)
                self.store.con.raw_sql(f'ALTER TABLE "{self.name(final)}" RENAME TO "{final}"')
            for action in self.on_commit:
                action()

    def discard(self) -> None:
        for final in self.built:
            self.store.drop(self.name(final))


def sql_text(text: str) -> str:
    """``text`` as a SQL string literal (for the statements that must not bind parameters).

    Examples
    --------
    >>> sql_text("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list | None) -> duckdb.DuckDBPyConnection:
    # parameters bound only when there are some: binding, even an empty list, makes DuckDB load pandas
    return con.execute(sql, params) if params else con.execute(sql)


def _as_table(data: ir.Table | pd.DataFrame, schema: dict | None) -> ir.Table:
    """An expression as given, or a DataFrame in memory."""
    return data if isinstance(data, ir.Table) else ibis.memtable(data, schema=schema)


_INT_SQL = {"Int8": "TINYINT", "Int16": "SMALLINT", "Int32": "INTEGER", "Int64": "BIGINT"}


def _typed_as_declared(sql: str, schema: ibis.Schema) -> str:
    """``sql`` with its integer columns cast to the types Ibis declares for them.

    DuckDB widens ``SUM`` of integers to HUGEINT; stored as such, a count Ibis typed ``int64``
    comes back as ``decimal(38, 0)`` (and differs from what Spark stores). The casts of columns
    that already have the type cost nothing.
    """
    casts = []
    for c, t in schema.items():
        if (sql_type := _INT_SQL.get(type(t).__name__)) is not None:
            q = '"' + c.replace('"', '""') + '"'
            casts.append(f"CAST({q} AS {sql_type}) AS {q}")
    if not casts:
        return sql
    return f"SELECT * REPLACE ({', '.join(casts)}) FROM ({sql})"


def _arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Columns as Ibis's DuckDB backend hands them to its type conversion, built the fast way.

    Ibis turns every column that holds a null into a Python list, and pandas then infers a type
    from a million Python objects: 11 s for the feature table of 1M accounts, against 1 s through
    Arrow. Arrow gives the same values and types for numbers, text, booleans and dates with
    nulls (timestamps are made nanosecond, as the list route makes them); nested, dictionary-
    encoded, all-null and other columns still go the list route, so frames are exactly as before.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.types as pat

    listed: dict[int, list] = {}
    keep, fields = [], []
    for i, (name, col) in enumerate(zip(table.column_names, table.columns, strict=True)):
        t = col.type
        if pat.is_nested(t) or pat.is_dictionary(t) or (col.null_count and (
                col.null_count == len(col) or not _nulls_convert_alike(t))):
            listed[i] = col.to_pylist()
            continue
        if col.null_count and pat.is_timestamp(t) and t.tz is None and t.unit != "ns":
            try:
                col = col.cast(pa.timestamp("ns"))
            except (pa.ArrowInvalid, OverflowError):
                listed[i] = col.to_pylist()
                continue
        keep.append(col)
        fields.append(name)
    # one conversion of the whole table: pandas builds its blocks once instead of merging columns
    df = pa.Table.from_arrays(keep, names=fields).to_pandas() if keep else pd.DataFrame(index=range(len(table)))
    for i, values in listed.items():
        df.insert(i, table.column_names[i], values)
    return df


def _nulls_convert_alike(t: pa.DataType) -> bool:
    """Types whose nulls Arrow turns into what a Python list turns into (NaN, None, NaT)."""
    import pyarrow.types as pat

    return (pat.is_integer(t) or pat.is_floating(t) or pat.is_string(t) or pat.is_large_string(t)
            or pat.is_boolean(t) or pat.is_date32(t) or pat.is_timestamp(t))


def _whole_decimals_as_int(expr: ir.Table) -> ir.Table:
    whole = [c for c, t in expr.schema().items() if t.is_decimal() and t.scale == 0]
    return expr.mutate(**{c: expr[c].cast("int64") for c in whole}) if whole else expr
