"""Charts: pure functions from Sikta's service results to plotly figures.

The static report (:mod:`sikta.web.report`) and the web UI draw the same
charts from the same results. Nothing here reads a workspace or computes an
analysis: each function takes what the service returned (a
:class:`~sikta.core.pareto.ParetoResult`, a
:class:`~sikta.service.analysis.FlowResult`, run rows, the
:func:`sikta.service.runs.diff` document, a group profile frame) and returns a
:class:`plotly.graph_objects.Figure`. :func:`to_div` turns a figure into an
HTML ``<div>`` without plotly.js; :func:`plotly_js` is the installed
plotly.min.js, to inline once per page (no CDN: the report opens offline).

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"unit_id": ["A", "B", "C"], "group": ["invest", "maintain", "invest"],
...                      "potential_score": [0.9, 0.1, 0.8], "pain_score": [0.7, 0.2, 0.9]})
>>> fig = matrix_figure(rows)
>>> [(t.legendgroup, len(t.x)) for t in fig.data if len(t.x)]
[('invest', 2), ('maintain', 1)]
>>> '<div id="m"' in to_div(fig, div_id="m")
True
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from sikta.core.sampling import stratified_quota
from sikta.service.runs import GROUPS

__all__ = [
    "DEFAULT_STYLES",
    "bridge_figure",
    "group_profile_figure",
    "group_styles",
    "matrix_figure",
    "parameter_profile_figure",
    "pareto_figure",
    "plotly_js",
    "sankey_figure",
    "stratified_quota",
    "stratified_sample",
    "to_data_div",
    "to_div",
]

#: label and colour of each group when the model does not set them (the starter model's palette)
DEFAULT_STYLES: dict[str, dict[str, str]] = {
    "invest": {"label": "Invest", "colour": "#1b9e77"},
    "qualify": {"label": "Qualify", "colour": "#7570b3"},
    "streamline": {"label": "Streamline", "colour": "#d95f02"},
    "maintain": {"label": "Maintain", "colour": "#66a61e"},
    "deprioritized": {"label": "Deprioritized", "colour": "#999999"},
}
NOT_IN_RUN = "(not in run)"
_ABC_FILL = {"A": "#c7e9c0", "B": "#fdf0b4", "C": "#e5e5e5"}
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 30, "t": 70, "b": 50}, "hoverlabel": {"align": "left"}}
# WebGL draws tens of thousands of points without stalling the page; SVG is crisper for few
_WEBGL_ABOVE = 5000
CHART_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}


def _safe(text: Any) -> str:
    # plotly.js renders hover text as a subset of HTML: a company called "<b>x</b>" must show as typed
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    return html.escape(str(text), quote=False)


def group_styles(model: Any = None) -> dict[str, dict[str, str]]:
    """Label and colour per group: the model's ``groups:`` section over :data:`DEFAULT_STYLES`.

    Examples
    --------
    >>> group_styles()["invest"]
    {'label': 'Invest', 'colour': '#1b9e77'}
    """
    styles = {g: dict(s) for g, s in DEFAULT_STYLES.items()}
    groups = getattr(model, "groups", None)
    for g in GROUPS:
        style = getattr(groups, g, None)
        for key in ("label", "colour"):
            value = getattr(style, key, None)
            if value:
                styles[g][key] = str(value)
    return styles


def _rgba(colour: str, alpha: float) -> str:
    c = colour.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    r, g, b = (int(c[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# -- Pareto ------------------------------------------------------------------
def pareto_figure(pareto_result: Any) -> go.Figure:
    """The revenue concentration curve with the A/B/C classes as shaded bands.

    Parameters
    ----------
    pareto_result
        A :class:`~sikta.core.pareto.ParetoResult` (its :meth:`to_dict`
        downsampled curve is drawn: about 100 points, exact at the class
        boundaries) or that dictionary.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace 0 is the curve from (0, 0) to (1, 1): x = share of units, y =
        cumulative share of revenue. Trace 1 is the equal-share diagonal,
        trace 2 the top-20 % point (x = ⌈n/5⌉/n, y = ``top20_share``).
    """
    doc = pareto_result.to_dict() if hasattr(pareto_result, "to_dict") else dict(pareto_result)
    curve = doc["curve"]
    n, abc = int(doc["accounts"]), doc["abc"]
    fig = go.Figure()
    x0 = 0.0
    for cls in ("A", "B", "C"):
        width = float(abc[cls]["share_accounts"])
        x1 = 1.0 if cls == "C" else x0 + width
        if abc[cls]["accounts"]:
            fig.add_vrect(
                x0=x0, x1=x1, fillcolor=_ABC_FILL[cls], opacity=0.6, layer="below", line_width=0,
                annotation_text=f"<b>{cls}</b> {abc[cls]['accounts']:,} units · {abc[cls]['share_revenue']:.0%} of revenue",
                annotation_position="bottom left" if cls != "A" else "top left", annotation_font_size=11,
            )
        x0 = x1
    fig.add_trace(go.Scatter(
        x=[p["share_accounts"] for p in curve], y=[p["share_revenue"] for p in curve], mode="lines",
        name="cumulative revenue", line={"color": "#1f4e79", "width": 3},
        customdata=[[p["rank"], _safe(p["unit_id"]), p["abc"] or ""] for p in curve],
        hovertemplate="top %{x:.1%} of units (rank %{customdata[0]:,}, %{customdata[1]}, class %{customdata[2]})"
                      "<br>carry %{y:.1%} of revenue<extra></extra>",
    ))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="equal shares",
                             line={"color": "#888", "dash": "dot", "width": 1}, hoverinfo="skip"))
    top = -(-n // 5)
    fig.add_trace(go.Scatter(
        x=[top / n], y=[doc["top20_share"]], mode="markers+text", name="top 20 %",
        marker={"size": 10, "color": "#c0392b"}, text=[f"top 20 %: {doc['top20_share']:.1%}"],
        textposition="bottom right", hovertemplate="the top %{x:.1%} of units carry %{y:.1%}<extra></extra>",
    ))
    title = (f"Revenue concentration: the top 20 % of {n:,} units carry {doc['top20_share']:.1%} of revenue · "
             f"Gini {doc['gini']:.2f}")
    fig.update_layout(**_LAYOUT, title=title, height=460, showlegend=False,
                      meta={"account_link": {"index": 1}},  # the web UI opens a clicked point's account
                      xaxis={"title": "share of units (biggest first)", "tickformat": ".0%", "range": [0, 1]},
                      yaxis={"title": "cumulative share of revenue", "tickformat": ".0%", "range": [0, 1.02]})
    return fig


# -- revenue bridge ------------------------------------------------------------
_BRIDGE_PARTS = (  # label, money column, sign, logo column
    ("new", "new_revenue", 1, "new_accounts"),
    ("growth", "growth", 1, "grown_accounts"),
    ("decline", "decline", -1, "declined_accounts"),
    ("churned", "churned_revenue", -1, "churned_accounts"),
    ("reactivated", "reactivated_revenue", 1, "reactivated_accounts"),
)


def period_label(day: Any, period: str) -> str:
    """A period as people name it: ``2025 Q1``, ``2025``, ``Jan 2025``.

    Examples
    --------
    >>> period_label("2025-04-01", "quarter"), period_label("2025-04-01", "month")
    ('2025 Q2', 'Apr 2025')
    """
    d = pd.Timestamp(day)
    if period == "quarter":
        return f"{d.year} Q{(d.month - 1) // 3 + 1}"
    if period == "year":
        return str(d.year)
    return d.strftime("%b %Y")


def bridge_figure(flow_result: Any, periods: int = 6) -> go.Figure:
    """The revenue bridge as one waterfall over the last ``periods`` periods.

    Per period: start + new + growth − decline − churned + reactivated = end;
    each end is the next period's start. Start and end bars are absolute
    values from the data (not running sums), so a bridge that did not balance
    would show as a jump.

    Parameters
    ----------
    flow_result
        A :class:`~sikta.service.analysis.FlowResult` (or its ``to_dict()``).
    periods
        How many of the most recent periods to show.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Waterfall`` trace; ``x`` is two-level (period, part), ``measure``
        is ``absolute`` for start/end and ``relative`` for the parts, and
        ``customdata`` holds the number of units (logos) behind each bar.
    """
    if hasattr(flow_result, "periods"):
        frame, period = flow_result.periods, flow_result.period
    else:
        frame, period = pd.DataFrame(flow_result["periods"]), flow_result["period"]
    last = frame.sort_values("period_start").tail(max(int(periods), 1))
    px, parts, measure, y, logos = [], [], [], [], []

    def bar(p: str, part: str, kind: str, value: float, units: int) -> None:
        px.append(p), parts.append(part), measure.append(kind), y.append(float(value)), logos.append(int(units))

    if not last.empty:
        first = last.iloc[0]
        # the start of the first period shown is the previous period's revenue; it sits with that first period
        bar(period_label(first["period_start"], period), "start", "absolute", first["start_revenue"], first["active_start"])
    for r in last.to_dict("records"):
        p = period_label(r["period_start"], period)
        for part, money, sign, logo in _BRIDGE_PARTS:
            bar(p, part, "relative", sign * float(r[money]), r[logo])
        bar(p, "end", "absolute", r["end_revenue"], r["active_end"])
    hover = [f"{p} · {part}: {v:,.0f}<br>{u:,} units" for p, part, v, u in zip(px, parts, y, logos, strict=True)]
    fig = go.Figure(go.Waterfall(
        x=[px, parts], y=y, measure=measure, customdata=logos, hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
        increasing={"marker": {"color": "#2e8b57"}}, decreasing={"marker": {"color": "#c0392b"}},
        totals={"marker": {"color": "#1f4e79"}}, connector={"line": {"color": "#bbb", "width": 1}}, name="revenue",
    ))
    title = f"Revenue bridge, last {len(last)} {period}s"
    if len(last):
        title += f": {y[0]:,.0f} → {y[-1]:,.0f}"
    nrr = getattr(flow_result, "nrr", None) if hasattr(flow_result, "periods") else flow_result.get("nrr")
    grr = getattr(flow_result, "grr", None) if hasattr(flow_result, "periods") else flow_result.get("grr")
    if nrr is not None and grr is not None:
        title += f" · subscriptions NRR {nrr:.0%}, GRR {grr:.0%}"
    fig.update_layout(**_LAYOUT, title=title, height=480, showlegend=False, yaxis={"title": "revenue", "tickformat": ",.0f"})
    return fig


# -- the matrix ------------------------------------------------------------------
def stratified_sample(rows: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """A deterministic sample per ``group`` (see :func:`stratified_quota`), in a hash order of ``unit_id``.

    For frames already in memory; :func:`sikta.service.run_views.matrix_rows` samples
    in the engine instead, so millions of rows never reach pandas.
    """
    quota = stratified_quota(rows["group"].value_counts().to_dict(), max_points)
    order = pd.util.hash_pandas_object(rows["unit_id"].astype(str), index=False).to_numpy()
    ranked = rows.assign(_h=order).sort_values(["group", "_h", "unit_id"], kind="mergesort")
    keep = ranked.groupby("group", sort=False).cumcount() < ranked["group"].map(quota).fillna(0)
    return ranked[keep].drop(columns="_h").sort_index()


def _first(rows: pd.DataFrame, col: str) -> float | None:
    if col not in rows.columns:
        return None
    v = rows[col].dropna()
    return float(v.iloc[0]) if len(v) else None


def matrix_figure(
    rows: pd.DataFrame,
    model: Any = None,
    max_points: int = 20_000,
    *,
    total: int | None = None,
    thresholds: tuple[float, float] | None = None,
) -> go.Figure:
    """The pain × potential matrix: one point per unit, the five groups coloured.

    Parameters
    ----------
    rows
        Run rows with ``unit_id``, ``group``, ``potential_score`` and
        ``pain_score``; ``name``, ``potential_threshold`` and ``pain_threshold``
        are used when present.
    model
        The run's :class:`~sikta.service.model.Model`, for group labels and
        colours (defaults otherwise).
    max_points
        Above this many rows a deterministic stratified sample per group is
        drawn (:func:`stratified_sample`).
    total
        The number of units ``rows`` were sampled from, when the caller
        sampled already (the title then says "sample of N of M").
    thresholds
        ``(potential, pain)`` threshold lines; default from the rows.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per group in :data:`~sikta.service.runs.GROUPS` order,
        ``legendgroup`` = the group key, ``name`` = its label, ``customdata`` =
        ``[unit_id, name]``; x = potential score, y = pain score.
    """
    total = max(int(total or 0), len(rows))
    if len(rows) > max_points:
        rows = stratified_sample(rows, max_points)
    shown = len(rows)
    styles = group_styles(model)
    Trace = go.Scattergl if shown > _WEBGL_ABOVE else go.Scatter
    names = rows["name"] if "name" in rows.columns else pd.Series([""] * shown, index=rows.index)
    fig = go.Figure()
    for g in GROUPS:
        part = rows["group"] == g
        ids = rows.loc[part, "unit_id"].astype(str).map(_safe).to_numpy()
        custom = np.column_stack([ids, names[part].map(_safe).to_numpy()]) if part.any() else np.empty((0, 2))
        label = styles[g]["label"]
        fig.add_trace(Trace(
            x=rows.loc[part, "potential_score"].to_numpy(dtype="float32"),
            y=rows.loc[part, "pain_score"].to_numpy(dtype="float32"),
            mode="markers", name=f"{_safe(label)} ({int(part.sum()):,})", legendgroup=g, customdata=custom,
            marker={"color": styles[g]["colour"], "size": 6 if shown > 2000 else 8, "opacity": 0.75},
            hovertemplate="<b>%{customdata[0]}</b> %{customdata[1]}<br>group: " + _safe(label)
                          + "<br>potential %{x:.2f} · pain %{y:.2f}<extra></extra>",
        ))
    pot, pain = thresholds or (_first(rows, "potential_threshold"), _first(rows, "pain_threshold"))
    if pot is not None:
        fig.add_vline(x=pot, line={"color": "#555", "dash": "dash", "width": 1},
                      annotation_text=f"potential threshold {pot:.2f}", annotation_position="top")
    if pain is not None:
        fig.add_hline(y=pain, line={"color": "#555", "dash": "dash", "width": 1},
                      annotation_text=f"pain threshold {pain:.2f}", annotation_position="right")
    for g, x, y in (("invest", 0.99, 0.99), ("qualify", 0.99, 0.01), ("streamline", 0.01, 0.99), ("maintain", 0.01, 0.01)):
        fig.add_annotation(x=x, y=y, xref="paper", yref="paper", showarrow=False, text=f"<b>{_safe(styles[g]['label'])}</b>",
                           xanchor="right" if x > 0.5 else "left", yanchor="top" if y > 0.5 else "bottom",
                           font={"color": styles[g]["colour"], "size": 14})
    what = f"sample of {shown:,} of {total:,} units (stratified by group)" if shown < total else f"{shown:,} units"
    fig.update_layout(**_LAYOUT, title=f"Pain × potential matrix: {what}", height=560,
                      legend={"title": "group", "itemsizing": "constant"},
                      meta={"account_link": {"index": 0}},  # the web UI opens a clicked point's account
                      xaxis={"title": "potential score", "range": [-0.03, 1.03]},
                      yaxis={"title": "pain score", "range": [-0.03, 1.03]})
    return fig


# -- migrations ---------------------------------------------------------------------
def sankey_figure(diff_doc: Mapping[str, Any], model: Any = None) -> go.Figure:
    """Group migrations between two runs as a Sankey, from :func:`sikta.service.runs.diff`.

    Left nodes are the groups in ``run_a``, right nodes those in ``run_b``
    (plus ``(not in run)`` for units only in one of them); a link's value is
    the number of units that went from one to the other, so the links add up
    to every unit in either run.
    """
    styles = group_styles(model)
    order = [*GROUPS, NOT_IN_RUN]
    trans = [t for t in diff_doc["transitions"] if int(t["accounts"]) > 0]
    left = [g for g in order if any(t["group_a"] == g for t in trans)]
    right = [g for g in order if any(t["group_b"] == g for t in trans)]

    def label(g: str, side: str) -> str:
        n = sum(int(t["accounts"]) for t in trans if t[side] == g)
        return f"{_safe(styles[g]['label']) if g in styles else g} ({n:,})"

    def colour(g: str) -> str:
        return styles[g]["colour"] if g in styles else "#cccccc"

    nodes = [label(g, "group_a") for g in left] + [label(g, "group_b") for g in right]
    src = [left.index(t["group_a"]) for t in trans]
    dst = [len(left) + right.index(t["group_b"]) for t in trans]
    values = [int(t["accounts"]) for t in trans]
    total = sum(values)
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": nodes, "color": [colour(g) for g in left + right], "pad": 18, "thickness": 16,
              "hovertemplate": "%{label}<extra></extra>"},
        link={"source": src, "target": dst, "value": values,
              "color": [_rgba(colour(t["group_a"]), 0.35 if t["group_a"] == t["group_b"] else 0.6) for t in trans],
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,} units<extra></extra>"},
    ))
    moved = int(diff_doc.get("moved", sum(v for t, v in zip(trans, values, strict=True) if t["group_a"] != t["group_b"])))
    title = (f"Migrations {_safe(diff_doc.get('run_a', ''))} → {_safe(diff_doc.get('run_b', ''))}: "
             f"{moved:,} of {total:,} units changed group")
    if diff_doc.get("model_changed"):
        title += " (the model changed)"
    fig.update_layout(**_LAYOUT, title=title, height=480)
    return fig


# -- group profiles -------------------------------------------------------------------
def group_profile_figure(profile_frame: pd.DataFrame, model: Any = None) -> go.Figure:
    """Share of units next to share of revenue per group (where the money sits vs where the accounts are).

    Parameters
    ----------
    profile_frame
        One row per group: ``group``, ``accounts``, ``revenue_12m`` (as made
        by :func:`sikta.service.run_views.group_profiles`).
    model
        For group labels and colours.
    """
    styles = group_styles(model)
    p = profile_frame.set_index("group").reindex(list(GROUPS))
    acc = p["accounts"].fillna(0).astype(float)
    rev = p["revenue_12m"].fillna(0).astype(float)
    share_acc = acc / acc.sum() if acc.sum() else acc
    share_rev = rev / rev.sum() if rev.sum() else rev
    labels = [_safe(styles[g]["label"]) for g in GROUPS]
    colours = [styles[g]["colour"] for g in GROUPS]
    fig = go.Figure([
        # the two series differ in more than shade: units hatched, revenue solid (the legend shows both apart)
        go.Bar(x=labels, y=share_acc.tolist(), name="share of units (hatched)",
               marker={"color": colours, "opacity": 0.55, "pattern": {"shape": "/", "fgcolor": "#333333", "solidity": 0.35}},
               customdata=acc.astype(int).tolist(), hovertemplate="%{x}: %{y:.1%} of units (%{customdata:,})<extra></extra>"),
        go.Bar(x=labels, y=share_rev.tolist(), name="share of revenue 12m (solid)", marker={"color": colours},
               customdata=rev.tolist(), hovertemplate="%{x}: %{y:.1%} of revenue (%{customdata:,.0f})<extra></extra>"),
    ])
    fig.update_layout(**_LAYOUT, title="Groups: share of units (hatched) and of revenue in the last 12 months (solid)",
                      barmode="group", height=420, yaxis={"tickformat": ".0%"}, legend={"orientation": "h", "y": -0.15})
    return fig


def parameter_profile_figure(profile_frame: pd.DataFrame, model: Any = None, labels: Mapping[str, str] | None = None) -> go.Figure:
    """Heatmap of the mean parameter and axis scores (0..1) per group: what makes each group what it is.

    Parameters
    ----------
    profile_frame
        One row per group with ``<column>__mean`` for the score columns
        (``<axis>__<param>__score``, ``potential_score``, ``pain_score``).
    model
        For group labels and colours.
    labels
        Display name per score column (default: ``axis: param``).
    """
    styles = group_styles(model)
    p = profile_frame.set_index("group").reindex(list(GROUPS))
    cols = [c.removesuffix("__mean") for c in p.columns
            if c.endswith("__score__mean") or c in ("potential_score__mean", "pain_score__mean")]
    labels = dict(labels or {})

    def name(c: str) -> str:
        if c in labels:
            return labels[c]
        if c in ("potential_score", "pain_score"):
            return c.replace("_score", " (axis)")
        axis, param, _ = c.split("__")
        return f"{axis}: {param.replace('_', ' ')}"

    z = p[[f"{c}__mean" for c in cols]].to_numpy(dtype=float) if cols else np.empty((len(GROUPS), 0))
    text = [["" if math.isnan(v) else f"{v:.2f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=[_safe(name(c)) for c in cols], y=[_safe(styles[g]["label"]) for g in GROUPS], text=text,
        texttemplate="%{text}", zmin=0, zmax=1, colorscale="Blues", colorbar={"title": "mean score"},
        hovertemplate="%{y} · %{x}: mean score %{z:.2f}<extra></extra>",
    ))
    fig.update_layout(**_LAYOUT, title="Mean parameter scores per group (0 = lowest, 1 = highest)", height=380,
                      yaxis={"autorange": "reversed"})
    return fig


# -- HTML ---------------------------------------------------------------------------------
def to_div(fig: go.Figure, *, div_id: str) -> str:
    """The figure as an HTML ``<div>`` plus its drawing script, without plotly.js.

    The page must load :func:`plotly_js` once before these divs.
    """
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CHART_CONFIG)


def to_data_div(fig: go.Figure, *, div_id: str) -> str:
    """The figure as an HTML ``<div>`` that carries the figure as JSON in ``data-figure``, no script.

    The web UI's pages allow no inline script (their Content-Security-Policy); ``/static/sikta-charts.js``
    draws every such div with plotly.js. The static report keeps :func:`to_div`.

    Examples
    --------
    >>> div = to_data_div(go.Figure(go.Bar(x=["a"], y=[1])), div_id="b")
    >>> div.startswith('<div id="b" class="sikta-chart"') and "<script" not in div
    True
    """
    doc = {"data": fig.to_plotly_json()["data"], "layout": fig.to_plotly_json()["layout"], "config": CHART_CONFIG}
    payload = pio.to_json(doc, validate=False)
    return (f'<div id="{html.escape(div_id)}" class="sikta-chart" style="width:100%" '
            f'data-figure="{html.escape(payload, quote=True)}"></div>')


@functools.cache
def plotly_js() -> str:
    """The installed plotly.min.js (inlined into pages: no CDN, works offline)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
