"""Docs that cannot drift: every command is in the README, generated docs are current."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from sikta.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented_in_the_readme(command):
    assert re.search(rf"`sikta {command}\b", README), f"README has no row for 'sikta {command}'"


def _leaves(group, prefix=""):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _leaves(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_the_readme_says_which_commands_take_workspace_and_json():
    import typer.main

    # what the README promises ("Every command that reads or writes a workspace takes --workspace ...")
    writes_files = {"generate", "model init"}
    assert "`generate` and `model init` write files and need no workspace" in README
    for name, cmd in _leaves(typer.main.get_command(app)):
        options = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if name not in writes_files:
            assert "--workspace" in options, f"sikta {name} has no --workspace"
        if name not in {"model init", "serve"}:
            assert "--json" in options, f"sikta {name} has no --json"


def test_readme_shows_the_two_commands():
    assert "make demo" in README and "make test" in README


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(("name", "builder"), [("contract.md", "contract_md"), ("features.md", "features_md")])
def test_generated_docs_are_current(name, builder):
    expected = getattr(_gen_docs(), builder)()
    assert (REPO / "docs" / name).read_text(encoding="utf-8") == expected, (
        f"docs/{name} is stale: run .venv/bin/python scripts/gen_docs.py"
    )


def test_model_docs_name_every_builtin_and_function():
    from sikta.engine.expressions import FUNCTIONS
    from sikta.engine.wallet import BUILTINS

    doc = (REPO / "docs" / "model.md").read_text(encoding="utf-8")
    missing = [f"`{n}`" for n in [*BUILTINS, *FUNCTIONS] if f"`{n}" not in doc]
    assert not missing, f"docs/model.md does not document {missing}"
