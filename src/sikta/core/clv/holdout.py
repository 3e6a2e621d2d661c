"""Does the model predict what happened next? The holdout check and the tracking curve.

Fit on a calibration period, then compare with the holdout period that
follows (Fader, Hardie & Lee 2005, figures 2-4):

* :func:`holdout_check` - repeat purchases in the holdout period, predicted
  (the model's conditional expectation over the holdout length) against
  actual, per number of calibration repeat purchases (0, 1, …, 6, 7+) and in
  total, with a one-line verdict when the total misses by more than
  ``tolerance`` (10 %).
* :func:`tracking_curve` - cumulative repeat purchases of the whole
  calibration cohort week by week, actual against the model's
  ``Σ_i E[X(t − birth_i)]`` (each customer contributes the unconditional
  expectation for their age), from the engine's counts of first purchases per
  day and repeat purchases per week.

Examples
--------
>>> from sikta.core.clv import BetaGeo
>>> bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
>>> check = holdout_check(bg, [0, 1, 9], [0.0, 10.0, 37.0], [38.0, 38.0, 38.0], 39.0, [0, 2, 9])
>>> check.table["frequency"].tolist(), round(check.predicted, 2), check.actual
(['0', '1', '2', '3', '4', '5', '6', '7+'], 6.75, 11.0)
>>> check.verdict
'the model under-predicts holdout repeat purchases by 39% (6.75 predicted, 11 actual)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sikta.core.clv._base import check_rft, compress, vector
from sikta.errors import UsageError

__all__ = ["TOLERANCE", "HoldoutCheck", "holdout_check", "tracking_curve"]

#: relative miss of the holdout total above which the check prints a verdict
TOLERANCE = 0.10


@dataclass(frozen=True)
class HoldoutCheck:
    """Predicted against actual holdout repeat purchases.

    Attributes
    ----------
    table
        One row per calibration frequency bin: ``frequency`` ("0" … "6",
        "7+"), ``customers``, ``actual`` and ``predicted`` (sums), and
        ``actual_mean`` / ``predicted_mean`` per customer (0 for empty bins).
    actual, predicted
        Totals over all customers.
    error
        ``(predicted − actual) / actual``; None when nothing was bought in the holdout.
    verdict
        One line when ``|error|`` exceeds the tolerance (or nothing was bought
        but something was predicted), else None.
    """

    table: pd.DataFrame
    actual: float
    predicted: float
    error: float | None
    verdict: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "actual": self.actual,
            "predicted": self.predicted,
            "error": self.error,
            "verdict": self.verdict,
            "by_frequency": self.table.to_dict(orient="records"),
        }


def holdout_check(
    model,
    frequency,
    recency,
    T,
    duration: float,
    actual,
    *,
    max_bin: int = 7,
    tolerance: float = TOLERANCE,
) -> HoldoutCheck:
    """Compare predicted and actual repeat purchases in the holdout period.

    Parameters
    ----------
    model
        A fitted :class:`~sikta.core.clv.BetaGeo` or :class:`~sikta.core.clv.ParetoNBD`.
    frequency, recency, T
        Calibration summaries per customer.
    duration
        Length of the holdout period, in the model's time unit.
    actual
        Repeat purchases per customer in the holdout period.
    max_bin
        Frequencies from ``max_bin`` up share the last bin.
    tolerance
        Relative miss of the total above which a verdict is given.
    """
    x, tx, t, _ = check_rft(frequency, recency, T)
    got = vector("actual holdout purchases", actual)
    if len(got) != len(x):
        raise UsageError(f"one holdout count per customer: {len(got)} for {len(x)} customers")
    if int(max_bin) != max_bin or max_bin < 1:
        raise UsageError(f"max_bin must be a whole number >= 1, got {max_bin!r}")
    span = vector("duration", duration)
    if len(span) != 1:
        raise UsageError("duration must be one number (the holdout length)")
    c = compress(x, tx, t)
    predicted = c.expand(model._expected(float(span[0]), *c.columns))
    bins = np.minimum(x, max_bin).astype(int)
    k = int(max_bin) + 1
    customers = np.bincount(bins, minlength=k)
    act = np.bincount(bins, weights=got, minlength=k)
    pred = np.bincount(bins, weights=predicted, minlength=k)
    safe = np.maximum(customers, 1)
    table = pd.DataFrame(
        {
            "frequency": [str(i) for i in range(k - 1)] + [f"{k - 1}+"],
            "customers": customers,
            "actual": act,
            "predicted": pred,
            "actual_mean": act / safe,
            "predicted_mean": pred / safe,
        }
    )
    total_act, total_pred = float(got.sum()), float(predicted.sum())
    error = (total_pred - total_act) / total_act if total_act > 0 else None
    verdict = None
    if error is None and total_pred > 0:
        verdict = f"no repeat purchases in the holdout period, but the model predicted {total_pred:,.3g}"
    elif error is not None and abs(error) > tolerance:
        way = "over" if error > 0 else "under"
        verdict = (
            f"the model {way}-predicts holdout repeat purchases by {abs(error):.0%} "
            f"({total_pred:,.3g} predicted, {total_act:,.3g} actual)"
        )
    return HoldoutCheck(table, total_act, total_pred, error, verdict)


def tracking_curve(model, births: pd.DataFrame, repeats: pd.DataFrame, *, weeks: int, days_per_unit: float = 7.0):
    """Cumulative repeat purchases per week, actual and predicted, for the calibration cohort.

    Week j covers days ``7(j−1) … 7j−1`` after the tracking start (day 0, the
    cohort's earliest first purchase). The prediction for week j is
    ``Σ_customers E[X((7j − birth_day) / days_per_unit)]`` over the customers
    born before day 7j, computed as one convolution of the daily births with
    ``E[X]`` at every day lag.

    Parameters
    ----------
    model
        A fitted purchase model.
    births
        ``day`` (offset from the start, ≥ 0) and ``customers`` (first purchases that day).
    repeats
        ``week`` (1-based) and ``repeat_transactions`` in that week; weeks
        without any may be missing.
    weeks
        Number of weeks to track.
    days_per_unit
        Days per model time unit (7 for weeks, see :data:`~sikta.core.clv.TIME_UNITS`).

    Returns
    -------
    pandas.DataFrame
        ``week``, ``actual``, ``predicted`` (both cumulative).

    Examples
    --------
    >>> from sikta.core.clv import BetaGeo
    >>> bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> births = pd.DataFrame({"day": [0, 3], "customers": [10, 5]})
    >>> repeats = pd.DataFrame({"week": [2], "repeat_transactions": [1]})
    >>> curve = tracking_curve(bg, births, repeats, weeks=3)
    >>> curve["actual"].tolist(), [round(v, 2) for v in curve["predicted"]]
    ([0.0, 1.0, 1.0], [0.69, 1.45, 2.16])
    """
    if int(weeks) != weeks or weeks < 1:
        raise UsageError(f"weeks must be a whole number >= 1, got {weeks!r}")
    weeks = int(weeks)
    days = 7 * weeks
    day = vector("births day", births["day"], integer=True).astype(int)
    count = vector("births customers", births["customers"])
    per_day = np.bincount(day[day < days], weights=count[day < days], minlength=days)
    lags = np.arange(days + 1, dtype=float)
    expected = np.concatenate([[0.0], model.population_expected_purchases(lags[1:] / days_per_unit)])
    predicted = np.convolve(per_day, expected)[7 * np.arange(1, weeks + 1)]
    week = vector("repeats week", repeats["week"], integer=True).astype(int)
    if (week < 1).any():
        raise UsageError("repeat weeks are numbered from 1")
    n = vector("repeat_transactions", repeats["repeat_transactions"])
    inside = week <= weeks
    actual = np.cumsum(np.bincount(week[inside] - 1, weights=n[inside], minlength=weeks))
    return pd.DataFrame({"week": np.arange(1, weeks + 1), "actual": actual.astype(float), "predicted": predicted})
