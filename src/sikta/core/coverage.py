"""Coverage model: which engagement model serves each unit, and the headcount it takes (SPEC §4.6).

Seed 000: an account may need a strategic account manager or a dedicated
customer success manager (CSM) with 10 to 100 accounts, or sit in a pooled
model where one CSM serves 1,000 accounts or more, or be served by tech
touch alone; the mix of high touch and tech touch follows the segment.

**Engagement models** (:class:`EngagementModel`; defaults in
:data:`DEFAULT_MODELS`, every number configurable through
:func:`engagement_models`):

=============  ========  ==================  ==================  ==================
name           touch     accounts per owner  workload per owner  team role
=============  ========  ==================  ==================  ==================
strategic      high      8                   40                  strategic
dedicated      high      50                  100                 dedicated
pooled         pooled    1,000               1,500               pooled
tech_touch     tech      (no owner)          (no owner)          -
=============  ========  ==================  ==================  ==================

The defaults are starting points, not benchmarks: set them from your own
team's books.

**Workload** of one account (:func:`workload_weight`), in units of "an
ordinary account with no tickets and no interactions"::

    1 + tickets_12m / 12 + interactions_12m / 24 + log10(1 + employees / 100)

so a ticket a month adds one unit, as do two interactions a month, and the
size term adds 0.3 at 100 employees, 1.0 at 1,000 and 2.0 at 10,000. Every
constant is a parameter; a missing count is 0 and a missing size adds
nothing.

**Headcount** per engagement model ``m`` with ``n`` accounts and total
workload ``w``: ``fte_accounts = n / accounts_per_owner``, ``fte_workload
= w / workload_per_owner``; the **binding** one is the larger, and
``headcount = ceil(max(fte_accounts, fte_workload))``. Against a team
(``owner_id``, ``role``, ``capacity_accounts``, optional
``capacity_workload``): the owners whose role is the model's ``role``,
``gap = headcount - team_headcount`` (positive: to hire), and the team's
capacity next to the need (a missing ``capacity_workload`` counts as the
model's ``workload_per_owner``).

Examples
--------
>>> units = pd.DataFrame({"unit_id": list("abcd"), "engagement": ["dedicated"] * 3 + ["tech_touch"],
...                       "revenue": [50.0, 30.0, 20.0, 1.0], "workload": [1.0, 2.0, 3.0, 1.0]})
>>> models = engagement_models({"dedicated": {"accounts_per_owner": 2, "workload_per_owner": 5}})
>>> r = coverage(units, models)
>>> d = r.to_dict()["models"][1]  # 3 accounts at 2 each, workload 6 at 5 each
>>> d["engagement"], d["fte_accounts"], d["fte_workload"], d["headcount"], d["binding"]
('dedicated', 1.5, 1.2, 2, 'accounts')
>>> high = r.to_dict()["mix"][0]
>>> high["touch"], high["accounts"], round(high["share_revenue"], 4)
('high', 3, 0.9901)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from sikta.core.conditions import first_match
from sikta.core.frames import bad_row, number_column, require_columns, text_column, unique_ids
from sikta.errors import ModelError

__all__ = [
    "DEFAULT_MODELS",
    "TOUCHES",
    "CoverageResult",
    "EngagementModel",
    "assign_engagement",
    "coverage",
    "engagement_models",
    "workload_weight",
]

TOUCHES = ("high", "pooled", "tech")


@dataclass(frozen=True)
class EngagementModel:
    """How one kind of unit is served.

    Attributes
    ----------
    name
        The key units carry in their ``engagement`` column.
    touch
        ``high`` (a named owner who knows the account), ``pooled`` (a shared
        team serving many accounts) or ``tech`` (digital programmes only).
    accounts_per_owner
        Accounts one owner can carry; None for tech touch (no owner).
    workload_per_owner
        Workload units one owner can carry; None: only accounts count.
    role
        The ``role`` of this model's owners in a team file; defaults to ``name``.
    """

    name: str
    touch: Literal["high", "pooled", "tech"]
    accounts_per_owner: float | None
    workload_per_owner: float | None = None
    role: str | None = None

    @property
    def team_role(self) -> str:
        return self.role or self.name


DEFAULT_MODELS: tuple[EngagementModel, ...] = (
    EngagementModel("strategic", "high", 8, 40),
    EngagementModel("dedicated", "high", 50, 100),
    EngagementModel("pooled", "pooled", 1000, 1500),
    EngagementModel("tech_touch", "tech", None, None),
)

_FIELDS = {"touch", "accounts_per_owner", "workload_per_owner", "role"}


def engagement_models(config: Mapping[str, Mapping[str, Any]] | None = None,
                      base: Sequence[EngagementModel] = DEFAULT_MODELS) -> tuple[EngagementModel, ...]:
    """The default models with ``config`` applied: name → {field: value}; a new name adds a model.

    Examples
    --------
    >>> [m.accounts_per_owner for m in engagement_models({"dedicated": {"accounts_per_owner": 30}})]
    [8, 30, 1000, None]
    >>> engagement_models({"scale": {"touch": "pooled", "accounts_per_owner": 400}})[-1].name
    'scale'
    """
    models = {m.name: m for m in base}
    for name, fields in (config or {}).items():
        context = f"engagement model {name!r}"
        if not isinstance(fields, Mapping):
            raise ModelError(f"{context}: expected a mapping of {', '.join(sorted(_FIELDS))}")
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ModelError(f"{context}: unknown field {sorted(unknown)[0]!r} (fields: {', '.join(sorted(_FIELDS))})")
        if name in models:
            model = replace(models[name], **fields)
        elif "touch" not in fields:
            raise ModelError(f"{context}: a new model needs 'touch' ({', '.join(TOUCHES)})")
        else:
            model = EngagementModel(name=name, **{"accounts_per_owner": None, **fields})
        models[name] = _checked(model)
    return tuple(models.values())


def _checked(m: EngagementModel) -> EngagementModel:
    context = f"engagement model {m.name!r}"
    if m.touch not in TOUCHES:
        raise ModelError(f"{context}: touch must be one of {', '.join(TOUCHES)}, got {m.touch!r}")
    for what in ("accounts_per_owner", "workload_per_owner"):
        v = getattr(m, what)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0):
            raise ModelError(f"{context}: {what} must be a positive number, got {v!r}")
    if m.touch != "tech" and m.accounts_per_owner is None:
        raise ModelError(f"{context}: a {m.touch}-touch model needs accounts_per_owner")
    if m.touch == "tech" and (m.accounts_per_owner is not None or m.workload_per_owner is not None):
        raise ModelError(f"{context}: tech touch has no owners, so no accounts_per_owner or workload_per_owner")
    return m


def workload_weight(
    units: pd.DataFrame,
    *,
    base: float = 1.0,
    tickets_per_unit: float = 12.0,
    interactions_per_unit: float = 24.0,
    size_scale: float = 100.0,
    size_weight: float = 1.0,
    tickets: str = "tickets_12m",
    interactions: str = "interactions_12m",
    size: str = "employees",
) -> np.ndarray:
    """Workload per unit: ``base + tickets / tickets_per_unit + interactions / interactions_per_unit
    + size_weight · log10(1 + size / size_scale)``.

    A column absent from ``units`` and an empty cell contribute nothing.

    Examples
    --------
    >>> workload_weight(pd.DataFrame({"tickets_12m": [12, 0, None], "interactions_12m": [24, 0, 48],
    ...                               "employees": [900, None, 0]})).tolist()
    [4.0, 1.0, 3.0]
    """
    out = np.full(len(units), float(base))
    for col, per in ((tickets, tickets_per_unit), (interactions, interactions_per_unit)):
        if col in units.columns:
            out += number_column(units, "units", col, minimum=0, missing=0.0) / per
    if size in units.columns:
        out += size_weight * np.log10(1.0 + number_column(units, "units", size, minimum=0, missing=0.0) / size_scale)
    return out


def assign_engagement(units: pd.DataFrame, rules: Sequence[Mapping[str, Any]], default: str | None = "tech_touch",
                      models: Sequence[EngagementModel] = DEFAULT_MODELS) -> pd.Series:
    """Engagement model per unit from rules ``[{"when": {field: allowed}, "engagement": name}, ...]``.

    The first rule a unit meets wins (see :mod:`sikta.core.conditions`);
    a unit that meets none gets ``default`` (None leaves it empty).

    Examples
    --------
    >>> units = pd.DataFrame({"group": ["invest", "maintain", "qualify"], "segment": ["key", "key", "smb"]})
    >>> rules = [{"when": {"segment": "key", "group": "invest"}, "engagement": "strategic"},
    ...          {"when": {"segment": "key"}, "engagement": "dedicated"}]
    >>> assign_engagement(units, rules).tolist()
    ['strategic', 'dedicated', 'tech_touch']
    """
    names = {m.name for m in models}
    for i, rule in enumerate(rules, 1):
        if not isinstance(rule, Mapping) or "engagement" not in rule:
            raise ModelError(f"engagement rule {i}: needs 'engagement' (and usually 'when')")
        if rule["engagement"] not in names:
            raise ModelError(f"engagement rule {i}: no engagement model {rule['engagement']!r} "
                             f"(models: {', '.join(sorted(names))})")
        unknown = set(rule) - {"when", "engagement"}
        if unknown:
            raise ModelError(f"engagement rule {i}: unknown key {sorted(unknown)[0]!r} (keys: when, engagement)")
    if default is not None and default not in names:
        raise ModelError(f"default engagement {default!r} is not a model (models: {', '.join(sorted(names))})")
    hit = first_match(units, [r.get("when") for r in rules], "engagement rule")
    chosen = np.array([r["engagement"] for r in rules] + [default], dtype=object)
    return pd.Series(chosen[hit], index=units.index, name="engagement")


@dataclass(frozen=True)
class CoverageResult:
    """Headcount per engagement model and the touch mix.

    Attributes
    ----------
    by_model
        One row per engagement model (in model order): ``engagement``,
        ``touch``, ``role``, ``accounts``, ``revenue``, ``workload``,
        ``accounts_per_owner``, ``workload_per_owner``, ``fte_accounts``,
        ``fte_workload``, ``headcount_accounts``, ``headcount_workload``,
        ``headcount``, ``binding`` (``accounts`` / ``workload``; None for
        tech touch), and with a team: ``team_headcount``, ``gap``,
        ``team_capacity_accounts``, ``team_capacity_workload``,
        ``accounts_over_capacity``, ``workload_over_capacity``.
    mix
        One row per touch (high, pooled, tech): ``accounts``,
        ``share_accounts``, ``revenue``, ``share_revenue``.
    unmatched_roles
        Team roles that no engagement model uses → number of owners.
    """

    by_model: pd.DataFrame
    mix: pd.DataFrame
    unmatched_roles: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``models``, ``mix``, ``headcount``, ``gap`` (None without a team), ``unmatched_roles``."""
        def records(df: pd.DataFrame) -> list[dict]:
            return df.astype(object).where(df.notna(), None).to_dict("records")

        gap = int(self.by_model["gap"].sum()) if "gap" in self.by_model else None
        return {"models": records(self.by_model), "mix": records(self.mix),
                "headcount": int(self.by_model["headcount"].sum()), "gap": gap,
                "unmatched_roles": dict(self.unmatched_roles)}


def _team(team: pd.DataFrame) -> pd.DataFrame:
    require_columns(team, "team", ("owner_id", "role", "capacity_accounts"))
    unique_ids(team, "team", "owner_id")
    roles = text_column(team, "role")
    if pd.isna(roles).any():
        pos = int(np.flatnonzero(pd.isna(roles))[0])
        raise bad_row(team, "team", pos, "role", "the role is missing", key="owner_id")
    return pd.DataFrame({
        "role": roles,
        "capacity_accounts": number_column(team, "team", "capacity_accounts", key="owner_id", minimum=0),
        "capacity_workload": (number_column(team, "team", "capacity_workload", key="owner_id", minimum=0,
                                            missing=np.nan)
                              if "capacity_workload" in team.columns else np.full(len(team), np.nan)),
    })


def coverage(units: pd.DataFrame, models: Sequence[EngagementModel] = DEFAULT_MODELS,
             team: pd.DataFrame | None = None) -> CoverageResult:
    """Headcount each engagement model needs, against ``team`` when given, and the touch mix.

    Parameters
    ----------
    units
        One row per unit: ``unit_id``, ``engagement`` (a model name, e.g.
        from :func:`assign_engagement`), ``revenue`` (empty = 0) and
        ``workload`` (>= 0); without a ``workload`` column it is computed
        by :func:`workload_weight` from the columns present.
    models
        The engagement models (:func:`engagement_models`).
    team
        Optional: ``owner_id``, ``role``, ``capacity_accounts`` and
        optionally ``capacity_workload``.

    Returns
    -------
    CoverageResult
    """
    require_columns(units, "units", ("unit_id", "engagement", "revenue"))
    unique_ids(units, "units", "unit_id")
    models = tuple(_checked(m) for m in models)
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ModelError(f"engagement models: a name appears twice ({', '.join(names)})")
    engagement = text_column(units, "engagement")
    known = pd.Series(engagement).isin(names).to_numpy()
    if not known.all():
        pos = int(np.flatnonzero(~known)[0])
        raise bad_row(units, "units", pos, "engagement",
                      f"{engagement[pos]!r} is not an engagement model ({', '.join(names)})")
    revenue = number_column(units, "units", "revenue", missing=0.0)
    workload = (number_column(units, "units", "workload", minimum=0) if "workload" in units.columns
                else workload_weight(units))
    tm = _team(team) if team is not None else None
    rows = []
    for m in models:
        on = engagement == m.name
        n, w = int(on.sum()), float(workload[on].sum())
        row: dict[str, Any] = {"engagement": m.name, "touch": m.touch, "role": None if m.touch == "tech" else m.team_role,
                               "accounts": n, "revenue": float(revenue[on].sum()), "workload": w,
                               "accounts_per_owner": m.accounts_per_owner, "workload_per_owner": m.workload_per_owner}
        if m.touch == "tech":
            row.update(fte_accounts=0.0, fte_workload=None, headcount_accounts=0, headcount_workload=None,
                       headcount=0, binding=None)
        else:
            fa = n / m.accounts_per_owner
            fw = w / m.workload_per_owner if m.workload_per_owner else None
            ha = math.ceil(fa - 1e-9)
            hw = math.ceil(fw - 1e-9) if fw is not None else None
            row.update(fte_accounts=fa, fte_workload=fw, headcount_accounts=ha, headcount_workload=hw,
                       headcount=max(ha, hw or 0),
                       binding="workload" if fw is not None and fw > fa else "accounts")
        if tm is not None:
            mine = tm[tm["role"] == row["role"]] if row["role"] else tm.iloc[:0]
            cap_w = mine["capacity_workload"].fillna(m.workload_per_owner if m.workload_per_owner else np.nan)
            team_cap_a = float(mine["capacity_accounts"].sum())
            team_cap_w = float(cap_w.sum()) if m.workload_per_owner or mine["capacity_workload"].notna().any() else None
            row.update(team_headcount=len(mine), gap=row["headcount"] - len(mine),
                       team_capacity_accounts=team_cap_a, team_capacity_workload=team_cap_w,
                       accounts_over_capacity=max(0.0, n - team_cap_a) if m.touch != "tech" else 0.0,
                       workload_over_capacity=(max(0.0, w - team_cap_w) if team_cap_w is not None else None))
        rows.append(row)
    by_model = pd.DataFrame(rows)
    touch = by_model.groupby("touch", sort=False)[["accounts", "revenue"]].sum().reindex(list(TOUCHES), fill_value=0)
    total_n, total_r = touch["accounts"].sum(), touch["revenue"].sum()
    mix = pd.DataFrame({
        "touch": list(TOUCHES),
        "accounts": touch["accounts"].astype(np.int64).to_numpy(),
        "share_accounts": (touch["accounts"] / total_n).to_numpy() if total_n else np.zeros(3),
        "revenue": touch["revenue"].to_numpy(dtype=float),
        "share_revenue": (touch["revenue"] / total_r).to_numpy() if total_r else np.zeros(3),
    })
    unmatched = {}
    if tm is not None:
        used = {m.team_role for m in models if m.touch != "tech"}
        unmatched = {str(r): int(c) for r, c in tm["role"].value_counts().sort_index().items() if r not in used}
    return CoverageResult(by_model=by_model, mix=mix, unmatched_roles=unmatched)
