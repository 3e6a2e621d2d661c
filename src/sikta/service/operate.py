"""Operating on segments: coverage, book balancing, playbook actions and content (SPEC §4.6).

``ws.operate`` (:class:`Operate`) reads a run's unit rows
(:mod:`sikta.service.operate_units`), applies the run's model blocks
(:mod:`sikta.service.operate_spec`) and calls the maths of
:mod:`sikta.core.coverage`, :mod:`sikta.core.balance`,
:mod:`sikta.core.playbook` and :mod:`sikta.core.content`.

Book assignments are not run columns: ``balance(..., store=True)`` keeps them
in ``_sikta_assignments`` keyed by run (replacing that run's earlier
assignment), and every later read of the run or of a later run at the same
grain takes each unit's owner from there (see ``owner`` in
:mod:`sikta.service.operate_units`).

Without a ``coverage:`` block the model uses :data:`DEFAULT_RULES`: invest →
dedicated CSM, qualify and streamline → pooled, the rest → tech touch.

The **team file** (``--team team.csv``) is a CSV with a header:

====================  =====================================================
``owner_id``          required, unique: the owner as the CRM names them
``role``              required: an engagement model's role (``strategic``,
                      ``dedicated``, ``pooled`` or a role set in ``models:``)
``capacity_accounts`` required: accounts the owner can carry (whole number)
``capacity_workload`` optional: workload units (empty = no workload limit)
====================  =====================================================

Examples
--------
>>> import io
>>> read_team(io.StringIO("owner_id,role,capacity_accounts\\nann,dedicated,40\\n"), "team.csv").values.tolist()
[['ann', 'dedicated', '40']]
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sikta.core import balance as core_balance
from sikta.core import content as core_content
from sikta.core import coverage as core_coverage
from sikta.core import playbook as core_playbook
from sikta.errors import InputError, NotFoundError, UsageError
from sikta.service import operate_units as ou
from sikta.service.operate_spec import ContentSpec, CoverageSpec, EngagementRule, load_catalog, rules_of

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["DEFAULT_RULES", "TEAM_COLUMNS", "Operate", "read_team"]

#: engagement rules of a model without a ``coverage:`` block
DEFAULT_RULES = (
    EngagementRule(when={"group": "invest"}, engagement="dedicated"),
    EngagementRule(when={"group": ["qualify", "streamline"]}, engagement="pooled"),
)
TEAM_COLUMNS = ("owner_id", "role", "capacity_accounts", "capacity_workload")
ASSIGNMENT_COLUMNS = ("unit_id", "name", "engagement", "role", "revenue", "workload", "current_owner", "owner_id",
                      "status", "reason")


def read_team(source: str | Path | IO[str], name: str | None = None) -> pd.DataFrame:
    """The team CSV as text columns; a missing file or column is an :class:`InputError` naming the file."""
    label = name or str(source)
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise InputError(f"team file {label}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"team file {label}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in TEAM_COLUMNS[:3] if c not in frame.columns]
    if missing:
        raise InputError(f"team file {label}: no column {', '.join(map(repr, missing))} "
                         f"(columns: {', '.join(frame.columns) or 'none'}; needs owner_id, role, capacity_accounts "
                         "and optionally capacity_workload)")
    frame = frame.replace("", None)
    return frame[[c for c in TEAM_COLUMNS if c in frame.columns]]


def _in_file(label: str, fn, *args, **kwargs):
    """Call ``fn``; an input error about the team frame names the file."""
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        text = str(exc)
        raise InputError(f"{label}: {text}" if text.startswith("team") else text) from None


class Operate:
    """The operating layer of a workspace (``ws.operate``)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def context(self, run: str | None = None) -> ou.RunContext:
        return ou.run_context(self.ws, run)

    # -- coverage ------------------------------------------------------------
    @staticmethod
    def coverage_spec(ctx: ou.RunContext) -> tuple[CoverageSpec, bool]:
        """The run's ``coverage:`` block, or the defaults (second value False)."""
        if ctx.model.coverage is not None:
            return ctx.model.coverage, True
        return CoverageSpec(rules=list(DEFAULT_RULES)), False

    def engaged(self, ctx: ou.RunContext, fields: set[str] | None = None) -> tuple[pd.DataFrame, CoverageSpec, bool]:
        """The unit rows with ``engagement``, ``workload`` and ``role`` (None for tech touch)."""
        spec, own = self.coverage_spec(ctx)
        used = ou.check_fields(ctx, [(f"coverage rule {i}", r.when) for i, r in enumerate(spec.rules, 1)])
        frame = ou.units(ctx, used | set(fields or ()))
        models = spec.engagement_models()
        rules = [r.model_dump() for r in spec.rules]
        frame["engagement"] = core_coverage.assign_engagement(frame, rules, spec.default, models).to_numpy()
        w = spec.workload
        frame["workload"] = core_coverage.workload_weight(
            frame, base=w.base, tickets_per_unit=w.tickets_per_unit, interactions_per_unit=w.interactions_per_unit,
            size_scale=w.size_scale, size_weight=w.size_weight)
        role = {m.name: (None if m.touch == "tech" else m.team_role) for m in models}
        frame["role"] = frame["engagement"].map(role)
        frame["revenue"] = pd.to_numeric(frame["revenue_12m"], errors="coerce").fillna(0.0).clip(lower=0.0)
        return frame, spec, own

    def coverage(self, run: str | None = None, team: pd.DataFrame | None = None,
                 team_name: str = "team") -> dict[str, Any]:
        """Headcount per engagement model against ``team`` (optional), the gap and the touch mix."""
        ctx = self.context(run)
        frame, spec, own = self.engaged(ctx)
        result = _in_file(team_name, core_coverage.coverage, frame[["unit_id", "engagement", "revenue", "workload"]],
                          spec.engagement_models(), team)
        doc = result.to_dict()
        doc.update(run_id=ctx.run_id, as_of=str(ctx.as_of), grain=ctx.grain, units=len(frame),
                   rules="model" if own else "default", team=team_name if team is not None else None)
        net_negative = int((pd.to_numeric(frame["revenue_12m"], errors="coerce") < 0).sum())
        one = net_negative == 1
        doc["notes"] = [f"{net_negative:,} unit{'' if one else 's'} with more credit notes than purchases in the "
                        f"window count{'s' if one else ''} as revenue 0 here (a book's revenue is what its accounts "
                        "bring); the run's group totals net them"] if net_negative else []
        return doc

    # -- balancing -----------------------------------------------------------
    def balance(self, team: pd.DataFrame, run: str | None = None, *, keep_owners: float = 0.8,
                tolerance: float = 0.1, store: bool = True, team_name: str = "team",
                time_limit: float = 30.0) -> dict[str, Any]:
        """Assign the units that need an owner to the team's owners of the right role; store it for the run."""
        ctx = self.context(run)
        frame, spec, _ = self.engaged(ctx)
        owned = frame[frame["role"].notna()].reset_index(drop=True)
        accounts = owned.rename(columns={"owner": "current_owner"})[list(core_balance.ACCOUNT_COLUMNS)]
        result = _in_file(team_name, core_balance.balance_books, accounts, team, keep_owners=keep_owners,
                          tolerance=tolerance, time_limit=time_limit)
        a = result.assignments.copy()
        a.insert(1, "name", owned["name"].to_numpy())
        a.insert(2, "engagement", owned["engagement"].to_numpy())
        a = a[list(ASSIGNMENT_COLUMNS)]
        if store:
            self._store_assignments(ctx.run_id, a)
        tech = int((frame["role"].isna()).sum())
        return {"run_id": ctx.run_id, "as_of": str(ctx.as_of), "grain": ctx.grain, "team": team_name,
                "stored": store, "units": len(frame), "tech_touch": tech, "summary": result.summary,
                "roles": result.roles, "owners": result.owners, "assignments": a}

    def _store_assignments(self, run_id: str, a: pd.DataFrame) -> None:
        store = self.ws.store
        rows = pd.DataFrame({
            "run_id": run_id, "unit_id": a["unit_id"].astype(str), "engagement": a["engagement"],
            "role": a["role"], "owner_id": a["owner_id"], "current_owner": a["current_owner"],
            "status": a["status"], "reason": a["reason"],
            "created_at": datetime.now(UTC).replace(tzinfo=None),
        })
        with store.transaction():
            store.create_empty(ou.ASSIGNMENTS, ou.ASSIGNMENTS_SCHEMA, replace=False)
            store.execute(f'DELETE FROM "{ou.ASSIGNMENTS}" WHERE run_id = ?', [run_id])
            store.insert(ou.ASSIGNMENTS, rows, schema=ou.ASSIGNMENTS_SCHEMA)

    def assignments(self, run: str | None = None) -> pd.DataFrame:
        """The stored assignment of a run (empty when it was never balanced)."""
        ctx = self.context(run)
        if not self.ws.store.has(ou.ASSIGNMENTS):
            return pd.DataFrame(columns=list(ou.ASSIGNMENTS_SCHEMA))
        t = self.ws.store.table(ou.ASSIGNMENTS)
        return self.ws.store.frame(t.filter(t.run_id == ctx.run_id).order_by("unit_id"))

    # -- playbooks -----------------------------------------------------------
    def actions(self, run: str | None = None, *, owner: str | None = None) -> dict[str, Any]:
        """The actions the run's ``playbooks:`` produce, with owner, channel, due date and content."""
        ctx = self.context(run)
        rules = rules_of(list(ctx.model.playbooks))
        notes = [] if rules else ["the model has no playbooks: block, so no actions (see docs/operate.md)"]
        used = ou.check_fields(ctx, [(f"playbook rule {r.name!r}", r.when) for r in rules])
        frame, _, _ = self.engaged(ctx, used)
        if ctx.previous is None and any({"group_from", "segment_from"} & set(r.when) for r in rules):
            notes.append("no earlier run at this grain: rules on transitions match nothing yet")
        acts = core_playbook.plan_actions(frame, rules, as_of=ctx.as_of)
        if len(acts):
            extra = frame.set_index("unit_id")[["name", "group", "engagement"]]
            acts = acts.join(extra, on="unit_id")
            acts = acts[["unit_id", "name", "group", "engagement", *[c for c in core_playbook.ACTION_COLUMNS
                                                                    if c != "unit_id"]]]
        else:
            acts = pd.DataFrame(columns=["unit_id", "name", "group", "engagement",
                                         *core_playbook.ACTION_COLUMNS[1:]])
        if owner is not None:
            acts = acts[acts["owner"] == owner].reset_index(drop=True)
        per_owner = (acts.assign(owner=acts["owner"].fillna("(no owner)")).groupby("owner").size()
                     .sort_values(ascending=False))
        return {"run_id": ctx.run_id, "as_of": str(ctx.as_of), "grain": ctx.grain, "rules": len(rules),
                "units": len(frame), "actions": acts, "per_owner": {str(k): int(v) for k, v in per_owner.items()},
                "per_rule": {str(k): int(v) for k, v in acts.groupby("rule").size().items()}, "notes": notes}

    # -- content -------------------------------------------------------------
    def content(self, run: str | None = None, *, account: str | None = None, catalog: pd.DataFrame | None = None,
                limit: int | None = None) -> dict[str, Any]:
        """Catalog items per unit with the reason; for one account, also the items withheld and why."""
        ctx = self.context(run)
        spec = ctx.model.content
        if catalog is None:
            if spec is None:
                raise UsageError("no content catalog: add a content: block to the model "
                                 "(catalog: content.csv or items: [...]) or pass --catalog FILE")
            catalog = load_catalog(spec, ctx.model_file)
        spec = spec or ContentSpec(items=[])
        need_cols = [c for c in ctx.available() if c.startswith("need_") and c != "need_score"]
        frame = ou.units(ctx, need_cols)
        unit = None
        if account is not None:
            unit = self.unit_of(ctx, account)
            frame = frame[frame["unit_id"] == unit].reset_index(drop=True)
        context = pd.DataFrame({
            "unit_id": frame["unit_id"], "group": frame["group"], "segment": frame["segment"],
            "size_band": core_content.size_band(frame["employees"]),
            "lifecycle_stage": frame["lifecycle_stage"],
            "needs": core_content.needs_from_scores(frame[need_cols], threshold=spec.need_threshold).to_numpy()
            if need_cols else [[] for _ in range(len(frame))],
            "channel_preference": frame["channel_preference"],
        })
        matched = core_content.match_content(context, catalog, limit=None if account else (limit or spec.limit),
                                             explain=account is not None)
        return {"run_id": ctx.run_id, "as_of": str(ctx.as_of), "grain": ctx.grain, "account": account, "unit_id": unit,
                "items": len(catalog), "units": len(frame), "context": context, "matches": matched}

    def unit_of(self, ctx: ou.RunContext, account: str) -> str:
        """The unit of ``account`` at the run's grain (an account id or a unit id of the run)."""
        from sikta.engine.features import unit_map
        from sikta.service import ingest as ing

        store, account = self.ws.store, str(account).strip()
        rows = ctx.rows
        if store.count(rows.filter(rows.unit_id == account)):
            return account
        m = unit_map(store.table(ing.HIERARCHY), ctx.grain)
        hit = store.frame(m.filter(m.account_id == account))
        if hit.empty:
            raise NotFoundError(f"no account {account!r} in the workspace")
        unit = str(hit["unit_id"].iat[0])
        if not store.count(rows.filter(rows.unit_id == unit)):
            raise NotFoundError(f"account {account!r} (unit {unit!r} at {ctx.grain} grain) is not in run "
                                f"{ctx.run_id} (out of scope)")
        return unit


def owners_frame(owners: pd.DataFrame) -> pd.DataFrame:
    """The per-owner table of a balance result with NaN capacities shown as empty."""
    return owners.replace({np.inf: np.nan})
