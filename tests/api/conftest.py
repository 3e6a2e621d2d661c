"""A small workspace with two runs, built once, and an app over a private copy per module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sikta.api import create_app
from sikta.service import runs, tokens
from sikta.service.model import model_from_text, starter_model_text
from sikta.service.workspace import Workspace
from sikta.synth import generate

#: the second run raises the potential threshold, so some accounts change group
SECOND_MODEL = starter_model_text().replace("potential: {quantile: 0.5}", "potential: {quantile: 0.7}")


@pytest.fixture(scope="session")
def base_workspace(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("api_base")
    generate(d / "data", accounts=600, seed=7, lines_per_account=25, years=2)
    path = d / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(d / "data")
        runs.create_run(ws, model_from_text(starter_model_text()))
        runs.create_run(ws, model_from_text(SECOND_MODEL))
    return path


class Api:
    """An app over a private copy of the base workspace, with one token per role."""

    def __init__(self, path: Path) -> None:
        self.app = create_app(path, webhook_options={"backoff": 0.05, "max_interval": 0.2, "period": 30.0,
                                                          "timeout": 2.0})
        self.client = TestClient(self.app)
        self.path = path
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        with self.writing() as ws:
            for role in tokens.ROLES:
                self.tokens[role], info = tokens.create_token(ws, role, name=f"test {role}")
                self.ids[role] = info["token_id"]
            self.tokens["revoked"], info = tokens.create_token(ws, "admin", name="revoked")
            tokens.revoke_token(ws, info["token_id"])

    @property
    def ws(self) -> Workspace:
        """The app's workspace: read-only, except inside :meth:`writing`."""
        return self.app.state.sikta.ws

    @contextmanager
    def writing(self) -> Iterator[Workspace]:
        """The app's workspace opened for writing (as the app does for its own writes), lock held."""
        st = self.app.state.sikta
        with st.writing(), st.lock:
            yield st.ws

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        """Read the workspace directly (under the app's lock), as an independent reference."""
        with self.app.state.sikta.lock:
            return self.ws.store.raw.execute(query, params or []).fetchall()

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, url: str, role: str = "viewer", **kw):
        return self.client.get(url, headers=self.headers(role), **kw)

    def close(self) -> None:
        self.app.state.jobs.close()
        self.app.state.sikta.close()


@pytest.fixture(scope="module")
def api(base_workspace, tmp_path_factory) -> Iterator[Api]:
    d = tmp_path_factory.mktemp("api")
    shutil.copy(base_workspace, d / "ws.duckdb")
    a = Api(d / "ws.duckdb")
    yield a
    a.close()
