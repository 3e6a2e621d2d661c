"""A-priori (firmographic) segments: size tier × vertical, by documented rules (SPEC §4.4, seed 000).

Size tier from employees and the company's own annual revenue (turnover),
with default bands after the common B2B convention:

============  ===================  ======================
tier          employees            annual revenue
============  ===================  ======================
SMB           fewer than 100       below 50 million
mid-market    100 - 999            50 million - 1 billion
enterprise    1,000 or more        1 billion or more
============  ===================  ======================

A unit takes the **higher** of its two tiers (a 40-person trading house
with a billion in turnover is not an SMB); with only one of the two known it
takes that one; with neither it is ``unknown size``. Bands and names are
parameters (``employee_bands``, ``revenue_bands``, ``tier_names``).

The vertical is the industry (or ``verticals`` maps industries onto fewer
verticals; unmapped ones keep their own name), ``unknown industry`` when
missing. ``by`` chooses the dimensions of the label, e.g. ``("tier",
"vertical", "region")``; ``region`` and ``legal_form`` are taken as they
are. Cells smaller than ``min_size`` units are pooled per tier into
``<tier> × other`` (default 0: no pooling).

Firmographic segments say who a customer is, not what it needs or how it
buys; :data:`NOTE` says so and is part of every result (seed 000).

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"employees": [12, 450, 5000, None], "annual_revenue": [2e9, 3e7, None, None],
...                    "industry": ["Retail", "Retail", "Energy", None]})
>>> FirmographicSegmenter().fit(df).segments_.segment.tolist()
['enterprise × Retail', 'mid-market × Retail', 'enterprise × Energy', 'unknown size × unknown industry']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sikta.errors import UsageError

__all__ = ["FirmographicSegmenter", "NOTE", "TIER_NAMES", "EMPLOYEE_BANDS", "REVENUE_BANDS", "UNKNOWN_SIZE"]

NOTE = (
    "firmographic segments say who a customer is (size, industry, region), not what it needs or how it buys: "
    "they lack nuance on their own - combine them with needs or behavior"
)
TIER_NAMES = ("SMB", "mid-market", "enterprise")
#: lower edges of the tiers above the first: < 100, 100-999, 1000+ employees
EMPLOYEE_BANDS = (100, 1000)
#: < 50 million, 50 million - 1 billion, 1 billion+ annual revenue
REVENUE_BANDS = (50e6, 1e9)
UNKNOWN_SIZE = "unknown size"
UNKNOWN_INDUSTRY = "unknown industry"
DIMENSIONS = ("tier", "vertical", "region", "legal_form")
SEP = " × "


def _check_bands(name: str, bands: Sequence[float], n_names: int) -> np.ndarray:
    b = np.asarray(bands, dtype=float)
    if b.ndim != 1 or len(b) != n_names - 1:
        raise UsageError(f"firmographic: {name} needs {n_names - 1} edges for {n_names} tier names, not {list(bands)}")
    if (np.diff(b) <= 0).any() or (b <= 0).any():
        raise UsageError(f"firmographic: {name} must be positive and increasing, not {list(bands)}")
    return b


def _money(x: float) -> str:
    """50 million, 1 billion, 250,000.

    Examples
    --------
    >>> _money(5e7), _money(1e9), _money(2.5e5)
    ('50 million', '1 billion', '250,000')
    """
    if x >= 1e9:
        return f"{x / 1e9:g} billion"
    if x >= 1e6:
        return f"{x / 1e6:g} million"
    return f"{x:,.0f}"


def _number(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    try:
        x = pd.to_numeric(frame[col], errors="raise").astype(float)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"firmographic: column {col!r} is not numeric ({exc})") from exc
    return x.where(x >= 0)  # a negative headcount or turnover is no size at all


class FirmographicSegmenter(BaseEstimator):
    """Size tier × vertical (× region, legal form) by rules; no learning, no randomness.

    Parameters
    ----------
    by : tuple of str, default ("tier", "vertical")
        Dimensions of the label, from ``tier``, ``vertical``, ``region``,
        ``legal_form``.
    employee_bands, revenue_bands : sequence of float
        Lower edges of every tier but the first (see the module notes).
    tier_names : sequence of str, default ("SMB", "mid-market", "enterprise")
    verticals : mapping, optional
        industry -> vertical.
    min_size : int, default 0
        Cells with fewer units are pooled per tier into ``<tier> × other``.

    Attributes
    ----------
    segments_ : pandas.DataFrame
        Indexed like the input: ``segment``, ``tier``, ``tier_by``
        (``employees`` / ``annual_revenue`` / ``both`` / ``none``: what decided
        the tier), the dimensions in ``by``, ``employees``, ``annual_revenue``.
    profiles_ : pandas.DataFrame
        ``segment``, ``n_units``, ``share``, ``description``, median
        ``employees`` and ``annual_revenue``.
    note_ : str
        :data:`NOTE`.
    notes_ : list of str
        :data:`NOTE` plus what is missing (units of unknown size or industry).
    """

    def __init__(
        self,
        by: Sequence[str] = ("tier", "vertical"),
        employee_bands: Sequence[float] = EMPLOYEE_BANDS,
        revenue_bands: Sequence[float] = REVENUE_BANDS,
        tier_names: Sequence[str] = TIER_NAMES,
        verticals: Mapping[str, str] | None = None,
        min_size: int = 0,
    ) -> None:
        self.by = by
        self.employee_bands = employee_bands
        self.revenue_bands = revenue_bands
        self.tier_names = tier_names
        self.verticals = verticals
        self.min_size = min_size

    def _tiers(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        names = list(self.tier_names)
        if len(set(names)) != len(names) or len(names) < 2:
            raise UsageError(f"firmographic: tier_names must be at least two distinct names, not {names}")
        e_edges = _check_bands("employee_bands", self.employee_bands, len(names))
        r_edges = _check_bands("revenue_bands", self.revenue_bands, len(names))
        emp, rev = _number(frame, "employees"), _number(frame, "annual_revenue")
        e = pd.Series(np.searchsorted(e_edges, emp.fillna(-1), side="right"), index=frame.index).where(emp.notna())
        r = pd.Series(np.searchsorted(r_edges, rev.fillna(-1), side="right"), index=frame.index).where(rev.notna())
        level = pd.concat([e, r], axis=1).max(axis=1)
        tier = level.map(lambda v: names[int(v)] if v == v else UNKNOWN_SIZE)
        by = np.select(
            [e.notna() & r.notna(), e.notna(), r.notna()], ["both", "employees", "annual_revenue"], "none"
        )
        return tier, pd.Series(by, index=frame.index)

    def fit(self, frame: pd.DataFrame, y: object = None) -> FirmographicSegmenter:
        """Label every unit by the rules.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per unit with any of ``employees``, ``annual_revenue``,
            ``industry``, ``region``, ``legal_form``.
        y : ignored

        Returns
        -------
        FirmographicSegmenter
            ``self``, fitted.
        """
        if not isinstance(frame, pd.DataFrame):
            raise UsageError("firmographic: the input must be a pandas DataFrame with one row per unit")
        by = list(self.by)
        bad = [d for d in by if d not in DIMENSIONS]
        if bad or not by:
            raise UsageError(f"firmographic: by must name some of {', '.join(DIMENSIONS)}, not {list(self.by)}")
        if not isinstance(self.min_size, (int, np.integer)) or self.min_size < 0:
            raise UsageError(f"firmographic: min_size must be a non-negative integer, not {self.min_size!r}")
        if "employees" not in frame.columns and "annual_revenue" not in frame.columns and "tier" in by:
            raise UsageError("firmographic: the size tier needs an employees or an annual_revenue column")
        tier, tier_by = self._tiers(frame)
        dims = {"tier": tier}
        if "vertical" in by:
            ind = frame["industry"] if "industry" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
            ind = ind.astype(object).where(ind.notna(), None)
            vmap = dict(self.verticals or {})
            dims["vertical"] = ind.map(lambda v: UNKNOWN_INDUSTRY if v is None else vmap.get(v, str(v)))
        for d in ("region", "legal_form"):
            if d in by:
                if d not in frame.columns:
                    raise UsageError(f"firmographic: by names {d!r} but the unit frame has no such column")
                dims[d] = frame[d].astype(object).where(frame[d].notna(), f"unknown {d.replace('_', ' ')}").astype(str)
        label = pd.Series([SEP.join(parts) for parts in zip(*(dims[d] for d in by))], index=frame.index)
        if self.min_size:
            counts = label.map(label.value_counts())
            small = counts < self.min_size
            label = label.where(~small, (tier + SEP + "other") if "tier" in by else "other")
        self.segments_ = pd.DataFrame({"segment": label, "tier": tier, "tier_by": tier_by}, index=frame.index)
        for d in by:
            if d != "tier":
                self.segments_[d] = dims[d]
        self.segments_["employees"] = _number(frame, "employees")
        self.segments_["annual_revenue"] = _number(frame, "annual_revenue")
        self._profiles(len(frame))
        self.note_ = NOTE
        self.notes_ = [NOTE] + self._gaps(tier, dims)
        return self

    def _tier_words(self, i: int) -> str:
        """What a tier means under the bands in use, e.g. 'under 100 employees, under 50 million turnover'."""
        e, r, last = list(self.employee_bands), list(self.revenue_bands), len(self.tier_names) - 1
        if i == 0:
            return f"under {e[0]:,.0f} employees and under {_money(r[0])} turnover"
        if i == last:
            return f"{e[-1]:,.0f}+ employees or {_money(r[-1])}+ turnover"
        return f"{e[i - 1]:,.0f}-{e[i] - 1:,.0f} employees or {_money(r[i - 1])} - {_money(r[i])} turnover"

    def _describe(self, segment: str) -> str:
        names = list(self.tier_names)
        return ", ".join(
            f"{part} ({self._tier_words(names.index(part))})" if part in names else part
            for part in segment.split(SEP)
        )

    def _profiles(self, n: int) -> None:
        s = self.segments_
        g = s.groupby("segment", sort=False)
        prof = pd.DataFrame({
            "n_units": g.size(),
            "median_employees": g.employees.median(),
            "median_annual_revenue": g.annual_revenue.median(),
        })
        prof["share"] = prof.n_units / n
        prof = prof.sort_values("n_units", ascending=False, kind="mergesort").reset_index()
        prof["description"] = prof.segment.map(self._describe)
        cols = ["segment", "n_units", "share", "description", "median_employees", "median_annual_revenue"]
        self.profiles_ = prof[cols]

    @staticmethod
    def _gaps(tier: pd.Series, dims: dict[str, pd.Series]) -> list[str]:
        out, n = [], len(tier)
        unknown = int((tier == UNKNOWN_SIZE).sum())
        if unknown:
            out.append(f"{unknown} of {n} units ({unknown / n:.0%}) have neither employees nor annual revenue: "
                       f"'{UNKNOWN_SIZE}'")
        if "vertical" in dims:
            k = int((dims["vertical"] == UNKNOWN_INDUSTRY).sum())
            if k:
                out.append(f"{k} of {n} units ({k / n:.0%}) have no industry: '{UNKNOWN_INDUSTRY}'")
        return out
