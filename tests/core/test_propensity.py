"""Opportunity propensity: holdout AUC near the oracle, calibration, leaks dropped, thin data refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from sikta.core.propensity import HIGH, LOW, MEDIUM, MIN_POSITIVES, PropensityModel
from sikta.errors import DataTooThinError, UsageError


def logistic_world(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"sites": rng.normal(size=n), "tech": rng.normal(size=n), "noise": rng.normal(size=n),
                      "industry": rng.choice(["it", "retail", "energy"], n)})
    logit = -1.5 + 1.5 * X.sites - 1.0 * X.tech + np.where(X.industry == "it", 1.0, 0.0)
    p = 1 / (1 + np.exp(-logit))
    y = rng.random(n) < p
    return X, pd.Series(y), p


@pytest.mark.parametrize("model", ["logistic", "gbm"])
def test_holdout_auc_and_calibration_against_the_truth(model):
    X, y, p_true = logistic_world()
    pm = PropensityModel(model=model).fit(X, y)
    oracle = roc_auc_score(y, p_true)  # the best any model can do on these draws
    assert pm.auc_ == pytest.approx(roc_auc_score(y, pm.propensity_))
    assert oracle - 0.04 <= pm.auc_ <= oracle + 0.01
    assert pm.brier_ == pytest.approx(brier_score_loss(y, pm.propensity_))
    assert pm.brier_ < pm.brier_baseline_ == pytest.approx(y.mean() * (1 - y.mean()))
    assert pm.calibration_error_ < 0.06
    r = pm.reliability_
    assert r.n.sum() == len(X) and len(r) == 10
    assert r.observed_rate.iloc[-1] > r.observed_rate.iloc[0] + 0.5


def test_every_unit_is_scored_by_a_model_that_did_not_see_it():
    X, y, _ = logistic_world(n=600)
    pm = PropensityModel(model="logistic", n_folds=4, random_state=3).fit(X[["sites", "tech", "noise"]], y)
    # scikit-learn's own cross-fitting with the same folds and model is the oracle
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    expected = cross_val_predict(pm._estimator(["sites", "tech", "noise"], []), X[["sites", "tech", "noise"]], y,
                                 cv=folds, method="predict_proba")[:, 1]
    assert np.allclose(pm.propensity_, expected)
    assert not np.allclose(pm.propensity_, pm.model_.predict_proba(X[["sites", "tech", "noise"]])[:, 1])


def test_leaks_exclusions_and_column_kinds():
    X, y, _ = logistic_world()
    X = X.assign(
        rev12_line=np.where(y, 100.0, 0.0) + np.random.default_rng(1).random(len(X)),  # the target in disguise
        own_rev=np.where(y, 5.0, 0.0),
        employees=pd.array(np.arange(len(X)) % 300, dtype="Int64").astype(object),  # engine-style nullable ints
        first_order=pd.Timestamp("2024-01-01"),
        lines=[["a"]] * len(X),
        unit_id=[f"U{i}" for i in range(len(X))],
    )
    pm = PropensityModel(model="logistic", exclude=["own_rev"]).fit(X, y)
    assert pm.dropped_["own_rev"] == "excluded"
    assert pm.dropped_["rev12_line"].startswith("leak: on its own it separates the target")
    assert "employees" in pm.features_  # numbers in an object column are numbers
    assert pm.dropped_["first_order"].startswith("not a number") and pm.dropped_["lines"].startswith("not a number")
    assert "identifier" in pm.dropped_["unit_id"]
    assert any(n.startswith("dropped as leaks: rev12_line") for n in pm.notes_)


def test_segments_of_the_non_buyers():
    X, y, _ = logistic_world()
    pm = PropensityModel(model="logistic").fit(X, y)
    s = pm.segments_
    assert (s.segment[y.to_numpy()] == "already buys").all()
    others = s[~y.to_numpy()]
    n = len(others)
    assert (others.segment == HIGH).sum() == round(0.2 * n) and (others.segment == MEDIUM).sum() == round(0.3 * n)
    assert others.propensity[others.segment == HIGH].min() >= others.propensity[others.segment == MEDIUM].max()
    assert others.propensity[others.segment == MEDIUM].min() >= others.propensity[others.segment == LOW].max()
    new = X.head(5)
    assert np.allclose(pm.predict_proba(new), pm.model_.predict_proba(new[pm.features_].astype(
        {"industry": object}))[:, 1])


def test_too_few_positives_are_refused():
    X, _, _ = logistic_world(n=400)
    y = np.zeros(400, dtype=bool)
    y[:12] = True
    with pytest.raises(DataTooThinError, match=f"only 12 units with the target .* at least {MIN_POSITIVES}"):
        PropensityModel().fit(X, y)
    with pytest.raises(UsageError, match="missing for 1 units"):
        PropensityModel().fit(X, pd.Series([True, None] + [False] * 398, dtype=object))
    with pytest.raises(UsageError, match="model must be"):
        PropensityModel(model="forest").fit(X, y)


def test_propensity_for_a_product_line_on_the_synthetic_data(synthetic_3000):
    """Who buys Training: learned from firmographics and behavior; its own revenue is caught as a leak."""
    _, ws = synthetic_3000
    f = ws.store.frame(ws.features(grain="account")).set_index("unit_id")
    f = f[f.status == "customer"]
    y = f.rev12_training > 0
    pm = PropensityModel(model="logistic", exclude=["name", "product_lines", "n_product_lines"]).fit(f, y)
    assert pm.dropped_["rev12_training"].startswith("leak")
    assert pm.auc_ >= 0.7, pm.auc_
    assert pm.brier_ < pm.brier_baseline_
