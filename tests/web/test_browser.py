"""The web UI in a real browser: Playwright drives Debian's Chromium against the app on a loopback port.

Chromium comes from ``scripts/ensure_chromium.sh`` (``make test`` runs it);
never from ``playwright install``. Without ``/usr/bin/chromium`` these tests
fail with a message saying so: they are not skipped. Screenshots of the main
pages go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import csv
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from sikta.api import create_app
from tests.web.conftest import SCREENSHOTS

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
GROUP_LABELS = ["Invest", "Qualify", "Streamline", "Maintain", "Deprioritized"]
TIMEOUT_MS = 20_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(web_base, tmp_path_factory):
    """The app over a copy of the base workspace, served by uvicorn on a free loopback port."""
    path = web_base.copy(tmp_path_factory.mktemp("browser"))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(path), host="127.0.0.1", port=port, log_level="warning",
                                        access_log=False))
    thread = threading.Thread(target=srv.run, name="sikta-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the web app did not start on 127.0.0.1")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "tokens": web_base.tokens}
    srv.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, through Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh (make test does it) "
                    "to install Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # the pages' Content-Security-Policy must not refuse anything they need (plotly, Swagger UI)
    p.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield p
    context.close()
    assert not errors, f"JavaScript errors or CSP refusals on the page: {errors}"


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, server, role: str, target: str = "/") -> None:
    page.goto(server["url"] + target)
    page.wait_for_url("**/signin?next=*")
    page.fill("#token", server["tokens"][role])
    page.click("button[type=submit]")
    page.wait_for_url(server["url"] + target)


def test_sign_in_and_see_the_five_groups_in_the_matrix(page, server):
    page.goto(server["url"] + "/")
    assert "/signin" in page.url
    shot(page, "01-signin")
    page.fill("#token", "sk_wrong")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text("[role=alert]")
    page.fill("#token", server["tokens"]["viewer"])
    page.click("button[type=submit]")
    page.wait_for_url(server["url"] + "/")
    page.wait_for_selector("#matrix .scatterlayer .trace")
    groups = page.evaluate("() => document.getElementById('matrix').data.map(t => t.legendgroup)")
    assert groups == ["invest", "qualify", "streamline", "maintain", "deprioritized"]
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('#matrix .scatterlayer .trace'))
        .map(t => t.querySelectorAll('path.point').length)""")
    assert len(drawn) == 5 and all(n > 0 for n in drawn), drawn
    legend = page.locator("#matrix .legendtext").all_text_contents()
    assert [label for label in GROUP_LABELS if any(t.startswith(label) for t in legend)] == GROUP_LABELS
    page.wait_for_selector("#pareto .scatterlayer")
    page.wait_for_selector("#bridge .waterfalllayer")
    assert page.locator("#group-counts tbody tr").count() == 5
    shot(page, "02-dashboard")


def test_open_an_account_and_read_its_explanation(page, server):
    sign_in(page, server, "viewer", "/accounts")
    first = page.locator("#accounts tbody tr").first.locator("a").first
    unit = first.inner_text()
    first.click()
    page.wait_for_url(f"**/accounts/{unit}*")
    lines = page.locator("#explanation li").all_inner_texts()
    assert len(lines) >= 2 and lines[-1].startswith("→"), lines
    assert any(w in " ".join(lines) for w in ("Potential", "Deprioritized"))
    assert page.locator("#history tbody tr").count() >= 1
    assert "@" not in page.inner_text("#contacts")  # a viewer never sees contacts' personal data
    shot(page, "03-account")


def test_filter_a_segment_list_and_download_the_csv(page, server, tmp_path):
    sign_in(page, server, "viewer", "/accounts")
    page.select_option("select[name=group]", "invest")
    page.select_option("select[name=status]", "customer")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/accounts?*group=invest*")
    count = int(page.inner_text("#match-count").split()[0].replace(",", ""))
    pills = page.locator("#accounts tbody .pill").all_inner_texts()
    assert count > 0 and set(pills) == {"Invest"}
    page.click("#accounts thead a:text('Name')")
    page.wait_for_url("**sort=name*")
    names = page.locator("#accounts tbody tr td:nth-child(2)").all_inner_texts()
    assert names == sorted(names, reverse=True) or names == sorted(names)
    shot(page, "04-accounts-filtered")
    with page.expect_download() as info:
        page.click("#download-csv")
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == count
    assert {r["group"] for r in rows} == {"invest"} and {r["status"] for r in rows} == {"customer"}
    assert "email" not in rows[0]


def test_an_analyst_starts_a_run_and_sees_it_finish(page, server):
    sign_in(page, server, "analyst", "/model")
    text = page.input_value("#model-text")
    page.fill("#model-text", text.replace("expr: log(employees + 1)", "expr: log(employes + 1)"))
    page.click("#validate")
    assert "Line " in page.inner_text("#model-error") and "employees" in page.inner_text("#model-error")
    shot(page, "05-model-error")
    page.fill("#model-text", text.replace("potential: {quantile: 0.5}", "potential: {quantile: 0.6}"))
    page.click("#validate")
    assert "Valid" in page.inner_text("#model-ok")
    page.click("#run")
    page.wait_for_url("**/jobs/job_*")
    page.wait_for_selector("#job-done", timeout=60_000)
    assert page.inner_text("#job-status") == "done"
    shot(page, "06-job-done")
    page.click("#job-done a:text('Open the dashboard')")
    page.wait_for_selector("#sankey .sankey")
    shot(page, "07-dashboard-after-run")
    page.click("#sankey-card a")
    page.wait_for_selector("#moved tbody tr")
    assert page.locator("#transitions tbody tr").count() >= 4
    shot(page, "08-compare")


def test_a_viewer_is_refused_the_model_page(page, server):
    sign_in(page, server, "viewer")
    assert page.locator("header nav a", has_text="Model").count() == 0
    response = page.goto(server["url"] + "/model")
    assert response.status == 403
    assert "needs the analyst role" in page.inner_text("main")
    shot(page, "09-viewer-refused")
    page.goto(server["url"] + "/runs")
    shot(page, "10-runs")
    page.click("header button:text('Sign out')")
    page.wait_for_url("**/signin")
    page.goto(server["url"] + "/runs")
    assert "/signin" in page.url


def test_the_api_docs_render_every_operation_offline(page, server):
    """Swagger UI 4 could not read OpenAPI 3.1 ("Unable to render this definition"): the page must
    list every operation of the schema, with every file from this server."""
    import httpx

    spec = httpx.get(server["url"] + "/openapi.json").json()
    expected = sorted((m.upper(), p) for p, ops in spec["paths"].items() for m in ops)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    response = page.goto(server["url"] + "/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary", timeout=TIMEOUT_MS)
    assert "Unable to render" not in page.inner_text("body")
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('.opblock-summary')).map(s => [
        s.querySelector('.opblock-summary-method').textContent.trim(),
        s.querySelector('.opblock-summary-path').getAttribute('data-path')])""")
    assert sorted(map(tuple, shown)) == expected
    assert len(expected) >= 20
    assert all(u.startswith(server["url"]) for u in requested), [u for u in requested if not u.startswith(server["url"])]
    shot(page, "11-api-docs")
