"""The web pages in process (TestClient): every page for every role, sign-in, CSRF, lists, CSV, runs."""

from __future__ import annotations

import csv
import io
import re
import time
from html import unescape

import pytest
from fastapi.testclient import TestClient

from sikta.api import create_app
from sikta.service import runs, tokens
from sikta.service.model import model_from_text
from sikta.service.workspace import Workspace
from sikta.web.common import COOKIE
from tests.web.conftest import second_model_text


def sign_in(client: TestClient, token: str) -> None:
    """Sign in through the form, as a browser does (the session cookie lands in the client's jar)."""
    form = client.get("/signin")
    r = client.post("/signin", data={"token": token, "csrf": csrf_of(form.text), "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]

VIEWER_PAGES = ["/", "/accounts", "/accounts?group=invest&sort=name&order=asc", "/groups/qualify", "/accounts.csv",
                "/runs", "/runs/compare", "/schemes"]
ANALYST_PAGES = ["/model"]


@pytest.fixture(scope="module")
def site(web_base, tmp_path_factory):
    """The app over a copy of the base workspace with a second run, and the tokens."""
    path = web_base.copy(tmp_path_factory.mktemp("pages"))
    with Workspace(path) as ws:
        second = runs.create_run(ws, model_from_text(second_model_text(), source="second.yaml"))
        unit = ws.store.frame(runs.run_rows(ws).select("unit_id").order_by("unit_id").limit(1))["unit_id"].iat[0]
    app = create_app(path)
    with TestClient(app) as client:  # runs the lifespan: jobs and workspace close at the end
        yield {"app": app, "client": client, "tokens": web_base.tokens, "unit": unit,
               "runs": (web_base.first_run, second.run_id)}


@pytest.fixture
def as_role(site):
    """A function giving a client signed in as a role (``None``: signed out)."""
    client: TestClient = site["client"]

    def sign(role: str | None) -> TestClient:
        client.cookies.clear()
        if role is not None:
            sign_in(client, site["tokens"][role])
        return client

    yield sign
    client.cookies.clear()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


# -- who may see what ------------------------------------------------------------------
@pytest.mark.parametrize("page", VIEWER_PAGES + ANALYST_PAGES + ["/accounts/A0000001", "/jobs/job_x"])
def test_signed_out_pages_redirect_to_sign_in(as_role, page):
    r = as_role(None).get(page, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/signin?next=")


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
@pytest.mark.parametrize("page", VIEWER_PAGES)
def test_every_role_reads_the_viewer_pages(as_role, role, page):
    r = as_role(role).get(page)
    assert r.status_code == 200, r.text[:500]


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("analyst", 200), ("admin", 200)])
def test_the_model_page_needs_an_analyst(as_role, role, status):
    r = as_role(role).get("/model")
    assert r.status_code == status
    if status == 403:
        assert "needs the analyst role" in r.text and "<textarea" not in r.text
    else:
        assert "<textarea" in r.text


def test_a_viewer_is_refused_starting_a_run_and_sees_no_model_link(as_role, site):
    c = as_role("viewer")
    home = c.get("/").text
    assert 'href="/model"' not in home.split("<main>")[0]
    r = c.post("/model", data={"text": "name: x", "csrf": csrf_of(home), "action": "run"}, follow_redirects=False)
    assert r.status_code == 403
    assert c.get("/jobs/job_whatever").status_code == 403
    assert as_role("analyst").get("/jobs/job_whatever").status_code == 404


def test_a_revoked_token_is_sent_back_to_sign_in(as_role, site):
    st = site["app"].state.sikta
    with st.writing() as ws:
        token, info = tokens.create_token(ws, "viewer", name="short-lived")
    c = as_role(None)
    sign_in(c, token)
    assert c.get("/").status_code == 200
    with st.writing() as ws:
        tokens.revoke_token(ws, info["token_id"])
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 303 and "/signin" in r.headers["location"]


# -- signing in and out -------------------------------------------------------------------
def test_sign_in_sets_a_strict_http_only_cookie_and_goes_on(as_role, site):
    c = as_role(None)
    form = c.get("/signin?next=/runs")
    assert form.status_code == 200 and 'type="password"' in form.text
    r = c.post("/signin", data={"token": site["tokens"]["viewer"], "csrf": csrf_of(form.text), "next": "/runs"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    assert "Max-Age=" in cookie
    # the cookie is a random session id, not the token (a stolen cookie is no API token)
    assert site["tokens"]["viewer"] not in cookie and "sk_" not in cookie
    assert c.get("/runs").status_code == 200
    session = c.cookies.get(COOKIE)
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {session}"}).status_code == 401


@pytest.mark.parametrize(("token", "csrf_ok", "status", "words"), [
    ("sk_not-a-real-token", True, 401, "not valid"),
    (None, False, 403, "expired"),
])
def test_sign_in_refuses_a_bad_token_or_a_forged_form(as_role, site, token, csrf_ok, status, words):
    c = as_role(None)
    form = c.get("/signin")
    data = {"token": token or site["tokens"]["admin"], "csrf": csrf_of(form.text) if csrf_ok else "forged", "next": "/"}
    r = c.post("/signin", data=data, follow_redirects=False)
    assert r.status_code == status and words in r.text
    assert not any(h.startswith(COOKIE + "=") for h in r.headers.get_list("set-cookie"))


def test_sign_in_only_goes_on_to_local_pages(as_role, site):
    c = as_role(None)
    form = c.get("/signin")
    r = c.post("/signin", data={"token": site["tokens"]["viewer"], "csrf": csrf_of(form.text),
                                "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_sign_out_needs_the_session_csrf_token_and_clears_the_cookie(as_role):
    c = as_role("viewer")
    page = c.get("/runs").text
    assert c.post("/signout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    old = c.cookies.get(COOKIE)
    r = c.post("/signout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert any(h.startswith(COOKIE + '=""') for h in r.headers.get_list("set-cookie"))
    # the session ended on the server: its id, replayed, signs nobody in
    c.cookies.clear()
    c.cookies.set(COOKIE, old)
    assert c.get("/runs", follow_redirects=False).status_code == 303


# -- dashboard ---------------------------------------------------------------------------------
def test_the_dashboard_has_the_group_table_and_all_four_charts(as_role, site):
    r = as_role("viewer").get("/")
    html = r.text
    for div in ('id="matrix"', 'id="pareto"', 'id="bridge"', 'id="sankey"'):
        assert div in html, div
    table = html.split('id="group-counts"')[1].split("</table>")[0]
    assert [g for g in ("Invest", "Qualify", "Streamline", "Maintain", "Deprioritized") if g in table] == [
        "Invest", "Qualify", "Streamline", "Maintain", "Deprioritized"]
    assert site["runs"][1] in html
    assert '<script src="/static/plotly.min.js">' in html and "cdn" not in html.lower()
    assert r.headers["x-frame-options"] == "DENY"
    # no inline script: the CSP allows this server's script files only; the charts travel as JSON
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script would be refused by the CSP"
    assert html.count('class="sikta-chart"') == 4


def test_a_workspace_without_runs_gets_a_way_to_start_one(clean_exports, tmp_path):
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(clean_exports)
        token, _ = tokens.create_token(ws, "analyst")
    app = create_app(tmp_path / "ws.duckdb")
    with TestClient(app) as c:
        sign_in(c, token)
        html = c.get("/").text
        assert "no runs yet" in html and 'href="/model"' in html
        assert c.get("/runs").status_code == 200
        model = c.get("/model").text
        assert "the starter model" in model and "wallet_gap" in model


def test_static_files_come_from_the_installed_packages(as_role):
    c = as_role(None)
    js = c.get("/static/plotly.min.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 1_000_000
    css = c.get("/static/sikta.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


# -- lists and CSV ----------------------------------------------------------------------------
def _ids(html: str) -> list[str]:
    body = html.split('id="accounts"')[1].split("</table>")[0]
    return re.findall(r'<a href="/accounts/[^"]+">([^<]+)</a>', body)


def _count(html: str) -> int:
    return int(re.search(r'id="match-count">([\d,]+) matching', html).group(1).replace(",", ""))


def test_lists_sort_filter_and_page(as_role):
    c = as_role("viewer")
    up = _ids(c.get("/accounts?sort=unit_id&order=asc").text)
    down = _ids(c.get("/accounts?sort=unit_id&order=desc").text)
    assert up == sorted(up) and down == sorted(down, reverse=True) and up[0] < down[0]
    assert len(up) == 50
    page2 = _ids(c.get("/accounts?sort=unit_id&order=asc&page=2").text)
    assert page2[0] > up[-1]
    everyone = _count(c.get("/accounts").text)
    invest = c.get("/accounts?group=invest").text
    assert 0 < _count(invest) < everyone
    body = invest.split('id="accounts"')[1]
    assert body.count('class="pill"') == len(_ids(invest)) and "Qualify</span>" not in body
    needle = up[0][-4:]
    hits = _ids(c.get(f"/accounts?q={needle}").text)
    assert up[0] in hits
    prospects = c.get("/accounts?status=prospect").text
    assert _count(prospects) < everyone and "<td>customer</td>" not in prospects


def test_the_group_page_is_the_list_of_one_group(as_role):
    c = as_role("viewer")
    html = c.get("/groups/streamline?sort=revenue_12m&order=desc").text
    assert "Streamline" in html and _count(html) == _count(c.get("/accounts?group=streamline").text)
    assert "/accounts.csv?" in html and "group=streamline" in html


@pytest.mark.parametrize(("url", "status"), [("/accounts?sort=email", 400), ("/groups/nope", 404),
                                             ("/accounts?status=lost", 400), ("/accounts?page=x", 400)])
def test_bad_list_parameters_get_a_friendly_page(as_role, url, status):
    r = as_role("viewer").get(url)
    assert r.status_code == status and "<h1>" in r.text and "back to the dashboard" in r.text


def test_the_csv_has_the_filtered_rows_and_no_personal_data(as_role):
    c = as_role("admin")
    r = c.get("/accounts.csv?group=invest&status=customer")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["group"] for row in rows} == {"invest"} and {row["status"] for row in rows} == {"customer"}
    assert len(rows) == _count(c.get("/accounts?group=invest&status=customer").text)
    assert not {"email", "contact", "phone"} & {k.lower() for k in rows[0]}
    assert "@" not in r.text


# -- one account ---------------------------------------------------------------------------------
def test_an_account_shows_its_explanation_history_and_features(as_role, site):
    html = as_role("viewer").get(f"/accounts/{site['unit']}").text
    explanation = html.split('id="explanation"')[1].split("</div>")[0]
    assert explanation.count("<li>") >= 2 and "→" in explanation
    history = html.split('id="history"')[1].split("</table>")[0]
    assert all(run_id in history for run_id in site["runs"])
    assert 'id="features"' in html and "revenue_12m" in html


def _unit_with_contacts(site) -> str:
    ws = site["app"].state.sikta.ws
    rows = runs.run_rows(ws)
    h = ws.store.table("_sikta_hierarchy")
    c = ws.store.table("contacts").join(h, "account_id")
    with_contacts = rows.semi_join(c, rows.unit_id == c.account_unit_id)
    return ws.store.frame(with_contacts.select("unit_id").order_by("unit_id").limit(1))["unit_id"].iat[0]


def test_contacts_personal_data_is_for_analysts_not_viewers(as_role, site):
    unit = _unit_with_contacts(site)
    viewer = as_role("viewer").get(f"/accounts/{unit}").text
    analyst = as_role("analyst").get(f"/accounts/{unit}").text
    section = viewer.split('id="contacts"')[1].split("</div>")[0]
    assert "contact" in section and "@" not in viewer
    assert "@" in analyst.split('id="contacts"')[1].split("</div>")[0]


def test_page_text_is_escaped(as_role):
    r = as_role("viewer").get("/accounts/<script>alert(1)</script>")
    assert r.status_code == 404
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text


# -- runs ---------------------------------------------------------------------------------------------
def test_runs_and_their_comparison(as_role, site):
    c = as_role("viewer")
    listing = c.get("/runs").text
    assert all(run_id in listing for run_id in site["runs"])
    first, second = site["runs"]
    html = c.get(f"/runs/compare?a={first}&b={second}").text
    assert 'id="transitions"' in html and 'id="sankey"' in html
    moved = int(re.search(r"([\d,]+) units changed group", html).group(1).replace(",", ""))
    assert moved > 0
    rows = html.split('id="moved"')[1].split("</table>")[0]
    assert rows.count("<tr>") - 1 == min(moved, 500) and "potential" in rows
    assert c.get(f"/runs/compare?a={first}&b={first}").status_code == 400


# -- the model editor and a run -----------------------------------------------------------------------
def _editor_text(html: str) -> str:
    return unescape(html.split('aria-label="model YAML">\n')[1].split("</textarea>")[0])


def test_validate_shows_the_line_of_an_error(as_role):
    c = as_role("analyst")
    page = c.get("/model").text
    text = _editor_text(page)
    assert "name: starter" in text
    ok = c.post("/model", data={"text": text, "csrf": csrf_of(page), "action": "validate"})
    assert ok.status_code == 200 and 'id="model-ok"' in ok.text
    bad_text = text.replace("expr: log(employees + 1)", "expr: log(employes + 1)")
    bad = c.post("/model", data={"text": bad_text, "csrf": csrf_of(page), "action": "validate"})
    line = next(i for i, t in enumerate(bad_text.splitlines(), 1) if "employes" in t)
    assert bad.status_code == 400 and f"Line {line}:" in bad.text and "employees" in bad.text
    assert _editor_text(bad.text) == bad_text


def test_an_uploaded_file_replaces_the_text(as_role):
    c = as_role("analyst")
    page = c.get("/model").text
    r = c.post("/model", data={"text": "ignored", "csrf": csrf_of(page), "action": "validate"},
               files={"upload": ("mine.yaml", second_model_text().encode(), "application/yaml")})
    assert r.status_code == 200 and "mine.yaml" in r.text and "version: 2" in _editor_text(r.text)


def test_model_forms_need_the_csrf_token(as_role):
    r = as_role("analyst").post("/model", data={"text": "name: x", "csrf": "forged", "action": "run"})
    assert r.status_code == 403 and "Reload the page" in r.text


def test_an_analyst_starts_a_run_and_the_job_page_follows_it(as_role, site):
    c = as_role("analyst")
    page = c.get("/model").text
    text = _editor_text(page).replace("version: 2", "version: 3")
    r = c.post("/model", data={"text": text, "csrf": csrf_of(page), "action": "run"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/job_")
    deadline = time.monotonic() + 60
    while True:
        job = c.get(r.headers["location"]).text
        if 'id="job-done"' in job or "failed" in job or time.monotonic() > deadline:
            break
        assert 'http-equiv="refresh"' in job
        time.sleep(0.3)
    assert 'id="job-done"' in job, job
    run_id = re.search(r"Run <strong>([^<]+)</strong> is stored", job).group(1)
    assert run_id in c.get("/runs").text and run_id in c.get("/").text


# -- sessions and headers -----------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["/signin", "/", "/accounts", "/runs", "/runs/compare", "/model", "/jobs/job_x",
                                  "/groups/nope", "/docs", "/schemes"])
def test_every_page_has_the_content_security_policy(as_role, page):
    r = as_role("analyst").get(page)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_a_session_expires_when_idle_and_at_its_end(as_role, site):
    c = as_role("viewer")
    assert c.get("/runs").status_code == 200
    store = site["app"].state.sikta.web_sessions
    assert len(store) >= 1
    idle, lifetime = store.idle, store.lifetime
    try:
        store.idle = 0.0  # every session has now been idle too long
        assert c.get("/runs", follow_redirects=False).status_code == 303
        store.idle = idle
        c = as_role("viewer")
        assert c.get("/runs").status_code == 200
        for session in store._by_key.values():
            session.expires = 0.0  # past its lifetime
        assert c.get("/runs", follow_redirects=False).status_code == 303
    finally:
        store.idle, store.lifetime = idle, lifetime


def test_the_old_token_cookie_signs_nobody_in(as_role, site):
    c = as_role(None)
    c.cookies.set("sikta_token", site["tokens"]["admin"])
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


# -- one table: every page x every kind of caller ------------------------------------------------------
PAGES = [  # (path, lowest role, status when allowed)
    ("/", "viewer", 200), ("/accounts", "viewer", 200), ("/groups/invest", "viewer", 200),
    ("/accounts.csv", "viewer", 200), ("/accounts/{unit}", "viewer", 200), ("/runs", "viewer", 200),
    ("/runs/compare", "viewer", 200), ("/model", "analyst", 200), ("/jobs/job_nope", "analyst", 404),
    ("/schemes", "viewer", 200),
    ("/kpis", "viewer", 200), ("/coverage", "viewer", 200), ("/alerts", "viewer", 200), ("/alerts.csv", "viewer", 200),
    ("/actions", "viewer", 200), ("/actions.csv", "viewer", 200),
]
PUBLIC = {"/signin", "/static/plotly.min.js", "/static/sikta.css", "/static/sikta-charts.js", "/static/sikta-ui.js"}
PAGE_CALLERS = ["none", "wrong", "revoked", "viewer", "analyst", "admin"]


def _client_as(site, caller: str) -> TestClient:
    c = TestClient(site["app"])
    if caller in tokens.ROLES:
        sign_in(c, site["tokens"][caller])
    elif caller == "wrong":
        form = c.get("/signin")
        r = c.post("/signin", data={"token": "sk_" + "x" * 43, "csrf": csrf_of(form.text), "next": "/"},
                   follow_redirects=False)
        assert r.status_code == 401
    elif caller == "revoked":
        st = site["app"].state.sikta
        with st.writing() as ws:
            token, info = tokens.create_token(ws, "admin", name="revoked soon")
        sign_in(c, token)
        assert c.get("/runs").status_code == 200
        with st.writing() as ws:
            tokens.revoke_token(ws, info["token_id"])
    return c


def test_the_page_table_covers_every_page():
    from sikta.web.pages import router

    def paths(routes):
        for r in routes:
            inner = getattr(r, "original_router", None)
            yield from paths(inner.routes) if inner is not None else [(r.path, m) for m in r.methods]

    gets = {p for p, m in paths(router.routes) if m == "GET"}
    table = {p.replace("{unit}", "{unit_id:path}").replace("job_nope", "{job_id}").replace("/invest", "/{group}")
             for p, _, _ in PAGES}
    assert gets - PUBLIC == table
    assert {p for p, m in paths(router.routes) if m == "POST"} == {"/signin", "/signout", "/model", "/coverage",
                                                                   "/model/preview"}


@pytest.mark.parametrize("caller", PAGE_CALLERS)
def test_every_page_for_every_caller(site, caller):
    c = _client_as(site, caller)
    for path, needed, ok in PAGES:
        r = c.get(path.replace("{unit}", site["unit"]), follow_redirects=False)
        if caller in ("none", "wrong", "revoked"):
            assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), (path, r.status_code)
        elif not tokens.role_allows(caller, needed):
            assert r.status_code == 403 and f"needs the {needed} role" in r.text, path
        else:
            assert r.status_code == ok, (path, r.status_code)
    # the state-changing forms: refused without a session, and without the session's CSRF token
    r = c.post("/model", data={"text": "name: x", "csrf": "forged", "action": "validate"}, follow_redirects=False)
    assert r.status_code in ((303,) if caller in ("none", "wrong", "revoked") else (403,)), r.status_code
    r = c.post("/signout", data={"csrf": "forged"}, follow_redirects=False)
    assert r.status_code == (303 if caller in ("none", "wrong", "revoked") else 403)
    for form, needed in (("/coverage", "viewer"), ("/model/preview", "analyst")):
        r = c.post(form, data={"text": "name: x", "csrf": "forged"}, follow_redirects=False)
        signed_out = caller in ("none", "wrong", "revoked")
        assert r.status_code == (303 if signed_out else 403), (form, r.status_code)
    for public in PUBLIC:
        assert c.get(public).status_code == 200, public


# -- schemes and diagnostics --------------------------------------------------------------------------------
def test_the_schemes_page_and_the_dashboard_show_the_verdicts(as_role, site):
    from sikta.service.diagnose import diagnose_run

    c = as_role("viewer")
    with Workspace(site["app"].state.sikta.ws.path, read_only=True) as ws:
        doc = diagnose_run(ws, site["runs"][1])
    assert set(doc["schemes"]) == {"firmographic", "needs", "behavioral", "value"}  # the starter model's
    page = unescape(c.get("/schemes").text)
    for name, s in doc["schemes"].items():
        assert f'id="scheme-{name}"' in page and s["verdict"] in page
        for r in s["reasons"]:
            assert r in page
    assert "lack nuance on their own" in page  # the firmographic note
    assert "potential is the weighted mean of" in page and 'id="matrix"' in page
    dash = unescape(c.get("/").text)
    assert 'id="schemes-card"' in dash and all(f"/schemes#scheme-{n}" in dash for n in doc["schemes"])
    assert ('id="matrix-notice"' in dash) == (doc["matrix"]["verdict"] != "usable")
    older = c.get(f"/schemes?run={site['runs'][0]}")
    assert older.status_code == 200 and site["runs"][0] in older.text
    assert c.get("/schemes?run=nope").status_code == 404


def test_a_degenerate_matrix_gets_a_visible_notice(site, tmp_path_factory, web_base):
    """A pain axis nobody scores on: the dashboard and the schemes page say so before anything else."""
    path = web_base.copy(tmp_path_factory.mktemp("notice"))
    with Workspace(path) as ws:
        runs.create_run(ws, model_from_text("name: flat\npotential: [{name: growth}]\n"
                                            "pain: [{name: none, rule: 'employees < 0'}]\n"))
    app = create_app(path)
    with TestClient(app) as c:
        sign_in(c, web_base.tokens["viewer"])
        for page in ("/", "/schemes"):
            html = unescape(c.get(page).text)
            assert 'id="matrix-notice"' in html and "The matrix is not usable" in html
            assert "pain axis is constant: every unit scores 0.00" in html


def test_a_share_just_below_zero_reads_as_zero_not_minus_zero():
    # a segment whose units net slightly negative revenue (returns) showed "-0.0 %" in pages and the report
    from sikta.cli.analyze_cmd import _pct as cli_pct
    from sikta.cli.operate_cmd import _pct as operate_pct
    from sikta.core.diagnostics import _pct as diag_pct
    from sikta.web.common import pct
    from sikta.web.report import _fmt

    assert pct(-0.0004) == cli_pct(-0.0004) == operate_pct(-0.0004) == "0.0 %"
    assert _fmt(-0.0004, "pct") == ("0.0 %", -0.0004) and _fmt(-0.004, "rate") == ("+0 %", -0.004)
    assert diag_pct(-0.004) == "0 %"
    # a share that is negative when rounded keeps its sign
    assert pct(-0.0016) == "-0.2 %" and _fmt(-0.02, "rate")[0] == "-2 %" and diag_pct(-0.006) == "-1 %"


def test_a_scheme_that_could_not_be_computed_renders_on_the_schemes_page(site, tmp_path_factory, web_base):
    # a run whose scheme failed stores no diagnosis (no stability key): the page answered a JSON 500
    path = web_base.copy(tmp_path_factory.mktemp("failed_scheme"))
    with Workspace(path) as ws:
        run = runs.create_run(ws, model_from_text(
            "name: rare\npotential: [{name: growth}]\npain: [{name: ticket_load}]\n"
            "schemes: {rare: {type: opportunity, when: 'employees > 100000'}}\n"))
        assert run.schemes["rare"]["verdict"] == "not usable" and "stability" not in run.schemes["rare"]
    with TestClient(create_app(path)) as c:
        sign_in(c, web_base.tokens["viewer"])
        r = c.get("/schemes")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        page = unescape(r.text)
        assert 'id="scheme-rare"' in page and "only 0 units with the target" in page and "Stability:" not in page
        assert "· 0 units" not in page
