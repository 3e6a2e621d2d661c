"""Fixtures of the web tests: one generated workspace per session, copied per module, and tokens.

The base workspace (600 generated accounts, seed 7, ingested and run once with
the starter model, one token per role) is built once; each module that
changes it works on a copy of the file, so the page tests and the browser
tests never see each other's runs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from sikta.service import runs, tokens
from sikta.service.model import model_from_text, starter_model_text
from sikta.service.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


@dataclass(frozen=True)
class Base:
    """The session's generated workspace file and one plaintext token per role."""

    path: Path
    tokens: dict[str, str]
    first_run: str

    def copy(self, folder: Path) -> Path:
        """A private copy of the workspace file in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "ws.duckdb"
        shutil.copyfile(self.path, target)
        return target


def second_model_text() -> str:
    """The starter model with a stricter potential threshold (so some accounts change group)."""
    text = starter_model_text()
    changed = text.replace("potential: {quantile: 0.5}", "potential: {quantile: 0.6}")
    changed = changed.replace("version: 1", "version: 2")
    assert changed != text, "the starter model changed: update second_model_text()"
    return changed


@pytest.fixture(scope="session")
def web_base(tmp_path_factory) -> Base:
    """600 accounts (seed 7), ingested, one run of the starter model, a viewer, analyst and admin token."""
    from sikta.synth import generate

    d = tmp_path_factory.mktemp("web_base")
    generate(d / "data", accounts=600, seed=7)
    path = d / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(d / "data")
        summary = runs.create_run(ws, model_from_text(starter_model_text(), source="starter.yaml"))
        plain = {role: tokens.create_token(ws, role, name=f"test {role}")[0] for role in tokens.ROLES}
    return Base(path, plain, summary.run_id)
