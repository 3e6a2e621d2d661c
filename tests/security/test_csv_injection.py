"""Formula injection: every CSV Sikta writes neutralizes text cells a spreadsheet would run.

Before the fix ``sikta analyze --out`` and admin segment exports kept ``=HYPERLINK(...)`` and
``+cmd|...`` names as they were (only the web UI's download escaped them).
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta.cli import app as cli
from sikta.engine.csvsafe import FORMULA_START
from sikta.service import exports, runs
from sikta.service.model import model_from_text, starter_model_text
from sikta.service.workspace import Workspace
from sikta.synth import generate

SRC = Path(__file__).resolve().parents[2] / "src" / "sikta"
HOSTILE = ['=HYPERLINK("http://evil.example","Click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
           "-2+3+cmd|' /C calc'!A0"]  # (ingest trims a leading tab or CR: see the unit test below)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """300 generated accounts; the six biggest customers renamed to formulas; one run of the starter model."""
    d = tmp_path_factory.mktemp("hostile_csv")
    generate(d / "data", accounts=300, seed=3)  # Parquet: the names arrive exactly as written
    accounts = pd.read_parquet(d / "data" / "accounts.parquet")
    orders = pd.read_parquet(d / "data" / "orders.parquet")
    top = orders.groupby("account_id").amount.sum().sort_values(ascending=False).index[: len(HOSTILE)]
    for name, account in zip(HOSTILE, top, strict=True):
        accounts.loc[accounts.account_id == account, "name"] = name
    accounts.to_parquet(d / "data" / "accounts.parquet", index=False)
    path = d / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(d / "data")
        runs.create_run(ws, model_from_text(starter_model_text()))
        names = set(ws.store.frame(ws.table("accounts").select("name"))["name"])
    assert set(HOSTILE) <= names, "the hostile names must survive the ingest for this test to mean anything"
    return path


def _cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [cell for row in csv.reader(f) for cell in row]


def _check(cells: list[str]) -> int:
    """No cell starts like a formula unless it is a plain number; returns how many hostile names were found."""
    for cell in cells:
        if cell.startswith(FORMULA_START):
            float(cell)  # only a number may start with '-' (or '+'): anything else fails here
    return sum(1 for cell in cells if cell.removeprefix("'") in HOSTILE and cell.startswith("'"))


def test_analyze_out_csvs_are_neutralized(hostile, tmp_path):
    r = CliRunner().invoke(cli, ["analyze", "-w", str(hostile), "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "a").glob("*.csv"))
    assert files
    found = sum(_check(_cells(f)) for f in files)
    assert found >= 1  # the big customers show up in the ranked tables, escaped
    # numbers stay numbers: every numeric column of the Parquet twin reads back as numbers from the CSV
    for f in files:
        twin = pd.read_parquet(f.with_suffix(".parquet"))
        numeric = list(twin.select_dtypes("number").columns)
        back = pd.read_csv(f)
        assert all(pd.api.types.is_numeric_dtype(back[c]) or back[c].isna().all() for c in numeric), f.name
    # the Parquet twins keep the exact names
    parquet = pd.concat([pd.read_parquet(f.with_suffix(".parquet")).astype(str) for f in files])
    assert set(HOSTILE) & set(parquet.to_numpy().ravel())


def test_segment_exports_are_neutralized_and_parquet_is_exact(hostile):
    with Workspace(hostile) as ws:
        e = exports.export_run(ws, "latest", fmt="csv")
        p = exports.export_run(ws, "latest", fmt="parquet")
    cells = _cells(Path(e["path"]))
    in_run = set(HOSTILE) & set(pd.read_parquet(p["path"])["name"])
    assert in_run and _check(cells) == len(in_run)
    frame = pd.read_csv(e["path"])
    assert frame.revenue_12m.dtype.kind == "f" and frame.potential_score.dtype.kind == "f"
    assert frame.revenue_12m.notna().all()


def test_the_web_download_uses_the_same_rule(hostile):
    from fastapi.testclient import TestClient

    from sikta.api import create_app
    from sikta.service import tokens

    with Workspace(hostile) as ws:
        token, _ = tokens.create_token(ws, "viewer")
    app = create_app(hostile)
    with TestClient(app) as c:
        form = c.get("/signin").text
        nonce = form.split('name="csrf" value="')[1].split('"')[0]
        assert c.post("/signin", data={"token": token, "csrf": nonce, "next": "/"}, follow_redirects=False).status_code == 303
        r = c.get("/accounts.csv", follow_redirects=False)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    cells = [cell for row in csv.reader(r.text.splitlines()) for cell in row]
    assert _check(cells) >= 1


def test_tab_and_carriage_return_starts_are_neutralized_too(tmp_path):
    from sikta.engine.csvsafe import write_frame_csv

    write_frame_csv(pd.DataFrame({"id": ["\t=1+1", "\r=1+1", "-12.5", "fine"], "amount": [-12.5, 1.0, 2.0, 3.0]}),
                    tmp_path / "x.csv")
    text = (tmp_path / "x.csv").read_text(encoding="utf-8")
    assert text.splitlines()[1:] == ["'\t=1+1,-12.5", "'", "=1+1,1.0", "'-12.5,2.0", "fine,3.0"] or \
        text.split("\n")[1:5] == ["'\t=1+1,-12.5", "'\r=1+1,1.0", "'-12.5,2.0", "fine,3.0"], text
    # a text column: even '-12.5' is text; a numeric column: numbers as they are


def test_every_csv_writer_goes_through_csvsafe():
    """The one place: no module but engine/csvsafe.py writes CSV itself (the synthetic generator
    writes input files for ingest, not lists for people, and keeps its data exact)."""
    writers = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in ("engine/csvsafe.py", "synth/writer.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("to_csv", "CSVWriter", "writer", "DictWriter"):
                writers.append(f"{rel}:{node.lineno} {node.attr}")
    allowed = {w for w in writers if "service/exports.py" in w}  # to_csv of safe_table(...): checked below
    # the ingest's scratch copy of a user's own file (re-encoded for the engine) must stay exact: it is input
    allowed |= {w for w in writers if "engine/textfiles.py" in w}
    assert set(writers) == allowed, writers
    text = (SRC / "service" / "exports.py").read_text(encoding="utf-8")
    assert "to_csv(safe_table(" in text
    json.dumps(writers)
