"""Is a segmentation any good? Sizes, distinctiveness, stability, coverage and a plain verdict (SPEC §4.5, seed 004).

Seed 004: a segment is only worth having if it is large enough to act on,
behaves distinctly, holds up when the data change, and rests on data that
exist. :func:`diagnose` measures each of these for any segmentation (labels
per unit, from any scheme) and turns them into one of three verdicts with
the reasons in words - ``needs: not usable - 71 % of units have no survey
answers``.

What is measured (all thresholds in :class:`Thresholds`):

* **sizes** - units and revenue per segment and their shares. A segment is
  **actionable** with at least ``min_units`` (30) units *and*
  ``min_share`` (2 %) of the units: fewer cannot show distinct behavior nor
  carry a playbook of their own;
* **placement** - units whose label says they could not be placed (``no
  answers``, ``no purchase data``, ...; see :data:`UNPLACED`) are outside
  every segment. Below ``min_coverage`` (60 %) placed the segmentation is not
  usable, below ``full_coverage`` (90 %) it has a caveat;
* **distinctiveness** on the variables that matter, over placed units: for a
  numeric variable **eta²** (between-segment share of the variance, one-way
  ANOVA) and the largest pairwise **Cohen's d** (:func:`sikta.core.stats.cohens_d`);
  for a categorical one **Cramér's V** of segment × category. Cohen's
  rough scale: eta² 0.01 small, 0.06 medium; V 0.1 small, 0.3 medium. If no
  variable reaches "small" the segments do not differ (not usable); if none
  reaches "medium", a caveat;
* **stability** - with a ``refit`` function, ``n_bootstrap`` bootstrap
  resamples of the units are segmented afresh; each refit's segments are
  matched one-to-one to the original ones (Hungarian matching on the
  overlap, so the refit's names and numbering do not matter) and a unit
  **keeps its segment** when its refit segment is the match of its original
  one. ``stability`` is the share of (unit, refit) pairs that keep it; below
  ``min_stability`` (0.6) not usable, below ``good_stability`` (0.8) a
  caveat. The mean ARI is reported beside it. Rules without randomness need
  no refit (stability is then not assessed);
* **coverage** - per input column, the units that lack it (all units and
  placed units); an input missing for more than ``input_missing`` (10 %) of
  the *placed* units gives a caveat (the unplaced ones are already a reason).

For the pain × potential matrix, :func:`axis_warnings` names the ways an
axis can be degenerate: constant or nearly so, a threshold at the axis
minimum (or above its maximum), an axis resting on a parameter most units
lack, and empty groups.

Examples
--------
>>> import numpy as np, pandas as pd
>>> labels = np.repeat(["a", "b"], 100)
>>> x = np.r_[np.random.default_rng(0).normal(0, 1, 100), np.random.default_rng(1).normal(3, 1, 100)]
>>> d = diagnose(labels, name="demo", frame=pd.DataFrame({"x": x}), variables=["x"])
>>> d.verdict, d.reasons
('usable', [])
>>> d.summary()
'demo: usable'
>>> diagnose(np.r_[np.repeat("a", 100), np.repeat("no answers", 300)], name="needs").summary()
'needs: not usable - 75 % of units have no survey answers; only one segment (a): nothing to tell apart'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sikta.core.labels import NO_ANSWERS, NO_DATA, TOO_FEW
from sikta.core.parallel import side_by_side
from sikta.core.stats import split_kinds
from sikta.errors import UsageError

__all__ = [
    "Thresholds", "Diagnosis", "diagnose", "axis_warnings", "matrix_verdict", "UNPLACED", "auc_beats_chance",
    "rate_beats_chance",
    "USABLE", "CAVEATS", "NOT_USABLE",
]

USABLE, CAVEATS, NOT_USABLE = "usable", "usable with caveats", "not usable"
#: units per stability resample (see :func:`diagnose`)
STABILITY_SAMPLE = 20_000
#: labels that mean "no segment", and how a reason says it
UNPLACED: dict[str, str] = {
    NO_ANSWERS: "have no survey answers",
    TOO_FEW: "answered too few survey items",
    NO_DATA: "have no purchase data",
    "unknown": "have no known segment",
}


@dataclass(frozen=True)
class Thresholds:
    """The documented minimums behind the verdict (see the module notes)."""

    min_units: int = 30
    min_share: float = 0.02
    min_coverage: float = 0.6
    full_coverage: float = 0.9
    input_missing: float = 0.1
    min_stability: float = 0.6
    good_stability: float = 0.8
    min_eta2: float = 0.01
    good_eta2: float = 0.06
    min_v: float = 0.1
    good_v: float = 0.3


@dataclass
class Diagnosis:
    """Everything :func:`diagnose` measured, the verdict and the reasons."""

    name: str
    verdict: str
    reasons: list[str]
    sizes: pd.DataFrame
    distinctiveness: pd.DataFrame
    coverage: pd.DataFrame
    placed_share: float
    stability: float | None = None
    stability_ari: float | None = None
    unit_stability: pd.Series | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: ``needs: not usable - 71 % of units have no survey answers; ...``."""
        return f"{self.name}: {self.verdict}" + (" - " + "; ".join(self.reasons) if self.reasons else "")

    def to_dict(self) -> dict:
        """JSON-ready: ``{"scheme", "verdict", "reasons", "sizes", ...}``."""

        def records(df: pd.DataFrame) -> list[dict]:
            return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                    for r in df.astype(object).to_dict("records")]

        def num(v: float | None) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

        return {
            "scheme": self.name, "verdict": self.verdict, "reasons": list(self.reasons),
            "placed_share": num(self.placed_share), "stability": num(self.stability),
            "stability_ari": num(self.stability_ari), "sizes": records(self.sizes),
            "distinctiveness": records(self.distinctiveness), "coverage": records(self.coverage),
            "notes": list(self.notes),
        }


def _pct(x: float) -> str:
    return f"{round(100 * x) or 0:.0f} %"  # no "-0 %" for a share just below zero


def _align(values: object, index: pd.Index, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        if len(values) != len(index):
            raise UsageError(f"diagnostics: {len(values)} {what} for {len(index)} units")
        return values.reindex(index) if set(values.index) == set(index) else values.set_axis(index)
    arr = np.asarray(values)
    if len(arr) != len(index):
        raise UsageError(f"diagnostics: {len(arr)} {what} for {len(index)} units")
    return pd.Series(arr, index=index)


# -- the measurements ---------------------------------------------------------------


def _sizes(labels: pd.Series, placed: pd.Series, revenue: pd.Series | None, th: Thresholds) -> pd.DataFrame:
    """Units, shares, revenue and actionability per label (unplaced labels included, flagged)."""
    n = len(labels)
    g = labels.value_counts(sort=False)
    t = pd.DataFrame({"segment": g.index.astype(str), "n_units": g.to_numpy()})
    t["share"] = t.n_units / n
    if revenue is not None:
        rev = revenue.groupby(labels).sum()
        total = float(revenue.sum())
        t["revenue"] = t.segment.map(rev).astype(float)
        t["revenue_share"] = t.revenue / total if total else math.nan
    t["placed"] = t.segment.map(placed.groupby(labels).all())
    t["actionable"] = t.placed & (t.n_units >= th.min_units) & (t.share >= th.min_share)
    t = t.sort_values(["placed", "n_units", "segment"], ascending=[False, False, True], kind="mergesort")
    return t.reset_index(drop=True)


def _groups(x: np.ndarray, g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes, means and sums of squares about the mean of segments ``0..k-1`` (``g`` holds codes): one pass."""
    n = np.bincount(g, minlength=k).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.bincount(g, weights=x, minlength=k) / n
    ss = np.bincount(g, weights=(x - m[g]) ** 2, minlength=k)
    return n, m, ss


def _eta2(x: np.ndarray, n: np.ndarray, m: np.ndarray) -> float:
    """Between-segment share of the variance of ``x``, from the segments' sizes ``n`` and means ``m``."""
    total = ((x - x.mean()) ** 2).sum()
    if total <= 0:
        return 0.0
    some = n > 0
    return float((n[some] * (m[some] - x.mean()) ** 2).sum() / total)


def _largest_d(n: np.ndarray, m: np.ndarray, ss: np.ndarray, names: np.ndarray) -> tuple[float, str | None]:
    """The largest |Cohen's d| over all pairs of segments of two or more units (as
    :func:`sikta.core.stats.cohens_d`), vectorized, from :func:`_groups`; segment ``i`` is ``names[i]``."""
    segs = np.flatnonzero(n >= 2)
    if len(segs) < 2:
        return 0.0, None
    n, m, ss = n[segs], m[segs], ss[segs]
    i, j = np.triu_indices(len(segs), 1)
    diff = m[i] - m[j]
    pooled = np.sqrt((ss[i] + ss[j]) / (n[i] + n[j] - 2))
    scale = np.maximum(np.maximum(np.abs(m[i]), np.abs(m[j])), 1.0)
    flat = pooled <= 1e-12 * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(flat, np.where(np.abs(diff) <= 1e-12 * scale, 0.0, np.inf), np.abs(diff) / pooled)
    at = int(np.argmax(d))
    if d[at] <= 0:
        return 0.0, None
    return float(d[at]), f"{names[segs[i[at]]]} vs {names[segs[j[at]]]}"


def _distinct(frame: pd.DataFrame, labels: pd.Series, placed: pd.Series, variables: Sequence[str]) -> pd.DataFrame:
    rows = []
    numeric, categorical = split_kinds(frame, list(variables)) if variables else ([], [])
    # codes, not names: sorting strings per variable cost seconds at 100,000 units
    g, names = pd.factorize(labels[placed], sort=True)
    names = np.asarray(names)
    values = frame.loc[placed, numeric]
    for v in numeric:
        x = pd.to_numeric(values[v], errors="coerce").astype(float)
        ok = x.notna().to_numpy()
        xs, gs = x.to_numpy()[ok], g[ok]
        n, m, ss = _groups(xs, gs, len(names))
        best, pair = _largest_d(n, m, ss, names)
        several = (n >= 2).sum() > 1
        rows.append({"variable": v, "kind": "numeric", "effect": _eta2(xs, n, m) if several else 0.0,
                     "measure": "eta2", "max_abs_d": best, "pair": pair, "n": int(ok.sum())})
    from scipy.stats.contingency import association  # SciPy loads when a diagnosis is computed, not read

    for v in categorical:
        x = frame.loc[placed, v]
        ok = x.notna()
        table = pd.crosstab(labels[placed][ok], x[ok].astype(str)).to_numpy()
        V = float(association(table, method="cramer")) if min(table.shape) > 1 else 0.0
        rows.append({"variable": v, "kind": "categorical", "effect": V, "measure": "cramers_v",
                     "max_abs_d": math.nan, "pair": None, "n": int(ok.sum())})
    cols = ["variable", "kind", "effect", "measure", "max_abs_d", "pair", "n"]
    out = pd.DataFrame(rows, columns=cols).sort_values("effect", ascending=False, kind="mergesort")
    return out.reset_index(drop=True)


def _match(orig: np.ndarray, new: np.ndarray) -> np.ndarray:
    """True where a unit's new segment is the one matched to its original segment (Hungarian, max overlap)."""
    o_vals, o = np.unique(orig, return_inverse=True)
    n_vals, nw = np.unique(new, return_inverse=True)
    overlap = np.zeros((len(o_vals), len(n_vals)))
    np.add.at(overlap, (o, nw), 1)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-overlap)
    mapped = np.full(len(o_vals), -1)
    mapped[rows] = cols
    return mapped[o] == nw


def _stability(labels: pd.Series, placed: pd.Series, unplaced: set[str], refit: Callable, n_bootstrap: int,
               random_state: int, sample: int | None = None):
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(random_state)
    n = len(labels)
    m = n if sample is None else min(n, sample)  # m-out-of-n resamples: the same draws as before when m = n
    codes = pd.factorize(labels.to_numpy().astype(str), sort=True)[0]
    kept = np.zeros(n)
    seen = np.zeros(n)
    aris = []
    # the units are drawn in the order of their ids, not of the rows: a feature table built again holds its
    # units in another row order (DuckDB writes in parallel), and the same data then gave another stability
    by_id = np.argsort(labels.index.to_numpy().astype(str), kind="stable")
    draws = [np.sort(by_id[np.unique(rng.integers(0, n, m))]) for _ in range(n_bootstrap)]
    # side by side on threads: refits spend most of their time in NumPy / scikit-learn code that releases
    # the GIL (on two cores the M benchmark's 20 behavioral refits take 4.7 s instead of 6.1 s)
    for idx, new in zip(draws, side_by_side(refit, draws), strict=True):
        new = np.asarray(new).astype(str)
        if len(new) != len(idx):
            raise UsageError(f"diagnostics: refit returned {len(new)} labels for {len(idx)} units")
        both = placed.to_numpy()[idx] & ~np.isin(new, list(unplaced))
        if both.sum() < 2:
            continue
        # integer codes in the labels' sorted order: the same matching and ARI as the strings give,
        # without sorting strings again in every comparison (0.3 -> 0.1 s per scheme)
        o, w = codes[idx][both], pd.factorize(new[both], sort=True)[0]
        keep = _match(o, w)
        kept[idx[both]] += keep
        seen[idx[both]] += 1
        aris.append(adjusted_rand_score(o, w))
    if not aris:
        return math.nan, math.nan, pd.Series(np.nan, index=labels.index)
    unit = pd.Series(np.where(seen > 0, kept / np.maximum(seen, 1), np.nan), index=labels.index)
    return float(kept.sum() / seen.sum()), float(np.mean(aris)), unit


# -- the verdict -----------------------------------------------------------------------


def diagnose(
    labels: Sequence[object] | pd.Series | np.ndarray,
    *,
    name: str = "segmentation",
    frame: pd.DataFrame | None = None,
    revenue: str | Sequence[float] | pd.Series | None = None,
    variables: Sequence[str] = (),
    inputs: Sequence[str] = (),
    refit: Callable[[np.ndarray], Sequence[object]] | None = None,
    n_bootstrap: int = 20,
    random_state: int = 0,
    stability_sample: int | None = STABILITY_SAMPLE,
    unplaced: Mapping[str, str] | None = None,
    unit: str = "units",
    thresholds: Thresholds = Thresholds(),
) -> Diagnosis:
    """Diagnose one segmentation and give a verdict with reasons.

    Parameters
    ----------
    labels : array-like
        Segment per unit (unplaced units carry a label from ``unplaced``).
    name : str
        The scheme's name, used in the summary line.
    frame : pandas.DataFrame, optional
        One row per unit, aligned with ``labels`` (by index for a Series with
        the same index, else by position): holds ``variables``, ``inputs``
        and a ``revenue`` column.
    revenue : str or array-like, optional
        A column of ``frame`` or one number per unit.
    variables : list of str
        Columns that matter, for distinctiveness.
    inputs : list of str
        Columns the scheme needs, for coverage.
    refit : callable, optional
        ``refit(idx)`` segments the units at positions ``idx`` afresh and
        returns their labels (same length); needed for stability.
    n_bootstrap : int, default 20
    random_state : int, default 0
    stability_sample : int or None, default :data:`STABILITY_SAMPLE`
        Each resample draws this many units (with replacement) instead of
        as many as there are: on 100,000 units 20 refits of all of them
        take minutes, and agreement between refits is measured as well on
        20,000. None resamples all units.
    unplaced : mapping, optional
        Label -> how a reason says it (default :data:`UNPLACED`).
    unit : str, default "units"
        The word for the units ("accounts", "groups").
    thresholds : Thresholds

    Returns
    -------
    Diagnosis
    """
    th = thresholds
    unplaced = dict(UNPLACED if unplaced is None else unplaced)
    lab = labels if isinstance(labels, pd.Series) else pd.Series(np.asarray(labels, dtype=object))
    n = len(lab)
    if n == 0:
        raise UsageError("diagnostics: no units to diagnose")
    if frame is None:
        frame = pd.DataFrame(index=lab.index)
    elif len(frame) != n:
        raise UsageError(f"diagnostics: {n} labels for {len(frame)} units in the frame")
    lab = _align(lab, frame.index, "labels").astype(object)
    lab = lab.where(lab.notna(), "unknown").astype(str)
    for c in list(variables) + list(inputs) + ([revenue] if isinstance(revenue, str) else []):
        if c not in frame.columns:
            raise UsageError(f"diagnostics: no column {c!r} in the unit frame")
    rev = None
    if revenue is not None:
        raw = frame[revenue] if isinstance(revenue, str) else _align(revenue, frame.index, "revenue values")
        rev = pd.to_numeric(raw, errors="coerce").astype(float).fillna(0.0)
    placed = ~lab.isin(list(unplaced))
    sizes = _sizes(lab, placed, rev, th)
    dist = _distinct(frame, lab, placed, variables)
    stab = ari = None
    unit_stab = None
    if refit is not None and placed.sum() >= 2:
        stab, ari, unit_stab = _stability(lab, placed, set(unplaced), refit, n_bootstrap, random_state,
                                          stability_sample)
    cov = pd.DataFrame({"input": list(inputs),
                        "n_missing": [int(frame[c].isna().sum()) for c in inputs],
                        "n_missing_placed": [int(frame.loc[placed, c].isna().sum()) for c in inputs]})
    cov["share_missing"] = cov.n_missing / n
    cov["share_missing_placed"] = cov.n_missing_placed / max(int(placed.sum()), 1)
    placed_share = float(placed.mean())

    fatal, caveats = [], []
    out = sizes[~sizes.placed]
    if placed_share < th.full_coverage and len(out):
        whys = [unplaced.get(s, f"are '{s}'") for s in out.segment]
        if len(out) == 1:
            text = f"{_pct(1 - placed_share)} of {unit} {whys[0]}"
        else:
            parts = ", ".join(f"{_pct(sh)} {w}" for sh, w in zip(out.share, whys))
            text = f"{_pct(1 - placed_share)} of {unit} have no segment ({parts})"
        (fatal if placed_share < th.min_coverage else caveats).append(text)
    segs = sizes[sizes.placed]
    if len(segs) < 2:
        fatal.append("no segment at all" if segs.empty
                     else f"only one segment ({segs.segment.iloc[0]}): nothing to tell apart")
    else:
        small = segs[~segs.actionable]
        if len(small):
            listed = ", ".join(f"{s} ({k})" for s, k in zip(small.segment[:4], small.n_units[:4]))
            more = "" if len(small) <= 4 else f" and {len(small) - 4} more"
            text = (f"{len(small)} of {len(segs)} segments are too small to act on (fewer than {th.min_units} "
                    f"{unit} or {_pct(th.min_share)}): {listed}{more}")
            (fatal if len(small) == len(segs) else caveats).append(text)
        if len(dist):
            lo = np.where(dist.measure == "eta2", th.min_eta2, th.min_v)
            hi = np.where(dist.measure == "eta2", th.good_eta2, th.good_v)
            top = dist.iloc[int(np.argmax(dist.effect.to_numpy() / hi))]
            names = ", ".join(dist.variable[:3])
            if (dist.effect < lo).all():
                fatal.append(f"segments hardly differ on {names} (largest effect: {top.measure} {top.effect:.3f})")
            elif (dist.effect < hi).all():
                caveats.append(f"segments differ only a little on {names} "
                               f"(largest effect: {top.measure} {top.effect:.3f})")
    if stab is not None and not math.isnan(stab):
        text = (f"only {_pct(stab)} of {unit} keep their segment when the data are resampled "
                f"(mean ARI {ari:.2f})")
        if stab < th.min_stability:
            fatal.append("segments are unstable: " + text)
        elif stab < th.good_stability:
            caveats.append("segments are somewhat unstable: " + text)
    # unplaced units are explained above; an input matters where it is missing for placed units
    gaps = cov[cov.share_missing_placed > th.input_missing]
    for share, grp in gaps.groupby(gaps.share_missing_placed.round(2), sort=False):
        names = list(grp.input)
        verb = "is" if len(names) == 1 else "are"
        caveats.append(f"{', '.join(names)} {verb} missing for {_pct(share)} of the placed {unit}")
    verdict = NOT_USABLE if fatal else CAVEATS if caveats else USABLE
    notes = [] if refit is not None else ["stability not assessed (no refit given)"]
    if refit is not None and stability_sample is not None and len(lab) > stability_sample:
        notes.append(f"stability from {n_bootstrap} resamples of {stability_sample:,} of the {len(lab):,} {unit} each")
    return Diagnosis(
        name=name, verdict=verdict, reasons=fatal + caveats, sizes=sizes, distinctiveness=dist, coverage=cov,
        placed_share=placed_share, stability=stab, stability_ari=ari, unit_stability=unit_stab, notes=notes,
    )


# -- the matrix ---------------------------------------------------------------------------


def axis_warnings(
    scores: pd.DataFrame,
    thresholds: Mapping[str, float],
    *,
    params: pd.DataFrame | None = None,
    axis_params: Mapping[str, Sequence[str]] | None = None,
    groups: Sequence[object] | pd.Series | None = None,
    expected_groups: Sequence[str] = (),
    near_constant: float = 0.95,
    min_param_coverage: float = 0.6,
    unit: str = "units",
) -> list[str]:
    """Reasons a pain × potential matrix may be degenerate, in words (empty when none).

    Parameters
    ----------
    scores : pandas.DataFrame
        One column per axis (e.g. ``pain``, ``potential``), one row per unit.
    thresholds : mapping
        Axis -> its high/low threshold.
    params : pandas.DataFrame, optional
        Parameter values per unit (missing = the unit lacks it).
    axis_params : mapping, optional
        Axis -> the parameters it is built from.
    groups : array-like, optional
        Matrix group per unit; ``expected_groups`` that hold no unit are reported.
    near_constant : float, default 0.95
        An axis with at least this share of units at one value is nearly constant.
    min_param_coverage : float, default 0.6
        A parameter fewer units than this share have is "lacked by most".

    Examples
    --------
    >>> s = pd.DataFrame({"pain": [0.0] * 10, "potential": np.linspace(0, 1, 10)})
    >>> axis_warnings(s, {"pain": 0.0, "potential": 0.5}, groups=["maintain"] * 5 + ["qualify"] * 5,
    ...               expected_groups=["invest", "qualify", "streamline", "maintain"])  # doctest: +NORMALIZE_WHITESPACE
    ['pain axis is constant: every unit scores 0.00', "group 'invest' is empty", "group 'streamline' is empty"]
    """
    out = []
    for axis in scores.columns:
        x = pd.to_numeric(scores[axis], errors="coerce").dropna()
        if x.empty:
            out.append(f"{axis} axis has no values")
            continue
        lo, hi = float(x.min()), float(x.max())
        eps = 1e-9 * max(1.0, abs(lo), abs(hi))
        mode_share = float(x.round(12).value_counts(normalize=True).iloc[0])
        mode = float(x.round(12).value_counts().index[0])
        constant = hi - lo <= eps
        if constant:
            out.append(f"{axis} axis is constant: every unit scores {lo:.2f}")
        elif mode_share >= near_constant:
            out.append(f"{axis} axis is nearly constant: {_pct(mode_share)} of {unit} score {mode:.2f}")
        t = thresholds.get(axis)
        if t is not None and not constant:  # on a constant axis the threshold cannot tell anybody apart anyway
            if t <= lo + eps:
                out.append(f"{axis} threshold {t:.2f} equals the axis minimum: every unit above the lowest score "
                           f"counts as high {axis}")
            elif t > hi + eps:
                out.append(f"{axis} threshold {t:.2f} is above the axis maximum {hi:.2f}: "
                           f"no unit counts as high {axis}")
        for p in (axis_params or {}).get(axis, ()):
            if params is None or p not in params.columns:
                raise UsageError(f"diagnostics: no values of parameter {p!r} given")
            cov = float(params[p].notna().mean())
            if cov < min_param_coverage:
                out.append(f"{axis} axis depends on {p}, which {_pct(1 - cov)} of {unit} lack (they score as missing)")
    if groups is not None:
        present = set(pd.Series(groups, dtype=object).dropna().astype(str))
        out += [f"group '{g}' is empty" for g in expected_groups if g not in present]
    return out


def matrix_verdict(reasons: Sequence[str]) -> str:
    """``not usable`` when an axis is constant or has no values, ``usable with caveats`` for any other reason.

    Examples
    --------
    >>> matrix_verdict([]), matrix_verdict(["group 'invest' is empty"]), matrix_verdict(["pain axis is constant: ..."])
    ('usable', 'usable with caveats', 'not usable')
    """
    if any(" axis is constant" in r or " axis has no values" in r for r in reasons):
        return NOT_USABLE
    return CAVEATS if reasons else USABLE


# -- better than chance? ------------------------------------------------------------------------------------


def auc_beats_chance(auc: float, n_pos: int, n_neg: int, z: float = 1.645) -> bool:
    """Whether a holdout AUC is better than chance: one-sided test at 5 % against AUC = 0.5.

    Under "no better than chance" the AUC (the Mann-Whitney statistic over
    ``n_pos × n_neg`` pairs) has mean 0.5 and variance ``(n_pos + n_neg + 1) /
    (12 n_pos n_neg)`` (no ties). The AUC beats chance when it lies ``z``
    (1.645) standard errors above 0.5. The finer the test set, the smaller the
    margin: 0.49 never passes, 0.60 passes with 100 of each, not with 10.

    Examples
    --------
    >>> auc_beats_chance(0.49, 500, 5000), auc_beats_chance(0.6, 100, 100), auc_beats_chance(0.6, 10, 10)
    (False, True, False)
    """
    if n_pos < 1 or n_neg < 1 or auc is None or math.isnan(auc):
        return False
    se = math.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg))
    return bool(auc - 0.5 > z * se)


def rate_beats_chance(hit_pos: float, hit_neg: float, n_pos: int, n_neg: int, z: float = 1.645) -> bool:
    """Whether a yes/no rule hits positives more often than negatives: one-sided two-proportion z-test at 5 %.

    ``hit_pos`` / ``hit_neg`` are the shares of positives / negatives meeting
    the rule (e.g. best customers and others in a holdout), pooled under the
    null.

    Examples
    --------
    >>> rate_beats_chance(0.47, 0.10, 60, 540), rate_beats_chance(0.12, 0.10, 60, 540)
    (True, False)
    """
    if n_pos < 1 or n_neg < 1:
        return False
    pooled = (hit_pos * n_pos + hit_neg * n_neg) / (n_pos + n_neg)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_pos + 1 / n_neg))
    if se == 0:
        return hit_pos > hit_neg
    return bool((hit_pos - hit_neg) / se > z)
