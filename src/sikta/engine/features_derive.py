"""Derived feature columns: ratios, statuses and casts over the joined per-unit parts.

:func:`final_columns` is the last step of
:func:`sikta.engine.features.build_features`. It reads the unit-level sums,
counts, minima and maxima of :mod:`features_parts` and turns them into the
features of :data:`FEATURE_DOCS`: means from sums and counts, totals over the
tables that exist, 0 for additive metrics of units without rows and typed
nulls for tables that are absent.

Examples
--------
>>> dtype_of("rev12_hardware"), dtype_of("interactions_web_12m"), dtype_of("nps")
('float64', 'int64', 'float64')
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from sikta.engine.features_catalog import FEATURE_TYPES
from sikta.engine.features_parts import ACCOUNT_COLS, FIRMOGRAPHICS, MODE_ATTRS, STATUS_RANK, Groups, Windows, groups


#: money sums are rounded to this many decimals (far below any currency's minor unit)
MONEY_DECIMALS = 6


def final_columns(
    j: ir.Table,
    present: set[str],
    grain: str,
    w: Windows,
    lines: tuple[str, ...],
    channels: Groups,
    needs: Groups,
    attributes: dict[str, str] | None = None,
) -> dict[str, ir.Value]:
    """Derived features over the joined parts, cast to their catalogue types, in catalogue order.

    ``attributes`` (``attr_<name>`` → type) are the mapping's extra account columns, placed after
    the firmographics.
    """
    attributes = attributes or {}
    as_of = ibis.literal(w.as_of, type="date")

    def null(dtype: str) -> ir.Value:
        return ibis.null(dtype)

    def add(col: str, dtype: str = "float64") -> ir.Value:
        """Additive metric: 0 for a unit without rows, null when its table is absent.

        Money is rounded to MONEY_DECIMALS so that a purchase fully credited
        nets to exactly 0 instead of float dust like 5.7e-14.
        """
        if col[0] not in present:
            return null(dtype)
        value = ibis.coalesce(j[col], 0).cast(dtype)
        return value.round(MONEY_DECIMALS) if dtype == "float64" else value

    def raw(col: str, dtype: str) -> ir.Value:
        return j[col] if col[0] in present else null(dtype)

    def ratio(num: ir.Value, den: ir.Value) -> ir.Value:
        return ibis.ifelse(den > 0, num / den, null("float64"))

    def days_since(day: ir.Value) -> ir.Value:
        return as_of.delta(day, unit="day")

    def total(*values: ir.Value | None) -> ir.Value:
        got = [v for v in values if v is not None]
        return sum(got[1:], got[0]).round(MONEY_DECIMALS) if got else null("float64")

    has_o, has_s = "o" in present, "s" in present
    c: dict[str, ir.Value] = {"unit_id": j.unit_id, "grain": ibis.literal(grain), "as_of": as_of}

    # firmographics: head first, member aggregate as fallback
    def fallback(attr: str) -> ir.Value:
        if grain == "department":
            return j[f"h_{attr}"]
        if attr in MODE_ATTRS:
            return ibis.coalesce(j[f"h_{attr}"], j[f"m_{attr}"].cast(ACCOUNT_COLS[attr]))
        return ibis.coalesce(j[f"h_{attr}"], j[f"f_{attr}"])

    for attr in FIRMOGRAPHICS:
        c[attr] = fallback(attr)
    for attr, dtype in attributes.items():
        if grain == "department":
            c[attr] = j[f"h_{attr}"]
        elif f"f_{attr}" in j.columns:
            c[attr] = ibis.coalesce(j[f"h_{attr}"], j[f"f_{attr}"])
        else:
            c[attr] = ibis.coalesce(j[f"h_{attr}"], j[f"m_{attr}"].cast(dtype))
    c["crm_status"] = j.f_rank.cases(*((r, s) for s, r in STATUS_RANK.items()))
    c["n_members"] = j.n_members

    # status
    if has_o or has_s:
        customer = total(
            add("o_pos_active", "int64") if has_o else None, add("s_active", "int64") if has_s else None
        )
        ever = total(add("o_pos_ever", "int64") if has_o else None, add("s_n", "int64") if has_s else None)
        status = ibis.ifelse(customer > 0, "customer", ibis.ifelse(ever > 0, "former", "prospect"))
    else:
        status = null("string")
    c["status"] = status

    # RFM
    last = raw("o_last", "date")
    c["first_order_date"] = raw("o_first", "date")
    c["last_order_date"] = last
    c["recency_days"] = days_since(last)
    c["frequency_12m"] = add("o_freq12", "int64")
    c["monetary_12m"] = add("o_rev12")
    c["orders_lifetime"] = add("o_orders", "int64")
    c["avg_order_value_12m"] = ratio(add("o_rev12"), add("o_freq12", "int64"))

    # revenue
    o12, s12 = add("o_rev12"), add("s_rev12")
    op, sp = add("o_revp"), add("s_revp")
    c["order_revenue_12m"] = o12
    c["order_revenue_prev_12m"] = op
    c["subscription_revenue_12m"] = s12
    c["subscription_revenue_prev_12m"] = sp
    rev12 = total(o12 if has_o else None, s12 if has_s else None)
    revp = total(op if has_o else None, sp if has_s else None)
    c["revenue_12m"] = rev12
    c["revenue_prev_12m"] = revp
    c["revenue_growth"] = ibis.ifelse(revp > 0, rev12 / revp - 1, null("float64"))
    c["revenue_lifetime"] = total(add("o_life") if has_o else None, add("s_life") if has_s else None)
    c["credit_notes_12m"] = add("o_credit12")
    # from the rounded sums: the raw ones differ in the last bits from one build to the next (parallel float sums)
    c["gross_margin_12m"] = ratio(add("o_camt12") - add("o_cost12"), add("o_camt12")) if has_o else null("float64")
    if has_o:
        y, m, d = w.as_of.year, w.as_of.month, w.as_of.day
        months = (y * 12 + m) - (last.year() * 12 + last.month()) - ibis.ifelse(last.day() > d, 1, 0)
    else:
        months = null("int64")
    c["months_since_last_order"] = months

    # products
    if lines and (has_o or has_s):
        life = [
            total(add(f"o_lf_{i}") if has_o else None, add(f"s_lf_{i}") if has_s else None)
            for i in range(len(lines))
        ]
        picked = ibis.array([ibis.ifelse(v > 0, ibis.literal(line), null("string")) for line, v in zip(lines, life)])
        c["n_product_lines"] = total(*(ibis.ifelse(v > 0, 1, 0) for v in life))
        c["product_lines"] = picked.filter(lambda x: x.notnull())
    elif has_o or has_s:
        c["n_product_lines"] = ibis.coalesce(j.l_n, 0)
        c["product_lines"] = ibis.coalesce(j.l_lines.sort(), ibis.literal([], type="array<string>"))
    else:
        c["n_product_lines"] = null("int64")
        c["product_lines"] = null("array<string>")
    for key, values in groups(lines):
        idx = [lines.index(v) for v in values]
        c[f"rev12_{key}"] = total(
            *(add(f"o_r12_{i}") for i in idx if has_o), *(add(f"s_r12_{i}") for i in idx if has_s)
        )

    # subscriptions
    mrr = add("s_mrr")
    c["mrr"] = mrr
    c["arr"] = 12 * mrr
    c["seats"] = add("s_seats", "int64")
    c["active_subscriptions"] = add("s_active", "int64")
    c["subscription_start"] = raw("s_start", "date")
    c["mrr_change_12m"] = mrr - add("s_mrr_then")

    # usage
    c["usage_events_90d"] = add("u_ev90", "int64")
    c["usage_events_prev_90d"] = add("u_evp", "int64")
    c["usage_trend"] = ratio(add("u_ev90", "int64"), add("u_evp", "int64")) - 1
    c["active_users_30d"] = (
        ibis.ifelse(j.u_au30_n > 0, j.u_au30.cast("float64") / 30.0, null("float64")) if "u" in present else null("float64")
    )
    c["days_since_last_usage"] = days_since(raw("u_last", "date"))

    # tickets
    c["tickets_12m"] = add("t_n12", "int64")
    c["tickets_open"] = add("t_open", "int64")
    c["tickets_high_12m"] = add("t_high12", "int64")
    c["avg_csat_12m"] = ratio(add("t_csat_sum"), add("t_csat_n", "int64"))
    c["avg_resolution_hours_12m"] = ratio(add("t_res_sum"), add("t_res_n", "int64"))

    # surveys
    nps = ratio(add("q_nps_sum"), add("q_nps_n", "int64"))
    c["nps"] = nps
    c["nps_category"] = ibis.cases((nps >= 9, "promoter"), (nps >= 7, "passive"), (nps < 7, "detractor"))
    c["satisfaction"] = ratio(add("q_sat_sum"), add("q_sat_n", "int64"))
    for i, (key, _) in enumerate(needs):
        c[key] = ratio(add(f"q_need_sum_{i}"), add(f"q_need_n_{i}", "int64"))

    # interactions
    c["interactions_12m"] = add("i_n12", "int64")
    for i, (key, _) in enumerate(channels):
        c[f"interactions_{key}_12m"] = add(f"i_ch_{i}", "int64")
    c["inbound_share_12m"] = ratio(add("i_in12", "int64"), add("i_dir12", "int64"))
    c["days_since_last_interaction"] = days_since(raw("i_last", "date"))
    if "i" in present:  # null for everybody when no interaction type names a competitor or a lost deal: no source
        comp = add("i_comp12", "int64")
        c["competitive_interactions_12m"] = ibis.ifelse(add("i_comp_all", "int64").sum().over(ibis.window()) > 0, comp,
                                                        null("int64"))
    else:
        c["competitive_interactions_12m"] = null("int64")

    # tenure
    if has_o or has_s:
        firsts = [j[k] for k, ok in (("o_first", has_o), ("s_start", has_s)) if ok]
        # LEAST skips nulls in DuckDB but not on every backend, hence the coalesces
        if len(firsts) == 1:
            first_rev = firsts[0]
        else:
            first_rev = ibis.least(ibis.coalesce(*firsts), ibis.coalesce(*firsts[::-1]))
        start = ibis.coalesce(j.f_first_seen, first_rev)
        onboarding = first_rev > ibis.literal(w.days_back(90), type="date")
        stage = ibis.cases(
            (status == "prospect", "prospect"),
            (status == "former", "former"),
            (onboarding, "onboarding"),
            else_="established",
        )
    else:
        start, stage = j.f_first_seen, null("string")
    c["tenure_days"] = days_since(start)
    c["lifecycle_stage"] = stage

    # purchase signals
    h1, h2 = add("o_fh1", "int64"), add("o_fh2", "int64")
    c["frequency_trend"] = ratio((h2 - h1).cast("float64"), (h1 + h2).cast("float64"))
    if has_o:
        span = j.o_last.delta(j.o_first, unit="day").cast("float64")
        gaps = (add("o_orders", "int64") - 1).cast("float64")
        c["recency_overdue"] = ibis.ifelse((gaps > 0) & (span > 0), c["recency_days"] * gaps / span,
                                           null("float64"))
    else:
        c["recency_overdue"] = null("float64")
    c["return_rate_12m"] = ratio(add("o_credit12"), add("o_rev12") + add("o_credit12"))
    c["products_12m"] = add("o_prod12", "int64")

    return {name: expr.cast(attributes.get(name) or dtype_of(name)) for name, expr in c.items()}


def dtype_of(name: str) -> str:
    """Ibis dtype of an output column, pattern-named ones included."""
    if name in FEATURE_TYPES:
        return FEATURE_TYPES[name]
    if name.startswith("rev12_") or name.startswith("need_"):
        return "float64"
    return "int64"  # interactions_<channel>_12m
