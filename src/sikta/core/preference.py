"""Preference fit: does a unit suit the company's own go-to-market? (SPEC §4.4, seed 002)

Seed 002: a customer who wants analog, personal contact does not fit a fully
digital model, however attractive it is otherwise. The go-to-market is
declared as parameters::

    {"digital_share": "high",            # or "medium", "low", or a share 0-1
     "channels": ["digital", "phone"],   # contact channels the company offers
     "regions": ["Nordics", "DACH"],     # and/or "countries": [...]
    }

Each unit is scored on up to three components in [0, 1]; a component whose
input is missing (or that the go-to-market does not declare) is left out:

* **channel** - 1 when the unit's ``channel_preference`` is one of the
  offered ``channels``, else 0;
* **tech** - a digital model needs digitally mature customers. The maturity
  it needs is ``1 + 4 × digital_share`` (high = 0.75 → 4, medium = 0.5 →
  3, low = 0.25 → 2) on the 1-5 ``tech_maturity`` scale; each point
  short costs half the score: ``max(0, 1 - max(0, needed - maturity) / 2)``;
* **geography** - 1 when the unit's ``region`` is among ``regions`` or its
  ``country`` among ``countries``, else 0.

``fit_score`` is the weighted mean of the known components (equal weights
by default). The label: ``does not fit`` when a **must-match** component
(default: the channel) is 0 or the score is below 0.4; ``fits`` from 0.75;
``partial fit`` between; ``unknown`` with no known component. ``reason``
says what falls short, in words.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"channel_preference": ["digital", "field"], "tech_maturity": [5, 5],
...                    "region": ["Nordics", "Nordics"]})
>>> pf = PreferenceFit({"digital_share": "high", "channels": ["digital"], "regions": ["Nordics"]}).fit(df)
>>> pf.segments_[["segment", "fit_score"]].values.tolist()
[['fits', 1.0], ['does not fit', 0.6666666666666666]]
>>> pf.segments_.reason.iloc[1]
'wants field contact; the go-to-market offers digital only'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sikta.core.profiles import phrase
from sikta.errors import UsageError

__all__ = ["PreferenceFit", "DIGITAL_SHARES", "FITS", "PARTIAL", "NO_FIT", "UNKNOWN", "required_maturity"]

DIGITAL_SHARES = {"high": 0.75, "medium": 0.5, "low": 0.25}
FITS, PARTIAL, NO_FIT, UNKNOWN = "fits", "partial fit", "does not fit", "unknown"
COMPONENTS = ("channel", "tech", "geography")
GTM_KEYS = ("digital_share", "channels", "regions", "countries")


def required_maturity(digital_share: float) -> float:
    """Tech maturity (1-5) a go-to-market with this digital share needs.

    Examples
    --------
    >>> required_maturity(0.75), required_maturity(0.5), required_maturity(0.0)
    (4.0, 3.0, 1.0)
    """
    return round(1.0 + 4.0 * digital_share, 6)


def _strings(gtm: Mapping, key: str) -> list[str] | None:
    v = gtm.get(key)
    if v is None:
        return None
    if isinstance(v, str) or not isinstance(v, Sequence) or not v or not all(isinstance(x, str) for x in v):
        raise UsageError(f"preference fit: go-to-market {key!r} must be a non-empty list of names, not {v!r}")
    return list(v)


class PreferenceFit(BaseEstimator):
    """Score each unit's fit with a declared go-to-market, with the reason.

    Parameters
    ----------
    gtm : mapping
        ``digital_share`` (``high`` / ``medium`` / ``low`` or 0-1),
        ``channels``, ``regions``, ``countries`` - see the module notes.
    weights : mapping, optional
        Weight per component (``channel``, ``tech``, ``geography``), default 1 each.
    must_match : tuple of str, default ("channel",)
        Components that, at 0, make a unit ``does not fit`` whatever the score.
    fit_at, partial_at : float, default 0.75 and 0.4
        Score thresholds of ``fits`` and ``partial fit``.

    Attributes
    ----------
    segments_ : pandas.DataFrame
        Indexed like the input: ``segment``, ``fit_score``, ``channel_fit``,
        ``tech_fit``, ``geography_fit`` (NaN = not scored) and ``reason``.
    profiles_ : pandas.DataFrame
        ``segment``, ``n_units``, ``share``, ``description`` (most common reason).
    digital_share_, required_maturity_ : float
    notes_ : list of str
    """

    def __init__(
        self,
        gtm: Mapping | None = None,
        weights: Mapping[str, float] | None = None,
        must_match: Sequence[str] = ("channel",),
        fit_at: float = 0.75,
        partial_at: float = 0.4,
    ) -> None:
        self.gtm = gtm
        self.weights = weights
        self.must_match = must_match
        self.fit_at = fit_at
        self.partial_at = partial_at

    def _check(self) -> tuple[float | None, list[str] | None, list[str] | None, list[str] | None, dict[str, float]]:
        gtm = self.gtm
        if not isinstance(gtm, Mapping) or not gtm:
            raise UsageError("preference fit: declare the go-to-market (digital_share, channels, regions or countries)")
        unknown = [k for k in gtm if k not in GTM_KEYS]
        if unknown:
            raise UsageError(f"preference fit: unknown go-to-market key {unknown[0]!r}; use {', '.join(GTM_KEYS)}")
        share = gtm.get("digital_share")
        if isinstance(share, str):
            if share not in DIGITAL_SHARES:
                raise UsageError(f"preference fit: digital_share must be high, medium, low or 0-1, not {share!r}")
            share = DIGITAL_SHARES[share]
        elif share is not None:
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise UsageError(f"preference fit: digital_share must be high, medium, low or 0-1, not {share!r}")
            share = float(share)
        weights = {c: 1.0 for c in COMPONENTS} | dict(self.weights or {})
        if set(weights) - set(COMPONENTS) or any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()):
            raise UsageError(f"preference fit: weights must be non-negative numbers for {', '.join(COMPONENTS)}")
        if any(c not in COMPONENTS for c in self.must_match):
            raise UsageError(f"preference fit: must_match must name some of {', '.join(COMPONENTS)}")
        if not 0 < self.partial_at <= self.fit_at <= 1:
            raise UsageError("preference fit: need 0 < partial_at <= fit_at <= 1")
        return share, _strings(gtm, "channels"), _strings(gtm, "regions"), _strings(gtm, "countries"), weights

    def fit(self, frame: pd.DataFrame, y: object = None) -> PreferenceFit:
        """Score and label every unit.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per unit with any of ``channel_preference``,
            ``tech_maturity`` (1-5), ``region``, ``country``.
        y : ignored

        Returns
        -------
        PreferenceFit
            ``self``, fitted.
        """
        if not isinstance(frame, pd.DataFrame):
            raise UsageError("preference fit: the input must be a pandas DataFrame with one row per unit")
        share, channels, regions, countries, weights = self._check()
        n = len(frame)
        def col(c: str) -> pd.Series:
            return frame[c] if c in frame.columns else pd.Series(None, index=frame.index, dtype=object)

        comp = pd.DataFrame(np.nan, index=frame.index, columns=[f"{c}_fit" for c in COMPONENTS])
        reasons: list[list[str]] = [[] for _ in range(n)]
        offered = phrase(channels) + (" only" if channels and len(channels) == 1 else "") if channels else ""

        if channels is not None:
            pref = col("channel_preference").astype(object)
            known = pref.notna()
            comp.loc[known, "channel_fit"] = pref[known].isin(channels).astype(float)
            for i in np.flatnonzero((known & ~pref.isin(channels)).to_numpy()):
                reasons[i].append(f"wants {pref.iloc[i]} contact; the go-to-market offers {offered}")
        self.digital_share_ = share
        self.required_maturity_ = required_maturity(share) if share is not None else np.nan
        if share is not None:
            tech = pd.to_numeric(col("tech_maturity"), errors="coerce").astype(float)
            gap = (self.required_maturity_ - tech).clip(lower=0)
            comp["tech_fit"] = (1 - gap / 2).clip(lower=0)
            for i in np.flatnonzero((gap > 0).to_numpy()):
                reasons[i].append(
                    f"tech maturity {tech.iloc[i]:g} below the {self.required_maturity_:g} a "
                    f"{share:.0%} digital model needs"
                )
        if regions is not None or countries is not None:
            reg, cty = col("region").astype(object), col("country").astype(object)
            known = reg.notna() | cty.notna()
            inside = reg.isin(regions or []) | cty.isin(countries or [])
            comp.loc[known, "geography_fit"] = inside[known].astype(float)
            served = phrase((regions or []) + (countries or []))
            for i in np.flatnonzero((known & ~inside).to_numpy()):
                where = reg.iloc[i] if reg.iloc[i] is not None and reg.iloc[i] == reg.iloc[i] else cty.iloc[i]
                reasons[i].append(f"{where} is outside the markets served ({served})")

        W = np.array([weights[c] for c in COMPONENTS])
        vals = comp.to_numpy()
        known = ~np.isnan(vals)
        wsum = (known * W).sum(axis=1)
        score = np.where(wsum > 0, np.nansum(vals * W, axis=1) / np.where(wsum > 0, wsum, 1), np.nan)
        breaker = np.zeros(n, dtype=bool)
        for c in self.must_match:
            breaker |= comp[f"{c}_fit"].to_numpy() == 0
        segment = np.select(
            [np.isnan(score), breaker | (score < self.partial_at), score >= self.fit_at],
            [UNKNOWN, NO_FIT, FITS], PARTIAL,
        )
        reason = [
            "; ".join(r) if r else ("nothing known to score" if np.isnan(s) else "fits the go-to-market")
            for r, s in zip(reasons, score)
        ]
        self.segments_ = pd.concat(
            [pd.DataFrame({"segment": segment, "fit_score": score}, index=frame.index), comp,
             pd.DataFrame({"reason": reason}, index=frame.index)], axis=1,
        )
        self._profiles(n)
        self.notes_ = self._notes(comp, n)
        return self

    def _profiles(self, n: int) -> None:
        rows = []
        for label in (FITS, PARTIAL, NO_FIT, UNKNOWN):
            m = self.segments_.segment == label
            if m.any():
                top = self.segments_.reason[m].value_counts().index[0]
                rows.append({"segment": label, "n_units": int(m.sum()), "share": m.sum() / n,
                             "mean_fit_score": float(self.segments_.fit_score[m].mean()),
                             "description": f"most common: {top}"})
        self.profiles_ = pd.DataFrame(rows)

    @staticmethod
    def _notes(comp: pd.DataFrame, n: int) -> list[str]:
        notes = []
        for c in COMPONENTS:
            col = comp[f"{c}_fit"]
            missing = int(col.isna().sum())
            if 0 < missing and not col.isna().all():
                notes.append(f"{c}: unknown for {missing} of {n} units ({missing / n:.0%}); scored on the rest")
        return notes
