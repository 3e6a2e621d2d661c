"""CLV charts and the report's CLV section: distribution, value tiers, the holdout check (docs/clv.md).

The figures are pure functions of a stored CLV result's summary (and, for the
distribution, the per-unit CLV values); :func:`report_section` draws the
stored fit the report chose (the one its run scored with, else one as of its
date). The report does not fit models: without such a fit the section is
left out with the command that makes one.

Examples
--------
>>> doc = {"tiers": {"by": "clv", "a": 0.8, "b": 0.95, "classes": {
...     "A": {"units": 2, "value": 80.0, "share_units": 0.2, "share_value": 0.8},
...     "B": {"units": 3, "value": 15.0, "share_units": 0.3, "share_value": 0.15},
...     "C": {"units": 5, "value": 5.0, "share_units": 0.5, "share_value": 0.05}}}}
>>> [t.name for t in tier_figure(doc).data]
['share of units', 'share of value']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = ["distribution_figure", "holdout_figure", "report_section", "tier_figure", "tracking_figure"]

_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 30, "t": 70, "b": 50}, "hoverlabel": {"align": "left"}}
_TIER_COLOUR = {"A": "#1b9e77", "B": "#e6ab02", "C": "#999999"}
_ACTUAL, _PREDICTED = "#1f4e79", "#d95f02"
BINS = 30


def distribution_figure(clv: Any, tiers: Any = None) -> go.Figure:
    """Histogram of CLV per unit up to the 99th percentile (the few above are counted in the title).

    Examples
    --------
    >>> fig = distribution_figure([1.0, 2.0, 2.5, 3.0, 400.0])
    >>> int(sum(fig.data[0].y)) + int(fig.layout.meta["above"]) == 5
    True
    """
    x = np.asarray(pd.to_numeric(pd.Series(list(clv)), errors="coerce").dropna(), dtype=float)
    top = float(np.quantile(x, 0.99)) if len(x) else 0.0
    lo = min(float(x.min()), 0.0) if len(x) else 0.0
    shown = x[x <= top]
    counts, edges = np.histogram(shown, bins=BINS, range=(lo, top if top > lo else lo + 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    above = int((x > top).sum())
    fig = go.Figure(go.Bar(
        x=centres, y=counts, width=np.diff(edges), marker_color=_ACTUAL, name="units",
        customdata=np.column_stack([edges[:-1], edges[1:]]),
        hovertemplate="CLV %{customdata[0]:,.0f} to %{customdata[1]:,.0f}: %{y:,} units<extra></extra>",
    ))
    more = f"; {above:,} units above {top:,.0f} not drawn" if above else ""
    fig.update_layout(**_LAYOUT, height=380, bargap=0.02, showlegend=False, meta={"above": above},
                      title=f"CLV per unit: {len(x):,} units, median {np.median(x) if len(x) else 0:,.0f}{more}",
                      xaxis={"title": "customer lifetime value"}, yaxis={"title": "units"})
    return fig


def tier_figure(doc: dict[str, Any]) -> go.Figure:
    """Share of units and share of value per value tier A/B/C."""
    t = doc["tiers"]
    classes = t["classes"]
    names = list(classes)
    fig = go.Figure([
        go.Bar(x=names, y=[classes[k]["share_units"] for k in names], name="share of units", marker_color="#9ecae1",
               customdata=[classes[k]["units"] for k in names],
               hovertemplate="tier %{x}: %{customdata:,} units (%{y:.1%})<extra></extra>"),
        go.Bar(x=names, y=[classes[k]["share_value"] for k in names], name="share of value",
               marker_color=[_TIER_COLOUR.get(k, "#666") for k in names],
               customdata=[classes[k]["value"] for k in names],
               hovertemplate="tier %{x}: %{customdata:,.0f} (%{y:.1%} of the value)<extra></extra>"),
    ])
    fig.update_layout(**_LAYOUT, height=360, barmode="group",
                      title=f"Value tiers by {t['by']}: A carries {t['a']:.0%} of the value, A + B {t['b']:.0%}",
                      yaxis={"tickformat": ".0%", "title": "share"})
    return fig


def holdout_figure(holdout: dict[str, Any]) -> go.Figure:
    """Repeat purchases in the holdout period per unit, actual vs predicted, by calibration frequency."""
    rows = holdout["by_frequency"]
    x = [r["frequency"] for r in rows]
    fig = go.Figure([
        go.Bar(x=x, y=[r["actual_mean"] for r in rows], name="actual", marker_color=_ACTUAL,
               customdata=[r["customers"] for r in rows],
               hovertemplate="%{x} repeat purchases before: %{y:.2f} per unit after (%{customdata:,} units)<extra></extra>"),
        go.Bar(x=x, y=[r["predicted_mean"] for r in rows], name="predicted", marker_color=_PREDICTED,
               hovertemplate="%{x} repeat purchases before: %{y:.2f} predicted per unit<extra></extra>"),
    ])
    err = "" if holdout.get("error") is None else f" (total {holdout['error']:+.1%})"
    fig.update_layout(**_LAYOUT, height=380, barmode="group",
                      title=f"Holdout {holdout['calibration_end']} → {holdout['observation_end']}: repeat purchases "
                            f"per unit, predicted vs actual{err}",
                      xaxis={"title": "repeat purchases in the calibration period", "type": "category"},
                      yaxis={"title": "repeat purchases in the holdout period, per unit"})
    return fig


def tracking_figure(holdout: dict[str, Any]) -> go.Figure:
    """Cumulative repeat purchases of the calibration cohort by week, actual vs predicted."""
    t = pd.DataFrame(holdout["tracking"])
    start = pd.Timestamp(holdout["tracking_start"])
    cal_week = (pd.Timestamp(holdout["calibration_end"]) - start).days / 7 + 1
    fig = go.Figure([
        go.Scatter(x=t["week"], y=t["actual"], name="actual", mode="lines", line={"color": _ACTUAL, "width": 2},
                   hovertemplate="week %{x}: %{y:,.0f} repeat purchases so far<extra></extra>"),
        go.Scatter(x=t["week"], y=t["predicted"], name="predicted", mode="lines",
                   line={"color": _PREDICTED, "width": 2, "dash": "dash"},
                   hovertemplate="week %{x}: %{y:,.0f} predicted<extra></extra>"),
    ])
    fig.add_vline(x=cal_week, line={"color": "#888", "dash": "dot"}, annotation_text="calibration end",
                  annotation_position="top left")
    fig.update_layout(**_LAYOUT, height=380, title=f"Tracking: cumulative repeat purchases by week from {start.date()}",
                      xaxis={"title": "week"}, yaxis={"title": "cumulative repeat purchases"})
    return fig


def report_section(ws: Any, fit: Any, which: str, *, top_n: int, to_div: Any, table: Any, section: Any) -> dict[str, Any]:
    """The report's CLV section for one stored fit (``fit``, a :class:`~sikta.service.clv.ClvResult`).

    ``which`` opens the lead (which fit this is and why: the report chooses it). ``to_div``,
    ``table`` and ``section`` are the report's own helpers (so the section looks like the others).
    The holdout chart is the fit's own check, else one of another fit whose data end on the same
    day: never a check that saw purchases after the fit's date.
    """
    from sikta.service import clv as clv_svc

    doc = fit.to_dict()
    same_day = clv_svc.stored_all(ws, doc["grain"], as_of=pd.Timestamp(doc["as_of"]).date())
    checked = fit if fit.holdout else next((r for r in same_day if r.holdout), None)
    units = fit.units()
    values = ws.store.frame(units.select("clv"))["clv"]
    top = ws.store.frame(units.order_by([units.clv.desc(), units.unit_id]).limit(top_n))
    params = ", ".join(f"{k} {v:.4g}" for k, v in doc[doc["model"]].items())
    spend = doc["gamma_gamma"]
    lead = [which + f"{'BG/NBD' if doc['model'] == 'bgnbd' else 'Pareto/NBD'} ({params}) and "
            + (f"Gamma-Gamma (p {spend['p']:.4g}, q {spend['q']:.4g}, v {spend['v']:.4g})" if spend else "mean spend")
            + f" fitted on {doc['customers']:,} units' purchases to {doc['calibration_end']}; CLV is the discounted "
            f"expected margin over {doc['horizon_months']} months at {doc['discount']:.0%} a year. Total "
            f"{doc['totals']['clv']:,.0f}, median {doc['totals']['clv_median']:,.0f} per unit; CLV − CAC "
            f"{doc['totals']['clv_minus_cac']:,.0f}."]
    charts = [to_div(distribution_figure(values), div_id="chart-clv-distribution"),
              to_div(tier_figure(doc), div_id="chart-clv-tiers")]
    tiers = pd.DataFrame([{"tier": k, **v} for k, v in doc["tiers"]["classes"].items()])
    tables = [table(tiers, [("tier", "tier", "text"), ("units", "units", "int"), ("share_units", "share of units", "pct"),
                            ("value", f"{doc['tiers']['by']}", "money"), ("share_value", "share of value", "pct")],
                    table_id="table-clv-tiers", caption="Value tiers")]
    notes = list(doc["notes"])
    if checked is not None:
        h = checked.holdout
        charts += [to_div(holdout_figure(h), div_id="chart-clv-holdout"),
                   to_div(tracking_figure(h), div_id="chart-clv-tracking")]
        lead.append(f"Holdout check (fit to {h['calibration_end']}, data to {h['observation_end']}): "
                    f"{h['predicted']:,.0f} repeat purchases predicted, {h['actual']:,.0f} actual."
                    + (f" {h['verdict'][0].upper()}{h['verdict'][1:]}." if h["verdict"] else " Within 10 %."))
        tables.append(table(pd.DataFrame(h["by_frequency"]),
                            [("frequency", "calibration repeat purchases", "text"), ("customers", "units", "int"),
                             ("actual", "actual", "num"), ("predicted", "predicted", "num"),
                             ("actual_mean", "actual per unit", "num"), ("predicted_mean", "predicted per unit", "num")],
                            table_id="table-clv-holdout", caption="Holdout: repeat purchases after the calibration end"))
    else:
        notes.append(f"No holdout check stored with data to {doc['as_of']}: 'sikta clv --calibration-end DATE "
                     f"--as-of {doc['as_of']}' with a date before it draws predicted against actual here.")
    tables.append(table(top, [("unit_id", "unit", "text"), ("frequency", "repeat purchases", "int"),
                              ("p_alive", "P(alive)", "num"), ("expected_purchases", "expected purchases", "num"),
                              ("expected_spend", "spend per purchase", "money"), ("clv", "CLV", "money"),
                              ("clv_minus_cac", "CLV − CAC", "money"), ("value_tier", "tier", "text")],
                        table_id="table-clv-top", caption=f"Top {len(top):,} units by CLV", sorted_by="clv"))
    return section("clv", "Customer lifetime value", lead=lead, charts=charts, tables=tables, notes=notes)
