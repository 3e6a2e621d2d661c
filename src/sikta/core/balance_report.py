"""The bookkeeping of book balancing: reasons per account, totals per owner, what was not met.

:func:`sikta.core.balance.balance_books` decides who owns what; this module
turns that into the frames and sentences a user reads. Reasons for an
account that changes owner (first that applies):

* ``no current owner`` - ``current_owner`` is empty;
* ``current owner not in the team`` - the id is not an ``owner_id``;
* ``current owner has another role`` - the owner serves another role;
* ``owner over capacity`` - the current owner's book of this role exceeded
  its account or workload capacity before balancing;
* ``balance revenue`` / ``balance workload`` - otherwise: whichever of the
  current owner's revenue and workload was further from its target before
  balancing (relative deviation).

An unassigned account carries ``no owner with this role`` or ``role
capacity short``.

Examples
--------
>>> REASONS[:3]
('no current owner', 'current owner not in the team', 'current owner has another role')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BalanceResult", "REASONS", "build"]

NO_OWNER = "no current owner"
UNKNOWN_OWNER = "current owner not in the team"
OTHER_ROLE = "current owner has another role"
OVER_CAPACITY = "owner over capacity"
BALANCE_REVENUE = "balance revenue"
BALANCE_WORKLOAD = "balance workload"
CAPACITY_SHORT = "role capacity short"
NO_ROLE_OWNER = "no owner with this role"
#: every reason an account can carry (kept accounts carry none)
REASONS = (NO_OWNER, UNKNOWN_OWNER, OTHER_ROLE, OVER_CAPACITY, BALANCE_REVENUE, BALANCE_WORKLOAD,
           CAPACITY_SHORT, NO_ROLE_OWNER)
# deviations are compared with the tolerance with this slack (solver round-off)
_EPS = 1e-6


@dataclass(frozen=True)
class BalanceResult:
    """The balanced books.

    Attributes
    ----------
    assignments
        One row per account, input order: ``unit_id``, ``role``, ``revenue``,
        ``workload``, ``current_owner``, ``owner_id`` (None when unassigned),
        ``status`` (``kept`` / ``moved`` / ``unassigned``) and ``reason``
        (None for kept accounts; one of :data:`REASONS` otherwise).
    owners
        One row per owner, input order: ``owner_id``, ``role``, ``accounts``,
        ``revenue``, ``workload``, ``capacity_accounts``,
        ``capacity_workload`` (NaN = no limit), ``target_revenue``,
        ``target_workload``, ``revenue_deviation`` and
        ``workload_deviation`` (value / target − 1; NaN when the target is
        0), ``within_tolerance``, ``kept``, ``gained``, ``lost``.
    roles
        One dict per role (sorted by name): counts, keep share, the largest
        deviations, ``balanced``, ``optimal`` (False when a solver stopped at
        its time limit), ``method``, solver sizes and ``problems`` (one
        sentence per aim not met).
    summary
        Totals over all roles, with ``moved_by_reason``,
        ``unassigned_by_reason`` and every role's ``problems``.
    """

    assignments: pd.DataFrame
    owners: pd.DataFrame
    roles: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary, roles and owners (not the per-account rows)."""
        owners = self.owners.astype(object).where(self.owners.notna(), None)
        return {"summary": self.summary, "roles": self.roles, "owners": owners.to_dict("records")}


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _deviation(value: np.ndarray, target: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(target > 0, value / target - 1.0, np.nan)


def _worst(owners: pd.DataFrame, column: str) -> tuple[float, str | None]:
    dev = owners[column].abs()
    if dev.notna().sum() == 0:
        return 0.0, None
    pos = int(np.nanargmax(dev.to_numpy()))
    return float(owners[column].iat[pos]), str(owners["owner_id"].iat[pos])


def build(acc: pd.DataFrame, own: pd.DataFrame, dest: np.ndarray, role_info: list[dict], *,
          keep_owners: float, tolerance: float) -> BalanceResult:
    """Frames and summaries from the owner position of every account (-1 = unassigned)."""
    owner_ids = own["owner_id"].to_numpy(dtype=object)
    owner_role = own["role"].to_numpy(dtype=object)
    pos = {o: i for i, o in enumerate(owner_ids)}
    cur = np.array([pos.get(o, -1) if o is not None else -1 for o in acc["current_owner"]], dtype=np.int64)
    role = acc["role"].to_numpy(dtype=object)
    valid = cur >= 0
    valid[valid] = owner_role[cur[valid]] == role[valid]
    rev, work = acc["revenue"].to_numpy(), acc["workload"].to_numpy()
    n_own = len(own)

    def per_owner(mask: np.ndarray, owner: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(owner[mask], weights=None if weights is None else weights[mask], minlength=n_own)

    # each owner's book before balancing (only accounts of the owner's own role count)
    start_n = per_owner(valid, cur).astype(float)
    start_w = per_owner(valid, cur, work)
    start_r = per_owner(valid, cur, rev)
    share = np.zeros(n_own)
    role_rev, role_work = {}, {}
    for info in role_info:
        if "share" in info:
            share[info["o_idx"]] = info["share"]
        elif len(info["o_idx"]):
            share[info["o_idx"]] = 1.0 / len(info["o_idx"])
        role_rev[info["role"]] = rev[info["a_idx"]].sum()
        role_work[info["role"]] = work[info["a_idx"]].sum()
    start_target_r = share * np.array([role_rev.get(r, 0.0) for r in owner_role])
    start_target_w = share * np.array([role_work.get(r, 0.0) for r in owner_role])
    over = (start_n > own["capacity_accounts"].to_numpy() + _EPS) | (start_w > own["capacity_workload"].to_numpy() * (1 + 1e-9) + _EPS)
    lean_revenue = np.abs(_deviation(start_r, start_target_r)) >= np.nan_to_num(np.abs(_deviation(start_w, start_target_w)), nan=0.0)
    lean_revenue = lean_revenue | np.isnan(_deviation(start_w, start_target_w))

    assigned = dest >= 0
    kept = valid & (dest == cur)
    has_owner = np.array([o is not None for o in acc["current_owner"]])
    role_has_owner = {info["role"]: len(info["o_idx"]) > 0 for info in role_info}
    reason = np.full(len(acc), None, dtype=object)
    moved = assigned & ~kept
    reason[moved & ~has_owner] = NO_OWNER
    reason[moved & has_owner & (cur < 0)] = UNKNOWN_OWNER
    reason[moved & (cur >= 0) & ~valid] = OTHER_ROLE
    v = np.flatnonzero(moved & valid)
    reason[v] = np.where(over[cur[v]], OVER_CAPACITY,
                         np.where(lean_revenue[cur[v]], BALANCE_REVENUE, BALANCE_WORKLOAD))
    no_role = np.array([not role_has_owner.get(r, False) for r in role], dtype=bool)
    reason[~assigned] = np.where(no_role[~assigned], NO_ROLE_OWNER, CAPACITY_SHORT)
    status = np.where(~assigned, "unassigned", np.where(kept, "kept", "moved"))
    assignments = pd.DataFrame({
        "unit_id": acc["unit_id"].to_numpy(),
        "role": role,
        "revenue": rev,
        "workload": work,
        "current_owner": acc["current_owner"].to_numpy(dtype=object),
        "owner_id": np.append(owner_ids, None)[dest],  # -1 picks the appended None
        "status": status,
        "reason": reason,
    })

    n_final = per_owner(assigned, dest)
    r_final = per_owner(assigned, dest, rev)
    w_final = per_owner(assigned, dest, work)
    assigned_rev = {info["role"]: rev[info["a_idx"]][assigned[info["a_idx"]]].sum() for info in role_info}
    assigned_work = {info["role"]: work[info["a_idx"]][assigned[info["a_idx"]]].sum() for info in role_info}
    target_r = share * np.array([assigned_rev.get(r, 0.0) for r in owner_role])
    target_w = share * np.array([assigned_work.get(r, 0.0) for r in owner_role])
    dev_r, dev_w = _deviation(r_final, target_r), _deviation(w_final, target_w)

    def ok(dev: np.ndarray, value: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(dev), value <= _EPS, np.abs(dev) <= tolerance + _EPS)

    cap_w = own["capacity_workload"].to_numpy()
    owners = pd.DataFrame({
        "owner_id": owner_ids,
        "role": owner_role,
        "accounts": n_final.astype(np.int64),
        "revenue": r_final,
        "workload": w_final,
        "capacity_accounts": own["capacity_accounts"].to_numpy().astype(np.int64),
        "capacity_workload": np.where(np.isinf(cap_w), np.nan, cap_w),
        "target_revenue": target_r,
        "target_workload": target_w,
        "revenue_deviation": dev_r,
        "workload_deviation": dev_w,
        "within_tolerance": ok(dev_r, r_final) & ok(dev_w, w_final),
        "kept": per_owner(kept, cur).astype(np.int64),
        "gained": per_owner(assigned & ~kept, dest).astype(np.int64),
        "lost": per_owner(valid & ~kept, cur).astype(np.int64),
    })
    roles = [_role_summary(info, assignments, owners, valid, kept, own, keep_owners, tolerance) for info in role_info]
    summary = {
        "accounts": len(acc),
        "assigned": int(assigned.sum()),
        "unassigned": int((~assigned).sum()),
        "eligible": int(valid.sum()),
        "kept": int(kept.sum()),
        "keep_share": float(kept.sum() / valid.sum()) if valid.any() else None,
        "keep_owners": keep_owners,
        "tolerance": tolerance,
        "moved": int(moved.sum()),
        "moved_by_reason": _counts(assignments["reason"][moved]),
        "unassigned_by_reason": _counts(assignments["reason"][~assigned]),
        "balanced": all(r["balanced"] for r in roles),
        "optimal": all(r["optimal"] for r in roles),
        "problems": [p for r in roles for p in r["problems"]],
    }
    return BalanceResult(assignments=assignments, owners=owners, roles=roles, summary=summary)


def _role_summary(info: dict, assignments: pd.DataFrame, owners: pd.DataFrame, valid: np.ndarray,
                  kept: np.ndarray, own: pd.DataFrame, keep_owners: float, tolerance: float) -> dict[str, Any]:
    name, a_idx, o_idx = info["role"], info["a_idx"], info["o_idx"]
    rows = assignments.iloc[a_idx]
    team = owners.iloc[o_idx]
    moved = rows["status"].to_numpy() == "moved"
    unassigned = rows["status"].to_numpy() == "unassigned"
    eligible = int(valid[a_idx].sum())
    n_kept = int(kept[a_idx].sum())
    floor = int(np.ceil(keep_owners * eligible - 1e-9))
    worst_r, who_r = _worst(team, "revenue_deviation")
    worst_w, who_w = _worst(team, "workload_deviation")
    problems = []
    label = f"role {name!r}"
    if len(a_idx) and not len(o_idx):
        problems.append(f"{label}: no owner in the team has this role; its {len(a_idx)} accounts are unassigned")
    elif unassigned.any():
        cap_w = own["capacity_workload"].to_numpy()[o_idx].sum()
        work = f", {cap_w:g} workload" if np.isfinite(cap_w) else ""
        problems.append(
            f"{label}: {int(unassigned.sum())} accounts unassigned: its owners take at most "
            f"{int(own['capacity_accounts'].to_numpy()[o_idx].sum())} accounts{work}; the role has {len(a_idx)} "
            f"accounts, {rows['workload'].sum():g} workload"
        )
    if n_kept < floor:
        problems.append(
            f"{label}: kept {n_kept} of {eligible} accounts with their owner ({n_kept / eligible:.0%}), below "
            f"keep_owners {keep_owners:.0%}: the owners' capacities force {floor - n_kept} more moves"
        )
    for what, worst, who, value in (("revenue", worst_r, who_r, "revenue"), ("workload", worst_w, who_w, "workload")):
        if abs(worst) <= tolerance + _EPS or not len(o_idx):
            continue
        target_col = f"target_{value}"
        largest = rows[value].max() if len(rows) else 0.0
        biggest_target = team[target_col].max()
        if largest > (1 + tolerance) * biggest_target:
            cause = (f"account {rows['unit_id'].iat[int(np.argmax(rows[value].to_numpy()))]!r} alone has "
                     f"{largest / biggest_target:.0%} of the largest target")
        elif floor > 0 and n_kept <= floor:
            cause = f"the keep_owners floor ({keep_owners:.0%}) is reached, so no further account may move"
        else:
            cause = "the capacities and account sizes allow no closer split"
        problems.append(f"{label}: {what} not balanced: owner {who!r} is {worst:+.1%} from its target "
                        f"(tolerance ±{tolerance:.0%}); {cause}")
    return {
        "role": name,
        "accounts": len(a_idx),
        "owners": len(o_idx),
        "assigned": int(len(a_idx) - unassigned.sum()),
        "unassigned": int(unassigned.sum()),
        "eligible": eligible,
        "kept": n_kept,
        "keep_share": n_kept / eligible if eligible else None,
        "keep_floor": floor,
        "moved": int(moved.sum()),
        "moved_by_reason": _counts(rows["reason"][moved]),
        "unassigned_by_reason": _counts(rows["reason"][unassigned]),
        "max_revenue_deviation": worst_r,
        "max_workload_deviation": worst_w,
        "balanced": bool(team["within_tolerance"].all()),
        "optimal": bool(info["optimal"]),
        "method": info["method"],
        **info["stats"],
        "problems": problems,
    }
