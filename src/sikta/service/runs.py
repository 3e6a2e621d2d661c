"""Runs: immutable snapshots of one segmentation, and how two of them differ.

A run scores the feature table with a model file and stores, per unit, the
parameter values and scores, the axis scores and the group, together with
the as-of date, the model file's content and hash, the input fingerprints
and the Sikta version. Each run is its own table (``run__<id>``) plus a row
in ``_sikta_runs``; both appear in one swap or not at all, and nothing ever
rewrites them.

Examples
--------
>>> run_table("run-20260101-120000-ab12")
'run__20260101_120000_ab12'
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from sikta import __version__
from sikta.engine.matrix import GROUP_SUMMARY, GROUPS
from sikta.errors import ModelError, NotFoundError, UsageError
from sikta.service import alerts as alerts_svc
from sikta.service import ingest as ing

if TYPE_CHECKING:
    from sikta.service.model import Model
    from sikta.service.workspace import Workspace

RUNS = "_sikta_runs"
RUNS_SCHEMA = {
    "run_id": "string", "created_at": "timestamp", "as_of": "date", "grain": "string",
    "model_name": "string", "model_version": "string", "model_sha256": "string", "model_text": "string",
    "model_file": "string", "ingest_id": "string", "inputs": "string", "sikta_version": "string",
    "units": "int64", "groups": "string", "features": "string",
    "schemes": "string", "diagnostics": "string",  # scheme and matrix diagnoses, JSON
    "clv": "string",  # the CLV fit's summary when the model used CLV (sikta.service.clv_run)
}
#: columns every run table has, whatever its model's parameters
CORE = ("unit_id", "group", "potential_score", "pain_score", "deprioritized_by", "revenue_12m", "name")


def run_table(run_id: str) -> str:
    """The table holding a run's per-unit rows."""
    return "run__" + re.sub(r"[^0-9A-Za-z]+", "_", run_id.removeprefix("run-"))


@dataclass
class RunSummary:
    """What ``sikta run`` reports."""

    run_id: str
    as_of: date
    grain: str
    model_name: str
    model_version: str
    model_sha256: str
    units: int
    groups: dict[str, dict[str, float]]
    features: dict[str, Any] | None = None
    schemes: dict[str, Any] | None = None  # name -> diagnosis (verdict, reasons, profiles...)
    diagnostics: dict[str, Any] | None = None  # the matrix: verdict, reasons (axis warnings), axes

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "as_of": str(self.as_of), "grain": self.grain, "model": self.model_name,
                "model_version": self.model_version, "model_sha256": self.model_sha256, "units": self.units,
                "groups": self.groups, "features": self.features, "schemes": self.schemes,
                "diagnostics": self.diagnostics}


def _group_counts(store, table: ir.Table) -> dict[str, dict[str, float]]:
    rev = table.revenue_12m.fill_null(0) if "revenue_12m" in table.columns else ibis.literal(0.0)
    counts = store.frame(table.group_by("group").aggregate(accounts=table.count(), revenue=rev.sum()))
    by = {r["group"]: r for r in counts.to_dict("records")}
    return {g: {"accounts": int(by[g]["accounts"]) if g in by else 0,
                "revenue": round(float(by[g]["revenue"] or 0), 2) if g in by else 0.0} for g in GROUPS}


def create_run(
    ws: Workspace, model: Model, *, as_of: date | None = None, model_file: str | None = None,
    engine: str | None = None,
) -> RunSummary:
    """Score the features with ``model`` and store the result as a new run.

    ``engine`` builds the features when needed (:func:`sikta.service.feature_store.features`); the
    run's ``features`` record names the engine that built them.
    """
    from sikta.engine.matrix import score

    grain = model.customer.grain
    f = ws.features(grain, as_of, engine=engine)
    build = ws.feature_build(grain, as_of)
    as_of_d = pd.Timestamp(build["as_of"]).date()
    used = {"table": build["table"], "as_of": str(as_of_d), "window_months": int(build["window_months"]),
            "built_at": str(build["built_at"])[:19], "units": int(build["units"]), "engine": build["engine"]}
    from sikta.service.scoring import scoring_input

    prepared = scoring_input(ws, model, f, as_of_d, engine=engine)  # CLV built-ins and scheme labels parameters read
    f, clv_part, schemes = prepared.features, prepared.clv, prepared.schemes
    scored = score(f, model)
    if clv_part is not None:
        scored = clv_part.add_columns(scored)
    keep = [c for c in ("name", "revenue_12m", "status") if c in f.columns and c not in scored.columns]
    if keep:
        extra = f.select("unit_id", *keep)
        scored = scored.left_join(extra, "unit_id").drop("unit_id_right")
    scored = schemes.attach(scored)
    created = datetime.now(UTC).replace(tzinfo=None)
    run_id = f"run-{created:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    name = run_table(run_id)
    last = ws.last_ingest() or {}
    files = ws.store.table(ing.FILES)
    inputs = ws.store.frame(files.filter(files.ingest_id == last.get("ingest_id")).select("table", "file", "sha256"))
    with ws.store.staged() as stage:
        stage.create(name, scored)
        table = stage.table(name)
        units = ws.store.count(table)
        groups = _group_counts(ws.store, table)
        from sikta.service.matrix_checks import matrix_columns, matrix_diagnosis

        checks = matrix_diagnosis(ws.store.frame(table.select(*matrix_columns(model, table.columns))), model)
        stage.on_commit.append(alerts_svc.staged_alerts(ws, table, run_id, grain))  # vs the previous run at the grain
        record = pd.DataFrame([{
            "run_id": run_id, "created_at": created, "as_of": as_of_d, "grain": grain,
            "model_name": model.name, "model_version": str(model.version), "model_sha256": model.sha256,
            "model_text": model.text, "model_file": model_file, "ingest_id": last.get("ingest_id"),
            "inputs": json.dumps(inputs.to_dict("records")), "sikta_version": __version__, "units": units,
            "groups": json.dumps(groups), "features": json.dumps(used),
            "clv": clv_part.to_json() if clv_part is not None else None,
            "schemes": json.dumps(schemes.diagnostics()), "diagnostics": json.dumps(checks),
        }])

        def _log() -> None:
            ws.store.create_empty(RUNS, RUNS_SCHEMA, replace=False)
            ws.store.insert(RUNS, record, schema=RUNS_SCHEMA)

        stage.on_commit.append(_log)
    return RunSummary(run_id, as_of_d, grain, model.name, str(model.version), model.sha256, units, groups, used,
                      schemes=schemes.diagnostics(), diagnostics=checks)


def list_runs(ws: Workspace) -> pd.DataFrame:
    """All runs, newest first (without the model text)."""
    if not ws.store.has(RUNS):
        return pd.DataFrame(columns=[c for c in RUNS_SCHEMA if c != "model_text"])
    # metadata, asked a dozen times by one report: a plain query, not an Ibis compile each time
    return ws.store.frame_sql(f'SELECT * EXCLUDE (model_text) FROM "{RUNS}" ORDER BY created_at DESC')


def get_run(ws: Workspace, run_id: str | None = None) -> dict[str, Any]:
    """One run's metadata; ``None`` or ``latest`` is the newest, ``previous`` the one before."""
    runs = list_runs(ws)
    if runs.empty:
        raise NotFoundError("the workspace has no runs yet: run 'sikta run --model MODEL.yaml' first")
    if run_id in (None, "latest"):
        row = runs.iloc[0]
    elif run_id == "previous":
        if len(runs) < 2:
            raise NotFoundError("there is only one run: no previous run to compare with")
        row = runs.iloc[1]
    else:
        hits = runs[(runs.run_id == run_id) | runs.run_id.str.endswith(str(run_id))]
        if len(hits) != 1:
            raise NotFoundError(f"no run {run_id!r} (see 'sikta runs')" if hits.empty else f"{run_id!r} matches {len(hits)} runs")
        row = hits.iloc[0]
    meta = row.to_dict()
    meta["model_text"] = ws.store.records(f'SELECT model_text FROM "{RUNS}" WHERE run_id = ?', [meta["run_id"]])[0][
        "model_text"]
    meta["groups"] = json.loads(meta["groups"])
    return meta


def run_rows(ws: Workspace, run_id: str | None = None) -> ir.Table:
    """The per-unit rows of a run."""
    meta = get_run(ws, run_id)
    return ws.store.table(run_table(meta["run_id"]))


def explain(ws: Workspace, unit_id: str, run_id: str | None = None) -> dict[str, Any]:
    """Why ``unit_id`` landed in its group in a run, in words and numbers."""
    from sikta.engine.matrix import explain_row
    from sikta.service.model import model_from_text

    meta = get_run(ws, run_id)
    rows = ws.store.table(run_table(meta["run_id"]))
    hit = ws.store.frame(rows.filter(rows.unit_id == str(unit_id)))
    if hit.empty:
        raise NotFoundError(
            f"{unit_id!r} is not in run {meta['run_id']} ({meta['grain']} grain; out of scope or unknown)"
        )
    row = {k: (None if (not isinstance(v, list | tuple) and pd.isna(v)) else v) for k, v in hit.iloc[0].to_dict().items()}
    model = model_from_text(meta["model_text"], source=f"run {meta['run_id']}")
    return {"run_id": meta["run_id"], "unit_id": str(unit_id), "group": row["group"],
            "lines": explain_row(row, model), "values": row}


def diff(ws: Workspace, run_a: str, run_b: str, *, limit: int | None = None) -> dict[str, Any]:
    """Group-to-group transitions between two runs, and who moved and why."""
    a, b = get_run(ws, run_a), get_run(ws, run_b)
    if a["run_id"] == b["run_id"]:
        raise UsageError("give two different runs to compare")
    ta, tb = ws.store.table(run_table(a["run_id"])), ws.store.table(run_table(b["run_id"]))
    common = sorted((set(ta.columns) & set(tb.columns)) - {"unit_id", "name", "status"})
    left = ta.select("unit_id", *[ta[c].name(f"a__{c}") for c in common], **({"name": ta.name} if "name" in ta.columns else {}))
    right = tb.select("unit_id", *[tb[c].name(f"b__{c}") for c in common])
    j = left.outer_join(right, "unit_id")
    j = j.select(unit_id=ibis.coalesce(j.unit_id, j.unit_id_right), **{c: j[c] for c in j.columns if c.startswith(("a__", "b__")) or c == "name"})
    j = j.mutate(
        group_a=j["a__group"].fill_null("(not in run)"),
        group_b=j["b__group"].fill_null("(not in run)"),
    )
    matrix = ws.store.frame(j.group_by(["group_a", "group_b"]).aggregate(accounts=j.count()).order_by(["group_a", "group_b"]))
    moved = j.filter(j.group_a != j.group_b)
    moved_frame = ws.store.frame(moved.order_by("unit_id"), limit=limit)
    shares = _axis_shares(a), _axis_shares(b)
    reasons = []
    for r in moved_frame.to_dict("records"):
        reasons.append(_why(r, shares, a, b))
    moved_frame["why"] = reasons
    total_moved = ws.store.count(moved)
    return {
        "run_a": a["run_id"], "run_b": b["run_id"],
        "model_changed": a["model_sha256"] != b["model_sha256"],
        "as_of": [str(pd.Timestamp(a["as_of"]).date()), str(pd.Timestamp(b["as_of"]).date())],
        "transitions": matrix.to_dict("records"),
        "moved": total_moved,
        "accounts": moved_frame[[c for c in ("unit_id", "name", "group_a", "group_b", "why") if c in moved_frame.columns]].to_dict("records"),
    }


def _level(v: Any) -> str:
    return "high" if bool(v) else "low"


def _axis_shares(meta: dict) -> dict[str, dict[str, float]]:
    """Per axis, each parameter's score column and its share of the axis score (weight / axis total)."""
    from sikta.engine.matrix import AXES, param_column
    from sikta.service.model import model_from_text

    try:
        model = model_from_text(meta["model_text"], source=f"run {meta['run_id']}")
    except ModelError:  # a run of an older model schema: its moves are still listed, without the "mostly" clause
        return {axis: {} for axis in AXES}
    shares = {}
    for axis in AXES:
        ps = getattr(model, axis)
        total = sum(p.weight for p in ps)
        shares[axis] = {param_column(axis, p.name, "score"): p.weight / total for p in ps}
    return shares


def _driver(r: dict, axis: str, up: bool, shares: tuple[dict, dict]) -> str | None:
    """The clause naming the parameter of ``axis`` that pushed its score hardest the way it crossed.

    Only this axis's parameters count: the axis score is their weighted mean, so a bigger
    move on the other axis explains nothing about this crossing. Ranking by the weighted
    contribution (score × share) rather than the raw score keeps a heavy parameter's small
    move ahead of a light one's big move, and a move against the crossing is never the reason.
    """
    wa, wb = shares[0][axis], shares[1][axis]
    best = None
    # model order, not a set's: a tie must name the same parameter on every call
    for c in [c for c in wb if c in wa]:  # a parameter only one model has has no before/after to name
        va, vb = r.get(f"a__{c}"), r.get(f"b__{c}")
        if va is None or vb is None or pd.isna(va) or pd.isna(vb):
            continue
        push = (vb * wb[c] - va * wa[c]) * (1 if up else -1)
        # scores are rounded to 12 decimals: anything this small is rounding, not a push
        if push > 1e-9 and (best is None or push > best[0]):
            best = (push, c, va, vb)
    if best is None:  # the score did not move towards the crossing: the threshold did
        return None
    _, c, va, vb = best
    clause = f"mostly {c.removesuffix('__score').split('__', 1)[1].replace('_', ' ')} {va:.2f} → {vb:.2f}"
    if abs(wa[c] - wb[c]) > 5e-3:  # a re-weighted model can drive the axis with unchanged scores
        clause += f" (weight {wa[c]:.2f} → {wb[c]:.2f})"
    return clause


def _why(r: dict, shares: tuple[dict, dict], a: dict, b: dict) -> str:
    """One line: each axis that crossed its threshold, and the parameter of that axis that drove it.

    ``shares`` is :func:`_axis_shares` of run ``a`` and of run ``b``.
    """
    if r["group_a"] == "(not in run)":
        return "not in the earlier run (new, or came into scope)"
    if r["group_b"] == "(not in run)":
        return "not in the later run (gone, or out of scope)"
    if r["group_b"] == "deprioritized":
        return f"deprioritized by rule '{r.get('b__deprioritized_by')}'"
    if r["group_a"] == "deprioritized":
        return f"no longer caught by rule '{r.get('a__deprioritized_by')}'"
    parts = []
    for axis in ("potential", "pain"):
        ha, hb = r.get(f"a__{axis}_high"), r.get(f"b__{axis}_high")
        if ha is None or hb is None or bool(ha) == bool(hb):
            continue
        sa, sb = r.get(f"a__{axis}_score"), r.get(f"b__{axis}_score")
        ta, tb = r.get(f"a__{axis}_threshold"), r.get(f"b__{axis}_threshold")
        line = f"{axis} {_level(ha)} → {_level(hb)} (score {sa:.2f} → {sb:.2f}"
        line += f", threshold {ta:.2f} → {tb:.2f})" if abs((ta or 0) - (tb or 0)) > 5e-3 else f", threshold {tb:.2f})"
        parts.append(line)
        driver = _driver(r, axis, bool(hb), shares)
        if driver:
            parts.append(driver)
    reason = "; ".join(parts) if parts else "scores unchanged"
    if a["model_sha256"] != b["model_sha256"]:
        reason += " (the model changed)"
    return reason
