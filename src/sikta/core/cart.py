"""A shallow classification tree, stratified splits and AUC in plain numpy.

Finding the drivers of best customers (:mod:`sikta.core.drivers`) fits a
few hundred depth-2 trees on one column or three. scikit-learn does that
well, but importing it takes a second or more (it loads ``scipy.stats``),
which is most of an ``analyze`` on a small export. This module does the same
maths with numpy alone:

* :class:`ShallowTree` is CART with the Gini criterion, as scikit-learn's
  ``DecisionTreeClassifier`` grows it: a split needs ``min_samples_leaf``
  rows on each side, thresholds lie midway between neighbouring values, and
  missing values (NaN) go to whichever side gives the better split (also
  "missing vs known"). When a node saw no missing value in training, a
  missing value at prediction goes to the child that held more rows. Ties
  between equally good splits go to the first column, then the lowest
  threshold (scikit-learn breaks column ties at random).
* :func:`roc_auc` is the Mann-Whitney AUC with tied scores counted half.
* :func:`stratified_holdout` and :func:`stratified_folds` keep each class's
  share in every part.

The tests hold the tree, the AUC and the split sizes against scikit-learn.

Examples
--------
>>> import numpy as np
>>> x = np.array([[1.0], [2.0], [3.0], [4.0], [np.nan], [6.0]])
>>> y = np.array([False, False, False, True, True, True])
>>> tree = ShallowTree(max_depth=1).fit(x, y)
>>> float(tree.threshold_[0]), bool(tree.missing_left_[0])
(3.5, False)
>>> tree.predict_proba(np.array([[0.0], [np.nan]]))[:, 1].tolist()
[0.0, 1.0]
>>> roc_auc([False, True, False, True], [0.1, 0.9, 0.5, 0.5])
0.875
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["ShallowTree", "roc_auc", "stratified_folds", "stratified_holdout"]

LEAF = -1


class ShallowTree:
    """Binary classification tree (Gini), grown depth-first to ``max_depth``.

    Parameters
    ----------
    max_depth : int, default 2
    min_samples_leaf : int, default 1
        Fewest training rows on each side of a split.

    Attributes
    ----------
    feature_, threshold_ : numpy.ndarray
        Per node the column and threshold of its split (``-1`` / NaN at
        leaves). Rows with ``x <= threshold`` go left.
    missing_left_ : numpy.ndarray of bool
        Per node whether missing values go left.
    children_left_, children_right_ : numpy.ndarray
        Child node ids, ``-1`` at leaves.
    n_node_ : numpy.ndarray
        Training rows per node.
    value_ : numpy.ndarray
        Share of positives per node (the leaf's predicted probability).
    feature_importances_ : numpy.ndarray
        Gini decrease per column, weighted by rows, summing to 1 (all zero
        when the tree did not split).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0, 1], [0, 2], [1, 1], [1, 2]] * 5, dtype=float)
    >>> y = x[:, 0] == 1
    >>> ShallowTree(max_depth=1).fit(x, y).feature_importances_.tolist()
    [1.0, 0.0]
    """

    def __init__(self, max_depth: int = 2, min_samples_leaf: int = 1) -> None:
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf

    def fit(self, X: np.ndarray, y: np.ndarray, order: Sequence[np.ndarray] | None = None) -> ShallowTree:
        """Grow the tree on ``X`` (rows × columns, NaN = missing) and boolean ``y``.

        ``order`` may give each column's row order, ``np.argsort(X[:, j], kind="stable")``,
        when the caller fits many trees on the same columns (the forward search of
        :mod:`sikta.core.drivers`): the tree is the same, without sorting again.
        """
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        y = np.asarray(y, dtype=bool)
        self._nodes: list[dict] = []
        # One sort per column; a node reuses it by keeping the rows it holds, in order.
        if order is None:
            self._order = [np.argsort(X[:, j], kind="stable") for j in range(X.shape[1])]
        elif len(order) != X.shape[1] or any(len(o) != len(X) for o in order):
            raise ValueError(f"order needs one row order of {len(X)} rows per column ({X.shape[1]})")
        else:
            self._order = list(order)
        self._grow(X, y, np.ones(len(y), dtype=bool), 0)
        nodes = self._nodes
        self.feature_ = np.array([n["feature"] for n in nodes], dtype=int)
        self.threshold_ = np.array([n["threshold"] for n in nodes], dtype=float)
        self.missing_left_ = np.array([n["missing_left"] for n in nodes], dtype=bool)
        self.children_left_ = np.array([n["left"] for n in nodes], dtype=int)
        self.children_right_ = np.array([n["right"] for n in nodes], dtype=int)
        self.n_node_ = np.array([n["n"] for n in nodes], dtype=int)
        self.value_ = np.array([n["rate"] for n in nodes], dtype=float)
        gain = np.zeros(X.shape[1])
        for n in nodes:
            if n["feature"] != LEAF:
                gain[n["feature"]] += n["gain"]
        total = gain.sum()
        self.feature_importances_ = gain / total if total > 0 else gain
        del self._nodes, self._order
        return self

    def _grow(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray, depth: int) -> int:
        n = int(rows.sum())
        pos = int(y[rows].sum())
        node = {"feature": LEAF, "threshold": math.nan, "missing_left": False, "left": LEAF, "right": LEAF,
                "n": n, "rate": pos / n if n else 0.0, "gain": 0.0}
        at = len(self._nodes)
        self._nodes.append(node)
        if depth >= self.max_depth or n < 2 * self.min_samples_leaf or pos in (0, n):
            return at
        best = None
        for j in range(X.shape[1]):
            found = self._best_split(X[:, j], y, rows, self._order[j], n, pos)
            if found is not None and (best is None or found[0] > best[0]):
                best = (*found, j)
        if best is None:
            return at
        score, threshold, missing_left, j = best
        goes_left = _goes_left(X[:, j], threshold, missing_left)
        node.update(feature=j, threshold=threshold, missing_left=missing_left,
                    gain=(score - float(_gini_sums(pos, n))) / len(y))
        node["left"] = self._grow(X, y, rows & goes_left, depth + 1)
        node["right"] = self._grow(X, y, rows & ~goes_left, depth + 1)
        return at

    def _best_split(self, x, y, rows, order, n, pos):
        """(score, threshold, missing_left) of the best split of one column, or None.

        The score is Σ over children of (positives² + negatives²) / rows, the
        Gini proxy scikit-learn maximises: higher is purer. Candidates are
        tried in scikit-learn's order (missing right, then "is missing", then
        missing left) and only a strictly better one replaces the best so far.
        """
        idx = order[rows[order]]
        v = x[idx]
        miss = np.isnan(v)
        n_miss = int(miss.sum())
        vk = v[~miss]
        yk = y[idx[~miss]]
        n_known = len(vk)
        pos_miss = pos - int(yk.sum())
        leaf = self.min_samples_leaf
        # Split after known position i (left = the i+1 smallest known values), only between distinct values.
        cut = np.flatnonzero(vk[1:] > vk[:-1]) if n_known >= 2 else np.empty(0, dtype=int)
        n_left = cut + 1
        pos_left = np.cumsum(yk)[cut] if len(cut) else cut
        best = None

        def consider(score: float, threshold: float, missing_left: bool) -> None:
            nonlocal best
            if best is None or score > best[0]:
                best = (score, threshold, missing_left)

        def thresholds(add_n: int, add_pos: int, missing_left: bool) -> None:
            if not len(cut):
                return
            nl, pl = n_left + add_n, pos_left + add_pos
            nr, pr = n - nl, pos - pl
            ok = (nl >= leaf) & (nr >= leaf)
            if not ok.any():
                return
            score = np.where(ok, _gini_sums(pl, nl) + _gini_sums(pr, nr), -np.inf)
            i = int(np.argmax(score))
            threshold = vk[cut[i]] / 2.0 + vk[cut[i] + 1] / 2.0
            if threshold == vk[cut[i] + 1]:
                threshold = vk[cut[i]]
            if n_miss == 0:
                missing_left = bool(nl[i] > nr[i])  # unseen missing values follow the bigger child
            consider(float(score[i]), float(threshold), missing_left)

        thresholds(0, 0, False)
        if n_miss:
            if n_known >= leaf and n_miss >= leaf and n_known:
                # Known values left, missing right: the split that says "is missing".
                consider(float(_gini_sums(pos - pos_miss, n_known) + _gini_sums(pos_miss, n_miss)), math.inf, False)
            thresholds(n_miss, pos_miss, True)
        return best

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Rows × 2: P(False), P(True) from the leaf each row lands in."""
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        node = np.zeros(len(X), dtype=int)
        for _ in range(self.max_depth):
            j = self.feature_[node]
            inner = j != LEAF
            if not inner.any():
                break
            x = X[np.arange(len(X)), np.where(inner, j, 0)]
            left = _goes_left(x, self.threshold_[node], self.missing_left_[node])
            nxt = np.where(left, self.children_left_[node], self.children_right_[node])
            node = np.where(inner, nxt, node)
        p = self.value_[node]
        return np.column_stack([1.0 - p, p])


def _goes_left(x: np.ndarray, threshold, missing_left) -> np.ndarray:
    """Rows a split sends left: ``x <= threshold``, missing values as the split learned."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(x), missing_left, x <= threshold)


def _gini_sums(pos, n):
    """Σ over the two classes of count² / rows: the Gini proxy of a node (arrays or scalars)."""
    pos = np.asarray(pos, dtype=float)
    neg = np.asarray(n, dtype=float) - pos
    return (pos * pos + neg * neg) / n


def roc_auc(y_true: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: P(a random positive outscores a random negative), ties half.

    Examples
    --------
    >>> roc_auc([True, False, True], [0.9, 0.1, 0.4])
    1.0
    >>> roc_auc([True, False], [0.5, 0.5])
    0.5
    """
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes")
    order = np.argsort(s, kind="stable")
    ss = s[order]
    # Average rank (1-based) of each tie group.
    starts = np.r_[0, np.flatnonzero(ss[1:] != ss[:-1]) + 1]
    ends = np.r_[starts[1:], len(ss)]
    ranks = np.empty(len(ss))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def stratified_holdout(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, holdout) row positions; each class is held out in proportion.

    The holdout has ``ceil(test_size × n)`` rows, shared among the classes by
    largest remainder, each class's rows drawn at random.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([True] * 10 + [False] * 30)
    >>> tr, ho = stratified_holdout(y, 0.3, seed=0)
    >>> len(ho), int(y[ho].sum())
    (12, 3)
    """
    y = np.asarray(y, dtype=bool)
    n = len(y)
    n_test = math.ceil(test_size * n)
    classes = [np.flatnonzero(~y), np.flatnonzero(y)]
    exact = np.array([n_test * len(c) / n for c in classes])
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: n_test - int(take.sum())]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    held = np.concatenate([rng.permutation(c)[:k] for c, k in zip(classes, take)])
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) pairs of sorted row positions; every row is tested once.

    Each class's rows are shuffled and dealt to the folds in turn, the deal
    carrying on from class to class, so fold sizes and class counts differ
    by at most one.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([True] * 4 + [False] * 8)
    >>> [(len(te), int(y[te].sum())) for _, te in stratified_folds(y, 4, seed=0)]
    [(3, 1), (3, 1), (3, 1), (3, 1)]
    """
    y = np.asarray(y, dtype=bool)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    start = 0
    for c in (np.flatnonzero(y), np.flatnonzero(~y)):
        fold[rng.permutation(c)] = (start + np.arange(len(c))) % k
        start = (start + len(c)) % k
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]
