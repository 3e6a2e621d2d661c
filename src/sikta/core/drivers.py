"""Which 1-3 features best separate the best customers from the rest (SPEC §2.3, §4.2, §4.3).

The seed asks for a few "watersheds", not a black box, and the answer must
hold up on customers the search never saw. :class:`DriverSelector` therefore

1. splits off a stratified **holdout** first (``test_size``, default 30 %),
   which plays no part in choosing anything;
2. chooses 1-3 **original columns** on the training part by cross-validated
   AUC (``cv`` stratified folds, the same folds for every candidate):

   * ``method="tree"``: greedy forward selection. Each step tries adding
     every remaining column to the chosen ones and scores a shallow decision
     tree (depth ``max_depth``, default 2; leaves of at least 1 % of the
     rows) on them by mean CV AUC. The first column is always taken; a
     further one only if it raises the mean CV AUC by at least ``min_gain``
     (0.01) **and** by at least two standard errors of its per-fold gains
     (the gain must stand out from fold-to-fold noise, since the best of
     many candidates always looks a little better than it is);
   * ``method="l1"``: an L1-penalised logistic regression over all columns,
     with C chosen by CV AUC (ties: the smaller C). Each original column's
     weight is the standard deviation over rows of its part of the linear
     score (= |coefficient| for a numeric column; a one-hot block counts its
     categories by how common they are). Columns are taken in weight order
     while each passes the same gain test, scored by the logistic regression
     on the chosen columns;
3. refits on the whole training part with the chosen columns and scores the
   holdout: **AUC** and **capture**.

The search of step 2 runs on a stratified sample of at most ``search_size``
training rows (default 100,000; all rows when there are fewer): it fits a
tree per candidate column, fold and step (a few hundred), and choosing
among a few dozen columns needs no more rows than that - at 1M accounts
(280,000 training rows) the search took 8 s. The encodings, the final
model, the rules and the holdout figures use the whole training part.

Why depth 2 by default: a third level mostly splits noise, and then *any*
added column can look useful by taking over those splits. On synthetic data
with 2 planted watersheds among 8 noise columns, depth 3 kept a spurious
third column in 3 of 10 seeds, depth 2 in none, at about the same holdout AUC.

Encodings (fitted inside every CV fold and on the training part only, never
on rows they are scored on):

* numeric columns: trees split on the raw values and learn on which side
  missing values go, as scikit-learn's trees do (the trees, folds and AUC
  are :mod:`sikta.core.cart`, numpy only; scikit-learn is imported for
  ``method="l1"`` alone, since importing it takes a second). The logistic
  regression gets the mid-rank of the value among the training values
  (robust to heavy-tailed counts such as employees) with NaN at the training
  median, plus a 0/1 "was missing" column when the training part has
  missing values; then everything is standardized. ±inf counts as missing;
* categorical columns (text - also text that reads as numbers, such as region
  codes ``'1'``, ``'2'``, ``'3'``: a code names a category, its order means
  nothing; missing is its own category ``(missing)``):
  for trees each category is replaced by its smoothed best-customer rate in
  the training rows, ``(best_c + m·p) / (n_c + m)`` with ``m = 10`` and
  ``p`` the overall rate (unseen categories get ``p``). Ordering categories
  by their rate lets a single split express ``industry in {a, b, c}`` -
  for two classes that ordering contains the best binary partition - and the
  smoothing keeps rare categories from looking perfect. The logistic
  regression gets standardized one-hot columns.

Columns with no values, a single value, or (text) more distinct values than
half the rows and over 20 are skipped (``skipped_`` says why).

**Capture** is the share of the holdout's best customers found among the
``k = round(base_rate × n_holdout)`` highest-scored holdout units, where
``base_rate`` is the share of best customers in the data: a random pick of
``k`` units captures ``base_rate`` of them on average. Tied scores at the
cut share the remaining places in proportion (the expected capture under a
random order within the tie), so the number does not depend on row order.

**Rules** (``rules_``) are the watershed of each chosen column on its own: a
depth-1 tree on the training part (each side holding at least 5 % of it),
read as the side with the higher best-customer rate - ``sites ≥ 3``,
``industry in {Retail, Software & IT}`` or ``industry not in {…}`` when that
is shorter. ``rule_table_`` shows how many holdout best customers and others
meet each rule.

**Better than chance?** ``beats_chance_`` says whether the holdout AUC lies
significantly above 0.5 (one-sided test at 5 %,
:func:`sikta.core.diagnostics.auc_beats_chance`, the test ``sikta suggest``
applies). The search always returns its best try, even on pure noise; when it
does not beat chance, :meth:`DriverSelector.explain` says that no factor
separates the best customers and gives the try and its figures as evidence
only.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"sites": rng.integers(1, 8, 600), "noise": rng.normal(size=600)})
>>> y = pd.Series((X.sites >= 5) & (rng.random(600) < 0.8))
>>> sel = DriverSelector(random_state=0).fit(X, y)
>>> sel.features_, sel.rules_
(['sites'], ['sites ≥ 5'])
>>> sel.holdout_auc_ > 0.8
True
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sikta.core.cart import ShallowTree, roc_auc, stratified_folds, stratified_holdout
from sikta.core.diagnostics import auc_beats_chance
from sikta.core.parallel import side_by_side
from sikta.errors import DataTooThinError, UsageError

__all__ = ["DriverSelector", "MIN_PER_CLASS", "capture_rate", "holds_text"]

#: fewer best customers (or others) than this and no driver is reported
MIN_PER_CLASS = 30
#: the m of the m-estimate that smooths category rates towards the overall rate
SMOOTHING = 10.0
MISSING = "(missing)"
#: an added feature's mean CV gain must also exceed this many standard errors of its per-fold gains
GAIN_SE = 2.0
#: smallest tree leaf, as a share of the rows a tree is fitted on (at least 5 rows)
LEAF_SHARE = 0.01
#: C grid of the L1 logistic regression (inverse regularisation strength)
L1_CS = tuple(float(c) for c in np.logspace(-3, 1, 13))



def _l1_logit(C: float, random_state: int):
    # Imported here: scikit-learn takes a second to import and only method="l1" needs it.
    from sklearn.linear_model import LogisticRegression

    # scikit-learn 1.8 deprecated ``penalty`` in favour of ``l1_ratio``; the project allows >= 1.5.
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        return LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", random_state=random_state)
    return LogisticRegression(C=C, penalty="l1", solver="liblinear", random_state=random_state)


def capture_rate(y_true: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray, k: int) -> float:
    """Share of the positives found among the ``k`` highest scores (ties share places fairly).

    Examples
    --------
    >>> capture_rate([True, False, True, False], [0.9, 0.8, 0.1, 0.0], k=2)
    0.5
    >>> capture_rate([True, False, True, False], [0.5, 0.5, 0.5, 0.5], k=2)  # all tied: random
    0.5
    """
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    pos = int(y.sum())
    if pos == 0 or k <= 0:
        return math.nan if pos == 0 else 0.0
    k = min(k, len(s))
    kth = np.sort(s)[::-1][k - 1]
    above = s > kth
    tie = s == kth
    places = k - int(above.sum())
    found = y[above].sum() + places * y[tie].sum() / tie.sum()
    return float(found / pos)


# -- columns --------------------------------------------------------------------

#: what :func:`pandas.api.types.infer_dtype` calls a column of numbers held as Python objects
_NUMBER_OBJECTS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"})


def holds_text(s: pd.Series) -> bool:
    """Whether a column holds text (then it is categorical, even when every value reads as a number).

    Numbers that arrive as Python objects (nullable integers, decimals) are not text.

    Examples
    --------
    >>> holds_text(pd.Series(["1", "2", None])), holds_text(pd.Series([1, None, 3], dtype=object))
    (True, False)
    >>> holds_text(pd.Series([1.5, 2.0]))
    False
    """
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    return pd.api.types.infer_dtype(s, skipna=True) not in _NUMBER_OBJECTS


def _prepare(X: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Columns as float arrays (numeric) or object arrays of str (categorical), kinds, and skipped columns."""
    data: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    skipped: dict[str, str] = {}
    n = len(X)
    for col in X.columns:
        name = str(col)
        s = X[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            raise UsageError(f"column {name!r} holds dates: derive a number from it (e.g. days since) first")
        present = s.dropna()
        if len(present) and isinstance(present.iloc[0], (list, tuple, dict, set, np.ndarray)):
            raise UsageError(f"column {name!r} holds lists, not single values")
        if s.dtype == bool or pd.api.types.is_bool_dtype(s):
            values, kind = s.astype(float).to_numpy(dtype=float, na_value=np.nan), "numeric"
        elif pd.api.types.is_numeric_dtype(s):
            values, kind = s.to_numpy(dtype=float, na_value=np.nan), "numeric"
        else:
            # Nullable integers and decimals arrive as objects and are numbers; text stays text even when
            # it reads as numbers: region '1', '2', '3' are codes, and "region ≤ 1" would be no watershed.
            if isinstance(s.dtype, pd.CategoricalDtype) or holds_text(s):
                values = np.array([MISSING if pd.isna(v) else str(v) for v in s], dtype=object)
                kind = "categorical"
            else:
                values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                kind = "numeric"
        if kind == "numeric":
            values = np.where(np.isfinite(values), values, np.nan)
            distinct = pd.unique(values[~np.isnan(values)])  # hashing: a sort of 400k values took seconds
            if len(distinct) == 0:
                skipped[name] = "no values"
                continue
        else:
            distinct = pd.unique(values)
            if len(distinct) > 20 and len(distinct) > 0.5 * n:
                skipped[name] = f"{len(distinct)} distinct values: looks like an identifier"
                continue
        if len(distinct) < 2 and not (kind == "numeric" and np.isnan(values).any()):
            skipped[name] = "a single value"
            continue
        data[name], kinds[name] = values, kind
    return data, kinds, skipped


class _Code:
    """Encoding of one column, fitted on training rows (see the module notes)."""

    def __init__(self, kind: str, linear: bool) -> None:
        self.kind, self.linear = kind, linear

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Code:
        if self.kind == "numeric":
            miss = np.isnan(x)
            self.median_ = float(np.median(x[~miss])) if (~miss).any() else 0.0
            self.indicator_ = bool(miss.any())
            self.sorted_ = np.sort(np.where(miss, self.median_, x))
        else:
            inv, cats = pd.factorize(x, sort=True)  # np.unique's answer, hashing instead of comparing strings
            self.cats_ = cats
            prior = float(y.mean())
            self.prior_ = prior
            counts = np.bincount(inv, minlength=len(cats))
            hits = np.bincount(inv, weights=y.astype(float), minlength=len(cats))
            self.rates_ = dict(zip(cats, (hits + SMOOTHING * prior) / (counts + SMOOTHING)))
        if self.linear:
            raw = self._raw(x)
            self.mean_ = raw.mean(axis=0)
            sd = raw.std(axis=0)
            self.sd_ = np.where(sd > 0, sd, 1.0)
        return self

    def _raw(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "numeric":
            miss = np.isnan(x)
            v = np.where(miss, self.median_, x)
            # Mid-rank in the training values: business counts are heavy-tailed and a few giants
            # would otherwise set the scale of a linear model.
            lo = np.searchsorted(self.sorted_, v, side="left")
            hi = np.searchsorted(self.sorted_, v, side="right")
            cols = [(lo + hi) / (2.0 * len(self.sorted_))]
            if self.indicator_:
                cols.append(miss.astype(float))
            return np.column_stack(cols)
        return (x[:, None] == self.cats_[None, :]).astype(float)

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.linear:
            return (self._raw(x) - self.mean_) / self.sd_
        if self.kind == "numeric":
            return x[:, None]
        return pd.Series(x, dtype=object).map(self.rates_).fillna(self.prior_).to_numpy(dtype=float)[:, None]


def _contribution_sd(coef: np.ndarray, mats: list[np.ndarray]) -> np.ndarray:
    """Per original column: SD over rows of its part of the linear score.

    For a standardized numeric column that is |coefficient|; for a one-hot
    block it weighs each category's coefficient by how many rows have it, so a
    column with many rare categories does not win by summing small noise.
    """
    edges = np.cumsum([0] + [m.shape[1] for m in mats])
    return np.array([float((m @ coef[edges[i] : edges[i + 1]]).std()) for i, m in enumerate(mats)])


# -- rules ------------------------------------------------------------------------


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}" if abs(v) >= 10_000 else str(int(v))
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


@dataclass(frozen=True)
class Rule:
    """A one-split watershed on one feature, e.g. ``tech_maturity ≥ 4``."""

    feature: str
    op: str  # "≥", "≤", "in", "not in", "is missing", "is known"
    threshold: float = math.nan
    categories: tuple[str, ...] = ()
    missing_meets: bool = False

    @property
    def text(self) -> str:
        if self.op in ("is missing", "is known"):
            return f"{self.feature} {self.op}"
        if self.op in ("≥", "≤"):
            tail = " or missing" if self.missing_meets else ""
            return f"{self.feature} {self.op} {_fmt(self.threshold)}{tail}"
        return f"{self.feature} {self.op} {{{', '.join(self.categories)}}}"

    @property
    def expression(self) -> str:
        """The rule in Sikta's model expression language (true where it is met).

        >>> Rule("industry", "in", categories=("Retail", "O'Neil")).expression
        "industry in ('Retail', 'O''Neil')"
        >>> Rule("sites", "≥", threshold=3.0, missing_meets=True).expression
        'sites >= 3 or sites is null'
        """
        f = self.feature
        if self.op in ("is missing", "is known"):
            return f"{f} is {'' if self.op == 'is missing' else 'not '}null"
        if self.op in ("≥", "≤"):
            cmp = ">=" if self.op == "≥" else "<="
            tail = f" or {f} is null" if self.missing_meets else ""
            return f"{f} {cmp} {self.threshold:.10g}{tail}"
        quoted = ", ".join("'" + str(c).replace("'", "''") + "'" for c in self.categories)
        return f"{f} {self.op} ({quoted})"

    def meets(self, x: np.ndarray) -> np.ndarray:
        if self.op in ("is missing", "is known"):
            return np.isnan(x) == (self.op == "is missing")
        if self.op in ("≥", "≤"):
            miss = np.isnan(x)
            with np.errstate(invalid="ignore"):
                hit = x >= self.threshold if self.op == "≥" else x <= self.threshold
            return np.where(miss, self.missing_meets, hit)
        inside = np.isin(x, list(self.categories))
        return inside if self.op == "in" else ~inside


def _rule(name: str, kind: str, x: np.ndarray, y: np.ndarray) -> Rule | None:
    code = _Code(kind, linear=False).fit(x, y)
    z = code.transform(x)
    tree = ShallowTree(max_depth=1, min_samples_leaf=max(1, int(0.05 * len(y)))).fit(z, y)
    if len(tree.feature_) < 3:
        return None
    t = float(tree.threshold_[0])
    left, right = tree.children_left_[0], tree.children_right_[0]
    rate = tree.value_
    high_right = rate[right] >= rate[left]
    if kind == "numeric":
        v = x[~np.isnan(x)]
        missing_left = bool(tree.missing_left_[0]) if np.isnan(x).any() else None
        upper, lower = v[v > t], v[v <= t]
        if not len(upper) or not len(lower):
            # The split only separates missing from known values.
            missing_high = (missing_left is True) != bool(high_right)
            return Rule(name, "is missing" if missing_high else "is known")
        if high_right:
            threshold, op = float(upper.min()), "≥"
            missing_meets = missing_left is False
        else:
            threshold, op = float(lower.max()), "≤"
            missing_meets = missing_left is True
        return Rule(name, op, threshold=threshold, missing_meets=missing_meets)
    cats = [c for c in code.cats_ if (code.rates_[c] > t) == high_right]
    others = [c for c in code.cats_ if c not in cats]
    if others and len(others) < len(cats):
        return Rule(name, "not in", categories=tuple(sorted(others)))
    return Rule(name, "in", categories=tuple(sorted(cats)))


# -- the selector -----------------------------------------------------------------------


class DriverSelector:
    """Find the 1-3 features that best separate best customers from the rest, checked on a holdout.

    Parameters
    ----------
    max_features : int, default 3
        At most this many features (1-3: the seed's "keep it simple").
    method : {"tree", "l1"}, default "tree"
        Greedy forward selection scored by a shallow tree, or L1 logistic
        regression ranking (see the module notes).
    cv : int, default 5
        Stratified folds for choosing features (and C for ``"l1"``).
    random_state : int, default 0
        Seeds the holdout split, the folds and the models: same data and
        seed, same answer.
    test_size : float, default 0.3
        Share of rows held out (stratified) for the final check.
    min_gain : float, default 0.01
        A feature is added only if it raises CV AUC by at least this much
        (and by two standard errors of its per-fold gains).
    max_depth : int, default 2
        Depth of the trees of ``method="tree"`` (see the module notes).
    search_size : int or None, default 100_000
        The feature search cross-validates on a stratified sample of at most
        this many training rows (None: all of them); see the module notes.

    Attributes
    ----------
    features_ : list of str
        The chosen original columns, in the order they were chosen.
    importances_ : pandas.Series
        Share of the final model's importance per chosen feature (sums to
        1): impurity decrease for trees, summed |standardized coefficient|
        for ``"l1"``.
    rules_ : list of str
        One human-readable watershed per chosen feature, e.g. ``"sites ≥ 3"``.
    rule_table_ : pandas.DataFrame
        ``feature``, ``rule``, and the shares of holdout best customers
        (``best_meeting``) and of holdout others (``rest_meeting``) meeting it.
    holdout_auc_, holdout_capture_ : float
        AUC and capture (see the module notes) on the holdout.
    base_rate_ : float
        Share of best customers in ``y``; the capture of a random pick.
    beats_chance_ : bool
        Whether the holdout AUC beats chance (see the module notes). When it
        does not, the chosen features and rules are the search's best try,
        not a finding.
    cv_auc_ : float
        Mean CV AUC of the chosen features on the training part (optimistic:
        it was maximised; the holdout numbers are the honest ones).
    cv_scores_ : pandas.DataFrame
        Every candidate scored during the search: ``step``, ``feature``,
        ``cv_auc``, ``cv_std``, ``chosen``.
    kinds_ : dict
        ``numeric`` / ``categorical`` per usable column.
    skipped_ : dict
        Columns left out (all missing, one value, identifier-like) and why.
    C_ : float or None
        The CV-chosen C of ``"l1"``.
    n_train_, n_holdout_ : int
    n_holdout_best_ : int
        Best customers in the holdout.
    n_search_ : int
        Training rows the feature search used (``n_train_`` unless sampled).

    Raises
    ------
    sikta.errors.DataTooThinError
        From :meth:`fit` with fewer than 30 best customers or 30 others, or
        no usable column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame({"industry": rng.choice(["it", "retail", "energy"], 800),
    ...                   "noise": rng.normal(size=800)})
    >>> y = pd.Series((X.industry == "it") & (rng.random(800) < 0.6))
    >>> sel = DriverSelector(method="l1").fit(X, y)
    >>> sel.features_, sel.rules_
    (['industry'], ['industry in {it}'])
    >>> print(sel.explain())  # doctest: +NORMALIZE_WHITESPACE
    This factor (industry) finds 58 % of best customers in the holdout,
    vs 20 % at random (AUC 0.91). Watersheds: industry in {it}.
    """

    def __init__(
        self,
        max_features: int = 3,
        method: str = "tree",
        cv: int = 5,
        random_state: int = 0,
        test_size: float = 0.3,
        min_gain: float = 0.01,
        max_depth: int = 2,
        search_size: int | None = 100_000,
    ) -> None:
        self.max_features = max_features
        self.method = method
        self.cv = cv
        self.random_state = random_state
        self.test_size = test_size
        self.min_gain = min_gain
        self.max_depth = max_depth
        self.search_size = search_size

    def __repr__(self) -> str:
        return (
            f"DriverSelector(max_features={self.max_features}, method={self.method!r}, cv={self.cv}, "
            f"random_state={self.random_state}, test_size={self.test_size})"
        )

    # -- checks ------------------------------------------------------------------
    def _check_params(self) -> None:
        if not isinstance(self.max_features, int) or not 1 <= self.max_features <= 3:
            raise UsageError(
                f"max_features must be 1, 2 or 3 (a model keeps 1-3 parameters), not {self.max_features!r}"
            )
        if self.method not in ("tree", "l1"):
            raise UsageError(f"method must be 'tree' or 'l1', not {self.method!r}")
        if not isinstance(self.cv, int) or self.cv < 2:
            raise UsageError(f"cv must be an integer of at least 2, not {self.cv!r}")
        if not 0 < self.test_size < 1:
            raise UsageError(f"test_size must be between 0 and 1, not {self.test_size!r}")
        if not isinstance(self.max_depth, int) or self.max_depth < 1:
            raise UsageError(f"max_depth must be a positive integer, not {self.max_depth!r}")
        if self.search_size is not None and (not isinstance(self.search_size, int) or self.search_size < 100):
            raise UsageError(f"search_size must be an integer of at least 100 or None, not {self.search_size!r}")

    @staticmethod
    def _target(X: pd.DataFrame, y: pd.Series | Sequence[bool]) -> np.ndarray:
        if isinstance(y, pd.Series):
            if len(y) == len(X) and not y.index.equals(X.index):
                if set(y.index) == set(X.index):
                    y = y.reindex(X.index)
                else:
                    y = y.set_axis(X.index)  # positional, like scikit-learn
        y = pd.Series(y)
        if len(y) != len(X):
            raise UsageError(f"X has {len(X)} rows but y has {len(y)}")
        if y.isna().any():
            raise UsageError(
                f"y has {int(y.isna().sum())} missing values: say for every row whether it is a best customer"
            )
        return y.astype(bool).to_numpy()

    # -- scoring -------------------------------------------------------------------
    def _model(self, C: float | None = None):
        if self.method == "tree":
            return ShallowTree(max_depth=self.max_depth, min_samples_leaf=self._leaf)
        return _l1_logit(C if C is not None else 1.0, self.random_state)

    def _cv_auc(self, blocks, folds, y, features, C=None) -> np.ndarray:
        """AUC on each CV fold of the model on ``features`` (encoded per fold beforehand)."""
        aucs = []
        for (tr, te), fold in zip(folds, blocks):
            a = np.hstack([fold[f][0] for f in features])
            b = np.hstack([fold[f][1] for f in features])
            if self.method == "tree":  # every tree of the search reuses its columns' row orders
                model = self._model(C).fit(a, y[tr], order=[fold[f][2] for f in features])
            else:
                model = self._model(C).fit(a, y[tr])
            aucs.append(roc_auc(y[te], model.predict_proba(b)[:, 1]))
        return np.array(aucs)

    def _gain_ok(self, new: np.ndarray, current: np.ndarray | None) -> bool:
        if current is None:
            return True  # the first feature is always taken
        gain = new - current
        se = gain.std(ddof=1) / math.sqrt(len(gain))
        return bool(gain.mean() >= self.min_gain and gain.mean() >= GAIN_SE * se)

    # -- fit ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: pd.Series | Sequence[bool]) -> DriverSelector:
        """Choose the features on a training part and score them on the holdout.

        Parameters
        ----------
        X : pandas.DataFrame
            One row per unit; candidate columns only (numeric or text).
        y : pandas.Series of bool
            True for best customers; aligned with ``X`` by index when the
            indexes hold the same labels, else by position.

        Returns
        -------
        DriverSelector
            ``self``, with the attributes filled in.
        """
        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise UsageError("X must be a pandas DataFrame with named columns")
        yv = self._target(X, y)
        n_best, n_rest = int(yv.sum()), int((~yv).sum())
        if n_best < MIN_PER_CLASS or n_rest < MIN_PER_CLASS:
            raise DataTooThinError(
                f"{n_best} best customers and {n_rest} others: finding drivers needs at least "
                f"{MIN_PER_CLASS} of each (pick more best customers or use more data)"
            )
        data, kinds, skipped = _prepare(X)
        if not data:
            why = "; ".join(f"{k}: {v}" for k, v in skipped.items())
            raise DataTooThinError(f"no usable feature among {X.shape[1]} columns ({why})")
        self.kinds_, self.skipped_ = kinds, skipped
        self.base_rate_ = n_best / len(yv)

        tr, ho = stratified_holdout(yv, self.test_size, self.random_state)
        ytr, yho = yv[tr], yv[ho]
        self.n_train_, self.n_holdout_ = len(tr), len(ho)
        linear = self.method == "l1"
        # the search on a stratified sample of the training part (see the module notes)
        st = tr
        if self.search_size is not None and len(tr) > self.search_size:
            # leave out n - search_size rows: the half row keeps ceil() off a float rounding (exactly search_size kept)
            keep, _ = stratified_holdout(ytr, (len(tr) - self.search_size - 0.5) / len(tr), self.random_state)
            st = tr[keep]
        yst = yv[st]
        self.n_search_ = len(st)
        self._leaf = max(5, int(LEAF_SHARE * len(st)))
        folds = stratified_folds(yst, self.cv, self.random_state)
        # Each column is encoded once per fold (on that fold's training rows only) and reused by every subset.
        blocks = []
        for ftr, fte in folds:
            fold = {}
            for name, x in data.items():
                code = _Code(kinds[name], linear).fit(x[st][ftr], yst[ftr])
                a = code.transform(x[st][ftr])
                order = np.argsort(a[:, 0], kind="stable") if not linear else None
                fold[name] = (a, code.transform(x[st][fte]), order)
            blocks.append(fold)

        names = list(data)
        rows: list[dict] = []
        self.C_ = None
        if self.method == "tree":
            chosen, current = self._forward(names, blocks, folds, yst, rows)
        else:
            chosen, current = self._l1(names, data, kinds, st, yst, blocks, folds, rows)
        self._leaf = max(5, int(LEAF_SHARE * len(tr)))  # the final model: on the whole training part
        self.features_ = chosen
        self.cv_auc_ = current
        self.cv_scores_ = pd.DataFrame(rows, columns=["step", "feature", "cv_auc", "cv_std", "chosen"])

        # Final model on the whole training part, judged once on the holdout.
        self._codes = {f: _Code(kinds[f], linear).fit(data[f][tr], ytr) for f in chosen}
        mats = [self._codes[f].transform(data[f][tr]) for f in chosen]
        a = np.hstack(mats)
        self.model_ = self._model(self.C_).fit(a, ytr)
        if linear:
            self._linear_importance = _contribution_sd(self.model_.coef_[0], mats)
        score = self.model_.predict_proba(np.hstack([self._codes[f].transform(data[f][ho]) for f in chosen]))[:, 1]
        self.holdout_auc_ = roc_auc(yho, score)
        self.holdout_capture_ = capture_rate(yho, score, int(round(self.base_rate_ * len(ho))))
        self.n_holdout_best_ = int(yho.sum())
        self.beats_chance_ = auc_beats_chance(self.holdout_auc_, self.n_holdout_best_,
                                              self.n_holdout_ - self.n_holdout_best_)
        self.importances_ = self._importances(chosen)

        rules, table, objects = [], [], []
        for f in chosen:
            rule = _rule(f, kinds[f], data[f][tr], ytr)
            if rule is None:
                continue
            rules.append(rule.text)
            objects.append(rule)
            hit = rule.meets(data[f][ho])
            table.append({"feature": f, "rule": rule.text,
                          "best_meeting": float(hit[yho].mean()), "rest_meeting": float(hit[~yho].mean())})
        self.rules_ = rules
        self.rule_objects_ = objects
        self.rule_table_ = pd.DataFrame(table, columns=["feature", "rule", "best_meeting", "rest_meeting"])
        return self

    def _forward(self, names, blocks, folds, ytr, rows):
        chosen: list[str] = []
        current = None
        for step in range(1, self.max_features + 1):
            best_name, best = None, None
            candidates = [name for name in names if name not in chosen]
            # the candidates' cross-validations are independent: side by side on threads, same results
            scored = side_by_side(lambda name: self._cv_auc(blocks, folds, ytr, chosen + [name]), candidates)
            for name, auc in zip(candidates, scored, strict=True):
                rows.append({"step": step, "feature": name, "cv_auc": auc.mean(), "cv_std": auc.std(), "chosen": False})
                if best is None or auc.mean() > best.mean():
                    best_name, best = name, auc
            if best_name is None or not self._gain_ok(best, current):
                break
            chosen.append(best_name)
            current = best
            for r in rows:
                if r["step"] == step and r["feature"] == best_name:
                    r["chosen"] = True
        return chosen, float(current.mean())

    def _l1(self, names, data, kinds, tr, ytr, blocks, folds, rows):
        # C by CV AUC over all columns; on a tie the smaller C (the sparser model) wins.
        best_c, best_auc = L1_CS[0], -math.inf
        for C in L1_CS:
            auc = self._cv_auc(blocks, folds, ytr, names, C).mean()
            if auc > best_auc + 1e-12:
                best_c, best_auc = C, auc
        self.C_ = best_c
        codes = {f: _Code(kinds[f], True).fit(data[f][tr], ytr) for f in names}
        mats = [codes[f].transform(data[f][tr]) for f in names]
        weight = self._l1_weights(mats, ytr, best_c)
        if not (weight > 0).any():
            # Everything shrunk to zero: rank by the weakest penalty instead, so there is still an order.
            weight = self._l1_weights(mats, ytr, L1_CS[-1])
        order = sorted(range(len(names)), key=lambda i: (-weight[i], i))
        self.l1_weights_ = pd.Series(weight, index=names).iloc[order]
        chosen: list[str] = []
        current = None
        for step, i in enumerate(order[: self.max_features], start=1):
            name = names[i]
            if chosen and weight[i] == 0:
                break  # the penalty dropped it: nothing left worth adding
            auc = self._cv_auc(blocks, folds, ytr, chosen + [name], best_c)
            ok = self._gain_ok(auc, current)
            rows.append({"step": step, "feature": name, "cv_auc": auc.mean(), "cv_std": auc.std(), "chosen": ok})
            if not ok:
                break
            chosen.append(name)
            current = auc
        return chosen, float(current.mean())

    def _l1_weights(self, mats, y, C) -> np.ndarray:
        model = _l1_logit(C, self.random_state).fit(np.hstack(mats), y)
        return _contribution_sd(model.coef_[0], mats)

    def _importances(self, chosen: list[str]) -> pd.Series:
        if self.method == "tree":
            raw = np.asarray(self.model_.feature_importances_, dtype=float)  # one encoded column per feature
        else:
            raw = self._linear_importance
        total = raw.sum()
        share = raw / total if total > 0 else np.full(len(chosen), 1 / len(chosen))
        return pd.Series(share, index=chosen, name="importance").sort_values(ascending=False, kind="mergesort")

    # -- use -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise UsageError("this DriverSelector is not fitted yet: call fit(X, y) first")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Score units with the final model (trained on the training part): P(best) per row.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"sites": rng.integers(1, 8, 400)})
        >>> sel = DriverSelector().fit(X, pd.Series(X.sites >= 6))
        >>> sel.predict_proba(pd.DataFrame({"sites": [1, 7]})).round(2).tolist()
        [0.0, 1.0]
        """
        self._check_fitted()
        missing = [f for f in self.features_ if f not in X.columns]
        if missing:
            raise UsageError(f"X lacks the driver column(s) {', '.join(missing)}")
        data, _, _ = _prepare_for(X, self.features_, self.kinds_)
        a = np.hstack([self._codes[f].transform(data[f]) for f in self.features_])
        return self.model_.predict_proba(a)[:, 1]

    def explain(self) -> str:
        """One plain sentence on the chosen factors and how well they did on the holdout.

        When the holdout AUC does not beat chance (``beats_chance_``) it says so first, and the
        chosen factors and their rules are reported as the best try, not as watersheds.

        Examples
        --------
        >>> sel = DriverSelector()
        >>> sel.features_, sel.rules_ = ["industry", "tech_maturity"], ["industry in {fintech, software}", "tech_maturity ≥ 4"]
        >>> sel.holdout_capture_, sel.base_rate_, sel.holdout_auc_, sel.beats_chance_ = 0.71, 0.2, 0.84, True
        >>> print(sel.explain())  # doctest: +NORMALIZE_WHITESPACE
        These 2 factors (industry, tech_maturity) find 71 % of best customers in the holdout,
        vs 20 % at random (AUC 0.84). Watersheds: industry in {fintech, software}; tech_maturity ≥ 4.
        >>> sel.features_, sel.rules_, sel.holdout_capture_, sel.holdout_auc_ = ["region"], ["region in {1}"], 0.07, 0.48
        >>> sel.beats_chance_, sel.n_holdout_, sel.n_holdout_best_ = False, 132, 13
        >>> print(sel.explain())  # doctest: +NORMALIZE_WHITESPACE
        No factor separates the best customers from the rest better than chance on the holdout.
        The best try (region) finds 7 % of best customers in the holdout, vs 20 % at random
        (AUC 0.48 on 13 best and 119 other customers); its rule (region in {1}) is not a finding.
        """
        self._check_fitted()
        k = len(self.features_)
        names = ", ".join(self.features_)
        if not self.beats_chance_:
            rules = getattr(self, "rules_", None)
            text = (
                "No factor separates the best customers from the rest better than chance on the holdout. "
                f"The best try ({names}) finds {round(100 * self.holdout_capture_)} % of best customers in the "
                f"holdout, vs {round(100 * self.base_rate_)} % at random (AUC {self.holdout_auc_:.2f} on "
                f"{self.n_holdout_best_:,} best and {self.n_holdout_ - self.n_holdout_best_:,} other customers)"
            )
            if rules:
                text += f"; {'its rule' if len(rules) == 1 else 'its rules'} ({'; '.join(rules)}) "
                text += "is not a finding" if len(rules) == 1 else "are not a finding"
            return text + "."
        head = f"These {k} factors ({names}) find" if k > 1 else f"This factor ({names}) finds"
        text = (
            f"{head} {round(100 * self.holdout_capture_)} % of best customers in the holdout, "
            f"vs {round(100 * self.base_rate_)} % at random (AUC {self.holdout_auc_:.2f})."
        )
        if getattr(self, "rules_", None):
            text += f" Watersheds: {'; '.join(self.rules_)}."
        return text


def _prepare_for(X: pd.DataFrame, features: list[str], kinds: dict[str, str]):
    """Like :func:`_prepare`, but with the kinds learned at fit time (a column must not change kind)."""
    data = {}
    for f in features:
        s = X[f]
        if kinds[f] == "numeric":
            s = s.astype(float) if s.dtype == bool else s
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            data[f] = np.where(np.isfinite(v), v, np.nan)
        else:
            data[f] = np.array([MISSING if pd.isna(v) else str(v) for v in s], dtype=object)
    return data, kinds, {}
