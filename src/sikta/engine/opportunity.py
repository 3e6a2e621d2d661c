"""Obvious revenue potential nobody acts on (SPEC §4.2, seed 001 step 1): outflow, whitespace,
up-sell and reactivation, read off the feature table.

Every function takes the per-unit feature table (:mod:`sikta.engine.features`)
and returns a lazy Ibis table; the caller executes it. Columns an input lacks
(a hand-made table, or a source table that was never loaded) are treated as
null, and a null input never fires a signal nor produces a number.

**Unwanted outflow** (:func:`outflow`) lists current customers (``status =
'customer'``) with at least one warning signal:

=======================  ==================================================================
signal                   fires when
=======================  ==================================================================
``revenue_decline``      ``revenue_growth <= -decline_threshold``
``orders_stopped``       ``recency_days`` > ``gap_factor`` × the unit's typical order gap
                         (and > ``min_stop_days``); the typical gap is
                         (last_order_date − first_order_date) / (orders_lifetime − 1) days,
                         else 365.25 / frequency_12m, trusted only with at least
                         ``min_orders`` orders; with fewer, ``recency_days > default_stop_days``
``usage_decline``        ``usage_trend <= -usage_drop`` (last 90 days vs the 90 before)
``mrr_contraction``      ``mrr_change_12m < 0``
``interactions_stopped`` ``days_since_last_interaction > silence_days`` (so it had one before)
=======================  ==================================================================

``revenue_at_risk`` is the largest of the **yearly** amounts that the fired
signals say is leaving - the largest, not the sum, because the signals
overlap (lost MRR is also part of a revenue decline). With a feature window
of ``w`` months (``*_12m`` columns then hold ``w`` months) window sums are
scaled by 12 / ``w``, so revenue at risk is per year whatever the window:

* revenue decline: ``revenue_prev_12m - revenue_12m`` (revenue already lost per year);
* orders stopped: ``order_revenue_12m`` (else ``revenue_12m``): the order revenue that
  stops if the silence is real;
* MRR contraction: ``-12 × mrr_change_12m`` (the annualised lost MRR);
* usage decline: ``-usage_trend × 12 × mrr`` (the share of the subscription that follows
  the usage);
* interactions stopped: no amount of its own, it only adds to ``n_signals``.

**Lookalike peers** (:func:`whitespace`, :func:`upsell`, :func:`reactivation`)
are the units sharing the unit's ``peer_group`` (by default industry and
:func:`size_band`). When that group has fewer than ``min_peers`` peers the
unit falls back to a shorter key (industry only), then to everybody
(``peer_level`` says which: ``industry+size_band``, ``industry`` or ``all``);
with fewer than ``min_peers`` in total the unit gets no row. For whitespace and
up-sell the peers are all customers in the group *including the unit itself*,
so an adoption rate is the share of the group that buys the line; for
reactivation they are the active customers (``revenue_12m > 0``), which the
unit by definition is not. Medians are the DuckDB ``median`` (the mean of the
two middle values for an even count).

Examples
--------
>>> import ibis, pandas as pd
>>> f = ibis.memtable(pd.DataFrame({"unit_id": ["A", "B"], "status": ["customer", "customer"],
...     "revenue_12m": [60.0, 100.0], "revenue_prev_12m": [100.0, 100.0],
...     "revenue_growth": [-0.4, 0.0]}))
>>> out = ibis.duckdb.connect().to_pandas(outflow(f))
>>> out[["unit_id", "revenue_at_risk", "n_signals", "signals"]].values.tolist()
[['A', 40.0, 1, 'revenue −40 % vs previous 12 months']]
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from sikta.engine.opportunity_peers import (
    SIZE_BANDS,
    line_columns,
    lookalike_key,
    reactivation,
    size_band,
    upsell,
    whitespace,
    with_inputs,
)
from sikta.errors import UsageError

__all__ = [
    "OUTFLOW_SIGNALS",
    "SIZE_BANDS",
    "line_columns",
    "lookalike_key",
    "outflow",
    "reactivation",
    "size_band",
    "upsell",
    "whitespace",
]

#: the boolean signal columns of :func:`outflow`, in output order
OUTFLOW_SIGNALS = ("revenue_decline", "orders_stopped", "usage_decline", "mrr_contraction", "interactions_stopped")


# -- unwanted outflow ----------------------------------------------------------------------------


def _int_text(value: ir.NumericValue) -> ir.StringValue:
    return value.round(0).cast("int64").cast("string")


def _days_text(value: ir.NumericValue) -> ir.StringValue:
    """``'1 day'``, ``'12 days'``: whole days in words."""
    n = value.round(0).cast("int64")
    return n.cast("string") + ibis.ifelse(n == 1, " day", " days")


def outflow(
    f: ir.Table,
    *,
    decline_threshold: float = 0.2,
    usage_drop: float = 0.3,
    silence_days: int = 180,
    gap_factor: float = 3.0,
    min_orders: int = 4,
    min_stop_days: int = 30,
    default_stop_days: int = 180,
    window_months: int = 12,
) -> ir.Table:
    """Current customers whose revenue is falling or whose activity stopped, by revenue at risk.

    The signals and ``revenue_at_risk`` are defined in the module docstring.

    Parameters
    ----------
    f
        The feature table.
    decline_threshold
        Revenue decline signal: last 12 months at least this fraction below the previous 12.
    usage_drop
        Usage decline signal: usage events of the last 90 days at least this fraction below
        the 90 days before.
    silence_days
        Interactions stopped: no interaction for more than this many days.
    gap_factor, min_orders, min_stop_days, default_stop_days
        Orders stopped: no order for more than ``gap_factor`` typical gaps (a Poisson
        buyer stays silent that long with probability e⁻³ ≈ 5 %) and more than
        ``min_stop_days``; units with fewer than ``min_orders`` orders have no trusted gap
        and fire after ``default_stop_days``.
    window_months
        The feature table's window: ``revenue_12m`` / ``revenue_prev_12m`` are sums over this
        many months. Revenue at risk is always per year, so window sums are scaled by
        12 / ``window_months``; the words name the window.

    Returns
    -------
    ibis.expr.types.Table
        One row per flagged customer: ``unit_id``, ``name``, ``industry``, ``revenue_12m``,
        ``revenue_prev_12m``, ``revenue_at_risk``, ``n_signals``, ``signals`` (the fired
        signals in words, ``; ``-separated), the :data:`OUTFLOW_SIGNALS` booleans and
        ``typical_gap_days``; sorted by revenue_at_risk, then n_signals (both descending),
        then unit_id.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> f = ibis.memtable(pd.DataFrame({"unit_id": ["A", "B"], "status": ["customer", "former"],
    ...     "mrr": [100.0, 0.0], "mrr_change_12m": [-40.0, -80.0], "usage_trend": [-0.5, None]}))
    >>> out = ibis.duckdb.connect().to_pandas(outflow(f))
    >>> out[["unit_id", "revenue_at_risk", "n_signals", "signals"]].values.tolist()
    [['A', 600.0, 2, 'usage −50 % (90 days); MRR −40 vs 12 months ago']]
    """
    if min_orders < 2:
        raise UsageError("min_orders must be at least 2: a gap needs two orders")
    f = with_inputs(f)
    c = f.filter(f.status == "customer")

    span = c.last_order_date.delta(c.first_order_date, unit="day")
    lifetime_gap = ibis.ifelse(c.orders_lifetime >= min_orders, span / (c.orders_lifetime - 1), ibis.null("float64"))
    window_gap = ibis.ifelse(c.frequency_12m >= min_orders, 365.25 / c.frequency_12m, ibis.null("float64"))
    gap = ibis.coalesce(lifetime_gap, window_gap)
    stop_after = ibis.ifelse(gap.notnull(), ibis.greatest(gap_factor * gap, min_stop_days), default_stop_days)
    c = c.mutate(
        typical_gap_days=gap,
        revenue_decline=(c.revenue_growth <= -decline_threshold).fill_null(False),
        orders_stopped=(c.recency_days > stop_after).fill_null(False),
        usage_decline=(c.usage_trend <= -usage_drop).fill_null(False),
        mrr_contraction=(c.mrr_change_12m < 0).fill_null(False),
        interactions_stopped=(c.days_since_last_interaction > silence_days).fill_null(False),
    )
    c = c.filter(ibis.or_(*(c[s] for s in OUTFLOW_SIGNALS)))

    per_year = 12.0 / window_months
    amounts = {
        "revenue_decline": (c.revenue_prev_12m - c.revenue_12m) * per_year,
        "orders_stopped": ibis.coalesce(c.order_revenue_12m, c.revenue_12m) * per_year,
        "mrr_contraction": -12 * c.mrr_change_12m,
        "usage_decline": -c.usage_trend * 12 * c.mrr,
    }
    at_risk = ibis.greatest(
        0.0, *(ibis.ifelse(c[s], ibis.coalesce(amount.cast("float64"), 0.0), 0.0) for s, amount in amounts.items())
    )
    gap_text = ibis.coalesce(" (usual gap " + _days_text(c.typical_gap_days) + ")", "")
    words = {
        "revenue_decline": "revenue −" + _int_text(-100 * c.revenue_growth) + f" % vs previous {window_months} months",
        "orders_stopped": "no order for " + _days_text(c.recency_days) + gap_text,
        "usage_decline": "usage −" + _int_text(-100 * c.usage_trend) + " % (90 days)",
        "mrr_contraction": "MRR −" + _int_text(-c.mrr_change_12m) + f" vs {window_months} months ago",
        "interactions_stopped": "no interaction for " + _days_text(c.days_since_last_interaction),
    }
    # concat_ws skips nulls, so signals that did not fire leave no empty slot
    signals = ibis.literal("; ").join([ibis.ifelse(c[s], words[s], ibis.null("string")) for s in OUTFLOW_SIGNALS])
    n_signals = sum((c[s].cast("int64") for s in OUTFLOW_SIGNALS), ibis.literal(0, type="int64"))
    out = c.select(
        "unit_id",
        "name",
        "industry",
        "revenue_12m",
        "revenue_prev_12m",
        revenue_at_risk=at_risk,
        n_signals=n_signals,
        signals=signals,
        **{s: c[s] for s in OUTFLOW_SIGNALS},
        typical_gap_days=c.typical_gap_days,
    )
    return out.order_by([out.revenue_at_risk.desc(), out.n_signals.desc(), out.unit_id])
