"""Ingest: the user's exports → contract tables, with every bad row quarantined.

One ingest is a complete snapshot: the tables it loads replace the
workspace's, tables it does not mention are removed, and the whole change
commits in one transaction. A file that cannot be read at all stops the
ingest before anything is written.

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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from sikta import __version__
from sikta.core.hierarchy import resolve_forest
from sikta.engine import validate as v
from sikta.engine.contract import CONTRACT, REVENUE_TABLES, load_order
from sikta.engine.mapping import Mapping, load_mapping
from sikta.engine.sources import ATTR_PREFIX, fingerprint, locate
from sikta.engine.sources import stage as stage_files
from sikta.engine.store import DOC_PREFIX, Store
from sikta.errors import ContractError, InputError

QUARANTINE = "_sikta_quarantine"
HIERARCHY = "_sikta_hierarchy"
INGESTS = "_sikta_ingests"
FILES = "_sikta_files"
TABLE_STATS = "_sikta_tables"
DERIVED = "(derived)"
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
    """Counts for one table: rows_in == loaded + quarantined, always."""

    rows_in: int
    loaded: int
    quarantined: int
    files: list[str] = field(default_factory=list)
    derived_from: str | None = None


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

    def to_dict(self) -> dict:
        return asdict(self)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _check_sources(located_tables: dict[str, list[Path]], mapping: Mapping) -> None:
    derive = mapping.for_table("accounts").derive_from
    if derive is not None and derive not in located_tables:
        raise InputError(f"accounts.derive_from is {derive}, but no {derive} file was given")
    if "accounts" not in located_tables and derive is None:
        raise InputError(
            "no accounts file found: give accounts.csv/.parquet/.xlsx, "
            "or set 'accounts: {derive_from: orders}' in the mapping"
        )
    if not any(t in located_tables for t in REVENUE_TABLES):
        raise InputError("no orders or subscriptions file found: Sikta needs at least one revenue table")


def _check_currencies(store: Store, checked: dict[str, ir.Table], mapping: Mapping) -> None:
    """Mixed currencies cannot be added up without conversion rates."""
    found: dict[str, set[str]] = {}
    for name in REVENUE_TABLES:
        if name not in checked or mapping.for_table(name).currency_rates:
            continue
        t = checked[name]
        cur = t.filter(t.currency.notnull()).select(c=t.currency.strip().upper()).distinct().limit(20)
        found[name] = set(store.frame(cur)["c"])
    every = set().union(*found.values()) if found else set()
    if len(every) > 1:
        where = ", ".join(f"{n}: {', '.join(sorted(c))}" for n, c in found.items() if c)
        example = ", ".join(f"{c}: 1.0" for c in sorted(every))
        raise ContractError(
            f"mixed currencies ({where}) and no conversion rates; add "
            f"'currency_rates: {{{example}}}' (to one base currency, rate 1) under each revenue table in the mapping"
        )


def _derive_accounts(source: ir.Table, derive: str, attrs: list[str]) -> ir.Table:
    """One account per distinct account_id among the revenue table's valid rows."""
    date_col = "order_date" if derive == "orders" else "start_date"
    ok = source.filter(source._reason.isnull() & source.account_id.notnull())
    agg = ok.group_by("account_id").aggregate(
        first_seen=ok[date_col].min(),
        **{a: ok[ATTR_PREFIX + a].mode() for a in attrs},
    )
    return agg.select(
        _file=ibis.literal(f"{DERIVED} {derive}"),
        _row=(ibis.row_number().over(order_by=agg.account_id) + 1).cast("int64"),
        account_id=agg.account_id,
        status=ibis.literal("customer"),
        first_seen=agg.first_seen,
        **{a: agg[a] for a in attrs if a not in ("first_seen", "status")},
    )


def _survey_accounts(t: ir.Table, stage, *, has_contacts: bool) -> ir.Table:
    """Answers given by a contact belong to the contact's account."""
    if has_contacts:
        t = v.fill_account_from_contact(t, stage.table("contacts"))
        return t
    return v.add_reason(
        t,
        t.account_id.isnull() & t.contact_id.notnull(),
        "contact_id",
        "account_id is missing and there is no contacts table to resolve contact_id",
    )


def _accounts_forest(store: Store, t: ir.Table) -> tuple[ir.Table, pd.DataFrame]:
    """Resolve parents on the valid accounts (one row each), flag broken ones."""
    ok = t.filter(t._reason.isnull()).select("_file", "_row", "account_id", "parent_account_id", "account_type")
    rows = store.frame(ok)
    forest = resolve_forest(rows["account_id"].to_numpy(), rows["parent_account_id"].to_numpy(), rows["account_type"].to_numpy())
    positions = list(forest.broken)
    verdicts = pd.DataFrame({
        "_file": rows["_file"].iloc[positions].astype(str).tolist(),
        "_row": rows["_row"].iloc[positions].astype("int64").tolist(),
        "v_column": ["parent_account_id"] * len(positions),
        "v_reason": [forest.broken[i] for i in positions],
    })
    memo = ibis.memtable(verdicts, schema={"_file": "string", "_row": "int64", "v_column": "string", "v_reason": "string"})
    return v.flag_rows(t, memo), forest.frame


def ingest(
    store: Store,
    paths: list[str | Path],
    mapping_path: str | Path | None = None,
) -> IngestReport:
    """Load exports into the workspace; see the module docstring.

    Parameters
    ----------
    store
        The open workspace store.
    paths
        Folders (``<table>.<csv|parquet|xlsx>`` files) and/or files.
    mapping_path
        Optional YAML column mapping (see :mod:`sikta.engine.mapping`).

    Raises
    ------
    InputError
        A file cannot be read, lacks required columns, or the set of files
        cannot make a workspace (no accounts, no revenue table).
    """
    mapping, mapping_dir = load_mapping(mapping_path)
    located = locate(list(paths), mapping, mapping_dir)
    _check_sources(located.tables, mapping)
    acc_tm = mapping.for_table("accounts")
    derive = acc_tm.derive_from

    # Read every file before writing anything, so unreadable input leaves no trace.
    checked: dict[str, ir.Table] = {}
    for name, files in located.tables.items():
        contract = CONTRACT[name]
        attrs = acc_tm.columns if (derive == name) else None
        view, _ = stage_files(store, contract, files, mapping.for_table(name), account_attrs=attrs)
        checked[name] = v.cast_and_check(store.con.table(view), contract, mapping.for_table(name))
    _check_currencies(store, checked, mapping)
    fingerprints = {str(p): fingerprint(p) for files in located.tables.values() for p in files}

    if derive is not None:
        raw_accounts = _derive_accounts(checked[derive], derive, list(acc_tm.columns))
        checked["accounts"] = v.cast_and_check(raw_accounts, CONTRACT["accounts"], Mapping().for_table("accounts"))

    ingest_id = _new_id("ing")
    started = datetime.now(UTC).replace(tzinfo=None)
    reports: dict[str, TableReport] = {}
    removed: list[str] = []
    with store.staged() as stage:
        stage.create_empty(QUARANTINE, QUARANTINE_SCHEMA)
        final: dict[str, ir.Table] = {}
        for contract in load_order():
            name = contract.name
            if name not in checked:
                if store.has(name):
                    stage.remove(name)
                    removed.append(name)
                continue
            t = v.flag_duplicates(checked[name], contract.key)
            if name == "accounts":
                t, hierarchy = _accounts_forest(store, t)
                stage.create(HIERARCHY, hierarchy, schema=HIERARCHY_SCHEMA)
            if name == "survey_responses":
                t = _survey_accounts(t, stage, has_contacts="contacts" in final)
            for ref in contract.references:
                if ref.table == name or ref.table not in final:
                    continue  # parent links are the forest's job; absent tables check nothing
                target = final[ref.table]
                known = stage.table(ref.table)[ref.target]
                bad = target.filter(target._reason.notnull())[ref.target]
                label = "account" if ref.table == "accounts" else ref.table.rstrip("s")
                t = v.flag_references(t, ref.column, known, bad, label)
            verdicts = store.create(f"_v_{name}", v.finalize(t, contract), temp=True)
            final[name] = verdicts
            stage.create(name, v.loaded(verdicts, contract))
            stage.insert(QUARANTINE, v.quarantined(verdicts, name).mutate(ingest_id=ibis.literal(ingest_id)).select(
                *QUARANTINE_SCHEMA))
            counts = store.frame(verdicts.aggregate(n=verdicts.count(), q=verdicts._reason.notnull().sum()))
            rows_in, q = int(counts["n"].iat[0]), int(counts["q"].fillna(0).iat[0])
            files = [str(p) for p in located.tables.get(name, [])]
            reports[name] = TableReport(rows_in, rows_in - q, q, files, derive if name == "accounts" and derive else None)
        for table in store.tables():
            if table.startswith(("features_", f"{DOC_PREFIX}features_")):
                stage.remove(table)  # features (and their documents) describe the previous data
        stage.on_commit.append(lambda: _record(store, ingest_id, started, mapping_path, reports, fingerprints))
    for name in final:
        store.drop(f"_v_{name}")
    h = store.frame(store.table(HIERARCHY).aggregate(
        roots=store.table(HIERARCHY).ultimate_parent_id.nunique(), max_depth=store.table(HIERARCHY).depth.max()))
    return IngestReport(
        ingest_id=ingest_id,
        workspace=store.path,
        tables=reports,
        skipped=located.skipped,
        removed=removed,
        fingerprints=fingerprints,
        hierarchy={"roots": int(h["roots"].iat[0] or 0), "max_depth": int(h["max_depth"].fillna(0).iat[0])},
    )


def _record(store: Store, ingest_id: str, started: datetime, mapping_path, reports, fingerprints) -> None:
    finished = datetime.now(UTC).replace(tzinfo=None)
    mapping_sha = fingerprint(Path(mapping_path)) if mapping_path else None
    meta = pd.DataFrame([{
        "ingest_id": ingest_id, "started_at": started, "finished_at": finished, "sikta_version": __version__,
        "mapping_file": str(mapping_path) if mapping_path else None, "mapping_sha256": mapping_sha,
        "summary": json.dumps({t: asdict(r) for t, r in reports.items()}),
    }])
    files = pd.DataFrame([
        {"ingest_id": ingest_id, "table": t, "file": f, "sha256": fingerprints[f], "bytes": Path(f).stat().st_size}
        for t, r in reports.items() for f in r.files
    ], columns=["ingest_id", "table", "file", "sha256", "bytes"])
    stats = pd.DataFrame([
        {"ingest_id": ingest_id, "table": t, "rows_in": r.rows_in, "loaded": r.loaded, "quarantined": r.quarantined}
        for t, r in reports.items()
    ])
    for name, frame in ((INGESTS, meta), (FILES, files), (TABLE_STATS, stats)):
        store.create_empty(name, META_SCHEMAS[name], replace=False)
        store.insert(name, frame, schema=META_SCHEMAS[name])
