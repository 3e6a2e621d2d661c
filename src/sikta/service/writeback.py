"""Write-back: a run's segment rows into a table of another database, replaced atomically (SPEC §4.6).

``sikta export --to-db URL --table NAME`` writes the generic export layout
(:data:`sikta.service.crm_export.GENERIC` plus the scheme columns) of a run
through Ibis into ``NAME`` of:

* PostgreSQL: ``postgresql://user[:password]@host[:port]/database``;
* a DuckDB file: ``duckdb:///path/to/file.duckdb`` or a path ending in
  ``.duckdb`` / ``.ddb`` (created when missing).

The rows are first written into ``NAME__sikta_new``; then one transaction
drops ``NAME`` and renames the new table into its place, so a reader of
``NAME`` sees the previous rows or the new ones, never a half-written or
missing table, and a failed write leaves ``NAME`` as it was.
``include_contacts`` also writes ``NAME_contacts`` the same way. The URL's
password never appears in messages.

Examples
--------
>>> redact("postgresql://sikta:s3cret@db.example:5432/crm")
'postgresql://sikta:***@db.example:5432/crm'
>>> check_table("sikta segments")
Traceback (most recent call last):
...
sikta.errors.UsageError: --table 'sikta segments': use letters, digits and _ (at most 63), starting with a letter or _
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import ibis
import pandas as pd

from sikta.engine.pgsource import redact_url
from sikta.errors import InputError, UsageError
from sikta.service.crm_export import CONTACT_COLUMNS, GENERIC, _contacts, export_rows

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["check_table", "connect", "redact", "replace_table", "write_back"]

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
STAGING_SUFFIX = "__sikta_new"


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (the ingest source's rule, one implementation)."""
    return redact_url(url) if "://" in url and not url.startswith("duckdb://") else url


def check_table(name: str) -> str:
    """A plain table name (no schema, no quoting tricks)."""
    if not _TABLE.match(name or ""):
        raise UsageError(f"--table {name!r}: use letters, digits and _ (at most 63), starting with a letter or _")
    return name


def _duckdb_path(url: str) -> Path | None:
    if url.startswith("duckdb://"):  # duckdb:///abs/path.duckdb or duckdb://relative.duckdb
        return Path(url.removeprefix("duckdb://"))
    if url.lower().endswith((".duckdb", ".ddb")) and "://" not in url:
        return Path(url)
    return None


def connect(url: str, workspace: Path | None = None) -> tuple[Any, str]:
    """An Ibis connection for ``url`` and the backend's name (``postgres`` or ``duckdb``)."""
    path = _duckdb_path(url)
    try:
        if path is not None:
            if workspace is not None and path.resolve() == Path(workspace).resolve():
                raise UsageError("--to-db names the workspace itself: write into another DuckDB file")
            path.parent.mkdir(parents=True, exist_ok=True)
            return ibis.duckdb.connect(str(path)), "duckdb"
        scheme = urlsplit(url).scheme
        if scheme in ("postgresql", "postgres"):
            return ibis.connect(url.replace("postgres://", "postgresql://", 1)), "postgres"
        raise UsageError(f"--to-db {redact(url)!r}: use postgresql://user@host/database or a DuckDB file "
                         "(duckdb:///path.duckdb or path.duckdb)")
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a driver's own exception: say what and where in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot connect to {redact(url)}: {first.replace(url, redact(url))}") from None


def replace_table(con: Any, backend: str, name: str, frame: pd.DataFrame, schema: dict[str, str]) -> int:
    """Write ``frame`` as ``name``: into a staging table, then swapped in by one transaction."""
    staging = name + STAGING_SUFFIX
    con.create_table(staging, ibis.memtable(frame[list(schema)], schema=schema), overwrite=True)
    q = '"{}"'.format
    statements = [f"DROP TABLE IF EXISTS {q(name)}", f"ALTER TABLE {q(staging)} RENAME TO {q(name)}"]
    if backend == "postgres":
        with con.begin() as cur:
            for sql in statements:
                cur.execute(sql)
    else:
        raw = con.con
        raw.execute("BEGIN TRANSACTION")
        try:
            for sql in statements:
                raw.execute(sql)
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
    return len(frame)


def write_back(ws: Workspace, url: str, table: str, run: str | None = None, *,
               include_contacts: bool = False) -> dict[str, Any]:
    """Write a run's rows (and optionally its contacts) into ``table`` of the database at ``url``."""
    check_table(table)
    rows, labels, meta = export_rows(ws, run)
    schema = {**GENERIC, **{c: "string" for c in labels}}
    con, backend = connect(url, ws.path)
    try:
        written = {table: replace_table(con, backend, table, rows, schema)}
        if include_contacts:
            contacts = _contacts(ws, rows, meta["grain"])
            written[f"{table}_contacts"] = replace_table(con, backend, f"{table}_contacts", contacts,
                                                         dict.fromkeys(CONTACT_COLUMNS, "string"))
    except (UsageError, InputError):
        raise
    except Exception as exc:  # noqa: BLE001 - the database refused: one line, no password
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"writing to {redact(url)} failed: {first}") from None
    finally:
        con.disconnect()
    return {"run_id": meta["run_id"], "database": redact(url), "backend": backend, "tables": written,
            "columns": list(schema)}
