"""Revenue tables: order lines (non-contractual) and subscriptions (contractual).

Order volume is drawn on an account x month grid: each cell's intensity is
the account's rate times seasonality, trend, churn decline and activity, and
a Poisson draw gives the number of orders. Total lines are calibrated per
chunk to ``lines_per_account`` x accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sikta.synth import catalog as cat
from sikta.synth._util import (
    const_strings,
    date_array,
    float_array,
    group_starts,
    id_strings,
    int_array,
    rank_in_group,
    take_strings,
    uniform_int,
)
from sikta.synth.accounts import FORMER, GROUP, Accounts
from sikta.synth.latent import SEASON, Latent, Window

#: product position within a line ~ Beta(a, b) by behavior: price-driven buy cheap, quality-driven premium
BETA_A = np.array([1.0, 3.5, 1.8, 1.6])
BETA_B = np.array([3.5, 1.2, 1.8, 2.2])
#: credit-note probability per order line, by behavior
CREDIT_RATE = np.array([0.065, 0.01, 0.025, 0.012])
#: relative order frequency by behavior
ORDER_RATE = np.array([1.1, 0.8, 0.9, 1.15])
CREDIT_SHARE = 0.03  # expected credit lines / order lines, for the calibration
OPEN = 10**9  # end day of a subscription still running


@dataclass
class SubRows:
    """What usage needs to know about subscription rows."""

    acct: np.ndarray
    line: np.ndarray
    start: np.ndarray  # relative day
    end: np.ndarray  # relative day, open rows end at the window end
    seats: np.ndarray



#: how strongly order frequency and basket size grow with employees (per factor)
SIZE_ELASTICITY = 0.1
#: how strongly subscription seats grow with employees
SEAT_ELASTICITY = 0.35
#: planted best customers order this much more often and roll out this much wider
BEST_UPLIFT = 4.0

def _bits(n: int) -> int:
    return max(1, int(n).bit_length())


def _product(rng: np.random.Generator, line: np.ndarray, behavior: np.ndarray, best: np.ndarray, prod) -> np.ndarray:
    beh = np.maximum(behavior, 0)
    pos = rng.beta(BETA_A[beh] + 0.8 * best, BETA_B[beh])
    count = prod["count"][line]
    return prod["start"][line] + np.minimum((pos * count).astype(np.int64), count - 1)


def make_orders(
    rng: np.random.Generator,
    acc: Accounts,
    lat: Latent,
    win: Window,
    prod: dict,
    product_ids: pa.Array,
    lines_per_account: float,
    first_number: int,
) -> tuple[pa.Table, int]:
    """Order lines of one chunk and the number of order ids used."""
    D, M = win.days, win.months
    ob = np.flatnonzero(lat.adopt[:, cat.ORDER_LINES].any(axis=1))
    nb = len(ob)
    a_start = np.maximum(lat.a_start[ob], 0)
    a_end = lat.a_end[ob]

    lo = np.maximum(win.m_first[None, :], a_start[:, None])
    hi = np.minimum(win.m_last[None, :], a_end[:, None])
    in_gap = (win.m_first[None, :] >= lat.gap_first[ob, None]) & (win.m_first[None, :] < lat.gap_end[ob, None])
    valid = (lo <= hi) & ~in_gap
    frac = (hi - lo + 1) / (win.m_last - win.m_first + 1)[None, :]
    mid = (lo + hi) / 2.0
    w = frac * SEASON[win.m_cal - 1][None, :]
    w = w * np.exp(lat.growth[ob, None] * (mid - a_start[:, None]) / 365.0)
    cs = lat.churn_start[ob, None]
    w = w * np.where(mid > cs, np.maximum(0.08, 1 - 0.92 * (mid - cs) / np.maximum(D - cs, 1)), 1.0)
    to_end = a_end[:, None] - mid
    wind = (acc.status[ob] == FORMER)[:, None] & (to_end < 150)
    w = np.where(wind, w * (0.3 + 0.7 * np.clip(to_end, 0, 150) / 150), w)
    w = np.where(valid, np.maximum(w, 0), 0.0)

    emp = acc.employees[ob]
    beh = np.maximum(lat.behavior[ob], 0)
    # larger accounts order more often and buy bigger baskets, but fit beats size:
    # the planted best customers must lead on revenue (SPEC: "what the best customers
    # have in common" has to be findable from revenue), so size elasticities stay
    # modest and the best-customer uplift is strong. A floor keeps small accounts
    # regular enough that a planted gap stands out from chance silence.
    rate = (emp / 50.0) ** SIZE_ELASTICITY * np.where(lat.best[ob], BEST_UPLIFT, 1.0) * ORDER_RATE[beh]
    rate *= np.exp(rng.normal(0, 0.35, nb)) * np.where(acc.kind[ob] == GROUP, 0.6, 1.0)
    if nb:
        rate = np.maximum(rate, 0.9 * np.median(rate))
    mu = 1.0 + 1.1 * (emp / 50.0) ** (SIZE_ELASTICITY / 2) * rng.uniform(0.7, 1.3, nb)

    # anchor orders make statuses hold: customers bought recently, formers before they left
    counts = np.zeros((nb, M), dtype=np.int64)
    first_m = win.month_of(a_start)
    is_cust = a_end == D - 1
    am = np.where(is_cust, uniform_int(rng, np.maximum(first_m, M - 4), np.full(nb, M - 1)), win.month_of(a_end))
    has = is_cust | (a_end >= 0)
    np.add.at(counts, (np.flatnonzero(has), am[has]), 1)
    re = np.flatnonzero(lat.reactivated[ob])
    np.add.at(counts, (re, win.month_of(lat.gap_first[ob][re] - 1)), 1)
    anchor_lines = float((counts.sum(axis=1) * mu).sum())
    target = lines_per_account * acc.n / (1 + CREDIT_SHARE)
    denom = float((rate * mu * w.sum(axis=1)).sum())
    c = max(0.0, target - anchor_lines) / denom if denom > 0 else 0.0
    counts += rng.poisson(c * rate[:, None] * w)
    counts[~valid] = 0

    cells = np.flatnonzero(counts)
    k = counts.ravel()[cells]
    row = np.repeat(cells // M, k)
    col = np.repeat(cells % M, k)
    lo_o, hi_o = lo[row, col], hi[row, col]
    day = lo_o + np.floor(rng.random(len(row)) * (hi_o - lo_o + 1)).astype(np.int64)
    order = np.lexsort((day, row))
    row, day = row[order], day[order]
    n_orders = len(row)
    number = first_number + np.arange(n_orders)

    per = 1 + rng.poisson(np.maximum(mu[row] - 1, 0))
    lo_idx = np.repeat(np.arange(n_orders), per)
    lrow, lday = row[lo_idx], day[lo_idx]
    n_lines = len(lrow)

    weights = cat.AFFINITY[acc.industry[ob]][:, cat.ORDER_LINES] * lat.adopt[ob][:, cat.ORDER_LINES]
    cum = np.cumsum(weights, axis=1)
    cum /= np.maximum(cum[:, -1:], 1e-12)
    u = rng.random(n_lines)
    li = np.zeros(n_lines, dtype=np.int64)
    for j in range(len(cat.ORDER_LINES) - 1):  # a loop over product lines
        li += u >= cum[lrow, j]
    gline = cat.ORDER_LINES[li]
    beh_l = lat.behavior[ob][lrow]
    product = _product(rng, gline, beh_l, lat.best[ob][lrow], prod)
    med_qty = np.array([line.median_qty for line in cat.LINES])[gline]
    qty = np.maximum(1.0, np.round(med_qty * (emp[lrow] / 50.0) ** SIZE_ELASTICITY * np.exp(rng.normal(0, 0.6, n_lines))))
    disc = np.clip(lat.discount[ob][lrow] + rng.normal(0, 0.02, n_lines), 0, 0.6)
    price = prod["price"][product]
    unit = np.round(price * (1 - disc), 2)
    amount = np.round(qty * unit, 2)
    cost = np.round(qty * price * prod["cost_ratio"][product], 2)

    # credit notes: part of an earlier line comes back a few weeks later
    cn = np.flatnonzero(rng.random(n_lines) < CREDIT_RATE[np.maximum(beh_l, 0)])
    gap_first = lat.gap_first[ob][lrow[cn]]
    seg_end = np.where(lday[cn] < gap_first, np.minimum(gap_first - 1, a_end[lrow[cn]]), a_end[lrow[cn]])
    cn_day = np.minimum(lday[cn] + rng.integers(3, 46, len(cn)), np.minimum(seg_end, D - 1))
    cn_qty = -np.minimum(qty[cn], np.maximum(1.0, np.ceil(qty[cn] * rng.uniform(0.2, 1.0, len(cn)))))
    def both(a, b):
        return np.concatenate([a, b])

    is_cn = both(np.zeros(n_lines, dtype=bool), np.ones(len(cn), dtype=bool))
    all_row = both(lrow, lrow[cn])
    all_order = both(lo_idx, lo_idx[cn])
    all_prod = both(product, product[cn])
    all_line = both(gline, gline[cn])
    all_qty = both(qty, cn_qty)
    all_unit = both(unit, unit[cn])
    all_amount = both(amount, np.round(cn_qty * unit[cn], 2))
    all_cost = both(cost, np.round(cn_qty * price[cn] * prod["cost_ratio"][product[cn]], 2))
    all_day = both(lday, cn_day)
    # one int64 sort key (account, day, order, credit) instead of a 4-key lexsort
    b_day, b_ord = _bits(D), _bits(n_orders)
    assert _bits(nb) + b_day + b_ord + 1 < 63
    key = ((all_row << b_day | all_day) << b_ord | all_order) << 1 | is_cn
    o = np.argsort(key, kind="stable")

    # ids per order (and per credited order), then one take per line
    order_ids = id_strings("O", number, 9)
    cn_ids = pc.binary_join_element_wise(order_ids.take(pa.array(lo_idx[cn])), "CN", "-")
    id_pool = pa.concat_arrays([order_ids, cn_ids])
    id_idx = both(lo_idx, n_orders + np.arange(len(cn)))
    table = pa.table(
        {
            "order_id": id_pool.take(pa.array(id_idx[o])),
            "account_id": acc.ids.take(pa.array(ob[all_row[o]])),
            "order_date": date_array(win.start + all_day[o]),
            "product_id": product_ids.take(pa.array(all_prod[o])),
            "product_line": take_strings(cat.LINE_NAMES, all_line[o]),
            "quantity": float_array(all_qty[o]),
            "unit_price": float_array(all_unit[o]),
            "amount": float_array(all_amount[o]),
            "cost": float_array(all_cost[o]),
            "currency": const_strings("EUR", len(o)),
        }
    )
    return table, n_orders


def make_subscriptions(
    rng: np.random.Generator, acc: Accounts, lat: Latent, win: Window, prod: dict, first_number: int
) -> tuple[pa.Table, SubRows]:
    """Subscription rows: a new row on every expansion or contraction, end_date on churn."""
    D = win.days
    adopt = lat.adopt[:, cat.SUB_LINES]
    aff = np.where(adopt, cat.AFFINITY[acc.industry][:, cat.SUB_LINES], -1.0)
    primary = np.argmax(aff, axis=1)
    keep = adopt & ~(lat.reactivated[:, None] & (np.arange(adopt.shape[1])[None, :] != primary[:, None]))
    pi, pl = np.nonzero(keep)
    is_primary = pl == primary[pi]
    a_start, a_end = lat.a_start[pi], lat.a_end[pi]
    closed_acc = acc.status[pi] == FORMER

    latest = np.where(lat.churner[pi], lat.churn_start[pi], a_end) - 60
    s = a_start + np.floor(rng.uniform(0, 0.7, len(pi)) * np.maximum(latest - a_start, 0)).astype(np.int64)
    s = np.where(is_primary, a_start, s)
    e = np.where(closed_acc, a_end, OPEN)
    # customers drop a secondary line now and then (contraction without logo churn)
    drop = ~is_primary & ~closed_acc & ~lat.onboarding[pi] & (rng.random(len(pi)) < 0.12) & (D - 30 - s >= 90)
    e = np.where(drop, uniform_int(rng, s + 90, np.maximum(s + 90, D - 30)), e)
    re = lat.reactivated[pi]
    e = np.where(re, lat.gap_first[pi] - 1, e)
    # reactivated accounts come back with their primary line after the gap
    rb = np.flatnonzero(re)
    pi = np.r_[pi, pi[rb]]
    pl = np.r_[pl, pl[rb]]
    s = np.r_[s, lat.gap_end[pi[rb]]]
    e = np.r_[e, np.full(len(rb), OPEN)]
    P = len(pi)
    # half of the planted churners have given notice: contracts end soon after the window
    notice = lat.churner[pi] & (e == OPEN) & (rng.random(acc.n) < 0.5)[pi]
    e = np.where(notice, D - 1 + rng.integers(20, 121, P), e)
    e_eff = np.minimum(e, D - 1)

    # regular changes, then a forced contraction for planted churners
    trend = lat.trend[pi]
    hi = np.where(lat.churner[pi], np.minimum(e_eff, lat.churn_start[pi]), e_eff) - 30
    k = np.where(hi - (s + 60) >= 90, np.minimum(3, rng.poisson(0.45 * (e_eff - s) / 365.0)), 0)
    cp = np.repeat(np.arange(P), k)
    cday = uniform_int(rng, s[cp] + 60, hi[cp])
    mu = np.array([0.25, 0.0, -0.22, 0.0])[trend[cp]] + 0.05 * lat.best[pi[cp]]
    clog = rng.normal(mu, 0.22)
    forced = np.flatnonzero(lat.churner[pi] & (e_eff == D - 1) & (s < lat.churn_start[pi]))
    cp = np.r_[cp, forced]
    cday = np.r_[cday, uniform_int(rng, lat.churn_start[pi[forced]], np.full(len(forced), D - 20))]
    clog = np.r_[clog, np.log(rng.uniform(0.35, 0.7, len(forced)))]
    o = np.lexsort((cday, cp))
    cp, cday, clog = cp[o], cday[o], clog[o]
    kk = np.bincount(cp, minlength=P)

    rows = kk + 1
    rp = np.repeat(np.arange(P), rows)
    rank = rank_in_group(rows)
    has_change = rank > 0
    ci = np.where(has_change, group_starts(kk)[rp] + rank - 1, len(cday))
    start = np.where(has_change, np.r_[cday, 0][ci], s[rp])
    # strictly increasing starts within a contract, so no row ends before it starts
    big = 10_000_000
    start = np.maximum.accumulate(start - rank + rp * big) - rp * big + rank
    last = rank == rows[rp] - 1
    nxt = np.r_[start[1:], 0] - 1
    end = np.where(last, e[rp], nxt)
    logf = np.r_[clog, 0.0][ci]
    csum = np.cumsum(logf)
    cum = csum - np.repeat(csum[group_starts(rows)] - logf[group_starts(rows)], rows)

    emp = acc.employees[pi]
    gline = cat.SUB_LINES[pl]
    share = np.array([line.median_qty for line in cat.LINES])[gline]
    # seats grow with size, less than proportionally; best customers roll out wider
    reach = 50.0 * (emp / 50.0) ** SEAT_ELASTICITY * np.where(lat.best[pi], BEST_UPLIFT, 1.0)
    seats0 = np.maximum(1, np.round(reach * share * np.exp(rng.normal(0, 0.5, P))))
    seats = np.maximum(1, np.round(seats0[rp] * np.exp(cum))).astype(np.int64)
    plan = _product(rng, gline, lat.behavior[pi], lat.best[pi], prod)
    per_seat = prod["price"][plan] * (1 - 0.6 * lat.discount[pi])

    # a change that rounds to the same seat count is no change: merge it into the previous row
    keep = (rank == 0) | (seats != np.r_[0, seats[:-1]])
    kept = np.flatnonzero(keep)
    end = end[np.append(kept[1:], len(keep))[: len(kept)] - 1]
    rp, start, seats = rp[kept], start[kept], seats[kept]
    mrr = np.round(seats * per_seat[rp], 2)

    acct = pi[rp]
    o = np.lexsort((start, acct))
    acct, start, end, seats, mrr, rline = acct[o], start[o], end[o], seats[o], mrr[o], gline[rp][o]
    n = len(o)
    table = pa.table(
        {
            "subscription_id": id_strings("S", first_number + np.arange(n), 8),
            "account_id": acc.ids.take(pa.array(acct)),
            "product_line": take_strings(cat.LINE_NAMES, rline),
            "start_date": date_array(win.start + start),
            "end_date": date_array(win.start + np.where(end == OPEN, 0, end), mask=end == OPEN),
            "mrr": float_array(mrr),
            "seats": int_array(seats),
            "currency": const_strings("EUR", n),
        }
    )
    usage_end = np.minimum(end, D - 1)
    return table, SubRows(acct=acct, line=rline, start=start, end=usage_end, seats=seats)
