"""The built-ins ``industry_fit`` and ``competitive_pressure`` (SPEC §4.3), pure Ibis over the feature table.

``industry_fit``
    How much the unit's industry, size band and region look like those of the
    **best customers**, learned from the data: the best customers are the top
    :data:`BEST_SHARE` (10 %) of the customers by ``revenue_12m`` (as
    ``sikta analyze best`` picks them), ``p`` their share among the customers.
    For each dimension (``industry``; ``size_band`` from ``employees``;
    ``region``) and each of its values, the best-customer rate among the
    customers with that value, smoothed towards ``p`` with an m-estimate
    (``(best + m·p) / (customers + m)``, ``m`` = :data:`SMOOTHING` = 10, so a
    value seen on three customers cannot look perfect), divided by ``p``: its
    **lift** (2 = twice as likely to be a best customer as any customer, 0.5 =
    half as likely). ``industry_fit`` is the geometric mean of the lifts of the
    dimensions the unit has a value for (1 = an average profile); null when it
    has none, or when the table has none of the three columns or fewer than
    :data:`MIN_BEST` best customers. Prospects get a fit from their profile:
    that is the point. :func:`industry_fit_table` lists every lift, which is
    how a fit is explained.
``competitive_pressure``
    Where the data say that competitors are at the door, in this order: a
    numeric account attribute ``attr_competitive_pressure`` kept by the mapping
    (``attributes: {competitive_pressure: ...}``), else
    ``competitive_interactions_12m`` (interactions in the window whose type
    names a competitor or a lost deal). **Missing** (null for every unit) when
    neither exists: no source, no pressure known - not zero.

Examples
--------
>>> import ibis, pandas as pd
>>> f = ibis.memtable(pd.DataFrame({"unit_id": list("ABCD"), "status": ["customer"] * 4,
...     "industry": ["it", "it", "law", None], "revenue_12m": [100.0, 90.0, 10.0, 5.0]}))
>>> out = ibis.duckdb.connect().to_pandas(add_fit(f, ["industry_fit"], best_share=0.25, min_best=1))
>>> out.industry_fit.round(3).tolist()  # p = 1/4; it: (1 + 2.5) / (2 + 10) / p; law: 2.5 / 11 / p
[1.167, 1.167, 0.909, nan]
"""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import ibis.expr.types as ir

from sikta.engine.opportunity_peers import size_band

__all__ = ["BEST_SHARE", "DIMENSIONS", "FIT_BUILTINS", "MIN_BEST", "SMOOTHING", "add_fit", "industry_fit_table"]

FIT_BUILTINS = {
    "industry_fit": "lift of the unit's industry, size band and region among the best customers (1 = average)",
    "competitive_pressure": "attr_competitive_pressure, else competitor / lost-deal interactions in 12 months",
}
DIMENSIONS = ("industry", "size_band", "region")
BEST_SHARE = 0.1
SMOOTHING = 10.0
#: fewer best customers than this and no fit is learned
MIN_BEST = 10
ATTRIBUTE = "attr_competitive_pressure"
INTERACTIONS = "competitive_interactions_12m"


def _dims(f: ir.Table) -> tuple[ir.Table, list[str]]:
    if "employees" in f.columns and "size_band" not in f.columns:
        f = f.mutate(size_band=size_band(f.employees.cast("int64")))
    return f, [d for d in DIMENSIONS if d in f.columns]


def _best(f: ir.Table, best_share: float) -> ir.Table:
    from sikta.engine.best import select_best

    b = select_best(f.select("unit_id", "status", "revenue_12m"), by="revenue", top_share=best_share)
    return b.filter((b.status == "customer") & b.revenue_12m.notnull()).select("unit_id", "is_best")


def industry_fit_table(f: ir.Table, *, best_share: float = BEST_SHARE, m: float = SMOOTHING) -> ir.Table:
    """Every learned lift: ``dimension``, ``value``, ``customers``, ``best``, ``lift`` (lazy, small)."""
    f, dims = _dims(f)
    best = _best(f, best_share)
    cust = f.join(best, "unit_id")
    p = best.is_best.cast("float64").mean()
    parts = []
    for d in dims:
        c = cust.filter(cust[d].notnull())
        g = c.group_by(value=c[d].cast("string")).aggregate(customers=c.count(), best=c.is_best.cast("int64").sum())
        g = g.cross_join(best.aggregate(_p=p))
        parts.append(g.select(dimension=ibis.literal(d), value=g.value, customers=g.customers, best=g.best,
                              lift=((g.best + m * g._p) / (g.customers + m)) / g._p))
    if not parts:
        return ibis.memtable({"dimension": [], "value": [], "customers": [], "best": [], "lift": []},
                             schema={"dimension": "string", "value": "string", "customers": "int64",
                                     "best": "int64", "lift": "float64"})
    return ibis.union(*parts, distinct=False)


def _industry_fit(f: ir.Table, best_share: float, m: float, min_best: int) -> ir.Table:
    if not {"status", "revenue_12m"} <= set(f.columns):
        return f.mutate(industry_fit=ibis.null("float64"))
    original = list(f.columns)
    t, dims = _dims(f)
    if not dims:
        return f.mutate(industry_fit=ibis.null("float64"))
    lifts = industry_fit_table(t, best_share=best_share, m=m)
    b = _best(t, best_share)
    n_best = b.aggregate(_nb=b.is_best.cast("int64").sum())
    logs, known = [], []
    for i, d in enumerate(dims):
        look = lifts.filter(lifts.dimension == d).select(_v=lifts.value, **{f"_lift{i}": lifts.lift})
        t = t.left_join(look, t[d].cast("string") == look._v).drop("_v")
        lift = t[f"_lift{i}"]
        logs.append(ibis.ifelse(lift.notnull(), lift.ln(), 0.0))
        known.append(lift.notnull().cast("int64"))
    n = sum(known[1:], known[0])
    t = t.cross_join(n_best)
    fit = ibis.ifelse((n > 0) & (t._nb >= min_best), (sum(logs[1:], logs[0]) / n.cast("float64")).exp(),
                      ibis.null("float64"))
    return t.mutate(industry_fit=fit).select(*original, "industry_fit")


def _competitive_pressure(f: ir.Table) -> ir.Value:
    if ATTRIBUTE in f.columns and f[ATTRIBUTE].type().is_numeric():
        return f[ATTRIBUTE].cast("float64")
    if INTERACTIONS in f.columns:
        return f[INTERACTIONS].cast("float64")
    return ibis.null("float64")


def add_fit(f: ir.Table, names: Iterable[str], *, best_share: float = BEST_SHARE, m: float = SMOOTHING,
            min_best: int = MIN_BEST) -> ir.Table:
    """``f`` with the requested fit built-ins (:data:`FIT_BUILTINS`) as float64 columns."""
    names = [n for n in names if n in FIT_BUILTINS]
    if "industry_fit" in names:
        f = _industry_fit(f.drop("industry_fit") if "industry_fit" in f.columns else f, best_share, m, min_best)
    if "competitive_pressure" in names:
        f = f.mutate(competitive_pressure=_competitive_pressure(f))
    return f
