"""Bounded reads of a run for charts and reports: a matrix sample and per-group profiles.

Both aggregate or sample in the engine, so Python sees at most ``max_points``
rows or one row per group, whatever the size of the run.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from sikta.core.sampling import stratified_quota
from sikta.service import runs

__all__ = ["PROFILE_FEATURES", "group_profiles", "matrix_rows"]

#: features shown in the group profiles next to the model's own parameters
PROFILE_FEATURES = {"employees": "employees", "revenue_growth": "revenue growth", "tickets_12m": "tickets 12m"}


def matrix_rows(ws: Any, run_id: str | None = None, *, max_points: int = 20_000) -> tuple[pd.DataFrame, int]:
    """The run rows the matrix scatter needs, at most ``max_points`` of them.

    Above ``max_points`` units a stratified sample per group
    (:func:`sikta.core.sampling.stratified_quota`) is drawn in the engine: the
    rows are numbered per group in the order of a hash of ``unit_id``, and the
    first ``quota`` of each group are kept, so the same run always gives the
    same sample and Python never sees more than ``max_points`` rows.

    Returns
    -------
    (pandas.DataFrame, int)
        ``unit_id``, ``name``, ``group``, ``potential_score``, ``pain_score``,
        ``potential_threshold``, ``pain_threshold`` (those the run has), and the
        number of units in the run.
    """
    t = runs.run_rows(ws, run_id)
    cols = [c for c in ("unit_id", "name", "group", "potential_score", "pain_score", "potential_threshold",
                        "pain_threshold") if c in t.columns]
    counts = ws.store.frame(t.group_by("group").aggregate(n=t.count()))
    by_group = {str(r["group"]): int(r["n"]) for r in counts.to_dict("records")}
    total = sum(by_group.values())
    if total <= max_points:
        return ws.store.frame(t.select(*cols).order_by("unit_id")), total
    quota = stratified_quota(by_group, max_points)
    rn = ibis.row_number().over(ibis.window(group_by=t.group, order_by=[t.unit_id.hash(), t.unit_id]))
    q = t.select(*cols, _rn=rn)
    keep = ibis.cases(*((q.group == g, n) for g, n in quota.items()), else_=0)
    return ws.store.frame(q.filter(q._rn < keep).drop("_rn").order_by("unit_id")), total


def group_profiles(ws: Any, run_id: str | None = None, *, features: Any = None) -> pd.DataFrame:
    """Per group of a run: units, revenue, and the mean and median of every parameter and a few features.

    Aggregated in the engine over the run table (joined with ``features``,
    the feature table the run was scored on, for :data:`PROFILE_FEATURES`);
    Python gets one row per group.

    Returns
    -------
    pandas.DataFrame
        One row per group in :data:`~sikta.service.runs.GROUPS` order (empty
        groups with 0 units): ``group``, ``accounts``, ``revenue_12m``,
        ``share_accounts``, ``share_revenue``, then ``<measure>__mean`` and
        ``<measure>__median`` for the parameter values and scores
        (``<axis>__<param>__value`` / ``__score``), ``potential_score``,
        ``pain_score`` and the features.
    """
    t = runs.run_rows(ws, run_id)
    measures = [c for c in t.columns if c.endswith(("__value", "__score")) and not c.startswith("scheme__")]
    measures += [c for c in ("potential_score", "pain_score") if c in t.columns]
    extra = [c for c in PROFILE_FEATURES if features is not None and c in features.columns and c not in measures]
    if extra:
        f = features.select(_fid=features.unit_id, **{f"_f_{c}": features[c] for c in extra})
        t = t.left_join(f, t.unit_id == f._fid)
    cols = {m: t[m] for m in measures} | {c: t[f"_f_{c}"] for c in extra}
    rev = t.revenue_12m.fill_null(0) if "revenue_12m" in t.columns else ibis.literal(0.0)
    aggs: dict[str, Any] = {"accounts": t.count(), "revenue_12m": rev.sum()}
    for name, col in cols.items():
        num = col.cast("float64")
        aggs[f"{name}__mean"], aggs[f"{name}__median"] = num.mean(), num.median()
    frame = ws.store.frame(t.group_by("group").aggregate(**aggs))
    frame = frame.set_index("group").reindex(list(runs.GROUPS)).rename_axis("group").reset_index()
    frame["accounts"] = frame["accounts"].fillna(0).astype(int)
    frame["revenue_12m"] = frame["revenue_12m"].fillna(0.0).astype(float)
    n, r = frame["accounts"].sum(), frame["revenue_12m"].sum()
    frame.insert(3, "share_accounts", frame["accounts"] / n if n else 0.0)
    frame.insert(4, "share_revenue", frame["revenue_12m"] / r if r else 0.0)
    return frame
