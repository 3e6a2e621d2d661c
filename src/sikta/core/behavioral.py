"""Behavioral segments: how units buy - price-, quality- or support-driven, or routine (SPEC §4.4, seed 004).

Input is one row per unit with behavior inputs, by default the buying-style
columns of :mod:`sikta.engine.behavior` (they need orders only, so the
scheme runs on transaction-only data; a missing table just drops its
input):

* ``discount_rate`` and ``price_tier`` - pays list price or haggles, buys
  the premium or the cheap end of a line;
* ``support_rate`` - tickets per year of activity, derived here from
  ``tickets`` and ``active_days`` and **shrunk** towards the overall rate
  with a prior worth ``prior_years`` (default 1) year:
  ``(tickets + rate_all × prior_years) / (years + prior_years)``. A unit
  seen for two months with one ticket is not "6 tickets a year".

``credit_share`` (sends goods back) is profiled but not clustered on by
default: credit notes are rare per unit, so the share is mostly noise plus a
few extreme units, and with it the chosen k wavered between 3 and 4 on the
synthetic seeds. Any numeric columns can be given instead (``inputs=[...]``, e.g. the six
spend columns of a wholesale customer list).

Steps: inputs whose coverage among units with any input is below
``min_coverage`` (default 50 %) are dropped with a note; ``log="auto"``
replaces each input that is never negative and right-skewed (sample
skewness > 1) by ``log(x + c)`` with ``c`` a tenth of its median positive
value - spend, rates and counts are multiplicative, the offset keeps zeros
finite, and a unit change (EUR to kEUR) leaves the result alone; units with
every input are clustered by :class:`~sikta.core.clustering.StableClusterer`
(default ``algorithm="gaussian"``: a tied-covariance mixture, because the
style inputs differ a lot in noise); units with at least ``min_observed``
of the inputs are placed on what they have; the rest are labelled
``no purchase data``.

**Naming** (a documented rule on each cluster's z profile, see
:mod:`sikta.core.profiles`): with the style inputs present, a cluster is

* ``price-driven`` when its strongest sign is price: ``max(z discount_rate,
  -z price_tier, z credit_share)``;
* ``quality-driven`` for ``max(z price_tier, -z discount_rate)``;
* ``support-driven`` for ``z support_rate``;

whichever of the three is largest, provided it reaches 0.5; otherwise it is
``routine`` (buys in the middle of the range, at usual terms, without much
support). Clashing names get their next distinctive trait, else their
strongest mild leaning (``routine and mid-to-upper range``). With other
inputs the label is the strongest high (else low) inputs: ``high Grocery
and Detergents Paper``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> n = 80
>>> df = pd.DataFrame({
...     "discount_rate": np.r_[rng.normal(.25, .03, n), rng.normal(.03, .01, n), rng.normal(.07, .01, n)],
...     "price_tier": np.r_[rng.normal(.2, .04, n), rng.normal(.8, .04, n), rng.normal(.5, .04, n)],
...     "tickets": np.r_[rng.poisson(1, n), rng.poisson(1, n), rng.poisson(8, n)],
...     "active_days": 730})
>>> seg = BehaviorSegmenter(n_bootstrap=5).fit(df)
>>> seg.segments_.segment.iloc[[0, n, 2 * n]].tolist()
['price-driven', 'quality-driven', 'support-driven']
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.base import BaseEstimator

from sikta.core.clustering import StableClusterer
from sikta.core.labels import NO_DATA
from sikta.core.profiles import DISTINCT, item_word, unique_labels, z_profile
from sikta.errors import DataTooThinError, UsageError

__all__ = ["BehaviorSegmenter", "STYLE_INPUTS", "NO_DATA", "TRAITS", "columns_read", "support_rate"]

STYLE_INPUTS = ("discount_rate", "price_tier", "support_rate")
#: the columns ``support_rate`` is derived from when the frame does not hold it
SUPPORT_SOURCES = ("tickets", "active_days")
#: words for a distinctively high / low value of the known inputs
TRAITS = {
    "discount_rate": ("buys at deep discounts", "pays close to list price"),
    "price_tier": ("buys premium products", "buys the cheapest products"),
    "credit_share": ("returns a lot (credit notes)", "rarely returns goods"),
    "support_rate": ("needs much support", "rarely needs support"),
    "order_interval_days": ("long buying cycle", "buys often"),
    "order_regularity": ("buys irregularly", "buys like clockwork"),
}
#: inputs a style name already speaks for
STYLE_OWN = {
    "price-driven": {"discount_rate", "price_tier", "credit_share"},
    "quality-driven": {"discount_rate", "price_tier"},
    "support-driven": {"support_rate"},
    "routine": set(),
}
#: shorter words for a mild difference (|z| from 0.15), used only to tell two same-named clusters apart
LEANINGS = {
    "discount_rate": ("more discount", "less discount"),
    "price_tier": ("mid-to-upper range", "mid-to-lower range"),
    "credit_share": ("more returns", "fewer returns"),
    "support_rate": ("more support", "less support"),
    "order_interval_days": ("slower cycle", "faster cycle"),
    "order_regularity": ("less regular", "more regular"),
}
LEAN = 0.15
#: why a default input is absent
ABSENT = {
    "discount_rate": "not in the unit frame (it needs catalogue list prices)",
    "price_tier": "not in the unit frame (it needs order lines)",
    "support_rate": "not in the unit frame (it needs tickets and active_days)",
}
#: columns profiled per segment when present (the numbers behind the label)
DESCRIPTORS = ("credit_share", "order_interval_days", "order_regularity", "orders", "frequency_12m",
               "avg_order_value_12m",
               "usage_events_90d", "active_users_30d", "revenue_12m")
SKEWED = 1.0
#: the log offset as a share of the median positive value
LOG_OFFSET = 0.1


def columns_read(inputs: Sequence[str] | None = None) -> tuple[str, ...]:
    """The unit frame's columns a :class:`BehaviorSegmenter` with these ``inputs`` reads.

    The inputs (the style inputs when none are named), the columns ``support_rate`` is derived
    from, the descriptors and ``lifecycle_stage``: a caller holding a wide unit frame passes
    only these, as the segmenter copies what it is given.

    Examples
    --------
    >>> columns_read(["price_tier"])[:3]
    ('price_tier', 'tickets', 'active_days')
    """
    return tuple(dict.fromkeys((*(STYLE_INPUTS if inputs is None else inputs), *SUPPORT_SOURCES, *DESCRIPTORS,
                                "lifecycle_stage")))


def support_rate(tickets: pd.Series, active_days: pd.Series, prior_years: float = 1.0) -> pd.Series:
    """Tickets per year of activity, shrunk towards the overall rate (see the module notes).

    Examples
    --------
    Overall 12 tickets in 6 years = 2 a year; one ticket in a quarter of a year
    reads as (1 + 2) / (0.25 + 1) = 2.4, not 4.

    >>> t, d = pd.Series([1, 11, None]), pd.Series([365.25 / 4, 365.25 * 5.75, 100])
    >>> support_rate(t, d).round(2).tolist()
    [2.4, 1.93, nan]
    """
    t = pd.to_numeric(tickets, errors="coerce").astype(float)
    years = pd.to_numeric(active_days, errors="coerce").astype(float).clip(lower=1) / 365.25
    ok = t.notna() & years.notna()
    if not ok.any():
        return pd.Series(np.nan, index=t.index)
    overall = t[ok].sum() / years[ok].sum()
    return ((t + overall * prior_years) / (years + prior_years)).where(ok)


class BehaviorSegmenter(BaseEstimator):
    """Cluster units by how they buy, and name each cluster by a documented rule.

    Parameters
    ----------
    inputs : list of str, optional
        Columns to cluster on; default :data:`STYLE_INPUTS` (``support_rate``
        derived from ``tickets`` and ``active_days``) that are present.
    log : {"auto", True, False}, default "auto"
        ``log(x + c)`` of the never-negative right-skewed inputs (auto), of
        all never-negative inputs (True) or of none (see the module notes).
    min_coverage : float, default 0.5
        Inputs that fewer of the units with any input have are dropped.
    min_observed : float, default 0.5
        Share of the used inputs a unit needs to be placed.
    prior_years : float, default 1.0
        Weight of the overall ticket rate in ``support_rate``.
    algorithm : {"gaussian", "kmeans"}, default "gaussian"
    k_min, k_max, n_bootstrap, min_cluster_size, min_cluster_share, random_state
        Passed to :class:`~sikta.core.clustering.StableClusterer`.

    Attributes
    ----------
    inputs_ : list of str
        Inputs used; ``transformed_`` maps the ones taken as logs to their offset ``c``.
    dropped_ : dict
        Inputs left out and why.
    segments_ : pandas.DataFrame
        Indexed like the input: ``segment``, ``cluster`` (-1 = none) and the
        inputs (``support_rate`` as derived).
    profiles_ : pandas.DataFrame
        One row per segment: ``segment``, ``cluster``, ``n_units``, ``share``,
        ``description``, ``z_<input>`` and ``mean_<input / descriptor>``, and
        ``stage_<lifecycle stage>`` shares when ``lifecycle_stage`` is given.
    segment_names_, descriptions_ : list of str
        Name and plain-word profile of each cluster, by cluster number.
    z_ : pandas.DataFrame
        Cluster × input distinctiveness in z units.
    clusterer_ : StableClusterer
    notes_ : list of str
    """

    def __init__(
        self,
        inputs: Sequence[str] | None = None,
        log: str | bool = "auto",
        min_coverage: float = 0.5,
        min_observed: float = 0.5,
        prior_years: float = 1.0,
        algorithm: str = "gaussian",
        k_min: int = 2,
        k_max: int = 8,
        n_bootstrap: int = 20,
        min_cluster_size: int = 10,
        min_cluster_share: float = 0.03,
        random_state: int = 0,
    ) -> None:
        self.inputs = inputs
        self.log = log
        self.min_coverage = min_coverage
        self.min_observed = min_observed
        self.prior_years = prior_years
        self.algorithm = algorithm
        self.k_min = k_min
        self.k_max = k_max
        self.n_bootstrap = n_bootstrap
        self.min_cluster_size = min_cluster_size
        self.min_cluster_share = min_cluster_share
        self.random_state = random_state

    # -- inputs ------------------------------------------------------------------
    def _values(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise UsageError("behavioral: the input must be a pandas DataFrame with one row per unit")
        for name in ("min_coverage", "min_observed"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise UsageError(f"behavioral: {name} must be in (0, 1], not {v!r}")
        if self.log not in ("auto", True, False):
            raise UsageError(f"behavioral: log must be 'auto', True or False, not {self.log!r}")
        df = frame.copy()
        if "support_rate" not in df.columns and set(SUPPORT_SOURCES) <= set(df.columns):
            df["support_rate"] = support_rate(df["tickets"], df["active_days"], self.prior_years)
        self._absent = {}
        if self.inputs is None:
            cols = [c for c in STYLE_INPUTS if c in df.columns]
            self._absent = {c: ABSENT[c] for c in STYLE_INPUTS if c not in df.columns}
            if not cols:
                raise DataTooThinError(
                    "behavioral: none of the behavior inputs (" + ", ".join(STYLE_INPUTS)
                    + ") is in the unit frame: build them from orders first"
                )
        else:
            cols = list(self.inputs)
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise UsageError(f"behavioral: no column {missing[0]!r} in the unit frame")
            if not cols:
                raise UsageError("behavioral: inputs is empty; name at least one column")
        out = {}
        for c in cols:
            try:
                out[c] = pd.to_numeric(df[c], errors="raise").astype(float).replace([np.inf, -np.inf], np.nan)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"behavioral: column {c!r} is not numeric ({exc})") from exc
        return pd.DataFrame(out, index=frame.index)

    def _select(self, V: pd.DataFrame) -> pd.DataFrame:
        anyv = V.notna().any(axis=1)
        self.dropped_ = dict(self._absent)
        keep = []
        for c in V.columns:
            cov = V.loc[anyv, c].notna().mean() if anyv.any() else 0.0
            if cov < self.min_coverage:
                self.dropped_[c] = f"only {cov:.0%} of the units with behavior data have it"
            elif V[c].nunique(dropna=True) < 2:
                self.dropped_[c] = "the same value for every unit"
            else:
                keep.append(c)
        if not keep:
            why = "; ".join(f"{k}: {v}" for k, v in self.dropped_.items())
            raise DataTooThinError(f"behavioral: no usable input ({why})")
        return V[keep]

    def _transform(self, V: pd.DataFrame) -> pd.DataFrame:
        self.transformed_ = {}
        T = V.copy()
        for c in V.columns:
            x = V[c].dropna()
            if len(x) == 0 or (x < 0).any() or not (x > 0).any():
                continue
            if self.log is True or (self.log == "auto" and len(x) > 2 and skew(x) > SKEWED):
                offset = LOG_OFFSET * float(np.median(x[x > 0]))
                T[c] = np.log(V[c] + offset)
                self.transformed_[c] = offset
        return T

    # -- fit -----------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: object = None) -> BehaviorSegmenter:
        """Cluster the units with behavior data, name the clusters, label every unit.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per unit with the inputs (and optionally the descriptors
            and ``lifecycle_stage``).
        y : ignored

        Returns
        -------
        BehaviorSegmenter
            ``self``, fitted.
        """
        V = self._select(self._values(frame))
        self.inputs_ = list(V.columns)
        T = self._transform(V)
        observed = V.notna().sum(axis=1).to_numpy()
        complete = observed == len(self.inputs_)
        placeable = observed >= max(1, math.ceil(self.min_observed * len(self.inputs_)))
        partial = placeable & ~complete
        self.n_complete_, self.n_partial_ = int(complete.sum()), int(partial.sum())
        self.n_no_data_ = int((~placeable).sum())
        self.clusterer_ = StableClusterer(
            k_min=self.k_min, k_max=self.k_max, n_bootstrap=self.n_bootstrap,
            min_cluster_size=self.min_cluster_size, min_cluster_share=self.min_cluster_share,
            algorithm=self.algorithm, random_state=self.random_state,
        )
        try:
            self.clusterer_.fit(T.to_numpy()[complete])
        except DataTooThinError as exc:
            raise DataTooThinError(f"behavioral: {self.n_complete_} of {len(V)} units have every input; {exc}") from exc
        cluster = np.full(len(V), -1, dtype=int)
        cluster[complete] = self.clusterer_.labels_
        if partial.any():
            cluster[partial] = self.clusterer_.predict(T.to_numpy()[partial])
        self.z_ = z_profile(T[complete], self.clusterer_.labels_, self.inputs_)
        self._name()
        segment = np.full(len(V), NO_DATA, dtype=object)
        segment[cluster >= 0] = np.asarray(self.segment_names_, dtype=object)[cluster[cluster >= 0]]
        self.segments_ = pd.concat(
            [pd.DataFrame({"segment": segment, "cluster": cluster}, index=frame.index), V], axis=1
        )
        self._profiles(frame, V, cluster)
        self.notes_ = [f"{c} not used: {why}" for c, why in self.dropped_.items()]
        if self.n_no_data_:
            self.notes_.append(
                f"{self.n_no_data_} of {len(V)} units ({self.n_no_data_ / len(V):.0%}) have too little behavior "
                f"data and are labelled '{NO_DATA}'"
            )
        return self

    def _style(self, z: pd.Series) -> list[tuple[str, float]]:
        """Scores of the three named styles for one cluster (only the ones its inputs can show)."""
        g = lambda c, sign=1.0: sign * z[c] if c in z.index else -math.inf  # noqa: E731
        styles = {
            "price-driven": max(g("discount_rate"), g("price_tier", -1), g("credit_share")),
            "quality-driven": max(g("price_tier"), g("discount_rate", -1)),
            "support-driven": g("support_rate"),
        }
        return sorted(((k, v) for k, v in styles.items() if v > -math.inf), key=lambda kv: -kv[1])

    def _traits(self, z: pd.Series) -> list[tuple[str, str]]:
        """(input, words) of the distinctive inputs, strongest first."""
        strong = z[z.abs() >= DISTINCT].reindex(z.abs().sort_values(ascending=False, kind="mergesort").index).dropna()
        out = []
        for c, v in strong.items():
            words = TRAITS[c][0 if v > 0 else 1] if c in TRAITS else f"{'high' if v > 0 else 'low'} {item_word(c)}"
            out.append((c, words))
        return out

    def _name(self) -> None:
        style_known = any(c in STYLE_INPUTS for c in self.inputs_)
        rankings, self.descriptions_ = [], []
        for c in self.z_.index:
            z = self.z_.loc[c]
            traits = self._traits(z)
            if style_known:
                styles = self._style(z)
                name = styles[0][0] if styles and styles[0][1] >= DISTINCT else "routine"
                # to tell two same-named clusters apart, use what the name does not already say
                own = STYLE_OWN[name]
                lean = [LEANINGS[col][0 if z[col] > 0 else 1]
                        for col in z.abs().sort_values(ascending=False, kind="mergesort").index
                        if col in LEANINGS and col not in own and LEAN <= abs(z[col]) < DISTINCT]
                rankings.append([name] + [w for col, w in traits if col not in own] + lean)
            else:
                ranked = z.sort_values(ascending=False, kind="mergesort")
                hi = [item_word(k) for k, v in ranked.items() if v >= DISTINCT]
                lo = [item_word(k) for k, v in z.sort_values(kind="mergesort").items() if v <= -DISTINCT]
                rankings.append([f"high {w}" for w in hi] if hi else [f"low {w}" for w in lo])
            neutral = ("mid-range products at usual terms, average support needs" if style_known
                       else "close to the average on every input")
            self.descriptions_.append("; ".join(w for _, w in traits[:4]) if traits else neutral)
        labels = unique_labels(rankings, fallback="average")
        if not style_known:  # "high Grocery and high Milk" reads as "high Grocery and Milk"
            labels = [lab.replace(" and high ", " and ").replace(", high ", ", ") for lab in labels]
        self.segment_names_ = labels

    def _profiles(self, frame: pd.DataFrame, V: pd.DataFrame, cluster: np.ndarray) -> None:
        desc = [c for c in DESCRIPTORS if c in frame.columns and c not in self.inputs_]
        D = frame[desc].apply(pd.to_numeric, errors="coerce") if desc else pd.DataFrame(index=frame.index)
        stage = frame["lifecycle_stage"].astype("string") if "lifecycle_stage" in frame.columns else None
        groups = [(lab, c, txt) for c, (lab, txt) in enumerate(zip(self.segment_names_, self.descriptions_))]
        if self.n_no_data_:
            groups.append((NO_DATA, -1, "too little behavior data to say how the unit buys"))
        rows = []
        for label, c, text in groups:
            m = cluster == c
            row = {"segment": label, "cluster": c, "n_units": int(m.sum()), "share": m.sum() / len(V),
                   "description": text}
            if c >= 0:
                row |= {f"z_{col}": float(self.z_.loc[c, col]) for col in self.inputs_}
            row |= {f"mean_{col}": float(V.loc[m, col].mean()) for col in self.inputs_}
            row |= {f"mean_{col}": float(D.loc[m, col].mean()) for col in desc}
            if stage is not None and m.any():
                row |= {f"stage_{k}": float(v) for k, v in stage[m].value_counts(normalize=True).items()}
            rows.append(row)
        self.profiles_ = pd.DataFrame(rows)
