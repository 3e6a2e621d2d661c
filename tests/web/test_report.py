"""The static report: offline, one chart per section, numbers that match the data.

One small synthetic workspace with two runs (the starter model and a stricter
potential threshold) serves every test. The figures are read back from the
HTML (the JSON plotly draws from) and checked against counts computed
independently with SQL on the workspace or with numpy.
"""

from __future__ import annotations

from html import unescape

import base64
import json
import math
import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.service import runs
from sikta.service.model import model_from_text, starter_model_text
from sikta.service.workspace import Workspace
from sikta.synth import generate
from sikta.web import charts
from sikta.web.report import build_report, group_profiles, matrix_rows

CHARTS = ("chart-pareto", "chart-bridge", "chart-matrix", "chart-groups", "chart-params", "chart-sankey")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    generate(d / "data", accounts=600, seed=7)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(d / "data")
    first = runs.create_run(ws, model_from_text(starter_model_text()))
    stricter = starter_model_text().replace("potential: {quantile: 0.5}", "potential: {quantile: 0.7}")
    assert stricter != starter_model_text()
    second = runs.create_run(ws, model_from_text(stricter))
    html = build_report(ws, second.run_id)
    yield {"dir": d, "ws": ws, "a": first.run_id, "b": second.run_id, "html": html}
    ws.close()


def _sql(ws: Workspace, query: str) -> pd.DataFrame:
    return ws.store.raw.execute(query).df()


def _figures(html: str) -> dict[str, tuple[list, dict]]:
    """div id → (data, layout) of every ``Plotly.newPlot`` call in the page."""
    dec, found = json.JSONDecoder(), {}
    for m in re.finditer(r'Plotly\.newPlot\(\s*"(chart-[^"]+)",\s*', html):
        data, end = dec.raw_decode(html, m.end())
        layout, _ = dec.raw_decode(html, re.compile(r"\s*,\s*").match(html, end).end())
        assert m.group(1) not in found, f"two figures in {m.group(1)}"
        found[m.group(1)] = (data, layout)
    return found


def _arr(v) -> np.ndarray:
    """A plotly array: a JSON list or a base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(s) for s in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v)


class _Tags(HTMLParser):
    """Script and link sources, and every table's headers and cells (text, data-v)."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tables: dict[str, dict] = {}
        self._table = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.sources.append(a["src"])
        if tag == "link" and a.get("href"):
            self.sources.append(a["href"])
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id"), {"head": [], "rows": []})
        elif tag == "tr" and self._table is not None:
            self._table["rows"].append([])
        elif tag in ("th", "td") and self._table is not None:
            self._cell = {"tag": tag, "text": "", "v": a.get("data-v")}

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            if self._cell["tag"] == "th":
                self._table["head"].append(self._cell["text"])
            else:
                self._table["rows"][-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None


def _parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    for t in p.tables.values():
        t["rows"] = [r for r in t["rows"] if r]
    return p


# -- the page -------------------------------------------------------------------------------
def test_the_report_is_self_contained_and_offline(world):
    html = world["html"]
    tags = _parse(html)
    remote = [s for s in tags.sources if re.match(r"\s*(https?:)?//", s)]
    assert remote == [], remote
    assert not re.search(r"<script[^>]+src=", html.replace(charts.plotly_js(), ""))
    js = charts.plotly_js()
    version = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", js).group(1)
    assert js in html and f"plotly.js v{version}" in html
    assert html.count(js[:200]) == 1  # inlined once, not once per chart


def test_one_div_and_one_figure_per_chart(world):
    html = world["html"]
    figs = _figures(html)
    assert sorted(figs) == sorted(CHARTS)
    for div in CHARTS:
        assert html.count(f'id="{div}"') == 1, div


def test_no_email_addresses_or_contact_names(world):
    html = world["html"]
    # plotly.js carries its authors' credits; everything else is ours
    ours = html.replace(charts.plotly_js(), "")
    assert not EMAIL.search(ours), EMAIL.search(ours).group(0)
    contacts = pd.read_parquet(world["dir"] / "data" / "contacts.parquet")
    emails = contacts["email"].dropna().astype(str)
    assert len(emails) > 100
    assert not any(e in html for e in emails)
    name_cols = [c for c in contacts.columns if "name" in c and c != "account_name"]
    people = {str(v) for c in name_cols for v in contacts[c].dropna() if len(str(v)) > 8}
    assert not any(p in ours for p in people)


# -- the charts against the data --------------------------------------------------------------
def test_matrix_points_per_group_equal_the_run(world):
    ws = world["ws"]
    data, layout = _figures(world["html"])["chart-matrix"]
    table = runs.run_table(world["b"])
    truth = _sql(ws, f'select "group", count(*) as n from {table} group by 1').set_index("group")["n"].to_dict()
    drawn = {t["legendgroup"]: len(_arr(t["x"])) for t in data}
    assert drawn == {g: int(truth.get(g, 0)) for g in runs.GROUPS}
    assert sum(drawn.values()) == int(_sql(ws, f"select count(*) as n from {table}")["n"].iat[0])
    assert "sample" not in layout["title"]["text"]
    # every point sits where the run put it
    invest = next(t for t in data if t["legendgroup"] == "invest")
    ids = [row[0] for row in invest["customdata"]]
    rows = _sql(ws, f"select unit_id, potential_score from {table} where \"group\" = 'invest'").set_index("unit_id")
    np.testing.assert_allclose(_arr(invest["x"]), rows.loc[ids, "potential_score"].to_numpy(), atol=1e-6)


def test_the_matrix_samples_in_the_engine_and_says_so(world):
    ws = world["ws"]
    full, total = matrix_rows(ws, world["b"])
    assert len(full) == total > 300
    rows, total2 = matrix_rows(ws, world["b"], max_points=100)
    assert total2 == total and len(rows) <= 100
    assert set(rows["group"]) == set(full["group"])  # every group still present
    assert rows["unit_id"].is_unique and set(rows["unit_id"]) <= set(full["unit_id"])
    again, _ = matrix_rows(ws, world["b"], max_points=100)
    assert again["unit_id"].tolist() == rows["unit_id"].tolist()  # deterministic
    fig = charts.matrix_figure(rows, total=total)
    assert f"sample of {len(rows):,} of {total:,}" in fig.layout.title.text
    # the chart samples by itself when handed more rows than max_points
    fig = charts.matrix_figure(full, max_points=60)
    counts = {t.legendgroup: len(t.x) for t in fig.data}
    assert sum(counts.values()) <= 60 and {g for g, n in counts.items() if n} == set(full["group"])
    assert "sample of" in fig.layout.title.text


def test_the_pareto_curve_ends_at_one_and_shows_the_top20_share(world):
    ws = world["ws"]
    data, _ = _figures(world["html"])["chart-pareto"]
    x, y = _arr(data[0]["x"]), _arr(data[0]["y"])
    assert (x[0], y[0]) == (0, 0)
    assert x[-1] == pytest.approx(1) and y[-1] == pytest.approx(1)
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) >= -1e-12)
    meta = runs.get_run(ws, world["b"])
    analysis = ws.analyze(grain=meta["grain"], as_of=pd.Timestamp(meta["as_of"]).date())
    top20 = _arr(data[2]["y"])[0]
    assert top20 == pytest.approx(analysis.pareto().top20_share)
    rev = np.sort(analysis.features().revenue_12m.to_pandas().to_numpy(dtype=float))[::-1]
    rev = rev[rev > 0]
    assert top20 == pytest.approx(rev[: math.ceil(len(rev) / 5)].sum() / rev.sum())


def test_the_bridge_waterfall_balances(world):
    ws = world["ws"]
    data, _ = _figures(world["html"])["chart-bridge"]
    (w,) = data
    assert w["type"] == "waterfall"
    y, measure, parts = _arr(w["y"]).astype(float), list(w["measure"]), list(w["x"][1])
    assert len(y) == 1 + 6 * 6 and parts[:7] == ["start", "new", "growth", "decline", "churned", "reactivated", "end"]
    starts = [i for i, m in enumerate(measure) if m == "absolute"]
    for i, j in zip(starts, starts[1:], strict=False):  # each end = previous absolute + the parts between
        assert y[j] == pytest.approx(y[i] + y[i + 1 : j].sum(), rel=1e-9, abs=1e-6)
    assert (y[[i for i, p in enumerate(parts) if p in ("decline", "churned")]] <= 0).all()
    meta = runs.get_run(ws, world["b"])
    flow = ws.analyze(grain=meta["grain"], as_of=pd.Timestamp(meta["as_of"]).date()).flow().periods
    assert y[-1] == pytest.approx(flow["end_revenue"].iloc[-1])
    assert _arr(w["customdata"])[-1] == flow["active_end"].iloc[-1]


def test_the_sankey_flows_cover_both_runs(world):
    ws = world["ws"]
    data, layout = _figures(world["html"])["chart-sankey"]
    values = _arr(data[0]["link"]["value"])
    a, b = runs.run_table(world["a"]), runs.run_table(world["b"])
    units = _sql(ws, f"select count(*) as n from (select unit_id from {a} union select unit_id from {b})")["n"].iat[0]
    assert values.sum() == units
    moved = _sql(ws, f"select count(*) as n from {a} join {b} using (unit_id) where {a}.\"group\" <> {b}.\"group\"")["n"].iat[0]
    assert moved > 0 and f"{moved:,} of {units:,} units changed group" in layout["title"]["text"]


def test_group_profiles_match_the_run(world):
    ws = world["ws"]
    table = runs.run_table(world["b"])
    meta = runs.get_run(ws, world["b"])
    feats = ws.features(meta["grain"], pd.Timestamp(meta["as_of"]).date())
    prof = group_profiles(ws, world["b"], features=feats).set_index("group")
    truth = _sql(ws, f'select "group", count(*) as n, avg(pain_score) as pain, sum(revenue_12m) as rev from {table} group by 1')
    truth = truth.set_index("group")
    for g in truth.index:
        assert prof.loc[g, "accounts"] == truth.loc[g, "n"]
        assert prof.loc[g, "pain_score__mean"] == pytest.approx(truth.loc[g, "pain"])
        assert prof.loc[g, "revenue_12m"] == pytest.approx(truth.loc[g, "rev"])
    assert prof["share_accounts"].sum() == pytest.approx(1)
    emp = _sql(ws, f'select "group", median(f.employees::double) as m from {table} r join features_{meta["grain"]} f '
                   'using (unit_id) group by 1').set_index("group")["m"]
    for g, m in emp.items():
        assert prof.loc[g, "employees__median"] == pytest.approx(m)


# -- schemes and diagnostics -------------------------------------------------------------------------
def test_the_schemes_and_the_matrix_diagnosis_are_in_the_report(world):
    ws = world["ws"]
    meta = runs.get_run(ws, world["b"])
    stored = json.loads(meta["schemes"])
    matrix = json.loads(meta["diagnostics"])
    html = unescape(world["html"])
    tables = _parse(world["html"]).tables
    for name, d in stored.items():
        assert f"{name} ({d['type']}, {d['scope']}): {d['verdict']}" in html
        if d["profiles"]:
            rows = tables[f"table-scheme-{name}"]["rows"]
            assert {r[0]["text"]: int(float(r[1]["v"])) for r in rows} == {p["segment"]: p["n_units"] for p in d["profiles"]}
    assert "lack nuance on their own" in html
    assert f"Is the matrix any good? {matrix['verdict']}" in html
    for axis in matrix["axes"].values():
        assert axis["why"] in html
    groups = {r[0]["text"]: int(float(r[1]["v"])) for r in tables["table-matrix-groups"]["rows"]}
    counts = _sql(ws, f'select "group", count(*) as n from {runs.run_table(world["b"])} group by 1')
    assert all(groups[g] == n for g, n in zip(counts["group"], counts["n"]))
    assert ('id="matrix-notice"' in html) == (matrix["verdict"] != "usable")
    for r in matrix["reasons"]:
        assert r in html


def test_a_degenerate_matrix_gets_a_notice_at_the_top(world, tmp_path):
    copy = tmp_path / "flat.duckdb"
    world["ws"].store.raw.execute("checkpoint")
    shutil.copy(world["dir"] / "ws.duckdb", copy)
    with Workspace(copy) as ws:
        run = runs.create_run(ws, model_from_text("name: flat\npotential: [{name: growth}]\n"
                                                  "pain: [{name: none, rule: 'employees < 0'}]\n"))
        html = unescape(build_report(ws, run.run_id))
    top = html.index('id="matrix-notice"')
    assert top < html.index('<section id="pareto"')
    assert "The matrix is not usable" in html and "pain axis is constant: every unit scores 0.00" in html


# -- tables ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("table", "column"), [("table-outflow", "revenue at risk"),
                                               ("table-whitespace", "expected value"),
                                               ("table-reactivation", "score")])
def test_opportunity_tables_are_sorted_descending(world, table, column):
    t = _parse(world["html"]).tables[table]
    k = next(i for i, h in enumerate(t["head"]) if h.split(" (")[0] == column)  # money headers name the currency
    values = [float(r[k]["v"]) for r in t["rows"]]
    assert 10 <= len(values) <= 50
    assert values == sorted(values, reverse=True)


def test_the_outflow_table_holds_the_top_of_the_analysis(world):
    ws = world["ws"]
    t = _parse(world["html"]).tables["table-outflow"]
    meta = runs.get_run(ws, world["b"])
    outflow = ws.analyze(grain=meta["grain"], as_of=pd.Timestamp(meta["as_of"]).date()).outflow()
    assert [r[0]["text"] for r in t["rows"]] == outflow["unit_id"].head(50).tolist()


def test_text_is_escaped(world):
    rows = pd.DataFrame({"unit_id": ["A1"], "name": ["</script><img src=x onerror=alert(1)>"], "group": ["invest"],
                         "potential_score": [0.5], "pain_score": [0.5]})
    div = charts.to_div(charts.matrix_figure(rows), div_id="chart-x")
    assert "</script><img" not in div and "<img src=x" not in div
    assert "<img src=x" not in world["html"] and "<script>alert" not in world["html"]


# -- the command ---------------------------------------------------------------------------------
def test_cli_writes_the_report(world, tmp_path):
    out = tmp_path / "r" / "report.html"
    res = CliRunner().invoke(app, ["report", "-w", str(world["dir"] / "ws.duckdb"), "--out", str(out), "--json",
                                   "--run", world["a"], "--top", "5"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["path"] == str(out.resolve()) and doc["size"] == out.stat().st_size
    assert doc["run"] == world["a"]
    # the first run has no run before it: the migrations are left out, with the reason
    assert "migrations" not in doc["sections"] and "earlier run" in doc["skipped"]["migrations"]
    assert set(doc["sections"]) >= {"pareto", "bridge", "matrix", "profiles", "outflow"}
    assert len(_parse(out.read_text()).tables["table-outflow"]["rows"]) == 5


def test_cli_without_runs_writes_the_analysis_and_says_so(world, tmp_path):
    copy = tmp_path / "noruns.duckdb"
    world["ws"].store.raw.execute("checkpoint")  # the copy must hold everything, not leave some in the WAL
    shutil.copy(world["dir"] / "ws.duckdb", copy)
    with Workspace(copy) as ws:
        ws.store.drop(runs.RUNS)
    res = CliRunner().invoke(app, ["report", "-w", str(copy), "--out", str(tmp_path / "a.html")])
    assert res.exit_code == 0, res.output
    assert "no segmentation run yet" in res.stdout and "sikta run --model" in res.stdout
    html = (tmp_path / "a.html").read_text()
    assert sorted(_figures(html)) == ["chart-bridge", "chart-pareto"]
    bad = CliRunner().invoke(app, ["report", "-w", str(copy), "--run", "nope", "--out", str(tmp_path / "b.html")])
    assert bad.exit_code == 4 and "no runs yet" in bad.output
    assert not (tmp_path / "b.html").exists()


def test_kpis_and_coverage_sections(world):
    from sikta.service.segment_kpis import segment_kpis

    p = _parse(world["html"])
    kpis = p.tables["table-kpis-group"]
    assert kpis["head"][:5] == ["segment", "judged by", "units", "revenue start (EUR)", "logo churn"]
    doc = segment_kpis(world["ws"], world["b"])
    invest = next(r for r in doc["by"]["group"] if r["segment"] == "invest")
    row = next(r for r in kpis["rows"] if r[0]["text"] == "invest")
    nrr = kpis["head"].index("NRR")
    assert row[nrr]["text"] == f"{100 * invest['nrr']:.1f} %"
    assert row[kpis["head"].index("revenue start (EUR)")]["text"] == f"{invest['revenue_start']:,.0f}"
    assert row[1]["text"] == f"NRR {100 * invest['nrr']:.1f} %"  # the starter model judges invest by NRR
    cov = p.tables["table-coverage"]
    units = _sql(world["ws"], f"SELECT count(*) AS n FROM {runs.run_table(world['b'])}")["n"].iat[0]
    assert sum(float(r[cov["head"].index("units")]["v"]) for r in cov["rows"]) == units
    assert "table-mix" in p.tables


def test_opportunity_lists_show_group_and_owner(world):
    from sikta.service import operate_units as ou

    p = _parse(world["html"])
    ctx = ou.run_context(world["ws"], world["b"])
    truth = ou.units(ctx).set_index("unit_id")
    for table in ("table-outflow", "table-whitespace"):
        t = p.tables[table]
        g, o = t["head"].index("group"), t["head"].index("owner")
        for r in t["rows"]:
            unit = r[0]["text"]
            if unit in truth.index:
                assert r[g]["text"] == truth.loc[unit, "group"] and r[o]["text"] == (truth.loc[unit, "owner"] or "–")
    assert "revenue 12m (EUR)" in p.tables["table-outflow"]["head"]
