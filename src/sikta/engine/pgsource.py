"""PostgreSQL as an ingest source: contract tables read from a database's tables.

``sikta ingest postgresql://user@host[:port]/database [--schema S]`` reads
each contract table from a table (or view) of the same name in the schema
(``public`` by default), or from the table a mapping names with ``table:``
(see :mod:`sikta.engine.mapping`). The rows then take exactly the path of a
file's: :func:`sikta.engine.sources.stage` builds the same staging relation
(``_file``, ``_row``, ``_line_hash`` and the contract columns), so
validation, quarantine, the shrink guard and the atomic swap are the file
path's own.

* **Streaming.** Rows come through Ibis's postgres backend as Arrow record
  batches from a server-side cursor (:data:`BATCH_ROWS` at a time) into a
  DuckDB temp table; no table passes through pandas.
* **One snapshot.** Every table is read inside one ``REPEATABLE READ READ
  ONLY`` transaction, so orders and their accounts come from the same moment
  even while the database is being written to.
* **Row numbers.** ``_row`` is the 1-based position in ``ORDER BY`` the
  table's key columns, then every other column in the table's order (a
  total order on the content, so the numbers do not change with the physical
  layout, e.g. after ``VACUUM FULL`` or an update, and a duplicate key's
  "first at row N" is the same on every ingest). Quarantine entries name the
  source as ``postgresql://user:***@host:port/database/schema.table``.
* **Types.** Text, whole numbers, floats, booleans, dates and timestamps
  keep their types; ``numeric`` becomes a float (a whole number at scale 0),
  ``timestamptz`` a UTC timestamp, anything else (uuid, json, arrays, ...)
  its text form.
* **Passwords.** libpq reads the URL, so ``PGPASSWORD`` and ``~/.pgpass``
  work; a password in the URL is never shown: labels and messages carry
  ``***`` in its place.

Examples
--------
>>> redact_url("postgres://ann:s3cret@db.example:5432/crm?sslmode=require")
'postgresql://ann:***@db.example:5432/crm?sslmode=require'
>>> is_db_url("postgresql://db/crm"), is_db_url("data/orders.csv")
(True, False)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sikta.engine.contract import CONTRACT, REVENUE_TABLES
from sikta.engine.mapping import Mapping
from sikta.engine.sources import Located, Source
from sikta.engine.store import Store
from sikta.errors import InputError, UsageError

SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "public"
#: rows per Arrow record batch fetched from the server-side cursor
BATCH_ROWS = 50_000
#: seconds to wait for a server that does not answer (libpq waits forever by default)
CONNECT_TIMEOUT = 15
_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")
_PASSWORD_PARAM = re.compile(r"(?i)((?:^|[?&])password=)[^&]*")


def is_db_url(text: object) -> bool:
    """Whether ``text`` is a ``postgresql://`` (or ``postgres://``) URL rather than a path.

    Examples
    --------
    >>> is_db_url("POSTGRES://db/crm"), is_db_url("postgresql:/db/crm")
    (True, False)
    """
    return isinstance(text, str) and text.split("://", 1)[0].lower() in SCHEMES and "://" in text


def redact_url(url: str) -> str:
    """``url`` with ``postgresql://`` as its scheme and any password replaced by ``***``.

    Works on what libpq accepts, including several hosts (``h1,h2:5433``)
    and a ``password=`` query parameter.

    Examples
    --------
    >>> redact_url("postgresql://ann:pw@h1,h2:5433/crm?password=pw")
    'postgresql://ann:***@h1,h2:5433/crm?password=***'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme.lower() in SCHEMES:
        scheme = "postgresql"
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = userinfo.split(":", 1)[0] + ":***@" + hosts
    tail = _PASSWORD_PARAM.sub(lambda m: m.group(1) + "***", tail)
    return f"{scheme}://{netloc}{slash}{tail}"


def _secrets(url: str) -> list[str]:
    """The password as written in the URL and decoded (to scrub from driver messages)."""
    parts = urlsplit(url)
    found = [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        found += [raw, unquote(raw)]
    # a password of 1-3 characters would garble every message it is scrubbed from, and its letters say nothing
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


@dataclass(eq=False)
class DbTable:
    """One table of the database feeding one source of a contract table.

    ``str()`` is its label for the quarantine and the ingest's records.
    """

    db: PgSource
    schema: str
    name: str
    key: tuple[str, ...] = ()
    #: sha256 over the row count and the rows' hashes, set by :meth:`scan`
    fingerprint: str | None = None
    _view: str | None = None
    _names: list[str] | None = None

    def __str__(self) -> str:
        return f"{self.db.label}/{self.schema}.{self.name}"

    def scan(self, store: Store, view: str) -> tuple[str, list[str]]:
        """Stream the table into the temp table ``view`` (once): ``c0..cn`` + ``__row``; and its column names."""
        if self._view is None:
            self._names = self.db.copy_into(store, self, view)
            self._view = view
        return f'"{self._view}"', list(self._names or [])


class PgSource:
    """An open, read-only connection to one database, in one snapshot; :meth:`close` ends it.

    Raises :class:`InputError` in one line when the server cannot be reached
    or refuses the login (the password never in the message).

    Examples
    --------
    >>> db = PgSource("postgresql://ann@db.example/crm")  # doctest: +SKIP
    >>> db.label, db.tables("public")[:2]  # doctest: +SKIP
    ('postgresql://ann@db.example/crm', ['accounts', 'orders'])
    >>> db.close()  # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        import ibis
        import psycopg

        self.url = url
        self._secrets = _secrets(url)
        parts = urlsplit(url)
        if parts.path.strip("/").count("/"):
            raise UsageError(f"{redact_url(url)}: give the database only (postgresql://user@host/database) "
                             "and the schema with --schema")
        base = redact_url(url).split("?", 1)[0].rstrip("/")
        timeout = {} if "connect_timeout" in parts.query else {"connect_timeout": CONNECT_TIMEOUT}
        try:
            self.raw = psycopg.connect(url, autocommit=True, **timeout)
        except Exception as exc:  # noqa: BLE001 - psycopg's own error classes: one line, no password
            raise InputError(f"cannot connect to {base}: {self.clean(exc)}") from None
        # one transaction for every read: all tables come from the same snapshot
        self.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.con = ibis.postgres.from_connection(self.raw)
        self.label = base if parts.path.strip("/") else f"{base}/{self.raw.info.dbname}"

    def clean(self, exc: BaseException) -> str:
        """A driver message as one line, without the URL's password."""
        text = "; ".join(" ".join(ln.split()) for ln in str(exc).splitlines() if ln.strip()) or type(exc).__name__
        text = text.replace(self.url, redact_url(self.url))
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:400]

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:  # noqa: BLE001,S110 - closing a broken connection has nothing left to report
            pass

    def schemas(self) -> list[str]:
        return [s for s in self.con.list_databases() if s not in _SYSTEM_SCHEMAS and not s.startswith("pg_")]

    def tables(self, schema: str) -> list[str]:
        return sorted(self.con.list_tables(database=schema))

    def copy_into(self, store: Store, table: DbTable, view: str) -> list[str]:
        """Stream ``table`` into DuckDB temp table ``view`` in key order; returns the source column names."""
        import numpy as np
        import pyarrow as pa

        try:
            t = self.con.table(table.name, database=table.schema)
            names = list(t.columns)
            cols = {f"c{j}": _readable(t[c]) for j, c in enumerate(names)}
            sel = t.select(**cols)
            first = [f"c{names.index(k)}" for k in (_find(names, k) for k in table.key) if k is not None]
            order = first + [c for c in sel.columns if c not in first]
            reader = self.con.to_pyarrow_batches(sel.order_by(order), chunk_size=BATCH_ROWS)
            schema = reader.schema.append(pa.field("__row", pa.int64()))
            store.raw.register(f"{view}__empty", schema.empty_table())
            store.raw.execute(f'CREATE OR REPLACE TEMP TABLE "{view}" AS SELECT * FROM "{view}__empty"')
            store.raw.unregister(f"{view}__empty")
            done = 0
            for batch in reader:
                rows = pa.array(np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64))
                chunk = pa.Table.from_batches([batch]).append_column("__row", rows)
                store.raw.register(f"{view}__batch", chunk)
                store.raw.execute(f'INSERT INTO "{view}" SELECT * FROM "{view}__batch"')
                store.raw.unregister(f"{view}__batch")
                done += batch.num_rows
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database or the driver refused: one line, no password
            raise InputError(f"{table}: cannot read: {self.clean(exc)}") from None
        every = ", ".join(f'"c{j}"' for j in range(len(names))) or "NULL"
        n, mix = store.raw.execute(f'SELECT count(*), bit_xor(hash({every})) FROM "{view}"').fetchone()
        table.fingerprint = hashlib.sha256(f"{n}:{mix}".encode()).hexdigest()
        return names


def _readable(col: Any) -> Any:
    """A column in a type the staging relation reads (see the module docstring)."""
    dtype = col.type()
    if dtype.is_string() or dtype.is_integer() or dtype.is_floating() or dtype.is_boolean() or dtype.is_date():
        return col
    if dtype.is_decimal():
        return col.cast("int64" if dtype.scale == 0 else "float64")
    if dtype.is_timestamp():
        return col.cast("timestamp") if dtype.timezone else col  # the session runs in UTC
    return col.cast("string")


def _find(names: list[str], wanted: str) -> str | None:
    """``wanted`` among ``names``: exact, else the only case-insensitive match."""
    if wanted in names:
        return wanted
    hits = [n for n in names if n.lower() == wanted.lower()]
    return hits[0] if len(hits) == 1 else None


def locate_db(db: PgSource, mapping: Mapping, schema: str | None = None) -> Located:
    """Decide which table of the database feeds which source of which contract table.

    A source with ``table:`` reads that table (``name`` in ``schema`` or
    ``other_schema.name``); otherwise a table named after the contract table
    in ``schema`` is read when there is one, as a folder's files are.

    Raises
    ------
    InputError
        The schema or a named table does not exist, the mapping names files,
        or there is no accounts table (and no ``derive_from``) or no revenue table.

    Examples
    --------
    >>> found = locate_db(PgSource("postgresql://ann@db.example/crm"), Mapping())  # doctest: +SKIP
    >>> [str(t) for t in found.inputs("orders")]  # doctest: +SKIP
    ['postgresql://ann@db.example/crm/public.orders']
    """
    schemas = db.schemas()
    wanted = schema or DEFAULT_SCHEMA
    schema = _find(schemas, wanted)  # as PostgreSQL folds unquoted names: exact, else ignoring case
    if schema is None:
        raise InputError(f"{db.label}: no schema {wanted!r} (schemas there: {', '.join(sorted(schemas)) or 'none'}); "
                         "choose one with --schema")
    listed = {schema: db.tables(schema)}
    out = Located()
    for name in CONTRACT:
        for tm in mapping.sources(name):
            if tm.files:
                raise InputError(f"the mapping reads {name} from file {tm.files[0]!r}, but this ingest reads "
                                 f"{db.label}: name a table with 'table:' instead")
            if tm.derive_from:
                continue
            where, table = tm.table.split(".", 1) if tm.table and "." in tm.table else (schema, tm.table or name)
            if where not in listed:
                if _find(schemas, where) is None:
                    raise InputError(f"{db.label}: no schema {where!r} (mapping for {name}: table {tm.table})")
                where = _find(schemas, where)
                listed.setdefault(where, db.tables(where))
            found = _find(listed[where], table)
            if found is None:
                if tm.table:
                    raise InputError(f"{db.label}: no table {where}.{table} (mapping for {name}); tables in "
                                     f"{where}: {', '.join(listed[where]) or 'none'}")
                continue
            key = tuple(tm.source_of(k) for k in CONTRACT[name].key)
            out.tables.setdefault(name, []).append(Source(tm, [], [DbTable(db, where, found, key)]))
    derive = mapping.for_table("accounts").derive_from
    there = f"tables in {schema}: {', '.join(listed[schema]) or 'none'}"
    if "accounts" not in out.tables and derive is None:
        raise InputError(f"{db.label}: no table accounts in schema {schema} ({there}); name yours with "
                         "'accounts: {table: ...}' in the mapping, or set 'accounts: {derive_from: orders}'")
    if not any(t in out.tables for t in REVENUE_TABLES):
        raise InputError(f"{db.label}: no orders or subscriptions table in schema {schema} ({there}); "
                         "Sikta needs at least one revenue table (name yours with 'table:' in the mapping)")
    return out


def check_mapping_for_files(mapping: Mapping) -> None:
    """A mapping that names database tables cannot read files (one ingest reads one kind of source).

    Examples
    --------
    >>> check_mapping_for_files(Mapping.model_validate({"orders": {"table": "sales.lines"}}))
    Traceback (most recent call last):
    ...
    sikta.errors.InputError: the mapping reads orders from database table 'sales.lines': ingest a postgresql://user@host/database URL with it, not files
    """
    for name in CONTRACT:
        for tm in mapping.sources(name):
            if tm.table:
                raise InputError(f"the mapping reads {name} from database table {tm.table!r}: ingest a "
                                 "postgresql://user@host/database URL with it, not files")


__all__ = ["DbTable", "PgSource", "check_mapping_for_files", "is_db_url", "locate_db", "redact_url"]
