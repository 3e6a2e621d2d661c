"""Subscription lifetimes per unit, built in the engine, for contractual CLV (SPEC §4.4).

A unit's **relationship** runs from its first subscription start to the day
its last subscription ended; it is **active** at the as-of date when any of
its subscriptions has started by then and has not ended (no end date, or an
end after the as-of date). A unit that lapsed and came back later counts as
one relationship from its first start to its final end: the gap is not a
churn the retention curve should see, and a renewal model cannot tell it
from a late renewal.

Only subscriptions that started by the as-of date exist for the analysis;
end dates after the as-of date are not known yet (the unit is active, its
duration is censored at the as-of date).

Examples
--------
>>> import datetime as dt, ibis, pandas as pd
>>> con = ibis.duckdb.connect()
>>> subs = con.create_table("s", pd.DataFrame({"account_id": ["a", "a", "b", "c"],
...     "start_date": pd.to_datetime(["2020-01-01", "2021-01-01", "2020-06-01", "2026-01-01"]).date,
...     "end_date": pd.to_datetime(["2021-01-01", None, "2022-06-01", None]).date,
...     "mrr": [100.0, 150.0, 50.0, 10.0]}))
>>> units = con.create_table("u", pd.DataFrame({"account_id": ["a", "b", "c"], "unit_id": ["A", "B", "C"]}))
>>> out = con.to_pandas(subscription_lifetimes(subs, units, as_of=dt.date(2023, 1, 1)).order_by("unit_id"))
>>> out[["unit_id", "active", "duration_days", "arr"]].values.tolist()
[['A', True, 1096, 1800.0], ['B', False, 730, 0.0]]
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from sikta.engine.features import as_date

__all__ = ["subscription_lifetimes"]


def subscription_lifetimes(subscriptions: ir.Table, units: ir.Table, *, as_of: dt.date | str) -> ir.Table:
    """One row per unit with a subscription started by ``as_of``.

    Returns
    -------
    ibis.Table
        ``unit_id``, ``start_date`` (first start), ``end_date`` (the final end;
        null while active), ``active``, ``duration_days`` (start to end, or to
        ``as_of`` while active), ``arr`` (12 × the MRR of the subscriptions
        running at ``as_of``; 0 once ended) and ``last_arr`` (12 × the MRR of
        the subscriptions running on the unit's last day: its value when it left).
    """
    day = as_date(as_of, "as_of")
    s = subscriptions.join(units, "account_id")
    s = s.filter(s.start_date.cast("date") <= day)
    start = s.start_date.cast("date")
    end = s.end_date.cast("date")
    running = end.isnull() | (end > day)
    known_end = ibis.ifelse(running, ibis.null("date"), end)
    per = s.mutate(_start=start, _end=known_end, _running=running)
    g = per.group_by("unit_id").aggregate(
        start_date=per._start.min(),
        last_end=per._end.max(),
        active=per._running.any(),
        arr=(12.0 * per.mrr.cast("float64")).sum(where=per._running).fill_null(0.0),
    )
    # what it paid on its last day: the subscriptions that ended on the final end date
    ended = per.filter(~per._running)
    last_day = ended.group_by("unit_id").aggregate(_last=ended._end.max())
    on_last = ended.join(last_day, "unit_id").filter(lambda t: t._end == t._last)
    last_arr = on_last.group_by("unit_id").aggregate(last_arr=(12.0 * on_last.mrr.cast("float64")).sum())
    g = g.left_join(last_arr, "unit_id").drop("unit_id_right")
    end_date = ibis.ifelse(g.active, ibis.null("date"), g.last_end)
    stop = ibis.ifelse(g.active, ibis.date(day), g.last_end)
    return g.select(
        "unit_id",
        "start_date",
        end_date=end_date,
        active=g.active,
        duration_days=stop.delta(g.start_date, unit="day").cast("int64"),
        arr=ibis.ifelse(g.active, g.arr, 0.0),
        last_arr=ibis.ifelse(g.active, g.arr, g.last_arr.fill_null(0.0)),
    )
