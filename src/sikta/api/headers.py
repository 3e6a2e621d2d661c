"""Security headers of every HTML answer: the API docs page and the web UI's pages.

The Content-Security-Policy lets a page run scripts from this server only
(no inline script, no ``eval``, nothing from another host), fetch only from
this server, and never be framed. Styles may be inline: plotly.js and Swagger
UI set ``style`` attributes as they draw, and a style cannot run code.

Examples
--------
>>> "script-src 'self'" in CSP and "unsafe-eval" not in CSP
True
>>> HTML_HEADERS["X-Frame-Options"]
'DENY'
"""

from __future__ import annotations

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",  # plotly's "download as PNG" makes a data: URL
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

__all__ = ["CSP", "HTML_HEADERS"]
