"""The feature build on DuckDB and on Spark (local mode) at a small size: what the spark engine costs.

    .venv/bin/python bench/bench_engines.py [--accounts 2000] [--repeats 2] [--master local[2]]

One process generates ``--accounts`` synthetic accounts, ingests them and builds the default
account-grain features ``--repeats`` times on each engine (``Workspace.build_features``, so the
timings include what a user waits for: the distinct-value queries, the build, storing the result).
The first Spark build also pays for starting the session and exporting the Parquet snapshot; those
are timed on their own. The result tables are compared (same units, same revenue). Writes
bench/results/engines.json and .md. This is a measurement of overhead at a size DuckDB handles in
about a second, not a claim that Spark is fast: it is there for data that outgrows one machine.
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
sys.path.insert(0, str(HERE.parent / "src"))


def _timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - started, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--master", default="local[2]")
    a = ap.parse_args()
    os.environ["SIKTA_SPARK_MASTER"] = a.master

    from sikta.engine import spark
    from sikta.service import engines
    from sikta.service.workspace import Workspace
    from sikta.synth import generate

    folder = HERE / "data" / f"engines_{a.accounts}"
    ws_path = folder / "ws.duckdb"
    if not ws_path.exists():
        generate(folder / "data", accounts=a.accounts, seed=5)
        with Workspace(ws_path) as ws:
            ws.ingest(folder / "data")
    results: dict = {
        "accounts": a.accounts, "repeats": a.repeats, "master": a.master,
        "spark_conf": os.environ.get("SIKTA_SPARK_CONF", ""),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
    }
    with Workspace(ws_path) as ws:
        results["order_lines"] = ws.store.count(ws.store.table("orders"))
        ws.build_features("account", engine="duckdb")  # warm: imports, first compile
        duck = [_timed(lambda: ws.build_features("account", engine="duckdb"))[1] for _ in range(a.repeats)]
        duck_total = ws.store.frame(ws.store.table("features_account").aggregate(
            units=lambda t: t.count(), revenue=lambda t: t.revenue_12m.sum())).iloc[0]
        _, start = _timed(lambda: engines.inputs(ws, "spark"))  # export the snapshot, start the session
        first = _timed(lambda: ws.build_features("account", engine="spark"))[1]
        warm = [_timed(lambda: ws.build_features("account", engine="spark"))[1] for _ in range(a.repeats)]
        spark_total = ws.store.frame(ws.store.table("features_account").aggregate(
            units=lambda t: t.count(), revenue=lambda t: t.revenue_12m.sum())).iloc[0]
    spark.stop()
    results["duckdb"] = {"median_s": statistics.median(duck), "runs_s": duck}
    results["spark"] = {"session_and_snapshot_s": start, "first_build_s": first,
                        "median_s": statistics.median(warm), "runs_s": warm}
    results["same_result"] = bool(int(duck_total["units"]) == int(spark_total["units"])
                                  and abs(float(duck_total["revenue"]) - float(spark_total["revenue"]))
                                  <= 1e-9 * abs(float(duck_total["revenue"])))
    results["ratio_warm"] = round(results["spark"]["median_s"] / max(results["duckdb"]["median_s"], 1e-9), 1)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "engines.json").write_text(json.dumps(results, indent=2) + "\n")
    d, s = results["duckdb"], results["spark"]
    md = [
        f"# Feature build: DuckDB vs Spark ({a.master}) at {a.accounts:,} accounts",
        "",
        f"{results['order_lines']:,} order lines; account grain, default build; {a.repeats} timed builds per engine "
        f"after a warm-up; {results['when']}, {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in results['machine']['load_average'])}"
        + (f"; SIKTA_SPARK_CONF={results['spark_conf']}" if results["spark_conf"] else "") + ".",
        "",
        "| | seconds |",
        "|---|---:|",
        f"| DuckDB build (median) | {d['median_s']:.2f} |",
        f"| Spark: start the session and export the Parquet snapshot | {s['session_and_snapshot_s']:.2f} |",
        f"| Spark: first build (JIT cold) | {s['first_build_s']:.2f} |",
        f"| Spark build, warm (median) | {s['median_s']:.2f} |",
        "",
        f"Spark warm / DuckDB: {results['ratio_warm']}×. Same units and revenue on both: "
        f"{'yes' if results['same_result'] else 'NO'}.",
        "",
        "At this size Spark's fixed costs (a JVM, ~50 stages per build, each scheduled on its own) dominate;",
        "the spark engine is for transactions that outgrow one machine, not for speed here.",
        "",
    ]
    (out / "engines.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
