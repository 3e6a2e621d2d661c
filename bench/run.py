"""The benchmark suite: every stage as the user runs it, side by side with what they would do instead.

    .venv/bin/python bench/run.py --size S                # 10k accounts / ~1M order lines
    .venv/bin/python bench/run.py --size M                # 100k / ~10M, with the notebook baseline
    .venv/bin/python bench/run.py --size L --stages ingest,features,run
    make bench                                            # S and M

Each stage is one ``sikta`` process (start-up included), timed from outside with
its peak RSS (the process and its children, polled every 20 ms). The generated
data is cached in ``bench/data/<size>`` (git-ignored). Baselines run in the same
invocation, so ratios compare like with like on the machine as it is:

* ``copy`` - DuckDB alone copying the same Parquet exports into a database file, no
  checks (bench/baselines/bare_copy.py): the floor under the ingest; ratio ingest / copy;
* ``hand_sql`` - hand-written DuckDB SQL for the heavy part of the feature build
  (bench/bench_foundation.py); ratio features / hand_sql (target ≤ 1.3);
* ``notebook`` - what an analyst would write instead: pandas RFM + ``lifetimes``
  summaries, BG/NBD, Gamma-Gamma and CLV from the same orders (target: Sikta's
  ingest + features + clv at least 10× faster, with at most a quarter of the memory);
* ``clv_fit`` - ``lifetimes`` alone against Sikta's CLV fit at 1M customers
  (bench/bench_clv.py; target ≥ 5×).

Writes ``bench/results/<size>.json`` and ``<size>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
COPY = HERE / "baselines" / "bare_copy.py"
REPO = HERE.parent
SIZES = {"XS": 1_000, "S": 10_000, "M": 100_000, "L": 1_000_000}
PY = sys.executable
SIKTA = str(Path(PY).parent / "sikta")
STAGES = ("generate", "ingest", "copy", "features", "hand_sql", "analysis", "clv", "run", "schemes", "report", "notebook")
SIKTA_STAGES = ("ingest", "features", "analysis", "clv", "run", "schemes", "report")
#: asked for by name only: the exports as CSV (what most CRMs give), ingested and copied by DuckDB alone
CSV_STAGES = ("ingest_csv", "csv_copy")


def measure(cmd: list[str], env: dict | None = None, timeout: float = 1800.0) -> dict:
    """Wall time and peak RSS (process tree) of one command; its last stdout line if it is JSON.

    Output goes to temporary files, not pipes: a command printing more than a pipe buffer (64 KB,
    e.g. ``analyze --json``) would block on a pipe nobody reads while this loop polls it.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True,
                                env={**os.environ, **(env or {})})
        ps = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                proc.wait()
                raise SystemExit(f"{' '.join(cmd[:3])} took over {timeout:.0f} s: stopped")
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{err[-3000:]}")
    result = {"seconds": round(wall, 2), "peak_mb": round(peak / 2**20, 0)}
    text = out.strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            doc = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(doc, dict):
            result["output"] = doc
            break
    return result


def warm(path: Path) -> bool:
    """Read ``path`` once so the next stage finds it in the page cache (skipped beyond half the memory).

    The feature build and the hand-written SQL read the same workspace; without this the first of
    them would read it from disk and the second from memory, and their ratio would measure the cache.
    """
    if not path.exists() or path.stat().st_size > psutil.virtual_memory().total // 2:
        return False
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass
    return True


def _has_command(name: str) -> bool:
    out = subprocess.run([SIKTA, name, "--help"], capture_output=True, text=True)
    return out.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=SIZES, default="S")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, from {', '.join(STAGES)}; also {', '.join(CSV_STAGES)}, clv_fit")
    ap.add_argument("--as-of", default=None, help="as-of date for the features (default: the data's)")
    ap.add_argument("--data", type=Path, default=HERE / "data", help="where generated data is cached (per size)")
    ap.add_argument("--results", type=Path, default=HERE / "results", help="where <size>.json and .md are written")
    a = ap.parse_args()
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    if unknown := set(stages) - {*STAGES, *CSV_STAGES, "clv_fit"}:
        raise SystemExit(f"unknown stage(s): {', '.join(sorted(unknown))}")
    accounts = SIZES[a.size]
    base = a.data / a.size
    data, ws = base / "exports", base / "ws.duckdb"
    model = base / "model.yaml"
    base.mkdir(parents=True, exist_ok=True)
    res: dict = {"size": a.size, "accounts": accounts, "when": datetime.now(UTC).isoformat(timespec="seconds"),
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "memory_gb": round(psutil.virtual_memory().total / 2**30), "load": os.getloadavg()},
                 "stages": {}, "notes": []}
    st = res["stages"]

    def stage(name: str, cmd: list[str]) -> None:
        st[name] = measure(cmd)
        print(f"  {name:<12} {st[name]['seconds']:8.2f} s   peak {st[name]['peak_mb']:7.0f} MB", flush=True)

    print(f"size {a.size}: {accounts:,} accounts -> {base}")
    marker = data / ".complete"
    if "generate" in stages or not marker.exists():
        if marker.exists():
            res["notes"].append("generate: cached data reused")
        else:
            stage("generate", [SIKTA, "generate", "--accounts", str(accounts), "--seed", "7", "--out", str(data)])
            marker.write_text("ok\n")
    if "ingest" in stages:
        for p in (ws, Path(f"{ws}.wal")):
            p.unlink(missing_ok=True)
        stage("ingest", [SIKTA, "ingest", str(data), "-w", str(ws), "--json"])
    if "copy" in stages:
        # the floor under the ingest: DuckDB alone copying the same Parquet files into a database file
        stage("copy", [PY, str(COPY), str(data), str(base / "copy.duckdb")])
        (base / "copy.duckdb").unlink(missing_ok=True)
    features_cmd = [SIKTA, "features", "--grain", "account", "-w", str(ws), "--json"]
    if a.as_of:
        features_cmd += ["--as-of", a.as_of]
    if "features" in stages and "hand_sql" in stages:
        warmed = warm(ws)
        res["notes"].append("features and hand_sql: the workspace file was read into the page cache before each"
                            if warmed else "features and hand_sql: workspace larger than half the memory, not pre-read")
    if "features" in stages:
        stage("features", features_cmd)
        as_of = st["features"].get("output", {}).get("as_of", a.as_of)
    else:
        as_of = a.as_of
    if "hand_sql" in stages and as_of:
        warm(ws)
        st["hand_sql"] = measure([PY, str(HERE / "bench_foundation.py"), "--step", "hand_sql", str(ws), "account", as_of])
        print(f"  {'hand_sql':<12} {st['hand_sql']['seconds']:8.2f} s (whole process)", flush=True)
        inner = st["hand_sql"].get("output", {})
        if inner.get("units_disagreeing"):
            raise SystemExit(f"hand-written SQL disagrees with the features on {inner['units_disagreeing']} units")
    if "analysis" in stages:
        stage("analysis", [SIKTA, "analyze", "-w", str(ws), "--json"])
    if "clv" in stages:
        if _has_command("clv"):
            stage("clv", [SIKTA, "clv", "-w", str(ws), "--json"])
        else:
            res["notes"].append("clv: no 'sikta clv' command in this version")
    if "run" in stages or "schemes" in stages or "report" in stages:
        subprocess.run([SIKTA, "model", "init", "--out", str(model), "--force"], check=True, capture_output=True)
    run_cmd = [SIKTA, "run", "--model", str(model), "-w", str(ws), "--json"]
    if "run" in stages:
        stage("run", run_cmd)
    elif "schemes" in stages:
        subprocess.run(run_cmd, check=True, capture_output=True)  # diagnose judges a run's schemes: untimed
    if "schemes" in stages:
        # the run scores the model's schemes; diagnose judges them (sizes, distinctiveness, stability, verdict)
        stage("schemes", [SIKTA, "diagnose", "-w", str(ws), "--json"])
    if "report" in stages:
        stage("report", [SIKTA, "report", "-w", str(ws), "--out", str(base / "report.html")])
    if set(CSV_STAGES) & set(stages):
        csv_dir = _csv_exports(data, base / "exports_csv")
        if "ingest_csv" in stages:
            csv_ws = base / "ws_csv.duckdb"
            for p in (csv_ws, Path(f"{csv_ws}.wal")):
                p.unlink(missing_ok=True)
            stage("ingest_csv", [SIKTA, "ingest", str(csv_dir), "-w", str(csv_ws), "--json"])
            csv_ws.unlink(missing_ok=True)
        if "csv_copy" in stages:
            stage("csv_copy", [PY, str(COPY), str(csv_dir), str(base / "csv_copy.duckdb")])
            (base / "csv_copy.duckdb").unlink(missing_ok=True)
    if "notebook" in stages:
        st["notebook"] = measure([PY, str(HERE / "baselines" / "notebook.py"), str(data)])
        print(f"  {'notebook':<12} {st['notebook']['seconds']:8.2f} s   peak {st['notebook']['peak_mb']:7.0f} MB", flush=True)
    if "clv_fit" in stages:
        st["clv_fit"] = measure([PY, str(HERE / "bench_clv.py")])
    _ratios(res)
    _write(res, a.results)


def _csv_exports(data: Path, out: Path) -> Path:
    """The generated exports written once as CSV files (cached beside them)."""
    import duckdb

    marker = out / ".complete"
    if not marker.exists():
        out.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        for f in sorted(data.glob("*.parquet")):
            if f.stem != "truth":  # the generator's answer key, not an export
                con.execute(f"COPY (SELECT * FROM read_parquet('{f}')) TO '{out / (f.stem + '.csv')}' (HEADER)")
        marker.write_text("ok\n")
    return out


def _ratios(res: dict) -> None:
    st, r = res["stages"], {}
    if "features" in st and "hand_sql" in st and "output" in st["hand_sql"]:
        # the feature build's own time (the CLI reports it) against the SQL's own time: start-up excluded on both
        inner = st["hand_sql"]["output"].get("seconds")
        mine = st["features"].get("output", {}).get("seconds")
        if inner and mine:
            r["features_over_hand_sql"] = round(mine / inner, 2)
    if "ingest" in st and "copy" in st:
        r["ingest_over_copy"] = round(st["ingest"]["seconds"] / st["copy"]["seconds"], 2)
    if "ingest_csv" in st and "csv_copy" in st:
        r["ingest_csv_over_csv_copy"] = round(st["ingest_csv"]["seconds"] / st["csv_copy"]["seconds"], 2)
    sikta_total = sum(st[s]["seconds"] for s in SIKTA_STAGES if s in st)
    if sikta_total:
        r["sikta_end_to_end_s"] = round(sikta_total, 1)
        r["sikta_peak_mb"] = max(st[s]["peak_mb"] for s in SIKTA_STAGES if s in st)
    if "notebook" in st:
        ours = sum(st[s]["seconds"] for s in ("ingest", "features", "clv") if s in st)
        if ours:
            r["notebook_over_sikta"] = round(st["notebook"]["seconds"] / ours, 2)
            r["sikta_memory_share_of_notebook"] = round(
                max(st[s]["peak_mb"] for s in ("ingest", "features", "clv") if s in st) / st["notebook"]["peak_mb"], 2)
    res["ratios"] = r


def _write(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    size = res["size"]
    (out / f"{size}.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    m = res["machine"]
    lines = [f"# Benchmark suite, size {size} ({res['accounts']:,} accounts)", "",
             f"{res['when']}; {m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, load average at start "
             f"{m['load'][0]:.1f}. Each stage is a whole `sikta` process (start-up included); peak RSS of its "
             "process tree.", "", "| stage | seconds | peak MB |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['seconds']:.2f} | {v['peak_mb']:.0f} |" for k, v in res["stages"].items()]
    lines += ["", "| ratio | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in res["ratios"].items()]
    if res["notes"]:
        lines += ["", *(f"- {n}" for n in res["notes"])]
    (out / f"{size}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
