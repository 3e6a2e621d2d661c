"""Find the user's files and scan them into staging relations.

A staging relation has ``_file`` (the path), ``_row`` (1-based data row in
that file: row 1 is the first row after a header) and the contract columns
the mapping names, with the source's own values (CSV and Excel as text,
Parquet as typed). Nothing is validated here; that is :mod:`validate`'s job.
Files that cannot be read at all raise :class:`InputError` before anything
is written.

Examples
--------
>>> found = locate([], Mapping())  # nothing given, nothing found
>>> found.tables
{}
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from sikta.engine.contract import CONTRACT, TableContract
from sikta.engine.mapping import Mapping, TableMapping
from sikta.engine.store import Store
from sikta.errors import InputError

READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel"}
#: prefix for account attributes carried along a revenue table (accounts.derive_from)
ATTR_PREFIX = "__account_attr__"


@dataclass
class Located:
    """Files per contract table, plus what was passed over and why."""

    tables: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _kind(path: Path) -> str:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; use CSV, Parquet or Excel (.xlsx)"
        )
    return kind


def locate(paths: list[str | Path], mapping: Mapping, mapping_dir: Path | None = None) -> Located:
    """Decide which file feeds which contract table.

    A folder contributes ``<table>.<csv|parquet|xlsx>`` files; a file passed
    by name must be named after a table or be named in the mapping. Mapping
    ``file:`` entries (globs allowed) are looked up relative to each folder
    given, then to the mapping file's own folder.
    """
    out = Located()
    given_dirs = [Path(p) for p in paths if Path(p).is_dir()]
    given_files = [Path(p) for p in paths if Path(p).is_file()]
    for p in paths:
        if not Path(p).exists():
            raise InputError(f"{p}: file not found")
    # Where relative 'file:' entries are looked up, in order.
    folders = list(dict.fromkeys([*given_dirs, *(f.parent for f in given_files)]))
    if mapping_dir is not None:
        folders.append(mapping_dir)

    mapped: set[Path] = set()
    for name in CONTRACT:
        for pattern in mapping.for_table(name).files:
            roots = [Path("/")] if Path(pattern).is_absolute() else folders or [Path(".")]
            hits: list[Path] = []
            for folder in roots:
                hits = [Path(h) for h in sorted(glob.glob(str(folder / pattern)))]
                if hits:
                    break
            if not hits:
                where = ", ".join(str(f) for f in roots)
                raise InputError(f"{pattern}: file not found (mapping for {name}; looked in {where})")
            out.tables.setdefault(name, []).extend(hits)
            mapped.update(h.resolve() for h in hits)

    for f in given_files:
        table = f.stem.lower()
        if f.resolve() in mapped:
            continue
        if table not in CONTRACT:
            raise InputError(
                f"{f}: not a contract table name ({', '.join(CONTRACT)}); rename it or map it with 'file:'"
            )
        _kind(f)
        out.tables.setdefault(table, []).append(f)
    for folder in given_dirs:
        for f in sorted(c for c in folder.iterdir() if c.is_file() and c.suffix.lower() in READERS):
            table = f.stem.lower()
            if f.resolve() in mapped:
                continue
            if table not in CONTRACT:
                out.skipped.append(f"{f.name} (not a contract table)")
            elif table in out.tables:
                out.skipped.append(f"{f.name} ({table} already comes from {out.tables[table][0].name})")
            else:
                out.tables[table] = [f]
    return out


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _excel_to_arrow(path: Path) -> pa.Table:
    """Read the first sheet of an .xlsx as text columns (like a CSV)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise InputError(f"{path}: cannot read as Excel: {exc}") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise InputError(f"{path}: the first sheet is empty")
        names = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header)]
        cols: list[list[str | None]] = [[] for _ in names]
        for row in rows:
            if row is None or all(v is None for v in row):
                continue
            for i in range(len(names)):
                v = row[i] if i < len(row) else None
                cols[i].append(None if v is None else (v.isoformat(sep=" ") if hasattr(v, "isoformat") else str(v)))
    finally:
        wb.close()
    return pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(names, cols, strict=True)})


def _scan_sql(store: Store, path: Path, view: str) -> list[str]:
    """Create a temp view ``view`` over one file with ``_row``; return its source columns."""
    kind = _kind(path)
    quoted = str(path).replace("'", "''")
    try:
        if kind == "csv":
            scan = f"read_csv('{quoted}', all_varchar=true, header=true)"
            store.raw.execute(
                f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT *, '
                f"CAST(row_number() OVER () AS BIGINT) AS _row FROM {scan}"
            )
        elif kind == "parquet":
            store.raw.execute(
                f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * EXCLUDE (file_row_number), '
                f"file_row_number + 1 AS _row FROM read_parquet('{quoted}', file_row_number=true)"
            )
        else:
            store.raw.register(f"{view}__arrow", _excel_to_arrow(path))
            store.raw.execute(
                f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT *, '
                f'CAST(row_number() OVER () AS BIGINT) AS _row FROM "{view}__arrow"'
            )
        cols = [r[0] for r in store.raw.execute(f'DESCRIBE "{view}"').fetchall()]
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"{path}: cannot read as {kind.upper()}: {first}") from None
    return [c for c in cols if c != "_row"]


def _resolve(source_cols: list[str], wanted: str) -> str | None:
    if wanted in source_cols:
        return wanted
    lowered = {c.lower().strip(): c for c in source_cols}
    return lowered.get(wanted.lower().strip())


def _missing_required(contract: TableContract, tm: TableMapping, available: set[str]) -> list[str]:
    missing = [c for c in contract.required if c not in available]
    if contract.name == "orders" and "amount" in missing and {"quantity", "unit_price"} <= available:
        missing.remove("amount")
    if contract.name == "survey_responses" and not ({"account_id", "contact_id"} & available):
        missing.append("account_id or contact_id")
    return missing


def stage(
    store: Store,
    contract: TableContract,
    files: list[Path],
    tm: TableMapping,
    *,
    account_attrs: dict[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Scan ``files`` into one temp view of contract columns; return (view, columns).

    ``account_attrs`` (contract column → source column) carries extra source
    columns along, prefixed with :data:`ATTR_PREFIX`, for deriving accounts.
    """
    parts: list[str] = []
    columns: list[str] | None = None
    for i, path in enumerate(files):
        view = f"_scan_{contract.name}_{i}"
        source_cols = _scan_sql(store, path, view)
        select: dict[str, str] = {}
        for col in contract.names:
            src = _resolve(source_cols, tm.source_of(col))
            if src is not None:
                select[col] = src
        missing = _missing_required(contract, tm, set(select))
        if missing:
            mapped = [f"{m} (mapped from {tm.columns[m]})" if m in tm.columns else m for m in missing]
            raise InputError(
                f"{path}: {contract.name} needs column(s) {', '.join(mapped)}; "
                f"the file has {', '.join(source_cols) or 'no columns'}"
            )
        for attr, src_name in (account_attrs or {}).items():
            src = _resolve(source_cols, src_name)
            if src is None:
                raise InputError(f"{path}: no column {src_name!r} for accounts.{attr} (derive_from)")
            select[ATTR_PREFIX + attr] = src
        if columns is None:
            columns = list(select)
        elif set(columns) != set(select):
            raise InputError(
                f"{path}: its columns differ from {files[0]} ({', '.join(sorted(set(columns) ^ set(select)))})"
            )
        body = ", ".join(f'"{src}" AS "{col}"' for col, src in select.items())
        quoted = str(path).replace("'", "''")
        parts.append(f"SELECT '{quoted}' AS _file, _row, {body} FROM \"{view}\"")
    target = f"_stage_{contract.name}"
    sql = " UNION ALL BY NAME ".join(parts)
    try:
        store.raw.execute(f'CREATE OR REPLACE TEMP VIEW "{target}" AS {sql}')
    except duckdb.Error as exc:
        raise InputError(f"{contract.name}: cannot combine {len(files)} files: {str(exc).splitlines()[0]}") from None
    return target, columns or []
