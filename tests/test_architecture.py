"""Layers import downward only: core ← engine/synth ← service ← cli/api/web.

A module may import from its own layer or any layer below; ``sikta.errors``
and the package root are importable from everywhere. ``core`` is pure maths:
no Ibis, no DuckDB.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sikta"
LAYER = {"core": 1, "engine": 2, "synth": 2, "service": 3, "cli": 4, "api": 4, "web": 4}
ANYWHERE = {"sikta", "sikta.errors"}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        yield path, rel.parts[0] if len(rel.parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "sikta" or module in ANYWHERE:
        return None
    return LAYER.get(parts[1], 0) if len(parts) > 1 else None


@pytest.mark.parametrize(("path", "package"), list(_modules()), ids=lambda v: str(v).split("sikta/")[-1])
def test_imports_go_downward(path, package):
    if package is None:
        return  # top-level modules (errors, __init__) import nothing from the layers eagerly
    own = LAYER[package]
    upward = [
        f"{path.name}:{line} imports {mod}"
        for line, mod in _imports(path)
        if (layer := _layer_of(mod)) is not None and layer > own
    ]
    assert not upward, upward


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert packages <= set(LAYER), packages - set(LAYER)


def test_core_is_engine_free():
    for path in (SRC / "core").rglob("*.py"):
        heavy = [m for _, m in _imports(path) if m.split(".")[0] in {"ibis", "duckdb", "pyspark"}]
        assert not heavy, f"{path.name} imports {heavy}"


def test_the_rule_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sikta.service.workspace import Workspace\n")
    assert [_layer_of(m) for _, m in _imports(bad)] == [3]
