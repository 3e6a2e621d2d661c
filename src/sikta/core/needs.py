"""Needs-based segments: clusters of survey answers, described in words (SPEC §4.4, seeds 002, 004).

Input is the per-unit feature frame; the answer columns are the need
importances (``need_*``, 1-5) and pain points (``pain_*``) unless named.
Every unit gets a segment:

* ``no answers`` - the unit answered none of the items. It is **not**
  imputed: a unit without a survey has no known needs, and guessing them
  would invent the very thing the scheme is meant to measure;
* ``too few answers`` - it answered fewer than ``min_answered`` (default
  half) of the items: too little to place it;
* a cluster - units that answered **every** item are clustered by
  :class:`~sikta.core.clustering.StableClusterer` (standardized answers, k
  by bootstrap stability). Units with **partial** answers (at least
  ``min_answered`` but not all) take no part in the fit and are placed
  afterwards on the items they did answer (nearest cluster center over
  those items) - nothing is filled in; ``n_partial_`` counts them and
  ``segments_.n_answered`` shows who they are.

Each cluster is described by its distinctive answers relative to the mean
of all clustered units, in z units (see :mod:`sikta.core.profiles`):
"values support and training; price matters little". Its label is its most
distinctive high item(s), e.g. ``values support``, made unique.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> price = np.r_[rng.normal(4.6, 0.4, 60), rng.normal(1.8, 0.4, 60)]
>>> support = np.r_[rng.normal(2.0, 0.4, 60), rng.normal(4.5, 0.4, 60)]
>>> df = pd.DataFrame({"need_price": price, "need_support": support})
>>> df = pd.concat([df, pd.DataFrame({"need_price": [np.nan] * 3, "need_support": [np.nan] * 3})], ignore_index=True)
>>> seg = NeedsSegmenter(n_bootstrap=5).fit(df)
>>> seg.segments_.segment.value_counts().to_dict()
{'values price': 60, 'values support': 60, 'no answers': 3}
>>> seg.profiles_.set_index("segment").loc["values support", "description"]
'values support; price matters little'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sikta.core.clustering import StableClusterer
from sikta.core.labels import NO_ANSWERS, TOO_FEW
from sikta.core.profiles import DISTINCT, describe, item_word, unique_labels, z_profile
from sikta.errors import DataTooThinError, UsageError

__all__ = ["NeedsSegmenter", "NO_ANSWERS", "TOO_FEW", "PREFIXES"]

#: answer columns found by name when none are given
PREFIXES = ("need_", "pain_")


def _answer_words(column: str, high: bool) -> str:
    word = item_word(column)
    if column.startswith("pain_"):
        return f"struggles with {word}" if high else f"little trouble with {word}"
    return word


class NeedsSegmenter(BaseEstimator):
    """Cluster units by their survey answers; units without answers are labelled, not imputed.

    Parameters
    ----------
    columns : list of str, optional
        Answer columns; default every column starting with ``need_`` or ``pain_``.
    min_answered : float, default 0.5
        Share of the items a unit must have answered to be placed at all.
    k_min, k_max, n_bootstrap, min_cluster_size, min_cluster_share, algorithm, random_state
        Passed to :class:`~sikta.core.clustering.StableClusterer`.

    Attributes
    ----------
    columns_ : list of str
        The answer columns used.
    segments_ : pandas.DataFrame
        Indexed like the input: ``segment`` (label), ``cluster`` (0 = largest,
        -1 = none) and ``n_answered`` (items answered) - the numbers behind
        the label are the answers themselves.
    profiles_ : pandas.DataFrame
        One row per segment, clusters first (largest first), then ``too few
        answers`` and ``no answers`` when present: ``segment``, ``cluster``,
        ``n_units``, ``share`` (of all units), ``description``, then ``z_<item>``
        (distinctiveness) and ``mean_<item>`` (average answer) per item.
    segment_names_, descriptions_ : list of str
        Name and plain-word profile of each cluster, by cluster number.
    z_ : pandas.DataFrame
        Cluster × input distinctiveness in z units.
    clusterer_ : StableClusterer
        The fitted clusterer (``stability_`` per k, ``n_clusters_``).
    n_no_answers_, n_too_few_, n_partial_, n_complete_ : int
    notes_ : list of str
        What a reader must know (units without answers, partial answers).
    """

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        min_answered: float = 0.5,
        k_min: int = 2,
        k_max: int = 8,
        n_bootstrap: int = 20,
        min_cluster_size: int = 10,
        min_cluster_share: float = 0.03,
        algorithm: str = "kmeans",
        random_state: int = 0,
    ) -> None:
        self.columns = columns
        self.min_answered = min_answered
        self.k_min = k_min
        self.k_max = k_max
        self.n_bootstrap = n_bootstrap
        self.min_cluster_size = min_cluster_size
        self.min_cluster_share = min_cluster_share
        self.algorithm = algorithm
        self.random_state = random_state

    def _answers(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise UsageError("needs: the input must be a pandas DataFrame with one row per unit")
        if self.columns is None:
            cols = [c for c in frame.columns if str(c).startswith(PREFIXES)]
            if not cols:
                raise DataTooThinError("needs: no survey answer columns (need_* or pain_*): no survey answers at all")
        else:
            cols = list(self.columns)
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise UsageError(f"needs: no column {missing[0]!r} in the unit frame")
            if not cols:
                raise UsageError("needs: columns is empty; name at least one answer column")
        out = {}
        for c in cols:
            try:
                out[c] = pd.to_numeric(frame[c], errors="raise").astype(float)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"needs: column {c!r} is not numeric ({exc})") from exc
        return pd.DataFrame(out, index=frame.index)

    def fit(self, frame: pd.DataFrame, y: object = None) -> NeedsSegmenter:
        """Cluster the units with answers and label every unit.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per unit with the answer columns.
        y : ignored

        Returns
        -------
        NeedsSegmenter
            ``self``, fitted.

        Raises
        ------
        sikta.errors.DataTooThinError
            No answer columns, or too few units with complete answers to cluster.
        """
        if not 0 < self.min_answered <= 1:
            raise UsageError(f"needs: min_answered must be in (0, 1], not {self.min_answered!r}")
        A = self._answers(frame)
        self.columns_ = list(A.columns)
        n_items = len(self.columns_)
        answered = A.notna().sum(axis=1).to_numpy()
        complete = answered == n_items
        placeable = answered >= math.ceil(self.min_answered * n_items)
        partial = placeable & ~complete
        self.n_complete_ = int(complete.sum())
        self.n_partial_ = int(partial.sum())
        self.n_no_answers_ = int((answered == 0).sum())
        self.n_too_few_ = int(((answered > 0) & ~placeable).sum())
        self.clusterer_ = StableClusterer(
            k_min=self.k_min,
            k_max=self.k_max,
            n_bootstrap=self.n_bootstrap,
            min_cluster_size=self.min_cluster_size,
            min_cluster_share=self.min_cluster_share,
            algorithm=self.algorithm,
            random_state=self.random_state,
        )
        try:
            self.clusterer_.fit(A.to_numpy()[complete])
        except DataTooThinError as exc:
            raise DataTooThinError(
                f"needs: {self.n_complete_} of {len(A)} units answered every survey item; {exc}"
            ) from exc
        cluster = np.full(len(A), -1, dtype=int)
        cluster[complete] = self.clusterer_.labels_
        if partial.any():
            cluster[partial] = self.clusterer_.predict(A.to_numpy()[partial])
        self._name_clusters(A[complete], self.clusterer_.labels_)
        segment = np.where(answered == 0, NO_ANSWERS, TOO_FEW).astype(object)
        segment[cluster >= 0] = np.asarray(self.segment_names_, dtype=object)[cluster[cluster >= 0]]
        self.segments_ = pd.DataFrame(
            {"segment": segment, "cluster": cluster, "n_answered": answered}, index=frame.index
        )
        self._profiles(A, len(frame))
        self.notes_ = self._notes(len(frame))
        return self

    def _name_clusters(self, complete: pd.DataFrame, labels: np.ndarray) -> None:
        z = z_profile(complete, labels, self.columns_)
        self.z_ = z
        rankings = []
        for c in z.index:
            row = z.loc[c]
            high = row[row >= DISTINCT].sort_values(ascending=False, kind="mergesort").index
            low = row[row <= -DISTINCT].sort_values(kind="mergesort").index
            if len(high):
                rankings.append([_answer_words(col, True) for col in high])
            elif len(low):
                rankings.append([f"{item_word(col)} matters little" for col in low[:1]])
            else:
                rankings.append([])
        labels_ = unique_labels(rankings, fallback="average needs")
        # "values" reads once in front of the phrase: "values support and speed"
        self.segment_names_ = [
            lab if (not r or "matters little" in lab or r[0].startswith(("struggles", "little trouble")))
            else f"values {lab}"
            for lab, r in zip(labels_, rankings)
        ]
        self.descriptions_ = []
        for c in z.index:
            row = z.loc[c]
            text = describe(row, words=item_word)
            pains = [col for col in self.columns_ if col.startswith("pain_")]
            if pains:  # pain items read differently from importances
                text = describe(row.drop(pains), words=item_word, neutral="")
                pain_hi = [col for col in pains if row[col] >= DISTINCT]
                extra = "; ".join(_answer_words(col, True) for col in pain_hi)
                text = "; ".join(t for t in (text, extra) if t) or "close to the average on every need"
            self.descriptions_.append(text)

    def _profiles(self, A: pd.DataFrame, n_units: int) -> None:
        seg = self.segments_
        rows = []
        for c, (label, text) in enumerate(zip(self.segment_names_, self.descriptions_)):
            members = seg.cluster.to_numpy() == c
            row = {"segment": label, "cluster": c, "n_units": int(members.sum()),
                   "share": members.sum() / n_units, "description": text}
            row |= {f"z_{col}": float(self.z_.loc[c, col]) for col in self.columns_}
            row |= {f"mean_{col}": float(A.loc[members, col].mean()) for col in self.columns_}
            rows.append(row)
        for label, n, text in ((TOO_FEW, self.n_too_few_, f"answered fewer than {self.min_answered:.0%} of the items"),
                               (NO_ANSWERS, self.n_no_answers_, "no survey answers: needs unknown (not imputed)")):
            if n:
                rows.append({"segment": label, "cluster": -1, "n_units": n, "share": n / n_units, "description": text})
        self.profiles_ = pd.DataFrame(rows)

    def _notes(self, n_units: int) -> list[str]:
        notes = []
        if self.n_no_answers_:
            notes.append(
                f"{self.n_no_answers_} of {n_units} units ({self.n_no_answers_ / n_units:.0%}) have no survey "
                f"answers and are labelled '{NO_ANSWERS}' (not imputed)"
            )
        if self.n_too_few_:
            notes.append(f"{self.n_too_few_} units answered too few items to be placed ('{TOO_FEW}')")
        if self.n_partial_:
            notes.append(
                f"{self.n_partial_} units answered only part of the items; they were placed on the items "
                "they answered, not used to form the clusters"
            )
        return notes
