"""Pain and behaviour signals: weekly product usage and support tickets."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sikta.synth import catalog as cat
from sikta.synth._util import (
    choice_rows,
    date_array,
    float_array,
    id_strings,
    int_array,
    rank_in_group,
    take_strings,
    ts_array,
    uniform_int,
)
from sikta.synth.accounts import Accounts
from sikta.synth.latent import Latent, Window
from sikta.synth.revenue import SubRows

#: usage covers the last weeks of the window (enough to see a 6-12 month decline)
USAGE_WEEKS = 60
FEATURE_NAMES = tuple(f for line in sorted(cat.FEATURES) for f in cat.FEATURES[line])
FEATURE_START = np.array([0, 3, 5])  # first feature of each subscription line (PLT, ANL, SEC)
FEATURE_COUNT = np.array([3, 2, 2])
FEATURE_RATE = np.array([cat.FEATURE_EVENTS[f] for f in FEATURE_NAMES])
FEATURE_REACH = np.array([0.9, 0.6, 0.4, 0.7, 0.3, 0.95, 0.15])  # share of active users using it

PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("billing", "technical", "delivery", "how-to", "onboarding", "integration", "complaint", "feature_request")
#: category weights by behavior type
CATEGORY_W = np.array(
    [
        [0.34, 0.14, 0.14, 0.08, 0.02, 0.04, 0.18, 0.06],  # price_driven
        [0.06, 0.26, 0.12, 0.08, 0.02, 0.14, 0.08, 0.24],  # quality_driven
        [0.08, 0.26, 0.08, 0.34, 0.04, 0.10, 0.06, 0.04],  # support_driven
        [0.12, 0.22, 0.22, 0.14, 0.02, 0.10, 0.08, 0.10],  # routine
    ]
)
TICKET_RATE = np.array([1.1, 0.45, 3.2, 0.7])  # tickets per year by behavior (before size)
RESOLVE_HOURS = np.array([72.0, 30.0, 12.0, 4.0])  # median by priority


def _monday_on_or_after(day_epoch: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday: weekday (Monday = 0) of an epoch day is (d + 3) % 7
    return day_epoch + (-(day_epoch + 3)) % 7


def _calendar(day_epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = day_epoch.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    return month.astype(np.int64) % 12 + 1, (d - month).astype(np.int64) + 1


def make_usage(rng: np.random.Generator, acc: Accounts, lat: Latent, win: Window, subs: SubRows) -> pa.Table:
    """Weekly rows per account x feature while a subscription is active."""
    D = win.days
    u0 = max(0, D - 7 * USAGE_WEEKS)
    lo = win.start + np.maximum(subs.start, u0)
    hi = win.start + subs.end
    first = _monday_on_or_after(lo)
    weeks = np.where(first <= hi, (hi - first) // 7 + 1, 0)
    r = np.repeat(np.arange(len(weeks)), weeks)
    day = first[r] + 7 * rank_in_group(weeks)
    li = subs.line[r] - cat.SUB_LINES[0]
    nf = FEATURE_COUNT[li]
    r2 = np.repeat(np.arange(len(r)), nf)
    feat = FEATURE_START[li][r2] + rank_in_group(nf)
    day, row = day[r2], r[r2]
    a = subs.acct[row]
    n = len(a)

    beh = np.maximum(lat.behavior, 0)
    engage = np.clip(rng.beta(6, 4, acc.n) + 0.1 * lat.best + np.array([-0.1, 0.1, 0.0, 0.0])[beh], 0.05, 0.98)
    t = day - win.start
    f = engage[a] * np.ones(n)
    cs = lat.churn_start[a]
    f *= np.where(t > cs, np.maximum(0.1, 1 - 0.9 * (t - cs) / np.maximum(D - cs, 1)), 1.0)
    since = t - lat.a_start[a]
    ramp = np.clip(0.25 + 0.75 * since / 56.0, 0.25, 1.0)
    f = np.where(lat.onboarding[a] & ~lat.struggler[a], f * ramp, f)
    f = np.where(lat.struggler[a], np.minimum(f, 0.22) * np.clip(1 - since / 200.0, 0.4, 1.0), f)
    month, dom = _calendar(day)
    f *= np.where((month == 7) | (month == 8), 0.7, 1.0)
    f *= np.where(((month == 12) & (dom >= 20)) | ((month == 1) & (dom <= 3)), 0.45, 1.0)
    users = rng.poisson(subs.seats[row] * f * FEATURE_REACH[feat] * np.exp(rng.normal(0, 0.15, n)))
    users = np.minimum(users, subs.seats[row])
    events = rng.poisson(users * FEATURE_RATE[feat] * np.exp(rng.normal(0, 0.3, n)))

    o = np.lexsort((feat, day, a))
    return pa.table(
        {
            "account_id": acc.ids.take(pa.array(a[o])),
            "date": date_array(day[o]),
            "feature": take_strings(FEATURE_NAMES, feat[o]),
            "events": int_array(events[o]),
            "active_users": int_array(users[o]),
        }
    )


def make_tickets(rng: np.random.Generator, acc: Accounts, lat: Latent, win: Window, first_number: int) -> pa.Table:
    """Support tickets: rate grows with size and pain; churners and strugglers complain more."""
    D = win.days
    n = acc.n
    beh = np.maximum(lat.behavior, 0)
    lo = np.maximum(lat.a_start, 0)
    hi = np.minimum(lat.a_end, D - 1)
    active = lat.buyer & (hi >= lo)
    rate = 0.9 * (acc.employees / 50.0) ** 0.35 * TICKET_RATE[beh] * np.where(lat.best, 0.8, 1.0)
    rate *= np.exp(rng.normal(0, 0.4, n))
    base = np.where(active, rng.poisson(rate * np.maximum(hi - lo + 1, 0) / 365.0), 0)
    late = np.where(lat.churner, rng.poisson(1.5 * rate * np.maximum(D - lat.churn_start, 0) / 365.0), 0)
    onb = np.where(lat.onboarding, rng.poisson(np.where(lat.struggler, 4.0, 1.5)), 0)

    a = np.repeat(np.arange(n), base)
    day = uniform_int(rng, lo[a], hi[a])
    a_l = np.repeat(np.arange(n), late)
    a_o = np.repeat(np.arange(n), onb)
    day = np.r_[day, uniform_int(rng, lat.churn_start[a_l], np.full(len(a_l), D - 1))]
    day = np.r_[day, uniform_int(rng, lat.a_start[a_o], np.full(len(a_o), D - 1))]
    kind = np.r_[np.zeros(len(a), int), np.ones(len(a_l), int), np.full(len(a_o), 2)]
    a = np.r_[a, a_l, a_o]
    in_gap = (day >= lat.gap_first[a]) & (day < lat.gap_end[a])  # no tickets while not a customer
    keep = ~in_gap
    a, day, kind = a[keep], day[keep], kind[keep]
    m = len(a)

    pain = (lat.behavior[a] == 2) | (kind > 0)
    p_pri = np.where(pain[:, None], [0.15, 0.45, 0.28, 0.12], [0.27, 0.5, 0.17, 0.06])
    pri = choice_rows(rng, p_pri)
    cw = CATEGORY_W[beh[a]].copy()
    cw[kind == 2, 4] += 2.0  # onboarding trouble
    cw[kind == 1, 6] += 0.4  # complaints before churn
    cat_i = choice_rows(rng, cw)

    opened = (win.start + day) * 86400 + rng.integers(7 * 3600, 19 * 3600, m)
    hours = RESOLVE_HOURS[pri] * np.exp(rng.normal(0, 0.9, m))
    closed = opened + np.round(hours * 3600).astype(np.int64) + 60
    window_end = (win.start + D) * 86400 - 1
    still_open = (closed > window_end) | (rng.random(m) < 0.01)
    closed = np.where(still_open, opened, closed)

    answered = ~still_open & (rng.random(m) < 0.55)
    late_pain = kind == 1
    mood = 4.3 - 0.6 * (hours > 48) - 0.9 * late_pain - 0.7 * (kind == 2) * lat.struggler[a] + 0.3 * lat.best[a]
    csat = np.clip(np.round(mood + rng.normal(0, 0.8, m)), 1, 5)

    o = np.lexsort((opened, a))
    return pa.table(
        {
            "ticket_id": id_strings("T", first_number + np.arange(m), 8),
            "account_id": acc.ids.take(pa.array(a[o])),
            "opened_at": ts_array(opened[o]),
            "closed_at": ts_array(closed[o], mask=still_open[o]),
            "priority": take_strings(PRIORITIES, pri[o]),
            "category": take_strings(CATEGORIES, cat_i[o]),
            "csat": float_array(csat[o], mask=~answered[o]),
        }
    )
