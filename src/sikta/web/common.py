"""What every page shares: templates, who is signed in, roles, CSRF and error pages.

Pages are server-rendered with Jinja2 (autoescaping on) and sent with a strict
Content-Security-Policy (:mod:`sikta.api.headers`: scripts from this server
only, none inline). A page handler opens the app's workspace, checks the
sign-in session with :func:`signed_in` (:mod:`sikta.web.sessions`) and renders
a template with :func:`render`. Anything that ends a page early (not
signed in, role too low, a bad form) raises :class:`PageExit` with the
response to send; :class:`PageRoute` turns it, and every
:class:`~sikta.errors.SiktaError`, into that response or a friendly page.

Examples
--------
>>> money(1234567.891), money(None), score(0.66419), pct(0.4213)
('1,234,568', '–', '0.66', '42.1 %')
>>> value(2006, "founded_year"), value(1152), value(0.25813), value(["a", "b"]), when("2026-12-01T06:07:21.97")
('2006', '1,152', '0.258', 'a, b', '2026-12-01 06:07')
>>> safe_next("/accounts?group=invest"), safe_next("//evil.example/"), safe_next("https://x")
('/accounts?group=invest', '/', '/')
"""

from __future__ import annotations

import hmac
import math
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import numpy as np
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from sikta.api.headers import HTML_HEADERS
from sikta.errors import InputError, NotFoundError, SiktaError, UsageError
from sikta.service import money as money_fmt
from sikta.service import tokens
from sikta.service.runs import GROUP_SUMMARY, GROUPS
from sikta.web import charts
from sikta.web.sessions import Sessions

HERE = Path(__file__).resolve().parent
#: the session cookie: a random session id (see :mod:`sikta.web.sessions`), never the token
COOKIE = "sikta_session"
#: the cookie of earlier versions, which held the token itself: deleted on sight
OLD_COOKIE = "sikta_token"
#: double-submit cookie of the sign-in form (there is no session to bind it to yet)
SIGNIN_COOKIE = "sikta_signin"
SECURITY_HEADERS = HTML_HEADERS


# -- formatting ---------------------------------------------------------------
def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(isinstance(v, float) and math.isnan(v)) or str(v) in ("NaT", "nan", "<NA>")
    except (TypeError, ValueError):
        return False


def money(v: Any) -> str:
    """A whole amount with thousands separators ('–' when missing)."""
    return "–" if _missing(v) else f"{float(v):,.0f}"


def score(v: Any) -> str:
    """A 0..1 score with two decimals."""
    return "–" if _missing(v) else f"{float(v):.2f}"


def pct(v: Any) -> str:
    """A share as a percentage."""
    return "–" if _missing(v) else f"{round(float(v) * 100, 1) or 0.0:.1f} %"  # no "-0.0 %"


def value(v: Any, name: str = "") -> str:
    """Any feature value, short and readable (a ``*year`` column without a thousands separator)."""
    if _missing(v):
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return str(int(v)) if name.endswith("year") else f"{int(v):,}"
    if isinstance(v, numbers.Real):
        v = float(v)
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if v != int(v) else f"{int(v):,}"
    if isinstance(v, list | tuple) or hasattr(v, "tolist"):
        items = v.tolist() if hasattr(v, "tolist") else v
        return ", ".join(str(x) for x in items) or "–"
    return str(v)[:19] if hasattr(v, "isoformat") else str(v)


def when(v: Any) -> str:
    """A timestamp to the minute: ``2026-12-01 06:07``."""
    return "–" if _missing(v) else str(v).replace("T", " ")[:16]


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in; anything else becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def query(request: Request, **changes: Any) -> str:
    """The current query string with ``changes`` applied (``None`` removes a key)."""
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = str(v)
    return ("?" + urlencode(params)) if params else ""


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
@jinja2.pass_context
def _money_in(ctx: Any, v: Any) -> str:
    """The ``money`` filter: with the page's ``currency`` (see :func:`render`) when there is one."""
    cur = ctx.get("currency")
    return money_fmt.money(v, cur) if cur else money(v)


ENV.filters.update(money=_money_in, score=score, pct=pct, value=value, when=when, q=lambda s: quote(str(s), safe=""))
ENV.globals.update(GROUPS=GROUPS, GROUP_MEANING=GROUP_SUMMARY)


# -- who is signed in ---------------------------------------------------------
@dataclass(frozen=True)
class User:
    """The signed-in token: id, name and role (never the token itself), and the session's CSRF token
    that every state-changing form carries."""

    token_id: str
    name: str | None
    role: str
    csrf: str

    def can(self, role: str) -> bool:
        return tokens.role_allows(self.role, role)


class PageExit(Exception):  # noqa: N818 - not an error: a page that ends early with this response
    """Stop rendering and send ``response`` instead."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@contextmanager
def workspace(request: Request) -> Iterator[Any]:
    """The app's workspace with its lock held (the API's :func:`sikta.api.deps.workspace`)."""
    from sikta.api import deps

    with deps.workspace(request) as ws:
        yield ws


@contextmanager
def reader(request: Request) -> Iterator[Any]:
    """The app's cached run reader (:class:`sikta.service.segments.RunReader`), lock held."""
    from sikta.api import deps

    with deps.run_reader(request) as rr:
        yield rr


#: entries the web pages keep in the app's result cache (charts of immutable runs, analysis charts)
CACHE_ENTRIES = 32


def cached(request: Request, key: tuple, build: Callable[[], Any]) -> Any:
    """``build()`` once per app for ``key``, kept in the app's cache; call with the workspace lock held.

    Only for results that cannot change while the app runs: anything about a
    stored run (runs are immutable) and the analysis (only an ingest changes
    it, and an ingest cannot happen while the server holds the workspace).
    """
    from sikta.api import deps

    cache = deps.state(request).cache
    key = ("web", *key)
    if key not in cache:
        mine = [k for k in cache if k and k[0] == "web"]
        for old in mine[: max(0, len(mine) - CACHE_ENTRIES + 1)]:
            cache.pop(old, None)
        cache[key] = build()
    return cache[key]


def sessions(request: Request) -> Sessions:
    """The app's web sessions (made on first use; they live in the server's memory)."""
    from sikta.api import deps

    st = deps.state(request)
    with st.lock:
        if getattr(st, "web_sessions", None) is None:
            st.web_sessions = Sessions()
        return st.web_sessions


def current_user(request: Request) -> User | None:
    """The user of the request's session cookie, or None (no cookie, expired, or its token revoked)."""
    from sikta.api import deps

    sid = request.cookies.get(COOKIE)
    store = sessions(request)
    session = store.get(sid)
    if session is None:
        return None
    if not deps.token_active(deps.state(request), session.token_id):
        store.end_token(session.token_id)  # revoked: every session of the token ends with it
        return None
    return User(session.token_id, session.name, session.role, session.csrf)


def signed_in(request: Request, ws: Any = None, role: str = "viewer") -> User:
    """The user behind the session cookie; redirects to sign-in, or refuses a too-low role."""
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"/signin?{urlencode({'next': target})}", status_code=303)
        for name in (COOKIE, OLD_COOKIE):
            if name in request.cookies:
                response.delete_cookie(name, path="/")
        raise PageExit(response)
    request.state.user = user
    if not user.can(role):
        raise PageExit(error_page(
            request, 403, "Not allowed",
            f"This page needs the {role} role; your token ({user.name or user.token_id}) is a {user.role}. "
            "Ask an admin for a token with more rights.",
        ))
    return user


def check_csrf(request: Request, user: User, sent: str | None) -> None:
    """Refuse a form that does not carry this session's CSRF token."""
    if not sent or not hmac.compare_digest(sent, user.csrf):
        raise PageExit(error_page(request, 403, "Form expired",
                                  "This form is not from your current session. Reload the page and try again."))


# -- rendering ----------------------------------------------------------------
def page_currency(request: Request) -> str | None:
    """The workspace's currency (:func:`sikta.service.money.currency`), once per app; money shows it."""
    from sikta.api import deps

    try:
        st = deps.state(request)
        key = ("web", "currency")
        if key not in st.cache:
            st.cache[key] = st.read(money_fmt.currency)
        return st.cache[key]
    except Exception:  # noqa: BLE001 - an error page must render even when the workspace cannot answer
        return None


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page template with the signed-in user, the navigation and the currency money is shown in."""
    user = getattr(request.state, "user", None)
    if "currency" not in context:
        context["currency"] = page_currency(request)
    html = ENV.get_template(template).render(request=request, user=user, path=request.url.path,
                                             q=lambda **kw: query(request, **kw), **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """A friendly page for a refusal or a failure the user can fix."""
    return render(request, "error.html", status=status, title=title, message=message, status_code=status)


def status_of(exc: SiktaError) -> int:
    """The HTTP status a page answers for a Sikta error."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UsageError | InputError):
        return 400
    return 409


class PageRoute(APIRoute):
    """A route whose handler may raise :class:`PageExit` or a :class:`SiktaError`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except PageExit as exit_:
                return exit_.response
            except SiktaError as exc:
                code = status_of(exc)
                title = "Not found" if code == 404 else "Cannot do that"
                return error_page(request, code, title, str(exc))

        return route


def group_styles(model: Any | None) -> dict[str, dict[str, str | None]]:
    """Label and colour (:func:`sikta.web.charts.group_styles`), KPI and meaning of each group."""
    styles = charts.group_styles(model)
    groups = getattr(model, "groups", None)
    return {g: {**styles[g], "kpi": getattr(getattr(groups, g, None), "kpi", None), "meaning": GROUP_SUMMARY[g]}
            for g in GROUPS}
