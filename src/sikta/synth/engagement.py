"""People and conversations: contacts, survey responses and interactions."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sikta.synth import catalog as cat
from sikta.synth._util import (
    choice_rows,
    date_array,
    epoch_day,
    float_array,
    group_starts,
    id_strings,
    rank_in_group,
    take_strings,
    uniform_int,
)
from sikta.synth.accounts import CUSTOMER, DEPARTMENT, FORMER, GROUP, PROSPECT, Accounts
from sikta.synth.latent import Latent, Window

MANAGEMENT = cat.DEPARTMENTS.index("Management")
ITEMS = cat.NEEDS_ITEMS + ("satisfaction", "nps")
SAT, NPS = len(cat.NEEDS_ITEMS), len(cat.NEEDS_ITEMS) + 1

CHANNELS = ("meeting", "call", "email", "web", "event")
#: channel mix by channel preference (digital, phone, field, partner)
CHANNEL_MIX = np.array(
    [
        [0.03, 0.07, 0.35, 0.50, 0.05],
        [0.05, 0.55, 0.25, 0.12, 0.03],
        [0.45, 0.20, 0.20, 0.05, 0.10],
        [0.15, 0.15, 0.25, 0.15, 0.30],
    ]
)
TYPES = (
    ("QBR", "demo", "negotiation", "workshop"),
    ("check-in", "sales call", "support call", "renewal call"),
    ("newsletter", "quote", "follow-up", "campaign"),
    ("webinar", "pricing page", "download", "docs visit"),
    ("trade show", "user conference", "roundtable", "seminar"),
)
#: probability that an interaction of (channel, type) was started by the account
INBOUND = np.array(
    [
        [0.3, 0.4, 0.3, 0.3],
        [0.2, 0.1, 0.85, 0.2],
        [0.0, 0.5, 0.4, 0.0],
        [1.0, 1.0, 1.0, 1.0],
        [0.6, 0.7, 0.5, 0.6],
    ]
)
INTERACTION_RATE = np.array([0.8, 1.0, 1.8, 0.7])  # by behavior


@dataclass
class Contacts:
    table: pa.Table
    start: np.ndarray  # first contact row of each account
    count: np.ndarray


def _email_part(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def make_contacts(rng: np.random.Generator, acc: Accounts, first_number: int) -> Contacts:
    """1-6 decision makers per account, more for larger companies."""
    n = acc.n
    is_dept = acc.kind == DEPARTMENT
    many = 1 + np.minimum(5, rng.poisson(0.4 + 0.55 * np.log10(acc.employees + 1.0)))
    count = np.where(is_dept, 1 + np.minimum(2, rng.poisson(0.5, n)), many)
    a = np.repeat(np.arange(n), count)
    rank = rank_in_group(count)
    m = len(a)
    dept = rng.integers(0, MANAGEMENT, m)
    dept = np.where((rank == 0) & (rng.random(m) < 0.7), MANAGEMENT, dept)
    dept = np.where(is_dept[a], acc.dept[a], dept)
    role = np.where(rank == 0, 0, rng.integers(0, 3, m))
    role_names = [r for roles in cat.ROLES for r in roles]

    fi = rng.integers(0, len(cat.FIRST_NAMES), m)
    la = rng.integers(0, len(cat.LAST_NAMES), m)
    first = take_strings(cat.FIRST_NAMES, fi)
    last = take_strings(cat.LAST_NAMES, la)
    local = pc.binary_join_element_wise(
        take_strings([_email_part(s) for s in cat.FIRST_NAMES], fi),
        take_strings([_email_part(s) for s in cat.LAST_NAMES], la),
        ".",
    )
    domain = pc.binary_join_element_wise(acc.slug.take(pa.array(a)), "example", ".")
    table = pa.table(
        {
            "contact_id": id_strings("C", first_number + np.arange(m), 8),
            "account_id": acc.ids.take(pa.array(a)),
            "department": take_strings(cat.DEPARTMENTS, dept),
            "role": take_strings(role_names, dept * 3 + role),
            "name": pc.binary_join_element_wise(first, last, " "),
            "email": pc.binary_join_element_wise(local, domain, "@"),
        }
    )
    return Contacts(table=table, start=group_starts(count), count=count)


def make_surveys(
    rng: np.random.Generator, acc: Accounts, lat: Latent, win: Window, contacts: Contacts
) -> pa.Table:
    """A needs survey in the last months and a yearly NPS survey, one item per row."""
    n, D = acc.n, win.days
    seen = acc.first_seen - win.start
    surveys = [f"NEEDS-{win.end_date.year}"]
    p = np.select([acc.kind == GROUP, acc.status == CUSTOMER, acc.status == FORMER], [0.2, 0.45, 0.12], 0.15)
    r_acc = np.flatnonzero(rng.random(n) < p)
    r_day = uniform_int(rng, np.minimum(np.maximum(D - 270, seen[r_acc] + 1), D - 1), np.full(len(r_acc), D - 1))
    r_survey = np.zeros(len(r_acc), dtype=np.int64)
    for year in range(win.end_date.year - 20, win.end_date.year + 1):  # a loop over survey waves
        d0 = epoch_day(dt.date(year, 10, 1)) - win.start
        if d0 < 0 or d0 > D - 1:
            continue
        surveys.append(f"NPS-{year}")
        live = lat.buyer & (lat.a_start <= d0) & (lat.a_end >= d0) & ~((d0 >= lat.gap_first) & (d0 < lat.gap_end))
        who = np.flatnonzero(live & (rng.random(n) < 0.3))
        r_acc = np.r_[r_acc, who]
        r_day = np.r_[r_day, np.minimum(d0 + rng.integers(0, 31, len(who)), D - 1)]
        r_survey = np.r_[r_survey, np.full(len(who), len(surveys) - 1)]
    R = len(r_acc)
    contact = contacts.start[r_acc] + np.floor(rng.random(R) * contacts.count[r_acc]).astype(np.int64)
    mode = choice_rows(rng, np.tile([0.6, 0.25, 0.15], (R, 1)))  # both, contact only, account only

    beh = lat.behavior[r_acc]
    mood = 7.0 + 1.3 * lat.best[r_acc] - 0.6 * (beh == 2) - 0.4 * (beh == 0) + 0.5 * (beh == 1)
    mood -= 3.0 * (lat.churner[r_acc] & (r_day > lat.churn_start[r_acc]))
    mood -= 1.5 * lat.struggler[r_acc] + 1.5 * (acc.status[r_acc] == FORMER)
    mood += rng.normal(0, 1.0, R)
    bias = rng.normal(0, 0.35, R)

    needs_wave = r_survey == 0
    has_sat = acc.status[r_acc] != PROSPECT
    n_items = np.where(needs_wave, len(cat.NEEDS_ITEMS) + has_sat, 2)
    ri = np.repeat(np.arange(R), n_items)
    k = rank_in_group(n_items)
    item = np.where(needs_wave[ri], k, SAT + k)
    m = len(ri)
    ra = r_acc[ri]
    need_v = cat.NEEDS_PROFILES[lat.needs[ra], np.minimum(item, SAT - 1)] + bias[ri] + rng.normal(0, 0.6, m)
    value = np.where(item < SAT, np.clip(np.round(need_v), 1, 5), 0.0)
    sat = np.clip(np.round(1 + 4 * (mood[ri] + rng.normal(0, 1.0, m)) / 10), 1, 5)
    nps = np.clip(np.round(mood[ri] + rng.normal(0, 1.2, m)), 0, 10)
    value = np.where(item == SAT, sat, np.where(item == NPS, nps, value))

    o = np.lexsort((item, r_survey[ri], r_day[ri], ra))
    mo = mode[ri][o]
    return pa.table(
        {
            "account_id": acc.ids.take(pa.array(ra[o], mask=mo == 1)),
            "contact_id": contacts.table["contact_id"].take(pa.array(contact[ri][o], mask=mo == 2)),
            "survey_id": take_strings(surveys, r_survey[ri][o]),
            "answered_at": date_array(win.start + r_day[ri][o]),
            "item": take_strings(ITEMS, item[o]),
            "value": float_array(value[o]),
        }
    )


def make_interactions(rng: np.random.Generator, acc: Accounts, lat: Latent, win: Window) -> pa.Table:
    """Meetings, calls, e-mails, web visits and events; the mix follows channel preference."""
    n, D = acc.n, win.days
    beh = np.maximum(lat.behavior, 0)
    seen = np.clip(acc.first_seen - win.start, 0, D - 1)
    hi = np.where(acc.status == FORMER, np.clip(lat.a_end + 120, seen, D - 1), D - 1)
    per_year = np.select(
        [acc.status == PROSPECT, acc.status == FORMER, acc.kind == GROUP],
        [1.4, 2.0, 1.5],
        5.0 * (acc.employees / 50.0) ** 0.2 * INTERACTION_RATE[beh] * np.where(lat.best, 1.3, 1.0),
    )
    count = rng.poisson(per_year * np.exp(rng.normal(0, 0.5, n)) * (hi - seen + 1) / 365.0)
    a = np.repeat(np.arange(n), count)
    m = len(a)
    day = uniform_int(rng, seen[a], hi[a])
    ch = choice_rows(rng, CHANNEL_MIX[acc.channel[a]])
    ty = rng.integers(0, 4, m)
    inbound = rng.random(m) < INBOUND[ch, ty]
    type_names = [t for types in TYPES for t in types]
    o = np.lexsort((ch, day, a))
    return pa.table(
        {
            "account_id": acc.ids.take(pa.array(a[o])),
            "date": date_array(win.start + day[o]),
            "channel": take_strings(CHANNELS, ch[o]),
            "type": take_strings(type_names, ch[o] * 4 + ty[o]),
            "direction": take_strings(("outbound", "inbound"), inbound[o].astype(np.int64)),
        }
    )
