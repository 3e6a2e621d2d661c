"""One function per scheme type: a spec and the units in scope → labels, numbers, profiles (SPEC §4.4).

Each ``compute_<type>`` takes the spec of :mod:`sikta.service.scheme_spec`
and a :class:`Units` (one row per unit in the scheme's scope, the feature
columns plus what the type needs) and returns a :class:`Computed`: the
per-unit frame (``segment`` first, then the numbers behind it), the profiles
(one row per segment with ``description`` in plain words), notes, and what
:func:`sikta.core.diagnostics.diagnose` needs to judge it (variables that
matter, inputs whose coverage counts, the labels that mean "not placed" and a
refit for stability). The maths is in :mod:`sikta.core`; this module only
chooses columns and words.

Value tiers go through :func:`value_tiers`, the one place to switch to the
CLV code's tiers when it is there.

Examples
--------
>>> import pandas as pd
>>> t = value_tiers(pd.Series({"a": 80.0, "b": 15.0, "c": 5.0, "d": 0.0}))
>>> t.segment.to_dict()
{'a': 'A', 'b': 'B', 'c': 'C', 'd': 'no revenue'}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sikta.core.diagnostics import Thresholds
from sikta.core.layering import SEP, layer
from sikta.core.pareto import pareto
from sikta.errors import DataTooThinError, UsageError

__all__ = ["Computed", "NO_VALUE", "OUTCOMES", "compute", "value_tiers"]

# The models (scikit-learn, SciPy: ~0.6 s to import) load inside the scheme type that fits one, so that
# reading stored schemes and diagnoses (sikta diagnose, the report, the pages) does without them.

NO_VALUE = "no revenue"
#: what a segmentation should tell apart when its labels come from rules (variables that matter)
OUTCOMES = ("revenue_12m", "gross_margin_12m", "frequency_12m", "avg_order_value_12m", "n_product_lines",
            "tickets_12m", "revenue_growth")
#: columns a propensity model never learns from: identifiers, the population filter, our own choices
NEVER_LEARN = ("unit_id", "name", "grain", "as_of", "owner", "status", "crm_status", "account_type", "n_members",
               "product_lines", "n_product_lines")
#: the measures of a value scheme besides a numeric feature column
MEASURES = {"revenue": "revenue in the window", "margin": "gross margin in the window"}


@dataclass
class Computed:
    """What one scheme gave, before the service names and diagnoses it."""

    units: pd.DataFrame
    profiles: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    unplaced: dict[str, str] = field(default_factory=dict)
    refit: Callable[[np.ndarray], Any] | None = None
    number: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame | None = None


def _present(frame: pd.DataFrame, columns) -> list[str]:
    return [c for c in columns if c in frame.columns and frame[c].notna().any()]


def check_columns(known: Sequence[str], columns: Sequence[str] | None, what: str) -> None:
    """Raise :class:`UsageError` naming the first of ``columns`` not ``known`` (and the closest known name).

    Examples
    --------
    >>> check_columns(["revenue_12m", "employees"], ["revenue_12n"], "value: measure")
    Traceback (most recent call last):
    ...
    sikta.errors.UsageError: value: measure: no feature column 'revenue_12n' (did you mean 'revenue_12m'?)
    """
    missing = [c for c in columns or () if c not in known]
    if missing:
        from sikta.service.model import _closest

        raise UsageError(f"{what}: no feature column '{missing[0]}'{_closest(missing[0], list(known))}")


# -- firmographic ---------------------------------------------------------------------------------


def firmographic(spec, frame: pd.DataFrame) -> Computed:
    from sikta.core.firmographic import UNKNOWN_SIZE, FirmographicSegmenter

    kw = {k: getattr(spec, k) for k in ("employee_bands", "revenue_bands", "tier_names", "verticals")
          if getattr(spec, k) is not None}
    th = Thresholds()
    min_size = spec.min_size if spec.min_size is not None else max(th.min_units, math.ceil(th.min_share * len(frame)))
    seg = FirmographicSegmenter(by=tuple(spec.by), min_size=min_size, **kw).fit(frame)
    units = seg.segments_.copy()
    unknown = {s: "have neither employees nor annual revenue" for s in units.segment.unique()
               if str(s).startswith(UNKNOWN_SIZE)}
    inputs = ["employees", "annual_revenue"] + (["industry"] if "vertical" in spec.by else []) + [
        d for d in ("region", "legal_form") if d in spec.by]
    return Computed(units, seg.profiles_, list(seg.notes_), _present(frame, OUTCOMES),
                    [c for c in inputs if c in frame.columns], unknown)


# -- needs ------------------------------------------------------------------------------------------


def _cluster_kw(spec) -> dict[str, Any]:
    return {k: getattr(spec, k) for k in ("k_min", "k_max", "n_bootstrap", "min_cluster_size", "min_cluster_share",
                                           "algorithm", "random_state")}


def needs(spec, frame: pd.DataFrame) -> Computed:
    from sikta.core.needs import NeedsSegmenter

    check_columns(frame.columns, spec.columns, "needs: columns")
    kw = _cluster_kw(spec)
    seg = NeedsSegmenter(columns=spec.columns, min_answered=spec.min_answered, **kw).fit(frame)
    cols, k = seg.columns_, seg.clusterer_.n_clusters_
    answers = frame[cols]  # a refit copies its rows: only the columns the labels come from, not the wide frame
    units = seg.segments_.join(answers)

    def refit(idx: np.ndarray) -> np.ndarray:
        fixed = kw | {"k_min": k, "k_max": k}
        again = NeedsSegmenter(columns=cols, min_answered=spec.min_answered, **fixed).fit(answers.iloc[idx])
        return again.segments_.segment.to_numpy()

    extra = {"k": k, "stability_by_k": _records(seg.clusterer_.stability_)}
    return Computed(units, seg.profiles_, list(seg.notes_), cols, cols, {}, refit, extra=extra)


# -- behavioral -------------------------------------------------------------------------------------


def behavioral(spec, frame: pd.DataFrame) -> Computed:
    from sikta.core.behavioral import DESCRIPTORS, SUPPORT_SOURCES, BehaviorSegmenter

    # the inputs were checked against every feature column before the frame was narrowed (schemes.compute_one)
    kw = _cluster_kw(spec)
    seg = BehaviorSegmenter(inputs=spec.inputs, log=spec.log, **kw).fit(frame)
    k, inputs = seg.clusterer_.n_clusters_, seg.inputs_

    # the labels come from the inputs alone (support_rate from its sources); the descriptors only describe the
    # segments: a refit copies the rows of these columns, not of the wide frame
    basis = frame[[c for c in dict.fromkeys((*inputs, *SUPPORT_SOURCES)) if c in frame.columns]]

    def refit(idx: np.ndarray) -> np.ndarray:
        fixed = kw | {"k_min": k, "k_max": k}
        return BehaviorSegmenter(inputs=inputs, log=spec.log, **fixed).fit(basis.iloc[idx]).segments_.segment.to_numpy()

    extra = {"k": k, "inputs": inputs, "dropped": seg.dropped_, "log": seg.transformed_,
             "stability_by_k": _records(seg.clusterer_.stability_)}
    variables = inputs + [c for c in DESCRIPTORS if c in frame.columns and c not in inputs and frame[c].notna().any()]
    # support_rate is derived inside the segmenter: diagnose it from the segments' own columns
    diag = frame.assign(**{c: seg.segments_[c] for c in inputs if c not in frame.columns})
    return Computed(seg.segments_, seg.profiles_, list(seg.notes_), variables, inputs, {}, refit, extra=extra,
                    frame=diag)


# -- value ------------------------------------------------------------------------------------------


def value_tiers(values: pd.Series, a: float = 0.8, b: float = 0.95) -> pd.DataFrame:
    """A/B/C by cumulative share of value (the Pareto classes); ``no revenue`` for units at or below 0.

    The one place value tiers are made: the CLV code's tier function replaces
    this body when it is there (same output: ``segment``, ``value``,
    ``cumulative_share``, indexed like ``values``).
    """
    v = pd.to_numeric(values, errors="coerce").astype(float)
    out = pd.DataFrame({"segment": NO_VALUE, "value": v, "cumulative_share": np.nan}, index=values.index)
    if not (v > 0).any():
        raise DataTooThinError("value: no unit has a positive value to rank")
    curve = pareto(v.rename_axis("unit_id").rename("revenue"), a=a, b=b).curve.set_index("unit_id")
    out.loc[curve.index, "segment"] = curve["abc"]
    out.loc[curve.index, "cumulative_share"] = curve["share_revenue"]
    return out


def _measure(spec, frame: pd.DataFrame) -> tuple[pd.Series, str]:
    m = spec.measure
    if m == "revenue":
        return frame["revenue_12m"], MEASURES["revenue"]
    if m == "margin":
        if "gross_margin_12m" not in frame.columns or frame["gross_margin_12m"].isna().all():
            raise DataTooThinError("value: measure margin needs gross_margin_12m (order lines with a cost)")
        return frame["revenue_12m"] * frame["gross_margin_12m"], MEASURES["margin"]
    check_columns(frame.columns, [m], "value: measure")
    x = pd.to_numeric(frame[m], errors="coerce")
    if x.isna().all():
        raise DataTooThinError(f"value: measure {m} has no numeric value")
    return x, m


def value(spec, frame: pd.DataFrame) -> Computed:
    x, what = _measure(spec, frame)
    units = value_tiers(x, spec.a, spec.b)
    n = len(units)
    total = float(x[x > 0].sum())
    rows = []
    for label, text in (("A", f"the top units that carry {spec.a:.0%} of the {what}"),
                        ("B", f"the next units, up to {spec.b:.0%} of the {what}"),
                        ("C", f"the long tail: the last {1 - spec.b:.0%} of the {what}"),
                        (NO_VALUE, f"no positive {what}")):
        m = units.segment == label
        if m.any():
            share = float(x[m].clip(lower=0).sum() / total) if total else np.nan
            rows.append({"segment": label, "n_units": int(m.sum()), "share": m.sum() / n, "value_share": share,
                         "description": text})
    notes = [] if spec.measure != "revenue" else [
        "value tiers by revenue in the window; 'sikta clv' gives tiers by lifetime value (its tier column)"]
    return Computed(units, pd.DataFrame(rows), notes, _present(frame, OUTCOMES), [], {NO_VALUE: "have no positive "
                    f"{what}"}, number="value", extra={"measure": what, "a": spec.a, "b": spec.b})


# -- opportunity ------------------------------------------------------------------------------------


def opportunity(spec, frame: pd.DataFrame, target: pd.Series, target_columns: list[str]) -> Computed:
    """``target``: True for the units that bought the line / meet the condition (from the service)."""
    from sikta.core.propensity import PropensityModel

    check_columns(frame.columns, spec.features, "opportunity: features")
    check_columns(frame.columns, [c for c in spec.exclude if "*" not in c], "opportunity: exclude")
    exclude = [c for c in (*NEVER_LEARN, *target_columns, *spec.exclude) if c in frame.columns]
    pm = PropensityModel(features=spec.features, exclude=exclude, model=spec.model, min_positives=spec.min_positives,
                         high_share=spec.high_share, medium_share=spec.medium_share,
                         random_state=spec.random_state)
    pm.fit(frame if spec.features is None else frame[[*spec.features]], target)
    r = pm.reliability_
    extra = {"auc": pm.auc_, "brier": pm.brier_, "brier_baseline": pm.brier_baseline_,
             "calibration_error": pm.calibration_error_, "base_rate": pm.base_rate_,
             "positives": int(target.sum()), "features": pm.features_, "reliability": _records(r),
             "dropped": {k: v for k, v in pm.dropped_.items() if v != "excluded"}}
    prof = pm.profiles_.assign(description=pm.profiles_.segment.map({
        pm.positive_label: "already buys it / meets the condition",
        "high propensity": f"the top {spec.high_share:.0%} of the others by propensity",
        "medium propensity": f"the next {spec.medium_share:.0%}",
        "low propensity": "the rest",
    }))
    units = pm.segments_.rename(columns={"target": "positive"})
    return Computed(units, prof, list(pm.notes_), ["propensity"], [], {}, number="propensity", extra=extra,
                    frame=frame.join(units[["propensity"]]))


# -- preference -------------------------------------------------------------------------------------


def preference(spec, frame: pd.DataFrame) -> Computed:
    from sikta.core.preference import PreferenceFit

    gtm = spec.gtm.model_dump(exclude_none=True)
    pf = PreferenceFit(gtm, weights=spec.weights, must_match=tuple(spec.must_match), fit_at=spec.fit_at,
                       partial_at=spec.partial_at).fit(frame)
    inputs = [c for c, key in (("channel_preference", "channels"), ("tech_maturity", "digital_share"),
                               ("region", "regions"), ("country", "countries")) if key in gtm and c in frame.columns]
    variables = ["fit_score"] + [c for c in ("channel_fit", "tech_fit", "geography_fit")
                                 if pf.segments_[c].notna().any()]
    extra = {"required_maturity": None if np.isnan(pf.required_maturity_) else pf.required_maturity_, "gtm": gtm}
    return Computed(pf.segments_, pf.profiles_, list(pf.notes_), variables, inputs,
                    {"unknown": "have no channel preference, tech maturity or location to score"},
                    number="fit_score", extra=extra, frame=frame.join(pf.segments_[variables]))


# -- layer ------------------------------------------------------------------------------------------


def cross(spec, frame: pd.DataFrame, first, second) -> Computed:
    """Layer two computed schemes (:class:`SchemeResult` of the service) over the units of ``frame``."""
    a = first.units.segment.reindex(frame.index)
    b = second.units.segment.reindex(frame.index)
    label = layer(a, b, min_size=spec.min_size)
    units = pd.DataFrame({"segment": label, first.name: a, second.name: b}, index=frame.index)
    unplaced = set(first.unplaced) | {"unknown"}, set(second.unplaced) | {"unknown"}
    off = units[units[first.name].isin(unplaced[0]) | units[first.name].isna()
                | units[second.name].isin(unplaced[1]) | units[second.name].isna()].segment.unique()
    why = {s: f"have no segment in {first.name} or {second.name}" for s in off}
    rows = []
    for s, g in units.groupby("segment", sort=False):
        left, _, right = str(s).partition(SEP)
        rows.append({"segment": s, "n_units": len(g), "share": len(g) / len(units),
                     "description": f"{first.name}: {left}; {second.name}: {right}"})
    prof = pd.DataFrame(rows).sort_values("n_units", ascending=False, kind="mergesort").reset_index(drop=True)
    notes = [] if not spec.min_size else [f"cells under {spec.min_size} units are pooled into '<{first.name}> × other'"]
    variables = list(dict.fromkeys([*first.variables, *second.variables]))
    diag = frame.join(first.units[[c for c in first.variables if c in first.units.columns
                                   and c not in frame.columns]], how="left")
    diag = diag.join(second.units[[c for c in second.variables if c in second.units.columns
                                    and c not in diag.columns]], how="left")
    return Computed(units, prof, notes, [v for v in variables if v in diag.columns], [], why, frame=diag)


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v))
             for k, v in r.items()} for r in df.to_dict("records")]


COMPUTE = {"firmographic": firmographic, "needs": needs, "behavioral": behavioral, "value": value,
           "preference": preference}


def compute(spec, frame: pd.DataFrame) -> Computed:
    """Dispatch the rule and cluster types that need only the unit frame (not opportunity or layer)."""
    return COMPUTE[spec.type](spec, frame)
