"""DriverSelector on synthetic data with known drivers, on pure noise, and its guards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sikta.core.drivers import MIN_PER_CLASS, DriverSelector, capture_rate
from sikta.errors import DataTooThinError, UsageError

DRIVERS = {"industry", "tech"}


def make(seed: int, n: int = 1500, signal: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    """Two watersheds (industry in {software, fintech}, tech ≥ 4) among 8 noise columns; 20 % best."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"num{i}": rng.normal(size=n) for i in range(5)})
    for i in range(3):
        X[f"cat{i}"] = rng.choice(list("pqrstu"), n)
    X["tech"] = pd.array(rng.integers(1, 6, n), dtype="Int64")
    X["industry"] = rng.choice(["software", "fintech", "retail", "energy", "health", "public"], n)
    X.loc[rng.random(n) < 0.1, "num1"] = np.nan
    X.loc[rng.random(n) < 0.05, "cat0"] = None
    if signal:
        fit = X.industry.isin(["software", "fintech"])
        score = 1.8 * (X.tech >= 4).astype(float) + 1.8 * fit + rng.normal(0, 0.8, n)
    else:
        score = pd.Series(rng.normal(size=n))
    return X, pd.Series(score >= np.quantile(score, 0.8))


@pytest.fixture(scope="module")
def fits():
    """Fits shared by several tests: (method, seed, signal) -> fitted selector."""
    cache: dict[tuple[str, int, bool], DriverSelector] = {}

    def get(method: str, seed: int, signal: bool = True) -> DriverSelector:
        key = (method, seed, signal)
        if key not in cache:
            X, y = make(seed, signal=signal)
            cache[key] = DriverSelector(method=method, random_state=seed).fit(X, y)
        return cache[key]

    return get


@pytest.mark.parametrize(("method", "seed"), [("tree", 0), ("tree", 1), ("tree", 2), ("tree", 7), ("l1", 0), ("l1", 3)])
def test_finds_the_two_planted_drivers(fits, method, seed):
    sel = fits(method, seed)
    assert set(sel.features_) == DRIVERS, sel.cv_scores_
    assert sel.holdout_auc_ > 0.8
    assert sel.base_rate_ == pytest.approx(0.2, abs=0.01)
    assert sel.holdout_capture_ > 2 * sel.base_rate_
    assert sorted(sel.rules_) == ["industry in {fintech, software}", "tech ≥ 4"]
    assert sel.importances_.sum() == pytest.approx(1.0)
    assert set(sel.importances_.index) == DRIVERS


@pytest.mark.parametrize(("method", "seed"), [("tree", 0), ("tree", 1), ("l1", 0), ("l1", 1)])
def test_pure_noise_predicts_nothing_on_the_holdout(fits, method, seed):
    sel = fits(method, seed, signal=False)
    assert 1 <= len(sel.features_) <= 3
    assert sel.holdout_auc_ < 0.65
    assert sel.holdout_capture_ < 2 * sel.base_rate_


def test_is_deterministic(fits):
    X, y = make(0)
    again = DriverSelector(method="tree", random_state=0).fit(X, y)
    first = fits("tree", 0)
    assert again.features_ == first.features_
    assert again.holdout_auc_ == first.holdout_auc_
    assert again.holdout_capture_ == first.holdout_capture_
    pd.testing.assert_frame_equal(again.cv_scores_, first.cv_scores_)
    assert again.rules_ == first.rules_


def test_reports_the_search(fits):
    sel = fits("tree", 0)
    scores = sel.cv_scores_
    assert list(scores.columns) == ["step", "feature", "cv_auc", "cv_std", "chosen"]
    assert list(scores[scores.chosen].feature) == sel.features_
    assert sel.cv_auc_ == pytest.approx(scores[scores.chosen].cv_auc.iloc[-1])
    assert len(scores[scores.step == 1]) == 10  # every column tried first
    assert sel.n_train_ + sel.n_holdout_ == 1500
    assert sel.kinds_["industry"] == "categorical" and sel.kinds_["tech"] == "numeric"
    table = sel.rule_table_.set_index("feature")
    assert (table.best_meeting > table.rest_meeting).all()
    text = sel.explain()
    assert text.startswith("These 2 factors (")
    assert f"vs {round(100 * sel.base_rate_)} % at random (AUC {sel.holdout_auc_:.2f})" in text


@pytest.mark.parametrize("method", ["tree", "l1"])
def test_the_search_runs_on_a_stratified_sample_and_the_rest_on_all_training_rows(method):
    X, y = make(5, n=6000)
    sel = DriverSelector(method=method, search_size=1500).fit(X, y)
    assert (sel.n_train_, sel.n_holdout_, sel.n_search_) == (4200, 1800, 1500)
    assert set(sel.features_) == DRIVERS  # found on the sample as on all rows
    assert sel.holdout_auc_ > 0.8
    # the final model is fitted on every training row: its root holds them all
    if method == "tree":
        assert sel.model_.n_node_[0] == 4200
    whole = DriverSelector(method=method, search_size=None).fit(X, y)
    assert whole.n_search_ == whole.n_train_ == 4200
    assert set(whole.features_) == set(sel.features_)
    # fewer rows than search_size: the search uses all of them (the default leaves small data as it was)
    assert DriverSelector(method=method, search_size=5000).fit(X, y).n_search_ == 4200


def test_max_features_caps_the_answer():
    X, y = make(4)
    sel = DriverSelector(max_features=1).fit(X, y)
    assert len(sel.features_) == 1 and sel.features_[0] in DRIVERS
    assert sel.explain().startswith(f"This factor ({sel.features_[0]}) finds ")


@pytest.mark.parametrize(
    "kwargs", [{"max_features": 4}, {"max_features": 0}, {"method": "forest"}, {"cv": 1}, {"test_size": 1.0},
               {"search_size": 50}, {"search_size": 2.5e3}]
)
def test_rejects_bad_parameters(kwargs):
    X, y = make(0, n=300)
    with pytest.raises(UsageError):
        DriverSelector(**kwargs).fit(X, y)


def test_too_few_best_customers():
    X, y = make(0, n=400)
    y = pd.Series(False, index=X.index)
    y.iloc[:20] = True
    with pytest.raises(DataTooThinError, match="20 best customers"):
        DriverSelector().fit(X, y)
    y.iloc[:] = True
    y.iloc[: MIN_PER_CLASS - 1] = False
    with pytest.raises(DataTooThinError, match="at least 30"):
        DriverSelector().fit(X, y)


def test_skips_useless_columns_and_aligns_y():
    X, y = make(5, n=800)
    X["unit_id"] = [f"U{i}" for i in range(len(X))]
    X["constant"] = 7
    X["empty"] = np.nan
    X = X.set_axis([f"r{i}" for i in range(len(X))])
    y = y.set_axis(X.index)
    sel = DriverSelector().fit(X, y.sample(frac=1.0, random_state=0))  # same labels, other order
    assert set(sel.skipped_) == {"unit_id", "constant", "empty"}
    assert set(sel.features_) <= set(X.columns) - set(sel.skipped_)
    assert sel.holdout_auc_ > 0.8
    proba = sel.predict_proba(X.iloc[:5])
    assert proba.shape == (5,) and ((proba >= 0) & (proba <= 1)).all()


def test_rejects_lists_and_missing_targets():
    X, y = make(0, n=300)
    with pytest.raises(UsageError, match="missing"):
        DriverSelector().fit(X, y.astype(object).where(y.index > 0, None))
    X["lines"] = [["a"]] * len(X)
    with pytest.raises(UsageError, match="lists"):
        DriverSelector().fit(X, y)


def test_capture_shares_ties_fairly():
    y = np.array([True, False, True, False, False, True])
    s = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.0])
    # k=2: the top one is a hit; one place left among three tied (one hit) -> 1/3 of a hit
    assert capture_rate(y, s, 2) == pytest.approx((1 + 1 / 3) / 3)
    assert capture_rate(y, s, 6) == pytest.approx(1.0)
    assert capture_rate(y, np.zeros(6), 3) == pytest.approx(0.5)  # all tied: the random rate


def test_not_fitted():
    with pytest.raises(UsageError, match="not fitted"):
        DriverSelector().explain()


def test_the_tree_method_runs_without_scikit_learn():
    """Importing scikit-learn costs a second, most of an `analyze` on a small export: only "l1" may load it."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from sikta.core.drivers import DriverSelector\n"
        "rng = np.random.default_rng(0)\n"
        "X = pd.DataFrame({'sites': rng.integers(1, 8, 400), 'kind': rng.choice(list('abc'), 400)})\n"
        "sel = DriverSelector().fit(X, X.sites >= 5)\n"
        "print(sel.features_, sorted(m for m in ('sklearn', 'scipy.stats') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['sites'] []"


def test_the_search_on_threads_scores_every_candidate_as_one_after_the_other(monkeypatch):
    from sikta.core import parallel

    X, y = make(3)
    got = {}
    for workers in (1, 2):
        monkeypatch.setattr(parallel, "WORKERS", workers)
        s = DriverSelector().fit(X, y)
        got[workers] = (s.features_, s.cv_scores_, s.holdout_auc_)
    assert got[1][0] == got[2][0] and got[1][2] == got[2][2] and len(got[1][1]) > len(X.columns) - 1
    pd.testing.assert_frame_equal(got[1][1], got[2][1])


def test_text_that_reads_as_numbers_is_a_category():
    # region codes: '2' (the middle code) holds the best customers; as numbers no threshold isolates it
    rng = np.random.default_rng(11)
    n = 900
    X = pd.DataFrame({"region": rng.choice(["1", "2", "3"], n), "noise": rng.normal(size=n)})
    X["sites"] = pd.Series(rng.integers(1, 9, n), dtype=object)  # numbers held as objects stay numbers
    y = pd.Series((X.region == "2") & (rng.random(n) < 0.6))
    sel = DriverSelector().fit(X, y)
    assert sel.kinds_["region"] == "categorical" and sel.kinds_["sites"] == "numeric"
    assert sel.features_[0] == "region" and sel.rules_[0] == "region in {2}"
    assert sel.beats_chance_


def test_holds_text():
    from decimal import Decimal

    from sikta.core.drivers import holds_text

    assert holds_text(pd.Series(["1", "2", None])) and holds_text(pd.Series(["a", 1]))
    assert not holds_text(pd.Series([Decimal("1.5"), None]))
    assert not holds_text(pd.Series([1, None], dtype=object)) and not holds_text(pd.Series([1.0, 2.0]))


def _chance_bar(sel) -> float:
    """0.5 plus 1.645 standard errors of the AUC of a random score (Mann-Whitney, no ties), by hand."""
    pos = sel.n_holdout_best_
    neg = sel.n_holdout_ - pos
    return 0.5 + 1.645 * ((pos + neg + 1) / (12 * pos * neg)) ** 0.5


@pytest.mark.parametrize(("method", "seed"), [("tree", 0), ("tree", 1), ("l1", 0)])
def test_planted_drivers_beat_chance(fits, method, seed):
    sel = fits(method, seed)
    assert sel.n_holdout_best_ == 90  # 20 % of the 450 held out
    assert sel.holdout_auc_ > _chance_bar(sel) and sel.beats_chance_
    assert sel.explain().startswith("These 2 factors")


@pytest.mark.parametrize(("method", "seed"), [("tree", 0), ("tree", 1), ("l1", 0), ("l1", 1)])
def test_pure_noise_is_said_to_be_no_better_than_chance(fits, method, seed):
    sel = fits(method, seed, signal=False)
    assert sel.holdout_auc_ <= _chance_bar(sel)  # the premise
    assert not sel.beats_chance_
    text = sel.explain()
    assert text.startswith("No factor separates the best customers from the rest better than chance on the holdout.")
    assert f"(AUC {sel.holdout_auc_:.2f} on 90 best and 360 other customers)" in text
    assert "Watersheds" not in text
