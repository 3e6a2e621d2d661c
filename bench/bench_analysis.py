"""Benchmark the customer analysis, part by part, on a workspace from bench_foundation.py.

    .venv/bin/python bench/bench_foundation.py --size M     # builds bench/data/M/ws.duckdb first
    .venv/bin/python bench/bench_analysis.py --size M

Each part runs in its own process (imports warmed before the clock), so its peak RSS
is its own; features are built once beforehand and reused by every part, as in
`sikta analyze`. Writes bench/results/analysis_<size>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("features", "pareto", "flow", "outflow", "whitespace", "reactivation", "best")


def child(part: str, ws_path: str, as_of: str) -> None:
    from sikta.service.workspace import Workspace

    with Workspace(ws_path) as ws:
        a = ws.analyze(as_of=as_of)
        t0 = time.perf_counter()
        if part == "features":
            rows = ws.build_features("account", as_of).units
        else:
            result = getattr(a, part)()
            rows = len(result) if hasattr(result, "__len__") else 1
        seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mb": round(peak, 1), "rows": rows}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="M")
    ap.add_argument("--as-of", default="2025-12-31")
    ap.add_argument("--step", nargs=3)
    a = ap.parse_args()
    if a.step:
        child(*a.step)
        return
    ws = HERE / "data" / a.size / "ws.duckdb"
    if not ws.exists():
        raise SystemExit(f"{ws} is missing: run bench/bench_foundation.py --size {a.size} first")
    results = {"size": a.size, "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "parts": {}}
    for part in PARTS:
        proc = subprocess.run([sys.executable, __file__, "--step", part, str(ws), a.as_of], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{part} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results["parts"][part] = r
        print(f"  {part:<14} {r['seconds']:8.2f} s   peak RSS {r['peak_rss_mb']:7.0f} MB   rows {r['rows']:,}", flush=True)
    total = sum(r["seconds"] for r in results["parts"].values())
    results["total_s"] = round(total, 2)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"analysis_{a.size}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# Analysis benchmark, size {a.size}", "", f"{results['when']}, {results['machine']['cpus']} CPUs", "",
             "| part | seconds | peak RSS MB | rows |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['seconds']:.2f} | {v['peak_rss_mb']:.0f} | {v['rows']:,} |" for k, v in results["parts"].items()]
    lines.append(f"\ntotal (features built once + every part): **{total:.1f} s**")
    (out / f"analysis_{a.size}.md").write_text("\n".join(lines) + "\n")
    print(f"total {total:.1f} s; wrote {out / f'analysis_{a.size}.json'}")


if __name__ == "__main__":
    main()
