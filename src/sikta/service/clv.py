"""Customer lifetime value in the workspace: orders → summaries → fitted models → CLV per unit (SPEC §4.4).

:func:`compute` (``ws.clv(...)``) is the non-contractual path, at any grain:

1. **Summaries in the engine.** The unit's purchase days
   (:func:`~sikta.engine.clv_summary.daily_transactions`, orders up to the
   as-of date) are materialized once; frequency, recency, T and the average
   repeat spend per unit are computed from them
   (:func:`~sikta.engine.clv_summary.clv_summary`). Python receives one row
   per unit.
2. **Fits in core.** BG/NBD (or Pareto/NBD) on the purchases up to the
   calibration end, Gamma-Gamma on the repeat customers' spends, with the
   frequency–spend correlation check.
3. **Per unit**: P(alive), expected purchases and P(at least one purchase)
   over the horizon, expected spend per purchase, the margin rate, CLV (the
   discounted expected margin), CAC and CLV − CAC, and the value tier.
4. **Holdout** when the as-of date is after the calibration end: predicted
   against actual repeat purchases per calibration frequency and in total, a
   one-line verdict beyond 10 %, and the weekly tracking curve.

The per-unit result is one table per (grain, dates, settings), named
``clv_<grain>__<key>``, registered in ``_sikta_clv`` with the run-level
summary; asking again with the same settings and data reads it back. A new
ingest makes every stored result stale (it is recomputed on the next request).

Per-unit values are **as at the calibration end** with the calibration fit:
with a holdout, the table also says what each unit actually bought after it.

Margin: per unit from the orders' ``cost`` column where the unit's lines have
costs; units without get the overall margin rate of the lines with costs;
without any cost the model file's ``margin_rate``; without that the CLV is
revenue (a note says so).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from sikta.core.clv import (
    TIME_UNITS,
    BetaGeo,
    GammaGamma,
    ParetoNBD,
    customer_lifetime_value,
    holdout_check,
    tier_summary,
    tracking_curve,
    value_tiers,
)
from sikta.engine import clv_summary as cs
from sikta.engine.features import unit_map
from sikta.errors import DataTooThinError, UsageError
from sikta.service import engines
from sikta.service.clv_settings import ClvSettings

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["REGISTRY", "Clv", "ClvResult", "compute", "stored", "stored_all", "stored_for_run", "shown_for", "current", "unit_document",
           "value_tier_frame"]

REGISTRY = "_sikta_clv"
REGISTRY_SCHEMA = {
    "key": "string", "table": "string", "grain": "string", "ingest_id": "string", "created_at": "timestamp",
    "calibration_end": "date", "as_of": "date", "settings": "string", "summary": "string",
}
#: stored results kept per grain; older ones are dropped
KEEP = 6
DAYS_PER_MONTH = 365.25 / 12
Progress = Callable[[str, int, int], None]
_STEPS = 5


@dataclass
class ClvResult:
    """What ``ws.clv(...)`` computed: the fitted parameters, checks, and the per-unit table.

    ``units()`` is the per-unit Ibis table (``unit_id``, ``frequency``,
    ``recency``, ``T``, ``monetary_value``, ``p_alive``, ``expected_purchases``,
    ``p_purchase``, ``expected_spend``, ``margin_rate``, ``clv``, ``cac``,
    ``clv_minus_cac``, ``tier_value``, ``value_tier``, and with a holdout
    ``frequency_holdout``, ``value_holdout``, ``predicted_holdout``).
    """

    summary: dict[str, Any]
    table: str
    key: str
    ws: Workspace | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        return self.summary["model"]

    @property
    def params(self) -> dict[str, float]:
        """The purchase model's parameters (``r, alpha, a, b`` or ``r, alpha, s, beta``)."""
        return self.summary[self.model]

    @property
    def gamma_gamma(self) -> dict[str, float]:
        return self.summary["gamma_gamma"]

    @property
    def log_likelihood(self) -> float:
        return self.summary["log_likelihood"]

    @property
    def customers(self) -> int:
        return self.summary["customers"]

    @property
    def holdout(self) -> dict[str, Any] | None:
        return self.summary["holdout"]

    @property
    def notes(self) -> list[str]:
        return self.summary["notes"]

    def units(self) -> ir.Table:
        """The per-unit results as an Ibis table (call ``.to_pandas()`` to look)."""
        if self.ws is None:
            raise UsageError("this result is detached from its workspace")
        return self.ws.store.table(self.table)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``model``, the model's parameters under its name, ``gamma_gamma``,
        ``log_likelihood``, ``customers``, ``holdout`` and the rest of the summary."""
        return dict(self.summary)


def _key(grain: str, cal: date, as_of: date, settings: ClvSettings) -> str:
    text = json.dumps({"grain": grain, "cal": str(cal), "as_of": str(as_of),
                       "settings": settings.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _dates(ws: Workspace, settings: ClvSettings, calibration_end, as_of) -> tuple[date, date]:
    from sikta.service.workspace import not_after_today, parse_date

    given = parse_date(as_of, "--as-of")
    end = not_after_today(given) if given else ws.default_as_of()
    cal = parse_date(calibration_end, "--calibration-end") or settings.calibration_end or end
    if cal > end:
        raise UsageError(f"the calibration end {cal} is after the as-of date {end}: the holdout period would run backwards")
    return cal, end


def stored_all(ws: Workspace, grain: str | None = None, key: str | None = None, *,
               as_of: date | None = None) -> list[ClvResult]:
    """The stored results made from the current data (of ``grain``, with ``key``, as of ``as_of``), newest first."""
    if not ws.store.has(REGISTRY):
        return []
    t = ws.store.table(REGISTRY)
    ingest = (ws.last_ingest() or {}).get("ingest_id")
    q = t.filter(t.ingest_id == ingest) if ingest is not None else t
    if grain is not None:
        q = q.filter(q.grain == grain)
    if key is not None:
        q = q.filter(q.key == key)
    if as_of is not None:
        q = q.filter(q.as_of == as_of)
    return _results(ws, q)


def _results(ws: Workspace, q: ir.Table) -> list[ClvResult]:
    out, seen = [], set()
    for row in ws.store.frame(q.order_by(q.created_at.desc())).to_dict("records"):
        if row["table"] not in seen and ws.store.has(row["table"]):
            seen.add(row["table"])
            out.append(ClvResult(json.loads(row["summary"]), row["table"], row["key"], ws))
    return out


def stored(ws: Workspace, grain: str | None = None, key: str | None = None) -> ClvResult | None:
    """The newest stored result made from the current data (of ``grain``, or with ``key``), if any."""
    found = stored_all(ws, grain, key)
    return found[0] if found else None


def stored_for_run(ws: Workspace, meta: dict[str, Any]) -> ClvResult | None:
    """The stored fit whose values a run's ``clv__*`` columns hold; None when the run used no CLV.

    ``meta`` is the run's record (:func:`sikta.service.runs.get_run`). The newest stored fit is
    not it: a run reuses the stored fit of its own dates and settings, which may be older than
    fits made since for other dates. The run's record names the fit's table; the registry row
    must come from the ingest the run scored too, since a later ingest stores a fit of the same
    dates and settings (so the same table name) from other data.

    Raises
    ------
    DataTooThinError
        The run used CLV but its fit is no longer stored (pruned after a newer ingest or newer fits).
    """
    doc = meta.get("clv")
    if not isinstance(doc, str) or not doc:
        return None
    summary = json.loads(doc)
    table, ingest = summary.get("table"), meta.get("ingest_id")
    found = []
    if table is not None and ws.store.has(REGISTRY):
        t = ws.store.table(REGISTRY)
        q = t.filter(t["table"] == table)
        if isinstance(ingest, str):
            q = q.filter(q.ingest_id == ingest)
        found = _results(ws, q)
    if not found:
        raise DataTooThinError(
            f"the CLV fit run {meta['run_id']} used (purchases to {summary.get('calibration_end')}, as of "
            f"{summary.get('as_of')}) is no longer stored: a newer ingest or newer fits replaced it. The run's "
            "own values are still in its clv__ columns ('sikta export')")
    return found[0]


def shown_for(ws: Workspace, meta: dict[str, Any] | None, grain: str, day: date) -> tuple[ClvResult | None, bool]:
    """The stored fit to show beside a run (the report, an account page), and whether it is the run's own.

    The run's own fit first (its ``clv__`` columns hold its values, whatever fits were stored
    since); for a run without CLV, or no run (``meta`` None), a fit as of ``day``, one fitted on all
    purchases to it before a holdout fit (whose values stop at its calibration end): a fit of
    another date would describe other purchases than the run. ``(None, False)`` when there is none.

    Raises
    ------
    DataTooThinError
        The run used CLV but its fit is no longer stored (:func:`stored_for_run`).
    """
    fit = stored_for_run(ws, meta) if meta is not None else None
    if fit is not None:
        return fit, True
    found = sorted(stored_all(ws, grain, as_of=day), key=lambda r: r.summary["calibration_end"] != str(day))
    return (found[0] if found else None), False


def current(ws: Workspace, grain: str) -> ClvResult | None:
    """The fit to show when nobody asked for settings: the latest run's at ``grain`` (:func:`shown_for`),
    else the newest stored one - not an exploratory fit an analyst made since for another date."""
    from sikta.service.runs import get_run, list_runs

    runs = list_runs(ws)
    runs = runs[runs["grain"] == grain] if not runs.empty else runs
    if not runs.empty:
        meta = get_run(ws, str(runs.iloc[0]["run_id"]))
        try:
            fit, _ = shown_for(ws, meta, grain, pd.Timestamp(meta["as_of"]).date())
        except DataTooThinError:  # the run's fit was replaced since
            fit = None
        if fit is not None:
            return fit
    return stored(ws, grain)


#: per-unit columns an account document shows (with the result's dates and model)
UNIT_FIELDS = ("clv", "clv_minus_cac", "cac", "p_alive", "expected_purchases", "p_purchase", "expected_spend",
               "margin_rate", "frequency", "recency", "T", "value_tier")


def unit_document(query: Callable[[str, list], list[dict]], result: ClvResult | None, unit_id: str) -> dict | None:
    """One unit's CLV values from a stored result (None when it has none: no purchase, or no result).

    ``query(sql, params)`` runs one parameterized read (the run reader's per-thread cursor). The
    per-unit table is stored sorted by unit id, so the point read skips most of it.
    """
    if result is None:
        return None
    cols = ", ".join(f'"{c}"' for c in UNIT_FIELDS)
    hit = query(f'SELECT {cols} FROM "{result.table}" WHERE unit_id = ?', [str(unit_id)])
    if not hit:
        return None
    s = result.summary
    return {"model": s["model"], "calibration_end": s["calibration_end"], "as_of": s["as_of"],
            "horizon_months": s["horizon_months"], "time_unit": s["time_unit"], **hit[0]}


def compute(
    ws: Workspace,
    grain: str = "account",
    *,
    calibration_end: str | date | None = None,
    as_of: str | date | None = None,
    settings: ClvSettings | None = None,
    progress: Progress | None = None,
    refresh: bool = False,
    store: bool = True,
    engine: str | None = None,
) -> ClvResult:
    """Fit the CLV models on the workspace's orders at ``grain`` and store the per-unit results.

    Parameters
    ----------
    grain
        ``ultimate_parent``, ``account`` or ``department``.
    calibration_end
        Fit on purchases up to this day (default: the settings', else ``as_of``).
    as_of
        The last day of data used (default: the latest revenue date); after
        ``calibration_end`` it opens a holdout period.
    settings
        The ``clv:`` block (:class:`~sikta.service.clv_settings.ClvSettings`).
    progress
        Called with (step, done, total) as the work advances.
    refresh
        Recompute even when a stored result with these settings exists.
    store
        Store the result (default). False keeps it in a temporary table of this
        connection only, so a read-only workspace (a what-if preview in the
        server, a model check) can score a model with CLV built-ins.
    engine
        ``spark`` summarizes the purchases (daily transactions, the RFM summary, the
        margin, the holdout counts) on Spark from the workspace's Parquet snapshot
        (docs/engines.md); the fits run here on one row per unit. ``duckdb``: the
        workspace's DuckDB. A named engine always recomputes; None (the default) reuses a
        stored result with these settings, else computes on DuckDB.

    Raises
    ------
    DataTooThinError
        No orders, no purchases before the calibration end, or data that do
        not identify the models (no repeat purchases, one customer, ...).
    UsageError
        Bad dates or settings.
    """
    from sikta.engine.contract import GRAINS

    if grain not in GRAINS:
        raise UsageError(f"grain {grain!r} is not one of {', '.join(GRAINS)}")
    ws._require_data()
    s = settings or ClvSettings()
    cal, end = _dates(ws, s, calibration_end, as_of)
    key = _key(grain, cal, end, s)
    if not refresh and engine is None and (hit := stored(ws, grain, key)) is not None:
        return hit  # a named engine recomputes there: the stored result may come from the other one
    if store:
        ws.store.writable()  # a new result is stored: say so before the work (the CLI then reopens for writing)
    if not ws.store.has("orders"):
        raise DataTooThinError("the workspace has no orders: non-contractual CLV needs orders "
                               "(for subscriptions use 'sikta clv --contractual')")
    tick = progress or (lambda *_: None)
    tick("summarizing purchases in the engine", 0, _STEPS)
    inputs = engines.inputs(ws, engine)  # the workspace's DuckDB, or its snapshot on Spark
    notes = [n.replace("built on", "purchases summarized on") for n in inputs.notes]
    orders, run = inputs.tables["orders"], inputs.frame
    orders = orders.filter(orders.order_date.cast("date") <= end)
    daily = cs.daily_transactions(orders, unit_map(inputs.hierarchy, grain))
    # one row per unit and purchase day: Spark keeps it where it is, DuckDB in a temp table for the next queries
    days = daily.cache() if inputs.engine == "spark" else \
        ws.store.create(f"_sikta_clv_days_{grain}", daily, temp=True)
    holdout = end > cal
    summary = run(cs.clv_summary(days, calibration_end=cal, observation_end=end if holdout else None,
                                 time_unit=s.time_unit))
    if summary.empty:
        raise DataTooThinError(f"no {grain} bought anything up to {cal}: nothing to fit (choose a later calibration end)")
    summary = summary.sort_values("unit_id", kind="mergesort").reset_index(drop=True)
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))

    tick(f"fitting {'BG/NBD' if s.model == 'bgnbd' else 'Pareto/NBD'} on {len(summary):,} {grain}s", 1, _STEPS)
    purchase = (BetaGeo() if s.model == "bgnbd" else ParetoNBD()).fit(x, tx, T)
    tick("fitting Gamma-Gamma on the repeat customers' spend", 2, _STEPS)
    spend_model = _spend_model(x, summary["monetary_value"].to_numpy(float))

    tick("CLV per unit", 3, _STEPS)
    per = DAYS_PER_MONTH / TIME_UNITS[s.time_unit]
    frame = summary[["unit_id", "first_purchase", "frequency", "recency", "T", "monetary_value"]].copy()
    frame["p_alive"] = purchase.p_alive(x, tx, T)
    frame["expected_purchases"] = purchase.expected_purchases(s.horizon * per, x, tx, T)
    frame["p_purchase"] = purchase.p_purchase(s.horizon * per, x, tx, T)
    frame["expected_spend"] = spend_model.expected_spend(x, summary["monetary_value"].to_numpy(float))
    if isinstance(spend_model, _MeanSpend):
        notes.append(spend_model.note)
    margin, margin_doc = _margin(run, days, summary, cal, s, notes)
    frame["margin_rate"] = margin
    frame["clv"] = customer_lifetime_value(purchase, x, tx, T, frame["expected_spend"].to_numpy(), periods=s.horizon,
                                           period_length=per, discount_rate=s.monthly_discount(), margin=margin)
    cac_doc = _cac(ws, grain, cal, s, frame, notes)
    tier_frame = value_tier_frame(ws, grain, cal, by=s.tiers.by, a=s.tiers.a, b=s.tiers.b, clv=frame)
    frame = frame.merge(tier_frame, on="unit_id", how="left")
    if spend_model.correlation_warning_:
        notes.append(spend_model.correlation_warning_)
    if spend_model.n_excluded_:
        n = spend_model.n_excluded_
        notes.append(f"{n:,} repeat customer{'s' if n != 1 else ''} with an average spend <= 0 "
                     f"{'are' if n != 1 else 'is'} left out of the Gamma-Gamma fit "
                     f"({'they get' if n != 1 else 'it gets'} the population's mean spend)")

    tick("holdout check" if holdout else "storing", 4, _STEPS)
    hold_doc = None
    if holdout:
        hold_doc = _holdout(run, purchase, days, summary, frame, cal, end, s)
    doc = _summary(grain, cal, end, s, purchase, spend_model, frame, margin_doc, cac_doc, hold_doc, notes)
    result = _store(ws, grain, key, cal, end, s, frame, doc, keep=store)
    tick("done", _STEPS, _STEPS)
    return result


class _MeanSpend:
    """Every unit spends the population's mean per purchase: the Gamma-Gamma limit q → ∞ (no spread)."""

    params_ = None
    log_likelihood_ = None
    correlation_ = None
    correlation_warning_ = None

    def __init__(self, x: np.ndarray, m: np.ndarray, why: str) -> None:
        keep = (x > 0) & (m > 0)
        self.n_customers_ = int(keep.sum())
        self.n_excluded_ = int(((x > 0) & ~keep).sum())
        self.mean_ = float((x[keep] * m[keep]).sum() / x[keep].sum())
        self.note = (f"Gamma-Gamma cannot be fitted ({why}): the repeat customers' spends per purchase do not "
                     f"differ beyond chance, so every unit gets their mean spend per purchase, {self.mean_:,.2f}")

    def expected_spend(self, x, m) -> np.ndarray:
        return np.full(len(np.atleast_1d(x)), self.mean_)


def _spend_model(x: np.ndarray, m: np.ndarray) -> GammaGamma | _MeanSpend:
    """Gamma-Gamma; when spends show no spread between customers (the fit runs off), their mean."""
    try:
        return GammaGamma().fit(x, m)
    except DataTooThinError as exc:
        if ((x > 0) & (m > 0)).sum() < 2:
            raise DataTooThinError(f"spend per purchase: {exc}") from None
        return _MeanSpend(x, m, str(exc).split(" (")[0])


def _margin(run: Callable[[ir.Table], pd.DataFrame], days: ir.Table, summary: pd.DataFrame, cal: date,
            s: ClvSettings, notes: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Margin rate per unit and a description of where it came from."""
    n = len(summary)
    if "margin_rate" in summary.columns and summary["margin_rate"].notna().any():
        d = days.filter(days.day <= cal)
        row = run(d.aggregate(m=d.margin_amount.sum(), base=d.margin_base.sum())).iloc[0]
        overall = float(row["m"]) / float(row["base"]) if row["base"] else None
        own = summary["margin_rate"].to_numpy(float)
        fallback = overall if overall is not None else (s.margin_rate if s.margin_rate is not None else 1.0)
        rate = np.where(np.isnan(own), fallback, own)
        missing = int(np.isnan(own).sum())
        if missing:
            notes.append(f"{missing:,} units have no cost on their orders: they get the overall margin rate "
                         f"{fallback:.1%}")
        return rate, {"source": "cost", "overall_rate": overall, "units_without_cost": missing}
    if s.margin_rate is not None:
        return np.full(n, s.margin_rate), {"source": "margin_rate", "overall_rate": s.margin_rate}
    notes.append("the orders have no cost and the model file no clv.margin_rate: CLV is revenue, not margin")
    return np.ones(n), {"source": "none (revenue)", "overall_rate": 1.0}


def _cac(ws: Workspace, grain: str, cal: date, s: ClvSettings, frame: pd.DataFrame, notes: list[str]) -> dict:
    """Add ``cac`` and ``clv_minus_cac`` (and ``segment``) to ``frame``; describe them."""
    cac = s.cac
    if not cac.given:
        frame["cac"] = np.nan
        frame["clv_minus_cac"] = frame["clv"]
        notes.append("no CAC in the model file (clv.cac): clv_minus_cac equals clv")
        return {"by": None, "default": None, "values": {}}
    if cac.by is None:
        frame["cac"] = float(cac.default)
    else:
        f = ws.features(grain, cal)
        if cac.by not in f.columns:
            from sikta.service.model import _closest

            raise UsageError(f"clv.cac.by: unknown feature {cac.by!r}{_closest(cac.by, f.columns)}")
        seg = ws.store.frame(f.select("unit_id", segment=f[cac.by].cast("string")))
        frame["segment"] = frame[["unit_id"]].merge(seg, on="unit_id", how="left")["segment"].to_numpy()
        segments = [None if pd.isna(v) else str(v) for v in frame["segment"]]
        costs = [cac.for_segment(v) for v in segments]
        lacking = sorted({v or "(no value)" for v, c in zip(segments, costs, strict=True) if c is None})
        if lacking:
            more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
            raise UsageError(f"clv.cac: no cost for {cac.by} {', '.join(lacking[:3])}{more}; "
                             "add them to values: or give a default:")
        frame["cac"] = np.asarray(costs, dtype=float)
    frame["clv_minus_cac"] = frame["clv"] - frame["cac"]
    return {"by": cac.by, "default": cac.default, "values": dict(cac.values)}


def value_tier_frame(
    ws: Workspace, grain: str, as_of: str | date | None = None, *, by: str = "clv", a: float = 0.8,
    b: float = 0.95, clv: pd.DataFrame | None = None, settings: ClvSettings | None = None,
) -> pd.DataFrame:
    """Value tiers A/B/C per unit by cumulative share of CLV, revenue or margin (for runs and schemes).

    Parameters
    ----------
    grain, as_of
        The units and the date (default: the latest revenue date).
    by
        ``clv`` (fits the CLV models at ``as_of`` unless ``clv`` is given),
        ``revenue`` (``revenue_12m`` of the feature table) or ``margin``
        (``revenue_12m × gross_margin_12m``).
    a, b
        Cumulative-share thresholds (see :func:`sikta.core.clv.value_tiers`).
    clv
        Per-unit CLV already computed (``unit_id``, ``clv``).
    settings
        CLV settings when ``by="clv"`` needs a fit.

    Returns
    -------
    pandas.DataFrame
        ``unit_id``, ``tier_value`` (the value ranked), ``value_tier`` (A/B/C;
        none for units without a value). ``by="clv"`` covers the units with a
        purchase; revenue and margin every unit of the feature table.
    """
    if by == "clv":
        if clv is None:
            clv = compute(ws, grain, calibration_end=as_of, as_of=as_of, settings=settings).units().to_pandas()
        values = clv[["unit_id", "clv"]].rename(columns={"clv": "tier_value"})
    elif by in ("revenue", "margin"):
        f = ws.features(grain, as_of)
        value = f.revenue_12m if by == "revenue" else f.revenue_12m * f.gross_margin_12m
        values = ws.store.frame(f.select("unit_id", tier_value=value.cast("float64")))
    else:
        raise UsageError(f"value tiers by {by!r}: use clv, revenue or margin")
    values = values.reset_index(drop=True)
    values["value_tier"] = value_tiers(values["tier_value"], values["unit_id"], a=a, b=b)
    return values


def _holdout(run, purchase, days, summary, frame, cal: date, end: date, s: ClvSettings) -> dict[str, Any]:
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    duration = float(summary["duration_holdout"].iat[0])
    check = holdout_check(purchase, x, tx, T, duration, summary["frequency_holdout"].to_numpy(float))
    frame["frequency_holdout"] = summary["frequency_holdout"].to_numpy()
    frame["value_holdout"] = summary["value_holdout"].to_numpy(float)
    frame["predicted_holdout"] = purchase.expected_purchases(duration, x, tx, T)
    births = run(cs.first_purchases_by_day(days, calibration_end=cal))
    repeats = run(cs.repeat_purchases_by_week(days, calibration_end=cal, observation_end=end))
    start = pd.Timestamp(births["start"].iat[0]).date()
    weeks = max((end - start).days // 7, 1)
    curve = tracking_curve(purchase, births, repeats, weeks=weeks, days_per_unit=TIME_UNITS[s.time_unit])
    doc = check.to_dict()
    doc |= {"calibration_end": str(cal), "observation_end": str(end), "duration": duration,
            "time_unit": s.time_unit, "tracking_start": str(start),
            "tracking": [{"week": int(r.week), "actual": float(r.actual), "predicted": float(r.predicted)}
                         for r in curve.itertuples(index=False)]}
    for row in doc["by_frequency"]:
        row["customers"] = int(row["customers"])
    return doc


def _summary(grain, cal, end, s: ClvSettings, purchase, spend_model, frame: pd.DataFrame, margin_doc, cac_doc,
             hold_doc, notes) -> dict[str, Any]:
    clv = frame["clv"].to_numpy(float)
    tiers = tier_summary(frame["value_tier"], frame["tier_value"])
    hist_edges = np.quantile(clv, np.linspace(0, 1, 21)) if len(clv) else []
    return {
        "model": s.model,
        s.model: dict(purchase.params_),
        "gamma_gamma": dict(spend_model.params_) if spend_model.params_ else None,
        "log_likelihood": float(purchase.log_likelihood_),
        "customers": int(purchase.n_customers_),
        "holdout": hold_doc,
        "grain": grain,
        "calibration_end": str(cal),
        "as_of": str(end),
        "time_unit": s.time_unit,
        "horizon_months": s.horizon,
        "discount": s.discount,
        "gamma_gamma_check": {"customers": int(spend_model.n_customers_), "excluded": int(spend_model.n_excluded_),
                              "correlation": spend_model.correlation_, "warning": spend_model.correlation_warning_,
                              "mean_spend": getattr(spend_model, "mean_", None)},
        "margin": margin_doc,
        "cac": cac_doc,
        "totals": {
            "clv": float(clv.sum()), "clv_mean": float(clv.mean()), "clv_median": float(np.median(clv)),
            "clv_minus_cac": float(frame["clv_minus_cac"].sum()),
            "expected_purchases": float(frame["expected_purchases"].sum()),
            "p_alive_mean": float(frame["p_alive"].mean()),
            "repeat_customers": int((frame["frequency"] > 0).sum()),
        },
        "distribution": {"quantiles": [float(v) for v in hist_edges]},
        "tiers": {"by": s.tiers.by, "a": s.tiers.a, "b": s.tiers.b, "classes": tiers},
        "settings": s.model_dump(mode="json"),
        "notes": notes,
    }


def _store(ws: Workspace, grain, key, cal, end, s: ClvSettings, frame: pd.DataFrame, doc, *,
           keep: bool = True) -> ClvResult:
    name = f"clv_{grain}__{key}" if keep else f"_sikta_clv_unstored_{grain}__{key}"
    doc["table"] = name
    out = frame.copy()
    out["first_purchase"] = pd.to_datetime(out["first_purchase"]).dt.date
    schema = {c: "float64" for c in out.columns if out[c].dtype.kind == "f"}
    schema |= {"unit_id": "string", "first_purchase": "date", "frequency": "int64", "value_tier": "string"}
    if "segment" in out.columns:
        schema["segment"] = "string"
    if "frequency_holdout" in out.columns:
        schema["frequency_holdout"] = "int64"
    record = pd.DataFrame([{
        "key": key, "table": name, "grain": grain, "ingest_id": (ws.last_ingest() or {}).get("ingest_id"),
        "created_at": datetime.now(UTC).replace(tzinfo=None), "calibration_end": cal, "as_of": end,
        "settings": json.dumps(s.model_dump(mode="json")), "summary": json.dumps(doc, default=str),
    }])
    table = ibis.memtable(out, schema={c: schema.get(c, "float64") for c in out.columns})
    if not keep:  # this connection only: nothing written to the workspace file
        ws.store.create(name, table, temp=True)
        return ClvResult(json.loads(json.dumps(doc, default=str)), name, key, ws)
    with ws.store.staged() as stage:
        stage.create(name, table)

        def _log() -> None:
            ws.store.create_empty(REGISTRY, REGISTRY_SCHEMA, replace=False)
            ws.store.insert(REGISTRY, record, schema=REGISTRY_SCHEMA)

        stage.on_commit.append(_log)
    _prune(ws, grain, keep_table=name)
    return ClvResult(json.loads(json.dumps(doc, default=str)), name, key, ws)


def _prune(ws: Workspace, grain: str, keep_table: str) -> None:
    """Drop stale results (older ingests) and all but the newest :data:`KEEP` of ``grain``."""
    t = ws.store.table(REGISTRY)
    rows = ws.store.frame(t.order_by(t.created_at.desc())).to_dict("records")
    ingest = (ws.last_ingest() or {}).get("ingest_id")
    kept = 0
    for r in rows:
        current = r["ingest_id"] == ingest
        if r["grain"] == grain and current:
            kept += 1
        if r["table"] != keep_table and (not current or (r["grain"] == grain and kept > KEEP)):
            ws.store.drop(r["table"])
            ws.store.execute(f'DELETE FROM "{REGISTRY}" WHERE "table" = ?', [r["table"]])


@dataclass(frozen=True)
class Clv:
    """``ws.clv``: call it for the non-contractual CLV (:func:`compute`); ``.contractual()`` for
    subscriptions, ``.value_tiers()`` for A/B/C, ``.latest()`` for the newest stored result.

    Examples
    --------
    >>> res = ws.clv(grain="account", calibration_end="2025-06-30", as_of="2025-12-31")  # doctest: +SKIP
    >>> res.params, res.holdout["verdict"], res.units().to_pandas().head()  # doctest: +SKIP
    """

    ws: Workspace

    def __call__(self, grain: str = "account", *, calibration_end: str | date | None = None,
                 as_of: str | date | None = None, time_unit: str | None = None, model: str | None = None,
                 horizon: int | None = None, discount: float | None = None,
                 settings: ClvSettings | None = None, progress: Progress | None = None,
                 refresh: bool = False, engine: str | None = None) -> ClvResult:
        """Non-contractual CLV (see :func:`compute`); keyword options override ``settings``."""
        s = (settings or ClvSettings()).with_options(time_unit=time_unit, model=model, horizon=horizon,
                                                     discount=discount)
        return compute(self.ws, grain, calibration_end=calibration_end, as_of=as_of, settings=s,
                       progress=progress, refresh=refresh, engine=engine)

    def contractual(self, grain: str = "account", *, as_of: str | date | None = None,
                    settings: ClvSettings | None = None, by: str | None = None, period: str | None = None,
                    discount: float | None = None):
        """Retention curves, the sBG fit and CLV of subscriptions (:func:`sikta.service.clv_contract.compute`)."""
        from sikta.service import clv_contract

        s = settings or ClvSettings()
        if by is not None or period is not None:
            s = s.with_options(contract=s.contract.model_dump() | {k: v for k, v in
                                                                  {"by": by, "period": period}.items() if v})
        s = s.with_options(discount=discount)
        return clv_contract.compute(self.ws, grain, as_of=as_of, settings=s)

    def value_tiers(self, grain: str = "account", as_of: str | date | None = None, *, by: str = "clv",
                    a: float = 0.8, b: float = 0.95, settings: ClvSettings | None = None) -> pd.DataFrame:
        """A/B/C per unit (:func:`value_tier_frame`)."""
        return value_tier_frame(self.ws, grain, as_of, by=by, a=a, b=b, settings=settings)

    def latest(self, grain: str | None = None) -> ClvResult | None:
        """The newest stored result from the current data (of ``grain``), if any."""
        return stored(self.ws, grain)
