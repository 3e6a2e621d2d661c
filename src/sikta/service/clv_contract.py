"""Contractual CLV: retention of subscription customers and the value of the ones still here (SPEC §4.4).

``ws.clv.contractual(...)`` (``sikta clv --contractual``) works on one row per
unit from the engine (:func:`~sikta.engine.retention.subscription_lifetimes`):
when its relationship started, whether it is still active at the as-of date,
how long it has lasted, and its ARR.

* **Retention curves** (Kaplan-Meier, with ``lifelines``): the share of units
  still customers t months after their start, overall, per **start cohort**
  (the calendar year of the first subscription) and per **segment** (the
  values of a feature column, ``contract.by``). Active units are censored at
  the as-of date.
* **sBG** (Fader & Hardie 2007): the renewal model is fitted on the survivor
  counts of the start cohorts: for a cohort, ``n_k`` = its units still
  customers k renewal periods after their start, for every k that all of the
  cohort's units have reached by the as-of date (so the counts describe the
  same units and never rise). A cohort observed for less than one period
  adds nothing.
* **CLV of an active unit** = payment per period (ARR × period / 12) × margin ×
  DERL, the discounted expected number of future payments of a unit that
  has renewed n times (n = its completed periods; Fader & Hardie 2010, eq. 6).
  ``expected_lifetime_years`` is the undiscounted expected remaining
  lifetime (none when the model says it is unbounded, γ ≤ 1). Units that
  ended are worth 0 from here on.

Examples
--------
>>> res = ws.clv.contractual(grain="account", by="industry")  # doctest: +SKIP
>>> res.summary["sbg"], res.curves.query("kind == 'cohort'").head()  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from sikta.core.clv import ShiftedBetaGeometric
from sikta.engine.features import unit_map
from sikta.engine.retention import subscription_lifetimes
from sikta.errors import DataTooThinError, UsageError
from sikta.service.clv_settings import ClvSettings

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["ContractResult", "compute", "retention_curves", "survivor_counts"]

DAYS_PER_MONTH = 365.25 / 12
#: retention curves are evaluated at every month up to this many (or the longest observed duration)
MAX_MONTHS = 120
#: a cohort or segment needs this many units for its own curve
MIN_UNITS = 10


@dataclass
class ContractResult:
    """Retention curves, the sBG fit and the per-unit contractual CLV."""

    summary: dict[str, Any]
    curves: pd.DataFrame
    table: str
    ws: Workspace | None = field(default=None, repr=False)

    def units(self) -> ir.Table:
        """Per unit: ``unit_id``, ``start_date``, ``end_date``, ``active``, ``duration_days``, ``arr``,
        ``cohort``, ``segment``, ``renewals``, ``derl``, ``expected_lifetime_years``, ``clv``."""
        if self.ws is None:
            raise UsageError("this result is detached from its workspace")
        return self.ws.store.table(self.table)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.summary) | {"curves": json.loads(self.curves.to_json(orient="records"))}


def survivor_counts(start: pd.Series, duration_days: pd.Series, as_of: date, period_months: int) -> dict[str, list[int]]:
    """Survivor counts ``[n0, n1, …]`` per start-year cohort observed for a period or more (see the module notes).

    Examples
    --------
    >>> starts = pd.to_datetime(["2020-01-01", "2020-03-01", "2020-06-01", "2021-02-01", "2022-09-01"])
    >>> survivor_counts(pd.Series(starts), pd.Series([400, 900, 1300, 500, 100]), date(2023, 1, 1), 12)
    {'2020': [3, 3, 2], '2021': [1, 1]}
    """
    period = period_months * DAYS_PER_MONTH
    frame = pd.DataFrame({"start": pd.to_datetime(start).to_numpy(), "d": np.asarray(duration_days, dtype=float)})
    out = {}
    for year, c in frame.groupby(frame["start"].dt.year, sort=True):
        reach = (pd.Timestamp(as_of) - c["start"].max()).days / period
        k = int(np.floor(reach + 1e-9))
        if k >= 1:
            out[str(year)] = [int((c["d"] >= i * period - 1e-9).sum()) for i in range(k + 1)]
    return out


def retention_curves(durations_months, ended, groups=None, *, kind: str = "overall",
                     months: int = MAX_MONTHS) -> pd.DataFrame:
    """Kaplan-Meier retention per group at every month 0..``months``: ``kind``, ``group``, ``month``,
    ``retention``, ``units`` (groups smaller than :data:`MIN_UNITS` are left out).

    Examples
    --------
    >>> c = retention_curves([1, 2, 3, 4, 5], [1, 0, 1, 1, 0], months=3)
    >>> c["retention"].round(3).tolist()
    [1.0, 0.8, 0.8, 0.533]
    """
    from lifelines import KaplanMeierFitter

    d = np.asarray(durations_months, dtype=float)
    e = np.asarray(ended, dtype=bool)
    g = np.full(len(d), "all", dtype=object) if groups is None else np.asarray(groups, dtype=object)
    grid = np.arange(months + 1, dtype=float)
    frames = []
    for value in sorted({str(v) for v in g if v is not None and not (isinstance(v, float) and np.isnan(v))}):
        mask = np.array([str(v) == value for v in g])
        if mask.sum() < (MIN_UNITS if groups is not None else 1):
            continue
        km = KaplanMeierFitter().fit(d[mask], e[mask])
        # beyond the group's longest observed duration the curve is unknown, not flat
        at = np.where(grid <= d[mask].max(), km.survival_function_at_times(grid).to_numpy(), np.nan)
        frames.append(pd.DataFrame({"kind": kind, "group": value, "month": grid.astype(int),
                                    "retention": at, "units": int(mask.sum())}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["kind", "group", "month", "retention", "units"])


def compute(ws: Workspace, grain: str = "account", *, as_of: str | date | None = None,
            settings: ClvSettings | None = None) -> ContractResult:
    """Retention curves, the sBG fit and the CLV of active subscription units at ``grain``.

    Raises
    ------
    DataTooThinError
        No subscriptions, or cohorts too short or too stable for the sBG model.
    UsageError
        An unknown segment column.
    """
    from sikta.engine.contract import GRAINS
    from sikta.service.workspace import parse_date

    if grain not in GRAINS:
        raise UsageError(f"grain {grain!r} is not one of {', '.join(GRAINS)}")
    ws._require_data()
    s = settings or ClvSettings()
    end = parse_date(as_of, "--as-of") or ws.default_as_of()
    ws.store.writable()  # the per-unit table is stored
    if not ws.store.has("subscriptions"):
        raise DataTooThinError("the workspace has no subscriptions: contractual CLV needs them "
                               "(for orders use 'sikta clv' without --contractual)")
    units = unit_map(ws.store.table("_sikta_hierarchy"), grain)
    frame = ws.store.frame(subscription_lifetimes(ws.store.table("subscriptions"), units, as_of=end))
    if frame.empty:
        raise DataTooThinError(f"no subscription started by {end}: no retention to measure")
    frame = frame.sort_values("unit_id", kind="mergesort").reset_index(drop=True)
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    frame["cohort"] = frame["start_date"].dt.year.astype(str)
    notes: list[str] = []
    by = s.contract.by
    if by is not None:
        f = ws.features(grain, end)
        if by not in f.columns:
            from sikta.service.model import _closest

            raise UsageError(f"retention by {by!r}: no such feature{_closest(by, f.columns)}")
        seg = ws.store.frame(f.select("unit_id", segment=f[by].cast("string")))
        frame = frame.merge(seg, on="unit_id", how="left")
    months = frame["duration_days"].to_numpy(float) / DAYS_PER_MONTH
    ended = ~frame["active"].to_numpy(bool)
    horizon = int(min(MAX_MONTHS, np.ceil(months.max()) if len(months) else 0))
    curves = [retention_curves(months, ended, months=horizon),
              retention_curves(months, ended, frame["cohort"], kind="cohort", months=horizon)]
    if by is not None:
        curves.append(retention_curves(months, ended, frame["segment"], kind="segment", months=horizon))
    curves = pd.concat(curves, ignore_index=True)

    counts = survivor_counts(frame["start_date"], frame["duration_days"], end, s.contract.months)
    if not counts:
        raise DataTooThinError(f"no start cohort has been observed for a full {s.contract.period} by {end}: "
                               "the renewal model needs at least one renewal (choose a shorter --renewal-period)")
    sbg = ShiftedBetaGeometric().fit(list(counts.values()))
    g, d = sbg.params_["gamma"], sbg.params_["delta"]
    if g + d > 1e4:  # Beta(γ, δ) this tight is one churn probability for everybody
        notes.append(f"the cohorts show no spread in churn risk: every unit renews with about the same "
                     f"probability ({d / (g + d):.1%} per {s.contract.period})")
    period = s.contract.months * DAYS_PER_MONTH
    per_period_discount = (1.0 + s.discount) ** (s.contract.months / 12.0) - 1.0
    margin = s.margin_rate if s.margin_rate is not None else 1.0
    if s.margin_rate is None:
        notes.append("the model file has no clv.margin_rate: contractual CLV is revenue, not margin")
    active = frame["active"].to_numpy(bool)
    renewals = np.floor(frame["duration_days"].to_numpy(float) / period + 1e-9).astype(int)
    frame["renewals"] = renewals
    derl = np.zeros(len(frame))
    life = np.full(len(frame), np.nan)
    for n in np.unique(renewals[active]):
        rows = active & (renewals == n)
        derl[rows] = sbg.derl(per_period_discount, [n])[0] if per_period_discount > 0 else np.nan
        life[rows] = _remaining(sbg, n) * s.contract.months / 12.0
    if per_period_discount == 0:
        raise UsageError("contractual CLV needs a discount rate > 0 (the undiscounted lifetime may be unbounded)")
    frame["derl"] = np.where(active, derl, 0.0)
    frame["expected_lifetime_years"] = np.where(active, life, 0.0)
    frame["clv"] = frame["arr"] * (s.contract.months / 12.0) * margin * frame["derl"]
    doc = _summary(grain, end, s, sbg, counts, frame, margin, notes)
    return _store(ws, grain, end, s, frame, curves, doc)


def _remaining(sbg: ShiftedBetaGeometric, n: int) -> float:
    try:
        return float(sbg.derl(0.0, [n])[0])
    except UsageError:  # γ <= 1: the mean remaining lifetime is unbounded
        return float("nan")


def _summary(grain, end, s: ClvSettings, sbg, counts, frame: pd.DataFrame, margin, notes) -> dict[str, Any]:
    active = frame["active"].to_numpy(bool)
    return {
        "model": "sbg",
        "sbg": dict(sbg.params_),
        "log_likelihood": float(sbg.log_likelihood_),
        "customers": int(sbg.n_customers_),
        "grain": grain,
        "as_of": str(end),
        "period": s.contract.period,
        "discount": s.discount,
        "margin_rate": margin,
        "segment_by": s.contract.by,
        "cohorts": counts,
        "retention_rate": [float(v) for v in sbg.retention_rate(np.arange(1, 6))],
        "units": int(len(frame)),
        "active": int(active.sum()),
        "ended": int((~active).sum()),
        "arr": float(frame["arr"].sum()),
        "clv": float(frame["clv"].sum()),
        "clv_mean_active": float(frame.loc[active, "clv"].mean()) if active.any() else 0.0,
        "notes": notes,
    }


def _store(ws: Workspace, grain, end, s: ClvSettings, frame: pd.DataFrame, curves, doc) -> ContractResult:
    name = f"clv_contract_{grain}"
    out = frame.copy()
    out["start_date"] = out["start_date"].dt.date
    with ws.store.staged() as stage:
        stage.create(name, out, schema={"unit_id": "string", "start_date": "date", "end_date": "date",
                                        "active": "boolean", "duration_days": "int64", "arr": "float64",
                                        "last_arr": "float64", "cohort": "string", "renewals": "int64",
                                        "derl": "float64", "expected_lifetime_years": "float64",
                                        "clv": "float64", **({"segment": "string"} if "segment" in out else {})})
    doc["table"] = name
    return ContractResult(doc, curves, name, ws)
