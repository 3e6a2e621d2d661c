"""The hidden truth of each account: needs segment, behavioral type, best
customer, trend, churn, reactivation, onboarding and its active period.

Everything downstream (orders, subscriptions, usage, tickets, surveys) is
drawn from these latent values, and ``truth.parquet`` records them so tests
and demos can check that an analysis recovers what was planted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sikta.synth import catalog as cat
from sikta.synth._util import S_DRIVERS, epoch_day, gumbel_choice, rng_for, take_strings, uniform_int
from sikta.synth.accounts import CUSTOMER, FORMER, GROUP, PROSPECT, Accounts

#: monthly order seasonality: Q4 peak, summer dip
SEASON = np.array([0.92, 0.95, 1.08, 1.0, 1.04, 0.98, 0.62, 0.66, 1.06, 1.16, 1.26, 1.36])


@dataclass(frozen=True)
class Window:
    """The observed period: ``days`` days ending on ``end_date`` (day indices are relative)."""

    start: int  # epoch day of day 0
    days: int
    end_date: dt.date
    m_first: np.ndarray  # relative first day of each month (clipped to the window)
    m_last: np.ndarray  # relative last day of each month (clipped)
    m_cal: np.ndarray  # calendar month 1..12
    m_year: np.ndarray

    @classmethod
    def build(cls, end_date: dt.date, years: int) -> Window:
        try:
            first = end_date.replace(year=end_date.year - years)
        except ValueError:  # 29 February
            first = end_date.replace(year=end_date.year - years, day=28)
        first += dt.timedelta(days=1)
        start = epoch_day(first)
        days = epoch_day(end_date) - start + 1
        firsts, cal, year = [], [], []
        y, m = first.year, first.month
        while (y, m) <= (end_date.year, end_date.month):  # a loop over months, not accounts
            firsts.append(epoch_day(dt.date(y, m, 1)) - start)
            cal.append(m)
            year.append(y)
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        m_first = np.array(firsts)
        m_last = np.append(m_first[1:] - 1, days - 1)
        return cls(start, days, end_date, np.maximum(m_first, 0), m_last, np.array(cal), np.array(year))

    @property
    def months(self) -> int:
        return len(self.m_first)

    def month_of(self, day: np.ndarray) -> np.ndarray:
        """Month index of relative days (clipped into the window)."""
        return np.clip(np.searchsorted(self.m_first, day, side="right") - 1, 0, self.months - 1)


@dataclass(frozen=True)
class BestRule:
    """The firmographic watersheds that make a best customer (one per data set)."""

    drivers: tuple[str, ...]  # accounts column names, in contract order
    fit_industries: tuple[int, ...]
    min_tech: int = 4
    min_sites: int = 3

    @classmethod
    def for_seed(cls, seed: int) -> BestRule:
        rng = rng_for(seed, 0, S_DRIVERS)
        options = ("industry", "sites", "tech_maturity")  # contract order
        pick = sorted(rng.choice(3, 2, replace=False))
        fit = tuple(sorted(int(i) for i in rng.choice(len(cat.INDUSTRIES), 3, replace=False)))
        return cls(tuple(options[i] for i in pick), fit)

    def met(self, acc: Accounts) -> np.ndarray:
        """How many of the drivers each account satisfies."""
        tests = {
            "industry": np.isin(acc.industry, self.fit_industries),
            "tech_maturity": acc.tech >= self.min_tech,
            "sites": acc.sites >= self.min_sites,
        }
        return sum(tests[d].astype(np.int64) for d in self.drivers)


@dataclass
class Latent:
    buyer: np.ndarray  # has revenue rows
    needs: np.ndarray
    behavior: np.ndarray  # -1 for prospects
    best: np.ndarray
    trend: np.ndarray  # index into TRENDS (3 = none)
    growth: np.ndarray  # log change of activity per year
    churner: np.ndarray
    churn_start: np.ndarray  # relative day the decline starts
    reactivated: np.ndarray
    gap_first: np.ndarray  # relative first day of the gap (month aligned)
    gap_end: np.ndarray  # relative first day after the gap
    onboarding: np.ndarray
    struggler: np.ndarray  # onboarding that goes badly
    a_start: np.ndarray  # relative first day of activity (may precede the window)
    a_end: np.ndarray  # relative last day of activity
    adopt: np.ndarray  # (n, lines) bool
    discount: np.ndarray  # the account's typical discount


def plan(rng: np.random.Generator, acc: Accounts, win: Window, rule: BestRule) -> Latent:
    """Draw the latent traits and the active period of every account."""
    n, D = acc.n, win.days
    status, emp = acc.status, acc.employees
    is_cust, is_former = status == CUSTOMER, status == FORMER
    # groups rarely buy directly; their subsidiaries and departments do
    direct = (acc.kind != GROUP) | (rng.random(n) < 0.12)
    buyer = (is_cust | is_former) & direct
    bc = buyer & is_cust

    logits = np.log(np.array([0.24, 0.2, 0.2, 0.16, 0.2]))[None, :].repeat(n, axis=0)
    logits[:, 0] += 0.35 * (3 - acc.tech)
    logits[:, 3] += 0.6 * (acc.tech - 3)
    logits[:, 2] += 0.4 * (acc.tech <= 2)
    needs = gumbel_choice(rng, logits)
    behavior = np.where(
        rng.random(n) < 0.55, cat.SEGMENT_BEHAVIOR[needs], rng.integers(0, len(cat.BEHAVIOR_TYPES), n)
    )
    behavior = np.where(status == PROSPECT, -1, behavior)

    # best customers: mostly those meeting the watersheds, plus noise
    score = 1.8 * rule.met(acc) + rng.normal(0, 0.8, n)
    best = np.zeros(n, dtype=bool)
    if bc.any():
        best = bc & (score >= np.quantile(score[bc], 0.88))

    # growth / flat / decline: best customers mostly grow, formers mostly declined
    p_other = np.where(is_former[:, None], [0.1, 0.4, 0.5], [0.28, 0.45, 0.27])
    p_trend = np.where(best[:, None], [0.65, 0.30, 0.05], p_other)
    trend = np.where(buyer, gumbel_choice(rng, np.log(p_trend)), 3)
    lo = np.array([0.15, -0.04, -0.32, 0.0])[trend]
    hi = np.array([0.45, 0.04, -0.12, 0.0])[trend]
    growth = lo + rng.random(n) * (hi - lo)

    # active periods
    u = rng.random(n)
    onboarding = bc & (u < 0.06)
    new = bc & (u >= 0.06) & (u < 0.21)
    a_start = -uniform_int(rng, np.full(n, 30), np.full(n, 5 * 365))
    a_start = np.where(new, uniform_int(rng, np.zeros(n), np.full(n, max(D - 180, 0))), a_start)
    a_start = np.where(onboarding, D - uniform_int(rng, np.full(n, 15), np.full(n, 90)), a_start)
    a_end = np.full(n, D - 1)
    latest = D - 366  # formers stopped more than 12 months before the end
    in_window = uniform_int(rng, np.full(n, 60), np.full(n, max(latest, 60)))
    before = latest - uniform_int(rng, np.zeros(n), np.full(n, 180))  # short windows: they left before it
    f_end = np.where(latest >= 90, in_window, before)
    a_end = np.where(is_former, f_end, a_end)
    a_start = np.where(is_former, a_end - uniform_int(rng, np.full(n, 200), np.full(n, 5 * 365)), a_start)
    struggler = onboarding & (rng.random(n) < 0.4)

    # reactivation: a gap of 3-7 whole months, buying again at least 4 months before the end
    M = win.months
    glen = rng.integers(3, 8, n)
    g0_lo = win.month_of(np.maximum(a_start, 0)) + 2
    g0_hi = M - 4 - glen
    feasible = bc & ~onboarding & (g0_hi >= g0_lo) & (a_start <= D - 400)
    reactivated = feasible & (rng.random(n) < 0.07)
    g0 = np.where(reactivated, uniform_int(rng, np.minimum(g0_lo, g0_hi), g0_hi), 0)
    g0 = np.clip(g0, 0, M - 1)
    gap_first = np.where(reactivated, win.m_first[g0], D + 10)
    gap_end = np.where(reactivated, win.m_first[np.clip(g0 + glen, 0, M - 1)], D + 10)

    churner = bc & ~onboarding & ~reactivated & (a_start <= D - 450) & (rng.random(n) < 0.10)
    churn_start = np.where(churner, D - uniform_int(rng, np.full(n, 180), np.full(n, 365)), D + 10)

    adopt = _adoption(rng, acc, best, buyer)
    base = np.array([0.24, 0.035, 0.07, 0.08])[np.maximum(behavior, 0)]
    discount = np.clip(base * np.where(best, 0.6, 1.0) * np.exp(rng.normal(0, 0.25, n)), 0, 0.45)

    # CRM first seen: before the first purchase, or any time for prospects
    first = np.where(buyer, np.minimum(a_start, D - 1) - uniform_int(rng, np.zeros(n), np.full(n, 400)), 0)
    first = np.where(status == PROSPECT, uniform_int(rng, np.full(n, -4 * 365), np.full(n, D - 14)), first)
    first = np.where(~buyer & (status != PROSPECT), -uniform_int(rng, np.full(n, 365), np.full(n, 3000)), first)
    acc.first_seen = win.start + first
    year_seen = (acc.first_seen.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)
    acc.founded = np.where(acc.founded >= 0, np.minimum(acc.founded, year_seen), acc.founded)

    return Latent(
        buyer=buyer,
        needs=needs,
        behavior=behavior,
        best=best,
        trend=trend,
        growth=growth,
        churner=churner,
        churn_start=churn_start,
        reactivated=reactivated,
        gap_first=gap_first,
        gap_end=gap_end,
        onboarding=onboarding,
        struggler=struggler,
        a_start=a_start,
        a_end=a_end,
        adopt=adopt,
        discount=discount,
    )


def _adoption(rng: np.random.Generator, acc: Accounts, best: np.ndarray, buyer: np.ndarray) -> np.ndarray:
    """Which product lines each buyer uses: industry affinity, tech maturity, size, best."""
    n = acc.n
    p = cat.AFFINITY[acc.industry].copy()
    sub = np.zeros(len(cat.LINES), dtype=bool)
    sub[cat.SUB_LINES] = True
    p[:, sub] *= (0.55 + 0.15 * acc.tech)[:, None]
    p *= (0.85 + 0.08 * np.log10(np.maximum(acc.employees, 1)))[:, None]
    p = np.clip(p, 0, 0.95)
    p = np.where(best[:, None], 1 - (1 - p) ** 1.8, p)  # best customers buy more of the catalog
    adopt = rng.random(p.shape) < p
    none = ~adopt.any(axis=1)
    first = np.argmax(p * rng.random(p.shape), axis=1)
    adopt[none, first[none]] = True
    adopt &= buyer[:, None]
    return adopt


def truth_table(acc: Accounts, lat: Latent, rule: BestRule) -> pa.Table:
    """One row per account with everything that was planted."""
    return pa.table(
        {
            "account_id": acc.ids,
            "needs_segment": take_strings(cat.NEEDS_SEGMENTS, lat.needs),
            "behavior_type": take_strings(cat.BEHAVIOR_TYPES, np.maximum(lat.behavior, 0), mask=lat.behavior < 0),
            "is_best": pa.array(lat.best),
            "best_drivers": take_strings([",".join(rule.drivers)], np.zeros(acc.n, dtype=np.int64), mask=~lat.best),
            "planted_churner": pa.array(lat.churner),
            "reactivated": pa.array(lat.reactivated),
            "onboarding": pa.array(lat.onboarding),
            "trend": take_strings(cat.TRENDS, lat.trend),
        }
    )

