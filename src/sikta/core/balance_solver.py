"""The linear model behind book balancing, for one role (used by :mod:`sikta.core.balance`).

One builder serves every stage of the decomposition: the *items* are either
classes of alike accounts (an item of multiplicity ``n`` stands for ``n``
accounts with the class's mean revenue and workload) or single accounts
(``n = 1``); each item may only go to its *candidate* owners. Accounts that
an earlier stage already placed enter as a fixed *base* per owner.

Variables: ``x[p] >= 0`` accounts of pair ``p = (item, owner)``; ``u[k]``
accounts of item ``k`` left unassigned; ``ur``, ``uw`` their revenue and
workload; ``zr``, ``zw`` the excess of the worst owner over the tolerance
band (revenue, workload; relative to the owner's target); ``e`` the accounts
short of the keep floor.

Constraints, for every owner ``j`` with capacity share ``s_j``, the role's
revenue ``R`` and workload ``W`` (what is left after fixed unassigned ones)
and tolerance ``t``:

* each item is placed: ``Σ_j x[k, j] + u[k] = n_k``;
* capacity: ``base_count_j + Σ_k x[k, j] <= capacity_accounts_j`` and the
  same with workload against ``capacity_workload_j`` (when given);
* revenue band: with the assigned revenue ``R - ur`` and the target
  ``T_j = s_j (R - ur)``: ``(1 - t) T_j - zr s_j R <= rev_j <= (1 + t) T_j + zr s_j R``
  (linear, because ``s_j`` and ``R`` are constants); the same for workload;
* keep floor: ``kept >= keep_floor - e``, where kept counts accounts of an
  eligible item placed with its current owner.

The objective is lexicographic, solved as two problems: first the weighted
sum ``1000·(unassigned accounts) + e + zr + zw`` (an account left out is
worse than any imbalance - and a larger one up to 1.5 times worse, so the
smallest are left out first; one move beyond the keep floor costs as much as a
100 % imbalance, so the floor gives way only to capacity), then, with that
sum held at its optimum, the fewest moves. Revenue and workload are scaled
so that an average owner's target is 1, which keeps the coefficients of
both problems near 1 for the solver.

Examples
--------
>>> # owner 0 holds both accounts (revenue 3 and 1); owner 1 holds none
>>> items = Items(n=np.array([1.0, 1.0]), rev=np.array([3.0, 1.0]), work=np.array([1.0, 1.0]),
...               cur=np.array([0, 0]), elig=np.array([True, True]),
...               pk=np.array([0, 0, 1, 1]), pj=np.array([0, 1, 0, 1]))
>>> team = Team(cap_acc=np.array([3.0, 3.0]), cap_work=np.array([np.inf, np.inf]), share=np.array([0.5, 0.5]))
>>> sol = solve(items, team, Base.empty(2), revenue=4.0, workload=2.0, tol=0.5, keep_floor=0, integer=True)
>>> sol.moves, sol.zr, sol.zw  # one account moves; both owners within ±50 % of 2 revenue and 1 workload
(1.0, 0.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["Base", "Items", "Solution", "Team", "solve"]

#: cost of one unassigned account in the first objective (see the module docstring)
UNASSIGNED_WEIGHT = 1000.0
#: cost of one account short of the keep floor in the first objective
KEEP_WEIGHT = 1.0
#: the 0/1 program for the fewest moves stops within this relative gap (0.1 % of the kept accounts)
MOVES_GAP = 1e-3
# A linear stage keeps this far inside each capacity (accounts; scaled workload), so that placing
# an item the solver filled to 1 - 1e-7 as whole can never overfill an owner in the stages after it.
COUNT_MARGIN = 0.01
WORK_MARGIN = 1e-4
# The second problem may lose this much of the first objective (solver round-off).
_SLACK = 1e-7


@dataclass(frozen=True)
class Items:
    """What is to be placed: multiplicities, per-account values and candidate pairs."""

    n: np.ndarray  # accounts per item
    rev: np.ndarray  # revenue per account of the item (scaled)
    work: np.ndarray  # workload per account of the item (scaled)
    cur: np.ndarray  # current owner index, -1 for none
    elig: np.ndarray  # True when staying with ``cur`` counts as kept
    pk: np.ndarray  # item of each candidate pair
    pj: np.ndarray  # owner of each candidate pair


@dataclass(frozen=True)
class Team:
    """The owners of one role."""

    cap_acc: np.ndarray
    cap_work: np.ndarray  # inf where not given
    share: np.ndarray  # capacity share: the target is share × the role's total


@dataclass(frozen=True)
class Base:
    """What earlier stages fixed, per owner (and the kept accounts among it)."""

    count: np.ndarray
    rev: np.ndarray
    work: np.ndarray
    kept: float = 0.0

    @classmethod
    def empty(cls, owners: int) -> Base:
        z = np.zeros(owners)
        return cls(z, z.copy(), z.copy(), 0.0)


@dataclass(frozen=True)
class Solution:
    """Values of the variables; ``x`` per candidate pair, ``u`` per item."""

    x: np.ndarray
    u: np.ndarray
    zr: float
    zw: float
    e: float
    moves: float
    optimal: bool


def _matrices(items: Items, team: Team, base: Base, revenue: float, workload: float, tol: float,
              keep_floor: float, margin: bool):
    """Constraint rows and bounds of the model, variables ``[x, u, ur, uw, zr, zw, e]``."""
    P, K, M = len(items.pk), len(items.n), len(team.cap_acc)
    ix_u, ix_ur, ix_uw, ix_zr, ix_zw, ix_e = P, P + K, P + K + 1, P + K + 2, P + K + 3, P + K + 4
    nv = P + K + 5
    pairs = np.arange(P)
    rev_p, work_p = items.rev[items.pk], items.work[items.pk]

    # equalities: place every item; ur and uw are the unassigned revenue and workload
    eq_rows = sparse.coo_matrix(
        (np.r_[np.ones(P), np.ones(K)], (np.r_[items.pk, np.arange(K)], np.r_[pairs, ix_u + np.arange(K)])),
        shape=(K, nv),
    ).tocsr()
    sums = sparse.coo_matrix(
        (np.r_[items.rev, -1.0, items.work, -1.0],
         (np.r_[np.zeros(K), 0, np.ones(K), 1], np.r_[ix_u + np.arange(K), ix_ur, ix_u + np.arange(K), ix_uw])),
        shape=(2, nv),
    ).tocsr()
    A_eq = sparse.vstack([eq_rows, sums]).tocsr()
    b_eq = np.r_[items.n, 0.0, 0.0]

    rows, lo_ub = [], []

    def owner_rows(values: np.ndarray, extra: list[tuple[int, np.ndarray]]) -> sparse.csr_matrix:
        m = sparse.coo_matrix((values, (items.pj, pairs)), shape=(M, nv)).tocsr()
        for col, coef in extra:
            m = m + sparse.coo_matrix((coef, (np.arange(M), np.full(M, col))), shape=(M, nv)).tocsr()
        return m

    def inside(free: np.ndarray, by: float) -> np.ndarray:
        return np.where(free >= 0, np.maximum(free - margin * by, 0.0), free)

    rows.append(owner_rows(np.ones(P), []))
    lo_ub.append(inside(team.cap_acc - base.count, COUNT_MARGIN))
    finite = np.isfinite(team.cap_work)
    if finite.any():
        rows.append(owner_rows(work_p, [])[finite])
        lo_ub.append(inside((team.cap_work - base.work)[finite], WORK_MARGIN))
    s = team.share
    for total, per_pair, col_u, col_z, fixed in (
        (revenue, rev_p, ix_ur, ix_zr, base.rev),
        (workload, work_p, ix_uw, ix_zw, base.work),
    ):
        if total <= 0:
            continue
        # upper: Σ v x + (1+t) s (u-total) - z s total <= (1+t) s total - fixed
        rows.append(owner_rows(per_pair, [(col_u, (1 + tol) * s), (col_z, -s * total)]))
        lo_ub.append((1 + tol) * s * total - fixed)
        # lower: -Σ v x - (1-t) s (u-total) - z s total <= -(1-t) s total + fixed
        rows.append(owner_rows(-per_pair, [(col_u, -(1 - tol) * s), (col_z, -s * total)]))
        lo_ub.append(-(1 - tol) * s * total + fixed)
    stay = items.elig[items.pk] & (items.pj == items.cur[items.pk])
    keep_row = sparse.coo_matrix(
        (np.r_[-np.ones(int(stay.sum())), -1.0], (np.zeros(int(stay.sum()) + 1), np.r_[pairs[stay], ix_e])),
        shape=(1, nv),
    ).tocsr()
    rows.append(keep_row)
    lo_ub.append(np.array([-(keep_floor - base.kept)]))
    A_ub = sparse.vstack(rows).tocsr()
    b_ub = np.concatenate(lo_ub)

    upper = np.r_[items.n[items.pk], items.n, np.full(5, np.inf)]
    lower = np.zeros(nv)
    # a revenue or workload total of zero has no band: its excess stays 0
    if revenue <= 0:
        upper[ix_zr] = 0.0
    if workload <= 0:
        upper[ix_zw] = 0.0

    c1 = np.zeros(nv)
    biggest = max(float(items.rev.max(initial=0.0)), 1e-12)
    # leave the smallest accounts out first when capacity is short
    c1[ix_u:ix_u + K] = UNASSIGNED_WEIGHT * (1.0 + 0.5 * items.rev / biggest)
    c1[[ix_zr, ix_zw]] = 1.0
    c1[ix_e] = KEEP_WEIGHT
    c2 = np.zeros(nv)
    c2[:P] = -stay.astype(float)
    return A_ub, b_ub, A_eq, b_eq, lower, upper, c1, c2, stay, (ix_u, ix_zr, ix_zw, ix_e)


def _run(c, A_ub, b_ub, A_eq, b_eq, lower, upper, integer_mask, time_limit, gap=1e-6):
    """One LP (dual simplex, so that the answer is a vertex) or MILP; None when the solver fails."""
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp  # loads with the first solve (0.15 s)

    if integer_mask is None:
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=np.c_[lower, upper],
                      method="highs-ds", options={"time_limit": time_limit})
        return (res.x, res.status == 0) if res.x is not None else (None, False)
    res = milp(
        c,
        integrality=integer_mask.astype(int),
        bounds=Bounds(lower, upper),
        constraints=[LinearConstraint(A_ub, -np.inf, b_ub), LinearConstraint(A_eq, b_eq, b_eq)],
        options={"time_limit": time_limit, "mip_rel_gap": gap},
    )
    return (res.x, res.status == 0) if res.x is not None else (None, False)


def solve(items: Items, team: Team, base: Base, *, revenue: float, workload: float, tol: float,
          keep_floor: float, integer: bool | np.ndarray = False, time_limit: float = 60.0) -> Solution:
    """Solve the two-step model; ``integer`` (for all items, or a flag per item) makes their ``x`` and
    ``u`` whole numbers (a mixed-integer program).

    A program that is not entirely 0/1 keeps a small margin inside every capacity (see
    ``COUNT_MARGIN``), so that whatever later stages fix from its answer fits.

    Returns
    -------
    Solution
        ``optimal`` is False when a time limit stopped the solver with a
        feasible but unproven answer. The model is always feasible (every
        item may stay unassigned), so a missing answer is a solver failure
        and raises ``RuntimeError``.
    """
    A_ub, b_ub, A_eq, b_eq, lower, upper, c1, c2, stay, (ix_u, ix_zr, ix_zw, ix_e) = _matrices(
        items, team, base, revenue, workload, tol, keep_floor, margin=not np.all(integer)
    )
    mask = None
    whole = np.broadcast_to(np.asarray(integer, dtype=bool), items.n.shape)
    if whole.any():
        mask = np.zeros(len(c1), dtype=bool)
        mask[:len(items.pk)] = whole[items.pk]
        mask[ix_u:ix_u + len(items.n)] = whole
    v1, ok1 = _run(c1, A_ub, b_ub, A_eq, b_eq, lower, upper, mask, time_limit)
    if v1 is None:
        raise RuntimeError("the balancing solver found no answer (first step)")
    best = float(c1 @ v1)
    A2 = sparse.vstack([A_ub, sparse.csr_matrix(c1)]).tocsr()
    b2 = np.r_[b_ub, best + _SLACK * max(1.0, abs(best))]
    v2, ok2 = _run(c2, A2, b2, A_eq, b_eq, lower, upper, mask, time_limit, gap=MOVES_GAP)
    v = v2 if v2 is not None else v1
    P, K = len(items.pk), len(items.n)
    x = v[:P]
    return Solution(
        x=x,
        u=v[ix_u:ix_u + K],
        zr=float(v[ix_zr]),
        zw=float(v[ix_zw]),
        e=float(v[ix_e]),
        moves=float(np.sum(items.n[items.elig]) - x[stay].sum()),
        optimal=bool(ok1 and ok2 and v2 is not None),
    )
