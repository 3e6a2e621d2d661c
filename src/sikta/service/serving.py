"""How the CLI and a running ``sikta serve`` share one workspace.

DuckDB lets many processes read a workspace file at once, or one process
write it alone. The server therefore keeps the file open read-only and takes
it for writing only while it writes (:meth:`sikta.api.deps.AppState.writing`);
CLI commands that read open it read-only too and wait up to
:func:`lock_wait` seconds while somebody writes.

A CLI command that must write cannot get the file while the server reads it.
So the server leaves a *server file* beside the workspace
(``<workspace>.server.json``, readable by its owner only) with its process id,
its URL and a secret that the server accepts as an admin for as long as it
runs. ``sikta token create|revoke`` and ``sikta run`` send their write to the
server with it (the server sees the change at once: a revoked token gets 401
on its next request); any other write (``ingest``, ``features``, a command
that needs a feature build) says in one line to stop the server first.

Examples
--------
>>> from pathlib import Path
>>> server_file(Path("/data/ws.duckdb"))
PosixPath('/data/ws.duckdb.server.json')
>>> local_url("0.0.0.0", 8000), local_url("::", 8000), local_url("10.1.2.3", 80)
('http://127.0.0.1:8000', 'http://[::1]:8000', 'http://10.1.2.3:80')
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sikta import __version__
from sikta.errors import UsageError

SUFFIX = ".server.json"


def lock_wait() -> float:
    """Seconds to wait for a workspace another process holds: ``$SIKTA_LOCK_WAIT`` or 30."""
    raw = os.environ.get("SIKTA_LOCK_WAIT", "30")
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise UsageError(f"SIKTA_LOCK_WAIT={raw!r} is not a number of seconds") from None


def server_file(workspace_path: str | Path) -> Path:
    """The server file of a workspace: ``<workspace>.server.json`` beside it."""
    p = Path(workspace_path)
    return p.with_name(p.name + SUFFIX)


def local_url(host: str, port: int) -> str:
    """The URL a CLI on this machine reaches a server listening on ``host`` with."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    except OSError:
        return False
    return True


def write_server_file(workspace_path: str | Path, *, url: str, secret: str) -> Path:
    """Announce this process as the workspace's server (owner-only file, written atomically)."""
    path = server_file(workspace_path)
    doc = {"pid": os.getpid(), "url": url, "workspace": str(Path(workspace_path).resolve()), "secret": secret,
           "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "sikta_version": __version__}
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(partial, path)
    return path


def running_server(workspace_path: str | Path) -> dict[str, Any] | None:
    """The live server of a workspace (``pid``, ``url``, ``secret`` ...), or None.

    A file left by a server that died (its process is gone) counts as none.
    """
    path = server_file(workspace_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        pid = int(doc["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not _alive(pid):
        return None
    return doc


def remove_server_file(workspace_path: str | Path) -> None:
    """Remove this process's server file (someone else's stays)."""
    path = server_file(workspace_path)
    try:
        if int(json.loads(path.read_text(encoding="utf-8"))["pid"]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def describe(server: dict[str, Any]) -> str:
    """``sikta serve (pid 123, http://127.0.0.1:8000)``, for messages."""
    return f"'sikta serve' (pid {server['pid']}, {server['url']})"


__all__ = ["SUFFIX", "lock_wait", "server_file", "local_url", "write_server_file", "running_server",
           "remove_server_file", "describe"]
