"""A real, throwaway PostgreSQL server for the write-back tests: not a mock.

``scripts/ensure_postgres.sh`` (run by ``make test``) installs Debian's
server binaries when they are missing; this module starts one server per test
session in a temporary folder (``initdb``, then ``pg_ctl start`` on a free
loopback port with its socket in the same folder) and stops it and removes the
folder afterwards. ``initdb`` refuses to run as root, so as root the server
runs as the ``postgres`` user the Debian package creates (or a system user
made for it); as anyone else it runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SERVER_USER = "postgres"
FALLBACK_USER = "sikta-pg"
DATABASE = "postgres"
ROLE = "sikta"


class PostgresUnavailable(RuntimeError):
    """The server binaries are not installed (run ``make test`` or scripts/ensure_postgres.sh)."""


def server_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not found:
        raise PostgresUnavailable("PostgreSQL's server binaries are not installed: run 'make test' "
                                  "(or scripts/ensure_postgres.sh) once, which installs them with apt-get")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as_user() -> str | None:
    """The user the server runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in (SERVER_USER, FALLBACK_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER],
                   check=True, capture_output=True)
    return FALLBACK_USER


class PostgresServer:
    """``start()`` a private server; ``url`` connects as a superuser; ``stop()`` ends it and removes its files."""

    def __init__(self) -> None:
        self.bin = server_bin()
        self.user = _run_as_user()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="sikta-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _cmd(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}\n{log}")
        return out

    def start(self) -> PostgresServer:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        self._cmd(self.bin / "initdb", "-D", self.data, "-U", ROLE, "--auth=trust", "--encoding=UTF8",
                  "--no-locale", "--no-sync")
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB")
        self._cmd(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        try:
            if self.started:
                self._cmd(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
