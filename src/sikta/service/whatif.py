"""What-if before a run: score an edited model on the stored features and compare, storing nothing.

``sikta run --dry-run`` and the web model editor call :func:`preview`: the
model scores the feature table the latest run at its grain used (or the
default build; nothing is rebuilt when one is stored), and one engine query
joins the result with that run's groups. What comes back is small: the group
sizes and revenue, the transition counts and revenue between the latest run
and the preview, and the movers with the most revenue. No table is written,
so an analyst can change a threshold, a weight or a parameter and see the
effect at once (``bench/bench_whatif.py`` measures it at 100,000 units).

Examples
--------
>>> preview  # doctest: +ELLIPSIS
<function preview at ...>
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from sikta.engine.matrix import GROUPS, score
from sikta.errors import NotFoundError
from sikta.service import runs as runs_svc

if TYPE_CHECKING:
    from sikta.service.model import Model
    from sikta.service.workspace import Workspace

__all__ = ["preview"]

NEW = "(not in run)"


def _against(ws: Workspace, grain: str, against: str | None) -> dict[str, Any] | None:
    if against is not None:
        return runs_svc.get_run(ws, against)
    # a plain metadata read: compiling Ibis expressions for it would cost a good part of the second
    rows = ws.store.records(f'SELECT run_id, grain, as_of, features FROM "{runs_svc.RUNS}" WHERE grain = ? '
                            "ORDER BY created_at DESC LIMIT 1", [grain], missing_ok=True)
    return rows[0] if rows else None


def _features(ws: Workspace, grain: str, base: dict[str, Any] | None, as_of: Any):
    """The feature table the base run scored while it is stored (no metadata queries), else the build for the date."""
    if base is not None and as_of is None:
        used = json.loads(base["features"]) if isinstance(base.get("features"), str) else {}
        if used.get("table") and ws.store.has(used["table"]):
            return ws.store.table(used["table"])
        return ws.features(grain, pd.Timestamp(base["as_of"]).date(), window_months=int(used.get("window_months") or 12))
    return ws.features(grain, as_of)


def uses_fits(model: Model) -> bool:
    """Whether scoring ``model`` needs a fit first (CLV built-ins or a scheme parameter)."""
    from sikta.service.clv_run import uses_clv

    return uses_clv(model) or any(p.kind == "scheme" for _, _, p in model.parameters())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def preview(ws: Workspace, model: Model, *, against: str | None = None, limit: int = 20,
            as_of: Any = None) -> dict[str, Any]:
    """Group sizes, revenue per group and who would move, for ``model`` against a run (default: the latest
    at the model's grain), without storing anything.

    Returns a JSON-ready dict: ``groups`` (group → accounts, revenue, and the
    change against the run), ``transitions`` (from → to counts and revenue),
    ``moved``, ``moved_revenue``, ``movers`` (the ``limit`` movers with the
    most revenue), ``against`` (run id or None) and ``seconds``.
    """
    t0 = time.perf_counter()
    grain = model.customer.grain
    base = _against(ws, grain, against)
    if base is not None and base["grain"] != grain:
        raise NotFoundError(f"run {base['run_id']} is at {base['grain']} grain, the model at {grain}")
    f = _features(ws, grain, base, as_of)
    scoring = f
    if uses_fits(model):  # CLV built-ins or scheme parameters: fitted at the date the base run scored
        from sikta.service.scoring import scoring_input

        day = as_of if as_of is not None or base is None else pd.Timestamp(base["as_of"]).date()
        scoring = scoring_input(ws, model, f, day, all_schemes=False, stability=False).features
    # Compiling Ibis expressions costs more than running them at 100k units: only the scoring is
    # compiled; the comparison around it is plain SQL, and one statement returns the transition
    # matrix and the top movers (DuckDB computes the common table expressions once).
    scored_expr = score(scoring, model).select("unit_id", "group")
    ws.store.con._run_pre_execute_hooks(scored_expr)  # in-memory inputs (scheme columns) registered with DuckDB
    scored = ws.store.con.compile(scored_expr)
    name = "f.name" if "name" in f.columns else "NULL"
    if base is not None:
        old = ws.store.table(runs_svc.run_table(base["run_id"]))
        old_rev = "coalesce(o.revenue_12m, 0)" if "revenue_12m" in old.columns else "0.0"
        compare = (f"FROM s FULL OUTER JOIN (SELECT unit_id, \"group\" AS old_group, {old_rev} AS old_revenue "
                   f"FROM {_q(old.get_name())} AS o) AS o ON s.unit_id = o.unit_id")
        cols = ("coalesce(s.unit_id, o.unit_id) AS unit_id, coalesce(s.\"group\", '(not in run)') AS group_to, "
                "coalesce(o.old_group, '(not in run)') AS group_from, o.old_revenue")
    else:
        compare = "FROM s"
        cols = "s.unit_id, s.\"group\" AS group_to, '(not in run)' AS group_from, 0.0 AS old_revenue"
    both = ws.store.records(
        f"WITH s AS ({scored}), b AS (SELECT {cols} {compare}), "
        f"j AS (SELECT b.unit_id, {name} AS name, b.group_to, b.group_from, "
        "coalesce(f.revenue_12m, b.old_revenue, 0) AS revenue, coalesce(b.old_revenue, 0) AS old_revenue "
        f"FROM b LEFT JOIN {_q(f.get_name())} AS f ON b.unit_id = f.unit_id), "
        "m AS (SELECT * FROM j WHERE group_from <> group_to ORDER BY revenue DESC, unit_id LIMIT ?) "
        "SELECT 'T' AS kind, group_from, group_to, count(*) AS accounts, sum(revenue) AS revenue, "
        "sum(old_revenue) AS old_revenue, NULL AS unit_id, NULL AS name FROM j GROUP BY group_from, group_to "
        "UNION ALL SELECT 'M', group_from, group_to, 1, revenue, old_revenue, unit_id, name FROM m",
        [int(limit) if base is not None else 0])
    frame = pd.DataFrame(both, columns=["kind", "group_from", "group_to", "accounts", "revenue", "old_revenue",
                                        "unit_id", "name"])
    trans = frame[frame["kind"] == "T"].drop(columns=["kind", "unit_id", "name"])
    movers = frame[frame["kind"] == "M"].sort_values(["revenue", "unit_id"], ascending=[False, True])
    movers = movers[["unit_id", "name", "group_from", "group_to", "revenue"]]
    groups: dict[str, dict[str, float]] = {}
    for g in GROUPS:
        now = trans[trans["group_to"] == g]
        was = trans[trans["group_from"] == g]
        groups[g] = {"accounts": int(now["accounts"].sum()), "revenue": round(float(now["revenue"].sum()), 2),
                     "accounts_before": int(was["accounts"].sum()) if base is not None else None,
                     "revenue_before": round(float(was["old_revenue"].sum()), 2) if base is not None else None}
        if base is not None:
            groups[g]["change"] = groups[g]["accounts"] - groups[g]["accounts_before"]
    changed = trans[trans["group_from"] != trans["group_to"]]
    return {
        "model": model.name, "model_sha256": model.sha256, "grain": grain,
        "against": None if base is None else base["run_id"],
        "units": int(trans.loc[trans["group_to"] != NEW, "accounts"].sum()),
        "groups": groups,
        "transitions": [{"from": r["group_from"], "to": r["group_to"], "accounts": int(r["accounts"]),
                         "revenue": round(float(r["revenue"]), 2)}
                        for r in trans.sort_values(["group_from", "group_to"]).to_dict("records")],
        "moved": int(changed["accounts"].sum()) if base is not None else None,
        "moved_revenue": round(float(changed["revenue"].sum()), 2) if base is not None else None,
        "movers": [{k: (None if pd.isna(v) else v) for k, v in r.items() if k != "old_revenue"}
                   for r in movers.to_dict("records")],
        "stored": False,
        "seconds": round(time.perf_counter() - t0, 3),
    }
