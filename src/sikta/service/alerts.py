"""Migrations: alerts for units that changed group or segment between two runs, and one account's history.

**Alerts** (``_sikta_alerts``, stored per run pair): for two runs at the same
grain, one row per unit and *dimension* (``group`` and every scheme label
``scheme__<name>`` both runs have) whose value differs, with ``change``:

* ``upgrade`` / ``downgrade`` - the group moved up or down the matrix order
  (invest, qualify, streamline, maintain, deprioritized: earlier is higher);
  for a scheme whose labels are single letters (value tiers A, B, C), A is
  highest; ``changed`` - other scheme labels;
* ``new`` - in the later run only;
* ``merged`` - in the earlier run only, and its account now belongs to
  another unit of the later run (``merged_into``: a company that moved under
  a new parent, departments that merged), read from the hierarchy of the
  ingest;
* ``left`` - in the earlier run only, its account still a unit of its own
  but out of the later run's scope (e.g. now a former customer);
* ``gone`` - in the earlier run only, and its account no longer in the data.

Each alert carries the revenue (``revenue_12m``) in both runs and the
unit's **tier** in each: A/B/C by cumulative share of the run's revenue
(the units carrying the first 80 % are A, the next 15 % B, the rest C), so
"downgrades of A-tier accounts" is ``change=downgrade, tier=A``.

``sikta run`` stores the alerts against the previous run at the grain as
part of the run; other pairs are computed (and stored) on request.

Examples
--------
>>> direction("group", "invest", "maintain"), direction("group", "maintain", "qualify")
('downgrade', 'upgrade')
>>> direction("scheme__value", "A", "C"), direction("scheme__needs", "speed", "price")
('downgrade', 'changed')
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from sikta.engine.features import unit_map
from sikta.engine.matrix import GROUPS
from sikta.errors import UsageError
from sikta.service import ingest as ing
from sikta.service import operate_units as ou
from sikta.service import runs as runs_svc

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["ALERTS", "ALERTS_SCHEMA", "ALERT_PAIRS", "CHANGES", "TIERS", "alerts", "compute_alerts", "direction", "history",
           "staged_alerts"]

ALERTS = "_sikta_alerts"
ALERTS_SCHEMA = {
    "run_from": "string", "run_to": "string", "unit_id": "string", "name": "string", "dimension": "string",
    "value_from": "string", "value_to": "string", "change": "string", "merged_into": "string",
    "revenue_from": "float64", "revenue_to": "float64", "tier_from": "string", "tier_to": "string",
    "created_at": "timestamp",
}
#: one row per run pair whose alerts are stored (a pair may have none)
ALERT_PAIRS = "_sikta_alert_pairs"
ALERT_PAIRS_SCHEMA = {"run_from": "string", "run_to": "string", "alerts": "int64", "created_at": "timestamp"}
CHANGES = ("upgrade", "downgrade", "changed", "new", "merged", "left", "gone")
TIERS = ("A", "B", "C")
_RANK = {g: i for i, g in enumerate(GROUPS)}


def direction(dimension: str, before: str, after: str) -> str:
    """``upgrade``, ``downgrade`` or ``changed`` for a unit whose ``dimension`` went ``before`` → ``after``."""
    if dimension == "group" and before in _RANK and after in _RANK:
        return "upgrade" if _RANK[after] < _RANK[before] else "downgrade"
    if len(before) == 1 and len(after) == 1 and before.isalpha() and after.isalpha():
        return "upgrade" if after.upper() < before.upper() else "downgrade"
    return "changed"


def _tiered(t: ir.Table) -> ir.Table:
    """``unit_id``, ``revenue``, ``tier`` (A/B/C by cumulative revenue share, largest first)."""
    rev = ibis.greatest(t.revenue_12m.fill_null(0.0), 0.0) if "revenue_12m" in t.columns else ibis.literal(0.0)
    r = t.select("unit_id", revenue=rev)
    w = ibis.window(order_by=[r.revenue.desc(), r.unit_id], preceding=None, following=0)
    total = r.revenue.sum().over(ibis.window())
    before = r.revenue.sum().over(w) - r.revenue
    share = ibis.ifelse(total > 0, before / total, 1.0)
    return r.mutate(tier=ibis.cases((share < 0.80, "A"), (share < 0.95, "B"), else_="C"))


def compute_alerts(ws: Workspace, a: ir.Table, b: ir.Table, grain: str) -> pd.DataFrame:
    """The alerts between run rows ``a`` (earlier) and ``b`` (later) at ``grain`` (see the module docstring)."""
    dims = ["group", *[c for c in ou.label_columns(a.columns) if c in b.columns]]
    ta, tb = _tiered(a), _tiered(b)
    left = a.select("unit_id", *dims, **({"name": a.name} if "name" in a.columns else {"name": ibis.null("string")}))
    left = left.join(ta, "unit_id").rename({f"{c}_a": c for c in (*dims, "name", "revenue", "tier")})
    right = b.select("unit_id", *dims, **({"name": b.name} if "name" in b.columns else {"name": ibis.null("string")}))
    right = right.join(tb, "unit_id").rename({f"{c}_b": c for c in (*dims, "name", "revenue", "tier")})
    j = left.outer_join(right, "unit_id")
    j = j.mutate(unit_id=ibis.coalesce(j.unit_id, j.unit_id_right)).drop("unit_id_right")
    changed = ibis.or_(*[~j[f"{d}_a"].identical_to(j[f"{d}_b"]) for d in dims])
    j = j.filter(changed)
    # where the earlier run's units are now: the account with the unit's id, at this grain
    # (joins on column names: an expression predicate here compiled to ON FALSE in Ibis 12)
    if ws.store.has(ing.HIERARCHY):
        m = unit_map(ws.store.table(ing.HIERARCHY), grain)
        m = m.select(unit_id=m.account_id, now_unit=m.unit_id)
        j = j.left_join(m, "unit_id").drop("unit_id_right")
    else:
        j = j.mutate(now_unit=ibis.null("string"))
    in_b = b.select(now_unit=b.unit_id, in_b=ibis.literal(True))
    j = j.left_join(in_b, "now_unit").drop("now_unit_right")
    frame = ws.store.frame(j.order_by("unit_id"))
    rows: list[dict[str, Any]] = []
    for r in frame.to_dict("records"):
        only_a = pd.isna(r.get("group_b"))
        only_b = pd.isna(r.get("group_a"))
        for d in dims:
            va, vb = r.get(f"{d}_a"), r.get(f"{d}_b")
            va = None if pd.isna(va) else str(va)
            vb = None if pd.isna(vb) else str(vb)
            if va == vb:
                continue
            merged_into = None
            if only_b:
                change = "new"
            elif only_a:
                now = r.get("now_unit")
                if now is None or pd.isna(now):
                    change = "gone"
                elif now != r["unit_id"] and not pd.isna(r.get("in_b")):
                    change, merged_into = "merged", str(now)
                else:
                    change = "left"
            elif va is None or vb is None:
                change = "changed"
            else:
                change = direction(d, va, vb)
            name = r.get("name_b") if not pd.isna(r.get("name_b")) else r.get("name_a")
            rows.append({"unit_id": str(r["unit_id"]), "name": None if pd.isna(name) else str(name), "dimension": d,
                         "value_from": va, "value_to": vb, "change": change, "merged_into": merged_into,
                         "revenue_from": _f(r.get("revenue_a")), "revenue_to": _f(r.get("revenue_b")),
                         "tier_from": _s(r.get("tier_a")), "tier_to": _s(r.get("tier_b"))})
    cols = [c for c in ALERTS_SCHEMA if c not in ("run_from", "run_to", "created_at")]
    return pd.DataFrame(rows, columns=cols)


def _f(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _s(v: Any) -> str | None:
    return None if v is None or pd.isna(v) else str(v)


def _with_pair(frame: pd.DataFrame, run_from: str, run_to: str) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "run_to", run_to)
    out.insert(0, "run_from", run_from)
    out["created_at"] = datetime.now(UTC).replace(tzinfo=None)
    return out[list(ALERTS_SCHEMA)]


def _pair_row(run_from: str, run_to: str, n: int) -> pd.DataFrame:
    return pd.DataFrame([{"run_from": run_from, "run_to": run_to, "alerts": n,
                          "created_at": datetime.now(UTC).replace(tzinfo=None)}])


def _store(ws: Workspace, frame: pd.DataFrame, run_from: str, run_to: str) -> None:
    st = ws.store
    with st.transaction():
        st.create_empty(ALERTS, ALERTS_SCHEMA, replace=False)
        st.create_empty(ALERT_PAIRS, ALERT_PAIRS_SCHEMA, replace=False)
        for table in (ALERTS, ALERT_PAIRS):
            st.execute(f'DELETE FROM "{table}" WHERE run_from = ? AND run_to = ?', [run_from, run_to])
        if len(frame):
            st.insert(ALERTS, _with_pair(frame, run_from, run_to), schema=ALERTS_SCHEMA)
        st.insert(ALERT_PAIRS, _pair_row(run_from, run_to, len(frame)), schema=ALERT_PAIRS_SCHEMA)


def staged_alerts(ws: Workspace, new_rows: ir.Table, run_id: str, grain: str) -> Callable[[], None]:
    """For :func:`sikta.service.runs.create_run`: the alerts of a run being staged against the previous
    run at its grain, computed now and stored when the run commits (a no-op when there is no earlier run)."""
    runs = runs_svc.list_runs(ws)
    earlier = runs[runs["grain"] == grain]
    if earlier.empty:
        return lambda: None
    prev = str(earlier.iloc[0]["run_id"])
    frame = compute_alerts(ws, ws.store.table(runs_svc.run_table(prev)), new_rows, grain)

    def _commit() -> None:
        ws.store.create_empty(ALERTS, ALERTS_SCHEMA, replace=False)
        ws.store.create_empty(ALERT_PAIRS, ALERT_PAIRS_SCHEMA, replace=False)
        if len(frame):
            ws.store.insert(ALERTS, _with_pair(frame, prev, run_id), schema=ALERTS_SCHEMA)
        ws.store.insert(ALERT_PAIRS, _pair_row(prev, run_id, len(frame)), schema=ALERT_PAIRS_SCHEMA)

    return _commit


def _pair(ws: Workspace, run_from: str | None, run_to: str | None) -> tuple[dict, dict]:
    b = runs_svc.get_run(ws, run_to)
    if run_from is None:
        a = ou.previous_run(ws, b)
        if a is None:
            raise UsageError(f"run {b['run_id']} is the first at {b['grain']} grain: there is nothing to compare with")
    else:
        a = runs_svc.get_run(ws, run_from)
    if a["run_id"] == b["run_id"]:
        raise UsageError("give two different runs to compare")
    if a["grain"] != b["grain"]:
        raise UsageError(f"runs {a['run_id']} ({a['grain']}) and {b['run_id']} ({b['grain']}) have different grains")
    if pd.Timestamp(a["created_at"]) > pd.Timestamp(b["created_at"]):
        a, b = b, a
    return a, b


def alerts(ws: Workspace, run_from: str | None = None, run_to: str | None = None, *, change: list[str] | None = None,
           tier: list[str] | None = None, dimension: str | None = None, value_from: list[str] | None = None,
           value_to: list[str] | None = None, unit: str | None = None, store: bool = True) -> dict[str, Any]:
    """The alerts of a run pair (default: the latest run against the previous one at its grain), filtered.

    Stored alerts are read; a pair never computed is computed (and stored
    when ``store`` and the workspace is open for writing). Filters: ``change`` (see :data:`CHANGES`), ``tier``
    (the unit's tier in the earlier run, else the later), ``dimension``
    (``group``, ``segment`` = the first scheme, or ``scheme__<name>``),
    ``value_from`` / ``value_to``, ``unit``.
    """
    for c in change or ():
        if c not in CHANGES:
            raise UsageError(f"change {c!r} is not one of {', '.join(CHANGES)}")
    for t in tier or ():
        if t not in TIERS:
            raise UsageError(f"tier {t!r} is not one of {', '.join(TIERS)}")
    a, b = _pair(ws, run_from, run_to)
    st = ws.store
    frame = None
    stored = st.records(f'SELECT 1 FROM "{ALERT_PAIRS}" WHERE run_from = ? AND run_to = ?', [a["run_id"], b["run_id"]],
                        missing_ok=True)
    if stored and st.has(ALERTS):
        t = st.table(ALERTS)
        pair = t.filter((t.run_from == a["run_id"]) & (t.run_to == b["run_id"]))
        frame = st.frame(pair.order_by(["unit_id", "dimension"])).drop(columns=["run_from", "run_to", "created_at"])
    if frame is None:
        frame = compute_alerts(ws, st.table(runs_svc.run_table(a["run_id"])), st.table(runs_svc.run_table(b["run_id"])),
                               b["grain"])
        if store and not st.read_only:  # a reader (a served workspace) computes without keeping them
            _store(ws, frame, a["run_id"], b["run_id"])
    total = len(frame)
    labels = ou.label_columns(st.table(runs_svc.run_table(b["run_id"])).columns)
    if dimension == "segment":
        if not labels:
            raise UsageError("the runs have no segment (scheme) columns: use --dimension group")
        dimension = labels[0]
    if dimension is not None:
        known = ["group", "segment", *labels]
        if dimension not in known:  # a typo matched nothing and read as "no alerts"
            raise UsageError(f"dimension {dimension!r} is not one of {', '.join(known)}")
        frame = frame[frame["dimension"] == dimension]
    if change:
        frame = frame[frame["change"].isin(change)]
    if tier:
        frame = frame[frame["tier_from"].fillna(frame["tier_to"]).isin(tier)]
    if value_from:
        frame = frame[frame["value_from"].isin(value_from)]
    if value_to:
        frame = frame[frame["value_to"].isin(value_to)]
    if unit:
        frame = frame[frame["unit_id"] == unit]
    frame = frame.reset_index(drop=True)
    return {"run_from": a["run_id"], "run_to": b["run_id"], "grain": b["grain"], "total": total,
            "matched": len(frame), "by_change": {str(k): int(v) for k, v in frame["change"].value_counts().items()},
            "alerts": frame}


def history(ws: Workspace, account: str) -> dict[str, Any]:
    """Every run's view of ``account``: its unit at the run's grain, group, scheme labels, scores and revenue.

    In each run the account is its own unit when the run has it, else the
    unit it belongs to now (from the hierarchy of the last ingest): an account
    that moved under a new parent shows under its new unit from then on, with
    the change ``merged into <unit>``. The change column compares each run
    with the previous one at the same grain.
    """
    account = str(account).strip()
    runs = runs_svc.list_runs(ws)
    if runs.empty:
        raise UsageError("the workspace has no runs yet: run 'sikta run --model MODEL.yaml' first")
    st = ws.store
    units: dict[str, str | None] = {}
    if st.has(ing.HIERARCHY):
        h = st.table(ing.HIERARCHY)
        row = st.frame(h.filter(h.account_id == account))
        for grain, col in (("ultimate_parent", "ultimate_parent_id"), ("account", "account_unit_id"),
                           ("department", "account_id")):
            units[grain] = str(row[col].iat[0]) if len(row) else None
    out: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    owners = st.table(ou.ASSIGNMENTS) if st.has(ou.ASSIGNMENTS) else None
    for r in runs.sort_values("created_at").to_dict("records"):
        t = st.table(runs_svc.run_table(r["run_id"]))
        # the account as its own unit when the run has it (before a merge), else its unit now
        candidates = list(dict.fromkeys(u for u in (account, units.get(r["grain"])) if u))
        found = st.frame(t.filter(t.unit_id.isin(candidates)).select("unit_id"))["unit_id"].tolist()
        unit = next((u for u in candidates if u in found), candidates[-1])
        labels = ou.label_columns(t.columns)
        cols = [c for c in ("group", "potential_score", "pain_score", "revenue_12m", *labels) if c in t.columns]
        hit = st.frame(t.filter(t.unit_id == unit).select(*cols))
        entry: dict[str, Any] = {"run_id": r["run_id"], "created_at": str(r["created_at"])[:19],
                                 "as_of": str(pd.Timestamp(r["as_of"]).date()), "grain": r["grain"], "unit_id": unit,
                                 "model": f"{r['model_name']} v{r['model_version']}", "in_run": not hit.empty}
        if not hit.empty:
            entry.update({k: (None if pd.isna(v) else v) for k, v in hit.iloc[0].to_dict().items()})
        prev = last.get(r["grain"])
        if prev is not None:
            if prev.get("in_run") and entry["in_run"] and prev["unit_id"] != unit:
                entry["change"] = f"merged into {unit}"
            elif prev.get("in_run") and not entry["in_run"]:
                entry["change"] = "left the run"
            elif not prev.get("in_run") and entry["in_run"]:
                entry["change"] = "entered the run"
            elif entry["in_run"] and prev.get("group") != entry.get("group"):
                entry["change"] = f"{prev.get('group')} → {entry.get('group')} ({direction('group', str(prev.get('group')), str(entry.get('group')))})"
        if owners is not None:  # the run's own assignment, else the one carried from an earlier run
            o = st.frame(owners.filter((owners.run_id == r["run_id"]) & (owners.unit_id == unit)).select("owner_id"))
            mine = None if o.empty or pd.isna(o["owner_id"].iat[0]) else o["owner_id"].iat[0]
            entry["owner"] = mine or (prev or {}).get("owner")
        last[r["grain"]] = entry
        out.append(entry)
    if not any(e["in_run"] for e in out) and not any(units.values()):
        from sikta.errors import NotFoundError

        raise NotFoundError(f"no account {account!r} in the workspace or its runs")
    return {"account": account, "units": units, "runs": out}
