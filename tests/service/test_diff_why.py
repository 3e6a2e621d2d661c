"""The "why" of a run comparison names a parameter of the axis that crossed its threshold.

The runs are written by hand (metadata row plus run table), so every score is known
exactly and the expected sentences below are worked out by hand in the comments, not by
the code under test. The model weighs size 3 and reach 1 on potential (shares 0.75 and
0.25) and tickets and churn equally on pain (0.5 each); both thresholds are the value 0.5.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from sikta.service import runs
from sikta.service.workspace import Workspace

MODEL = """
name: why
customer: {{grain: account}}
potential:
  - {{name: size, feature: size_f, scaling: none, weight: {size}}}
  - {{name: reach, feature: reach_f, scaling: none, weight: {reach}}}
pain:
  - {{name: tickets, feature: tickets_f, scaling: none}}
  - {{name: churn, feature: churn_f, scaling: none}}
thresholds:
  potential: {{value: 0.5}}
  pain: {{value: 0.5}}
"""
PARAMS = {"potential": ("size", "reach"), "pain": ("tickets", "churn")}
ROW_SCHEMA = {
    "unit_id": "string", "name": "string", "deprioritized_by": "string", "group": "string",
    **{f"{ax}__{p}__{part}": "float64" for ax, ps in PARAMS.items() for p in ps for part in ("value", "score")},
    **{f"{ax}_{part}": "float64" for ax in PARAMS for part in ("score", "threshold")},
    **{f"{ax}_high": "boolean" for ax in PARAMS},
}


def write_run(ws: Workspace, run_id: str, weights: dict[str, float], scores: dict[str, tuple]) -> None:
    """A run whose units have the given (size, reach, tickets, churn) scores under the given weights."""
    text = MODEL.format(size=weights["size"], reach=weights["reach"])
    rows = []
    for unit, (size, reach, tickets, churn) in scores.items():
        by = {"size": size, "reach": reach, "tickets": tickets, "churn": churn}
        w = {**weights, "tickets": 1.0, "churn": 1.0}
        row = {"unit_id": unit, "name": None, "deprioritized_by": None}
        for ax, ps in PARAMS.items():
            for p in ps:
                row[f"{ax}__{p}__value"] = row[f"{ax}__{p}__score"] = by[p]
            row[f"{ax}_score"] = sum(by[p] * w[p] for p in ps) / sum(w[p] for p in ps)
            row[f"{ax}_threshold"] = 0.5
            row[f"{ax}_high"] = row[f"{ax}_score"] >= 0.5
        hi_pot, hi_pain = row["potential_high"], row["pain_high"]
        row["group"] = {(True, True): "invest", (True, False): "qualify",
                        (False, True): "streamline", (False, False): "maintain"}[(hi_pot, hi_pain)]
        rows.append(row)
    ws.store.create(runs.run_table(run_id), pd.DataFrame(rows), schema=ROW_SCHEMA)
    ws.store.create_empty(runs.RUNS, runs.RUNS_SCHEMA, replace=False)
    ws.store.insert(runs.RUNS, pd.DataFrame([{
        **dict.fromkeys(runs.RUNS_SCHEMA), "run_id": run_id, "created_at": pd.Timestamp("2026-01-01"),
        "as_of": pd.Timestamp("2025-12-31").date(), "grain": "account", "model_name": "why", "model_version": "1",
        "model_sha256": hashlib.sha256(text.encode()).hexdigest(), "model_text": text, "units": len(rows),
        "groups": "{}",
    }]), schema=runs.RUNS_SCHEMA)


EVEN = {"size": 3.0, "reach": 1.0}
A = {
    "U1": (0.40, 0.40, 0.20, 0.10),
    "U2": (0.30, 0.30, 0.80, 0.60),
    "U3": (0.60, 0.60, 0.20, 0.20),
    "U5": (0.20, 0.80, 0.10, 0.10),
}
B = {
    "U1": (0.52, 0.72, 0.20, 0.45),
    "U2": (0.10, 0.90, 0.90, 0.04),
    "U3": (0.20, 0.60, 0.90, 0.30),
    "U5": (0.20, 0.80, 0.10, 0.10),
}


@pytest.fixture(scope="module")
def whys(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("why") / "ws.duckdb")
    write_run(ws, "run-a", EVEN, A)
    write_run(ws, "run-b", EVEN, B)
    write_run(ws, "run-c", {"size": 1.0, "reach": 3.0}, {"U5": A["U5"]})
    yield (
        {r["unit_id"]: r["why"] for r in runs.diff(ws, "run-a", "run-b")["accounts"]},
        {r["unit_id"]: r["why"] for r in runs.diff(ws, "run-a", "run-c")["accounts"]},
    )
    ws.close()


def test_the_clause_names_the_flipped_axis_not_the_largest_move_overall(whys):
    # U1 potential: A 0.75·0.40 + 0.25·0.40 = 0.40 (low); B 0.75·0.52 + 0.25·0.72 = 0.39 + 0.18 = 0.57 (high).
    #    pain: A (0.20 + 0.10)/2 = 0.15, B (0.20 + 0.45)/2 = 0.325: low both times, so pain did not flip.
    # Raw moves: churn +0.35 (the largest of all, on pain), reach +0.32, size +0.12.
    # Weighted potential pushes: size 0.75·0.12 = +0.09, reach 0.25·0.32 = +0.08 -> size, although reach
    # moved more in raw score and churn more than anything.
    assert whys[0]["U1"] == "potential low → high (score 0.40 → 0.57, threshold 0.50); mostly size 0.40 → 0.52"


def test_a_fall_names_the_parameter_that_pulled_the_axis_down(whys):
    # U2 pain: A (0.80 + 0.60)/2 = 0.70 (high); B (0.90 + 0.04)/2 = 0.47 (low).
    #    potential: A 0.30; B 0.75·0.10 + 0.25·0.90 = 0.075 + 0.225 = 0.30: low both times.
    # Raw moves: reach +0.60 (the largest, on potential), churn -0.56, size -0.20, tickets +0.10.
    # Pain pushes downward: churn 0.5·0.56 = 0.28; tickets went up (against the fall) -> churn.
    assert whys[0]["U2"] == "pain high → low (score 0.70 → 0.47, threshold 0.50); mostly churn 0.60 → 0.04"


def test_two_flipped_axes_get_one_clause_each(whys):
    # U3 potential: A 0.60 (high); B 0.75·0.20 + 0.25·0.60 = 0.15 + 0.15 = 0.30 (low): size pulled it
    #    down by 0.75·0.40 = 0.30, reach did not move.
    # pain: A 0.20 (low); B (0.90 + 0.30)/2 = 0.60 (high): tickets +0.5·0.70 = 0.35 beats churn +0.05.
    assert whys[0]["U3"] == (
        "potential high → low (score 0.60 → 0.30, threshold 0.50); mostly size 0.60 → 0.20; "
        "pain low → high (score 0.20 → 0.60, threshold 0.50); mostly tickets 0.20 → 0.90"
    )


def test_the_same_scores_under_new_weights_name_the_reweighted_parameter(whys):
    # U5 unchanged scores (size 0.20, reach 0.80), weights size 3 / reach 1 -> size 1 / reach 3.
    # potential: A 0.75·0.20 + 0.25·0.80 = 0.35 (low); C 0.25·0.20 + 0.75·0.80 = 0.65 (high).
    # Pushes: reach 0.75·0.80 - 0.25·0.80 = +0.40, size 0.25·0.20 - 0.75·0.20 = -0.10 -> reach, and its
    # share moved from 0.25 to 0.75.
    assert whys[1]["U5"] == (
        "potential low → high (score 0.35 → 0.65, threshold 0.50); mostly reach 0.80 → 0.80 "
        "(weight 0.25 → 0.75) (the model changed)"
    )
    assert "U5" not in whys[0]  # same scores, same model: it did not move
