"""StableClusterer: k chosen by bootstrap stability, checked on planted blobs with sklearn's ARI as oracle."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from sikta.core.clustering import StableClusterer, choose_k
from sikta.errors import DataTooThinError, UsageError


def blobs(sizes, centers, sd=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([np.asarray(c, float) + rng.normal(0, sd, (n, len(c))) for n, c in zip(sizes, centers)])
    y = np.repeat(np.arange(len(sizes)), sizes)
    return X, y


FOUR = [[0, 0, 0], [8, 0, 0], [0, 8, 0], [0, 0, 8]]


@pytest.mark.parametrize("algorithm", ["kmeans", "gaussian"])
@pytest.mark.parametrize("seed", [0, 1])
def test_recovers_planted_k(algorithm, seed):
    X, y = blobs([120, 90, 70, 50], FOUR, seed=seed)
    sc = StableClusterer(algorithm=algorithm, n_bootstrap=8, k_max=6, random_state=seed).fit(X)
    assert sc.n_clusters_ == 4
    assert adjusted_rand_score(y, sc.labels_) > 0.99
    # clusters are numbered by size, largest first
    assert np.bincount(sc.labels_).tolist() == sorted(np.bincount(sc.labels_).tolist(), reverse=True)
    t = sc.stability_
    assert t.k.tolist() == [2, 3, 4, 5, 6]
    assert t.loc[t.chosen, "k"].item() == 4
    assert sc.stability_score_ == pytest.approx(t.stability.max(), abs=0.03)
    assert sc.stability_score_ > 0.95


def test_chosen_k_follows_the_documented_rule():
    X, _ = blobs([100, 100, 100], [[0, 0], [7, 0], [3.5, 6]], sd=1.6, seed=3)
    sc = StableClusterer(n_bootstrap=10, k_max=6, tie_tolerance=0.05).fit(X)
    t = sc.stability_[sc.stability_.eligible]
    best = t.stability.max()
    assert sc.n_clusters_ == t.k[t.stability >= best - 0.05].max()
    assert choose_k(sc.stability_, 0.05) == sc.n_clusters_


def test_choose_k_tie_break_and_eligibility():
    t = pd.DataFrame({"k": [2, 3, 4, 5], "stability": [0.90, 0.94, 0.925, 0.80], "eligible": [True] * 4})
    assert choose_k(t, 0.0) == 3
    assert choose_k(t, 0.02) == 4  # 0.925 is within 0.02 of 0.94: the larger k wins
    t.loc[2, "eligible"] = False
    assert choose_k(t, 0.02) == 3
    t["eligible"] = False
    with pytest.raises(DataTooThinError):
        choose_k(t)


def test_minimum_cluster_size_keeps_outlier_clusters_out():
    X, y = blobs([150, 150, 150, 6], [[0, 0], [8, 0], [0, 8], [15, 15]], sd=0.8, seed=2)
    strict = StableClusterer(n_bootstrap=8, k_max=5, min_cluster_size=10, min_cluster_share=0.0).fit(X)
    assert strict.n_clusters_ == 3
    assert not strict.stability_.set_index("k").loc[4, "eligible"]
    loose = StableClusterer(n_bootstrap=8, k_max=5, min_cluster_size=3, min_cluster_share=0.0).fit(X)
    assert loose.n_clusters_ == 4
    assert adjusted_rand_score(y, loose.labels_) > 0.99


def test_reproducible_with_a_fixed_random_state():
    X, _ = blobs([80, 80, 80], [[0, 0], [4, 0], [2, 3.5]], sd=1.2, seed=4)
    a = StableClusterer(n_bootstrap=6, k_max=5, random_state=7).fit(X)
    b = StableClusterer(n_bootstrap=6, k_max=5, random_state=7).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    pd.testing.assert_frame_equal(a.stability_, b.stability_)


def test_standardization_stops_a_large_unit_column_from_dominating():
    rng = np.random.default_rng(5)
    X, y = blobs([150, 150], [[0], [12]], seed=5)
    X = np.hstack([X, rng.normal(0, 1000.0, (300, 1))])  # pure noise in big units
    on = StableClusterer(k_max=2).fit(X)
    off = StableClusterer(k_max=2, standardize=False).fit(X)
    assert adjusted_rand_score(y, on.labels_) > 0.95
    assert adjusted_rand_score(y, off.labels_) < 0.2
    assert on.scale_[1] == pytest.approx(X[:, 1].std())
    # centers come back in the original units
    assert sorted(on.cluster_centers_[:, 0]) == pytest.approx([X[y == 0, 0].mean(), X[y == 1, 0].mean()], abs=0.1)


def test_search_runs_on_a_sample_and_the_final_fit_on_all():
    X, y = blobs([1500, 1000, 500], [[0, 0], [8, 0], [0, 8]], seed=6)
    sc = StableClusterer(n_bootstrap=5, k_max=5, search_size=300).fit(X)
    assert sc.n_search_ == 300
    assert len(sc.labels_) == 3000
    assert sc.n_clusters_ == 3
    assert adjusted_rand_score(y, sc.labels_) > 0.99


def test_fixed_k_skips_the_search():
    X, _ = blobs([50, 50], [[0, 0], [9, 9]], seed=0)
    sc = StableClusterer(k_min=3, k_max=3).fit(X)
    assert sc.n_clusters_ == 3
    assert len(sc.stability_) == 1 and math.isnan(sc.stability_score_)


@pytest.mark.parametrize("algorithm", ["kmeans", "gaussian"])
def test_predict_places_rows_with_gaps_on_their_observed_columns(algorithm):
    X, y = blobs([100, 100], [[0, 0, 0], [6, 6, 6]], seed=1)
    sc = StableClusterer(k_min=2, k_max=2, algorithm=algorithm).fit(X)
    assert np.array_equal(sc.predict(X), sc.labels_)
    hi, lo = sc.labels_[y == 1][0], sc.labels_[y == 0][0]
    got = sc.predict([[6.2, np.nan, np.nan], [np.nan, 0.1, -0.2], [np.nan] * 3])
    assert got.tolist() == [hi, lo, -1]


def test_bad_input_and_parameters():
    X, _ = blobs([30, 30], [[0, 0], [5, 5]])
    with pytest.raises(UsageError, match="missing values in 1 rows"):
        StableClusterer().fit(np.vstack([X, [np.nan, 1.0]]))
    with pytest.raises(UsageError, match="infinite"):
        StableClusterer().fit(np.vstack([X, [np.inf, 1.0]]))
    with pytest.raises(DataTooThinError, match="too few"):
        StableClusterer().fit(X[:12])
    with pytest.raises(UsageError, match="k_max"):
        StableClusterer(k_min=5, k_max=3).fit(X)
    with pytest.raises(UsageError, match="algorithm"):
        StableClusterer(algorithm="dbscan").fit(X)
    with pytest.raises(UsageError, match="not fitted"):
        StableClusterer().predict(X)
    with pytest.raises(UsageError, match="columns"):
        StableClusterer(k_min=2, k_max=2).fit(X).predict(np.zeros((2, 3)))


def test_row_order_does_not_change_the_answer():
    X, _ = blobs([90, 70, 60], [[0, 0], [3.5, 0], [1.7, 3]], sd=1.1, seed=8)
    a = StableClusterer(n_bootstrap=6, k_max=5).fit(X)
    perm = np.random.default_rng(1).permutation(len(X))
    b = StableClusterer(n_bootstrap=6, k_max=5).fit(X[perm])
    assert np.array_equal(a.labels_[perm], b.labels_)
    pd.testing.assert_frame_equal(a.stability_, b.stability_)




@pytest.mark.parametrize("algorithm", ["kmeans", "gaussian"])
def test_equal_sized_clusters_are_numbered_by_their_centers(algorithm):
    """Sizes tie: the cluster whose center comes first column by column is 0, whatever the model's order."""
    X, _ = blobs([100, 100], [[6, 1], [0, 3]], sd=0.5, seed=4)
    for data in (X, X[::-1], -X):
        sc = StableClusterer(algorithm=algorithm, k_min=2, k_max=2).fit(data)
        first = data[sc.labels_ == 0].mean(axis=0)
        assert np.bincount(sc.labels_).tolist() == [100, 100]
        assert first[0] == pytest.approx(min(data[sc.labels_ == c].mean(axis=0)[0] for c in (0, 1)))
