"""Feature builds kept per (grain, as-of date, window), so that one never replaces another.

``features_<grain>`` is the **default build** of a grain: as of the default
as-of date (the latest revenue date, never past today) with a 12-month
window. It is what ``sikta run`` scores when no ``--as-of`` is given, what
account pages show, and what the server prepares for fast reads. Every other
(as-of, window) gets its own table ``features_<grain>__<yyyymmdd>_w<n>``, so an
analysis of last year, or over 24 months, never changes the input of a later
run. A new ingest drops every build (they describe the previous data); of the
other builds, the :data:`KEEP_BUILDS` most recent per grain are kept.

A build records its grain, as-of, window, the ingest it was made from, its
unit count, the inputs it had to do without, and the distinct values that
named its per-line, per-channel and per-need columns.

Examples
--------
>>> import datetime as dt
>>> table_name("account", dt.date(2025, 6, 30), 12, default=False)
'features_account__20250630_w12'
>>> table_name("account", dt.date(2025, 6, 30), 12, default=True)
'features_account'
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

from sikta.engine import features as feat
from sikta.engine.contract import CONTRACT, GRAINS
from sikta.errors import DataTooThinError, UsageError
from sikta.service import engines

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

FEATURE_BUILDS = "_sikta_feature_builds"
FEATURE_BUILDS_SCHEMA = {
    "grain": "string", "as_of": "date", "ingest_id": "string", "window_months": "int64",
    "units": "int64", "built_at": "timestamp", "missing": "string", "dims": "string", "table": "string",
    "engine": "string",
}
DEFAULT_WINDOW = 12
#: keyed (non-default) builds kept per grain; older ones are dropped
KEEP_BUILDS = 6
#: at most this many values of a dimension get a column each (``rev12_<line>`` …); more become one long table
MAX_VALUE_COLUMNS = 40


@dataclass
class FeatureBuild:
    """What a feature build produced."""

    grain: str
    as_of: date
    units: int
    table: str
    missing: dict[str, list[str]] = field(default_factory=dict)
    window_months: int = DEFAULT_WINDOW
    notes: list[str] = field(default_factory=list)
    engine: str = "duckdb"


def table_name(grain: str, as_of: date, window_months: int, *, default: bool) -> str:
    """The table of a build: ``features_<grain>`` for the default build, else keyed by date and window."""
    if default:
        return f"features_{grain}"
    return f"features_{grain}__{as_of:%Y%m%d}_w{window_months}"


def _check(grain: str, window_months: int) -> None:
    if grain not in GRAINS:
        raise UsageError(f"grain {grain!r} is not one of {', '.join(GRAINS)}")
    if not 1 <= window_months <= 120:
        raise UsageError("window_months must be between 1 and 120")


def data_span(ws: Workspace) -> tuple[date, date] | None:
    """First and last revenue date in the data (orders and subscription starts), if any."""
    lo, hi = [], []
    for name, col in (("orders", "order_date"), ("subscriptions", "start_date")):
        if ws.store.has(name):
            t = ws.store.table(name)
            row = ws.store.rows(t.aggregate(lo=t[col].min().cast("date"), hi=t[col].max().cast("date")))[0]
            if row["lo"] is not None:
                lo.append(row["lo"])
                hi.append(row["hi"])
    return (min(lo), max(hi)) if lo else None


def build(
    ws: Workspace, grain: str, as_of: date | None, window_months: int = DEFAULT_WINDOW, engine: str | None = None
) -> FeatureBuild:
    """Build and store the features of ``grain`` at ``as_of`` (default: the default as-of) over ``window_months``.

    ``engine`` (``duckdb``, the default, or ``spark``) executes the feature expressions; the result is
    stored in the workspace either way, with the engine's name in the build record.

    Raises
    ------
    DataTooThinError
        ``as_of`` is before the first revenue date: every unit would be empty.
    """
    _check(grain, window_months)
    engine = engines.check_engine(engine)
    if engine != "duckdb":
        ws.store.writable()  # a read-only workspace learns it before a snapshot export and a Spark job
    from sikta.service.workspace import not_after_today

    default_as_of = ws.default_as_of()
    as_of_d = not_after_today(as_of) if as_of else default_as_of
    span = data_span(ws)
    if span is not None and as_of_d < span[0]:
        raise DataTooThinError(f"as-of {as_of_d} is before the first revenue in the data ({span[0]}): "
                               "there is nothing to build features from")
    inputs = engines.inputs(ws, engine)
    tables = inputs.tables
    found = {key: tuple(str(x) for x in inputs.frame(q)["value"].tolist())
             for key, q in feat.dims_queries(tables, as_of=as_of_d).items()}
    notes = []
    for key, values in list(found.items()):
        if len(values) > MAX_VALUE_COLUMNS:
            found[key] = ()
            what = {"product_lines": "product lines", "channels": "interaction channels", "need_items": "need items"}[key]
            notes.append(f"{len(values):,} {what}: too many for a column each; they are counted and listed per unit, "
                         "and the whitespace analysis reads them from a long table")
    dims = feat.Dims(**found)
    expr = feat.build_features(tables, inputs.hierarchy, grain=grain, as_of=as_of_d, dims=dims,
                               window_months=window_months)
    default = as_of_d == default_as_of and window_months == DEFAULT_WINDOW
    name = table_name(grain, as_of_d, window_months, default=default)
    missing = feat.missing_inputs(tables)
    last = ws.last_ingest() or {}
    with ws.store.staged() as stage:
        stage.create(name, inputs.result(expr))
        units = ws.store.count(stage.table(name))
        record = [{
            "grain": grain, "as_of": as_of_d, "ingest_id": last.get("ingest_id"), "window_months": window_months,
            "units": units, "built_at": datetime.now(UTC).replace(tzinfo=None),
            "missing": "; ".join(f"{k}: {', '.join(v)}" for k, v in missing.items()),
            "dims": json.dumps(dataclasses.asdict(dims) | {"notes": notes}), "table": name, "engine": engine,
        }]

        def _log() -> None:
            ws.store.create_empty(FEATURE_BUILDS, FEATURE_BUILDS_SCHEMA, replace=False)
            ws.store.insert(FEATURE_BUILDS, record, schema=FEATURE_BUILDS_SCHEMA)

        stage.on_commit.append(_log)
    _prune(ws, grain)
    return FeatureBuild(grain, as_of_d, units, name, missing, window_months, notes + inputs.notes, engine)


def _prune(ws: Workspace, grain: str) -> None:
    """Drop the oldest keyed builds of ``grain`` beyond :data:`KEEP_BUILDS`."""
    keyed = sorted((b for b in builds(ws) if b["grain"] == grain and b["table"] != f"features_{grain}"),
                   key=lambda b: b["built_at"], reverse=True)
    for old in keyed[KEEP_BUILDS:]:
        for table in ws.store.tables():
            if table == old["table"] or table.startswith(f"{old['table']}__lines@"):
                ws.store.drop(table)


def builds(ws: Workspace) -> list[dict[str, Any]]:
    """Every stored build whose table still exists, newest first (one record per table)."""
    if not ws.store.has(FEATURE_BUILDS):
        return []
    t = ws.store.table(FEATURE_BUILDS)
    if "table" not in t.columns:
        return []
    rows = ws.store.frame(t.order_by(t.built_at.desc())).to_dict("records")
    last = (ws.last_ingest() or {}).get("ingest_id")
    seen, out = set(), []
    for r in rows:
        table = r.get("table") or f"features_{r['grain']}"
        if table in seen or not ws.store.has(table):
            continue
        seen.add(table)
        if r["ingest_id"] == last:
            engine = r.get("engine")
            out.append(r | {"table": table, "engine": engine if isinstance(engine, str) else "duckdb"})  # older: DuckDB
    return out


def _day(value: date) -> date:
    """A stored date as a ``date`` (frames hand dates over as timestamps, a subclass of datetime)."""
    return value.date() if isinstance(value, datetime) else value


def find(ws: Workspace, grain: str, as_of: date | None = None, window_months: int = DEFAULT_WINDOW) -> dict | None:
    """The stored build for (grain, as_of, window) made from the current ingest, if any.

    ``as_of=None`` means the default build.
    """
    for b in builds(ws):
        if b["grain"] != grain or int(b["window_months"]) != window_months:
            continue
        if as_of is None and b["table"] == f"features_{grain}":
            return b
        if as_of is not None and _day(b["as_of"]) == as_of:
            return b
    return None


def features(
    ws: Workspace, grain: str, as_of: date | None = None, window_months: int = DEFAULT_WINDOW,
    engine: str | None = None,
) -> ir.Table:
    """The feature table for (grain, as_of, window), built when there is none for the current data.

    ``engine`` None takes the stored build whichever engine made it (a missing one is built on
    duckdb); ``duckdb`` or ``spark`` also rebuilds a stored build that the other engine made.
    """
    _check(grain, window_months)
    build_record = find(ws, grain, as_of, window_months)
    wanted = None if engine is None else engines.check_engine(engine)
    if build_record is None or wanted not in (None, build_record["engine"]):
        return ws.store.table(build(ws, grain, as_of, window_months, engine=wanted).table)
    return ws.store.table(build_record["table"])


def lines(ws: Workspace, grain: str, as_of: date | None = None, window_months: int = DEFAULT_WINDOW) -> ir.Table:
    """Revenue per unit and product line for a build, long (``unit_id``, ``product_line``, ``rev``, ``rev_lifetime``).

    Made on first use and kept beside its build (named after the build's
    time, so a rebuilt feature table never reads stale lines).
    """
    features(ws, grain, as_of, window_months)
    record = find(ws, grain, as_of, window_months)
    stamp = "".join(ch for ch in str(record["built_at"]) if ch.isdigit())
    name = f"{record['table']}__lines@{stamp}"
    if not ws.store.has(name):
        from sikta.service import ingest as ing

        tables = {n: ws.store.table(n) for n in CONTRACT if ws.store.has(n)}
        expr = feat.unit_lines(tables, ws.store.table(ing.HIERARCHY), grain=grain,
                               as_of=_day(record["as_of"]), window_months=window_months)
        for old in ws.store.tables():
            if old.startswith(f"{record['table']}__lines@"):
                ws.store.drop(old)
        with ws.store.staged() as stage:
            stage.create(name, expr)
    return ws.store.table(name)


def dims_of(record: dict | None) -> dict[str, Any]:
    """The distinct values (and notes) a build recorded."""
    if record is None or not record.get("dims"):
        return {}
    return json.loads(record["dims"])


__all__ = ["FEATURE_BUILDS", "FeatureBuild", "build", "builds", "data_span", "features", "find", "lines", "table_name"]
