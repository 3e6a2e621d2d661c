"""Ingest: the user's exports → contract tables, with every bad row quarantined.

One ingest is a complete snapshot: the tables it loads replace the
workspace's, tables it does not mention are removed, and the whole change
commits in one transaction. A file that cannot be read at all stops the
ingest before anything is written. A snapshot that would empty a table that
had rows, or lose more than half of them, is refused unless
``allow_shrink`` (a broken export must not wipe a good workspace).

Each source is scanned and typed into a temporary view (a CSV is first
read once into a table of its text lines, its bad lines set aside while it
is read; a Parquet export is read in place, never held in memory).
Each table is then checked (rows, keys, references, the account forest)
and written once with its verdicts: the failed rows are copied to the
quarantine and cut out in place, all in one staged swap.

Examples
--------
>>> from sikta.engine.store import Store
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "accounts.csv").write_text("account_id,status\\nA1,customer\\nA1,customer\\n")
>>> _ = (d / "orders.csv").write_text("order_id,account_id,order_date,amount\\nO1,A1,2024-01-05,100\\nO2,B9,2024-02-01,5\\n")
>>> rep = ingest(Store(":memory:"), [d])
>>> {t: (r.rows_in, r.loaded, r.quarantined) for t, r in rep.tables.items()}
{'accounts': (2, 1, 1), 'orders': (2, 1, 1)}
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir

from sikta import __version__
from sikta.engine import validate as v
from sikta.engine.contract import CONTRACT, REVENUE_TABLES, load_order
from sikta.engine.ingest_checks import (
    accounts_forest,
    attribute_types,
    derive_accounts,
    format_hints,
    source_stats,
    typed_attributes,
    union_sources,
)
from sikta.engine.mapping import ATTR, Mapping, TableMapping, load_mapping
from sikta.engine.pgsource import PgSource, check_mapping_for_files, is_db_url, locate_db
from sikta.engine.sources import ATTR_PREFIX, BadLine, bad_lines, fingerprint, locate
from sikta.engine.sources import stage as stage_files
from sikta.engine.store import DOC_PREFIX, Store
from sikta.errors import ContractError, InputError, UsageError

QUARANTINE = "_sikta_quarantine"
HIERARCHY = "_sikta_hierarchy"
INGESTS = "_sikta_ingests"
FILES = "_sikta_files"
TABLE_STATS = "_sikta_tables"
DERIVED = "(derived)"
#: a new snapshot may not lose more than this share of a table's loaded rows without allow_shrink
MAX_SHRINK = 0.5
HIERARCHY_SCHEMA = {
    "account_id": "string", "parent_account_id": "string", "ultimate_parent_id": "string",
    "account_unit_id": "string", "depth": "int64",
}
META_SCHEMAS = {
    INGESTS: {"ingest_id": "string", "started_at": "timestamp", "finished_at": "timestamp",
              "sikta_version": "string", "mapping_file": "string", "mapping_sha256": "string", "summary": "string"},
    FILES: {"ingest_id": "string", "table": "string", "file": "string", "sha256": "string", "bytes": "int64"},
    TABLE_STATS: {"ingest_id": "string", "table": "string", "rows_in": "int64", "loaded": "int64",
                  "quarantined": "int64"},
}
QUARANTINE_SCHEMA = {
    "ingest_id": "string", "table": "string", "file": "string", "row": "int64",
    "column": "string", "reason": "string", "record": "string",
}


@dataclass
class TableReport:
    """Counts for one table: rows_in == loaded + quarantined, always.

    ``duplicates`` counts exact duplicate lines (identical in every source
    column; loaded unless the mapping says ``dedupe: true``), ``deduped`` the
    ones of them quarantined as repeats (with ``dedupe: true``; a repeat that
    fails another check first is quarantined for that reason), ``future``
    rows dated after the day of the ingest.
    """

    rows_in: int
    loaded: int
    quarantined: int
    files: list[str] = field(default_factory=list)
    derived_from: str | None = None
    duplicates: int = 0
    deduped: int = 0
    future: int = 0
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class IngestReport:
    """What one ingest did."""

    ingest_id: str
    workspace: str
    tables: dict[str, TableReport]
    skipped: list[str]
    removed: list[str]
    fingerprints: dict[str, str]
    hierarchy: dict[str, int]
    hints: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _check_sources(located: dict, mapping: Mapping) -> None:
    derive = mapping.for_table("accounts").derive_from
    if derive is not None and derive not in located:
        raise InputError(f"accounts.derive_from is {derive}, but no {derive} file was given")
    if "accounts" not in located and derive is None:
        raise InputError(
            "no accounts file found: give accounts.csv/.parquet/.xlsx, "
            "or set 'accounts: {derive_from: orders}' in the mapping"
        )
    if not any(t in located for t in REVENUE_TABLES):
        raise InputError("no orders or subscriptions file found: Sikta needs at least one revenue table")


def _needs_currencies(name: str, mapping: Mapping) -> bool:
    """Whether the currencies of ``name`` must be one: a revenue table without conversion rates."""
    return name in REVENUE_TABLES and not mapping.for_table(name).currency_rates


def _check_currencies(store: Store, checked: dict[str, ir.Table], stats: dict[str, dict], mapping: Mapping) -> None:
    """Mixed currencies cannot be added up without conversion rates.

    ``stats`` (:func:`source_stats` per table) holds each table's smallest and largest value as
    written: one value everywhere settles it; otherwise the codes are read, trimmed and upper-cased.
    """
    found = {name: s["currencies"] for name, s in stats.items() if _needs_currencies(name, mapping)}
    if len(set().union(*found.values()) if found else set()) <= 1:
        return
    for name in found:
        t = checked[name]
        cur = t.filter(t.currency.notnull()).select(c=t.currency.strip().upper()).distinct().limit(20)
        found[name] = {r["c"] for r in store.rows(cur)}
    every = set().union(*found.values())
    if len(every) > 1:
        where = ", ".join(f"{n}: {', '.join(sorted(c))}" for n, c in found.items() if c)
        example = ", ".join(f"{c}: 1.0" for c in sorted(every))
        raise ContractError(
            f"mixed currencies ({where}) and no conversion rates; add "
            f"'currency_rates: {{{example}}}' (to one base currency, rate 1) under each revenue table in the mapping"
        )


def _scratch(store: Store) -> Path:
    base = Path(store.path + ".tmp") if store.path != ":memory:" else Path(tempfile.gettempdir())
    return base / f"sikta-import-{secrets.token_hex(4)}"


def _read_sources(store: Store, located, mapping: Mapping, scratch: Path):
    """Scan and type every source into one temp relation per contract table (``_chk_<table>``), with its stats.

    ``_chk_<table>`` is a view that types its sources as it reads them: holding ten million typed
    order lines in memory costs more than reading them twice. A CSV is read once into a temp table
    of its text lines (its reader sets bad lines aside meanwhile, and the rows after them are
    numbered past them); Parquet, Excel and a database table already streamed in are read in place.
    The stats read every source column, so a file that cannot be decoded fails here, before any write.
    """
    acc_tm = mapping.for_table("accounts")
    derive = acc_tm.derive_from
    chk: dict[str, str] = {}
    bad: dict[str, list[BadLine]] = {}
    stats: dict[str, dict] = {}
    for name, sources in located.tables.items():
        table = f"_chk_{name}"
        for strict in (True, False):
            try:
                parts, pending = _typed_sources(store, name, sources, acc_tm, scratch, strict)  # reads a CSV
                store.create(table, union_sources(parts), temp=True, view=True)
                bad[name] = bad_lines(store, pending)
                # after the renumbering: the first future row's number must be its line's; reads every
                # source column, so a file that cannot be decoded fails here, before any write
                stats[name] = source_stats(store, store.con.table(table, database="temp"), name,
                                           currencies=_needs_currencies(name, mapping))
                break
            except duckdb.Error as exc:
                # a CSV the reader's state machine rejects as a whole: one lenient second read,
                # else one clear line naming the files
                if not strict:
                    files = ", ".join(str(f) for s in sources for f in s.inputs)
                    raise InputError(f"{files}: cannot read as {name}: {str(exc).strip().splitlines()[0]}") from None
        chk[name] = table
    if derive is not None:
        src = v.row_checks(store.con.table(chk[derive], database="temp"), CONTRACT[derive], settings(mapping, derive))
        raw = derive_accounts(src, derive, acc_tm)
        store.create("_chk_accounts", v.typed_columns(raw, CONTRACT["accounts"], acc_tm), temp=True)
        chk["accounts"] = "_chk_accounts"
        bad["accounts"] = []
        stats["accounts"] = source_stats(store, store.con.table("_chk_accounts", database="temp"), "accounts")
    return chk, bad, stats


def settings(mapping: Mapping, name: str) -> TableMapping:
    """Table-wide settings for the checks: the first source's, with every source's attributes."""
    sources = mapping.sources(name)
    if len(sources) == 1:
        return sources[0]
    attributes = {k: a for tm in sources for k, a in tm.attributes.items()}
    return sources[0].model_copy(update={"attributes": attributes})


def _typed_sources(store, name, sources, acc_tm, scratch, strict):
    """Each source of ``name`` staged and typed (lazy); the CSV scans' pending bad lines."""
    contract = CONTRACT[name]
    parts, pending = [], []
    for k, src in enumerate(sources):
        carry = None
        if acc_tm.derive_from == name:
            carry = {c: acc_tm.source_of(c) for c in acc_tm.columns if c not in acc_tm.constants()}
            carry |= {a: spec.column for a, spec in acc_tm.attribute_sources().items()}
        staged = stage_files(store, contract, src.inputs, src.mapping, prefix=f"_in_{name}_{k}",
                             scratch=scratch, account_attrs=carry, strict=strict)
        parts.append(v.typed_columns(store.con.table(staged.view), contract, src.mapping))
        pending += staged.pending
    return parts, pending


def _attr_columns(store: Store, table: ir.Table, mapping: Mapping, name: str) -> dict[str, str]:
    """``attr_*`` columns of a checked table → their final type (declared, native or inferred)."""
    names = [c for c in table.columns if c.startswith(ATTR)]
    declared = {n: a.type for tm in mapping.sources(name) for n, a in tm.attribute_sources().items() if a.type != "auto"}
    return attribute_types(store, table, names, declared)


def _bad_line_rows(lines: list[BadLine], name: str, ingest_id: str) -> list[dict]:
    return [{"ingest_id": ingest_id, "table": name, "file": b.file, "row": b.row, "column": b.column, "reason": b.reason,
             "record": json.dumps({"line": "<redacted>" if CONTRACT[name].pii else b.text})} for b in lines]


def _previous_loaded(store: Store) -> dict[str, int]:
    if not store.has(INGESTS) or not store.has(TABLE_STATS):
        return {}
    rows = store.records(
        f'SELECT s."table", s.loaded FROM "{TABLE_STATS}" s JOIN (SELECT ingest_id FROM "{INGESTS}" '
        f"ORDER BY finished_at DESC LIMIT 1) l USING (ingest_id)"
    )
    return {r["table"]: int(r["loaded"]) for r in rows if store.has(r["table"])}


def _check_shrink(store: Store, stage, reports: dict[str, TableReport], hints: dict[str, str]) -> None:
    """Refuse a snapshot that empties a table or loses more than half of it."""
    for name, before in _previous_loaded(store).items():
        if before == 0:
            continue
        r = reports.get(name)
        after = r.loaded if r is not None else 0
        if after > 0 and after >= (1 - MAX_SHRINK) * before:
            continue
        if r is None:
            what = f"{name} is not in this ingest (it had {before:,} rows)"
        else:
            what = f"{name} would load {after:,} of {r.rows_in:,} rows (it had {before:,})"
            q = stage.table(QUARANTINE)
            q = q.filter(q.table == name)
            top = store.rows(q.group_by("column").aggregate(n=q.count(), reason=q.reason.min())
                             .order_by(ibis.desc("n")).limit(1))
            if top:
                what += f"; {int(top[0]['n']):,} quarantined on {top[0]['column']}, e.g. {top[0]['reason']}"
            if name in hints:
                what += f" — {hints[name].split(': ', 1)[1]}"
        raise InputError(f"refusing to replace the workspace: {what}. Nothing changed; "
                         "pass --allow-shrink to replace it anyway")


def ingest(
    store: Store,
    paths: list[str | Path],
    mapping_path: str | Path | None = None,
    *,
    allow_shrink: bool = False,
    schema: str | None = None,
) -> IngestReport:
    """Load exports into the workspace; see the module docstring.

    Parameters
    ----------
    store
        The open workspace store.
    paths
        Folders (``<table>.<csv|parquet|xlsx>`` files) and/or files; or one
        ``postgresql://user@host[:port]/database`` URL (see :mod:`sikta.engine.pgsource`).
    mapping_path
        Optional YAML column mapping (see :mod:`sikta.engine.mapping`).
    allow_shrink
        Replace the workspace even when a table would lose more than half of
        its loaded rows, or all of them.
    schema
        For a database URL: the schema whose tables are read (``public``).

    Raises
    ------
    InputError
        A file or database table cannot be read, lacks required columns, the
        set of files cannot make a workspace (no accounts, no revenue table),
        or the new snapshot would shrink a table (see ``allow_shrink``).
    UsageError
        A database URL given with other sources, or ``schema`` without one.
    """
    mapping, mapping_dir = load_mapping(mapping_path)
    urls = [str(p) for p in paths if is_db_url(p)]
    db = None
    if urls:
        if len(paths) > 1:
            raise UsageError("a database URL is ingested on its own: one ingest is one snapshot of one source")
        db = PgSource(urls[0])
    elif schema is not None:
        raise UsageError("--schema is for a database source (postgresql://user@host/database)")
    scratch = _scratch(store)
    try:
        if db is not None:
            located = locate_db(db, mapping, schema)
        else:
            check_mapping_for_files(mapping)
            located = locate(list(paths), mapping, mapping_dir)
        _check_sources(located.tables, mapping)
        derive = mapping.for_table("accounts").derive_from
        return _ingest(store, located, mapping, mapping_path, derive, scratch, allow_shrink)
    finally:
        if db is not None:
            db.close()
        shutil.rmtree(scratch, ignore_errors=True)
        _drop_scratch(store)


def _drop_scratch(store: Store) -> None:
    """The ingest's temp views and tables (a notebook's connection lives on; views would keep reading the files)."""
    found = store.raw.execute(
        "SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary UNION ALL "
        "SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary").fetchall()
    for kind, name in found:
        if name.startswith(("_chk_", "_in_")):
            store.raw.execute(f'DROP {kind} IF EXISTS temp."{name}"')


def _ingest(store, located, mapping, mapping_path, derive, scratch, allow_shrink) -> IngestReport:
    inputs = [p for name in located.tables for p in located.inputs(name)]
    # a file's fingerprint hashes its bytes, in Python: beside the engine's scans rather than after them
    # (reads and hashlib release the GIL); a database table's hashes its rows, set while it streams in
    pool = ThreadPoolExecutor(max_workers=1)
    hashing = pool.submit(lambda: {str(p): fingerprint(p) for p in inputs if isinstance(p, Path)})
    try:
        chk, bad, read_stats = _read_sources(store, located, mapping, scratch)
        checked = {n: store.con.table(t, database="temp") for n, t in chk.items()}
        _check_currencies(store, checked, read_stats, mapping)
        hashed = hashing.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    fingerprints = {str(p): hashed[str(p)] if isinstance(p, Path) else p.fingerprint for p in inputs}
    sizes = {str(p): p.stat().st_size if isinstance(p, Path) else None for p in inputs}

    ingest_id = _new_id("ing")
    started = datetime.now(UTC).replace(tzinfo=None)
    reports: dict[str, TableReport] = {}
    removed: list[str] = []
    with store.staged() as stage:
        stage.create_empty(QUARANTINE, QUARANTINE_SCHEMA)
        for contract in load_order():
            name = contract.name
            if name not in checked:
                if store.has(name):
                    stage.remove(name)
                    removed.append(name)
                continue
            t = checked[name]
            stats = read_stats[name]
            attrs = _attr_columns(store, t, mapping, name)
            t = v.row_checks(t, contract, settings(mapping, name))
            if any(tm.dedupe for tm in mapping.sources(name)):
                t = v.flag_exact_duplicates(t, tuple(c for c in contract.names if c in t.columns))
            if name == "accounts":
                t = v.flag_duplicates(t, contract.key)
                t, hierarchy = accounts_forest(store, t)
                stage.create(HIERARCHY, hierarchy, schema=HIERARCHY_SCHEMA)
            else:
                if name == "survey_responses":
                    t = _survey_accounts(t, stage, has_contacts="contacts" in reports)
                t = _flag_references(store, stage, t, contract, checked, reports)
                # keys last: a copy that failed a reference check must not block a valid later copy
                t = v.flag_duplicates(t, contract.key)
            t = typed_attributes(t, attrs)
            _write(stage, name, v.finalize(t, contract, extra=tuple(attrs)), ingest_id)
            if bad[name]:
                stage.insert(QUARANTINE, _bad_line_rows(bad[name], name, ingest_id), schema=QUARANTINE_SCHEMA)
            reports[name] = _table_report(store, stage, name, stats, len(bad[name]), located, derive, attrs)
        for table in store.tables():
            if table.startswith(("features_", f"{DOC_PREFIX}features_")):
                stage.remove(table)  # features (and their documents) describe the previous data
        hints = format_hints(store, stage.table(QUARANTINE), reports, mapping)
        if not allow_shrink:
            _check_shrink(store, stage, reports, hints)
        stage.on_commit.append(lambda: _record(store, ingest_id, started, mapping_path, reports, fingerprints, sizes))
    hierarchy = store.table(HIERARCHY)
    h = store.rows(hierarchy.aggregate(roots=hierarchy.ultimate_parent_id.nunique(), max_depth=hierarchy.depth.max()))[0]
    return IngestReport(
        ingest_id=ingest_id,
        workspace=store.path,
        tables=reports,
        skipped=located.skipped,
        removed=removed,
        fingerprints=fingerprints,
        hierarchy={"roots": int(h["roots"] or 0), "max_depth": int(h["max_depth"] or 0)},
        hints=list(hints.values()),
        notes=_notes(reports, mapping),
    )


def _write(stage, name: str, verdicts: ir.Table, ingest_id: str) -> None:
    """Check and write every row once, verdict included; copy the failed ones to the quarantine and cut them out.

    One pass over the source: a table of loaded rows and a quarantine query of their own would
    each run every check on every row again (and read the source again).
    """
    written = stage.create(name, verdicts)
    stage.insert(QUARANTINE, v.quarantined(written, name).mutate(ingest_id=ibis.literal(ingest_id)).select(
        *QUARANTINE_SCHEMA))
    stage.prune(name, failed=v.VERDICT, drop=(v.VERDICT,))


def _table_report(store, stage, name, stats, n_bad, located, derive, attrs) -> TableReport:
    """Counts read independently: rows read, rows in the loaded table, rows in the quarantine."""
    loaded = store.count(stage.table(name))
    q = stage.table(QUARANTINE)
    quarantined = store.count(q.filter(q.table == name))
    rows_in = stats["n"] + n_bad
    if loaded + quarantined != rows_in:  # pragma: no cover - a bug, never a user error
        raise RuntimeError(f"{name}: {rows_in} rows in but {loaded} loaded + {quarantined} quarantined")
    files = [str(p) for p in located.inputs(name)]
    duplicates = stats["duplicates"] if name != "accounts" or not derive else 0
    deduped = store.count(q.filter((q.table == name) & q.reason.endswith(v.DEDUPE_MARK))) if duplicates else 0
    return TableReport(rows_in, loaded, quarantined, files, derive if name == "accounts" and derive else None,
                       duplicates=duplicates, deduped=deduped, future=stats["future"] or 0, attributes=attrs)


def _notes(reports: dict[str, TableReport], mapping: Mapping) -> list[str]:
    notes = []
    for name, r in reports.items():
        if r.duplicates and any(tm.dedupe for tm in mapping.sources(name)):
            other = r.duplicates - r.deduped
            notes.append(f"{name}: {r.duplicates:,} exact duplicate lines (identical in every column), "
                         f"{r.deduped:,} quarantined as repeats (dedupe: true)"
                         + (f"; the other {other:,} failed another check first and are quarantined for that" if other else ""))
        elif r.duplicates:
            notes.append(f"{name}: {r.duplicates:,} exact duplicate lines (identical in every column), loaded; "
                         "set 'dedupe: true' under this table in the mapping to drop the repeats")
        if r.future:
            notes.append(f"{name}: {r.future:,} rows are dated after today; the default as-of date stays at today")
    return notes


def _flag_references(store, stage, t, contract, checked, reports) -> ir.Table:
    for ref in contract.references:
        if ref.table == contract.name or ref.table not in reports:
            continue  # parent links are the forest's job; absent tables check nothing
        ids = v.reference_ids(checked[ref.table][ref.target], stage.table(ref.table)[ref.target])
        label = "account" if ref.table == "accounts" else ref.table.rstrip("s")
        t = v.flag_references(t, ref.column, ids, label)
    return t


def _survey_accounts(t: ir.Table, stage, *, has_contacts: bool) -> ir.Table:
    """Answers given by a contact belong to the contact's account."""
    if has_contacts:
        return v.fill_account_from_contact(t, stage.table("contacts"))
    return v.add_reason(
        t,
        t.account_id.isnull() & t.contact_id.notnull(),
        "contact_id",
        "account_id is missing and there is no contacts table to resolve contact_id",
    )


def _record(store: Store, ingest_id: str, started: datetime, mapping_path, reports, fingerprints, sizes) -> None:
    finished = datetime.now(UTC).replace(tzinfo=None)
    mapping_sha = fingerprint(Path(mapping_path)) if mapping_path else None
    meta = [{
        "ingest_id": ingest_id, "started_at": started, "finished_at": finished, "sikta_version": __version__,
        "mapping_file": str(mapping_path) if mapping_path else None, "mapping_sha256": mapping_sha,
        "summary": json.dumps({t: asdict(r) for t, r in reports.items()}),
    }]
    files = [{"ingest_id": ingest_id, "table": t, "file": f, "sha256": fingerprints[f], "bytes": sizes[f]}
             for t, r in reports.items() for f in r.files]
    stats = [{"ingest_id": ingest_id, "table": t, "rows_in": r.rows_in, "loaded": r.loaded, "quarantined": r.quarantined}
             for t, r in reports.items()]
    for name, frame in ((INGESTS, meta), (FILES, files), (TABLE_STATS, stats)):
        store.create_empty(name, META_SCHEMAS[name], replace=False)
        store.insert(name, frame, schema=META_SCHEMAS[name])


__all__ = ["IngestReport", "TableReport", "ingest", "DERIVED", "ATTR_PREFIX"]
