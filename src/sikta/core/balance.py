"""Book balancing: give every account an owner of the role it needs, with balanced books (SPEC §4.6).

Inputs (one row per account and per owner):

* ``accounts``: ``unit_id``, ``role`` (the role the account needs, e.g. from
  its engagement model), ``revenue`` (>= 0), ``workload`` (>= 0, e.g.
  :func:`sikta.core.coverage.workload_weight`), ``current_owner`` (an
  ``owner_id`` or empty);
* ``owners``: ``owner_id``, ``role``, ``capacity_accounts`` (>= 0) and
  optionally ``capacity_workload`` (empty = no workload limit).

What the answer respects, always: an account only goes to an owner of its
role; no owner gets more accounts or workload than its capacity; every
account is assigned exactly once, or reported unassigned with the reason
(its role has no owner, or the role's capacity is short).

What it aims for, in this order (each role on its own):

1. as few unassigned accounts as capacity allows (the smallest are left out);
2. keep at least ``keep_owners`` of the accounts whose current owner is in
   the team with the right role (*eligible* accounts) with that owner; only
   capacity can override this floor;
3. every owner within ``±tolerance`` of its target revenue and target
   workload; the target is the role's total × the owner's share of the
   role's account capacity (``targets="capacity"``; equal capacities give
   the mean) or 1 / owners (``targets="equal"``); when this cannot be met,
   the largest deviation is made as small as possible;
4. then the fewest moves.

**Method** (``method="decomposed"``): a 0/1 model of 33,000 accounts × 33
owners has a million variables, too many for a minute on two cores, so each
role is solved in stages, every one a program of
:mod:`sikta.core.balance_solver` solved by HiGHS (scipy):

a. accounts are grouped into *classes* of the same current owner, revenue
   band and workload band (rank quantiles; about 40,000 class × owner pairs
   per role); accounts larger than half the tolerance of an average book are
   classes of their own. A linear program distributes each class's account
   count over the owners. Sending ``x`` of a class's ``n`` accounts somewhere
   carries ``x/n`` of its revenue, which is what ``x/n`` of *each* of its
   accounts would carry, so the answer is attainable by fractions of
   accounts with the exact totals;
b. a large account the program splits may then only go to the owner holding
   its largest part, and the program is solved again, so that the classes
   make up the difference;
c. a class sent to one place is placed whole. The accounts of the classes
   split between places (a vertex splits at most as many classes as the
   program has owner constraints) may go to those places (or stay with
   their current owner): while they are more than 3,000 they are grouped
   again into about 1,500 finer classes (neighbours by revenue within their
   class) and solved the same way; then one variable per account and
   destination, with everything placed so far as fixed totals;
d. the few accounts that vertex leaves fractional go into a 0/1 program over
   every owner of the role.

Stages a-c aim at 90 % of the tolerance, so that rounding in d has room;
when d still misses the band they are repeated at 60 % and 30 % (while
half of ``time_limit`` allows) and the best answer by the aims is kept.
``method="exact"`` (the default when accounts × owners of the role is at
most 5,000) runs d alone on every account.

**Guarantee.** The hard rules (roles, capacities, each account once) hold
in every answer, and the reported totals are exact: each stage fixes real
accounts with their real revenue and workload. Balance is an aim, not a
promise: splitting numbers into equal sums is NP-hard, so the answer can
miss a band that a perfect split would meet (most likely with few, very
unequal accounts per owner). It never hides it: :attr:`BalanceResult.roles`
reports the largest deviation per role and a sentence naming the owner, the
deviation and the likely cause (a single account larger than the band, the
keep floor, or the capacities).

Examples
--------
>>> accounts = pd.DataFrame({"unit_id": ["a", "b", "c", "d"], "role": "csm",
...                          "revenue": [40.0, 30.0, 20.0, 10.0], "workload": 1.0,
...                          "current_owner": ["ann", "ann", "ann", None]})
>>> owners = pd.DataFrame({"owner_id": ["ann", "bob"], "role": "csm", "capacity_accounts": [3, 3]})
>>> r = balance_books(accounts, owners, keep_owners=0.5, tolerance=0.15)
>>> r.assignments[["unit_id", "owner_id", "status", "reason"]].values.tolist()
[['a', 'bob', 'moved', 'balance revenue'], ['b', 'ann', 'kept', None], ['c', 'ann', 'kept', None], ['d', 'bob', 'moved', 'no current owner']]
>>> r.owners[["owner_id", "accounts", "revenue", "workload"]].values.tolist()
[['ann', 2, 50.0, 2.0], ['bob', 2, 50.0, 2.0]]
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from sikta.core import balance_solver as bs
from sikta.core.balance_report import REASONS, BalanceResult, build
from sikta.core.frames import bad_row, number_column, require_columns, text_column, unique_ids
from sikta.errors import UsageError

__all__ = [
    "BalanceResult",
    "balance_books",
    "REASONS",
    "ACCOUNT_COLUMNS",
    "OWNER_COLUMNS",
]

ACCOUNT_COLUMNS = ("unit_id", "role", "revenue", "workload", "current_owner")
OWNER_COLUMNS = ("owner_id", "role", "capacity_accounts")  # + optional capacity_workload

#: roles with at most this many account × owner pairs are solved as one exact MILP
EXACT_PAIRS = 5_000
#: the linear stages aim at these shares of the tolerance in turn, leaving the 0/1 stage room to round
LP_TOLERANCES = (0.9, 0.6, 0.3)
#: the class program of a role gets about this many class × owner pairs
CLASS_PAIRS = 40_000
#: split classes' accounts go to the account program once at most this many; before, to finer classes
ACCOUNT_LP = 3_000
#: a refinement level makes about this many finer classes
SUBCLASSES = 1_500
_FRACTION = 1e-6
# the solver figures of a role, before any solve
_NO_SOLVE = {"classes": 0, "large_accounts": 0, "rounded_large": 0, "split_accounts": 0, "subclass_levels": 0,
             "account_lp": 0, "fractional_accounts": 0, "lp_tolerance_factor": None}


def _read(accounts: pd.DataFrame, owners: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    require_columns(accounts, "accounts", ACCOUNT_COLUMNS)
    require_columns(owners, "team", OWNER_COLUMNS)
    unique_ids(accounts, "accounts", "unit_id")
    unique_ids(owners, "team", "owner_id")
    acc = pd.DataFrame({
        "unit_id": accounts["unit_id"].to_numpy(),
        "role": text_column(accounts, "role"),
        "revenue": number_column(accounts, "accounts", "revenue", minimum=0),
        "workload": number_column(accounts, "accounts", "workload", minimum=0),
        "current_owner": text_column(accounts, "current_owner"),
    })
    missing_role = acc["role"].isna().to_numpy()
    if missing_role.any():
        pos = int(np.flatnonzero(missing_role)[0])
        raise bad_row(accounts, "accounts", pos, "role", "the role is missing")
    has_work = "capacity_workload" in owners.columns
    own = pd.DataFrame({
        "owner_id": text_column(owners, "owner_id"),
        "role": text_column(owners, "role"),
        "capacity_accounts": number_column(owners, "team", "capacity_accounts", key="owner_id", minimum=0),
        "capacity_workload": (
            number_column(owners, "team", "capacity_workload", key="owner_id", minimum=0, missing=np.inf)
            if has_work else np.full(len(owners), np.inf)
        ),
    })
    if own["role"].isna().any():
        pos = int(np.flatnonzero(own["role"].isna())[0])
        raise bad_row(owners, "team", pos, "role", "the role is missing", key="owner_id")
    frac = own["capacity_accounts"] % 1 != 0
    if frac.any():
        pos = int(np.flatnonzero(frac)[0])
        raise bad_row(owners, "team", pos, "capacity_accounts",
                      f"{own['capacity_accounts'].iat[pos]:g} is not a whole number", key="owner_id")
    return acc, own


def _bands(values: np.ndarray, k: int) -> np.ndarray:
    """Rank-quantile band 0..k-1 of each value (ties share a band)."""
    if k <= 1 or len(values) == 0:
        return np.zeros(len(values), dtype=np.int64)
    ranks = pd.Series(values).rank(method="min").to_numpy() - 1
    return np.minimum((ranks * k / len(values)).astype(np.int64), k - 1)


def _classes(rev: np.ndarray, work: np.ndarray, cur: np.ndarray, owners: int,
             tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Class id per account (alone when large, else by current owner, revenue band, workload band),
    and which classes are single large accounts."""
    n = len(rev)
    budget = max(200, CLASS_PAIRS // max(owners, 1))
    size = np.maximum(rev, work)  # scaled: 1 = an average owner's target
    large = np.flatnonzero(size > tol / 2)
    large = large[np.argsort(-size[large], kind="stable")][: budget // 3]
    bands = max(1, (budget - len(large)) // (owners + 1))
    br = max(1, int(round(math.sqrt(2 * bands))))
    bw = max(1, bands // br)
    key = (cur + 1) * (br * bw) + _bands(rev, br) * bw + _bands(work, bw)
    key[large] = (owners + 1) * br * bw + np.arange(len(large))
    keys, cls = np.unique(key, return_inverse=True)
    return cls.reshape(n), keys >= (owners + 1) * br * bw


def _all_pairs(items: int, owners: int) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(np.arange(items), owners), np.tile(np.arange(owners), items)


@dataclass
class _Role:
    """One role's accounts (revenue and workload scaled: an average target is 1) and owners."""

    rev: np.ndarray
    work: np.ndarray
    cur: np.ndarray  # current owner's index in the team, -1 when not eligible
    team: bs.Team
    tol: float
    keep_floor: float
    time_limit: float

    @property
    def owners(self) -> int:
        return len(self.team.cap_acc)

    def items(self, idx: np.ndarray, pk: np.ndarray, pj: np.ndarray) -> bs.Items:
        """Single accounts ``idx`` as items with candidate pairs ``(pk, pj)``."""
        return bs.Items(n=np.ones(len(idx)), rev=self.rev[idx], work=self.work[idx], cur=self.cur[idx],
                        elig=self.cur[idx] >= 0, pk=pk, pj=pj)

    def solve(self, items: bs.Items, dest: np.ndarray, tol: float, integer: bool = False,
              time_limit: float | None = None) -> bs.Solution:
        """The model with the accounts already placed in ``dest`` (not -2) as fixed totals."""
        M = self.owners
        done = dest != -2
        on = done & (dest >= 0)
        d = dest[on]
        base = bs.Base(
            count=np.bincount(d, minlength=M).astype(float),
            rev=np.bincount(d, weights=self.rev[on], minlength=M),
            work=np.bincount(d, weights=self.work[on], minlength=M),
            kept=float(np.sum(on & (self.cur >= 0) & (dest == self.cur))),
        )
        out = done & (dest == -1)
        return bs.solve(items, self.team, base, revenue=float(self.rev.sum() - self.rev[out].sum()),
                        workload=float(self.work.sum() - self.work[out].sum()), tol=tol,
                        keep_floor=self.keep_floor, integer=integer,
                        time_limit=self.time_limit if time_limit is None else time_limit)

    def score(self, dest: np.ndarray) -> tuple[float, float, float, float]:
        """The aims in order: unassigned, accounts short of the keep floor, excess deviation, moves."""
        M, on = self.owners, dest >= 0
        kept = float(np.sum(on & (self.cur >= 0) & (dest == self.cur)))
        excess = 0.0
        for v in (self.rev, self.work):
            total = v[on].sum()
            if total <= 0:
                continue
            got = np.bincount(dest[on], weights=v[on], minlength=M)
            target = self.team.share * total
            with np.errstate(divide="ignore", invalid="ignore"):
                dev = np.where(target > 0, np.abs(got / target - 1), np.where(got > 0, np.inf, 0.0))
            excess += float(np.max(np.maximum(dev - self.tol, 0.0), initial=0.0))
        return (float(np.sum(~on)), max(0.0, self.keep_floor - kept), round(excess, 9),
                float(np.sum(self.cur >= 0)) - kept)


def _group_items(role: _Role, idx: np.ndarray, group: np.ndarray,
                 allowed: np.ndarray | None = None) -> bs.Items:
    """Accounts ``idx`` as items, one per ``group`` value (0..G-1, members share a current owner),
    each with the owners ``allowed`` for it (G × owners; None: every owner)."""
    G, M = int(group.max()) + 1, role.owners
    cnt = np.bincount(group, minlength=G).astype(float)
    head = np.zeros(G, dtype=np.int64)
    head[group[::-1]] = idx[::-1]
    pk, pj = _all_pairs(G, M) if allowed is None else np.nonzero(allowed)
    return bs.Items(n=cnt, rev=np.bincount(group, role.rev[idx], G) / cnt,
                    work=np.bincount(group, role.work[idx], G) / cnt, cur=role.cur[head], elig=role.cur[head] >= 0,
                    pk=pk, pj=pj)


def _spread(sol: bs.Solution, items: bs.Items, owners: int) -> tuple[np.ndarray, np.ndarray]:
    """The answer as an items × owners matrix and the unassigned part per item."""
    x = np.zeros((len(items.n), owners))
    x[items.pk, items.pj] = sol.x
    return x, sol.u


def _place_whole(dest: np.ndarray, idx: np.ndarray, group: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Place the groups the answer sends to one place only; True for the accounts of ``idx`` placed."""
    used, left = x > _FRACTION, u > _FRACTION
    done = ((used.sum(axis=1) + left) == 1)[group]
    dest[idx[done]] = np.where(left, -1, used.argmax(axis=1))[group][done]
    return done


def _with_current(role: _Role, idx: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``allowed`` (one row per account of ``idx``) plus each eligible account's current owner."""
    out = allowed.copy()
    mine = role.cur[idx] >= 0
    out[np.flatnonzero(mine), role.cur[idx[mine]]] = True
    return out


def _refine(role: _Role, dest: np.ndarray, idx: np.ndarray, allowed: np.ndarray, parent: np.ndarray,
            lp_tol: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """While more than :data:`ACCOUNT_LP` accounts are open, solve them as finer classes (neighbours
    by revenue within their ``parent`` class) and place the finer classes sent to one place.

    Returns the accounts still open, their allowed owners, the levels run and whether all were optimal.
    """
    levels, optimal = 0, True
    while len(idx) > ACCOUNT_LP:
        levels += 1
        size = -(-len(idx) // SUBCLASSES)
        order = np.lexsort((role.rev[idx], parent))
        starts = np.r_[0, np.flatnonzero(np.diff(parent[order])) + 1]
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        sub = np.empty(len(idx), dtype=np.int64)
        sub[order] = np.unique(parent[order] * (len(idx) + 1) + rank // size, return_inverse=True)[1]
        G = int(sub.max()) + 1
        first = np.zeros(G, dtype=np.int64)
        first[sub[::-1]] = np.arange(len(idx))[::-1]
        items = _group_items(role, idx, sub, _with_current(role, idx[first], allowed[first]))
        sol = role.solve(items, dest, lp_tol)
        optimal &= sol.optimal
        x, u = _spread(sol, items, role.owners)
        done = _place_whole(dest, idx, sub, x, u)
        if done.sum() < 0.1 * len(idx):
            break  # finer classes no longer pay: the accounts go to the account program as they are
        idx, allowed, parent = idx[~done], (x > _FRACTION)[sub[~done]], sub[~done]
    return idx, allowed, levels, optimal


def _rounding(role: _Role, dest: np.ndarray, time_limit: float) -> bool:
    """Stage d: the open accounts (dest -2) as a 0/1 program over every owner; fills ``dest``."""
    idx = np.flatnonzero(dest == -2)
    if not len(idx):
        return True
    pk, pj = _all_pairs(len(idx), role.owners)
    sol = role.solve(role.items(idx, pk, pj), dest, role.tol, integer=True, time_limit=time_limit)
    share = np.zeros((len(idx), role.owners))
    share[pk, pj] = sol.x
    dest[idx] = np.where(share.max(axis=1) > 0.5, share.argmax(axis=1), -1)
    return sol.optimal


def _decomposed(role: _Role, lp_tol: float) -> tuple[np.ndarray, bool, dict[str, Any]]:
    """Stages a-d of the module docstring at one tolerance for the linear stages."""
    n, M = len(role.rev), role.owners
    dest = np.full(n, -2, dtype=np.int64)  # -2 open, -1 unassigned, else owner
    every = np.arange(n)
    # a: classes
    cls, single = _classes(role.rev, role.work, role.cur, M, role.tol)
    items = _group_items(role, every, cls)
    sol = role.solve(items, dest, lp_tol)
    optimal = sol.optimal
    x, u = _spread(sol, items, M)
    # b: a large account left fractional cannot be rounded later without upsetting its owner's band:
    # it may now only go to the owner holding its largest part (its current owner on a tie), and the
    # program is solved again, so that the classes make up the difference. (What capacity forbids
    # stays fractional; the 0/1 stage places it.)
    fractional = single & (np.maximum(x.max(axis=1), u) < 1 - _FRACTION)
    stats: dict[str, Any] = {"classes": len(items.n), "large_accounts": int(single.sum()),
                             "rounded_large": int(fractional.sum())}
    if fractional.any():
        part = x + 1e-9 * (np.arange(M)[None, :] == items.cur[:, None])
        allowed = np.ones_like(x, dtype=bool)
        allowed[single] = np.arange(M)[None, :] == part[single].argmax(axis=1)[:, None]
        items = _group_items(role, every, cls, allowed)
        sol = role.solve(items, dest, lp_tol)
        optimal &= sol.optimal
        x, u = _spread(sol, items, M)
    # c: whole classes placed; the accounts of split classes refined, then one variable per account
    done = _place_whole(dest, every, cls, x, u)
    idx = every[~done]
    stats["split_accounts"] = len(idx)
    idx, allowed, levels, ok = _refine(role, dest, idx, (x > _FRACTION)[cls[idx]], cls[idx], lp_tol)
    optimal &= ok
    stats.update(subclass_levels=levels, account_lp=len(idx))
    if len(idx):
        pk, pj = np.nonzero(_with_current(role, idx, allowed))
        sol = role.solve(role.items(idx, pk, pj), dest, lp_tol)
        optimal &= sol.optimal
        share = np.zeros((len(idx), M))
        share[pk, pj] = sol.x
        one = share.max(axis=1) > 1 - _FRACTION
        out = (sol.u > 1 - _FRACTION) & ~one
        dest[idx[one]] = share.argmax(axis=1)[one]
        dest[idx[out]] = -1
    # d: the fractional remainder, exactly
    stats["fractional_accounts"] = int(np.sum(dest == -2))
    optimal &= _rounding(role, dest, role.time_limit / 4)
    return dest, optimal, stats


def _place_role(role: _Role, method: str) -> tuple[np.ndarray, bool, dict[str, int]]:
    """Owner index per account (-1 unassigned), whether every solve was optimal, and solver sizes.

    The decomposition runs its linear stages at 90 % of the tolerance first;
    when rounding then misses the band, again at 60 % and 30 % (tighter
    linear bands leave the rounding more room), while time allows, and keeps
    the best answer by the aims in order.
    """
    if method == "exact":
        dest = np.full(len(role.rev), -2, dtype=np.int64)
        optimal = _rounding(role, dest, role.time_limit)
        return dest, optimal, {**_NO_SOLVE, "fractional_accounts": len(dest)}
    start = time.monotonic()
    best = None
    for factor in LP_TOLERANCES:
        dest, optimal, stats = _decomposed(role, role.tol * factor)
        score = role.score(dest)
        if best is None or score < best[0]:
            best = (score, dest, optimal, {**stats, "lp_tolerance_factor": factor})
        if score[2] == 0 or time.monotonic() - start > role.time_limit / 2:
            break
    return best[1], best[2], best[3]


def balance_books(
    accounts: pd.DataFrame,
    owners: pd.DataFrame,
    *,
    keep_owners: float = 0.8,
    tolerance: float = 0.1,
    targets: Literal["capacity", "equal"] = "capacity",
    method: Literal["auto", "exact", "decomposed"] = "auto",
    time_limit: float = 30.0,
) -> BalanceResult:
    """Assign accounts to owners of their role with balanced revenue and workload.

    Parameters
    ----------
    accounts
        ``unit_id``, ``role``, ``revenue``, ``workload``, ``current_owner``
        (see the module docstring).
    owners
        ``owner_id``, ``role``, ``capacity_accounts`` and optionally
        ``capacity_workload``.
    keep_owners
        Share (0-1) of the eligible accounts that should stay with their
        current owner; only capacity can push below it.
    tolerance
        Allowed relative deviation of each owner's revenue and workload from
        its target (0.1 = ±10 %).
    targets
        ``"capacity"``: targets proportional to ``capacity_accounts``;
        ``"equal"``: the same target for every owner of a role.
    method
        ``"exact"``: one 0/1 program per role; ``"decomposed"``: classes, then
        accounts, then 0/1 (see the module docstring); ``"auto"``: exact when
        accounts × owners of the role is at most :data:`EXACT_PAIRS`.
    time_limit
        Seconds per solver call; an answer found by then is used (the role
        reports ``optimal: False``).

    Returns
    -------
    BalanceResult

    Examples
    --------
    >>> acc = pd.DataFrame({"unit_id": ["a", "b"], "role": ["sam", "csm"], "revenue": [5.0, 1.0],
    ...                     "workload": [1.0, 1.0], "current_owner": ["x", "x"]})
    >>> team = pd.DataFrame({"owner_id": ["x", "y"], "role": ["sam", "csm"], "capacity_accounts": [5, 5]})
    >>> balance_books(acc, team).assignments[["owner_id", "reason"]].values.tolist()
    [['x', None], ['y', 'current owner has another role']]
    """
    if not 0 <= keep_owners <= 1:
        raise UsageError(f"keep_owners must be between 0 and 1, got {keep_owners}")
    if not 0 < tolerance < 1:
        raise UsageError(f"tolerance must be between 0 and 1 (exclusive), got {tolerance}")
    if targets not in ("capacity", "equal"):
        raise UsageError(f"targets must be 'capacity' or 'equal', got {targets!r}")
    if method not in ("auto", "exact", "decomposed"):
        raise UsageError(f"method must be 'auto', 'exact' or 'decomposed', got {method!r}")
    acc, own = _read(accounts, owners)
    owner_pos = {o: i for i, o in enumerate(own["owner_id"])}
    dest_owner = np.full(len(acc), -1, dtype=np.int64)  # global owner position, -1 unassigned
    role_info = []
    for role in sorted(set(acc["role"]) | set(own["role"])):
        a_idx = np.flatnonzero((acc["role"] == role).to_numpy())
        o_idx = np.flatnonzero((own["role"] == role).to_numpy())
        info = {"role": role, "a_idx": a_idx, "o_idx": o_idx, "optimal": True, "stats": dict(_NO_SOLVE),
                "method": None}
        role_info.append(info)
        if len(a_idx) == 0 or len(o_idx) == 0:
            continue
        M = len(o_idx)
        local = {owner_pos_id: j for j, owner_pos_id in enumerate(o_idx)}
        cur_global = np.array([owner_pos.get(o, -1) if o is not None else -1
                               for o in acc["current_owner"].to_numpy()[a_idx]], dtype=np.int64)
        cur = np.array([local.get(g, -1) for g in cur_global], dtype=np.int64)
        cap_acc = own["capacity_accounts"].to_numpy()[o_idx].astype(float)
        share = cap_acc / cap_acc.sum() if targets == "capacity" and cap_acc.sum() > 0 else np.full(M, 1.0 / M)
        rev = acc["revenue"].to_numpy()[a_idx]
        work = acc["workload"].to_numpy()[a_idx]
        # scale so that an average owner's target is 1: the solver's coefficients stay near 1
        rs = rev.sum() / M if rev.sum() > 0 else 1.0
        ws = work.sum() / M if work.sum() > 0 else 1.0
        team = bs.Team(cap_acc=cap_acc, share=share, cap_work=own["capacity_workload"].to_numpy()[o_idx] / ws)
        use = method if method != "auto" else ("exact" if len(a_idx) * M <= EXACT_PAIRS else "decomposed")
        keep_floor = math.ceil(keep_owners * int((cur >= 0).sum()) - 1e-9)
        role = _Role(rev / rs, work / ws, cur, team, tolerance, keep_floor, time_limit)
        dest, optimal, stats = _place_role(role, use)
        dest_owner[a_idx] = np.where(dest >= 0, o_idx[np.maximum(dest, 0)], -1)
        info.update(optimal=optimal, stats=stats, method=use, share=share)
    return build(acc, own, dest_owner, role_info, keep_owners=keep_owners, tolerance=tolerance)
