"""Per-unit purchase summaries for the CLV models, built in the engine (SPEC §4.4).

Pure Ibis: every function takes tables and returns a lazy table; nothing runs
until the Store executes it, and Python only ever sees one row per unit (or
per day / week for the tracking curve). :func:`daily_transactions` does the
one pass over the order lines; the summary and the tracking counts read its
(much smaller) result, so a caller that runs several of them can materialize
it once.

Conventions (those of Fader, Hardie & Lee and of lifetimes'
``summary_data_from_transaction_data``):

* **Transactions are days.** Order lines of one unit on one day are one
  transaction; its value is the day's net amount. A day whose net amount is
  **negative** (only credit notes or returns) is *not* a purchase and is
  dropped: it is not a purchase occasion, and the model of spend per purchase
  needs positive values. A day netting to exactly **zero** (free goods, an
  order and its full return) is kept as a purchase of value 0 - it was a
  purchase occasion (CDNOW has 80 such days and lifetimes counts them); the
  Gamma-Gamma fit leaves such customers out if their average is 0.
* **Calibration** is every day up to and including ``calibration_end``; a
  unit enters the summary when it has a purchase there. Its **first purchase**
  is not a repeat: ``frequency`` = purchase days − 1, and
  ``monetary_value`` = mean value of the *repeat* days (0 without any).
* **Time** is measured to ``calibration_end`` in ``time_unit``: ``recency`` =
  last − first purchase, ``T`` = calibration_end − first purchase, both in days
  divided by the days of the unit - 1 (day), 7 (week) or 365.25/12 (month),
  continuous rather than counted in calendar buckets (so 10 days = 1.43 weeks).
* **Holdout** (when ``observation_end`` is given): purchase days in
  ``(calibration_end, observation_end]``: ``frequency_holdout`` (count),
  ``value_holdout`` (their net amounts summed) and ``monetary_value_holdout``
  (their mean, 0 without any), and ``duration_holdout`` =
  observation_end − calibration_end in ``time_unit``. (lifetimes averages the
  raw holdout order lines instead of the days; the counts are the same.)
* **Margin** (when orders have a ``cost`` column): ``margin_rate`` =
  Σ(amount − cost) / Σ amount over the unit's calibration order lines that have
  a cost (null when none has one, or their amounts sum to 0).

Examples
--------
>>> import datetime as dt, ibis, pandas as pd
>>> con = ibis.duckdb.connect()
>>> orders = con.create_table("o", pd.DataFrame({"account_id": ["a", "a", "a", "a", "b"],
...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-15", "2024-01-10"]).date,
...     "amount": [10.0, 5.0, 20.0, -3.0, 7.0]}))
>>> units = con.create_table("u", pd.DataFrame({"account_id": ["a", "b"], "unit_id": ["A", "B"]}))
>>> daily = daily_transactions(orders, units)
>>> s = con.to_pandas(clv_summary(daily, calibration_end=dt.date(2024, 1, 15)).order_by("unit_id"))
>>> s[["unit_id", "frequency", "recency", "T", "monetary_value"]].values.tolist()
[['A', 1, 1.0, 2.0, 20.0], ['B', 0, 0.0, 0.7142857142857143, 0.0]]
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from sikta.core.clv.units import TIME_UNITS
from sikta.engine.features import as_date
from sikta.errors import UsageError

__all__ = ["clv_summary", "daily_transactions", "first_purchases_by_day", "repeat_purchases_by_week"]


def _days_per_unit(time_unit: str) -> float:
    if time_unit not in TIME_UNITS:
        raise UsageError(f"unknown time unit {time_unit!r}; use one of {', '.join(TIME_UNITS)}")
    return TIME_UNITS[time_unit]


def daily_transactions(orders: ir.Table, units: ir.Table) -> ir.Table:
    """One row per unit and purchase day: ``unit_id``, ``day``, ``amount`` (net), and margin parts.

    Days whose net amount is negative are dropped (see the module notes).
    With a ``cost`` column, ``margin_amount`` = Σ(amount − cost) and
    ``margin_base`` = Σ amount over the day's lines that have a cost.
    """
    o = orders.join(units, "account_id")
    day = o.order_date.cast("date")
    parts = {"amount": o.amount.sum()}
    if "cost" in orders.columns:
        has_cost = o.cost.notnull()
        parts["margin_amount"] = (o.amount - o.cost).sum(where=has_cost)
        parts["margin_base"] = o.amount.sum(where=has_cost)
    daily = o.group_by([o.unit_id, day.name("day")]).aggregate(**parts)
    return daily.filter(daily.amount >= 0)


def clv_summary(
    daily: ir.Table,
    *,
    calibration_end: dt.date | str,
    observation_end: dt.date | str | None = None,
    time_unit: str = "week",
) -> ir.Table:
    """Per-unit ``frequency``, ``recency``, ``T``, ``monetary_value`` (and holdout, margin) columns.

    Parameters
    ----------
    daily
        Purchase days per unit, from :func:`daily_transactions`.
    calibration_end
        Last day of the calibration period (inclusive).
    observation_end
        Last day of the holdout period; adds the holdout columns.
    time_unit
        ``day``, ``week`` or ``month`` (see the module notes).

    Returns
    -------
    ibis.Table
        One row per unit with a calibration purchase: ``unit_id``,
        ``first_purchase``, ``frequency``, ``recency``, ``T``,
        ``monetary_value``; ``margin_rate`` with costs; ``frequency_holdout``,
        ``value_holdout``, ``monetary_value_holdout``, ``duration_holdout``
        with ``observation_end``.
    """
    per = _days_per_unit(time_unit)
    cal_end = as_date(calibration_end, "calibration_end")
    obs_end = None if observation_end is None else as_date(observation_end, "observation_end")
    if obs_end is not None and obs_end <= cal_end:
        raise UsageError(f"observation_end {obs_end} must be after calibration_end {cal_end}")
    d = daily
    cal = d.day <= cal_end
    parts = {
        "first_purchase": d.day.min(where=cal),
        "last_purchase": d.day.max(where=cal),
        "days": d.day.count(where=cal),
        "total": d.amount.sum(where=cal),
        "first_amount": d.amount.argmin(d.day, where=cal),
    }
    if "margin_amount" in d.columns:
        parts["margin_amount"] = d.margin_amount.sum(where=cal)
        parts["margin_base"] = d.margin_base.sum(where=cal)
    if obs_end is not None:
        hold = ~cal & (d.day <= obs_end)
        parts["frequency_holdout"] = d.day.count(where=hold)
        parts["value_holdout"] = d.amount.sum(where=hold).fill_null(0.0)
    s = d.group_by("unit_id").aggregate(**parts)
    s = s.filter(s.days > 0)
    frequency = (s.days - 1).cast("int64")
    out = {
        "unit_id": s.unit_id,
        "first_purchase": s.first_purchase,
        "frequency": frequency,
        "recency": s.last_purchase.delta(s.first_purchase, unit="day").cast("float64") / per,
        "T": ibis.date(cal_end).delta(s.first_purchase, unit="day").cast("float64") / per,
        "monetary_value": ibis.ifelse(frequency > 0, (s.total - s.first_amount) / frequency, 0.0),
    }
    if "margin_amount" in parts:
        out["margin_rate"] = ibis.ifelse(s.margin_base != 0, s.margin_amount / s.margin_base, ibis.null("float64"))
    if obs_end is not None:
        out["frequency_holdout"] = s.frequency_holdout.cast("int64")
        out["value_holdout"] = s.value_holdout
        out["monetary_value_holdout"] = ibis.ifelse(
            s.frequency_holdout > 0, s.value_holdout / s.frequency_holdout, 0.0
        )
        out["duration_holdout"] = ibis.literal((obs_end - cal_end).days / per, "float64")
    return s.select(**out)


def _calibration_days(daily: ir.Table, cal_end: dt.date, end: dt.date) -> ir.Table:
    """Purchase days up to ``end`` of the units that bought by ``cal_end``, with each unit's first day
    and the cohort's tracking start (its earliest first purchase)."""
    d = daily.select("unit_id", "day")
    d = d.filter(d.day <= end)
    first = d.filter(d.day <= cal_end).group_by("unit_id").aggregate(first_purchase=d.day.min())
    start = first.aggregate(start=first.first_purchase.min())
    return d.join(first, "unit_id").cross_join(start)


def first_purchases_by_day(daily: ir.Table, *, calibration_end: dt.date | str) -> ir.Table:
    """First purchases per day of the calibration cohort, for the tracking curve.

    Returns
    -------
    ibis.Table
        ``start`` (the cohort's earliest first purchase), ``day`` (days after
        ``start``) and ``customers`` (units whose first purchase is that day).
    """
    cal_end = as_date(calibration_end, "calibration_end")
    d = _calibration_days(daily, cal_end, cal_end)
    firsts = d.filter(d.day == d.first_purchase)
    births = firsts.group_by([firsts.start, firsts.day]).aggregate(customers=firsts.unit_id.count())
    return births.select(births.start, day=births.day.delta(births.start, unit="day"), customers=births.customers)


def repeat_purchases_by_week(
    daily: ir.Table, *, calibration_end: dt.date | str, observation_end: dt.date | str
) -> ir.Table:
    """Repeat purchases per week of the calibration cohort, through ``observation_end``.

    Week ``w`` covers days ``7(w−1) … 7w−1`` after ``start`` (the cohort's
    earliest first purchase). Weeks without a repeat purchase have no row;
    ``cumulative_repeat_transactions`` is the running total up to the week.

    Returns
    -------
    ibis.Table
        ``start``, ``week``, ``repeat_transactions``, ``cumulative_repeat_transactions``.
    """
    cal_end = as_date(calibration_end, "calibration_end")
    obs_end = as_date(observation_end, "observation_end")
    if obs_end < cal_end:
        raise UsageError(f"observation_end {obs_end} must not be before calibration_end {cal_end}")
    d = _calibration_days(daily, cal_end, obs_end)
    repeats = d.filter(d.day > d.first_purchase)
    week = (repeats.day.delta(repeats.start, unit="day") // 7 + 1).cast("int64")
    weekly = repeats.group_by([repeats.start, week.name("week")]).aggregate(
        repeat_transactions=repeats.unit_id.count()
    )
    running = ibis.window(order_by=weekly.week, preceding=None, following=0)
    return weekly.mutate(cumulative_repeat_transactions=weekly.repeat_transactions.sum().over(running)).order_by(
        "week"
    )
