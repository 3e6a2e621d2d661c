"""The CLI's way into a running ``sikta serve``: its writes go through the server's REST API.

While a server holds the workspace, ``sikta token create|revoke`` and ``sikta
run`` call the server (the address and the secret are in the server file beside
the workspace: :mod:`sikta.service.serving`). Errors come back as the same
Sikta exceptions a local call raises, so the CLI says the same one line.

Examples
--------
>>> error_from(404, {"error": {"type": "NotFoundError", "message": "no token 'tok_x'"}}).__class__.__name__
'NotFoundError'
>>> error_from(422, {"error": {"type": "ValidationError", "message": "bad"}}).__class__.__name__
'UsageError'
"""

from __future__ import annotations

import json
import time
from typing import Any

from sikta import errors
from sikta.errors import SiktaError, UsageError, WorkspaceError
from sikta.service.serving import describe

#: how long the CLI waits for one answer of the server (a run is polled, not waited for)
TIMEOUT = 60.0


def error_from(status: int, body: Any) -> SiktaError:
    """The Sikta exception an error answer of the API stands for."""
    detail = body.get("error", {}) if isinstance(body, dict) else {}
    message = str(detail.get("message") or f"HTTP {status}")
    cls = getattr(errors, str(detail.get("type")), None)
    if isinstance(cls, type) and issubclass(cls, SiktaError):
        return cls(message)
    if status in (401, 403):
        return WorkspaceError(f"the server refused the CLI ({message}): it may have restarted; run the command again")
    return UsageError(message) if status in (400, 405, 413, 415, 422) else WorkspaceError(message)


def call(server: dict[str, Any], method: str, path: str, *, json_body: Any = None, text: str | None = None,
         query: dict[str, Any] | None = None, timeout: float = TIMEOUT) -> Any:
    """One request to the server as its local admin; the answer's JSON, or the error raised."""
    # imported here: urllib.request brings http.client, email and ssl (~40 ms), and every
    # command's start-up (even --help) would pay it for the rare call to a running server
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    url = server["url"].rstrip("/") + path + ("?" + urlencode({k: v for k, v in query.items() if v is not None})
                                               if query else "")
    headers = {"Authorization": f"Bearer {server['secret']}", "Accept": "application/json"}
    data = None
    if json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode("utf-8"), "application/json"
    elif text is not None:
        data, headers["Content-Type"] = text.encode("utf-8"), "application/yaml"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - the server file's own URL
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"null")
        except ValueError:
            body = None
        raise error_from(exc.code, body) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WorkspaceError(f"{describe(server)} holds the workspace but does not answer ({reason}): "
                             "if it has stopped, run the command again") from None


def run_job(server: dict[str, Any], model_text: str, *, as_of: str | None = None, poll: float = 0.3) -> dict[str, Any]:
    """Start a run on the server and wait for it; returns the finished run's metadata."""
    job = call(server, "POST", "/api/v1/runs", text=model_text, query={"as_of": as_of})
    while job["status"] in ("queued", "running"):
        time.sleep(poll)
        job = call(server, "GET", f"/api/v1/jobs/{job['job_id']}")
    if job["status"] != "done":
        error = job.get("error") or {}
        raise error_from(500, {"error": error}) if error.get("type") in dir(errors) else WorkspaceError(
            f"the run failed on the server: {error.get('message', 'see its log')}")
    return {**call(server, "GET", f"/api/v1/runs/{job['run_id']}"), "webhooks": job.get("webhooks", [])}


__all__ = ["TIMEOUT", "call", "error_from", "run_job"]
