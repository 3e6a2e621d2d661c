"""The feature catalog: every column :func:`sikta.engine.features.build_features` writes.

One place names each feature, its group, its type and its definition, so the
docs, ``--help`` and the builder cannot disagree. "Window" below means the
``window_months`` months ending at ``as_of`` (default 12), i.e. the days
``d`` with ``as_of - window_months < d <= as_of``; "previous window" is the
same length immediately before it. Every event is cut at ``as_of``: nothing
dated after it is read.

Examples
--------
>>> FEATURE_DOCS["revenue_12m"].startswith("order_revenue_12m + subscription_revenue_12m")
True
>>> FEATURE_TYPES["frequency_12m"], FEATURE_GROUPS["recency_days"]
('int64', 'rfm')
>>> "rev12_<line>" in FEATURE_DOCS
True
"""

from __future__ import annotations

#: (name, group, dtype, definition) in output order; pattern rows have '<...>' in the name
_CATALOG: tuple[tuple[str, str, str, str], ...] = (
    ("unit_id", "key", "string", "the unit: id of the account heading it at the chosen grain"),
    ("grain", "key", "string", "the grain the features were built at: ultimate_parent, account or department"),
    ("as_of", "key", "date", "the cut-off date; no event after it is read"),
    # firmographics: the head account's value, else an aggregate over members
    ("name", "firmographics", "string", "head account's name (else the most frequent member name)"),
    ("industry", "firmographics", "string", "head's industry (else the most frequent among members)"),
    ("employees", "firmographics", "int64", "head's employees (else the sum over members)"),
    ("annual_revenue", "firmographics", "float64", "head's own turnover (else the sum over members)"),
    ("country", "firmographics", "string", "head's country (else the most frequent among members)"),
    ("region", "firmographics", "string", "head's region (else the most frequent among members)"),
    ("sites", "firmographics", "int64", "head's sites (else the sum over members)"),
    ("legal_form", "firmographics", "string", "head's legal form (else the most frequent among members)"),
    ("founded_year", "firmographics", "int64", "head's founded year (else the earliest among members)"),
    ("tech_maturity", "firmographics", "int64", "head's tech maturity 1-5 (else the most frequent among members)"),
    (
        "channel_preference",
        "firmographics",
        "string",
        "head's channel preference (else the most frequent among members)",
    ),
    ("owner", "firmographics", "string", "head's account owner (else the most frequent among members)"),
    ("account_type", "firmographics", "string", "head's account type (else the most frequent among members)"),
    (
        "attr_<name>",
        "firmographics",
        "as mapped",
        "an extra account column kept by the mapping's attributes: (typed as declared, else a number, a date or "
        "text as its values are); the head's value, else the sum (numbers), the earliest (dates) or the most "
        "frequent value (text) among members",
    ),
    (
        "crm_status",
        "firmographics",
        "string",
        "accounts.status as the CRM says today (not as of): customer if any member is, else former, else prospect",
    ),
    ("n_members", "firmographics", "int64", "accounts rolled into the unit (those with first_seen null or <= as_of)"),
    # status
    (
        "status",
        "status",
        "string",
        "derived at as_of: customer = a subscription active at as_of or an order line with amount > 0 in the "
        "last active_months; former = revenue (order line > 0 or subscription) before that but not since; "
        "prospect = none up to as_of",
    ),
    # RFM
    ("first_order_date", "rfm", "date", "date of the first order line with amount > 0 up to as_of"),
    ("last_order_date", "rfm", "date", "date of the last order line with amount > 0 up to as_of"),
    ("recency_days", "rfm", "int64", "as_of - last_order_date in days; null without orders"),
    (
        "frequency_12m",
        "rfm",
        "int64",
        "distinct (account, order_id) in the window having a line with amount > 0 (credit notes are not orders)",
    ),
    ("monetary_12m", "rfm", "float64", "net order amount in the window, credit notes included (= order_revenue_12m)"),
    ("orders_lifetime", "rfm", "int64", "distinct (account, order_id) up to as_of having a line with amount > 0"),
    ("avg_order_value_12m", "rfm", "float64", "monetary_12m / frequency_12m; null when frequency_12m is 0"),
    # revenue
    ("order_revenue_12m", "revenue", "float64", "sum of order amounts in the window (credit notes negative)"),
    ("order_revenue_prev_12m", "revenue", "float64", "sum of order amounts in the previous window"),
    (
        "subscription_revenue_12m",
        "revenue",
        "float64",
        "revenue recognised in the window: sum of mrr x days the subscription overlaps the window / (365.25/12); "
        "a subscription covers start_date <= d < end_date",
    ),
    ("subscription_revenue_prev_12m", "revenue", "float64", "as subscription_revenue_12m, over the previous window"),
    (
        "revenue_12m",
        "revenue",
        "float64",
        "order_revenue_12m + subscription_revenue_12m (a missing table contributes nothing)",
    ),
    ("revenue_prev_12m", "revenue", "float64", "order_revenue_prev_12m + subscription_revenue_prev_12m"),
    ("revenue_growth", "revenue", "float64", "revenue_12m / revenue_prev_12m - 1; null when revenue_prev_12m <= 0"),
    (
        "revenue_lifetime",
        "revenue",
        "float64",
        "all order amounts up to as_of + subscription revenue recognised up to as_of",
    ),
    ("credit_notes_12m", "revenue", "float64", "sum of negative order amounts in the window, as a positive number"),
    (
        "gross_margin_12m",
        "revenue",
        "float64",
        "(sum amount - sum cost) / sum amount over window order lines with a cost; null without cost or when "
        "that amount is <= 0",
    ),
    (
        "months_since_last_order",
        "revenue",
        "int64",
        "whole calendar months from last_order_date to as_of; null without orders",
    ),
    # products
    (
        "n_product_lines",
        "products",
        "int64",
        "product lines whose net revenue (orders + subscriptions) up to as_of is > 0 for the unit",
    ),
    ("product_lines", "products", "array<string>", "those product lines, sorted"),
    (
        "rev12_<line>",
        "products",
        "float64",
        "revenue in the window (orders + recognised subscription revenue) of product line <line> (slugged); "
        "one column per Dims.product_lines value",
    ),
    # subscriptions
    (
        "mrr",
        "subscriptions",
        "float64",
        "sum of mrr of subscriptions active at as_of (start_date <= as_of < end_date or end_date null)",
    ),
    ("arr", "subscriptions", "float64", "12 x mrr"),
    ("seats", "subscriptions", "int64", "sum of seats of subscriptions active at as_of"),
    ("active_subscriptions", "subscriptions", "int64", "subscriptions active at as_of"),
    ("subscription_start", "subscriptions", "date", "first start_date up to as_of"),
    (
        "mrr_change_12m",
        "subscriptions",
        "float64",
        "mrr at as_of - mrr at the window start (as_of - window_months)",
    ),
    # usage
    ("usage_events_90d", "usage", "int64", "sum of usage events dated in (as_of - 90 days, as_of]"),
    ("usage_events_prev_90d", "usage", "int64", "sum of usage events dated in (as_of - 180 days, as_of - 90 days]"),
    ("usage_trend", "usage", "float64", "usage_events_90d / usage_events_prev_90d - 1; null when the latter is 0"),
    (
        "active_users_30d",
        "usage",
        "float64",
        "sum of active_users over usage rows in (as_of - 30 days, as_of] / 30, i.e. the mean daily summed "
        "active users with missing days as 0; null without rows there",
    ),
    (
        "days_since_last_usage",
        "usage",
        "int64",
        "as_of - last date with events > 0 or active_users > 0; null if none",
    ),
    # tickets
    ("tickets_12m", "tickets", "int64", "tickets opened in the window"),
    ("tickets_open", "tickets", "int64", "tickets opened on or before as_of and not closed by the end of as_of"),
    ("tickets_high_12m", "tickets", "int64", "tickets opened in the window with priority high or urgent"),
    (
        "avg_csat_12m",
        "tickets",
        "float64",
        "mean csat of tickets opened in the window and not closed after as_of; null if none",
    ),
    (
        "avg_resolution_hours_12m",
        "tickets",
        "float64",
        "mean closed_at - opened_at in hours of tickets opened in the window and closed by as_of",
    ),
    # surveys
    ("nps", "surveys", "float64", "mean of 'nps' answers (0-10) in the window; null if none"),
    ("nps_category", "surveys", "string", "promoter if nps >= 9, passive if >= 7, detractor otherwise (by the mean)"),
    ("satisfaction", "surveys", "float64", "mean of 'satisfaction' answers (1-5) in the window; null if none"),
    (
        "need_<item>",
        "surveys",
        "float64",
        "mean importance (1-5) of survey item need_<item> over all answers up to as_of; one column per "
        "Dims.need_items value",
    ),
    # interactions
    ("interactions_12m", "interactions", "int64", "interactions dated in the window"),
    (
        "interactions_<channel>_12m",
        "interactions",
        "int64",
        "interactions in the window on channel <channel> (slugged); one column per Dims.channels value",
    ),
    (
        "inbound_share_12m",
        "interactions",
        "float64",
        "inbound / interactions with a direction, in the window; null if none have one",
    ),
    ("days_since_last_interaction", "interactions", "int64", "as_of - last interaction date; null if none"),
    (
        "competitive_interactions_12m",
        "interactions",
        "int64",
        "interactions in the window whose type contains 'compet' or 'lost' (a competitor mentioned, a competitive "
        "bid, a lost deal), case-insensitive; null for every unit when no interaction type in the data does (no "
        "source)",
    ),
    # tenure
    (
        "tenure_days",
        "tenure",
        "int64",
        "as_of - coalesce(earliest member first_seen, first order line > 0 or subscription start)",
    ),
    (
        "lifecycle_stage",
        "tenure",
        "string",
        "prospect / former as status; onboarding if a customer whose first revenue (order line > 0 or "
        "subscription start) is within the last 90 days; else established",
    ),
    # purchase signals: what transaction-only data says about a customer beyond how much it buys
    (
        "frequency_trend",
        "signals",
        "float64",
        "(orders in the second half of the window - orders in its first half) / (both): distinct (account, "
        "order_id) with a line > 0, halves split at the window's middle day; -1 = every order in the first half "
        "(buying stopped), 0 = steady, +1 = every order in the second half; null without orders in the window",
    ),
    (
        "recency_overdue",
        "signals",
        "float64",
        "recency_days / the unit's mean days between orders, (last_order_date - first_order_date) / "
        "(orders_lifetime - 1): 1 = the last order was one usual cycle ago, 3 = three cycles; null with fewer "
        "than 2 orders or all on one day",
    ),
    (
        "return_rate_12m",
        "signals",
        "float64",
        "credit_notes_12m / (order_revenue_12m + credit_notes_12m): the share of the window's gross order amount "
        "credited back (returns, cancellations); null when that gross amount is <= 0",
    ),
    (
        "products_12m",
        "signals",
        "int64",
        "distinct (account, product_id) with an order line > 0 in the window: how broad an assortment the unit "
        "buys",
    ),
)

#: every output column (pattern columns by pattern) -> one-line definition
FEATURE_DOCS: dict[str, str] = {name: doc for name, _, _, doc in _CATALOG}
#: output column -> Ibis dtype
FEATURE_TYPES: dict[str, str] = {name: dtype for name, _, dtype, _ in _CATALOG}
#: output column -> feature group (as used by :func:`missing_inputs`)
FEATURE_GROUPS: dict[str, str] = {name: group for name, group, _, _ in _CATALOG}
#: fixed (non-pattern) column names, in output order
FIXED_COLUMNS: tuple[str, ...] = tuple(n for n, *_ in _CATALOG if "<" not in n)
