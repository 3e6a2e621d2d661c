"""TiedGaussianMixture against scikit-learn's own tied GaussianMixture as the oracle: same fits, same labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from sikta.core.mixture import TiedGaussianMixture


def _data(kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "separated":
        return np.vstack([rng.normal(c, 1.0, (300, 3)) for c in ([0, 0, 0], [6, 0, 1], [0, 6, -2], [4, 4, 4])])
    if kind == "overlapping":  # many EM iterations: the fits must stay together all the way
        return np.vstack([rng.normal(c, 1.5, (400, 2)) for c in ([0, 0], [1.5, 0.5], [0.5, 2])])
    if kind == "correlated":  # a shared tilted covariance, skewed columns, one near-constant
        Z = rng.normal(size=(900, 4)) @ np.array([[1, .8, 0, 0], [0, 1, .5, 0], [0, 0, 1, 0], [0, 0, 0, 1e-3]])
        return np.c_[Z[:, :3] + np.repeat([[0, 0, 0], [3, -2, 1], [-3, 1, 2]], 300, axis=0), np.exp(Z[:, 3])]
    raise AssertionError(kind)


def _pair(X: np.ndarray, k: int, **kw) -> tuple[TiedGaussianMixture, GaussianMixture]:
    ours = TiedGaussianMixture(n_components=k, **kw).fit(X)
    theirs = GaussianMixture(n_components=k, covariance_type="tied", **kw).fit(X)
    return ours, theirs


def _matching(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Our component for each of theirs (nearest mean): with ``n_init`` > 1 two starts can reach the same
    optimum with the components in another order, and which start wins is then a matter of rounding."""
    perm = np.array([int(np.argmin(((ours - m) ** 2).sum(axis=1))) for m in theirs])
    assert sorted(perm.tolist()) == list(range(len(theirs)))
    return perm


@pytest.mark.parametrize("kind", ["separated", "overlapping", "correlated"])
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 7])
def test_same_fit_as_scikit_learn(kind, k, seed):
    X = _data(kind, seed)
    ours, theirs = _pair(X, k, n_init=3, random_state=seed)
    assert ours.n_iter_ == theirs.n_iter_ and ours.converged_ == theirs.converged_
    p = _matching(ours.means_, theirs.means_)
    np.testing.assert_allclose(ours.weights_[p], theirs.weights_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.means_[p], theirs.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-8, atol=1e-12)
    # the "correlated" data hold a nearly constant column (precision ~1e6): rounding in the E-step
    # then shows in the ninth digit of the bound; elsewhere the two agree to the last few digits
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-8 if kind == "correlated" else 1e-12)
    np.testing.assert_array_equal(np.argsort(p)[ours.predict(X)], theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X)[:, p], theirs.predict_proba(X), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9, atol=1e-9)


def test_weighted_log_prob_is_the_tied_gaussian_density():
    """By hand: log w_k + log N(x | μ_k, Σ) with the fitted Σ, for a few points."""
    X = _data("correlated", 3)
    g = TiedGaussianMixture(n_components=3, random_state=0).fit(X)
    cov = g.covariances_
    inv, (_, logdet) = np.linalg.inv(cov), np.linalg.slogdet(cov)
    d = X.shape[1]
    for x in X[[0, 450, 899]]:
        want = [np.log(w) - 0.5 * (d * np.log(2 * np.pi) + logdet + (x - mu) @ inv @ (x - mu))
                for w, mu in zip(g.weights_, g.means_)]
        np.testing.assert_allclose(g._estimate_weighted_log_prob(x[None, :])[0], want, rtol=1e-9)


def test_parameters_follow_the_estimator_contract():
    g = TiedGaussianMixture(n_components=4, n_init=2, random_state=5)
    assert g.get_params()["n_components"] == 4 and g.covariance_type == "tied"
    assert not hasattr(g, "means_")
    X = _data("separated", 1)
    assert g.fit(X) is g and g.means_.shape == (4, 3)
