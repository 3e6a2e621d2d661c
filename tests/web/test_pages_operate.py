"""The operating pages in process: KPIs, coverage (with a team file), alerts, actions and the what-if preview,
checked against the service layer and independent counts."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from sikta.api import create_app
from sikta.service import runs
from sikta.service.model import model_from_text
from sikta.service.workspace import Workspace
from tests.web.conftest import second_model_text
from tests.web.test_pages import csrf_of, sign_in


@pytest.fixture(scope="module")
def site(web_base, tmp_path_factory):
    path = web_base.copy(tmp_path_factory.mktemp("pages_operate"))
    with Workspace(path) as ws:
        second = runs.create_run(ws, model_from_text(second_model_text(), source="second.yaml"))
    app = create_app(path)
    with TestClient(app) as client:
        sign_in(client, web_base.tokens["analyst"])
        yield {"app": app, "client": client, "first": web_base.first_run, "second": second.run_id, "path": path}


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _rows(html: str, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)


def _service(site, fn):
    st = site["app"].state.sikta
    with st.lock:
        return fn(st.ws)


def test_kpis_page_shows_rates_money_and_the_judged_kpi(site):
    from sikta.service.segment_kpis import segment_kpis

    html = site["client"].get("/kpis").text
    doc = _service(site, lambda ws: segment_kpis(ws, site["second"]))
    invest = next(r for r in doc["by"]["group"] if r["segment"] == "invest")
    row = _text(next(r for r in _rows(html, "kpis-group") if "Invest" in r))
    assert f"NRR {100 * invest['nrr']:.1f} %" in row  # judged by NRR in the starter model, shown first
    assert f"EUR {invest['revenue_start']:,.0f}" in row and f"{100 * invest['grr']:.1f} %" in row
    assert len(_rows(html, "kpis-group")) == len(doc["by"]["group"])


def test_coverage_with_a_team_file_shows_the_gap(site):
    c = site["client"]
    page = c.get("/coverage")
    assert page.status_code == 200 and "owners needed" in page.text
    team = "owner_id,role,capacity_accounts\na,dedicated,50\nb,pooled,1000\n"
    r = c.post("/coverage", data={"csrf": csrf_of(page.text), "run": site["second"]},
               files={"team": ("team.csv", team.encode(), "text/csv")})
    assert r.status_code == 200, r.text[:500]
    import pandas as pd

    ref = _service(site, lambda ws: ws.operate.coverage(site["second"], pd.read_csv(io.StringIO(team)), team_name="t"))
    assert f'id="gap">{ref["gap"]:+d}<' in r.text
    bad = c.post("/coverage", data={"csrf": csrf_of(page.text)},
                 files={"team": ("team.csv", b"owner_id,role\na,dedicated\n", "text/csv")})
    assert bad.status_code == 400 and "no column 'capacity_accounts'" in unescape(bad.text)


def test_alerts_page_and_csv_agree_with_the_service(site):
    from sikta.service.alerts import alerts

    c = site["client"]
    ref = _service(site, lambda ws: alerts(ws, site["first"], site["second"], change=["downgrade"], store=False))
    html = c.get(f"/alerts?run_from={site['first']}&run_to={site['second']}&change=downgrade").text
    assert f"{ref['matched']:,} of {ref['total']:,}" in _text(html)
    rows = _rows(html, "alerts")
    assert len(rows) == min(100, ref["matched"]) and all("downgrade" in r for r in rows)
    csv_text = c.get(f"/alerts.csv?run_from={site['first']}&run_to={site['second']}&change=downgrade").text
    got = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(got) == ref["matched"] and {r["change"] for r in got} == {"downgrade"}
    assert c.get("/alerts?change=sideways").status_code == 400


def test_actions_per_owner_and_csv(site):
    c = site["client"]
    ref = _service(site, lambda ws: ws.operate.actions(site["second"]))
    html = c.get("/actions").text
    assert f'id="action-count">{len(ref["actions"]):,}<' in html
    owners = re.findall(r'<details class="owner"', html)
    assert len(owners) == len(ref["per_owner"])
    owner, n = next(iter(ref["per_owner"].items()))
    one = c.get(f"/actions?owner={owner}").text
    assert f'id="action-count">{n:,}<' in one
    rows = list(csv.DictReader(io.StringIO(c.get(f"/actions.csv?owner={owner}").text)))
    assert len(rows) == n and {r["owner"] for r in rows} == {owner}


def test_model_preview_page_and_fragment(site):
    c = site["client"]
    page = c.get("/model")
    token = csrf_of(page.text)
    text = second_model_text().replace("potential: {quantile: 0.6}", "potential: {quantile: 0.4}")
    full = c.post("/model/preview", data={"text": text, "csrf": token})
    assert full.status_code == 200 and 'id="preview-groups"' in full.text and 'id="model-text"' in full.text
    frag = c.post("/model/preview", data={"text": text, "csrf": token, "fragment": "1"})
    assert frag.text.lstrip().startswith('<div id="preview"') and "would change group" in frag.text
    runs_before = c.get("/runs").text.count('href="/accounts?run=')
    bad = c.post("/model/preview", data={"text": "name: x\npotential: []\n", "csrf": token, "fragment": "1"})
    assert 'id="preview-error"' in bad.text
    assert c.get("/runs").text.count('href="/accounts?run=') == runs_before  # nothing stored


def test_dashboard_shows_judged_kpis(site):
    html = site["client"].get("/").text
    assert 'id="base-kpis"' in html and "NRR" in _text(html)
