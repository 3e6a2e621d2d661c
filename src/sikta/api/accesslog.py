"""Access-log settings for ``sikta serve``: uvicorn's, with tokens taken out.

The API refuses a token sent in the query string, but uvicorn writes every
request line, query included, to its access log before anyone looks at it;
a 401 there would still leave a live token in the log. :class:`RedactTokens`
rewrites the record on the ``uvicorn.access`` logger itself, so every handler
and formatter (uvicorn's, or one a deployment adds) sees the redacted line.

Examples
--------
>>> redact("/api/v1/runs?limit=5&Token=sk_abc&x=1")
'/api/v1/runs?limit=5&Token=<redacted>&x=1'
>>> redact("/api/v1/runs?q=sk_local_abc-_9")
'/api/v1/runs?q=<redacted>'
>>> redact("/api/v1/runs?api%5Fkey=whatever;access_token=t")
'/api/v1/runs?api%5Fkey=<redacted>;access_token=<redacted>'
>>> redact("/x/sk_abc?sort=risk_share&q=%22sk%5Fabc%22")
'/x/<redacted>?sort=risk_share&q=%22<redacted>'
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote

SECRET_PARAMS = frozenset({"token", "access_token", "api_key"})
REDACTED = "<redacted>"

# a name=value pair of a query string; the name is compared once percent-decoded, since
# "tok%65n" reaches the application as "token" just the same
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s]*)")
# what a Sikta token looks like (sk_ + token_urlsafe; the server's own secret is sk_local_...),
# also with the underscore percent-encoded, wherever it stands: path, other parameters, fragment;
# not inside a word ("risk_share" is a column name), but right after a percent-encoded character
_TOKEN = re.compile(r"(?:(?<![A-Za-z0-9_])|(?<=%[0-9A-Fa-f]{2}))sk(?:_|%5[fF])[A-Za-z0-9_%-]+")


def redact(text: str) -> str:
    """``text`` with secret query parameters' values and every token-looking string replaced."""
    def param(m: re.Match[str]) -> str:
        if unquote(m["name"]).lower() in SECRET_PARAMS:
            return f"{m['lead']}{m['name']}={REDACTED}"
        return m[0]

    return _TOKEN.sub(REDACTED, _PARAM.sub(param, text))


class RedactTokens(logging.Filter):
    """Take tokens out of access-log records (their message and every string argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with :class:`RedactTokens` on ``uvicorn.access``."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    access = config["loggers"].setdefault("uvicorn.access", {})
    access["filters"] = [*access.get("filters", []), "redact_tokens"]
    return config


__all__ = ["SECRET_PARAMS", "REDACTED", "redact", "RedactTokens", "log_config"]
