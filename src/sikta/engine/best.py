"""Best customers: pick them, and what they bought and when (SPEC §4.2 "Best customers", 001).

Lazy Ibis transforms over the feature table (one row per unit) and, for the
purchase history, over the order lines - which stay in the engine; every
result here is small (one row per unit, per period or per product line).
What characterizes the best customers and which 1-3 factors separate them
is pure maths on the feature table (:mod:`sikta.core.stats`,
:mod:`sikta.core.drivers`); :data:`CANDIDATE_FEATURES` says which columns
those may use.

Two groups are compared throughout: **best** (``is_best``) and **rest** -
the other units that are customers at ``as_of``. Prospects and former
customers are in neither.

Examples
--------
>>> import ibis
>>> f = ibis.memtable({"unit_id": ["a", "b", "c", "d", "e"],
...                    "status": ["customer"] * 4 + ["prospect"],
...                    "revenue_12m": [50.0, 900.0, 300.0, 300.0, None]})
>>> b = select_best(f, top_n=2)
>>> got = ibis.duckdb.connect().to_pyarrow(b.order_by("unit_id").select("is_best", "best_rank")).to_pydict()
>>> got["is_best"], got["best_rank"]
([False, True, True, False, False], [4, 1, 2, 3, None])
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping

import ibis
import ibis.expr.types as ir

from sikta.engine.expressions import compile_expression, parse
from sikta.engine.opportunity_peers import Lines, per_line
from sikta.errors import UsageError

__all__ = [
    "CANDIDATE_FEATURES",
    "BEST_BY",
    "candidate_features",
    "is_rule",
    "product_line_columns",
    "product_mix",
    "purchase_history",
    "select_best",
]

#: Default driver candidates: what a customer *is* and *does*, not what it pays us.
#:
#: The drivers must be knowable for a prospect and must not restate the
#: outcome, or the answer is circular ("best customers have high revenue").
#: So: firmographics, needs (survey importance), and behaviour outside the
#: purchase itself (support, satisfaction, product usage, interactions,
#: tenure). Left out on purpose: everything on the revenue side - revenue,
#: monetary, margin, frequency, recency, order values, credit notes,
#: ``rev12_*``, product lines bought, subscriptions (mrr, arr, seats) - since
#: best customers are picked on those; ``owner`` (who sells to them is our
#: choice, not their trait); ``name``/``unit_id``; ``status``/``crm_status``/
#: ``lifecycle_stage`` (the population filter); ``nps_category`` (restates
#: ``nps``); ``n_members`` and ``account_type`` (how the CRM files the
#: hierarchy); usage *volume* (``usage_events_*``, ``active_users_30d``),
#: which grows with the seats a customer pays for and so restates revenue -
#: the usage *trend* stays. Entries with ``*`` are patterns over the table's columns; see
#: :func:`candidate_features`, which also drops the selection metric itself
#: when best customers were picked by one of these columns.
CANDIDATE_FEATURES: tuple[str, ...] = (
    # firmographics
    "industry", "employees", "annual_revenue", "country", "region", "sites", "legal_form",
    "founded_year", "tech_maturity", "channel_preference",
    # needs
    "need_*",
    # behaviour: product usage, support, satisfaction, interactions, tenure
    "usage_trend", "days_since_last_usage",
    "tickets_12m", "tickets_open", "tickets_high_12m", "avg_csat_12m", "avg_resolution_hours_12m",
    "nps", "satisfaction",
    "interactions_12m", "interactions_*_12m", "inbound_share_12m", "days_since_last_interaction",
    "tenure_days",
)  # fmt: skip

#: built-in selection metrics (anything else must name a numeric feature column)
BEST_BY = {
    "revenue": "revenue_12m",
    "margin": "revenue_12m × gross_margin_12m",
    "growth": "revenue_12m − revenue_prev_12m",
}

# A metric column drags along the candidates computed from it.
_DERIVED: dict[str, tuple[str, ...]] = {
    "usage_events_90d": ("usage_trend",),
    "usage_events_prev_90d": ("usage_trend",),
    "usage_trend": ("usage_events_90d", "usage_events_prev_90d"),
    "interactions_12m": ("interactions_*_12m", "inbound_share_12m"),
    "tickets_12m": ("tickets_high_12m",),
    "tickets_high_12m": ("tickets_12m",),
}


class _Default(float):
    """0.2 as a default that can be told apart from an explicit 0.2 (so top_n alone is enough)."""

    def __repr__(self) -> str:
        return "0.2"


_TOP_SHARE = _Default(0.2)


def candidate_features(columns: Iterable[str], by: str | None = "revenue") -> list[str]:
    """The :data:`CANDIDATE_FEATURES` present in ``columns``, patterns expanded, in table order.

    Parameters
    ----------
    columns
        Column names of a feature table (e.g. ``f.columns``).
    by
        The metric best customers were picked by: when it names a candidate
        column, that column and the ones derived from it are dropped.

    Examples
    --------
    >>> candidate_features(["unit_id", "revenue_12m", "industry", "need_price", "nps",
    ...                     "interactions_web_12m", "interactions_12m"])
    ['industry', 'need_price', 'nps', 'interactions_web_12m', 'interactions_12m']
    >>> candidate_features(["industry", "interactions_web_12m", "interactions_12m"], by="interactions_12m")
    ['industry']
    """
    drop: list[str] = []
    if by is not None and by not in BEST_BY:
        read = [by] if by.isidentifier() else sorted(parse(by).columns)  # a rule drops every column it reads
        drop = [c for r in read for c in (r, *_DERIVED.get(r, ()))]
    out = []
    for col in columns:
        if any(fnmatch.fnmatchcase(col, p) for p in drop):
            continue
        if any(fnmatch.fnmatchcase(col, p) for p in CANDIDATE_FEATURES):
            out.append(col)
    return out


def product_line_columns(columns: Iterable[str]) -> dict[str, str]:
    """``{line: column}`` for the ``rev12_<line>`` columns of a feature table (line = the slug).

    Examples
    --------
    >>> product_line_columns(["unit_id", "rev12_analytics", "rev12_core_platform", "revenue_12m"])
    {'analytics': 'rev12_analytics', 'core_platform': 'rev12_core_platform'}
    """
    return {c.removeprefix("rev12_"): c for c in columns if c.startswith("rev12_")}


def is_rule(by: str) -> bool:
    """Whether ``by`` is a rule (an expression) rather than a metric or a column name.

    Examples
    --------
    >>> is_rule("revenue"), is_rule("nps"), is_rule("revenue_12m > 50000 and gross_margin_12m > 0.3")
    (False, False, True)
    """
    return by not in BEST_BY and not by.isidentifier()


def _metric(f: ir.Table, by: str) -> ir.NumericValue:
    need = {"revenue": ["revenue_12m"], "margin": ["revenue_12m", "gross_margin_12m"],
            "growth": ["revenue_12m", "revenue_prev_12m"]}.get(by, [by])  # fmt: skip
    missing = [c for c in need if c not in f.columns]
    if missing:
        if by in BEST_BY:
            raise UsageError(f"best by {by} needs the column(s) {', '.join(missing)} in the feature table")
        raise UsageError(f"cannot pick best customers by {by!r}: use {', '.join(BEST_BY)} or a numeric feature column")
    if by == "revenue":
        return f.revenue_12m.cast("float64")
    if by == "margin":
        # Order-line margin applied to all revenue: subscription revenue has no cost of its own.
        return f.revenue_12m.cast("float64") * f.gross_margin_12m.cast("float64")
    if by == "growth":
        return f.revenue_12m.cast("float64") - f.revenue_prev_12m.cast("float64")
    if not f.schema()[by].is_numeric() or f.schema()[by].is_boolean():
        raise UsageError(f"cannot pick best customers by {by!r}: it is {f.schema()[by]}, not a number")
    return f[by].cast("float64")


def select_best(
    f: ir.Table, *, by: str = "revenue", top_n: int | None = None, top_share: float | None = _TOP_SHARE
) -> ir.Table:
    """Mark the best customers: the top of the customers by a metric (lazy).

    Parameters
    ----------
    f
        A feature table with ``unit_id``, ``status`` and the metric's columns.
    by
        ``"revenue"`` (``revenue_12m``), ``"margin"`` (``revenue_12m ×
        gross_margin_12m``: the order lines' margin applied to all revenue),
        ``"growth"`` (``revenue_12m − revenue_prev_12m``, absolute), the
        name of any numeric feature column (higher is better), or a rule in
        the model's expression language (``revenue_12m > 50000 and
        gross_margin_12m > 0.3``): then the best are the customers meeting
        it, ``top_share`` is ignored and ``top_n`` refused.
    top_n
        Take this many customers. Give either this or ``top_share``.
    top_share
        Take ``round(top_share × eligible)`` customers (halves round up),
        where eligible = customers (``status == 'customer'``) whose metric is
        not null. Default 0.2 - the seed's 80/20.

    Returns
    -------
    ibis.expr.types.Table
        ``f`` plus ``is_best`` (bool, never null), ``best_metric`` (the
        metric's value, for customers) and ``best_rank`` (1 = best, among
        eligible customers; null otherwise). Equal metrics are ranked by
        ``unit_id`` ascending, so the cut is deterministic.

    Raises
    ------
    UsageError
        For an unknown metric, both or neither of ``top_n`` / ``top_share``,
        or values out of range.

    Examples
    --------
    >>> import ibis
    >>> f = ibis.memtable({"unit_id": list("abcdefghij"), "status": ["customer"] * 10,
    ...                    "revenue_12m": [float(x) for x in range(10)],
    ...                    "revenue_prev_12m": [9.0 - x for x in range(10)]})
    >>> con = ibis.duckdb.connect()
    >>> sorted(con.to_pandas(select_best(f).filter(lambda t: t.is_best)).unit_id)
    ['i', 'j']
    >>> sorted(con.to_pandas(select_best(f, by="growth", top_share=0.3).filter(lambda t: t.is_best)).unit_id)
    ['h', 'i', 'j']
    """
    explicit_share = top_share is not None and not isinstance(top_share, _Default)
    if top_n is not None and explicit_share:
        raise UsageError("give top_n or top_share, not both")
    if top_n is None and top_share is None:
        raise UsageError("give top_n or top_share")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise UsageError(f"top_n must be a positive integer, not {top_n!r}")
    if top_n is None and not 0 < float(top_share) <= 1:
        raise UsageError(f"top_share must be in (0, 1], not {top_share!r}")
    for col in ("unit_id", "status"):
        if col not in f.columns:
            raise UsageError(f"the feature table has no column {col!r}")
    for col in ("is_best", "best_metric", "best_rank"):
        if col in f.columns:
            raise UsageError(f"the table already has a column {col!r}: select best customers on the feature table")

    if is_rule(by):
        return _select_by_rule(f, by, top_n)
    t = f.mutate(_best_m=_metric(f, by))
    t = t.mutate(_best_ok=(t.status == "customer") & t._best_m.notnull())
    t = t.mutate(
        _best_rn=ibis.row_number().over(
            ibis.window(order_by=[t._best_ok.desc(), t._best_m.desc(), t.unit_id.asc()])
        ),
        _best_n=t._best_ok.cast("int64").sum().over(ibis.window()),
    )
    k = ibis.literal(top_n) if top_n is not None else (t._best_n * float(top_share) + 0.5).floor()
    rank = t._best_rn + 1  # ibis numbers rows from 0
    t = t.mutate(
        is_best=t._best_ok & (rank <= k),
        best_metric=ibis.ifelse(t.status == "customer", t._best_m, ibis.null("float64")),
        best_rank=ibis.ifelse(t._best_ok, rank.cast("int64"), ibis.null("int64")),
    )
    return t.drop("_best_m", "_best_ok", "_best_rn", "_best_n")


def _select_by_rule(f: ir.Table, rule: str, top_n: int | None) -> ir.Table:
    """Best = the customers for whom the rule is true (null counts as no); ``best_rank`` orders them by ``unit_id``."""
    from sikta.errors import ModelError

    if top_n is not None:
        raise UsageError("a rule picks the best customers itself: give it without top_n")
    try:
        cond = compile_expression(rule, f, what="best customers rule")
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    if not cond.type().is_boolean():
        raise UsageError(f"best customers rule '{rule}' is {cond.type()}, not true/false")
    t = f.mutate(_best_ok=(f.status == "customer") & cond.fill_null(False))
    rank = ibis.row_number().over(ibis.window(order_by=[t._best_ok.desc(), t.unit_id.asc()])) + 1
    return t.mutate(
        is_best=t._best_ok,
        best_metric=ibis.ifelse(t.status == "customer", t._best_ok.cast("float64"), ibis.null("float64")),
        best_rank=ibis.ifelse(t._best_ok, rank.cast("int64"), ibis.null("int64")),
    ).drop("_best_ok")


def _groups(best: ir.Table) -> ir.Table:
    for col in ("unit_id", "status", "is_best"):
        if col not in best.columns:
            raise UsageError(f"the best-customer table has no column {col!r}: use select_best() first")
    b = best.filter(best.is_best.fill_null(False) | (best.status == "customer"))
    return b.select("unit_id", group=ibis.ifelse(b.is_best.fill_null(False), "best", "rest"))


_PERIODS = {"month": "M", "quarter": "Q", "year": "Y"}


def purchase_history(
    orders: ir.Table, units: ir.Table, best: ir.Table, *, period: str = "quarter", as_of: dt.date
) -> ir.Table:
    """Order revenue per period for the best customers and the rest (lazy, small output).

    Parameters
    ----------
    orders
        The order lines (``account_id``, ``order_date``, ``amount``); they
        are read in the engine, never loaded.
    units
        ``account_id`` → ``unit_id`` at the grain of ``best``
        (:func:`sikta.engine.features.unit_map`).
    best
        The output of :func:`select_best` (``unit_id``, ``status``, ``is_best``).
    period
        ``"month"``, ``"quarter"`` or ``"year"`` (calendar periods).
    as_of
        Order lines dated after it are ignored (as in the feature table).

    Returns
    -------
    ibis.expr.types.Table
        One row per group and period with order lines: ``group`` ('best' /
        'rest'), ``period_start`` (date), ``revenue`` (net order amount,
        credit notes included), ``units`` (units of the group with an order
        line > 0 in the period), ``group_units`` (units in the group) and
        ``revenue_per_unit`` (revenue / group_units - the groups differ in
        size). Subscription revenue is not included. Ordered by group, period.

    Examples
    --------
    >>> import datetime as dt, ibis
    >>> o = ibis.memtable({"account_id": ["a1", "a2", "b1", "b1"], "amount": [10.0, 5.0, 7.0, -1.0],
    ...                    "order_date": [dt.date(2025, 1, 5), dt.date(2025, 2, 1), dt.date(2025, 4, 2),
    ...                                   dt.date(2025, 5, 1)]})
    >>> u = ibis.memtable({"account_id": ["a1", "a2", "b1"], "unit_id": ["A", "A", "B"]})
    >>> best = ibis.memtable({"unit_id": ["A", "B"], "status": ["customer"] * 2, "is_best": [True, False]})
    >>> h = purchase_history(o, u, best, as_of=dt.date(2025, 12, 31))
    >>> ibis.duckdb.connect().to_pandas(h)[["group", "period_start", "revenue", "units"]].astype(str).values.tolist()
    [['best', '2025-01-01', '15.0', '1'], ['rest', '2025-04-01', '6.0', '1']]
    """
    if period not in _PERIODS:
        raise UsageError(f"period must be one of {', '.join(_PERIODS)}, not {period!r}")
    for col in ("account_id", "order_date", "amount"):
        if col not in orders.columns:
            raise UsageError(f"orders has no column {col!r}")
    g = _groups(best)
    sizes = g.group_by("group").aggregate(group_units=g.count())
    o = orders.filter(orders.account_id.notnull(), orders.order_date <= ibis.literal(as_of, type="date"))
    o = o.select("account_id", "amount", period_start=o.order_date.cast("date").truncate(_PERIODS[period]))
    # Per account and period first, then per unit: the lines are summed where they lie, and counting
    # buying units needs no distinct count over every line (5.8 s of an analysis at 100M lines).
    o = o.group_by(["account_id", "period_start"]).aggregate(revenue=o.amount.sum(), bought=(o.amount > 0).any())
    j = o.join(units, o.account_id == units.account_id).select("revenue", "bought", "period_start", "unit_id")
    j = j.join(g, j.unit_id == g.unit_id).select("revenue", "bought", "period_start", "group", "unit_id")
    u = j.group_by(["group", "period_start", "unit_id"]).aggregate(revenue=j.revenue.sum(), bought=j.bought.any())
    h = u.group_by(["group", "period_start"]).aggregate(
        revenue=u.revenue.sum(),
        units=u.bought.sum(),
    )
    h = h.join(sizes, h.group == sizes.group).select(
        "group", "period_start", "revenue", "units", "group_units",
        revenue_per_unit=h.revenue / sizes.group_units.cast("float64"),
    )  # fmt: skip
    return h.order_by(["group", "period_start"])


def product_mix(f_with_best: ir.Table, lines: Lines) -> ir.Table:
    """What the best customers buy compared to the rest, per product line (lazy, one row per line).

    Parameters
    ----------
    f_with_best
        The output of :func:`select_best`.
    lines
        ``{product line: feature column}`` of the window's revenue per line,
        e.g. :func:`product_line_columns` ``(f.columns)``, or a long table
        ``unit_id``, ``product_line``, ``rev`` (any number of lines).

    Returns
    -------
    ibis.expr.types.Table
        ``product_line``, ``column``, ``best_buyers`` / ``rest_buyers`` (share
        of the group's units with revenue > 0 in the line), ``lift``
        (best_buyers / rest_buyers), ``best_revenue_share`` /
        ``rest_revenue_share`` (the line's part of the group's revenue over
        the given lines: the mix) and ``best_share_of_line`` (the best
        customers' part of the line's revenue). Shares are null when their
        denominator is 0. Ordered by ``best_buyers``, largest first.

    Examples
    --------
    >>> import ibis
    >>> f = ibis.memtable({"unit_id": list("abcd"), "status": ["customer"] * 4, "is_best": [True, True, False, False],
    ...                    "rev12_x": [10.0, 0.0, 5.0, 5.0], "rev12_y": [10.0, 20.0, 0.0, None]})
    >>> m = ibis.duckdb.connect().to_pandas(product_mix(f, {"x": "rev12_x", "y": "rev12_y"}))
    >>> m[["product_line", "best_buyers", "rest_buyers", "best_revenue_share", "best_share_of_line"]].values.tolist()
    [['y', 1.0, 0.0, 0.75, 1.0], ['x', 0.5, 1.0, 0.25, 0.5]]
    """
    if not isinstance(lines, ir.Table):
        if not lines:
            raise UsageError("no product lines given (the feature table has no rev12_* columns?)")
        missing = [c for c in lines.values() if c not in f_with_best.columns]
        if missing:
            raise UsageError(f"the table has no column(s) {', '.join(missing)}")
    for col in ("status", "is_best"):
        if col not in f_with_best.columns:
            raise UsageError(f"the table has no column {col!r}: use select_best() first")
    t = f_with_best
    isb = t.is_best.fill_null(False)
    t = t.filter(isb | (t.status == "customer")).mutate(_b=isb)
    sizes = t.aggregate(_nb=t._b.cast("int64").sum(), _nr=(~t._b).cast("int64").sum())
    long = per_line(t, lines).join(t.select("unit_id", "_b"), "unit_id")
    pos = long.rev > 0
    g = long.group_by("product_line").aggregate(
        _bb=pos.cast("int64").sum(where=long._b), _rb=pos.cast("int64").sum(where=~long._b),
        _br=long.rev.sum(where=long._b), _rr=long.rev.sum(where=~long._b),
    )
    g = g.mutate(_br=g._br.fill_null(0.0), _rr=g._rr.fill_null(0.0), _bb=g._bb.fill_null(0), _rb=g._rb.fill_null(0))
    whole = ibis.window()
    g = g.mutate(_tb=g._br.sum().over(whole), _tr=g._rr.sum().over(whole)).cross_join(sizes)
    nb, nr = g._nb.cast("float64").nullif(0.0), g._nr.cast("float64").nullif(0.0)
    best_buyers, rest_buyers = g._bb.cast("float64") / nb, g._rb.cast("float64") / nr
    names = {} if isinstance(lines, ir.Table) else {str(k): v for k, v in lines.items()}
    column = (ibis.cases(*((g.product_line == k, ibis.literal(v)) for k, v in names.items()), else_=ibis.null("string"))
              if names and len(names) <= 200 else ibis.null("string"))
    out = g.select(
        product_line=g.product_line,
        column=column,
        best_buyers=best_buyers,
        rest_buyers=rest_buyers,
        lift=best_buyers / rest_buyers.nullif(0.0),
        best_revenue_share=g._br / g._tb.nullif(0.0),
        rest_revenue_share=g._rr / g._tr.nullif(0.0),
        best_share_of_line=g._br / (g._br + g._rr).nullif(0.0),
    )
    return out.order_by([out.best_buyers.desc(), out.product_line.asc()])
