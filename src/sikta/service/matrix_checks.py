"""No degenerate matrix without a word: what ``model check``, ``run``, ``diagnose --matrix`` say about a scored matrix.

The pain × potential matrix can be formally valid and still useless: an axis
every unit scores the same on, a threshold at the axis minimum (so "high pain"
only means "has any pain signal at all"), an axis resting on a parameter most
units lack, a group nobody is in. :func:`matrix_diagnosis` takes the scored
rows (:func:`sikta.engine.matrix.score`, or a run table) and returns:

* ``verdict`` and ``reasons`` - :func:`sikta.core.diagnostics.axis_warnings`
  over the units in the matrix (in scope and not deprioritized) and
  :func:`~sikta.core.diagnostics.matrix_verdict`: ``not usable`` when an axis
  is constant or has no values, ``usable with caveats`` for any other
  warning, ``usable`` without one. The documented minimums: an axis is
  *nearly constant* when 95 % of units score one value, a parameter is
  *lacked by most* below 60 % coverage (:data:`MIN_PARAMETER_COVERAGE`);
* ``groups`` - units, revenue and their shares per group;
* ``axes`` - per axis the parameters (with their coverage), the spread of the
  axis score, the threshold and the share of units that are high, and
  ``why``: one sentence saying why the axis is what it is.

Examples
--------
>>> import pandas as pd
>>> from sikta.service.model import model_from_text
>>> m = model_from_text("name: m\\npotential: [{name: size, feature: employees}]\\n"
...                     "pain: [{name: t, feature: tickets_12m}]\\n")
>>> rows = pd.DataFrame({"group": ["qualify", "maintain", "qualify", "maintain"],
...     "potential_score": [1.0, 0.0, 0.67, 0.33], "pain_score": [0.0] * 4,
...     "potential_threshold": [0.5] * 4, "pain_threshold": [0.0] * 4,
...     "potential__size__value": [4, 1, 3, 2], "pain__t__value": [None] * 4})
>>> d = matrix_diagnosis(rows, m)
>>> d["verdict"], d["reasons"][0]
('not usable', 'pain axis is constant: every unit scores 0.00')
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from sikta.core.diagnostics import axis_warnings, matrix_verdict
from sikta.engine.matrix import AXES, GROUPS, param_column

if TYPE_CHECKING:
    from sikta.service.model import Model
    from sikta.service.workspace import Workspace

__all__ = ["MIN_PARAMETER_COVERAGE", "NEAR_CONSTANT", "check_model", "matrix_columns", "matrix_diagnosis"]

#: a parameter that fewer in-matrix units than this share have a value for makes a caveat
MIN_PARAMETER_COVERAGE = 0.6
#: an axis on which at least this share of units score one value is "nearly constant"
NEAR_CONSTANT = 0.95
MATRIX_GROUPS = GROUPS[:4]


def matrix_columns(model: Model, columns) -> list[str]:
    """The columns of scored rows that :func:`matrix_diagnosis` reads (so a caller can select just those)."""
    want = ["unit_id", "group", "revenue_12m", *(f"{a}_{s}" for a in AXES for s in ("score", "threshold"))]
    want += [param_column(a, p.name, "value") for a, _, p in model.parameters()]
    return [c for c in want if c in set(columns)]


def _pct(x: float) -> str:
    return f"{round(100 * x) or 0:.0f} %"  # no "-0 %" for a share just below zero


def _axis(model: Model, axis: str, rows: pd.DataFrame, unit: str) -> dict[str, Any]:
    params = getattr(model, axis)
    score = pd.to_numeric(rows[f"{axis}_score"], errors="coerce")
    cut = float(rows[f"{axis}_threshold"].iloc[0]) if len(rows) else math.nan
    th = getattr(model.thresholds, axis)
    how = f"the {th.quantile * 100:g}th percentile" if th.quantile is not None else "a fixed value"
    out_params = []
    for p in params:
        col = param_column(axis, p.name, "value")
        cov = float(rows[col].notna().mean()) if col in rows.columns and len(rows) else math.nan
        out_params.append({"name": p.name, "label": p.label, "kind": p.kind, "source": p.source,
                           "weight": p.weight, "coverage": cov, "missing_scores": p.missing})
    high = score > cut if th.quantile is not None else score >= cut
    doc = {
        "parameters": out_params,
        "min": float(score.min()) if len(score) else None, "median": float(score.median()) if len(score) else None,
        "max": float(score.max()) if len(score) else None, "threshold": cut, "threshold_kind": how,
        "high_share": float(high.mean()) if len(score) else None,
        "at_min_share": float((score <= score.min() + 1e-9).mean()) if len(score) else None,
    }
    parts = []
    for p in out_params:
        cov = "" if math.isnan(p["coverage"]) or p["coverage"] >= 0.995 else (
            f", a value for {_pct(p['coverage'])} of {unit} (the others score {p['missing_scores']:g})")
        parts.append(f"{p['label']}{cov}")
    if len(score):
        mode_share = float(score.round(12).value_counts(normalize=True).iloc[0])
        mode = float(score.round(12).value_counts().index[0])
        spread = (f"every unit scores {mode:.2f}" if score.max() - score.min() <= 1e-9 else
                  f"scores {score.min():.2f}-{score.max():.2f}, median {score.median():.2f}"
                  + (f", {_pct(mode_share)} at {mode:.2f}" if mode_share >= 0.3 else ""))
        doc["why"] = (f"{axis} is the weighted mean of {', '.join(parts)}: {spread}; high from {cut:.2f} "
                      f"({how}), {_pct(doc['high_share'])} of {unit} are high")
    else:
        doc["why"] = f"{axis}: no unit in the matrix"
    return doc


def matrix_diagnosis(rows: pd.DataFrame, model: Model, *, unit: str | None = None) -> dict[str, Any]:
    """Verdict, reasons, group sizes and per-axis explanations of scored matrix rows (see the module notes)."""
    from sikta.service.schemes import unit_word

    unit = unit or unit_word(model.customer.grain)
    n = len(rows)
    rev = pd.to_numeric(rows["revenue_12m"], errors="coerce").fillna(0.0) if "revenue_12m" in rows.columns else None
    total = float(rev.sum()) if rev is not None else 0.0
    groups = []
    for g in GROUPS:
        m = rows["group"] == g
        row = {"group": g, "units": int(m.sum()), "share": float(m.mean()) if n else 0.0}
        if rev is not None:
            row |= {"revenue": float(rev[m].sum()), "revenue_share": float(rev[m].sum() / total) if total else None}
        groups.append(row)
    inside = rows[rows["group"] != "deprioritized"]
    scores = pd.DataFrame({a: pd.to_numeric(inside[f"{a}_score"], errors="coerce") for a in AXES})
    thresholds = {a: float(inside[f"{a}_threshold"].iloc[0]) for a in AXES} if len(inside) else {}
    params = pd.DataFrame(index=inside.index)
    axis_params: dict[str, list[str]] = {}
    for a, _, p in model.parameters():
        col = param_column(a, p.name, "value")
        if col in inside.columns:
            params[f"{a}: {p.label}"] = inside[col]
            axis_params.setdefault(a, []).append(f"{a}: {p.label}")
    if len(inside):
        reasons = axis_warnings(scores, thresholds, params=params, axis_params=axis_params, groups=inside["group"],
                                expected_groups=MATRIX_GROUPS, near_constant=NEAR_CONSTANT,
                                min_param_coverage=MIN_PARAMETER_COVERAGE, unit=unit)
        # "pain axis depends on pain: need score" reads better without the repeated axis
        reasons = [r.replace(f"depends on {a}: ", "depends on ") for r in reasons for a in [r.split(" ", 1)[0]]]
    else:
        reasons = ["no unit is in the matrix (every unit in scope is deprioritized)"]
    verdict = matrix_verdict(reasons) if len(inside) else "not usable"
    from sikta.service.schemes import _jsonable

    return _jsonable({"verdict": verdict, "reasons": reasons, "units": n, "in_matrix": int(len(inside)),
                      "groups": groups, "axes": {a: _axis(model, a, inside, unit) for a in AXES}})


def check_model(ws: Workspace, model: Model, as_of=None) -> dict[str, Any]:
    """Score the model without storing a run and diagnose the matrix (what ``sikta model check`` warns about).

    Schemes are computed only when a matrix parameter reads one, and without
    the stability refits (``sikta run`` and ``sikta diagnose`` judge them).
    """
    from sikta.engine.matrix import score
    from sikta.service.scoring import scoring_input

    f = ws.features(model.customer.grain, as_of)
    f = scoring_input(ws, model, f, as_of, all_schemes=False, stability=False).features
    scored = score(f, model)
    keep = [c for c in ("revenue_12m",) if c in f.columns and c not in scored.columns]
    if keep:
        scored = scored.left_join(f.select("unit_id", *keep), "unit_id").drop("unit_id_right")
    return matrix_diagnosis(ws.store.frame(scored.select(*matrix_columns(model, scored.columns))), model)
