"""Benchmark CLV: BG/NBD + Gamma-Gamma on 1M customers, side by side with lifetimes (target ≥ 5× faster).

    .venv/bin/python bench/bench_clv.py [--customers 1000000] [--repeat 3] [--engine S M]

1. **Models.** One million customer summaries are drawn from the CDNOW
   parameters of Fader, Hardie & Lee (r 0.243, α 4.414, a 0.793, b 2.426 per
   week; spend p 6.25, q 3.74, v 15.44) with ages of 1-546 days (up to 78
   weeks) and purchase times on whole days, as the engine delivers them. Each
   library then runs in its own fresh process (imports and data loaded before
   the clock; ours and lifetimes alternate, ``--repeat`` times each, median
   reported): fitting BG/NBD and Gamma-Gamma (the target), then per-customer
   predictions - expected purchases in 52 weeks, P(alive), expected spend and
   a 12-month CLV. Peak RSS is the child process's high-water mark
   (``ru_maxrss``), so imports and the loaded summaries are in it for both.
2. **Engine summaries** (``--engine``): from the orders of a generated
   workspace (``sikta generate`` sizes S and M, ingested once and cached under
   bench/data/clv/), the per-unit summary with holdout columns as one lazy
   query, then the purchase days materialized once and the summary and the
   tracking counts read from them; on S, lifetimes'
   ``calibration_and_holdout_data`` on the same order lines for comparison.

Writes bench/results/clv.json and clv.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "clv"
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}
SIZES = {"S": 10_000, "M": 100_000}
AS_OF = date(2025, 12, 31)
CALIBRATION_END = date(2025, 6, 30)
WEEKS_PER_MONTH = 52 / 12


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------- data
def summaries(customers: int) -> Path:
    """Simulated summaries (frequency, recency, T in weeks on a day grid; mean spend), cached as .npz."""
    from sikta.core.clv import simulate_bgnbd, simulate_spend

    path = DATA / f"summaries_{customers}.npz"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    days = np.random.default_rng(11).integers(1, 547, customers).astype(float)
    x, tx, T = simulate_bgnbd(BGNBD["r"], BGNBD["alpha"] * 7, BGNBD["a"], BGNBD["b"], days, seed=12)
    tx = np.floor(tx)  # purchases happen on whole days
    m = simulate_spend(SPEND["p"], SPEND["q"], SPEND["v"], x, seed=13)
    np.savez(path, frequency=x, recency=tx / 7, T=T / 7, monetary_value=m)
    return path


# --------------------------------------------------------------- children
def child_ours(path: str) -> dict:
    from sikta.core.clv import BetaGeo, GammaGamma, customer_lifetime_value

    d = dict(np.load(path))
    x, tx, T, m = d["frequency"], d["recency"], d["T"], d["monetary_value"]
    base = _rss_mb()
    t0 = time.perf_counter()
    bg = BetaGeo().fit(x, tx, T)
    gg = GammaGamma().fit(x, m)
    fit_s, fit_peak = time.perf_counter() - t0, _peak_mb()
    t1 = time.perf_counter()
    bg.expected_purchases(52, x, tx, T)
    bg.p_alive(x, tx, T)
    spend = gg.expected_spend(x, m)
    customer_lifetime_value(bg, x, tx, T, spend, periods=12, period_length=WEEKS_PER_MONTH, discount_rate=0.01)
    return {
        "fit_s": fit_s, "predict_s": time.perf_counter() - t1, "baseline_rss_mb": base,
        "fit_peak_rss_mb": fit_peak, "peak_rss_mb": _peak_mb(),
        "params": bg.params_ | gg.params_, "log_likelihood": bg.log_likelihood_,
    }


def child_lifetimes(path: str) -> dict:
    import warnings

    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    warnings.simplefilter("ignore")
    d = dict(np.load(path))
    x, tx, T, m = (pd.Series(d[k]) for k in ("frequency", "recency", "T", "monetary_value"))
    base = _rss_mb()
    t0 = time.perf_counter()
    bg = BetaGeoFitter().fit(x, tx, T)
    repeat = x > 0
    gg = GammaGammaFitter().fit(x[repeat], m[repeat])
    fit_s, fit_peak = time.perf_counter() - t0, _peak_mb()
    t1 = time.perf_counter()
    bg.conditional_expected_number_of_purchases_up_to_time(52, x, tx, T)
    bg.conditional_probability_alive(x, tx, T)
    gg.customer_lifetime_value(bg, x, tx, T, m, time=12, discount_rate=0.01, freq="W")  # spend included
    params = {k: float(v) for k, v in bg.params_.items()} | {k: float(v) for k, v in gg.params_.items()}
    ll = -BetaGeoFitter._negative_log_likelihood(
        np.log(bg.params_[["r", "alpha", "a", "b"]].to_numpy()), x.to_numpy(), tx.to_numpy(), T.to_numpy(),
        np.ones(len(x)), 0.0,
    ) * len(x)
    return {
        "fit_s": fit_s, "predict_s": time.perf_counter() - t1, "baseline_rss_mb": base,
        "fit_peak_rss_mb": fit_peak, "peak_rss_mb": _peak_mb(), "params": params, "log_likelihood": float(ll),
    }


def child_engine(ws: str, grain: str) -> dict:
    from sikta.core.clv import TIME_UNITS  # noqa: F401  (warm)
    from sikta.engine.clv_summary import (
        clv_summary,
        daily_transactions,
        first_purchases_by_day,
        repeat_purchases_by_week,
    )
    from sikta.engine.features import unit_map
    from sikta.service import ingest as ing
    from sikta.service.workspace import Workspace

    with Workspace(ws, read_only=True) as w:
        orders, units = w.table("orders"), unit_map(w.store.table(ing.HIERARCHY), grain)
        lines = w.store.count(orders)
        t0 = time.perf_counter()  # one lazy query: order lines → days → units
        s = w.store.frame(
            clv_summary(daily_transactions(orders, units), calibration_end=CALIBRATION_END, observation_end=AS_OF)
        )
        summary_s = time.perf_counter() - t0
        t1 = time.perf_counter()  # the days materialized once, then everything from them
        daily = w.store.create("_bench_clv_daily", daily_transactions(orders, units), temp=True)
        daily_s = time.perf_counter() - t1
        w.store.frame(clv_summary(daily, calibration_end=CALIBRATION_END, observation_end=AS_OF))
        w.store.frame(first_purchases_by_day(daily, calibration_end=CALIBRATION_END))
        w.store.frame(repeat_purchases_by_week(daily, calibration_end=CALIBRATION_END, observation_end=AS_OF))
        all_s = time.perf_counter() - t1
        days = w.store.count(daily)
    return {"summary_s": summary_s, "daily_s": daily_s, "all_from_daily_s": all_s, "units": len(s),
            "order_lines": lines, "purchase_days": days, "peak_rss_mb": _peak_mb()}


def child_engine_lifetimes(ws: str) -> dict:
    import warnings

    from lifetimes.utils import calibration_and_holdout_data

    from sikta.service.workspace import Workspace

    warnings.simplefilter("ignore")
    with Workspace(ws, read_only=True) as w:
        orders = w.store.frame(w.table("orders").select("account_id", "order_date", "amount"))
    base = _rss_mb()
    t0 = time.perf_counter()
    s = calibration_and_holdout_data(
        orders, "account_id", "order_date", calibration_period_end=CALIBRATION_END, observation_period_end=AS_OF,
        freq="D", freq_multiplier=7, monetary_value_col="amount",
    )
    return {"summary_s": time.perf_counter() - t0, "units": len(s), "baseline_rss_mb": base,
            "peak_rss_mb": _peak_mb()}


CHILDREN = {"ours": child_ours, "lifetimes": child_lifetimes, "engine": child_engine,
            "engine_lifetimes": child_engine_lifetimes}


def run_child(step: str, *args: str, blas_threads: int | None = None) -> dict:
    env = dict(os.environ)
    if blas_threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(blas_threads)
    proc = subprocess.run([sys.executable, __file__, "--step", step, *args], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"step {step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def workspace(size: str) -> Path:
    """A generated, ingested workspace of ``size`` (cached)."""
    from sikta.service.workspace import Workspace
    from sikta.synth import generate

    folder = DATA / f"engine_{size}"
    ws = folder / "ws.duckdb"
    if (folder / "ready").exists():
        return ws
    folder.mkdir(parents=True, exist_ok=True)
    ws.unlink(missing_ok=True)
    generate(folder / "data", accounts=SIZES[size], seed=7)
    with Workspace(ws) as w:
        w.ingest(folder / "data")
    (folder / "ready").write_text("ok")
    return ws


# --------------------------------------------------------------- driver
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem / 2**20, 1), "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()[0]}


def models(customers: int, repeat: int, blas_threads: int | None = None) -> dict:
    path = str(summaries(customers))
    runs: dict[str, list[dict]] = {"ours": [], "lifetimes": []}
    for i in range(repeat):
        for lib in runs:
            r = run_child(lib, path, blas_threads=blas_threads)
            runs[lib].append(r)
            print(f"  {lib:<10} run {i + 1}: fit {r['fit_s']:6.2f} s  predict {r['predict_s']:6.2f} s  "
                  f"peak RSS {r['peak_rss_mb']:6.0f} MB", flush=True)
    out = {}
    for lib, rs in runs.items():
        out[lib] = {
            "fit_s": round(statistics.median(r["fit_s"] for r in rs), 3),
            "fit_s_min": round(min(r["fit_s"] for r in rs), 3),
            "predict_s": round(statistics.median(r["predict_s"] for r in rs), 3),
            "fit_peak_rss_mb": round(max(r["fit_peak_rss_mb"] for r in rs), 1),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs), 1),
            "baseline_rss_mb": round(statistics.median(r["baseline_rss_mb"] for r in rs), 1),
            "params": rs[0]["params"],
            "log_likelihood": round(rs[0]["log_likelihood"], 4),
        }
    ours, theirs = out["ours"], out["lifetimes"]
    out["speedup_fit"] = round(theirs["fit_s"] / ours["fit_s"], 1)
    out["speedup_fit_and_predict"] = round(
        (theirs["fit_s"] + theirs["predict_s"]) / (ours["fit_s"] + ours["predict_s"]), 1)
    out["max_param_rel_diff"] = float(max(
        abs(ours["params"][k] - theirs["params"][k]) / abs(theirs["params"][k]) for k in theirs["params"]))
    return out


def engine(sizes: list[str]) -> dict:
    out = {}
    for size in sizes:
        ws = str(workspace(size))
        row = {"ours": run_child("engine", ws, "account")}
        e = row["ours"]
        print(f"  engine {size}: summary {e['summary_s']:.2f} s; days {e['daily_s']:.2f} s + summary and tracking "
              f"from them {e['all_from_daily_s'] - e['daily_s']:.2f} s ({e['order_lines']:,} order lines, "
              f"{e['purchase_days']:,} purchase days, {e['units']:,} units)", flush=True)
        if size == "S":
            row["lifetimes"] = run_child("engine_lifetimes", ws)
            row["speedup"] = round(row["lifetimes"]["summary_s"] / row["ours"]["summary_s"], 1)
            print(f"  lifetimes {size}: summary {row['lifetimes']['summary_s']:.2f} s", flush=True)
        out[size] = row
    return out


def write(results: dict) -> None:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "clv.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    mach = results["machine"]
    lines = [
        f"# CLV benchmark: BG/NBD + Gamma-Gamma on {results['customers']:,} customers",
        "",
        f"{results['when']}; {mach['cpus']} CPUs ({mach['cpu']}), {mach['memory_gb']} GB, Python {mach['python']}; "
        f"load average {mach['load_average_at_start']:.1f} at the start (the machine is shared). "
        f"Median of {results['repeat']} runs per library, each in a fresh process. Summaries simulated from "
        f"FHL's CDNOW parameters, ages 1-546 days on a day grid (`bench/bench_clv.py`).",
        "",
        "| BLAS threads | library | fit s (min) | predict s | peak RSS after fit MB | peak RSS MB | "
        "RSS before the clock MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in (("models", "default (2)"), ("models_one_blas_thread", "1")):
        m = results[key]
        for lib, name in (("ours", "sikta.core.clv"), ("lifetimes", "lifetimes 0.11.3")):
            r = m[lib]
            lines.append(f"| {label} | {name} | {r['fit_s']} ({r['fit_s_min']}) | {r['predict_s']} | "
                         f"{r['fit_peak_rss_mb']} | {r['peak_rss_mb']} | {r['baseline_rss_mb']} |")
    for key, label in (("models", "Default threads"), ("models_one_blas_thread", "One BLAS thread")):
        m = results[key]
        lines += ["", f"{label}: fit **{m['speedup_fit']}× faster** (target ≥ 5×); fit + predictions "
                  f"{m['speedup_fit_and_predict']}×; largest relative parameter difference to lifetimes "
                  f"{m['max_param_rel_diff']:.1e}; log-likelihood {m['ours']['log_likelihood']} (ours) vs "
                  f"{m['lifetimes']['log_likelihood']} (lifetimes)."]
    lines += ["", "Predictions: expected purchases in 52 weeks, P(alive), expected spend and a 12-month discounted "
              "CLV per customer. Our optimizer always runs L-BFGS-B on one BLAS thread (see `core/clv/_base.py`)."]
    if results.get("engine"):
        lines += ["", "## Engine summaries", "",
                  "| size | order lines | purchase days | units | summary s (one query) | days s | "
                  "summary + tracking from the days s | peak RSS MB | lifetimes summary s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for size, row in results["engine"].items():
            e = row["ours"]
            life = f"{row['lifetimes']['summary_s']:.2f} ({row['speedup']}× slower)" if "lifetimes" in row else "-"
            lines.append(f"| {size} | {e['order_lines']:,} | {e['purchase_days']:,} | {e['units']:,} | "
                         f"{e['summary_s']:.2f} | {e['daily_s']:.2f} | {e['all_from_daily_s'] - e['daily_s']:.2f} | "
                         f"{e['peak_rss_mb']:.0f} | {life} |")
        lines += ["", f"Calibration to {CALIBRATION_END}, holdout to {AS_OF}, grain account, weeks."]
    (out / "clv.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'clv.md'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", nargs="*", choices=list(SIZES), default=list(SIZES))
    ap.add_argument("--step", nargs="+")
    a = ap.parse_args()
    if a.step:
        result = CHILDREN[a.step[0]](*a.step[1:])
        print(json.dumps(result, default=float))
        return
    results = {"customers": a.customers, "repeat": a.repeat, "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": machine(), "bgnbd_truth": BGNBD, "spend_truth": SPEND}
    print(f"models on {a.customers:,} simulated customers")
    results["models"] = models(a.customers, a.repeat)
    print("again with one BLAS thread per process (both libraries)")
    results["models_one_blas_thread"] = models(a.customers, a.repeat, blas_threads=1)
    if a.engine:
        print("engine summaries")
        results["engine"] = engine(a.engine)
    write(results)


if __name__ == "__main__":
    main()
