"""The numpy tree, AUC and stratified splits against scikit-learn as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from sikta.core.cart import ShallowTree, roc_auc, stratified_folds, stratified_holdout


def data(seed: int, n: int = 600, cols: int = 3, missing: float = 0.0):
    """Values on a 1/8 grid (exact in float32, which scikit-learn's trees use), a noisy signal in column 0."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 400, size=(n, cols)) / 8.0
    y = (X[:, 0] + 12 * rng.normal(size=n) > 25) ^ (X[:, 1] > 45)
    if missing:
        X[rng.random(size=X.shape) < missing] = np.nan
    return X, y


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("leaf", [1, 7, 40])
@pytest.mark.parametrize("missing", [0.0, 0.15])
def test_tree_matches_scikit_learn(depth, leaf, missing):
    X, y = data(depth * 100 + leaf, missing=missing)
    ours = ShallowTree(max_depth=depth, min_samples_leaf=leaf).fit(X, y)
    ref = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=leaf, random_state=0).fit(X, y)
    Xt, _ = data(999, n=400, missing=max(missing, 0.1))  # missing values also where training had none
    np.testing.assert_allclose(ours.predict_proba(Xt), ref.predict_proba(Xt), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.feature_importances_, ref.feature_importances_, rtol=1e-9, atol=1e-12)
    inner = ref.tree_.feature >= 0
    assert (ours.feature_ >= 0).sum() == inner.sum()


def test_missing_only_split_matches_scikit_learn():
    """A column whose only signal is being missing: both trees split "missing vs known"."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 50, 500).astype(float)
    y = rng.random(500) < 0.2
    x[y & (rng.random(500) < 0.9)] = np.nan
    ours = ShallowTree(max_depth=1, min_samples_leaf=5).fit(x[:, None], y)
    ref = DecisionTreeClassifier(max_depth=1, min_samples_leaf=5).fit(x[:, None], y)
    assert ours.threshold_[0] == np.inf == ref.tree_.threshold[0]
    probe = np.array([[np.nan], [10.0]])
    np.testing.assert_allclose(ours.predict_proba(probe), ref.predict_proba(probe))


def test_no_split_when_pure_or_too_small():
    X = np.arange(10.0)[:, None]
    assert ShallowTree().fit(X, np.zeros(10, bool)).feature_.tolist() == [-1]
    assert ShallowTree(min_samples_leaf=6).fit(X, np.arange(10) > 4).feature_.tolist() == [-1]
    assert ShallowTree().fit(X, np.arange(10) > 4).feature_importances_.tolist() == [1.0]


@pytest.mark.parametrize("seed", range(4))
def test_auc_matches_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.3
    s = rng.integers(0, 12, 300) + 2.0 * y  # many ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_needs_both_classes():
    with pytest.raises(ValueError):
        roc_auc([True, True], [0.1, 0.2])


@pytest.mark.parametrize(("n", "share", "test_size"), [(1000, 0.2, 0.3), (137, 0.31, 0.25), (90, 0.5, 0.5)])
def test_holdout_has_scikit_learns_size_and_keeps_the_class_share(n, share, test_size):
    y = np.zeros(n, bool)
    y[: round(share * n)] = True
    tr, ho = stratified_holdout(y, test_size, seed=1)
    rtr, rho = train_test_split(np.arange(n), test_size=test_size, stratify=y, random_state=1)
    assert (len(tr), len(ho)) == (len(rtr), len(rho))
    assert abs(int(y[ho].sum()) - int(y[rho].sum())) <= 1
    assert sorted(np.r_[tr, ho].tolist()) == list(range(n))
    again = stratified_holdout(y, test_size, seed=1)
    assert again[1].tolist() == ho.tolist()
    assert stratified_holdout(y, test_size, seed=2)[1].tolist() != ho.tolist()


def test_folds_partition_and_stratify():
    y = np.r_[np.ones(23, bool), np.zeros(78, bool)]
    folds = stratified_folds(y, 5, seed=0)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(101))
    for tr, te in folds:
        assert set(tr.tolist()).isdisjoint(te.tolist()) and len(tr) + len(te) == 101
        assert int(y[te].sum()) in (4, 5)
        assert len(te) in (20, 21)
    assert [te.tolist() for _, te in stratified_folds(y, 5, seed=0)] == [te.tolist() for _, te in folds]


@pytest.mark.parametrize("cut", [4, 5, 6])
def test_unseen_missing_follows_the_bigger_child_like_scikit_learn(cut):
    X = np.arange(10.0)[:, None]
    y = np.arange(10) >= cut  # cut 5: a 5/5 split, where scikit-learn sends missing values right
    probe = np.array([[np.nan]])
    ours = ShallowTree(max_depth=1).fit(X, y).predict_proba(probe)
    ref = DecisionTreeClassifier(max_depth=1).fit(X, y).predict_proba(probe)
    np.testing.assert_allclose(ours, ref)


def test_given_row_orders_grow_the_same_tree():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(500, 3))
    X[rng.random(500) < 0.1, 1] = np.nan
    X[:, 2] = np.round(X[:, 2])  # ties: the stable order matters
    y = (X[:, 0] + np.nan_to_num(X[:, 1]) + rng.normal(size=500)) > 0.5
    plain = ShallowTree(max_depth=2, min_samples_leaf=5).fit(X, y)
    orders = [np.argsort(X[:, j], kind="stable") for j in range(3)]
    given = ShallowTree(max_depth=2, min_samples_leaf=5).fit(X, y, order=orders)
    for attr in ("feature_", "threshold_", "missing_left_", "children_left_", "n_node_", "value_",
                 "feature_importances_"):
        np.testing.assert_array_equal(getattr(plain, attr), getattr(given, attr))
    assert (plain.feature_ >= 0).sum() == 3  # it did split, on more than one column
    with pytest.raises(ValueError, match="one row order of 500 rows per column"):
        ShallowTree().fit(X, y, order=orders[:2])
