"""Opportunity: each unit's propensity to buy a named product line or meet a named condition (SPEC §4.4, seed 004).

A scikit-learn classifier learns, from the units that did (``y`` true) and
those that did not, what the buyers look like; every unit then gets a
probability. To be honest about it:

* **no leakage** - columns named in ``exclude`` (e.g. the line's own
  revenue ``rev12_<line>`` and the ``product_lines`` list) are never used,
  and any numeric column that on its own separates the target almost
  perfectly (single-column AUC ≥ ``leak_auc``, default 0.98) is dropped
  as a leak and reported in ``dropped_``;
* **every score is a holdout score** - the units are split into
  ``n_folds`` stratified folds (default 5) and each unit is scored by the
  model trained on the other folds (cross-fitting), so ``auc_``, the Brier
  score and the reliability table are holdout figures and a unit's own
  answer never scores it;
* **calibration** - ``reliability_`` bins the holdout scores into (up to)
  ten equal-count bins and compares the mean score with the observed rate
  per bin; ``calibration_error_`` is their count-weighted mean absolute gap
  (the expected calibration error) and ``brier_`` the Brier score, against
  ``brier_baseline_`` = base rate × (1 - base rate), the Brier score of
  predicting the base rate for everyone;
* **too few positives are refused** - fewer than ``min_positives``
  (default 30) units with ``y`` true, or as few without, raise
  :class:`~sikta.errors.DataTooThinError`: a propensity learned from a
  handful of buyers describes those buyers, not a market.

``model="gbm"`` (default) is a histogram gradient-boosting classifier
(native missing values and categories); ``model="logistic"`` a logistic
regression on median-imputed (with missing flags), standardized numbers and
one-hot categories. Text columns with more than 50 distinct values, lists,
dates and identifiers are not used.

Segments: units with ``y`` true are ``already buys`` (``positive_label``);
the others are ranked by propensity - the top ``high_share`` (20 %) are
``high propensity``, the next ``medium_share`` (30 %) ``medium propensity``,
the rest ``low propensity``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"sites": rng.integers(1, 10, 600), "noise": rng.normal(size=600)})
>>> y = rng.random(600) < 1 / (1 + np.exp(-(X.sites - 6)))
>>> pm = PropensityModel(model="logistic").fit(X, y)
>>> pm.auc_ > 0.8, pm.brier_ < pm.brier_baseline_
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from sikta.core.stats import split_kinds
from sikta.errors import DataTooThinError, UsageError

__all__ = ["PropensityModel", "MIN_POSITIVES", "HIGH", "MEDIUM", "LOW", "reliability_table"]

#: fewer positives (or negatives) than this and no model is fitted
MIN_POSITIVES = 30
MAX_LEVELS = 50
HIGH, MEDIUM, LOW = "high propensity", "medium propensity", "low propensity"
MODELS = ("gbm", "logistic")


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed rate in equal-count bins.

    Examples
    --------
    >>> t = reliability_table(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.9]), bins=2)
    >>> t.round(2).to_dict("records")[1]
    {'bin': 1, 'n': 2, 'mean_predicted': 0.8, 'observed_rate': 1.0}
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    ranks = pd.Series(p).rank(method="first").to_numpy()
    b = np.minimum(((ranks - 1) * bins / len(p)).astype(int), bins - 1)
    t = pd.DataFrame({"bin": b, "p": p, "y": y}).groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"),
                                                                   observed_rate=("y", "mean"))
    t = t.reset_index()
    return t.astype({"bin": int, "n": int})


class PropensityModel(BaseEstimator):
    """Propensity to buy a line (or meet a condition), with holdout AUC and calibration.

    Parameters
    ----------
    features : list of str, optional
        Columns to learn from; default every usable column not in ``exclude``.
    exclude : list of str
        Columns never used (the target's own revenue, identifiers...).
    model : {"gbm", "logistic"}, default "gbm"
    n_folds : int, default 5
        Folds of the cross-fitting (each unit scored by a model that did not see it).
    min_positives : int, default 30
        Fewest units with ``y`` true (and false) to fit at all.
    leak_auc : float, default 0.98
        A numeric column whose single-column AUC reaches this is dropped as a leak.
    high_share, medium_share : float, default 0.2 and 0.3
        Shares of the non-buyers labelled high and medium propensity.
    positive_label : str, default "already buys"
    random_state : int, default 0

    Attributes
    ----------
    features_ : list of str
    dropped_ : dict
        Column -> why it was not used.
    propensity_ : pandas.Series
        Holdout (cross-fitted) probability per unit.
    auc_, brier_, brier_baseline_, calibration_error_, base_rate_ : float
    reliability_ : pandas.DataFrame
        ``bin``, ``n``, ``mean_predicted``, ``observed_rate``.
    segments_ : pandas.DataFrame
        ``segment``, ``propensity``, ``target`` (the given ``y``).
    profiles_ : pandas.DataFrame
    model_ : sklearn estimator
        Fitted on all units, for :meth:`predict_proba` on new ones.
    notes_ : list of str
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        model: str = "gbm",
        n_folds: int = 5,
        min_positives: int = MIN_POSITIVES,
        leak_auc: float = 0.98,
        high_share: float = 0.2,
        medium_share: float = 0.3,
        positive_label: str = "already buys",
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.exclude = exclude
        self.model = model
        self.n_folds = n_folds
        self.min_positives = min_positives
        self.leak_auc = leak_auc
        self.high_share = high_share
        self.medium_share = medium_share
        self.positive_label = positive_label
        self.random_state = random_state

    # -- inputs -------------------------------------------------------------------
    def _check(self) -> None:
        if self.model not in MODELS:
            raise UsageError(f"opportunity: model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise UsageError(f"opportunity: n_folds must be an integer of at least 2, not {self.n_folds!r}")
        if not (0 < self.high_share and 0 <= self.medium_share and self.high_share + self.medium_share <= 1):
            raise UsageError("opportunity: high_share and medium_share must be shares adding up to at most 1")
        if not 0.5 < self.leak_auc <= 1:
            raise UsageError(f"opportunity: leak_auc must be in (0.5, 1], not {self.leak_auc!r}")

    def _target(self, frame: pd.DataFrame, y: object) -> np.ndarray:
        ys = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y), index=frame.index)
        if len(ys) != len(frame):
            raise UsageError(f"opportunity: {len(frame)} units but {len(ys)} target values")
        if isinstance(y, pd.Series) and not ys.index.equals(frame.index):
            ys = ys.reindex(frame.index)
        if ys.isna().any():
            raise UsageError(
                f"opportunity: the target is missing for {int(ys.isna().sum())} units; say yes or no for each"
            )
        return ys.astype(bool).to_numpy()

    def _columns(self, frame: pd.DataFrame, yv: np.ndarray) -> tuple[pd.DataFrame, list[str], list[str]]:
        excl = set(self.exclude)
        if self.features is not None:
            missing = [c for c in self.features if c not in frame.columns]
            if missing:
                raise UsageError(f"opportunity: no column {missing[0]!r} in the unit frame")
        cols = [c for c in (self.features if self.features is not None else frame.columns)]
        self.dropped_ = {c: "excluded" for c in cols if c in excl}
        numeric, categorical = [], []
        out = {}
        kept = [c for c in cols if c not in excl]
        as_number = set(split_kinds(frame, [c for c in kept if not self._odd(frame[c])])[0])
        for c in kept:
            s = frame[c]
            if c in as_number:
                x = pd.to_numeric(s, errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)
                if x.notna().sum() == 0 or x.nunique() < 2:
                    self.dropped_[c] = "no values" if x.notna().sum() == 0 else "the same value for every unit"
                    continue
                auc = self._single_auc(x.to_numpy(), yv)
                if auc >= self.leak_auc:
                    self.dropped_[c] = f"leak: on its own it separates the target (AUC {auc:.3f})"
                    continue
                out[c] = x
                numeric.append(c)
            elif self._odd(s):
                self.dropped_[c] = "not a number or a category (dates, lists)"
            else:
                v = s.astype(object).where(s.notna(), None)
                levels = v.dropna().nunique()
                if levels < 2 or levels > MAX_LEVELS:
                    self.dropped_[c] = ("the same value for every unit" if levels < 2
                                        else f"{levels} distinct values: an identifier or free text")
                    continue
                out[c] = pd.Categorical(v.map(lambda t: None if t is None else str(t)))
                categorical.append(c)
        if not out:
            raise DataTooThinError("opportunity: no usable feature column left (" + "; ".join(
                f"{k}: {v}" for k, v in list(self.dropped_.items())[:5]) + ")")
        return pd.DataFrame(out, index=frame.index), numeric, categorical

    @staticmethod
    def _odd(s: pd.Series) -> bool:
        """Dates and lists: neither a number nor a category."""
        if pd.api.types.is_datetime64_any_dtype(s):
            return True
        if s.dtype != object:
            return False
        odd = s.dropna().map(lambda v: isinstance(v, (list, tuple, np.ndarray, dict)) or hasattr(v, "isoformat"))
        return bool(odd.any())

    @staticmethod
    def _single_auc(x: np.ndarray, y: np.ndarray) -> float:
        ok = ~np.isnan(x)
        if ok.sum() < 20 or y[ok].all() or not y[ok].any():
            return 0.5
        a = roc_auc_score(y[ok], x[ok])
        return max(a, 1 - a)

    def _estimator(self, numeric: list[str], categorical: list[str]):
        if self.model == "gbm":
            return HistGradientBoostingClassifier(
                learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0,
                categorical_features="from_dtype", random_state=self.random_state,
            )
        num = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
        cat = make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                            OneHotEncoder(handle_unknown="ignore"))
        pre = ColumnTransformer([("num", num, numeric), ("cat", cat, categorical)])
        return make_pipeline(pre, LogisticRegression(C=1.0, max_iter=2000))

    # -- fit ----------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: object) -> PropensityModel:
        """Learn who buys, score every unit on holdout folds, label the non-buyers.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per unit.
        y : array-like of bool
            True for units that bought the line / meet the condition.

        Returns
        -------
        PropensityModel
            ``self``, fitted.
        """
        self._check()
        if not isinstance(frame, pd.DataFrame):
            raise UsageError("opportunity: the input must be a pandas DataFrame with one row per unit")
        yv = self._target(frame, y)
        pos, neg = int(yv.sum()), int((~yv).sum())
        if pos < self.min_positives or neg < self.min_positives:
            if pos < self.min_positives:
                few, what = pos, "units with the target (buyers)"
            else:
                few, what = neg, "units without it"
            raise DataTooThinError(
                f"opportunity: only {few} {what}; a propensity model needs at least {self.min_positives} "
                f"of each ({pos} buyers, {neg} others)"
            )
        X, numeric, categorical = self._columns(frame, yv)
        self._cats = {c: list(X[c].cat.categories) for c in categorical}
        if self.model == "logistic":
            X = X.astype({c: object for c in categorical})
        self.features_ = numeric + categorical
        X = X[self.features_]
        folds = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=self.random_state)
        est = self._estimator(numeric, categorical)
        # One thread for unit-sized data: OpenMP/BLAS spin-waits make it many times slower on a shared machine.
        with threadpool_limits(limits=1 if len(X) <= 50_000 else None):
            p = cross_val_predict(est, X, yv, cv=folds, method="predict_proba")[:, 1]
            self.model_ = self._estimator(numeric, categorical).fit(X, yv)
        self.propensity_ = pd.Series(p, index=frame.index, name="propensity")
        self.base_rate_ = pos / len(yv)
        self.auc_ = float(roc_auc_score(yv, p))
        self.brier_ = float(brier_score_loss(yv, p))
        self.brier_baseline_ = self.base_rate_ * (1 - self.base_rate_)
        self.reliability_ = reliability_table(yv, p)
        r = self.reliability_
        self.calibration_error_ = float((r.n * (r.mean_predicted - r.observed_rate).abs()).sum() / r.n.sum())
        self._segments(frame.index, yv, p)
        self.notes_ = self._notes()
        return self

    def _segments(self, index: pd.Index, yv: np.ndarray, p: np.ndarray) -> None:
        seg = np.full(len(p), self.positive_label, dtype=object)
        others = np.flatnonzero(~yv)
        order = others[np.lexsort((others, -p[others]))]  # highest first; ties by position
        n_hi = int(round(self.high_share * len(order)))
        n_md = int(round(self.medium_share * len(order)))
        seg[order[:n_hi]] = HIGH
        seg[order[n_hi:n_hi + n_md]] = MEDIUM
        seg[order[n_hi + n_md:]] = LOW
        self.segments_ = pd.DataFrame({"segment": seg, "propensity": p, "target": yv}, index=index)
        rows = []
        for label in (self.positive_label, HIGH, MEDIUM, LOW):
            m = seg == label
            if m.any():
                rows.append({"segment": label, "n_units": int(m.sum()), "share": m.sum() / len(p),
                             "mean_propensity": float(p[m].mean()), "min_propensity": float(p[m].min())})
        self.profiles_ = pd.DataFrame(rows)

    def _notes(self) -> list[str]:
        notes = [
            f"holdout AUC {self.auc_:.2f} (every unit scored by a model that did not see it), Brier "
            f"{self.brier_:.3f} vs {self.brier_baseline_:.3f} for the base rate, calibration error "
            f"{self.calibration_error_:.3f}"
        ]
        if self.auc_ < 0.6:
            notes.append(f"the model barely beats chance (AUC {self.auc_:.2f}): the propensities say little")
        leaks = [c for c, why in self.dropped_.items() if why.startswith("leak")]
        if leaks:
            notes.append("dropped as leaks: " + ", ".join(leaks))
        return notes

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Propensity of new units (model fitted on all units; columns as in ``features_``)."""
        if not hasattr(self, "model_"):
            raise UsageError("opportunity: this PropensityModel is not fitted yet; call fit first")
        missing = [c for c in self.features_ if c not in frame.columns]
        if missing:
            raise UsageError(f"opportunity: no column {missing[0]!r} in the unit frame")
        X = pd.DataFrame(index=frame.index)
        for c in self.features_:
            if c in self._categories():
                cats = self._categories()[c]
                v = frame[c].astype(object).map(lambda t: None if t is None or t != t else str(t))
                X[c] = pd.Categorical(v, categories=cats) if self.model == "gbm" else v
            else:
                X[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
        return self.model_.predict_proba(X)[:, 1]

    def _categories(self) -> dict[str, list[str]]:
        return getattr(self, "_cats", {})
