"""The account page's lifetime-value card in a real browser (Debian's Chromium, as in test_browser.py)."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn

from sikta.api import create_app
from sikta.service.workspace import Workspace
from sikta.web.common import money
from tests.web.test_browser import _free_port, browser, page, shot, sign_in  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def server(web_base, tmp_path_factory):
    """The base workspace with a stored CLV result, served on a free loopback port."""
    path = web_base.copy(tmp_path_factory.mktemp("browser_clv"))
    with Workspace(path) as ws:
        table = ws.clv("account").table
        in_run = ws.run_rows().select("unit_id")
        u = ws.store.table(table)
        top = ws.store.frame(u.semi_join(in_run, "unit_id").order_by(u.clv.desc()).limit(1)).iloc[0].to_dict()
        prospect = ws.store.frame(in_run.anti_join(u, "unit_id").limit(1))["unit_id"].iat[0]
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(path), host="127.0.0.1", port=port, log_level="warning",
                                        access_log=False))
    thread = threading.Thread(target=srv.run, name="sikta-web-clv-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the web app did not start on 127.0.0.1")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "tokens": web_base.tokens, "top": top, "prospect": prospect}
    srv.should_exit = True
    thread.join(30)


def test_the_account_page_shows_lifetime_value_and_fits_the_screen(page, server):  # noqa: F811
    top = server["top"]
    sign_in(page, server, "viewer", f"/accounts/{top['unit_id']}")
    card = page.inner_text("#clv")
    assert "Lifetime value" in card and f"tier {top['value_tier']}" in card
    assert money(top["clv"]) in card and "P(alive)" in card
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1366, width
    shot(page, "11-account-clv")
    page.goto(server["url"] + f"/accounts/{server['prospect']}")
    assert page.locator("#clv").count() == 0  # no purchase, no lifetime value
