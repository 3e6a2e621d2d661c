"""Lookalike peers behind :mod:`sikta.engine.opportunity`: whitespace, up-sell and reactivation.

A unit's peers share its key over ``by`` (default industry and
:func:`size_band`). Keys are tried from the full ``by`` down to its shorter
prefixes and finally to everybody (``all``); the first level at which the
unit's group holds at least ``min_peers`` peers is used and reported in
``peer_level``. Peer statistics are one ``group_by`` per level over a long
(unit, product_line, rev) table made by unnesting the ``rev12_*`` columns in a
single pass, so the cost does not grow with the number of lines beyond that.

Examples
--------
>>> import ibis, pandas as pd
>>> f = ibis.memtable(pd.DataFrame({"unit_id": list("ABCD"), "status": ["customer"] * 4,
...     "industry": ["it"] * 4, "employees": [20] * 4, "rev12_x": [100.0, 300.0, 0.0, None]}))
>>> ws = whitespace(f, {"x": "rev12_x"}, min_peers=3)
>>> ibis.duckdb.connect().to_pandas(ws)[["unit_id", "adoption_rate", "expected_value"]].values.tolist()
[['C', 0.5, 100.0], ['D', 0.5, 100.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir

from sikta.engine.features_parts import ensure
from sikta.errors import InputError, UsageError

__all__ = [
    "DEFAULT_BY",
    "SIZE_BANDS",
    "Lines",
    "line_columns",
    "lookalike_key",
    "per_line",
    "reactivation",
    "size_band",
    "upsell",
    "whitespace",
    "with_inputs",
]

#: employee bands: (label, lowest head count); missing or < 1 employees is 'unknown'
SIZE_BANDS = (("1-9", 1), ("10-49", 10), ("50-249", 50), ("250-999", 250), ("1000+", 1000))
DEFAULT_BY = ("industry", "size_band")

#: feature columns the functions read; absent ones are treated as null
_INPUTS = {
    "name": "string",
    "industry": "string",
    "employees": "int64",
    "status": "string",
    "revenue_12m": "float64",
    "revenue_prev_12m": "float64",
    "revenue_growth": "float64",
    "revenue_lifetime": "float64",
    "order_revenue_12m": "float64",
    "recency_days": "int64",
    "frequency_12m": "int64",
    "orders_lifetime": "int64",
    "first_order_date": "date",
    "last_order_date": "date",
    "months_since_last_order": "int64",
    "mrr": "float64",
    "mrr_change_12m": "float64",
    "usage_trend": "float64",
    "days_since_last_interaction": "int64",
}
_SEP = " / "


def size_band(employees: ir.IntegerValue) -> ir.StringValue:
    """Employee head-count band: ``1-9``, ``10-49``, ``50-249``, ``250-999``, ``1000+`` or ``unknown``.

    Bands follow the EU SME size classes (micro < 10, small < 50, medium < 250)
    with the large companies split at 1000. Null or fewer than 1 employee is
    ``unknown``.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"e": [None, 0, 9, 10, 249, 250, 5000]}).cast({"e": "int64"})
    >>> ibis.duckdb.connect().to_pandas(t.select(b=size_band(t.e))).b.tolist()
    ['unknown', 'unknown', '1-9', '10-49', '50-249', '250-999', '1000+']
    """
    bands = [(employees >= low, ibis.literal(label)) for label, low in reversed(SIZE_BANDS)]
    return ibis.cases(*bands, else_=ibis.literal("unknown"))


def _with_band(f: ir.Table, by: Sequence[str]) -> ir.Table:
    if "size_band" in by and "size_band" not in f.columns:
        emp = f.employees.cast("int64") if "employees" in f.columns else ibis.null("int64")
        f = f.mutate(size_band=size_band(emp))
    missing = [c for c in by if c not in f.columns]
    if missing:
        raise UsageError(f"cannot group peers by {', '.join(missing)}: no such feature column")
    return f


def with_inputs(f: ir.Table, by: Sequence[str] = ()) -> ir.Table:
    """The feature table with every column the analyses read (absent ones as typed nulls) and ``size_band``."""
    absent = [c for c in ("unit_id", "status") if c not in f.columns]
    if absent:
        raise InputError(f"not a feature table: no column {', '.join(absent)}")
    return _with_band(ensure(f, _INPUTS), by)


def _key(t: ir.Table, cols: Sequence[str]) -> ir.StringValue:
    if not cols:
        return ibis.literal("all")
    parts = [ibis.coalesce(t[c].cast("string"), ibis.literal("unknown")) for c in cols]
    return ibis.literal(_SEP).join(parts) if len(parts) > 1 else parts[0]


def lookalike_key(f: ir.Table, by: tuple[str, ...] = DEFAULT_BY) -> ir.Table:
    """Add ``peer_group``: the unit's values of ``by`` joined by ``' / '`` (null → ``unknown``).

    ``size_band`` is computed from ``employees`` (and added) when ``by`` asks
    for it and the table lacks it. An empty ``by`` puts everybody in ``all``.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> f = ibis.memtable(pd.DataFrame({"unit_id": ["A", "B"], "industry": ["software", None],
    ...                                 "employees": [12, 3000]}))
    >>> ibis.duckdb.connect().to_pandas(lookalike_key(f)).peer_group.tolist()
    ['software / 10-49', 'unknown / 1000+']
    """
    f = _with_band(f, by)
    return f.mutate(peer_group=_key(f, by))


def line_columns(f: ir.Table) -> dict[str, str]:
    """The ``lines`` argument for a feature table: line slug → its ``rev12_<slug>`` column.

    Examples
    --------
    >>> import ibis
    >>> line_columns(ibis.table({"unit_id": "string", "rev12_hardware": "float64"}, name="f"))
    {'hardware': 'rev12_hardware'}
    """
    return {c.removeprefix("rev12_"): c for c in f.columns if c.startswith("rev12_")}


# -- peer levels ---------------------------------------------------------------------------------


def _levels(by: Sequence[str]) -> list[tuple[str, ...]]:
    """``(industry, size_band)`` → [(industry, size_band), (industry,), ()]."""
    return [tuple(by[:i]) for i in range(len(by), -1, -1)]


def _level_name(cols: Sequence[str]) -> str:
    return "+".join(cols) or "all"


def _keyed(t: ir.Table, levels: list[tuple[str, ...]]) -> ir.Table:
    return t.mutate(**{f"_k{i}": _key(t, cols) for i, cols in enumerate(levels)})


def _check(by: Sequence[str], min_peers: int) -> tuple[str, ...]:
    if min_peers < 1:
        raise UsageError("min_peers must be at least 1")
    by = tuple(by)
    if len(set(by)) != len(by):
        raise UsageError("peer key columns must be distinct")
    return by


def _assign(units: ir.Table, pool: ir.Table, levels: list[tuple[str, ...]], min_peers: int) -> ir.Table:
    """Each unit's peer level: ``_lvl``, ``peer_level``, ``peer_group``, ``peers``.

    ``units`` and ``pool`` carry the level keys ``_k<i>``; units whose groups
    are too small at every level are dropped.
    """
    for i in range(len(levels)):
        n = pool.group_by(**{f"_g{i}": pool[f"_k{i}"]}).aggregate(**{f"_n{i}": ibis._.count()})
        units = units.left_join(n, units[f"_k{i}"] == n[f"_g{i}"]).drop(f"_g{i}")
    ok = [(units[f"_n{i}"].fill_null(0) >= min_peers, i) for i in range(len(levels))]

    def pick(value) -> ir.Value:
        return ibis.cases(*((cond, value(i)) for cond, i in ok))

    units = units.mutate(
        _lvl=pick(lambda i: ibis.literal(i, type="int64")),
        peer_level=pick(lambda i: ibis.literal(_level_name(levels[i]))),
        peer_group=pick(lambda i: units[f"_k{i}"]),
        peers=pick(lambda i: units[f"_n{i}"].cast("int64")),
    )
    return units.filter(units._lvl.notnull())


def _level_stats(pool: ir.Table, levels: list[tuple[str, ...]], keys: Sequence[str], **aggs) -> ir.Table:
    """``aggs`` over the pool per level and group (plus ``keys``), stacked: ``_lvl``, ``_key``, keys, aggs."""
    parts = []
    for i in range(len(levels)):
        s = pool.group_by(_key=pool[f"_k{i}"], *keys).aggregate(**{n: a(pool) for n, a in aggs.items()})
        parts.append(s.mutate(_lvl=ibis.literal(i, type="int64")))
    return ibis.union(*parts, distinct=False)


#: a product-line input: ``{line: rev12 column}`` of the feature table, or a long table
#: ``unit_id``, ``product_line``, ``rev`` (the window's revenue per unit and line, any number of lines)
Lines = Mapping[str, str] | ir.Table


def _long(t: ir.Table, lines: Mapping[str, str], keep: Sequence[str]) -> ir.Table:
    """One row per (unit, product line): ``keep`` columns, ``product_line``, ``rev`` (one pass)."""
    if not lines:
        raise InputError("no product lines: the feature table has no rev12_* columns")
    missing = [c for c in lines.values() if c not in t.columns]
    if missing:
        raise InputError(f"the feature table has no column {', '.join(missing)}")
    pairs = ibis.array(
        [
            ibis.struct({"product_line": ibis.literal(str(name)), "rev": t[col].cast("float64")})
            for name, col in lines.items()
        ]
    )
    return t.select(*keep, _p=pairs.unnest()).unpack("_p")


def per_line(f: ir.Table, lines: Lines) -> ir.Table:
    """The units' revenue per product line, sparse: ``unit_id``, ``product_line``, ``rev`` (rev not null, not 0).

    Examples
    --------
    >>> import ibis
    >>> f = ibis.memtable({"unit_id": ["A", "B"], "rev12_x": [5.0, 0.0], "rev12_y": [None, 2.0]})
    >>> sorted(ibis.duckdb.connect().to_pandas(per_line(f, {"x": "rev12_x", "y": "rev12_y"})).values.tolist())
    [['A', 'x', 5.0], ['B', 'y', 2.0]]
    """
    if isinstance(lines, ir.Table):
        missing = {"unit_id", "product_line", "rev"} - set(lines.columns)
        if missing:
            raise InputError(f"a product-line table needs unit_id, product_line and rev (missing {', '.join(sorted(missing))})")
        long = lines.select("unit_id", product_line=lines.product_line.cast("string"), rev=lines.rev.cast("float64"))
    else:
        long = _long(f, lines, ["unit_id"])
    return long.filter(long.rev.notnull() & (long.rev != 0))


def _peer_lines(f: ir.Table, lines: Lines, by: Sequence[str], min_peers: int) -> tuple[ir.Table, ir.Table, ir.Table]:
    """Customers with their peer level, every customer's own lines, and adopter statistics per group and line."""
    by = _check(by, min_peers)
    levels = _levels(by)
    f = with_inputs(f, by)
    cust = _keyed(f.filter(f.status == "customer"), levels)
    keys = cust.select("unit_id", *(f"_k{i}" for i in range(len(levels))))
    own = per_line(f, lines).join(keys, "unit_id")
    adopted = own.filter(own.rev > 0)
    stats = _level_stats(
        adopted,
        levels,
        ["product_line"],
        adopters=lambda t: t.count(),
        peer_median_spend=lambda t: t.rev.median(),
    )
    units = _assign(cust, cust, levels, min_peers).select("unit_id", "_lvl", "peer_level", "peer_group", "peers")
    return units, own.select("unit_id", "product_line", "rev"), stats


def _top_per_unit(t: ir.Table, value: str, per_unit: int | None) -> ir.Table:
    if per_unit is None:
        return t
    if per_unit < 1:
        raise UsageError("per_unit must be at least 1")
    w = ibis.window(group_by=t.unit_id, order_by=[t[value].desc(), t.product_line])
    t = t.mutate(_rank=ibis.row_number().over(w))
    return t.filter(t._rank < per_unit).drop("_rank")


def whitespace(
    f: ir.Table,
    lines: Lines,
    *,
    by: Sequence[str] = DEFAULT_BY,
    min_peers: int = 5,
    window_months: int = 12,
    per_unit: int | None = None,
) -> ir.Table:
    """Cross-sell whitespace: lines a customer does not buy that its lookalike customers do.

    For each customer and each line with ``rev12`` null or <= 0, among the
    customers of its peer group (itself included, see the module docstring):

    * ``adoption_rate`` = adopters / peers, an adopter having ``rev12 > 0`` on the line;
    * ``peer_median_spend`` = median ``rev12`` of the adopters;
    * ``expected_value`` = ``peer_median_spend × adoption_rate`` × 12 / ``window_months``,
      the yearly revenue the line is worth to the unit if it behaves like its peers
      (spend is over the feature window; the expected value is always per year).

    Parameters
    ----------
    f
        The feature table.
    lines
        Product line name → its ``rev12_<slug>`` column (see :func:`line_columns`), or a long
        table ``unit_id``, ``product_line``, ``rev`` for any number of lines.
    by
        Feature columns whose values make a peer group; ``size_band`` is derived from
        ``employees`` when absent.
    min_peers
        Smallest peer group used; smaller groups fall back to a shorter key.
    window_months
        Length of the window the spend is measured over (to express value per year).
    per_unit
        Keep only each unit's best lines (by expected value); all when None.

    Returns
    -------
    ibis.expr.types.Table
        ``unit_id``, ``product_line``, ``peer_group``, ``peer_level``, ``peers``,
        ``adopters``, ``adoption_rate``, ``peer_median_spend``, ``expected_value``; rows
        with no adopter are left out; sorted by expected_value descending, then unit_id
        and product_line.

    Examples
    --------
    See the module docstring.
    """
    units, own, stats = _peer_lines(f, lines, by, min_peers)
    cand = units.join(stats, [units._lvl == stats._lvl, units.peer_group == stats._key])
    cand = cand.left_join(own, [cand.unit_id == own.unit_id, cand.product_line == own.product_line])
    j = cand.filter(ibis.coalesce(cand.rev, 0.0) <= 0)
    rate = j.adopters.cast("float64") / j.peers
    out = j.select(
        "unit_id",
        "product_line",
        "peer_group",
        "peer_level",
        "peers",
        adopters=j.adopters.cast("int64"),
        adoption_rate=rate,
        peer_median_spend=j.peer_median_spend,
        expected_value=j.peer_median_spend * rate * (12.0 / window_months),
    )
    out = _top_per_unit(out, "expected_value", per_unit)
    return out.order_by([out.expected_value.desc(), out.unit_id, out.product_line])


def upsell(
    f: ir.Table,
    lines: Lines,
    *,
    by: Sequence[str] = DEFAULT_BY,
    min_peers: int = 5,
    below_share: float = 0.5,
    window_months: int = 12,
    per_unit: int | None = None,
) -> ir.Table:
    """Up-sell: customers that buy a line but spend less than ``below_share`` × their peers' median.

    Peers and ``peer_median_spend`` are as in :func:`whitespace` (the median
    includes the unit's own spend); ``gap = peer_median_spend - spend`` is the
    yearly revenue the unit would add by spending like a typical adopting peer.

    Returns
    -------
    ibis.expr.types.Table
        ``unit_id``, ``product_line``, ``peer_group``, ``peer_level``, ``peers``,
        ``adopters``, ``spend``, ``peer_median_spend``, ``gap``; sorted by gap descending,
        then unit_id and product_line.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> f = ibis.memtable(pd.DataFrame({"unit_id": list("ABC"), "status": ["customer"] * 3,
    ...     "rev12_x": [10.0, 100.0, 300.0]}))
    >>> out = upsell(f, {"x": "rev12_x"}, by=(), min_peers=3)
    >>> ibis.duckdb.connect().to_pandas(out)[["unit_id", "spend", "peer_median_spend", "gap"]].values.tolist()
    [['A', 10.0, 100.0, 90.0]]
    """
    if not 0 < below_share <= 1:
        raise UsageError("below_share must be in (0, 1]")
    units, own, stats = _peer_lines(f, lines, by, min_peers)
    mine = own.join(units, "unit_id")
    j = mine.join(stats, [mine._lvl == stats._lvl, mine.peer_group == stats._key,
                          mine.product_line == stats.product_line])
    j = j.filter(j.rev > 0, j.rev < below_share * j.peer_median_spend)
    out = j.select(
        "unit_id",
        "product_line",
        "peer_group",
        "peer_level",
        "peers",
        adopters=j.adopters.cast("int64"),
        spend=j.rev,
        peer_median_spend=j.peer_median_spend,
        gap=(j.peer_median_spend - j.rev) * (12.0 / window_months),
    )
    out = _top_per_unit(out, "gap", per_unit)
    return out.order_by([out.gap.desc(), out.unit_id, out.product_line])


def reactivation(
    f: ir.Table,
    *,
    by: Sequence[str] = DEFAULT_BY,
    min_peers: int = 5,
) -> ir.Table:
    """Inactive units worth reactivating: former and lapsed customers, by past value and peer potential.

    Candidates are units with ``status = 'former'``, or with ``revenue_lifetime > 0``
    and ``revenue_12m`` null or <= 0 (lapsed). Their peers are the *active*
    customers (``status = 'customer'`` and ``revenue_12m > 0``) of the same group,
    with the usual fallback.

    * ``peer_median_revenue`` = median ``revenue_12m`` of those peers;
    * ``potential`` = max(``peer_median_revenue``, ``revenue_prev_12m``): the yearly revenue the
      unit could bring back - what an active lookalike spends, or what the unit itself spent
      in the 12 months before the last 12 if that was more;
    * ``score`` = √(max(``revenue_lifetime``, 0) × ``potential``): the geometric mean of proven
      value and potential, so a unit must be high on both to rank high (in currency units).

    Returns
    -------
    ibis.expr.types.Table
        ``unit_id``, ``name``, ``industry``, ``status``, ``revenue_lifetime``,
        ``months_since_last_order``, ``peer_group``, ``peer_level``, ``peers``,
        ``peer_median_revenue``, ``potential``, ``score``; sorted by score descending, then
        unit_id.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> f = ibis.memtable(pd.DataFrame({"unit_id": list("ABCD"),
    ...     "status": ["customer", "customer", "former", "former"],
    ...     "revenue_12m": [100.0, 300.0, 0.0, 0.0], "revenue_lifetime": [900.0, 900.0, 800.0, 50.0]}))
    >>> out = ibis.duckdb.connect().to_pandas(reactivation(f, by=(), min_peers=2))
    >>> out[["unit_id", "peer_median_revenue", "potential", "score"]].values.tolist()
    [['C', 200.0, 200.0, 400.0], ['D', 200.0, 200.0, 100.0]]
    """
    by = _check(by, min_peers)
    levels = _levels(by)
    f = _keyed(with_inputs(f, by), levels)
    rev12 = ibis.coalesce(f.revenue_12m, 0.0)
    cand = f.filter((f.status == "former") | ((f.revenue_lifetime > 0) & (rev12 <= 0)))
    pool = f.filter(f.status == "customer", f.revenue_12m > 0)
    stats = _level_stats(pool, levels, [], peer_median_revenue=lambda t: t.revenue_12m.median())
    units = _assign(cand, pool, levels, min_peers)
    j = units.join(stats, [units._lvl == stats._lvl, units.peer_group == stats._key])
    potential = ibis.greatest(j.peer_median_revenue, ibis.coalesce(j.revenue_prev_12m, 0.0))
    out = j.select(
        "unit_id",
        "name",
        "industry",
        "status",
        "revenue_lifetime",
        "months_since_last_order",
        "peer_group",
        "peer_level",
        "peers",
        "peer_median_revenue",
        potential=potential,
        score=(ibis.greatest(ibis.coalesce(j.revenue_lifetime, 0.0), 0.0) * potential).sqrt(),
    )
    return out.order_by([out.score.desc(), out.unit_id])
