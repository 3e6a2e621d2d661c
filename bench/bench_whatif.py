"""Benchmark the what-if preview (sikta run --dry-run, the web model editor) at 100,000 units.

    .venv/bin/python bench/bench_whatif.py [--units 100000] [--repeats 5]

Target: a preview within a second. The workspace is prepared as in
``bench_rerun.py`` (10,000 generated accounts' features replicated in DuckDB
to ``--units`` rows), one run of the starter model is stored, and then, in one
warm process, each edit (a threshold, a weight, a parameter) is previewed
``--repeats`` times against that run; beside it, the same edit as a stored
run (what the analyst would otherwise wait for). Writes
bench/results/whatif_<units>.json and .md (median and max seconds, ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

EDITS = {
    "threshold: potential quantile 0.5 → 0.6": lambda t: t.replace("potential: {quantile: 0.5}",
                                                                   "potential: {quantile: 0.6}"),
    "weight: estimated_wallet 2 → 1": lambda t: t.replace("weight: 2 ", "weight: 1 "),
    "parameter: usage_decline → onboarding_struggle": lambda t: t.replace("name: usage_decline",
                                                                          "name: onboarding_struggle"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    from bench_rerun import AS_OF, prepare

    from sikta.service import runs
    from sikta.service.model import model_from_text, starter_model_text
    from sikta.service.whatif import preview
    from sikta.service.workspace import Workspace

    folder = HERE / "data" / "whatif"
    ws_path = prepare(folder, a.units)
    text = starter_model_text()
    results = {"units": a.units, "target_seconds": 1.0, "repeats": a.repeats,
               "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average": os.getloadavg()}, "edits": {}}
    with Workspace(ws_path) as ws:
        if ws.runs().empty:
            runs.create_run(ws, model_from_text(text), as_of=AS_OF)
        preview(ws, model_from_text(text))  # warm: imports, first compile
        for name, edit in EDITS.items():
            model = model_from_text(edit(text))
            assert model.sha256 != model_from_text(text).sha256, name
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                doc = preview(ws, model)
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            runs.create_run(ws, model, as_of=AS_OF)
            stored = time.perf_counter() - t0
            results["edits"][name] = {"median_seconds": round(statistics.median(times), 3),
                                      "max_seconds": round(max(times), 3), "stored_run_seconds": round(stored, 2),
                                      "ratio_run_to_preview": round(stored / statistics.median(times), 1),
                                      "moved": doc["moved"], "units": doc["units"]}
            print(name, results["edits"][name], flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"whatif_{a.units}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# What-if preview at {a.units:,} units ({results['when']}, {os.cpu_count()} cpus, "
             f"load {results['machine']['load_average'][0]:.1f})", "",
             "Features replicated as in bench_rerun.py; each edit previewed against the stored starter run "
             f"{a.repeats} times in a warm process, beside storing the same edit as a run.", "",
             "| edit | preview median s | preview max s | stored run s | run / preview | moved | target |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["edits"].items():
        lines.append(f"| {name} | {r['median_seconds']} | {r['max_seconds']} | {r['stored_run_seconds']} | "
                     f"{r['ratio_run_to_preview']} | {r['moved']:,} | ≤ 1 s |")
    (out / f"whatif_{a.units}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
