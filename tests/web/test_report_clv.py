"""The report's CLV section: distribution, tiers and the holdout check, read back from the HTML and checked with SQL."""

from __future__ import annotations

import numpy as np
import pytest

from sikta.service.workspace import Workspace
from sikta.synth import generate
from sikta.web.report import build_report, write_report
from tests.web.test_report import _arr, _figures, _parse

CLV_CHARTS = ("chart-clv-distribution", "chart-clv-tiers", "chart-clv-holdout", "chart-clv-tracking")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("report_clv")
    generate(d / "data", accounts=400, seed=11)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(d / "data")
    before = build_report(ws)  # nothing stored yet: the section says how to make one
    res = ws.clv("account", calibration_end="2025-06-30", as_of="2025-12-31")
    yield {"ws": ws, "res": res, "html": build_report(ws), "before": before}
    ws.close()


def _sql(ws, query):
    return ws.store.raw.execute(query).fetchall()


def test_without_a_stored_result_the_section_says_what_to_run(world):
    html = world["before"]
    assert not set(CLV_CHARTS) & set(_figures(html))
    section = html.split('<section id="clv">')[1].split("</section>")[0]
    assert "no CLV computed at account grain" in section and "sikta clv" in section


def test_the_section_draws_distribution_tiers_and_holdout(world):
    figs = _figures(world["html"])
    assert set(CLV_CHARTS) <= set(figs)
    ws, table = world["ws"], world["res"].table
    (units,) = _sql(ws, f'SELECT count(*) FROM "{table}"')[0]
    data, layout = figs["chart-clv-distribution"]
    assert int(_arr(data[0]["y"]).sum()) + layout["meta"]["above"] == units
    (above,) = _sql(ws, f'SELECT count(*) FROM "{table}" WHERE clv > (SELECT quantile_cont(clv, 0.99) FROM "{table}")')[0]
    assert layout["meta"]["above"] == above
    # tiers: shares of units and of the positive CLV per tier, from the per-unit table
    rows = _sql(ws, f'SELECT value_tier, count(*), sum(clv) FROM "{table}" GROUP BY 1 ORDER BY 1')
    (total_pos,) = _sql(ws, f'SELECT sum(greatest(clv, 0)) FROM "{table}"')[0]
    data, _ = figs["chart-clv-tiers"]
    assert list(data[0]["x"]) == ["A", "B", "C"]
    np.testing.assert_allclose(_arr(data[0]["y"]), [n / units for _, n, _ in rows])
    np.testing.assert_allclose(_arr(data[1]["y"]), [v / total_pos for _, _, v in rows])


def test_the_holdout_chart_and_table_match_the_units(world):
    ws, table = world["ws"], world["res"].table
    got = _sql(ws, f'SELECT least(frequency, 7) AS f, count(*), avg(frequency_holdout) FROM "{table}" '
                   "GROUP BY 1 ORDER BY 1")
    data, _ = _figures(world["html"])["chart-clv-holdout"]
    by_bin = {str(f) if f < 7 else "7+": mean for f, _, mean in got}
    shown = dict(zip(data[0]["x"], _arr(data[0]["y"]), strict=True))
    for k, mean in by_bin.items():
        assert shown[k] == pytest.approx(mean)
    t = _parse(world["html"]).tables["table-clv-holdout"]
    assert sum(int(r[1]["text"].replace(",", "")) for r in t["rows"]) == sum(n for _, n, _ in got)
    tracking, _ = _figures(world["html"])["chart-clv-tracking"]
    assert list(_arr(tracking[0]["y"])) == [w["actual"] for w in world["res"].holdout["tracking"]]


def test_write_report_lists_the_section(world, tmp_path):
    doc = write_report(world["ws"], tmp_path / "r.html")
    assert "clv" in doc["sections"] and "clv" not in doc["skipped"]
    top = _parse((tmp_path / "r.html").read_text()).tables["table-clv-top"]
    values = [float(r[5]["v"]) for r in top["rows"]]
    assert values == sorted(values, reverse=True)
