"""The unit rows of the operating layer: one row per unit of a run, with everything its rules may name.

Coverage, balancing, playbooks and content all read the same rows, built in
the engine from the run table and the run's feature table (Python receives
one row per unit, only the columns asked for):

* from the run: ``unit_id``, ``name``, ``status``, ``group``, the axis
  scores, ``revenue_12m``, every scheme label ``scheme__<name>`` (also as
  ``segment``: the first scheme of the run, see :func:`segment_columns`) and
  CLV columns ``clv__*``;
* from the features: every feature column (``employees``,
  ``channel_preference``, ``lifecycle_stage``, ``tickets_12m``,
  ``need_*`` ...) and, when a rule names one, the signal built-ins of
  :data:`sikta.engine.wallet.BUILTINS` (``onboarding_struggle``,
  ``usage_decline`` ...);
* the transition since the previous run at the same grain: ``group_from``
  / ``group_to`` and ``segment_from`` / ``segment_to`` (empty ``*_from``
  for a unit new in this run);
* ``owner``: the unit's owner from the latest book assignment (``sikta
  balance``) of this run or an earlier one at the grain, else the CRM's
  ``owner`` (``crm_owner``); ``owner_source`` says which.

Examples
--------
>>> label_columns(["unit_id", "scheme__value", "scheme__value__score", "scheme__needs", "group"])
['scheme__value', 'scheme__needs']
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from sikta.engine.wallet import BUILTINS, add_builtins
from sikta.errors import ModelError
from sikta.service import runs as runs_svc

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["ASSIGNMENTS", "ASSIGNMENTS_SCHEMA", "BASE_COLUMNS", "RunContext", "check_fields", "label_columns",
           "previous_run", "run_context", "unit_table", "units"]

_LABEL = re.compile(r"^scheme__[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
ASSIGNMENTS = "_sikta_assignments"
ASSIGNMENTS_SCHEMA = {
    "run_id": "string", "unit_id": "string", "engagement": "string", "role": "string", "owner_id": "string",
    "current_owner": "string", "status": "string", "reason": "string", "created_at": "timestamp",
}
#: columns every caller gets (those the data lacks are empty)
BASE_COLUMNS = ("unit_id", "name", "status", "group", "segment", "revenue_12m", "owner", "crm_owner",
                "owner_source", "channel_preference", "employees", "lifecycle_stage", "tickets_12m",
                "interactions_12m", "group_from", "group_to", "segment_from", "segment_to")


def label_columns(columns: Iterable[str]) -> list[str]:
    """The scheme label columns (``scheme__<name>``, not ``scheme__<name>__<metric>``), in order."""
    return [c for c in columns if _LABEL.match(c)]


class RunContext:
    """A run's metadata, model, rows, feature table and previous run at the grain (resolved once)."""

    def __init__(self, ws: Workspace, meta: dict[str, Any]) -> None:
        from sikta.service.model import model_from_text

        self.ws = ws
        self.meta = meta
        self.run_id: str = meta["run_id"]
        self.grain: str = meta["grain"]
        self.as_of = pd.Timestamp(meta["as_of"]).date()
        self.model = model_from_text(meta["model_text"], source=f"run {self.run_id}")
        self.model_file: str | None = meta.get("model_file") if isinstance(meta.get("model_file"), str) else None
        self.rows = ws.store.table(runs_svc.run_table(self.run_id))
        self.labels = label_columns(self.rows.columns)
        self.segment: str | None = self.labels[0] if self.labels else None
        self.previous = previous_run(ws, meta)
        self._features: ir.Table | None = None

    @property
    def features(self) -> ir.Table:
        """The feature table the run scored (rebuilt at the run's as-of date when a new ingest dropped it)."""
        if self._features is None:
            used = json.loads(self.meta["features"]) if isinstance(self.meta.get("features"), str) else {}
            window = int(used.get("window_months") or 12)
            self._features = self.ws.features(self.grain, self.as_of, window_months=window)
        return self._features

    def available(self) -> list[str]:
        """Every field a rule may name."""
        extra = ["segment", "owner", "crm_owner", "owner_source", "group_from", "group_to", "segment_from",
                 "segment_to", "engagement", "workload", *BUILTINS]
        return list(dict.fromkeys([*self.rows.columns, *self.features.columns, *extra]))


def run_context(ws: Workspace, run: str | None = None) -> RunContext:
    """The :class:`RunContext` of ``run`` (``latest``, ``previous``, an id or a unique suffix)."""
    return RunContext(ws, runs_svc.get_run(ws, run))


def previous_run(ws: Workspace, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The newest run at the same grain created before ``meta``'s run (None when there is none)."""
    runs = runs_svc.list_runs(ws)
    earlier = runs[(runs["grain"] == meta["grain"]) & (runs["created_at"] < meta["created_at"])]
    if earlier.empty:
        return None
    return runs_svc.get_run(ws, earlier.iloc[0]["run_id"])


def check_fields(ctx: RunContext, whens: Iterable[tuple[str, Mapping[str, Any] | None]]) -> set[str]:
    """The fields the conditions name; an unknown one is a :class:`ModelError` naming its rule."""
    known = ctx.available()
    used: set[str] = set()
    for where, when in whens:
        for field in (when or {}):
            if field not in known:
                hit = difflib.get_close_matches(field, known, n=1, cutoff=0.6)
                hint = f" (did you mean {hit[0]!r}?)" if hit else ""
                raise ModelError(f"{where}: no field {field!r} in the unit rows{hint}")
            used.add(field)
    return used


def _owners(ctx: RunContext) -> ir.Table | None:
    """Latest assigned owner per unit over this run and earlier ones at the grain."""
    store = ctx.ws.store
    if not store.has(ASSIGNMENTS):
        return None
    a, r = store.table(ASSIGNMENTS), store.table(runs_svc.RUNS)
    created = pd.Timestamp(ctx.meta["created_at"]).to_pydatetime()
    ok = r.filter((r.grain == ctx.grain) & (r.created_at <= created)).select("run_id", run_created=r.created_at)
    j = a.filter(a.owner_id.notnull()).join(ok, "run_id")
    w = ibis.window(group_by=j.unit_id, order_by=[j.run_created.desc(), j.created_at.desc()])
    j = j.mutate(_n=ibis.row_number().over(w))
    return j.filter(j._n == 0).select("unit_id", assigned_owner=j.owner_id)


def unit_table(ctx: RunContext, fields: Iterable[str] = ()) -> ir.Table:
    """The unit rows as an Ibis expression: :data:`BASE_COLUMNS` plus ``fields`` (unknown ones are ignored)."""
    rows, f = ctx.rows, ctx.features
    wanted = set(fields)
    builtins = sorted((wanted & set(BUILTINS)) - set(f.columns))
    if builtins:
        m = ctx.model
        f = add_builtins(f, builtins, percentile=m.wallet.percentile, by=m.wallet.peers, min_peers=m.wallet.min_peers)
    from_features = [c for c in f.columns if c not in rows.columns and c != "unit_id"]
    t = rows.left_join(f.select("unit_id", *from_features), "unit_id")
    t = t.drop(*[c for c in t.columns if c.endswith("_right")])
    extra: dict[str, ir.Value] = {}
    if ctx.segment:
        extra["segment"] = t[ctx.segment]
    else:
        extra["segment"] = ibis.null("string")
    crm = t.owner.cast("string") if "owner" in t.columns else ibis.null("string")
    t = t.mutate(**extra, crm_owner=crm)
    owners = _owners(ctx)
    if owners is not None:
        t = t.left_join(owners, "unit_id").drop("unit_id_right")
        t = t.mutate(owner=ibis.coalesce(t.assigned_owner, t.crm_owner),
                     owner_source=ibis.ifelse(t.assigned_owner.notnull(), "assignment",
                                              ibis.ifelse(t.crm_owner.notnull(), "crm", ibis.null("string"))))
        t = t.drop("assigned_owner")
    else:
        t = t.mutate(owner=t.crm_owner, owner_source=ibis.ifelse(t.crm_owner.notnull(), "crm", ibis.null("string")))
    if ctx.previous is not None:
        prev = ctx.ws.store.table(runs_svc.run_table(ctx.previous["run_id"]))
        prev_seg = ctx.segment if ctx.segment in prev.columns else None
        p = prev.select("unit_id", group_from=prev.group,
                        segment_from=prev[prev_seg] if prev_seg else ibis.null("string"))
        t = t.left_join(p, "unit_id").drop("unit_id_right")
    else:
        t = t.mutate(group_from=ibis.null("string"), segment_from=ibis.null("string"))
    t = t.mutate(group_to=t.group, segment_to=t.segment)
    cols = list(dict.fromkeys([*BASE_COLUMNS, *ctx.labels, *sorted(wanted)]))
    present = {c: t[c] for c in cols if c in t.columns}
    for c in cols:
        if c not in present and c not in ("engagement", "workload"):
            present[c] = ibis.null("string")
    # DuckDB sums integers into decimals; pandas would hold them as Decimal objects
    return t.select(**{c: (v.cast("float64") if v.type().is_decimal() else v) for c, v in present.items()})


def units(ctx: RunContext, fields: Iterable[str] = ()) -> pd.DataFrame:
    """:func:`unit_table` executed: one row per unit, sorted by ``unit_id``."""
    t = unit_table(ctx, fields)
    out = ctx.ws.store.frame(t.order_by("unit_id"))
    return out.reset_index(drop=True)
