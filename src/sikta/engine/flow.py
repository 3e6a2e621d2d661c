"""Customer flow per period: the revenue bridge, the subscription ARR bridge, NRR and GRR (SPEC §4.2).

Everything here builds lazy Ibis expressions over the contract tables; the
engine does the work and returns one row per period (or one row in all).
Transactions are first summed per account and period, then rolled up to the
unit (``units``: ``account_id`` → ``unit_id`` from
:func:`sikta.engine.features.unit_map`); accounts missing from ``units`` are
left out, as in the feature table.

Periods
-------
Calendar months, quarters or years lying **fully** inside ``[start, end]``
(both inclusive): with ``start`` = 2024-01-15 the first month is February.

Revenue per unit and period (:func:`period_revenue`)
----------------------------------------------------
Net revenue = order amounts by ``order_date`` (credit notes, i.e. negative
amounts, included) + subscription revenue recognised per day: a subscription
earns ``mrr × days it covers in the period / (365.25 / 12)``, where it covers
day ``d`` when ``start_date <= d < end_date`` (``end_date`` empty = still
running). Only (unit, period) pairs with revenue ≠ 0 are kept.

Customer flow (:func:`customer_flow`)
-------------------------------------
A unit is **active** in a period when its net revenue there is > 0 (a period
with only credit notes counts as inactive). Each period is compared with the
previous one:

* **new** - active now, never active in any earlier period - of the range,
  nor before it (``history``);
* **reactivated** - active now, not active in the previous period, active in
  some earlier one (of the range, or before it);
* **churned** - active in the previous period, not now;
* **retained** - active in both, split by the relative change
  ``Δ = (now − prev) / prev`` into **grown** (Δ > tolerance), **flat**
  (|Δ| ≤ tolerance) and **declined** (Δ < −tolerance).

The first period of the range only provides the "previous" state of the
second, so rows start with the second period. What happened before the first
period comes from ``history`` (:func:`active_before`: the units active in some
calendar period before the range). With it, "new" means first active ever,
whatever range is shown; without it (``history=None``) only the range counts
and a customer returning after a pause that began before the range is new.

Logo view: ``<category>_accounts`` counts units (``retained_accounts`` =
grown + flat + declined), ``active_start`` / ``active_end`` = units active in
the previous / current period.

Dollar view (all amounts ≥ 0):

* ``start_revenue`` = Σ revenue of the units active in the previous period
  (their revenue there); ``end_revenue`` = Σ revenue of the units active now;
* ``new_revenue``, ``reactivated_revenue`` = revenue now of the new /
  reactivated units; ``churned_revenue`` = revenue in the previous period of
  the churned units;
* ``growth`` = Σ (now − prev) over the retained units where it is positive,
  ``decline`` = Σ (prev − now) where it is positive - over **all** retained
  units, flat ones included (the tolerance only names the logo category).

So every period balances exactly::

    start_revenue + new_revenue + growth − decline − churned_revenue + reactivated_revenue = end_revenue

``end_revenue`` can differ from the period's total net revenue: units whose
credit notes outweigh their orders are inactive and not in it.
``logo_churn_rate`` = churned_accounts / active_start and
``dollar_churn_rate`` = churned_revenue / start_revenue (revenue lost with the
lost logos; add ``decline`` for gross dollar churn); both null when their
denominator is 0.

Subscriptions (:func:`subscription_flow`, :func:`retention_rates`)
------------------------------------------------------------------
A unit's **ARR on a day** = 12 × Σ mrr of its subscriptions covering that
day; an ARR ≤ 0 counts as none. For each period the bridge goes from the ARR
on the day before it starts (``start_arr``, equal to the previous period's
``end_arr``) to the ARR on its last day (``end_arr``), per unit: **new** =
ARR now, none before (returning units included); **churned** = ARR before,
none now; **expansion** / **contraction** = the rise / fall of units with ARR
on both days. ``start_arr + new_arr + expansion_arr − contraction_arr −
churned_arr = end_arr``. A subscription that starts and ends within one
period never shows in a snapshot.

Retention from ``start`` to ``end`` over the units with ARR on ``start``
(units that are new later are excluded): **NRR** = Σ their ARR on ``end`` /
``start_arr``; **GRR** = Σ min(ARR on ``end``, ARR on ``start``) / ``start_arr``
(expansion is not counted, so GRR ≤ 1).

Examples
--------
>>> import ibis, pandas as pd
>>> con = ibis.duckdb.connect()
>>> orders = con.create_table("o", pd.DataFrame({"account_id": ["a", "a", "b", "b"],
...     "order_date": pd.to_datetime(["2024-01-10", "2024-02-10", "2024-01-05", "2024-02-20"]).date,
...     "amount": [100.0, 150.0, 40.0, -40.0]}))
>>> units = con.create_table("u", pd.DataFrame({"account_id": ["a", "b"], "unit_id": ["A", "B"]}))
>>> per = period_revenue(orders, None, units, period="month", start=dt.date(2024, 1, 1), end=dt.date(2024, 2, 29))
>>> f = con.to_pandas(customer_flow(per))
>>> f[["start_revenue", "growth", "churned_revenue", "end_revenue"]].values.tolist()
[[140.0, 50.0, 40.0, 150.0]]
>>> f[["grown_accounts", "churned_accounts"]].values.tolist()  # B's credit note: inactive in February
[[1, 1]]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from sikta.engine.features import as_date
from sikta.engine.features_derive import MONEY_DECIMALS
from sikta.engine.features_parts import DAYS_PER_MONTH
from sikta.errors import InputError, UsageError

__all__ = [
    "CATEGORIES",
    "active_before",
    "PERIODS",
    "customer_flow",
    "period_revenue",
    "period_starts",
    "retention_rates",
    "subscription_flow",
]

PERIODS = ("month", "quarter", "year")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_TRUNC = {"month": "M", "quarter": "Q", "year": "Y"}
#: relative change in a unit's ARR below which it counts as unchanged (float noise, not a price change)
SAME_ARR = 1e-9
#: logo categories of :func:`customer_flow`, in column order
CATEGORIES = ("new", "grown", "flat", "declined", "churned", "reactivated")


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise UsageError(f"period {period!r} is not one of {', '.join(PERIODS)}")


def _add_months(day: dt.date, months: int) -> dt.date:
    """First-of-month ``day`` moved by whole months."""
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(y, m + 1, 1)


def _next_start(day: dt.date, period: str) -> dt.date:
    return _add_months(day, _MONTHS[period])


def period_starts(period: str, start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """First days of the calendar periods lying fully inside ``[start, end]``.

    Raises :class:`~sikta.errors.UsageError` when no whole period fits.

    Examples
    --------
    >>> period_starts("quarter", dt.date(2024, 1, 15), dt.date(2024, 12, 30))
    [datetime.date(2024, 4, 1), datetime.date(2024, 7, 1)]
    >>> [d.month for d in period_starts("month", "2024-01-01", "2024-03-31")]
    [1, 2, 3]
    """
    _check_period(period)
    start, end = as_date(start, "start"), as_date(end, "end")
    step = _MONTHS[period]
    # the first period boundary on or after start: boundaries are months 1, 1+step, ...
    months0 = start.year * 12 + start.month - 1
    first_month = -(-months0 // step) * step
    if first_month == months0 and start.day == 1:
        first = start
    else:
        if first_month == months0:
            first_month += step
        first = dt.date(first_month // 12, first_month % 12 + 1, 1)
    out = []
    day = first
    while _next_start(day, period) - dt.timedelta(days=1) <= end:
        out.append(day)
        day = _next_start(day, period)
    if not out:
        raise UsageError(f"no complete {period} lies between {start} and {end}")
    return out


def _periods_table(starts: Sequence[dt.date], period: str) -> ir.Table:
    """Small table: k (0..), period_start, period_end (last day), next_start."""
    nexts = [_next_start(d, period) for d in starts]
    return ibis.memtable(
        {
            "k": list(range(len(starts))),
            "period_start": list(starts),
            "period_end": [d - dt.timedelta(days=1) for d in nexts],
            "next_start": nexts,
        },
        schema={"k": "int64", "period_start": "date", "period_end": "date", "next_start": "date"},
    )


def _d(day: dt.date) -> ir.DateScalar:
    return ibis.literal(day, type="date")


def _to_units(acct: ir.Table, units: ir.Table, keys: Sequence[str], value: str) -> ir.Table:
    """Account-level sums → unit-level sums (accounts without a unit are dropped)."""
    umap = units.select(_acct=units.account_id, unit_id=units.unit_id)
    j = acct.join(umap, acct.account_id == umap._acct)
    return j.group_by(["unit_id", *keys]).aggregate(**{value: j[value].sum()})


def _order_revenue(orders: ir.Table, period: str, lo: ir.DateValue | None, hi: ir.DateValue) -> ir.Table:
    """``account_id``, ``period_start``, ``revenue``: net order amounts per account and period, dated [lo, hi)."""
    kept = [orders.account_id.notnull(), orders.amount.notnull(), orders.order_date < hi]
    if lo is not None:
        kept.append(orders.order_date >= lo)
    o = orders.filter(*kept)
    o = o.select("account_id", period_start=o.order_date.cast("date").truncate(_TRUNC[period]), amount=o.amount)
    return o.group_by(["account_id", "period_start"]).aggregate(revenue=o.amount.sum().cast("float64"))


def period_revenue(
    orders: ir.Table | None,
    subscriptions: ir.Table | None,
    units: ir.Table,
    *,
    period: str,
    start: dt.date | str,
    end: dt.date | str,
) -> ir.Table:
    """Net revenue per unit and calendar period (lazy); only rows with revenue ≠ 0.

    Parameters
    ----------
    orders
        ``account_id``, ``order_date``, ``amount`` (negative = credit note),
        or None.
    subscriptions
        ``account_id``, ``start_date``, ``end_date`` (exclusive, null =
        running), ``mrr``, or None.
    units
        ``account_id`` → ``unit_id`` (one row per account).
    period
        ``month``, ``quarter`` or ``year``.
    start, end
        The range; only periods fully inside it count (see :func:`period_starts`).

    Returns
    -------
    ibis.expr.types.Table
        ``unit_id``, ``period_start`` (date), ``revenue`` (float64).

    Examples
    --------
    >>> import ibis
    >>> subs = ibis.memtable({"account_id": ["a"], "start_date": [dt.date(2024, 1, 16)],
    ...                       "end_date": [None], "mrr": [30.4375]}, schema={"account_id": "string",
    ...                       "start_date": "date", "end_date": "date", "mrr": "float64"})
    >>> units = ibis.memtable({"account_id": ["a"], "unit_id": ["A"]})
    >>> r = period_revenue(None, subs, units, period="month", start="2024-01-01", end="2024-02-29")
    >>> ibis.duckdb.connect().to_pandas(r.order_by("period_start")).revenue.tolist()  # 16 days, 29 days
    [16.0, 29.0]
    """
    if orders is None and subscriptions is None:
        raise InputError("period revenue needs an orders or a subscriptions table")
    starts = period_starts(period, start, end)
    lo, hi = _d(starts[0]), _d(_next_start(starts[-1], period))
    parts = []
    if orders is not None:
        parts.append(_order_revenue(orders, period, lo, hi))
    if subscriptions is not None:
        s = subscriptions
        s = s.filter(
            s.account_id.notnull(), s.mrr.notnull(), s.start_date < hi, s.end_date.isnull() | (s.end_date > lo)
        )
        p = _periods_table(starts, period)
        # one row per (subscription, period it overlaps): bounded by the subscriptions' lengths, not by units × periods
        j = s.join(p, [s.start_date < p.next_start, s.end_date.isnull() | (s.end_date > p.period_start)])
        stop = ibis.least(ibis.coalesce(j.end_date, j.next_start), j.next_start)
        days = ibis.greatest(stop.delta(ibis.greatest(j.start_date, j.period_start), unit="day"), 0)
        j = j.select("account_id", "period_start", amount=j.mrr * days / DAYS_PER_MONTH)
        parts.append(
            j.group_by(["account_id", "period_start"]).aggregate(revenue=j.amount.sum().cast("float64"))
        )
    acct = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    out = _to_units(acct, units, ["period_start"], "revenue")
    # Money is rounded like the feature table's, so a fully credited purchase nets to exactly 0.
    out = out.mutate(revenue=out.revenue.round(MONEY_DECIMALS))
    return out.filter(out.revenue != 0).select("unit_id", "period_start", "revenue")


def _index_periods(period_revenue: ir.Table, periods: Sequence[dt.date] | None) -> ir.Table:
    """k (0..), period_start: the given periods, else the distinct ones in the data."""
    if periods is not None:
        starts = sorted({as_date(d, "periods") for d in periods})
        return ibis.memtable(
            {"k": list(range(len(starts))), "period_start": starts}, schema={"k": "int64", "period_start": "date"}
        )
    ps = period_revenue.select("period_start").distinct()
    return ps.mutate(k=ibis.dense_rank().over(order_by=ps.period_start).cast("int64"))


def _pair_with_previous(t: ir.Table, key: str, value: str) -> ir.Table:
    """Each unit's value per period next to its value in the period before.

    ``t`` has at most one row per (``unit_id``, ``key``), ``key`` counting
    periods 0, 1, .... Returns ``unit_id``, ``key``, ``now``, ``prev`` and
    ``first`` (the unit's first ``key`` with value > 0), where ``prev`` is the
    value at ``key − 1`` when that was > 0, else 0: one row per input row,
    plus a row with ``now = 0`` for the period after each positive value that
    has no successor (a unit that stopped still has to show up as churned).

    One sorted window per unit instead of a join of each period with the
    previous one or a units × periods grid: the output stays within twice
    the input however many units and periods there are.
    """
    w = ibis.window(group_by=t.unit_id, order_by=t[key])
    t = t.mutate(_v=t[value].cast("float64"))
    t = t.mutate(
        _pk=t[key].lag().over(w),
        _pv=t._v.lag().over(w),
        _nk=t[key].lead().over(w),
        first=ibis.ifelse(t._v > 0, t[key], ibis.null("int64")).min().over(ibis.window(group_by=t.unit_id)),
    )
    zero = ibis.literal(0.0, type="float64")
    adjacent = (t._pk == t[key] - 1) & (t._pv > 0)
    present = t.select("unit_id", key, "first", now=t._v, prev=ibis.ifelse(adjacent, t._pv, zero))
    stopped = t.filter(t._v > 0, t._nk.isnull() | (t._nk != t[key] + 1))
    gone = stopped.select("unit_id", "first", **{key: stopped[key] + 1}, now=zero, prev=stopped._v)
    return ibis.union(present, gone.select(*present.columns), distinct=False)


def active_before(
    orders: ir.Table | None,
    subscriptions: ir.Table | None,
    units: ir.Table,
    *,
    period: str,
    before: dt.date | str,
) -> ir.Table:
    """Units active in some calendar period before ``before`` (lazy): ``unit_id``, one row each.

    The history :func:`customer_flow` needs so that a unit returning after a pause that began
    before the range shown is reactivated, not new. ``before`` is the first day of the range's
    first period.

    * Orders: net order amounts per unit and calendar ``period`` (as :func:`period_revenue`
      sums them) > 0 in some period before ``before``;
    * subscriptions: a subscription with ``mrr > 0`` covering at least one day before
      ``before``. Recognising every subscription's revenue in every past period would multiply
      the rows by the subscriptions' lengths in periods (years of months); a subscription
      that earned revenue is a purchase, and only credit notes outweighing all of a period's
      subscription revenue could make that period inactive.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> orders = ibis.memtable(pd.DataFrame({"account_id": ["a", "b", "b", "c"],
    ...     "order_date": pd.to_datetime(["2023-11-05", "2023-12-01", "2023-12-20", "2024-01-02"]).date,
    ...     "amount": [10.0, 40.0, -40.0, 5.0]}))
    >>> units = ibis.memtable(pd.DataFrame({"account_id": ["a", "b", "c"], "unit_id": ["A", "B", "C"]}))
    >>> t = active_before(orders, None, units, period="month", before=dt.date(2024, 1, 1))
    >>> sorted(ibis.duckdb.connect().to_pandas(t).unit_id)  # B's purchase was credited in full; C is in range
    ['A']
    """
    if orders is None and subscriptions is None:
        raise InputError("the history of the flow needs an orders or a subscriptions table")
    _check_period(period)
    cut = _d(as_date(before, "before"))
    parts = []
    if orders is not None:
        per = _to_units(_order_revenue(orders, period, None, cut), units, ["period_start"], "revenue")
        # rounded like period_revenue, so a purchase credited in full is inactive here too
        per = per.filter(per.revenue.round(MONEY_DECIMALS) > 0)
        parts.append(per.select("unit_id"))
    if subscriptions is not None:
        s = subscriptions
        s = s.filter(s.account_id.notnull(), s.mrr > 0, s.start_date < cut,
                     s.end_date.isnull() | (s.end_date > s.start_date))
        umap = units.select(_acct=units.account_id, unit_id=units.unit_id)
        j = s.join(umap, s.account_id == umap._acct)
        parts.append(j.select("unit_id"))
    both = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    return both.distinct()


#: where :func:`customer_flow` puts the units active before the range: two steps before the first period,
#: so that the marker is never the "previous period" of a period shown but precedes every one of them
_BEFORE_RANGE = -2


def customer_flow(
    period_revenue: ir.Table,
    *,
    tolerance: float = 0.02,
    periods: Sequence[dt.date] | None = None,
    history: ir.Table | None = None,
) -> ir.Table:
    """New, retained (grown/flat/declined), churned and reactivated units per period, with the revenue bridge.

    Parameters
    ----------
    period_revenue
        ``unit_id``, ``period_start``, ``revenue`` with one row per
        (unit, period), as made by :func:`period_revenue`.
    tolerance
        Relative change within which a retained unit counts as flat.
    periods
        All period starts of the range (e.g. :func:`period_starts`). Pass
        them when a whole period may have no revenue at all: otherwise the
        periods are those present in the data, and an empty one would be
        skipped (its neighbours compared with each other).
    history
        ``unit_id`` of the units active before the first period
        (:func:`active_before`): they are never new in the range. None: the
        range is the whole history.

    Returns
    -------
    ibis.expr.types.Table
        One row per period from the second on, ordered: ``period_start``,
        ``prev_period_start``, ``start_revenue``, ``new_revenue``,
        ``growth``, ``decline``, ``churned_revenue``,
        ``reactivated_revenue``, ``end_revenue``, ``<category>_accounts``
        for new, grown, flat, declined, churned, reactivated, then
        ``retained_accounts``, ``active_start``, ``active_end``,
        ``logo_churn_rate``, ``dollar_churn_rate``. Definitions in the
        module docstring.

    Examples
    --------
    >>> import ibis
    >>> pr = ibis.memtable({"unit_id": ["A", "A", "A", "B"],
    ...                     "period_start": [dt.date(2024, m, 1) for m in (1, 2, 3, 3)],
    ...                     "revenue": [100.0, 101.0, 90.0, 20.0]})
    >>> f = ibis.duckdb.connect().to_pandas(customer_flow(pr))
    >>> f[["flat_accounts", "declined_accounts", "new_accounts"]].values.tolist()  # +1 % is flat
    [[1, 0, 0], [0, 1, 1]]
    >>> f[["growth", "decline", "new_revenue", "end_revenue"]].values.tolist()
    [[1.0, 0.0, 0.0, 101.0], [0.0, 11.0, 20.0, 110.0]]
    """
    if not tolerance >= 0:
        raise UsageError(f"tolerance must be >= 0, got {tolerance}")
    ps = _index_periods(period_revenue, periods)
    pr = period_revenue.join(ps, period_revenue.period_start == ps.period_start)
    r = pr.select("unit_id", "k", rev=pr.revenue)
    if history is not None:
        # One marker row per unit with earlier activity, inside the same per-unit window that finds each
        # unit's first active period: cheaper than joining every (unit, period) row with the history.
        h = history.select("unit_id").distinct()
        marker = h.select("unit_id", k=ibis.literal(_BEFORE_RANGE, type="int64"),
                          rev=ibis.literal(1.0, type="float64"))
        r = ibis.union(r.cast({"k": "int64", "rev": "float64"}), marker, distinct=False)
    g = _pair_with_previous(r, "k", "rev")
    g = g.filter(g.k >= 1)

    na, pa = g.now > 0, g.prev > 0
    retained = na & pa
    delta = (g.now - g.prev) / ibis.ifelse(pa, g.prev, ibis.null("float64"))
    cats = {
        "new": na & ~pa & (g.first == g.k),
        "grown": retained & (delta > tolerance),
        "flat": retained & (delta.abs() <= tolerance),
        "declined": retained & (delta < -tolerance),
        "churned": pa & ~na,
        "reactivated": na & ~pa & (g.first < g.k),
    }
    aggs: dict[str, ir.Value] = {
        "start_revenue": g.prev.sum(where=pa),
        "new_revenue": g.now.sum(where=cats["new"]),
        "growth": (g.now - g.prev).sum(where=retained & (g.now > g.prev)),
        "decline": (g.prev - g.now).sum(where=retained & (g.now < g.prev)),
        "churned_revenue": g.prev.sum(where=cats["churned"]),
        "reactivated_revenue": g.now.sum(where=cats["reactivated"]),
        "end_revenue": g.now.sum(where=na),
    }
    money = list(aggs)
    for c in CATEGORIES:
        aggs[f"{c}_accounts"] = g.unit_id.count(where=cats[c])
    aggs |= {
        "retained_accounts": g.unit_id.count(where=retained),
        "active_start": g.unit_id.count(where=pa),
        "active_end": g.unit_id.count(where=na),
    }
    counts = [c for c in aggs if c not in money]
    per = g.group_by("k").aggregate(**aggs)

    # every period from the second on gets a row, even one where nothing happened
    cur = ps.filter(ps.k >= 1).select(_k=ps.k, period_start=ps.period_start)
    prev = ps.select(_pk=ps.k + 1, prev_period_start=ps.period_start)
    j = cur.left_join(prev, cur._k == prev._pk).left_join(per, cur._k == per.k)
    cols: dict[str, ir.Value] = {"period_start": j.period_start, "prev_period_start": j.prev_period_start}
    cols |= {c: j[c].fill_null(0.0) for c in money}
    cols |= {c: j[c].fill_null(0).cast("int64") for c in counts}
    out = j.select(**cols)
    out = out.mutate(
        logo_churn_rate=out.churned_accounts / out.active_start.nullif(0),
        dollar_churn_rate=out.churned_revenue / out.start_revenue.nullif(0.0),
    )
    return out.order_by("period_start")


def _arr_on(subscriptions: ir.Table, units: ir.Table, days: Sequence[dt.date]) -> ir.Table:
    """``unit_id``, ``j`` (index into ``days``), ``arr`` > 0: 12 × MRR covering each day."""
    snaps = ibis.memtable({"j": list(range(len(days))), "day": list(days)}, schema={"j": "int64", "day": "date"})
    s = subscriptions
    s = s.filter(s.account_id.notnull(), s.mrr.notnull())
    j = s.join(snaps, [s.start_date <= snaps.day, s.end_date.isnull() | (s.end_date > snaps.day)])
    acct = j.group_by(["account_id", "j"]).aggregate(arr=(12.0 * j.mrr).sum().cast("float64"))
    unit = _to_units(acct, units, ["j"], "arr")
    return unit.filter(unit.arr > 0)


def subscription_flow(
    subscriptions: ir.Table,
    units: ir.Table,
    *,
    period: str,
    start: dt.date | str,
    end: dt.date | str,
) -> ir.Table:
    """ARR bridge per period: start, new, expansion, contraction, churned, end (lazy).

    Parameters
    ----------
    subscriptions
        ``account_id``, ``start_date``, ``end_date`` (exclusive, null =
        running), ``mrr``.
    units
        ``account_id`` → ``unit_id``.
    period, start, end
        As in :func:`period_revenue`: periods fully inside ``[start, end]``.

    Returns
    -------
    ibis.expr.types.Table
        One row per period, ordered: ``period_start``, ``period_end`` (last
        day), ``start_arr`` (ARR on the day before ``period_start``),
        ``new_arr``, ``expansion_arr``, ``contraction_arr``, ``churned_arr``,
        ``end_arr`` (ARR on ``period_end``), and unit counts
        ``start_units``, ``new_units``, ``expanded_units``,
        ``contracted_units``, ``churned_units``, ``end_units``.

    Examples
    --------
    >>> import ibis
    >>> subs = ibis.memtable({"account_id": ["a", "a"], "start_date": [dt.date(2023, 6, 1), dt.date(2024, 2, 10)],
    ...                       "end_date": [None, None], "mrr": [100.0, 50.0]})
    >>> units = ibis.memtable({"account_id": ["a"], "unit_id": ["A"]})
    >>> f = subscription_flow(subs, units, period="month", start="2024-01-01", end="2024-02-29")
    >>> ibis.duckdb.connect().to_pandas(f)[["start_arr", "expansion_arr", "end_arr"]].values.tolist()
    [[1200.0, 0.0, 1200.0], [1200.0, 600.0, 1800.0]]
    """
    starts = period_starts(period, start, end)
    p = _periods_table(starts, period)
    # snapshot 0 is the day before the first period; snapshot i + 1 the last day of period i
    days = [starts[0] - dt.timedelta(days=1)] + [_next_start(d, period) - dt.timedelta(days=1) for d in starts]
    arr = _arr_on(subscriptions, units, days)
    g = _pair_with_previous(arr, "j", "arr")
    g = g.filter(g.j >= 1, g.j <= len(starts))
    na, pa = g.now > 0, g.prev > 0
    # A unit's ARR is a sum of floats: summed in another order (another engine, more threads) an unchanged
    # ARR can differ in the last bits, which must not count as an expansion or a contraction.
    moved = (g.now - g.prev).abs() > SAME_ARR * (g.now.abs() + g.prev.abs())
    up, down = na & pa & moved & (g.now > g.prev), na & pa & moved & (g.now < g.prev)
    money = {
        "start_arr": g.prev.sum(),
        "new_arr": g.now.sum(where=~pa),
        "expansion_arr": (g.now - g.prev).sum(where=up),
        "contraction_arr": (g.prev - g.now).sum(where=down),
        "churned_arr": g.prev.sum(where=~na),
        "end_arr": g.now.sum(),
    }
    counts = {
        "start_units": g.unit_id.count(where=pa),
        "new_units": g.unit_id.count(where=na & ~pa),
        "expanded_units": g.unit_id.count(where=up),
        "contracted_units": g.unit_id.count(where=down),
        "churned_units": g.unit_id.count(where=pa & ~na),
        "end_units": g.unit_id.count(where=na),
    }
    per = g.group_by("j").aggregate(**money, **counts)
    j = p.left_join(per, p.k + 1 == per.j)
    cols: dict[str, ir.Value] = {"period_start": j.period_start, "period_end": j.period_end}
    cols |= {c: j[c].fill_null(0.0) for c in money}
    cols |= {c: j[c].fill_null(0).cast("int64") for c in counts}
    return j.select(**cols).order_by("period_start")


def retention_rates(
    subscriptions: ir.Table,
    units: ir.Table,
    *,
    start: dt.date | str,
    end: dt.date | str,
) -> ir.Table:
    """Net and gross revenue retention of the units with ARR on ``start``, measured on ``end`` (lazy).

    Returns
    -------
    ibis.expr.types.Table
        One row: ``start_date``, ``end_date``, ``start_units`` (units with
        ARR on ``start``), ``retained_units`` (of those, units with ARR on
        ``end``), ``start_arr``, ``end_arr`` (ARR on ``end`` of the same
        units), ``nrr`` = end_arr / start_arr, ``grr`` = Σ min(end, start)
        / start_arr. ``start_arr`` is 0 and the rates null when no unit has
        ARR on ``start``.

    Examples
    --------
    >>> import ibis
    >>> subs = ibis.memtable({"account_id": ["a", "b", "c"], "mrr": [100.0, 50.0, 80.0],
    ...     "start_date": [dt.date(2023, 1, 1), dt.date(2023, 1, 1), dt.date(2024, 3, 1)],
    ...     "end_date": [None, dt.date(2024, 6, 1), None]})
    >>> units = ibis.memtable({"account_id": ["a", "b", "c"], "unit_id": ["A", "B", "C"]})
    >>> r = ibis.duckdb.connect().to_pandas(retention_rates(subs, units, start="2024-01-01", end="2024-12-31"))
    >>> r[["start_arr", "end_arr", "nrr", "grr"]].values.tolist()  # C is new: not counted; B churned
    [[1800.0, 1200.0, 0.6666666666666666, 0.6666666666666666]]
    """
    d0, d1 = as_date(start, "start"), as_date(end, "end")
    if not d0 < d1:
        raise UsageError(f"retention needs start before end, got {d0} and {d1}")
    arr = _arr_on(subscriptions, units, [d0, d1])
    s0 = arr.filter(arr.j == 0).select(unit_id=arr.unit_id, a0=arr.arr)
    s1 = arr.filter(arr.j == 1).select(_u=arr.unit_id, a1=arr.arr)
    j = s0.left_join(s1, s0.unit_id == s1._u)
    a1 = j.a1.fill_null(0.0)
    agg = j.aggregate(
        start_units=j.unit_id.count(),
        retained_units=j.unit_id.count(where=a1 > 0),
        start_arr=j.a0.sum(),
        end_arr=a1.sum(),
        kept=ibis.least(a1, j.a0).sum(),
    )
    start_arr = agg.start_arr.fill_null(0.0)
    return agg.select(
        start_date=_d(d0),
        end_date=_d(d1),
        start_units=agg.start_units.cast("int64"),
        retained_units=agg.retained_units.cast("int64"),
        start_arr=start_arr,
        end_arr=agg.end_arr.fill_null(0.0),
        nrr=agg.end_arr / start_arr.nullif(0.0),
        grr=agg.kept / start_arr.nullif(0.0),
    )
