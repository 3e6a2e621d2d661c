"""A clusterer that picks its number of clusters by stability under bootstrap resampling (SPEC §4.4, §4.5).

Why stability: a segmentation is only worth acting on if it comes back when
the data are drawn again (seed 004: "actionable or useless"). Silhouette and
inertia always prefer some k, even on noise; the stability of a partition
says whether that k is a property of the customers or of one random start.
The procedure follows Hennig's ``clusterboot`` (2007) and Lange et al.
(2004), with the adjusted Rand index (ARI) as the agreement measure:

1. **standardize** every column to z units (mean 0, SD 1; a constant column
   keeps scale 1), so no column dominates by its unit;
2. draw a **search sample** of at most ``search_size`` rows (all rows when
   there are fewer): the search costs ``(k_max - k_min + 1) × (n_bootstrap + 1)``
   fits, so it runs on a sample and only the chosen k is fitted on all rows
   (100k units take seconds);
3. for every k in ``k_min..k_max``: fit a **reference** partition on the
   search sample; then ``n_bootstrap`` times draw a bootstrap resample (with
   replacement), fit on its distinct rows and compare its labels with the
   reference labels **on those rows** by ARI. ``stability_`` keeps the mean
   and SD of those ARIs per k;
4. a k is **eligible** when the reference's smallest cluster holds at least
   ``min_cluster_share`` of the rows and, scaled to all rows, at least
   ``min_cluster_size`` units: a cluster of a handful of outliers can be
   very stable and still useless;
5. **rule**: among eligible k take the highest mean stability; every eligible
   k within ``tie_tolerance`` of it (default 0.03) counts as tied and the
   **largest** tied k wins - of two partitions that come back (almost)
   equally often, the finer one keeps more information (the coarser one is
   typically a merge of it, stable for the trivial reason that merging hides
   a split). 0.03 is a few times the noise of a mean over 20 resamples, yet
   well below the drop when k overshoots (on the synthetic data: k = 3 and
   4 at 0.9997 and 0.994, k = 5 at 0.951);
6. fit the chosen k on all rows; clusters are numbered by size, largest first (equal sizes by
   their centers).

Rows are put in a canonical order (sorted by their values) before anything
is drawn or fitted, so the answer does not depend on the order in which a
database happens to return the units.

No eligible k raises :class:`~sikta.errors.DataTooThinError`. Rough reading
of the stability (ARI) of the chosen k: ≥ 0.8 stable, 0.6-0.8 usable with
care, below 0.6 the structure is weak (``diagnostics`` turns this into words).

``algorithm="kmeans"`` (default) is scikit-learn's KMeans: round clusters of
similar spread. ``algorithm="gaussian"`` is a Gaussian mixture with one
shared (tied) covariance matrix: clusters of any common orientation, so a
noisy column does not swamp a precise one (on the synthetic behavioral types
it lifts the ARI from about 0.73 to about 0.83). Both are deterministic
given ``random_state``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> centers = np.array([[0, 0], [9, 0], [0, 9]])
>>> X = np.vstack([c + rng.normal(size=(100, 2)) for c in centers])
>>> sc = StableClusterer(random_state=0, n_bootstrap=10).fit(X)
>>> sc.n_clusters_, np.bincount(sc.labels_).tolist()
(3, [100, 100, 100])
>>> round(sc.stability_score_, 2)
1.0
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from sikta.core.mixture import TiedGaussianMixture
from sikta.errors import DataTooThinError, UsageError

__all__ = ["StableClusterer", "choose_k", "ALGORITHMS", "STABLE", "WEAK"]

ALGORITHMS = ("kmeans", "gaussian")
#: stability (mean bootstrap ARI) from which a partition reads as stable
STABLE = 0.8
#: below this the cluster structure is weak
WEAK = 0.6
#: restarts of each bootstrap fit (the final and reference fits use ``n_init``)
_BOOT_INIT = {"kmeans": 3, "gaussian": 3}
#: default restarts of the reference and final fits (a mixture starts from KMeans, so needs fewer)
_INIT = {"kmeans": 10, "gaussian": 3}
#: up to this many rows the final fit runs on one thread
SMALL = 50_000


def _as_matrix(X: object) -> np.ndarray:
    try:
        A = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"X must be numeric: {exc}") from exc
    if A.ndim != 2:
        raise UsageError(f"X must be two-dimensional (units × columns), not {A.ndim}-dimensional")
    if A.shape[1] == 0:
        raise UsageError("X has no columns to cluster on")
    if np.isinf(A).any():
        raise UsageError(f"X has {int(np.isinf(A).sum())} infinite values; cluster on finite numbers only")
    return A


def choose_k(table: pd.DataFrame, tie_tolerance: float = 0.03) -> int:
    """The rule of step 5: the largest eligible k within ``tie_tolerance`` of the best mean stability.

    Parameters
    ----------
    table : pandas.DataFrame
        ``k``, ``stability`` and ``eligible`` per k (as in ``stability_``).
    tie_tolerance : float
        Stabilities this close to the best count as tied.

    Examples
    --------
    >>> t = pd.DataFrame({"k": [2, 3, 4, 5], "stability": [0.93, 0.996, 0.972, 0.85],
    ...                   "eligible": [True, True, True, True]})
    >>> choose_k(t), choose_k(t, tie_tolerance=0.01)  # 4 is within 0.03 of 3: the finer one
    (4, 3)
    >>> t.loc[1, "eligible"] = False  # k = 3 leaves a cluster below the minimum size
    >>> choose_k(t, tie_tolerance=0.01)
    4
    """
    ok = table[table.eligible & table.stability.notna()]
    if ok.empty:
        raise DataTooThinError("no eligible number of clusters to choose from")
    best = ok.stability.max()
    return int(ok.k[ok.stability >= best - tie_tolerance].max())


class StableClusterer(BaseEstimator):
    """Cluster units with the number of clusters chosen by bootstrap stability.

    Parameters
    ----------
    k_min, k_max : int, default 2 and 8
        Range of cluster counts tried. ``k_min == k_max`` fixes k and skips
        the search (``stability_`` is then NaN): that is what a stability
        check of a finished segmentation refits with.
    n_bootstrap : int, default 20
        Bootstrap resamples per k.
    search_size : int, default 2000
        At most this many rows (a random sample) are used for the search.
    min_cluster_size : int, default 10
        Smallest cluster, in units of the whole data, for a k to be eligible.
    min_cluster_share : float, default 0.03
        Smallest cluster as a share of the rows, for a k to be eligible.
    tie_tolerance : float, default 0.03
        Mean stabilities this close to the best count as tied; the largest
        tied k wins (see the module notes).
    algorithm : {"kmeans", "gaussian"}, default "kmeans"
        KMeans, or a Gaussian mixture with a tied covariance matrix.
    standardize : bool, default True
        Cluster on z units; False for columns already on one common scale.
    n_init : int, optional
        Restarts of the reference fits and of the final fit; default 10 for
        KMeans, 3 for the mixture (it starts from a KMeans solution).
    random_state : int, default 0
        Seeds the sample, the resamples and the fits: same data, same answer.

    Attributes
    ----------
    n_clusters_ : int
        The chosen k.
    labels_ : numpy.ndarray of int
        Cluster of every row of ``X``, 0 = largest cluster.
    cluster_centers_ : numpy.ndarray
        ``(n_clusters_, n_columns)`` cluster means in the original units.
    stability_ : pandas.DataFrame
        One row per k tried: ``k``, ``stability`` (mean bootstrap ARI),
        ``stability_sd``, ``min_cluster_share`` (smallest reference cluster),
        ``eligible`` and ``chosen``.
    stability_score_ : float
        ``stability`` of the chosen k (NaN when k was fixed).
    mean_, scale_ : numpy.ndarray
        The standardization (zeros and ones with ``standardize=False``).
    n_search_ : int
        Rows in the search sample.
    model_ : sklearn estimator
        The final KMeans or tied Gaussian mixture (:class:`~sikta.core.mixture.TiedGaussianMixture`),
        fitted in z units.
    """

    def __init__(
        self,
        k_min: int = 2,
        k_max: int = 8,
        n_bootstrap: int = 20,
        search_size: int = 2000,
        min_cluster_size: int = 10,
        min_cluster_share: float = 0.03,
        tie_tolerance: float = 0.03,
        algorithm: str = "kmeans",
        standardize: bool = True,
        n_init: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.n_bootstrap = n_bootstrap
        self.search_size = search_size
        self.min_cluster_size = min_cluster_size
        self.min_cluster_share = min_cluster_share
        self.tie_tolerance = tie_tolerance
        self.algorithm = algorithm
        self.standardize = standardize
        self.n_init = n_init
        self.random_state = random_state

    # -- checks --------------------------------------------------------------------
    def _check_params(self) -> None:
        def positive_int(name: str, low: int) -> None:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise UsageError(f"{name} must be an integer of at least {low}, not {v!r}")

        positive_int("k_min", 2)
        positive_int("k_max", 2)
        positive_int("n_bootstrap", 2)
        positive_int("search_size", 20)
        positive_int("min_cluster_size", 1)
        if self.n_init is not None:
            positive_int("n_init", 1)
        if self.k_max < self.k_min:
            raise UsageError(f"k_max ({self.k_max}) must be at least k_min ({self.k_min})")
        if not 0 <= self.min_cluster_share < 0.5:
            raise UsageError(f"min_cluster_share must be in [0, 0.5), not {self.min_cluster_share!r}")
        if not 0 <= self.tie_tolerance < 1:
            raise UsageError(f"tie_tolerance must be in [0, 1), not {self.tie_tolerance!r}")
        if self.algorithm not in ALGORITHMS:
            raise UsageError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}")

    # -- models --------------------------------------------------------------------
    def _model(self, k: int, n_init: int, seed: int):
        if self.algorithm == "kmeans":
            return KMeans(n_clusters=k, n_init=n_init, random_state=seed)
        return TiedGaussianMixture(n_components=k, n_init=n_init, random_state=seed)

    def _n_init(self) -> int:
        return self.n_init if self.n_init is not None else _INIT[self.algorithm]

    def _z(self, A: np.ndarray) -> np.ndarray:
        return (A - self.mean_) / self.scale_

    # -- fit -----------------------------------------------------------------------
    def fit(self, X: object, y: object = None) -> StableClusterer:
        """Choose k by stability on a sample, then fit it on all rows.

        Parameters
        ----------
        X : array-like of shape (n_units, n_columns)
            Numbers only, no missing values (decide what a gap means before
            clustering; :meth:`predict` can place rows with gaps afterwards).
        y : ignored

        Returns
        -------
        StableClusterer
            ``self``, fitted.
        """
        self._check_params()
        A = _as_matrix(X)
        if np.isnan(A).any():
            rows = int(np.isnan(A).any(axis=1).sum())
            raise UsageError(f"X has missing values in {rows} rows; drop or fill them before clustering")
        n = len(A)
        need = max(2 * self.min_cluster_size, 2 * math.ceil(self.min_cluster_share * n), 20)
        if n < need:
            raise DataTooThinError(f"{n} units are too few to cluster (at least {need} needed)")
        # canonical row order: the same units in any order give the same answer (see the module notes)
        canon = np.lexsort(A.T[::-1])
        A = A[canon]
        if self.standardize:
            self.mean_ = A.mean(axis=0)
            sd = A.std(axis=0)
            self.scale_ = np.where(sd > 1e-12 * np.maximum(np.abs(self.mean_), 1.0), sd, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(A.shape[1]), np.ones(A.shape[1])
        Z = self._z(A)
        rng = np.random.default_rng(self.random_state)
        search = np.sort(rng.choice(n, self.search_size, replace=False)) if n > self.search_size else np.arange(n)
        self.n_search_ = len(search)
        if self.k_min == self.k_max:  # k fixed: nothing to search (a refit of a finished segmentation)
            k = self.k_min
            table = pd.DataFrame([{"k": k, "stability": math.nan, "stability_sd": math.nan,
                                   "min_cluster_share": math.nan, "eligible": True}])
        else:
            # Many small fits: one thread each, or OpenMP spin-waits swamp a shared machine (60x slower at 2 cores).
            with threadpool_limits(limits=1):
                table = self._search(Z[search], n, rng)
            if not table.eligible.any():
                raise DataTooThinError(
                    f"no number of clusters between {self.k_min} and {self.k_max} gives every cluster at least "
                    f"{self.min_cluster_size} units and {self.min_cluster_share:.0%} of them"
                )
            k = choose_k(table, self.tie_tolerance)
        table["chosen"] = table.k == k
        # Small data: one thread too (see above); large data gains from OpenMP's threads.
        with threadpool_limits(limits=1 if n <= SMALL else None):
            self.model_ = self._model(k, self._n_init(), self.random_state).fit(Z)
            raw = self.model_.predict(Z)
        # Number clusters by size, largest first, so labels read the same every run. Equal sizes go by their
        # centers (z units, column by column), not by the model's order: with several starts, which of two
        # equally good ones wins (and so the order of its components) can turn on rounding.
        counts = np.bincount(raw, minlength=k)
        centers = self.model_.cluster_centers_ if self.algorithm == "kmeans" else self.model_.means_
        order = sorted(range(k), key=lambda c: (-counts[c], *np.round(centers[c], 6)))
        if self.k_min == self.k_max:
            table.loc[0, "min_cluster_share"] = counts.min() / n
        self._relabel = np.empty(k, dtype=int)
        self._relabel[order] = np.arange(k)
        self.labels_ = np.empty(n, dtype=int)
        self.labels_[canon] = self._relabel[raw]
        self.n_clusters_ = k
        self._centers_z = centers[order]
        self.cluster_centers_ = self._centers_z * self.scale_ + self.mean_
        self.stability_ = table.reset_index(drop=True)
        self.stability_score_ = float(table.stability[table.chosen].iloc[0])
        return self

    def _search(self, S: np.ndarray, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Stability of every k on the search sample (see the module notes)."""
        m = len(S)
        rows = []
        for k in range(self.k_min, self.k_max + 1):
            ref = self._model(k, self._n_init(), self.random_state).fit(S).predict(S)
            sizes = np.bincount(ref, minlength=k)
            share = sizes.min() / m
            eligible = bool(share >= self.min_cluster_share and share * n >= self.min_cluster_size and k < m)
            scores = []
            if eligible:
                for _ in range(self.n_bootstrap):
                    idx = np.unique(rng.integers(0, m, m))
                    seed = int(rng.integers(2**31 - 1))
                    if len(idx) <= k:
                        continue
                    boot = self._model(k, _BOOT_INIT[self.algorithm], seed).fit(S[idx])
                    scores.append(adjusted_rand_score(ref[idx], boot.predict(S[idx])))
            rows.append({
                "k": k,
                "stability": float(np.mean(scores)) if scores else math.nan,
                "stability_sd": float(np.std(scores)) if scores else math.nan,
                "min_cluster_share": float(share),
                "eligible": eligible,
            })
        return pd.DataFrame(rows)

    # -- predict -------------------------------------------------------------------
    def predict(self, X: object) -> np.ndarray:
        """Cluster of each row; rows with gaps are placed on the columns they have.

        A row with some missing values goes to the cluster that fits its
        observed columns best: the nearest center over those columns
        (KMeans), or the highest likelihood of the observed columns' marginal
        (Gaussian). A row with no values gets -1.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.2, 0.1], [10.0, 10.0], [10.1, 9.9]] * 10)
        >>> sc = StableClusterer(k_min=2, k_max=2).fit(X)
        >>> sc.predict([[9.0, np.nan], [np.nan, np.nan], [0.1, 0.0]]).tolist() == [sc.labels_[2], -1, sc.labels_[0]]
        True
        """
        if not hasattr(self, "model_"):
            raise UsageError("this StableClusterer is not fitted yet; call fit first")
        A = _as_matrix(X)
        if A.shape[1] != len(self.mean_):
            raise UsageError(f"X has {A.shape[1]} columns; the clusterer was fitted on {len(self.mean_)}")
        Z = self._z(A)
        miss = np.isnan(Z)
        out = np.full(len(Z), -1, dtype=int)
        full = ~miss.any(axis=1)
        if full.any():
            out[full] = self._relabel[self.model_.predict(Z[full])]
        patterns = {tuple(r) for r in miss[~full & ~miss.all(axis=1)]}
        for pat in patterns:  # a loop over missing-value patterns, not rows
            rows = (miss == np.array(pat)).all(axis=1)
            obs = ~np.array(pat)
            out[rows] = self._partial(Z[rows][:, obs], obs)
        return out

    def _partial(self, Zo: np.ndarray, obs: np.ndarray) -> np.ndarray:
        C = self._centers_z[:, obs]
        if self.algorithm == "kmeans":
            d = ((Zo[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
            return d.argmin(axis=1)
        cov = self.model_.covariances_[np.ix_(obs, obs)]
        inv = np.linalg.inv(cov)
        order = np.argsort(self._relabel)  # public label -> model component
        logw = np.log(self.model_.weights_[order])
        diff = Zo[:, None, :] - C[None, :, :]
        maha = np.einsum("nkd,de,nke->nk", diff, inv, diff)
        ll = logw[None, :] - 0.5 * maha
        return (ll - logsumexp(ll, axis=1, keepdims=True)).argmax(axis=1)
