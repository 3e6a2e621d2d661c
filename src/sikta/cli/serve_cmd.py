"""``sikta serve`` (the REST API and web UI) and ``sikta token`` (who may use them).

While a server runs, the CLI's reads work as usual (the server holds the
workspace read-only between its own writes) and ``token create|revoke``
go through the server (:mod:`sikta.service.serving`, :mod:`sikta.cli.remote`).
"""

from __future__ import annotations

import ipaddress
import signal
import sys
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sikta.cli import remote
from sikta.cli.app import JsonOpt, WorkspaceOpt, _json, _open, app, out
from sikta.cli.errors import handles_errors
from sikta.errors import UsageError, WorkspaceError
from sikta.service import serving
from sikta.service.locations import default_workspace

token_app = typer.Typer(help="Create, list and revoke API tokens (the workspace keeps only their hashes).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")
err = Console(stderr=True, highlight=False)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: critical, error, warning, info, debug.")] = "info",
    threads: Annotated[int | None, typer.Option(help="Worker threads for requests (default: two per CPU).", min=1)] = None,
    webhook_retry_hours: Annotated[float, typer.Option(
        help="How long an undelivered webhook event is tried again (backoff doubling from 10 s to 1 h).",
        min=0.0)] = 24.0,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the REST API (docs at /docs) and web UI over the workspace, until Ctrl-C."""
    import uvicorn

    from sikta.api import accesslog, create_app
    from sikta.api.deps import new_local_secret
    from sikta.service import tokens

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise UsageError(f"--log-level {log_level!r} is not one of critical, error, warning, info, debug")
    path = workspace or default_workspace()
    other = serving.running_server(path)
    if other is not None:
        raise WorkspaceError(f"workspace {path} is already served by {serving.describe(other)}")
    with _open(workspace) as ws:  # fail fast with the CLI's message when the file is missing or locked
        active = tokens.list_tokens(ws, include_revoked=False)
        path = ws.path
    if not active:
        err.print("[yellow]no active tokens[/]: every request but /api/v1/health will get 401 until you run "
                  f"'sikta token create --role admin -w {path}' (it works while the server runs).")
    if not _loopback(host):
        err.print(f"[yellow]listening on {host}[/]: tokens travel in clear text; put a TLS proxy in front.")
    secret = new_local_secret()
    app_ = create_app(path, threads=threads, local_secret=secret,
                      webhook_options={"period": webhook_retry_hours * 3600})
    # uvicorn stops gracefully on SIGTERM, then raises the signal again under the handler it found
    # when it started; with the default one the process died there, before any finally, and left
    # its server file behind. Under this handler the signal unwinds to the cleanup instead.
    terminated = False
    main_thread = threading.current_thread() is threading.main_thread()  # signal.signal works there only
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        serving.write_server_file(path, url=serving.local_url(host, port), secret=secret)
        out.print(f"serving {path} on http://{host}:{port} (API docs: http://{host}:{port}/docs)")
        uvicorn.run(app_, host=host, port=port, log_level=log_level, log_config=accesslog.log_config())
    except _Terminated:
        terminated = True
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        serving.remove_server_file(path)  # only if it still names this process
    if terminated:
        # end as a SIGTERM'd process does (status 143 to a shell, -15 to a supervisor), now under the
        # previous handler; a death by signal skips Python's own flush of buffered output
        sys.stdout.flush()
        sys.stderr.flush()
        signal.raise_signal(signal.SIGTERM)


class _Terminated(BaseException):
    """SIGTERM reached ``sikta serve``: not an error, so no handler of ``Exception`` may take it."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _tokens_table(rows: list[dict]) -> Table:
    t = Table()
    for c in ("token", "name", "role", "created", "revoked"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["token_id"], r["name"] or "", r["role"], str(r["created_at"])[:19],
                  str(r["revoked_at"])[:19] if r["revoked_at"] else "")
    return t


@token_app.command("create")
@handles_errors
def token_create(
    role: Annotated[str, typer.Option(help="viewer (reads), analyst (also runs models) or admin (also tokens, exports).")],
    name: Annotated[str | None, typer.Option(help="Who or what the token is for.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token and print it once; only its hash is stored (through the server when one runs)."""
    from sikta.service import tokens

    server = serving.running_server(workspace or default_workspace())
    if server is not None:
        created = remote.call(server, "POST", "/api/v1/tokens", json_body={"role": role, "name": name})
        token, info = created.pop("token"), created
    else:
        with _open(workspace, write=True) as ws:
            token, info = tokens.create_token(ws, role, name)
    if as_json:
        _json({**info, "token": token})
        return
    out.print(f"token {info['token_id']} ({info['role']}{', ' + info['name'] if info['name'] else ''}):")
    out.print(token, markup=False)
    out.print("[dim]copy it now: it is not shown again. Use it as 'Authorization: Bearer <token>'.[/]")


@token_app.command("list")
@handles_errors
def token_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List tokens (id, name, role, created, revoked); never the tokens themselves."""
    from sikta.service import tokens

    with _open(workspace) as ws:
        rows = tokens.list_tokens(ws)
    if as_json:
        _json(rows)
        return
    if not rows:
        out.print("no tokens yet: 'sikta token create --role admin'")
        return
    out.print(_tokens_table(rows))


@token_app.command("revoke")
@handles_errors
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token id (tok_...), from 'sikta token list'.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: from now on it gets 401 (through the server when one runs, which sees it at once)."""
    from sikta.service import tokens

    server = serving.running_server(workspace or default_workspace())
    if server is not None:
        info = remote.call(server, "DELETE", f"/api/v1/tokens/{token_id}")
    else:
        with _open(workspace, write=True) as ws:
            info = tokens.revoke_token(ws, token_id)
    if as_json:
        _json(info)
        return
    out.print(f"revoked {info['token_id']} ({info['role']}) as of {str(info['revoked_at'])[:19]}")
