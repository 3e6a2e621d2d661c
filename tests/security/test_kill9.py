"""kill -9 at random points of ingest, features, run and export: the old or the new state, never a mix.

A real ``sikta`` process works on a copy of a workspace and is killed with
SIGKILL after a random delay (from its start to its natural end). The
workspace is then opened again (DuckDB replays its log; staged tables left
behind are discarded) and its state - every table and its row count, the
ingests, feature builds and runs recorded - must equal the state before the
command or the state the command produces when it is left alone.

The fast variant kills each command a few times in ``make test``; ``--long``
kills each 20 times.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sikta.service.model import starter_model_text
from sikta.service.workspace import Workspace

SIKTA = str(Path(sys.executable).parent / "sikta")


def state(path: Path) -> dict:
    """What a workspace holds: every (non-document) table with its row count; run tables numbered in the order
    they were made (a run's table is named after its id, which differs between two runs of the same command)."""
    with Workspace(path) as ws:
        names = [t for t in ws.store.tables() if not t.startswith("_sikta_doc_")]
        runs = sorted(t for t in names if t.startswith("run__"))
        return {(f"run #{runs.index(t)}" if t in runs else t): ws.store.count(ws.store.table(t)) for t in names}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from sikta.synth import generate

    d = tmp_path_factory.mktemp("kill9")
    generate(d / "one", accounts=300, seed=1)
    generate(d / "two", accounts=400, seed=2)
    (d / "model.yaml").write_text(starter_model_text())
    ws = d / "base.duckdb"
    with Workspace(ws) as w:
        w.ingest(d / "one")
        w.run(d / "model.yaml")
    return d, ws


COMMANDS = {
    "ingest": ["ingest", "{d}/two", "--allow-shrink"],
    "features": ["features", "--grain", "ultimate_parent"],
    "run": ["run", "--model", "{d}/model.yaml"],
}


def _argv(name: str, d: Path, ws: Path) -> list[str]:
    return [SIKTA, *(a.replace("{d}", str(d)) for a in COMMANDS[name]), "-w", str(ws)]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst


def _kill_many(base, tmp_path, name: str, times: int, seed: int) -> set[str]:
    d, ws = base
    old = state(ws)
    whole = _copy(ws, tmp_path / "whole.duckdb")
    t0 = time.perf_counter()
    subprocess.run(_argv(name, d, whole), check=True, capture_output=True)
    full = time.perf_counter() - t0
    new = state(whole)
    assert new != old  # the command changes something, so a mix could be seen
    rnd = random.Random(seed)
    outcomes = set()
    for i in range(times):
        target = _copy(ws, tmp_path / f"k{i}.duckdb")
        proc = subprocess.Popen(_argv(name, d, target), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.2 * full, 1.05 * full))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        got = state(target)
        if got == old:
            outcomes.add("old")
        elif got == new:
            outcomes.add("new")
        else:
            added = {t: got[t] for t in got if got.get(t) != old.get(t)}
            pytest.fail(f"{name} killed after a random delay left a mix: {added}")
    return outcomes


@pytest.mark.parametrize("name", list(COMMANDS))
def test_kill9_leaves_old_or_new(base, tmp_path, name):
    assert _kill_many(base, tmp_path, name, times=2, seed=len(name)) <= {"old", "new"}


def _record(name: str, kills: int, outcomes: set[str]) -> None:
    """The long probes' outcomes, one line per command, in bench/results/security_kill9.{json,md}."""
    import json

    out = Path(__file__).resolve().parents[2] / "bench" / "results"
    path = out / "security_kill9.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[name] = {"kills": kills, "outcomes": sorted(outcomes), "mixed": 0}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    lines = ["# kill -9 probes (tests/security/test_kill9.py --long)", "",
             "Each command run on a copy of a workspace and killed with SIGKILL after a random delay; the state "
             "after reopening compared with the state before and after a complete run.", "",
             "| command | kills | states seen | mixed states |", "|---|---:|---|---:|"]
    lines += [f"| {k} | {v['kills']} | {', '.join(v['outcomes'])} | {v['mixed']} |" for k, v in sorted(doc.items())]
    (out / "security_kill9.md").write_text("\n".join(lines) + "\n")


@pytest.mark.long
@pytest.mark.parametrize("name", list(COMMANDS))
def test_kill9_long(base, tmp_path, name):
    outcomes = _kill_many(base, tmp_path, name, times=20, seed=7 * len(name))
    assert "old" in outcomes  # some kills landed before the swap (and none left a mix)
    _record(name, 20, outcomes)


# -- exports: files appear whole or not at all; a write-back table is the old one or the new one ---------------

EXPORTS = {
    "salesforce": ["export", "--to", "salesforce", "--out", "{out}"],
    "to_db": ["export", "--to-db", "{out}/target.duckdb", "--table", "segments"],
}


def _export_state(out: Path) -> dict:
    """Every finished file with its bytes, and the write-back table's row count when there is one."""
    # the manifest names the folder it was written to: the same manifest in another folder is the same
    files = {p.name: p.read_bytes().replace(str(out).encode(), b"<out>") for p in out.glob("*")
             if p.is_file() and p.suffix in (".csv", ".json")}
    target = out / "target.duckdb"
    if target.exists():
        import duckdb

        con = duckdb.connect(str(target))
        try:
            has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'segments'").fetchone()
            files["segments rows"] = con.execute("SELECT count(*) FROM segments").fetchone()[0] if has[0] else None
        finally:
            con.close()
    return files


def _kill_exports(base, tmp_path, name: str, times: int, seed: int) -> set[str]:
    d, ws = base

    def argv(out: Path) -> list[str]:
        return [SIKTA, *(a.replace("{out}", str(out)) for a in EXPORTS[name]), "-w", str(ws)]

    whole = tmp_path / "whole"
    whole.mkdir()
    before = state(ws)
    t0 = time.perf_counter()
    subprocess.run(argv(whole), check=True, capture_output=True)
    full = time.perf_counter() - t0
    done = _export_state(whole)
    assert done and state(ws) == before  # an export writes files, never the workspace
    rnd = random.Random(seed)
    outcomes = set()
    for i in range(times):
        out = tmp_path / f"k{i}"
        out.mkdir()
        proc = subprocess.Popen(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.2 * full, 1.05 * full))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        got = _export_state(out)
        for key, value in got.items():
            if key == "segments rows":
                assert value in (None, done[key]), f"write-back killed mid-way left {value} rows"
            else:
                assert value == done[key], f"{key} is not the whole file after kill -9"
        if "manifest.json" in got:  # written last: a manifest means every file it lists is there
            assert got == done
        outcomes.add("new" if got == done else "partial" if got else "old")
    assert state(ws) == before
    return outcomes


@pytest.mark.parametrize("name", list(EXPORTS))
def test_kill9_export_files_whole_or_absent(base, tmp_path, name):
    assert _kill_exports(base, tmp_path, name, times=2, seed=len(name)) <= {"old", "partial", "new"}


@pytest.mark.long
@pytest.mark.parametrize("name", list(EXPORTS))
def test_kill9_export_long(base, tmp_path, name):
    _record(f"export {name}", 20, _kill_exports(base, tmp_path, name, times=20, seed=11 * len(name)))
