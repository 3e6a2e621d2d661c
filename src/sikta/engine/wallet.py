"""Built-in potential and pain features for the matrix (SPEC §4.3), pure Ibis over the feature table.

A model parameter that names a built-in instead of a feature column reads
one of these. :func:`add_builtins` adds the requested ones as columns named
like the built-in; nothing is executed here.

Potential
~~~~~~~~~

``estimated_wallet``
    What a unit like this could spend with us per year: the ``percentile``
    (default p75) of ``revenue_12m`` among the **active customers** of its
    lookalike peer group (``status = 'customer'`` and ``revenue_12m > 0``; a
    customer is its own peer). Peer groups are those of the customer analysis
    (:func:`~sikta.engine.opportunity_peers.lookalike_key`): industry × size
    band; a group with fewer than ``min_peers`` active customers falls back to
    industry only, then to all active customers. Prospects and former
    customers get a wallet from their customer peers, so they have a potential
    too. Null when there are fewer than ``min_peers`` active customers at all.
    A high percentile rather than the median because the wallet is what the
    unit *could* spend: what a good lookalike already spends. A unit that
    already spends more than that has at least its own ``revenue_12m`` as its
    wallet, so the largest customers do not read as small potential.
``wallet_gap``
    ``max(estimated_wallet − revenue_12m, 0)`` with a null ``revenue_12m`` as 0:
    the yearly revenue still to win. Null when the wallet is.
``growth``
    ``revenue_growth`` (revenue_12m / revenue_prev_12m − 1): units already
    growing with us. Null for prospects and units without a previous year.

Pain
~~~~

``need_score``
    Mean of the unit's ``need_*`` survey columns (importance 1–5) that are not
    null; null when it answered none, or the table has no ``need_*`` column.
``ticket_load``
    Support tickets per 100 employees: ``100 × tickets_12m / employees``. Per
    employee rather than per seat because head count is known for every unit
    (seats only for subscription customers), and a large company opens more
    tickets just by being large. Null when ``employees`` is null or < 1.
``usage_decline``
    ``max(−usage_trend, 0)``: how far product usage fell in the last 90 days
    against the 90 before (0.3 = down 30 %); 0 when it grew, null without usage.
``onboarding_struggle``
    For units in onboarding (``lifecycle_stage = 'onboarding'``: first revenue
    within 90 days) half a point for each signal that fires, so 0, 0.5 or 1:
    *low usage* - ``active_users_30d`` null or below half the median of the
    unit's active customer peers (skipped when the peers have no usage data);
    *many tickets* - more ``tickets_12m`` than the peers' p75 of ``tickets_12m``
    / 4, i.e. more tickets in its first months than a busy peer opens in a
    quarter. Every unit not in onboarding scores 0: it is not struggling with
    onboarding.

``rule`` (a boolean expression scored 1/0) is a built-in of the model too; it
needs the expression language and lives in :mod:`sikta.engine.matrix`.

Examples
--------
>>> import ibis, pandas as pd
>>> f = ibis.memtable(pd.DataFrame({"unit_id": ["A", "B", "C", "P"],
...     "status": ["customer", "customer", "customer", "prospect"],
...     "industry": ["it"] * 4, "employees": [20] * 4,
...     "revenue_12m": [100.0, 200.0, 300.0, 0.0]}))
>>> out = add_builtins(f, ["wallet_gap"], min_peers=3).order_by("unit_id")
>>> ibis.duckdb.connect().to_pandas(out)[["unit_id", "wallet_gap"]].values.tolist()
[['A', 150.0], ['B', 50.0], ['C', 0.0], ['P', 250.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import ibis
import ibis.expr.types as ir

from sikta.engine.features_parts import ensure
from sikta.engine.fit_builtins import FIT_BUILTINS, add_fit
from sikta.engine.opportunity_peers import DEFAULT_BY, lookalike_key
from sikta.errors import UsageError

__all__ = [
    "BUILTINS",
    "FITTED_BUILTINS",
    "PAIN_BUILTINS",
    "POTENTIAL_BUILTINS",
    "add_builtins",
    "builtin_inputs",
    "peer_stats",
]

#: built-in → one line for error messages and explanations
BUILTINS: dict[str, str] = {
    "estimated_wallet": "p75 of revenue_12m among active customer lookalikes, at least the unit's own revenue_12m",
    "wallet_gap": "estimated wallet minus revenue_12m, at least 0",
    "growth": "revenue_growth",
    "need_score": "mean of the need_* survey scores (1-5)",
    "ticket_load": "tickets_12m per 100 employees",
    "usage_decline": "max(-usage_trend, 0)",
    "onboarding_struggle": "0 / 0.5 / 1: low usage, many tickets while onboarding",
}
#: built-ins that need a fitted CLV model (docs/clv.md): the service computes them before scoring and
#: joins them onto the feature table as columns of these names; :func:`add_builtins` passes them through
FITTED_BUILTINS: dict[str, str] = {
    "clv": "customer lifetime value: discounted expected margin over the horizon (BG/NBD × Gamma-Gamma)",
    "clv_minus_cac": "clv minus the cost to acquire (clv.cac of the model file)",
    "p_alive": "probability (0..1) that the customer is still buying (BG/NBD or Pareto/NBD)",
    "expected_purchases": "purchases expected over the CLV horizon",
    "value_tier": "value tier by cumulative share of CLV, revenue or margin: 3 = A, 2 = B, 1 = C",
}
BUILTINS.update(FITTED_BUILTINS)
BUILTINS.update(FIT_BUILTINS)  # industry_fit, competitive_pressure (sikta.engine.fit_builtins)
POTENTIAL_BUILTINS = ("estimated_wallet", "wallet_gap", "growth", "industry_fit")
PAIN_BUILTINS = ("need_score", "ticket_load", "usage_decline", "onboarding_struggle", "competitive_pressure")

#: columns the built-ins read; absent ones are typed nulls, so a thin table degrades to nulls
_INPUTS = {
    "status": "string",
    "industry": "string",
    "employees": "int64",
    "revenue_12m": "float64",
    "revenue_growth": "float64",
    "tickets_12m": "int64",
    "usage_trend": "float64",
    "active_users_30d": "float64",
    "lifecycle_stage": "string",
}


def _levels(by: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(by[:i]) for i in range(len(by), -1, -1)]


def peer_stats(
    f: ir.Table,
    aggs: dict[str, Callable[[ir.Table], ir.Value]],
    *,
    by: Sequence[str] = DEFAULT_BY,
    min_peers: int = 5,
) -> ir.Table:
    """Add ``aggs`` computed over each unit's active customer peers, with the usual fallback.

    The pool is the active customers (``status = 'customer'``, ``revenue_12m >
    0``). For every unit the first key level of ``by`` (full key, then shorter
    prefixes, then everybody) whose group holds at least ``min_peers`` pool
    members is used; with no such level the aggregates are null.

    Parameters
    ----------
    f
        The feature table (needs ``status``, ``revenue_12m`` and the ``by`` columns;
        ``size_band`` is derived from ``employees``).
    aggs
        Output column → function of the pool table returning an aggregate.
    by, min_peers
        As in :func:`~sikta.engine.opportunity_peers.whitespace`.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> f = ibis.memtable(pd.DataFrame({"unit_id": list("ABC"), "status": ["customer"] * 3,
    ...     "industry": ["it", "it", "law"], "revenue_12m": [10.0, 30.0, 50.0]}))
    >>> out = peer_stats(f, {"med": lambda t: t.revenue_12m.median()}, by=("industry",), min_peers=2)
    >>> ibis.duckdb.connect().to_pandas(out.order_by("unit_id")).med.tolist()
    [20.0, 20.0, 30.0]
    """
    if min_peers < 1:
        raise UsageError("min_peers must be at least 1")
    levels = _levels(tuple(by))
    cols = list(f.columns)
    for i, level in enumerate(levels):
        f = lookalike_key(f, level).rename({f"_k{i}": "peer_group"})
    pool = f.filter(f.status == "customer", f.revenue_12m > 0)
    for i in range(len(levels)):
        s = pool.group_by(**{f"_g{i}": pool[f"_k{i}"]}).aggregate(
            **{f"_n{i}": pool.count()}, **{f"{name}_{i}": agg(pool) for name, agg in aggs.items()}
        )
        f = f.left_join(s, f[f"_k{i}"] == s[f"_g{i}"]).drop(f"_g{i}")
    ok = [f[f"_n{i}"].fill_null(0) >= min_peers for i in range(len(levels))]
    picked = {name: ibis.cases(*((ok[i], f[f"{name}_{i}"]) for i in range(len(levels)))) for name in aggs}
    keep = [c for c in cols if c not in picked]
    return f.select(*keep, **picked)


def _need_score(f: ir.Table) -> ir.Value:
    needs = [c for c in f.columns if c.startswith("need_")]
    if not needs:
        return ibis.null("float64")
    total = sum((f[c].cast("float64").fill_null(0.0) for c in needs), ibis.literal(0.0))
    answered = sum((f[c].notnull().cast("int64") for c in needs), ibis.literal(0))
    return total / answered.nullif(0).cast("float64")


def _at_least_zero(v: ir.NumericValue) -> ir.NumericValue:
    # DuckDB's greatest() skips nulls, so greatest(null, 0) would turn "unknown" into 0
    return ibis.ifelse(v.isnull(), ibis.null("float64"), ibis.greatest(v, 0.0))


def _head_count(f: ir.Table) -> ir.Value:
    # fewer than 1 employee is as unknown as null (size_band agrees): no load per head
    emp = f.employees.cast("float64")
    return ibis.ifelse(emp >= 1, emp, ibis.null("float64"))


def _onboarding_struggle(f: ir.Table) -> ir.Value:
    low_usage = f._peer_users.notnull() & (f.active_users_30d.isnull() | (f.active_users_30d < 0.5 * f._peer_users))
    many_tickets = f.tickets_12m.cast("float64") > f._peer_tickets / 4.0
    signal = ibis.ifelse(low_usage.fill_null(False), 0.5, 0.0) + ibis.ifelse(many_tickets.fill_null(False), 0.5, 0.0)
    return ibis.ifelse((f.lifecycle_stage == "onboarding").fill_null(False), signal, 0.0)


def builtin_inputs(columns: Iterable[str], peers: Sequence[str] = DEFAULT_BY) -> list[str]:
    """The columns of a feature table that the built-ins (and their peer groups) may read.

    Examples
    --------
    >>> builtin_inputs(["unit_id", "industry", "employees", "need_price", "rev12_x"])
    ['industry', 'employees', 'need_price']
    """
    wanted = set(_INPUTS) | set(peers) | {"employees", "size_band", "region", "attr_competitive_pressure",
                                          "competitive_interactions_12m"}
    return [c for c in columns if c in wanted or c.startswith("need_")]


def add_builtins(
    f: ir.Table,
    names: Iterable[str],
    *,
    percentile: float = 0.75,
    by: Sequence[str] = DEFAULT_BY,
    min_peers: int = 5,
) -> ir.Table:
    """The feature table with the requested built-ins added as columns named like them.

    Parameters
    ----------
    f
        The feature table; input columns it lacks are read as null.
    names
        Built-ins to add (keys of :data:`BUILTINS`); names already in ``f`` are recomputed.
    percentile
        The peer percentile that makes ``estimated_wallet`` (0 < p < 1).
    by, min_peers
        The lookalike peer key and the smallest peer group (see :func:`peer_stats`).

    Returns
    -------
    ibis.expr.types.Table
        ``f``'s columns plus one float64 column per requested built-in.

    Raises
    ------
    UsageError
        An unknown built-in or a percentile outside (0, 1).

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> f = ibis.memtable(pd.DataFrame({"unit_id": ["A", "B"], "employees": [50, 10],
    ...     "tickets_12m": [5, 0], "usage_trend": [-0.25, 0.4],
    ...     "need_price": [4.0, None], "need_speed": [2.0, None]}))
    >>> out = add_builtins(f, ["need_score", "ticket_load", "usage_decline"])
    >>> ibis.duckdb.connect().to_pandas(out)[["need_score", "ticket_load", "usage_decline"]].values.tolist()
    [[3.0, 10.0, 0.25], [nan, 0.0, 0.0]]
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in BUILTINS]
    if unknown:
        raise UsageError(f"unknown built-in {', '.join(unknown)}; built-ins are {', '.join(BUILTINS)}")
    if not 0 < percentile < 1:
        raise UsageError("the wallet percentile must be between 0 and 1 (exclusive)")
    lacking = [n for n in names if n in FITTED_BUILTINS and n not in f.columns]
    if lacking:
        raise UsageError(f"built-in {lacking[0]} needs a fitted CLV model: 'sikta run' computes it before scoring "
                         "(docs/clv.md); a bare feature table does not have it")
    names = [n for n in names if n not in FITTED_BUILTINS]
    if not names:
        return f
    original = [c for c in f.columns if c not in names]
    t = ensure(f, _INPUTS)
    aggs: dict[str, Callable[[ir.Table], ir.Value]] = {}
    if {"estimated_wallet", "wallet_gap"} & set(names):
        aggs["_wallet"] = lambda p: p.revenue_12m.quantile(percentile)
    if "onboarding_struggle" in names:
        aggs["_peer_users"] = lambda p: p.active_users_30d.median()
        aggs["_peer_tickets"] = lambda p: p.tickets_12m.cast("float64").quantile(0.75)
    if aggs:
        t = peer_stats(t, aggs, by=by, min_peers=min_peers)
    make = {
        # greatest() skips nulls: without peers there is no wallet, whatever the unit spends
        "estimated_wallet": lambda: ibis.ifelse(
            t._wallet.isnull(), ibis.null("float64"), ibis.greatest(t._wallet, t.revenue_12m.fill_null(0.0))
        ),
        "wallet_gap": lambda: _at_least_zero(t._wallet - t.revenue_12m.fill_null(0.0)),
        "growth": lambda: t.revenue_growth.cast("float64"),
        "need_score": lambda: _need_score(t),
        "ticket_load": lambda: 100.0 * t.tickets_12m.cast("float64") / _head_count(t),
        "usage_decline": lambda: _at_least_zero(-t.usage_trend.cast("float64")),
        "onboarding_struggle": lambda: _onboarding_struggle(t),
    }
    t = add_fit(t, [n for n in names if n in FIT_BUILTINS])
    t = t.mutate(**{n: make[n]().cast("float64") for n in names if n not in FIT_BUILTINS})
    return t.select(*original, *names)
