"""Per-unit purchase-behavior inputs for the behavioral scheme (SPEC §4.4, seed 004), built in the engine.

The standard feature table says how much and how often a unit buys, not
*how*: whether it buys the cheap or the premium products of a line, at list
price or at a discount, whether it sends goods back, how regular its buying
cycle is and how much support it needs. Those are the traits that make a
customer price-, quality- or support-driven, and they need the order lines
and the catalogue, so they are aggregated here, in the engine; Python then
sees one row per unit.

All history up to ``as_of`` is used (``lookback_months`` limits it): a
buying style is a trait, and more lines measure it more precisely.

Columns (one row per unit that has any order, subscription or ticket):

``order_lines``
    order lines with amount > 0.
``orders``
    orders with a line > 0, counted per account and summed per unit (an order
    number belongs to one account: the same number at two accounts is two
    orders), as the feature table's ``orders_lifetime`` counts them.
``discount_rate``
    ``1 - Σ amount / Σ (quantity × list_price)`` over lines > 0 whose
    product has a list price > 0 and whose quantity is > 0; null without
    such lines (no catalogue prices).
``price_tier``
    mean over lines > 0 of the product's **price position within its
    product line**, 0 = cheapest, 1 = most premium: the mid-rank percentile
    ``(n_cheaper + n_cheaper_or_equal) / 2 / n`` of its reference price among
    the line's products. The reference price is the catalogue list price,
    else the mean unit price paid (``amount / quantity``, to a millionth) over all
    units' lines > 0 - so it works on transaction-only data too. Orders without a
    product line are ranked among all products without one.
``credit_share``
    credit notes (``-Σ amount`` of lines < 0) over ``Σ amount`` of lines > 0.
``order_interval_days``
    mean days between consecutive distinct order dates (the buying cycle);
    null with fewer than 2 dates.
``order_regularity``
    coefficient of variation (SD / mean, population SD) of those gaps:
    0 = like clockwork; null with fewer than 3 dates.
``tickets``
    support tickets opened in the period.
``active_days``
    days from the unit's first activity (order line > 0, subscription start
    or ticket) to its last (order line > 0, ticket, or a subscription running
    up to its end or ``as_of``), inclusive: the exposure for rates such as
    tickets per year.

Examples
--------
>>> import datetime as dt, ibis, pandas as pd
>>> con = ibis.duckdb.connect()
>>> orders = con.create_table("orders", pd.DataFrame({
...     "account_id": ["A", "A", "A", "B"], "order_id": ["1", "2", "3", "4"],
...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-31", "2024-03-01", "2024-02-01"]).date,
...     "product_id": ["cheap", "dear", "cheap", "dear"], "product_line": ["L"] * 4,
...     "quantity": [1.0, 1.0, -1.0, 2.0], "amount": [8.0, 100.0, -8.0, 180.0]}))
>>> products = con.create_table("products", pd.DataFrame({
...     "product_id": ["cheap", "dear"], "product_line": ["L", "L"], "list_price": [10.0, 100.0]}))
>>> h = con.create_table("h", pd.DataFrame({"account_id": ["A", "B"], "ultimate_parent_id": ["A", "B"],
...     "account_unit_id": ["A", "B"]}))
>>> b = behavior_inputs({"orders": orders, "products": products}, h, grain="account", as_of=dt.date(2024, 6, 30))
>>> r = con.to_pandas(b.order_by("unit_id")).set_index("unit_id")
>>> r[["discount_rate", "price_tier", "credit_share"]].round(4).loc["A"].tolist()
[0.0182, 0.5, 0.0741]
>>> int(r.loc["B", "order_lines"]), round(float(r.loc["B", "discount_rate"]), 4), float(r.loc["B", "price_tier"])
(1, 0.1, 0.75)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from sikta.engine.contract import GRAINS
from sikta.engine.features import as_date, unit_map
from sikta.engine.features_parts import ORDER_COLS, SUB_COLS, TICKET_COLS, ensure, minus_months
from sikta.errors import InputError, UsageError

__all__ = ["behavior_inputs", "BEHAVIOR_COLUMNS"]

#: output columns after ``unit_id``
BEHAVIOR_COLUMNS = (
    "order_lines",
    "orders",
    "discount_rate",
    "price_tier",
    "credit_share",
    "order_interval_days",
    "order_regularity",
    "tickets",
    "active_days",
)
_NO_LINE = "(no product line)"


def _reference_prices(o: ir.Table, products: ir.Table | None) -> ir.Table:
    """product_id, line, ref_price, tier: price position of every product within its line."""
    paid = o.filter((o.amount > 0) & (o.quantity > 0))
    # Rounded to a millionth: a mean of equal prices (0.85 on every line) comes out a few ulps apart
    # depending on how many lines there are and in which order the engine adds them, and unrounded
    # those products ranked in a random order - the price tiers changed from one run to the next.
    paid = paid.group_by("product_id").aggregate(
        paid_price=(paid.amount / paid.quantity).mean().round(6), paid_line=paid.product_line.min()
    )
    if products is not None and "product_id" in products.columns:
        p = ensure(products, {"product_id": "string", "product_line": "string", "list_price": "float64"})
        p = p.group_by("product_id").aggregate(
            list_price=p.list_price.max(where=p.list_price > 0), cat_line=p.product_line.min()
        )
        j = paid.outer_join(p, paid.product_id == p.product_id)
        ref = j.select(
            product_id=ibis.coalesce(j.product_id, j.product_id_right),
            line=ibis.coalesce(j.cat_line, j.paid_line, ibis.literal(_NO_LINE)),
            ref_price=ibis.coalesce(j.list_price, j.paid_price),
            list_price=j.list_price,
        )
    else:
        ref = paid.select(
            "product_id",
            line=ibis.coalesce(paid.paid_line, ibis.literal(_NO_LINE)),
            ref_price=paid.paid_price,
            list_price=ibis.null("float64"),
        )
    ref = ref.filter(ref.product_id.notnull() & ref.ref_price.notnull())
    w = ibis.window(group_by=ref.line, order_by=ref.ref_price)
    n = ref.product_id.count().over(ibis.window(group_by=ref.line))
    # rank() is the 0-based min rank (= products strictly cheaper); cume_dist × n = products cheaper or equal
    tier = (ibis.rank().over(w) + ibis.cume_dist().over(w) * n) / 2.0 / n
    return ref.mutate(tier=tier.cast("float64"))


#: Sums of whole numbers: each value is rounded to a multiple of ``1 / scale`` first, so that the sum, a
#: whole number of those steps, is exact and the same in any order. DuckDB adds floats on parallel threads in
#: no fixed order, and the last-bit differences moved the behavioral scheme's stability between two runs of
#: the same data (0.977-0.986 on Online Retail: the clustering orders its rows by these values). Exact while
#: a unit's total stays below 2**53 steps (900 billion at 1e-4); DECIMAL sums cost a third more time.
MONEY_STEPS = 1e4
TIER_STEPS = 1e9


def _exact_sum(x: ir.NumericValue, where: ir.BooleanValue, steps: float = MONEY_STEPS) -> ir.FloatingScalar:
    """``Σ x`` over the rows ``where`` holds, to ``1 / steps``, the same whatever order the engine adds them in."""
    return (x * steps).round().sum(where=where) / steps


def _order_counts(bought: ir.Table) -> ir.Table:
    """unit_id, orders: the orders of lines > 0 per account, summed per unit (see ``orders``)."""
    per = bought.filter(bought.order_id.notnull()).select("unit_id", "account_id", "order_id").distinct()
    return per.group_by("unit_id").aggregate(orders=per.count())


def _buying_cycle(bought: ir.Table) -> ir.Table:
    """unit_id, order_interval_days, order_regularity: the gaps between consecutive distinct order days.

    One sorted list of distinct days per unit instead of a ``LAG`` window over every (unit, day)
    pair: the window sorted 40M pairs at 1M accounts (11 s; the list 6 s). The gaps' sum telescopes
    to last − first; their squares are summed from the list in one expression (a derived list
    referenced twice would be computed twice once the selects merge). The population variance
    comes from integer sums, ``(n Σg² − (Σg)²) / n²``, so a perfectly regular unit has exactly 0.
    """
    lists = bought.group_by("unit_id").aggregate(_d=bought.order_date.collect().unique().sort())
    d = lists._d

    def square(i: ir.IntegerValue) -> ir.IntegerValue:
        gap = d[i].delta(d[i - 1], unit="day").cast("int64")
        return gap * gap

    squares = ibis.range(1, d.length()).map(square)
    sums = lists.select(
        "unit_id",
        _n=(d.length() - 1).cast("int64"),
        _s=d[d.length() - 1].delta(d[0], unit="day").cast("int64"),  # not d[-1]: Ibis gives Spark index 0
        _ss=squares.sums().cast("int64"),
    )
    mean = sums._s.cast("float64") / sums._n
    var = (sums._n * sums._ss - sums._s * sums._s).cast("float64") / (sums._n * sums._n).cast("float64")
    return sums.select(
        "unit_id",
        order_interval_days=ibis.ifelse(sums._n >= 1, mean, ibis.null("float64")),
        order_regularity=ibis.ifelse((sums._n >= 2) & (sums._s > 0), var.sqrt() / mean, ibis.null("float64")),
    )


def behavior_inputs(
    tables: Mapping[str, ir.Table],
    hierarchy: ir.Table,
    *,
    grain: str,
    as_of: dt.date | str,
    lookback_months: int | None = None,
    order_counts: ir.Table | None = None,
) -> ir.Table:
    """Purchase-behavior inputs per unit at ``grain``, from events up to ``as_of`` (lazy).

    Parameters
    ----------
    tables
        Contract tables by name; ``orders`` gives the purchase columns,
        ``products`` the list prices (optional), ``subscriptions`` and
        ``tickets`` the exposure and the ticket count (optional).
    hierarchy
        The ingest hierarchy table (``account_id``, ``ultimate_parent_id``,
        ``account_unit_id``).
    grain
        ``ultimate_parent``, ``account`` or ``department``.
    as_of
        Nothing dated after it is read.
    lookback_months
        Only events in the last this many months (default: all history).
    order_counts
        ``unit_id``, ``orders``: the order counts to report instead of counting
        the lines here, for all history only (the feature table of the same
        grain and ``as_of`` has them as ``orders_lifetime``). Counting the
        orders of every line is the costliest part of this query: 11 of 26 s
        at 1M accounts.

    Returns
    -------
    ibis.expr.types.Table
        ``unit_id`` then :data:`BEHAVIOR_COLUMNS` (see the module notes);
        units without any order, subscription or ticket have no row.
    """
    if grain not in GRAINS:
        raise UsageError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")
    if lookback_months is not None and (not isinstance(lookback_months, int) or lookback_months < 1):
        raise UsageError(f"lookback_months must be a positive integer, not {lookback_months!r}")
    if "orders" not in tables and "subscriptions" not in tables:
        raise InputError("behavior inputs need an orders or a subscriptions table")
    if order_counts is not None and lookback_months is not None:
        raise UsageError("order_counts are counts over all history: give them without lookback_months")
    as_of = as_date(as_of)
    start = minus_months(as_of, lookback_months) if lookback_months else None
    units = unit_map(hierarchy, grain)
    lit = lambda d: ibis.literal(d, type="date")  # noqa: E731
    # Every part is an aggregate per unit that appears once in the plan: the first and last dates of
    # activity travel with each part instead of being unioned from them. A part read twice becomes a
    # shared CTE, and at 100M lines the order aggregate then ran under memory pressure (70 s for the
    # whole query at L against 30 s for its parts on their own).
    spanned: list[ir.Table] = []  # unit_id, <part>_first, <part>_last, further columns
    cycles = None

    if "orders" in tables:
        base = ensure(tables["orders"], ORDER_COLS | {"quantity": "float64"})
        kept = [base.account_id.notnull(), base.order_date <= lit(as_of)]
        if start is not None:
            kept.append(base.order_date > lit(start))
        # Each use of the order lines filters the table afresh instead of sharing one filtered, joined
        # table: a shared one becomes a CTE that DuckDB materializes - every line in memory, which
        # spilled to disk at 100M lines - while three scans of a column store are cheap.
        o = base.filter(*kept).join(units, "account_id")
        ref = _reference_prices(base.filter(*kept, base.amount > 0, base.quantity > 0), tables.get("products"))
        j = o.left_join(ref, o.product_id == ref.product_id)
        pos = j.amount > 0
        priced = pos & (j.quantity > 0) & j.list_price.notnull()
        agg = j.group_by("unit_id").aggregate(
            order_lines=j.amount.count(where=pos),
            _paid=_exact_sum(j.amount, priced),
            _list=_exact_sum(j.quantity * j.list_price, priced),
            price_tier=_exact_sum(j.tier, pos, TIER_STEPS) / j.amount.count(where=pos),
            _credit=_exact_sum(-j.amount, j.amount < 0),
            _gross=_exact_sum(j.amount, pos),
            o_first=j.order_date.min(where=pos),
            o_last=j.order_date.max(where=pos),
        )
        spanned.append(agg.select(
            "unit_id",
            "o_first",
            "o_last",
            "order_lines",
            "price_tier",
            discount_rate=ibis.ifelse(agg._list > 0, 1.0 - agg._paid / agg._list, ibis.null("float64")),
            credit_share=ibis.ifelse(agg._gross > 0, ibis.coalesce(agg._credit, 0.0) / agg._gross, ibis.null("float64")),
        ))
        bought = base.filter(*kept, base.amount > 0).join(units, "account_id")
        cycles = _buying_cycle(bought)
        if order_counts is None:
            order_counts = _order_counts(bought)

    if "subscriptions" in tables:
        s = ensure(tables["subscriptions"], SUB_COLS)
        s = s.filter(s.account_id.notnull(), s.start_date <= lit(as_of)).join(units, "account_id")
        end = ibis.least(ibis.coalesce(s.end_date, lit(as_of)), lit(as_of))
        if start is not None:
            s = s.filter(end > lit(start))
        first = ibis.greatest(s.start_date, lit(start)) if start is not None else s.start_date
        spanned.append(s.group_by("unit_id").aggregate(s_first=first.min(), s_last=end.max()))

    if "tickets" in tables:
        t = ensure(tables["tickets"], TICKET_COLS)
        opened = t.opened_at.date()
        t = t.mutate(opened=opened).filter(t.account_id.notnull(), opened <= lit(as_of))
        if start is not None:
            t = t.filter(t.opened > lit(start))
        t = t.join(units, "account_id")
        spanned.append(t.group_by("unit_id").aggregate(t_first=t.opened.min(), t_last=t.opened.max(), tickets=t.count()))

    out = spanned[0]
    for p in spanned[1:]:
        j = out.outer_join(p, out.unit_id == p.unit_id)
        out = j.mutate(unit_id=ibis.coalesce(j.unit_id, j.unit_id_right)).drop("unit_id_right")
    firsts = [out[c] for c in out.columns if c.endswith("_first")]
    lasts = [out[c] for c in out.columns if c.endswith("_last")]
    first = firsts[0] if len(firsts) == 1 else ibis.least(*firsts)
    last = lasts[0] if len(lasts) == 1 else ibis.greatest(*lasts)
    out = out.filter(first.notnull()).mutate(active_days=last.delta(first, unit="day") + 1)
    if cycles is not None:
        out = out.left_join(cycles, out.unit_id == cycles.unit_id).drop("unit_id_right")
    if order_counts is not None and "orders" in tables:
        counts = order_counts.select("unit_id", orders=order_counts.orders.cast("int64"))
        out = out.left_join(counts, out.unit_id == counts.unit_id).drop("unit_id_right")
    cols = {c: (out[c] if c in out.columns else ibis.null("float64")) for c in BEHAVIOR_COLUMNS}
    for c in ("order_lines", "orders", "tickets"):
        if c in out.columns:
            cols[c] = ibis.coalesce(out[c], 0)
        else:
            cols[c] = ibis.null("int64")
    return out.select("unit_id", **cols)
