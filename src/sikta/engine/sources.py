"""Find the user's files and scan them into staging relations.

A staging relation has ``_file`` (the path), ``_row`` (1-based data row in
that file: row 1 is the first row after a header; blank lines are not rows),
``_line_hash`` (a hash of every source column, for exact duplicate lines)
and the contract columns the mapping names, with the source's own values
(CSV and Excel as text, Parquet as typed), plus ``attr_<name>`` columns for
the mapping's ``attributes:``. The scans never see the user's column names
as SQL identifiers of ours, so no source column can collide with an
internal one. Nothing is validated here; that is :mod:`validate`'s job.

A CSV line that cannot be split into the header's columns (too few or too
many fields, an unterminated quote, a line of spaces) is not a row of the
relation: it is returned as a :class:`BadLine` for the quarantine, and the
rest of the file loads. Files that cannot be read at all raise
:class:`InputError` before anything is written.

Examples
--------
>>> found = locate([], Mapping())  # nothing given, nothing found
>>> found.tables
{}
"""

from __future__ import annotations

import csv
import glob
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from sikta.engine.contract import CONTRACT, TableContract
from sikta.engine.mapping import Mapping, TableMapping
from sikta.engine.store import Store, sql_text
from sikta.engine.textfiles import TextDialect, inspect_text, normalized
from sikta.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel"}
#: prefix for account attributes carried along a revenue table (accounts.derive_from)
ATTR_PREFIX = "__account_attr__"
_EMAIL = re.compile(r"[^\s@'\",;<>]+@[^\s@'\",;<>]+\.[A-Za-z]{2,}")


@dataclass
class Source:
    """One mapping of a table and the files (or database tables, see :mod:`pgsource`) it reads."""

    mapping: TableMapping
    files: list[Path]
    tables: list = field(default_factory=list)

    @property
    def inputs(self) -> list:
        """Files and database tables alike; ``str()`` of each names it in the quarantine."""
        return [*self.files, *self.tables]


@dataclass
class Located:
    """Sources per contract table, plus what was passed over and why."""

    tables: dict[str, list[Source]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def files(self, name: str) -> list[Path]:
        return [f for s in self.tables.get(name, []) for f in s.files]

    def inputs(self, name: str) -> list:
        return [f for s in self.tables.get(name, []) for f in s.inputs]


@dataclass
class BadLine:
    """A CSV line that is not a row of its table: quarantined with this reason."""

    file: str
    row: int
    column: str
    reason: str
    text: str


@dataclass
class PendingRejects:
    """Where a CSV scan notes its bad lines (see :func:`bad_lines`)."""

    path: Path
    normalized: Path
    delimiter: str
    dialect: TextDialect
    table: str
    lines: str = ""  # the temp table holding the file's accepted lines
    numbered: str = ""  # the view over it that numbers them (renumbered past the bad lines, if any)


@dataclass
class Staged:
    """A source's staging relation and the bad lines its scans will note."""

    view: str
    columns: list[str]
    pending: list[PendingRejects] = field(default_factory=list)


def _kind(path: Path) -> str:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; use CSV, Parquet or Excel (.xlsx)"
        )
    return kind


def _regular(path: Path) -> Path:
    """``path`` if it is a readable regular file; a clear error for folders, devices and empty files."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise InputError(f"{path}: is not a regular file (a link to a device such as /dev/null?)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (not even a header line)")
    return path


def locate(paths: list[str | Path], mapping: Mapping, mapping_dir: Path | None = None) -> Located:
    """Decide which file feeds which source of which contract table.

    A folder contributes ``<table>.<csv|parquet|xlsx>`` files; a file passed
    by name must be named after a table or be named in the mapping. Mapping
    ``file:`` entries (globs allowed) are looked up relative to each folder
    given, then to the mapping file's own folder. A name that looks like a
    table's file but is a folder, a device or empty is an error, never
    silently skipped (that would drop the table from the new snapshot).
    """
    out = Located()
    for p in paths:
        if not Path(p).exists() and not Path(p).is_symlink():
            raise InputError(f"{p}: file not found")
    given_dirs = [Path(p) for p in paths if Path(p).is_dir()]
    given_files = [Path(p) for p in paths if not Path(p).is_dir()]
    folders = list(dict.fromkeys([*given_dirs, *(f.parent for f in given_files)]))
    if mapping_dir is not None:
        folders.append(mapping_dir)

    mapped: set[Path] = set()
    for name in CONTRACT:
        for tm in mapping.sources(name):
            if not tm.files:
                continue
            hits: list[Path] = []
            for pattern in tm.files:
                roots = [Path("/")] if Path(pattern).is_absolute() else folders or [Path(".")]
                found: list[Path] = []
                for folder in roots:
                    found = [Path(h) for h in sorted(glob.glob(str(folder / pattern)))]
                    if found:
                        break
                if not found:
                    where = ", ".join(str(f) for f in roots)
                    raise InputError(f"{pattern}: file not found (mapping for {name}; looked in {where})")
                hits += [_regular(h) for h in found]
            out.tables.setdefault(name, []).append(Source(tm, hits))
            mapped.update(h.resolve() for h in hits)

    for f in given_files:
        if f.resolve() in mapped:
            continue
        table = f.stem.lower()
        if table not in CONTRACT:
            raise InputError(
                f"{f}: not a contract table name ({', '.join(CONTRACT)}); rename it or map it with 'file:'"
            )
        _kind(f)
        _add_unmapped(out, mapping, table, _regular(f))
    for folder in given_dirs:
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() not in READERS or f.resolve() in mapped:
                continue
            table = f.stem.lower()
            if table not in CONTRACT:
                if f.is_file():
                    out.skipped.append(f"{f.name} (not a contract table)")
            elif table in out.tables:
                out.skipped.append(f"{f.name} ({table} already comes from {out.files(table)[0].name})")
            else:
                _add_unmapped(out, mapping, table, _regular(f))
    return out


def _add_unmapped(out: Located, mapping: Mapping, table: str, f: Path) -> None:
    sources = mapping.sources(table)
    if len(sources) > 1:
        raise InputError(f"{f}: {table} has several sources in the mapping; name this file under one of them")
    out.tables.setdefault(table, [Source(sources[0], [])])[0].files.append(f)


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def redact_emails(text: str) -> str:
    """E-mail-like words replaced by ``<e-mail>`` (reasons and logs carry no addresses).

    Examples
    --------
    >>> redact_emails("account_id 'ann@corp.se' is not known")
    "account_id '<e-mail>' is not known"
    """
    return _EMAIL.sub("<e-mail>", text)


# -- scanning ---------------------------------------------------------------------------------


_q = sql_text


def _excel_to_arrow(path: Path) -> tuple[pa.Table, list[str]]:
    """The first sheet of an .xlsx as text columns ``c0..`` with the sheet's row numbers, and its header."""
    import openpyxl
    import pyarrow as pa

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise InputError(f"{path}: cannot read as Excel: {exc}") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise InputError(f"{path}: the first sheet is empty")
        names = [str(h).strip() if h is not None else "" for h in header]
        cols: list[list[str | None]] = [[] for _ in names]
        numbers: list[int] = []
        for n, row in enumerate(rows, start=1):
            if row is None or all(v is None for v in row):
                continue  # an empty sheet row is no row (its number is skipped, not reused)
            numbers.append(n)
            for i in range(len(names)):
                v = row[i] if i < len(row) else None
                cols[i].append(None if v is None else (v.isoformat(sep=" ") if hasattr(v, "isoformat") else str(v)))
    finally:
        wb.close()
    arrays = {f"c{i}": pa.array(c, type=pa.string()) for i, c in enumerate(cols)}
    arrays["__row"] = pa.array(numbers, type=pa.int64())
    return pa.table(arrays), names


def _csv_scan(
    store: Store, path: Path, dialect: TextDialect, view: str, scratch: Path, strict: bool = True
) -> tuple[str, PendingRejects]:
    """A relation ``c0..cn`` + ``__row`` over a CSV; lines that do not split into the header's columns are set aside.

    The file is read once into a temp table of text columns (DuckDB notes the bad lines in a rejects
    table meanwhile; :func:`bad_lines` reads them afterwards), and the relation is a view over it, as
    for a Parquet file: the typed rows are never stored twice. The rows keep the file's order, so a
    row's number is its ``rowid`` + 1: numbering the lines with ``row_number() OVER ()`` during the
    read made DuckDB buffer the whole file in one window (10M lines: 23 s to check instead of 15 s).
    A file the reader rejects as a whole raises :class:`duckdb.Error` here (the caller retries leniently).
    """
    src = normalized(path, dialect, scratch)
    delim = "," if dialect.delimiter == "whitespace" else dialect.delimiter
    cols = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(dialect.header))) + "}"
    rej = f"{view}__rejects"
    scan = (
        f"read_csv({_q(str(src))}, auto_detect=false, header=false, skip={dialect.skip}, "
        f"delim={_q(delim)}, quote='\"', escape='\"', columns={cols}, store_rejects=true, "
        f"rejects_table={_q(rej)}, rejects_scan={_q(rej + '_scan')}, max_line_size=10000000"
        f"{'' if strict else ', strict_mode=false'})"
    )
    lines, numbered = f"{view}__lines", f"{view}__numbered"
    store.raw.execute(f'CREATE OR REPLACE TEMP TABLE "{lines}" AS SELECT * FROM {scan}')
    store.raw.execute(f'CREATE OR REPLACE TEMP VIEW "{numbered}" AS SELECT *, CAST(rowid + 1 AS BIGINT) AS __row '
                      f'FROM "{lines}"')
    return f'"{numbered}"', PendingRejects(path, src, delim, dialect, rej, lines, numbered)


def bad_lines(store: Store, pending: list[PendingRejects]) -> list[BadLine]:
    """Read the lines the scans set aside; number the accepted rows of those files past them.

    The accepted rows are numbered among themselves; a row after a bad line must keep its place in
    the file, so every row moves past the bad lines before it. The file's numbering view then reads
    a copy of its lines with those numbers (written only for a file that has bad lines).
    """
    out: list[BadLine] = []
    for p in pending:
        try:
            rejects = store.raw.execute(
                f'SELECT line, min(column_idx), arg_min(error_type, column_idx), arg_min(csv_line, column_idx), '
                f'arg_min(error_message, column_idx) FROM "{p.table}" GROUP BY line ORDER BY line'
            ).fetchall()
        except duckdb.CatalogException:
            rejects = []  # the scan found no bad line (or never ran)
        store.raw.execute(f'DROP TABLE IF EXISTS "{p.table}"; DROP TABLE IF EXISTS "{p.table}_scan"')
        if not rejects:
            continue
        rows = _record_numbers(p.normalized, p.delimiter, p.dialect.skip, [r[0] for r in rejects])
        marks = sorted(rows.values())
        _renumber(store, p, marks)
        out += [
            BadLine(str(p.path), rows[line], _column_name(p.dialect, idx, text),
                    _bad_reason(kind, text, message, len(p.dialect.header)), redact_emails(text or "")[:200])
            for line, idx, kind, text, message in rejects
        ]
    return out


def _renumber(store: Store, p: PendingRejects, marks: list[int]) -> None:
    """Accepted row r (numbered among accepted rows) moves past the bad lines m_j with m_j - j < r.

    With k_j = m_j - j (non-decreasing), r moves by c(k) = #{j: k_j <= k} for the largest k < r: an
    as-of join of the rows on the distinct k's. Numbers are inlined, not bound (binding parameters
    makes DuckDB load pandas).
    """
    shift: dict[int, int] = {}
    for j, m in enumerate(marks, start=1):
        shift[m - j] = j  # the last j of equal k's: the count of k_j <= k
    ks = ", ".join(str(int(k)) for k in shift)
    cs = ", ".join(str(c) for c in shift.values())
    marks_table, renumbered = f"{p.table}_k", f"{p.lines}_renumbered"
    store.raw.execute(f'CREATE OR REPLACE TEMP TABLE "{marks_table}" AS '
                      f"SELECT unnest([{ks}]::BIGINT[]) AS k, unnest([{cs}]::BIGINT[]) AS c")
    store.raw.execute(
        f'CREATE OR REPLACE TEMP TABLE "{renumbered}" AS SELECT l.*, CAST(l.rowid + 1 + coalesce(m.c, 0) AS BIGINT) '
        f'AS __row FROM "{p.lines}" l ASOF LEFT JOIN "{marks_table}" m ON l.rowid + 1 > m.k')
    store.raw.execute(f'CREATE OR REPLACE TEMP VIEW "{p.numbered}" AS SELECT * FROM "{renumbered}"')
    store.raw.execute(f'DROP TABLE "{marks_table}"; DROP TABLE "{p.lines}"')


def _record_numbers(path: Path, delim: str, skip: int, lines: list[int]) -> dict[int, int]:
    """DuckDB's reject ``line`` (records and blank lines counted, the skipped lines too) → our data row."""
    wanted, out = set(lines), {}
    counter, record = skip, 0
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for _ in range(skip):
            fh.readline()
        reader = csv.reader(fh, delimiter=delim, quotechar='"')
        try:
            for row in reader:
                counter += 1
                if row:
                    record += 1
                if counter in wanted:
                    out[counter] = record
                    if len(out) == len(wanted):
                        break
        except csv.Error:
            pass  # an unterminated quote runs to the end of the file: that is the last record
    for line in lines:
        out.setdefault(line, record + 1)
    return out


def _column_name(dialect: TextDialect, idx: int | None, text: str | None) -> str:
    """The column a bad line fails on (DuckDB counts from 0); ``(line)`` for the line as a whole."""
    if idx is None or not 0 <= idx < len(dialect.header) or not (text or "").strip():
        return "(line)"
    return dialect.header[idx] or f"column {idx + 1}"


def _bad_reason(kind: str, text: str | None, message: str, width: int) -> str:
    line = text or ""
    if not line.strip():
        return "blank line (only spaces)"
    found = re.search(r"Found:\s*(\d+)", message or "")
    if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS") and found:
        return f"the line has {found.group(1)} fields, the header has {width}"
    if kind == "UNQUOTED VALUE":
        more = line.count("\n")
        rest = f" (this and the next {more} lines read as one)" if more > 1 else ""
        return f"a quote is opened and never closed{rest}"
    if kind == "INVALID UNICODE":
        return "the line is not valid text in the file's encoding (set encoding: in the mapping)"
    if kind == "LINE SIZE OVER MAXIMUM":
        return "the line is longer than 10 MB"
    return f"unreadable line: {message.splitlines()[0] if message else kind.lower()}"


def _scan(
    store: Store, path: Path, tm: TableMapping, view: str, scratch: Path, strict: bool = True
) -> tuple[str, list[str], str, PendingRejects | None]:
    """A scan of one file: (relation, source column names, row expression, bad lines).

    CSV, Excel and database columns are ``c0..cn`` (names kept aside); Parquet keeps its own names.
    """
    if not isinstance(path, Path):  # a database table (pgsource.DbTable) streams itself into DuckDB
        rel, names = path.scan(store, view)
        return rel, names, "__row", None
    kind = _kind(path)
    if kind == "csv":  # its reader's errors go to the caller, which reads once more leniently
        dialect = inspect_text(path, encoding=tm.encoding, delimiter=tm.delimiter, header=tm.header,
                               column_names=tm.column_names)
        rel, pending = _csv_scan(store, path, dialect, view, scratch, strict)
        return rel, dialect.header, "__row", pending
    try:
        if kind == "parquet":
            rel = f"read_parquet({_q(str(path))}, file_row_number=true)"
            names = [r[0] for r in store.raw.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall() if r[0] != "file_row_number"]
            return rel, names, "file_row_number + 1", None
        arrow, names = _excel_to_arrow(path)
        from sikta.engine.textfiles import _check_header

        _check_header(path, names)
        store.raw.register(view, arrow)
        return f'"{view}"', names, "__row", None
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"{path}: cannot read as {kind.upper()}: {first}") from None


def _resolve(source_cols: list[str], wanted: str) -> int | None:
    """Position of ``wanted`` among the source columns (exact, else case- and space-insensitive)."""
    if wanted in source_cols:
        return source_cols.index(wanted)
    lowered = [c.lower().strip() for c in source_cols]
    key = wanted.lower().strip()
    return lowered.index(key) if key in lowered else None


def _missing_required(contract: TableContract, available: set[str]) -> list[str]:
    missing = [c for c in contract.required if c not in available]
    if contract.name == "orders":
        if "amount" in missing and {"quantity", "unit_price"} <= available:
            missing.remove("amount")
        if "order_id" in missing:
            missing.remove("order_id")  # then one order per account and day
    if contract.name == "survey_responses" and not ({"account_id", "contact_id"} & available):
        missing.append("account_id or contact_id")
    return missing


def _literal(value: str | int | float | bool) -> str:
    return _q(str(value).lower() if isinstance(value, bool) else str(value))


def stage(
    store: Store,
    contract: TableContract,
    files: list,
    tm: TableMapping,
    *,
    prefix: str,
    scratch: Path,
    account_attrs: dict[str, str] | None = None,
    strict: bool = True,
) -> Staged:
    """Scan ``files`` (one source of a table: paths, or database tables) into one temp view of contract columns.

    ``account_attrs`` (contract column → source column) carries extra source
    columns along, prefixed with :data:`ATTR_PREFIX`, for deriving accounts.
    ``strict=False`` lets DuckDB's CSV reader accept lines that break the CSV
    standard (the second try, for a file whose first read failed as a whole).
    """
    parts: list[str] = []
    columns: list[str] | None = None
    pending: list[PendingRejects] = []
    constants = tm.constants()
    for i, path in enumerate(files):
        view = f"{prefix}_scan{i}"
        rel, source_cols, row_expr, rejects = _scan(store, path, tm, view, scratch, strict)
        if rejects is not None:
            pending.append(rejects)
        parquet = rel.startswith("read_parquet")

        def ident(j: int, parquet: bool = parquet, names: list[str] = source_cols) -> str:
            return '"' + names[j].replace('"', '""') + '"' if parquet else f'"c{j}"'
        select: dict[str, str] = {}
        for col in contract.names:
            if col in constants:
                select[col] = _literal(constants[col])
                continue
            j = _resolve(source_cols, tm.source_of(col))
            if j is not None:
                select[col] = ident(j)
        missing = _missing_required(contract, set(select))
        if missing:
            mapped = [f"{m} (mapped from {tm.source_of(m)})" if m in tm.columns else m for m in missing]
            raise InputError(
                f"{path}: {contract.name} needs column(s) {', '.join(mapped)}; "
                f"the {'file' if isinstance(path, Path) else 'table'} has {', '.join(source_cols) or 'no columns'}"
            )
        for name, attr in tm.attribute_sources().items():
            j = _resolve(source_cols, attr.column)
            if j is None:
                raise InputError(f"{path}: no column {attr.column!r} for attribute {name.removeprefix('attr_')} "
                                 f"(the file has {', '.join(source_cols)})")
            select[name] = ident(j)
        for attr, src_name in (account_attrs or {}).items():
            j = _resolve(source_cols, src_name)
            if j is None:
                raise InputError(f"{path}: no column {src_name!r} for accounts.{attr} (derive_from)")
            select[ATTR_PREFIX + attr] = ident(j)
        if columns is None:
            columns = list(select)
        elif set(columns) != set(select):
            raise InputError(
                f"{path}: its columns differ from {files[0]} ({', '.join(sorted(set(columns) ^ set(select)))})"
            )
        every = ", ".join(ident(j) for j in range(len(source_cols))) or "NULL"
        body = ", ".join(f'{src} AS "{col}"' for col, src in select.items())
        parts.append(
            f"SELECT {_q(str(path))} AS _file, CAST({row_expr} AS BIGINT) AS _row, "
            f"hash({every}) AS _line_hash, {body} FROM {rel}"
        )
    target = f"{prefix}_stage"
    sql = " UNION ALL BY NAME ".join(parts)
    try:
        store.raw.execute(f'CREATE OR REPLACE TEMP VIEW "{target}" AS {sql}')
    except duckdb.Error as exc:
        raise InputError(f"{contract.name}: cannot combine {len(files)} files: {str(exc).splitlines()[0]}") from None
    return Staged(target, columns or [], pending)
