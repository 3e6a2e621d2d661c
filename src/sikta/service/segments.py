"""Reading runs for people and programs: pages of accounts, one account's story, group KPIs.

:class:`RunReader` serves a long-lived process (the REST API, the web UI)
that answers many small questions about the same runs. Runs never change
once written, so what it learns about a run (its metadata, its parsed model,
its group KPIs, a sorted page set) is cached for the life of the reader;
:meth:`RunReader.refresh` forgets the run list and feature builds after a
new run or feature build, and :meth:`RunReader.prepare` adds an index on
``unit_id`` to run and feature tables so that one account is found without
scanning a million rows.

Point reads use parameterized SQL on the store's DuckDB connection instead of
Ibis: compiling an Ibis expression and listing tables cost several
milliseconds each, which at API request rates is most of the budget. Table
names in that SQL come from the run registry and the grain list, never from
the caller. Aggregations (the KPIs) still go through Ibis and the engine.

Group KPIs (:meth:`RunReader.groups`), per group of the run:

- ``accounts``, ``customers``, ``prospects``: units in the group, and by status at the run's as-of;
- ``revenue_12m``: their revenue in the 12 months to the as-of; ``revenue_share`` of the run's total;
- ``revenue_growth``: Σ revenue_12m / Σ revenue_prev_12m − 1 over the group (big accounts weigh
  more; null when the previous year had no revenue);
- ``mrr``: recurring revenue at the as-of;
- ``at_risk``, ``at_risk_share``, ``revenue_at_risk``: customers flagged by the outflow analysis
  (``sikta analyze outflow``: revenue falling, orders, usage or interactions stopped, MRR
  contracting), their share of the group's customers, and the yearly revenue the signals say is
  leaving;
- ``mean_potential_score``, ``mean_pain_score``: where the group sits in the matrix.

The feature-based KPIs (growth, MRR, risk) need the feature table built at the run's as-of and
grain; when it was rebuilt since, they are null and ``note`` says why.

Examples
--------
>>> plain({"a": float("nan"), "b": [1, 2.5], "c": None})
{'a': None, 'b': [1, 2.5], 'c': None}
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections import OrderedDict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb
import ibis
import numpy as np
import orjson
import pandas as pd

from sikta.engine.contract import CONTRACT, GRAINS, STATUSES
from sikta.engine.features_parts import minus_months
from sikta.engine.matrix import explain_row
from sikta.engine.opportunity import outflow
from sikta.engine.store import DOC_PREFIX
from sikta.errors import DataTooThinError, NotFoundError, UsageError
from sikta.service import clv as clv_svc
from sikta.service import feature_store
from sikta.service import runs as runs_svc

if TYPE_CHECKING:
    import pyarrow as pa

    from sikta.service.model import Model
    from sikta.service.workspace import Workspace

GROUPS = runs_svc.GROUPS
#: columns of an account page, when the run table has them
PAGE_COLUMNS = ("unit_id", "name", "status", "group", "potential_score", "pain_score", "deprioritized_by", "revenue_12m")
SORTS = ("unit_id", "name", "group", "revenue_12m", "potential_score", "pain_score")
HIERARCHY_COLUMN = {"ultimate_parent": "ultimate_parent_id", "account": "account_unit_id", "department": "account_id"}


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: NaN and NaT become None, numpy and Decimal plain numbers."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _utc(stamp: str) -> str:
    """An ISO time stored in UTC without a zone, with one: ``2026-01-02T03:04:05Z``."""
    return stamp if stamp.endswith("Z") or "+" in stamp[10:] else f"{stamp}Z"


class RunReader:
    """Cached reads of a workspace's runs (one reader per open workspace).

    Not thread-safe on its own: callers serialize access, as they must for
    the DuckDB connection underneath.

    Parameters
    ----------
    ws
        The open workspace.
    cache_rows
        How many account rows the sorted page sets may hold in memory together.
    """

    def __init__(self, ws: Workspace, *, cache_rows: int = 3_000_000) -> None:
        self.ws = ws
        self.cache_rows = cache_rows
        self._runs: list[dict[str, Any]] | None = None
        self._meta: dict[str, dict[str, Any]] = {}
        self._models: dict[str, Model] = {}
        self._kpis: dict[str, dict[str, Any]] = {}
        self._pages: OrderedDict[tuple, pa.Table] = OrderedDict()
        self._builds: dict[str, dict[str, Any] | None] = {}
        self._local = threading.local()
        self._connection = 0  # which connection of ``ws`` the threads' cursors belong to
        self._docs: dict[str, str | None] = {}
        self._clv: dict[str, Any] = {}  # run id → the CLV fit shown beside it (sikta.service.clv.shown_for)

    # -- plumbing ------------------------------------------------------------
    def _query(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        # A cursor per thread: DuckDB runs them in parallel, so reads of immutable run tables
        # need not queue behind one connection (see account_context / account_read).
        cur = getattr(self._local, "cursor", None)
        if cur is None or self._local.connection != self._connection:
            cur = self._local.cursor = self.ws.store.raw.cursor()
            self._local.connection = self._connection
        return self.ws.store.records(sql, params, con=cur)

    def reconnect(self, ws: Workspace) -> None:
        """Read through ``ws`` from now on (the same workspace, opened again); the caches stay.

        Closing the old connection closed every thread's cursor on it; each thread makes a new
        one on its next read. The caller makes sure no read is running meanwhile.
        """
        self.ws = ws
        self._connection += 1

    def _has(self, table: str) -> bool:
        return bool(self._query("SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'", [table]))

    def refresh(self, *, prepare: bool = False) -> None:
        """Forget the run list and feature builds (after a new run or feature build); with
        ``prepare``, also :meth:`prepare` what is new (nothing to do when nothing is)."""
        self._runs = None
        self._builds.clear()
        self._docs.clear()
        self._clv.clear()
        if prepare:
            self.prepare()

    def prepare(self, run: str | None = None) -> list[str]:
        """Make one account cheap to read; returns the tables prepared now.

        Every feature table and one run's table (default: every run's; an account's history reads
        every run) get an index on ``unit_id`` and a *document table*: ``unit_id`` and the row as
        one JSON text. A point read of a wide table decodes every column; the document is one
        column (a 1M-unit feature table of 83 columns: 2.9 ms → 0.6 ms a lookup).

        Both live in the workspace file, so this is paid once per table. It is safe because run
        tables are never rewritten, and a feature table is replaced (drop-and-rename of a fresh
        table; an index would block renaming the table it sits on, not dropping it) only together
        with a new build time, which is part of its document table's name; stale documents are
        dropped here.
        """
        work = self.pending(run)
        if work:
            self.ws.store.writable()  # a read-only server prepares in a write session (sikta.api.deps)
        done = []
        raw = self.ws.store.raw
        for table, index, doc in work:
            fresh = False
            if index is not None:
                raw.execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" (unit_id)')
                fresh = True
            if doc is not None:
                stale = self._query("SELECT table_name AS t FROM duckdb_tables() WHERE starts_with(table_name, ?) "
                                    "AND schema_name = 'main'", [f"{DOC_PREFIX}{table}@"])
                for old in (r["t"] for r in stale):
                    raw.execute(f'DROP TABLE "{old}"')
                raw.execute(f'CREATE TABLE "{doc}" AS SELECT unit_id, {self._json_of(table)} AS doc FROM "{table}"')
                raw.execute(f'CREATE INDEX "_sikta_ix_{doc}" ON "{doc}" (unit_id)')
                fresh = True
            if fresh:
                done.append(table)
        self._docs.clear()
        return done

    def pending(self, run: str | None = None) -> list[tuple[str, str | None, str | None]]:
        """What :meth:`prepare` would do: (table, index to make or None, document table to make or None)."""
        tables = [f"features_{g}" for g in GRAINS if self._has(f"features_{g}")]
        if self.runs():
            chosen = self.runs() if run is None else [self.resolve(run)]
            tables += [runs_svc.run_table(r["run_id"]) for r in chosen]
        work = []
        for table in tables:
            index = f"_sikta_ix_{table}"
            doc = self._doc_table(table)
            todo_index = None if self._query("SELECT 1 FROM duckdb_indexes() WHERE index_name = ?", [index]) else index
            todo_doc = doc if doc is not None and not self._has(doc) else None
            if todo_index or todo_doc:
                work.append((table, todo_index, todo_doc))
        return work

    def _doc_table(self, table: str) -> str | None:
        """The document table of a run or feature table (None: a feature table without a build)."""
        if not table.startswith("features_"):
            return f"{DOC_PREFIX}{table}@"
        build = self._feature_build(table.removeprefix("features_"))
        if build is None:
            return None
        return f"{DOC_PREFIX}{table}@" + "".join(ch for ch in str(build["built_at"]) if ch.isdigit())

    def _json_of(self, table: str) -> str:
        """SQL for a row of ``table`` as JSON text with the values :func:`plain` would give:
        NaN and infinities null, timestamps in ISO format."""
        cols = self._query("SELECT column_name AS c, data_type AS t FROM duckdb_columns() WHERE table_name = ? "
                           "AND schema_name = 'main' ORDER BY column_index", [table])
        parts = []
        for col in cols:
            name, kind = col["c"], col["t"]
            ref = '"' + name.replace('"', '""') + '"'
            if kind in ("DOUBLE", "FLOAT"):
                ref = f"CASE WHEN isfinite({ref}) THEN {ref} END"
            elif kind.startswith("TIMESTAMP"):
                ref = f"replace(CAST({ref} AS VARCHAR), ' ', 'T')"
            parts.append("'" + name.replace("'", "''") + f"': {ref}")
        return "CAST(to_json({" + ", ".join(parts) + "}) AS VARCHAR)"

    def _doc(self, table: str) -> str | None:
        """The ready document table of ``table``, if :meth:`prepare` made it (cached)."""
        if table not in self._docs:
            doc = self._doc_table(table)
            self._docs[table] = doc if doc is not None and self._has(doc) else None
        return self._docs[table]

    # -- runs ----------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        """All runs, newest first: id, created, as-of, grain, model, units, group counts."""
        if self._runs is None:
            frame = runs_svc.list_runs(self.ws)
            rows = [plain(r) for r in frame.to_dict("records")]
            for r in rows:
                r["groups"] = json.loads(r["groups"]) if isinstance(r.get("groups"), str) else r.get("groups")
            self._runs = rows
        return self._runs

    def resolve(self, ref: str | None) -> dict[str, Any]:
        """A run's listing row: ``latest`` (or None), ``previous``, an id or a unique id suffix."""
        runs = self.runs()
        if not runs:
            raise NotFoundError("the workspace has no runs yet: run 'sikta run --model MODEL.yaml' first")
        if ref in (None, "", "latest"):
            return runs[0]
        if ref == "previous":
            if len(runs) < 2:
                raise NotFoundError("there is only one run: no previous run to compare with")
            return runs[1]
        hits = [r for r in runs if r["run_id"] == ref] or [r for r in runs if r["run_id"].endswith(str(ref))]
        if len(hits) != 1:
            raise NotFoundError(f"no run {ref!r} (see 'sikta runs')" if not hits else f"{ref!r} matches {len(hits)} runs")
        return hits[0]

    def meta(self, ref: str | None) -> dict[str, Any]:
        """A run's full metadata, with the model text."""
        run_id = self.resolve(ref)["run_id"]
        if run_id not in self._meta:
            self._meta[run_id] = plain(runs_svc.get_run(self.ws, run_id))
        return self._meta[run_id]

    def model(self, ref: str | None) -> Model:
        """The model a run was scored with."""
        from sikta.service.model import model_from_text

        meta = self.meta(ref)
        if meta["run_id"] not in self._models:
            self._models[meta["run_id"]] = model_from_text(meta["model_text"], source=f"run {meta['run_id']}")
        return self._models[meta["run_id"]]

    def _feature_build(self, grain: str) -> dict[str, Any] | None:
        if grain not in self._builds:
            build = self.ws.feature_build(grain)
            self._builds[grain] = None if build is None else plain(build)
        return self._builds[grain]

    # -- accounts ------------------------------------------------------------
    def accounts(
        self, run: str | None = None, *, group: str | None = None, status: str | None = None, q: str | None = None,
        sort: str = "-revenue_12m", limit: int = 50, offset: int = 0,
    ) -> dict[str, Any]:
        """One page of a run's accounts, filtered and sorted (ties broken by unit_id).

        ``q`` matches a substring of the unit id or name, ignoring case. Paging is stable:
        the pages of one query cover every row exactly once.
        """
        if group is not None and group not in GROUPS:
            raise UsageError(f"group {group!r} is not one of {', '.join(GROUPS)}")
        if status is not None and status not in STATUSES:
            raise UsageError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        key_col = sort.removeprefix("-")
        if key_col not in SORTS:
            raise UsageError(f"sort {sort!r} is not one of {', '.join(SORTS)} (prefix '-' for descending)")
        if limit < 1 or offset < 0:
            raise UsageError("limit must be at least 1 and offset at least 0")
        run_id = self.resolve(run)["run_id"]
        needle = (q or "").strip().lower() or None
        rows = self._page_set(run_id, group, status, needle, sort)
        page = rows.slice(offset, limit).to_pylist() if offset < rows.num_rows else []
        return {"run_id": run_id, "total": rows.num_rows, "limit": limit, "offset": offset, "sort": sort,
                "rows": [plain(r) for r in page]}

    def _page_set(self, run_id: str, group: str | None, status: str | None, needle: str | None, sort: str) -> pa.Table:
        key = (run_id, group, status, needle, sort)
        if key in self._pages:
            self._pages.move_to_end(key)
            return self._pages[key]
        table = runs_svc.run_table(run_id)
        present = {r["column_name"] for r in self._query(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main'", [table])}
        cols = [c for c in PAGE_COLUMNS if c in present]
        where, params = [], []
        if group is not None:
            where.append('"group" = ?')
            params.append(group)
        if status is not None and "status" in present:
            where.append("status = ?")
            params.append(status)
        if needle is not None:
            name_hit = " OR contains(lower(name), ?)" if "name" in present else ""
            where.append(f"(contains(lower(unit_id), ?){name_hit})")
            params += [needle] * (2 if name_hit else 1)
        col = sort.removeprefix("-")
        if col not in present:
            col = "unit_id"
        order = f'"{col}" {"DESC" if sort.startswith("-") else "ASC"} NULLS LAST, unit_id'
        sql = (f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)} FROM "{table}"'
               f'{" WHERE " + " AND ".join(where) if where else ""} ORDER BY {order}')
        rows = self.ws.store.raw.execute(sql, params).to_arrow_table()
        self._pages[key] = rows
        # keep the cache within its row budget, oldest first (the newest set always stays)
        while len(self._pages) > 1 and sum(t.num_rows for t in self._pages.values()) > self.cache_rows:
            self._pages.popitem(last=False)
        return rows

    def account(self, unit_id: str, run: str | None = None, *, history: int = 50) -> dict[str, Any]:
        """One account in a run: its row, group, explanation, features and group in earlier runs."""
        return self.account_read(self.account_context(run, history=history), unit_id)

    def account_context(self, run: str | None = None, *, history: int = 50) -> dict[str, Any]:
        """What :meth:`account_read` needs from the caches: take it while holding the app's lock."""
        meta = self.resolve(run)
        self.model(meta["run_id"])
        grain, build = meta["grain"], self._feature_build(meta["grain"])
        table = f"features_{grain}" if build is not None else None
        dated = self._features_of(meta)
        if dated is not None and dated != table:  # the run's own date has a build: its features, not another day's
            table, build = dated, {"as_of": str(meta["as_of"])[:10]}
        return {"meta": meta, "model": self._models[meta["run_id"]], "build": build, "features_table": table,
                "same": [r for r in self.runs() if r["grain"] == grain][:history],
                "run_doc": self._doc(runs_svc.run_table(meta["run_id"])),
                "features_doc": self._doc(table) if table == f"features_{grain}" else None,
                "clv": self._clv_result(meta)}

    def account_read(self, ctx: dict[str, Any], unit_id: str, *, features_json: bool = False) -> dict[str, Any]:
        """One account from a context of :meth:`account_context`: only reads of immutable tables, on
        this thread's own cursor, so many can run at once without the app's lock.

        With ``features_json`` the features come as the :class:`orjson.Fragment` of their JSON
        document (when :meth:`prepare` made one), for a caller that writes JSON with orjson anyway.
        """
        meta, unit_id = ctx["meta"], str(unit_id)
        read = self._read_documents if ctx.get("run_doc") else self._read_tables
        row, features, history = read(ctx, unit_id)
        if row is None:
            raise NotFoundError(
                f"{unit_id!r} is not in run {meta['run_id']} ({meta['grain']} grain; out of scope or unknown)"
            )
        if isinstance(features, str):
            features = orjson.Fragment(features) if features_json else orjson.loads(features)
        return {
            "run_id": meta["run_id"], "as_of": str(meta["as_of"])[:10], "grain": meta["grain"], "unit_id": unit_id,
            "name": row.get("name"), "group": row["group"], "explanation": explain_row(row, ctx["model"]),
            "values": row, "features": features,
            "features_as_of": None if features is None else str(ctx["build"]["as_of"])[:10],
            "history": [{"run_id": r["run_id"], "created_at": _utc(r["created_at"]), "as_of": str(r["as_of"])[:10],
                         "group": history.get(r["run_id"])} for r in ctx["same"]],
            "clv": plain(clv_svc.unit_document(self._query, ctx.get("clv"), unit_id)),
        }

    def _clv_result(self, meta: dict[str, Any]) -> Any:
        """The CLV fit shown beside a run (:func:`sikta.service.clv.shown_for`), cached until :meth:`refresh`."""
        if meta["run_id"] not in self._clv:
            try:
                fit, _ = clv_svc.shown_for(self.ws, meta, meta["grain"], pd.Timestamp(meta["as_of"]).date())
            except DataTooThinError:  # the run's fit was replaced since: its clv__ values are in the run row
                fit = None
            self._clv[meta["run_id"]] = fit
        return self._clv[meta["run_id"]]

    def _read_documents(self, ctx: dict[str, Any], unit_id: str) -> tuple[dict | None, str | None, dict[str, str]]:
        """The run row, the features' JSON text and the group in each run, in one statement of index
        lookups on the document tables (one round trip instead of three)."""
        reads = [f'(SELECT doc FROM "{ctx["run_doc"]}" WHERE unit_id = $1)']
        if ctx["features_doc"]:
            reads.append(f'(SELECT doc FROM "{ctx["features_doc"]}" WHERE unit_id = $1)')
        reads += [f'(SELECT "group" FROM "{runs_svc.run_table(r["run_id"])}" WHERE unit_id = $1)' for r in ctx["same"]]
        got = list(self._query("SELECT " + ", ".join(f"{x} AS c{k}" for k, x in enumerate(reads)), [unit_id])[0].values())
        if got[0] is None:
            return None, None, {}
        features = got[1] if ctx["features_doc"] else self._features_row(ctx, unit_id)
        groups = got[2:] if ctx["features_doc"] else got[1:]
        return orjson.loads(got[0]), features, {r["run_id"]: g for r, g in zip(ctx["same"], groups, strict=True)}

    def _read_tables(self, ctx: dict[str, Any], unit_id: str) -> tuple[dict | None, Any, dict[str, str]]:
        """As :meth:`_read_documents`, from the run and feature tables themselves (not prepared)."""
        hit = self._query(f'SELECT * FROM "{runs_svc.run_table(ctx["meta"]["run_id"])}" WHERE unit_id = ?', [unit_id])
        if not hit:
            return None, None, {}
        # JSON-ready, as the document would be: missing values None, numbers plain
        return plain(hit[0]), self._features_row(ctx, unit_id), self._history(unit_id, ctx["same"])

    def _features_row(self, ctx: dict[str, Any], unit_id: str) -> Any:
        if ctx["build"] is None:
            return None
        if ctx["features_doc"]:
            found = self._query(f'SELECT doc FROM "{ctx["features_doc"]}" WHERE unit_id = ?', [unit_id])
            return found[0]["doc"] if found else None
        table = ctx.get("features_table") or f"features_{ctx['meta']['grain']}"
        found = self._query(f'SELECT * FROM "{table}" WHERE unit_id = ?', [unit_id])
        return plain(found[0]) if found else None

    def _history(self, unit_id: str, same: list[dict[str, Any]]) -> dict[str, str]:
        """The unit's group in each of ``same`` (runs of its grain) that has it, by run id."""
        if not same:
            return {}
        # one statement for every run: each branch is an index lookup
        parts = [f'SELECT ? AS run_id, "group" FROM "{runs_svc.run_table(r["run_id"])}" WHERE unit_id = ?' for r in same]
        params = [p for r in same for p in (r["run_id"], unit_id)]
        return {r["run_id"]: r["group"] for r in self._query(" UNION ALL ".join(parts), params)}

    # -- groups --------------------------------------------------------------
    def groups(self, run: str | None = None) -> dict[str, Any]:
        """Counts, revenue and KPIs per group of a run (definitions in the module docstring)."""
        meta = self.meta(run)
        run_id = meta["run_id"]
        if run_id not in self._kpis:
            self._kpis[run_id] = self._compute_kpis(meta)
        return self._kpis[run_id]

    def _features_of(self, meta: dict[str, Any]) -> str | None:
        """The stored feature table as of the run's date: the default build, or the dated one a run at
        another date built (an ingest removes them all, so any that exists is of the current data)."""
        grain, as_of = meta["grain"], pd.Timestamp(meta["as_of"]).date()
        build = self._feature_build(grain)
        if build is not None and str(build["as_of"])[:10] == str(as_of):
            return f"features_{grain}"
        dated = feature_store.table_name(grain, as_of, feature_store.DEFAULT_WINDOW, default=False)
        return dated if self.ws.store.has(dated) else None

    def _partial_year(self, as_of: dt.date) -> str | None:
        """Why growth compares against less than a year: the data start inside the previous window."""
        span = feature_store.data_span(self.ws)
        start = minus_months(as_of, 2 * feature_store.DEFAULT_WINDOW)
        if span is None or span[0] <= start:
            return None
        w = feature_store.DEFAULT_WINDOW
        held = (minus_months(as_of, w) - span[0]).days + 1
        if held <= 0:
            return f"the data start on {span[0]}, after the previous {w} months: there is no growth to compare"
        return (f"the data start on {span[0]}: the previous {w} months hold {held} days of them, so growth "
                "compares against a partial year")

    def _compute_kpis(self, meta: dict[str, Any]) -> dict[str, Any]:
        store, grain, as_of = self.ws.store, meta["grain"], str(meta["as_of"])[:10]
        t = store.table(runs_svc.run_table(meta["run_id"]))
        table, build = self._features_of(meta), self._feature_build(grain)
        note = None
        if table is None:
            note = (f"no {grain} feature table: growth, MRR and risk need one" if build is None else
                    f"the {grain} features were rebuilt as of {str(build['as_of'])[:10]}; growth, MRR and risk "
                    f"need them as of {as_of} ('sikta features --as-of {as_of}' builds them)")
        joined = note is None
        if joined:
            note = self._partial_year(pd.Timestamp(meta["as_of"]).date())
            f = store.table(table)
            risk = outflow(f).select("unit_id", "revenue_at_risk", flagged=ibis.literal(1))
            extra = [c for c in ("revenue_prev_12m", "mrr") if c in f.columns]
            t = t.left_join(f.select("unit_id", *extra), "unit_id").drop("unit_id_right")
            t = t.left_join(risk, "unit_id").drop("unit_id_right")
        status = t.status if "status" in t.columns else ibis.literal(None, "string")
        is_customer = (status == "customer").fill_null(False)

        def total(col: str):
            return t[col].fill_null(0).sum() if col in t.columns else ibis.null("float64")

        metrics: dict[str, Any] = {
            "accounts": t.count(), "revenue_12m": total("revenue_12m"),
            "customers": is_customer.cast("int64").sum(),
            "prospects": (status == "prospect").fill_null(False).cast("int64").sum(),
            "mean_potential_score": t.potential_score.mean(), "mean_pain_score": t.pain_score.mean(),
        }
        if joined:
            metrics |= {
                "revenue_prev_12m": total("revenue_prev_12m"), "mrr": total("mrr"),
                "at_risk": (is_customer & t.flagged.notnull()).cast("int64").sum(),
                "revenue_at_risk": is_customer.ifelse(t.revenue_at_risk.fill_null(0), 0).sum(),
            }
        frame = store.frame(t.group_by("group").aggregate(**metrics))
        by = {r["group"]: plain(r) for r in frame.to_dict("records")}
        run_total = sum((by.get(g, {}).get("revenue_12m") or 0) for g in GROUPS)
        model = self.model(meta["run_id"])
        out = []
        for g in GROUPS:
            # an empty group has no row: its sums are 0 (when they could be computed at all)
            r = by.get(g) or ({"revenue_prev_12m": 0.0, "mrr": 0.0, "at_risk": 0, "revenue_at_risk": 0.0} if joined else {})
            style = getattr(model.groups, g, None)
            accounts, customers = int(r.get("accounts") or 0), int(r.get("customers") or 0)
            revenue, prev, at_risk = float(r.get("revenue_12m") or 0), r.get("revenue_prev_12m"), r.get("at_risk")
            out.append({
                "group": g, "label": (style.label if style is not None and style.label else g),
                "colour": style.colour if style is not None else None, "kpi": style.kpi if style is not None else None,
                "accounts": accounts, "customers": customers, "prospects": int(r.get("prospects") or 0),
                "revenue_12m": round(revenue, 2), "revenue_share": round(revenue / run_total, 6) if run_total else None,
                "revenue_prev_12m": None if prev is None else round(float(prev), 2),
                "revenue_growth": round(revenue / prev - 1, 6) if prev is not None and prev > 0 else None,
                "mrr": None if r.get("mrr") is None else round(float(r["mrr"]), 2),
                "at_risk": None if at_risk is None else int(at_risk),
                "at_risk_share": round(int(at_risk) / customers, 6) if at_risk is not None and customers else None,
                "revenue_at_risk": None if r.get("revenue_at_risk") is None else round(float(r["revenue_at_risk"]), 2),
                "mean_potential_score": plain(r.get("mean_potential_score")),
                "mean_pain_score": plain(r.get("mean_pain_score")),
            })
        return {"run_id": meta["run_id"], "as_of": as_of, "grain": grain, "units": int(meta["units"]),
                "revenue_12m": round(run_total, 2), "features_as_of": as_of if table else None if build is None else str(build["as_of"])[:10],
                "note": note, "groups": out}

    # -- contacts ------------------------------------------------------------
    def contacts(self, unit_id: str, run: str | None = None, *, personal: bool = False) -> dict[str, Any]:
        """The contacts of a unit's member accounts; personal fields are None unless ``personal``."""
        grain = self.resolve(run)["grain"]
        column = HIERARCHY_COLUMN[grain]
        members = self._query(f'SELECT count(*) AS n FROM "_sikta_hierarchy" WHERE "{column}" = ?', [str(unit_id)])
        if not members or not members[0]["n"]:
            raise NotFoundError(f"no {grain} unit {unit_id!r} in the workspace")
        pii = set(CONTRACT["contacts"].pii)
        try:
            rows = self._query(
                f'SELECT c.* FROM contacts c JOIN "_sikta_hierarchy" h ON c.account_id = h.account_id '
                f'WHERE h."{column}" = ? ORDER BY c.contact_id', [str(unit_id)])
        except duckdb.CatalogException:
            rows = []  # no contacts were loaded
        shown = [{k: (None if k in pii and not personal else plain(v)) for k, v in r.items()} for r in rows]
        return {"unit_id": str(unit_id), "grain": grain, "personal_data": "included" if personal else "redacted",
                "contacts": shown}


__all__ = ["RunReader", "plain", "GROUPS", "SORTS", "PAGE_COLUMNS"]
