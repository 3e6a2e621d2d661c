"""The benchmark suite's harness works (bench/run.py at the smallest size): each stage is measured as a process,
the hand-written SQL agrees with the feature build unit by unit, and the ratios are computed. Speed itself is
measured in bench/, never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_the_suite_measures_every_stage_and_its_ratios(tmp_path):
    stages = "ingest,copy,features,hand_sql,analysis,run"
    r = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--size", "XS", "--stages", stages,
                        "--data", str(tmp_path / "data"), "--results", str(tmp_path / "results")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((tmp_path / "results" / "XS.json").read_text())
    assert doc["accounts"] == 1_000
    for name in ("generate", "ingest", "copy", "features", "hand_sql", "analysis", "run"):
        assert doc["stages"][name]["seconds"] > 0 and doc["stages"][name]["peak_mb"] > 0, name
    # the hand-written SQL computed the same features (the harness stops when a unit disagrees)
    assert doc["stages"]["hand_sql"]["output"]["units_disagreeing"] == 0
    # the floor under the ingest copied the same exports: every row DuckDB alone reads, Sikta read
    copied = doc["stages"]["copy"]["output"]["rows"]
    assert {t: n["rows_in"] for t, n in doc["stages"]["ingest"]["output"]["tables"].items()} == copied
    assert "truth" not in copied and copied["orders"] > 1000
    ratios = doc["ratios"]
    assert ratios["features_over_hand_sql"] > 0 and ratios["sikta_peak_mb"] > 0
    assert ratios["ingest_over_copy"] == round(doc["stages"]["ingest"]["seconds"] / doc["stages"]["copy"]["seconds"], 2)
    total = sum(doc["stages"][s]["seconds"] for s in ("ingest", "features", "analysis", "run"))  # not the copy
    assert abs(ratios["sikta_end_to_end_s"] - total) < 0.11
    md = (tmp_path / "results" / "XS.md").read_text()
    assert "| features_over_hand_sql |" in md and "| ingest |" in md
    assert not (REPO / "bench" / "results" / "XS.json").exists()  # a smoke run never touches the committed results


def test_the_csv_stages_ingest_every_line_duckdb_reads(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--size", "XS", "--stages", "ingest_csv,csv_copy",
                        "--data", str(tmp_path / "data"), "--results", str(tmp_path / "results")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((tmp_path / "results" / "XS.json").read_text())
    copied = doc["stages"]["csv_copy"]["output"]["rows"]
    ingested = doc["stages"]["ingest_csv"]["output"]["tables"]
    assert set(copied) == set(ingested) and copied["orders"] > 1000
    # every line DuckDB alone reads from each CSV is a row Sikta read: loaded or quarantined
    assert {t: n["rows_in"] for t, n in ingested.items()} == copied
    assert doc["ratios"]["ingest_csv_over_csv_copy"] > 0
    bad = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--size", "XS", "--stages", "ingest,typo",
                          "--data", str(tmp_path / "data"), "--results", str(tmp_path / "results")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown stage(s): typo" in bad.stderr


def test_a_stage_printing_more_than_a_pipe_buffer_does_not_hang_the_harness():
    # `analyze --json` at size S prints more than 64 KB: a harness polling a pipe it never reads waits forever
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import run as bench_run
    finally:
        sys.path.remove(str(REPO / "bench"))
    cmd = [sys.executable, "-c", "import json; print('x' * 300_000); print(json.dumps({'n': 3}))"]
    result = bench_run.measure(cmd, timeout=60)
    assert result["output"] == {"n": 3}
    assert result["seconds"] < 60
