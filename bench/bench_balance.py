"""Benchmark book balancing at 100k accounts × ~100 owners (target: under a minute).

    .venv/bin/python bench/bench_balance.py [--accounts 100000]

Each scenario runs in a fresh process (its peak RSS is its own) on
generated books: revenue log-normal (heavy-tailed), workload from ticket
and interaction counts and company size as in
:func:`sikta.core.coverage.workload_weight`, current owners drawn unevenly
(a Dirichlet share per owner, so some owners start over capacity), 5 %
without an owner, 2 % with an owner who left and, where a role change is
simulated, 3 % with an owner of another role. Only :func:`balance_books` is
timed. Writes bench/results/balance.json and .md with seconds, peak RSS and
what the answer achieved (balanced, largest deviations, moves, keep share).
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
TARGET_SECONDS = 60
# role, share of the accounts, owners, capacity in accounts per owner
THREE_ROLES = (("strategic", 0.01, 10, 130), ("dedicated", 0.19, 40, 560), ("pooled", 0.80, 50, 1800))
SCENARIOS = {
    "3 roles, 100 owners, keep 0.8, tolerance ±5 %": {"roles": THREE_ROLES, "keep": 0.8, "tol": 0.05},
    "3 roles, 100 owners, keep 0.8, tolerance ±10 %": {"roles": THREE_ROLES, "keep": 0.8, "tol": 0.10},
    "3 roles, 100 owners, keep 0.5, tolerance ±2 %": {"roles": THREE_ROLES, "keep": 0.5, "tol": 0.02},
    "1 role, 100 owners, keep 0.8, tolerance ±5 %": {"roles": (("csm", 1.0, 100, 1100),), "keep": 0.8, "tol": 0.05},
}


def books(n: int, roles, seed: int = 0):
    """Accounts and owners as balance_books wants them."""
    import numpy as np
    import pandas as pd

    from sikta.core.coverage import workload_weight

    rng = np.random.default_rng(seed)
    acc, own = [], []
    all_ids = [f"{r[:3]}{j}" for r, _, m, _ in roles for j in range(m)]
    for role, frac, m, cap in roles:
        k = int(round(n * frac))
        ids = [f"{role[:3]}{j}" for j in range(m)]
        own.append(pd.DataFrame({"owner_id": ids, "role": role, "capacity_accounts": cap,
                                 "capacity_workload": cap * 2.5}))
        units = pd.DataFrame({"tickets_12m": rng.poisson(6, k), "interactions_12m": rng.poisson(10, k),
                              "employees": rng.lognormal(4, 1.5, k)})
        cur = rng.choice(ids, size=k, p=rng.dirichlet(np.full(m, 3.0))).astype(object)
        u = rng.random(k)
        cur[u < 0.05] = None
        cur[(u >= 0.05) & (u < 0.07)] = "left-the-company"
        if len(roles) > 1:
            other = [i for i in all_ids if i not in ids]
            swap = (u >= 0.07) & (u < 0.10)
            cur[swap] = rng.choice(other, size=int(swap.sum()))
        acc.append(pd.DataFrame({"unit_id": [f"{role}-{i}" for i in range(k)], "role": role,
                                 "revenue": rng.lognormal(8, 1.2, k), "workload": workload_weight(units),
                                 "current_owner": cur}))
    return pd.concat(acc, ignore_index=True), pd.concat(own, ignore_index=True)


def child(name: str, accounts: int) -> None:
    from sikta.core.balance import balance_books

    sc = SCENARIOS[name]
    acc, own = books(accounts, sc["roles"])
    t0 = time.perf_counter()
    r = balance_books(acc, own, keep_owners=sc["keep"], tolerance=sc["tol"])
    seconds = time.perf_counter() - t0
    s = r.summary
    print(json.dumps({
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "accounts": len(acc), "owners": len(own), "balanced": s["balanced"], "optimal": s["optimal"],
        "max_revenue_deviation": max(abs(x["max_revenue_deviation"]) for x in r.roles),
        "max_workload_deviation": max(abs(x["max_workload_deviation"]) for x in r.roles),
        "moved": s["moved"], "moved_by_reason": s["moved_by_reason"], "keep_share": round(s["keep_share"], 4),
        "unassigned": s["unassigned"], "problems": s["problems"],
        "roles": {x["role"]: {k: x[k] for k in ("accounts", "owners", "method", "classes", "large_accounts",
                                                 "split_accounts", "fractional_accounts", "lp_tolerance_factor")}
                  for x in r.roles},
    }))


def machine() -> dict:
    import scipy

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None)
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_mb": mem, "python": platform.python_version(),
            "scipy": scipy.__version__, "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "note": "shared with other workers: timings include their noise"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--step")
    a = ap.parse_args()
    if a.step:
        child(a.step, a.accounts)
        return
    results = {"accounts": a.accounts, "target_seconds": TARGET_SECONDS,
               "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "scenarios": {}}
    for name in SCENARIOS:
        proc = subprocess.run([sys.executable, __file__, "--step", name, "--accounts", str(a.accounts)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results["scenarios"][name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results["scenarios"][name]
        print(f"{name:<50} {r['seconds']:7.2f} s  {r['peak_rss_mb']:7.0f} MB  balanced={r['balanced']}", flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "balance.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    lines = [
        f"# Book balancing at {a.accounts:,} accounts",
        "",
        f"{results['when']}; {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_mb']:,} MB RAM, Python {m['python']}, "
        f"scipy {m['scipy']} (HiGHS); load average at start {m['load_average_at_start']} (machine shared with "
        "other workers). Each scenario in a fresh process; only `balance_books` is timed.",
        "",
        "| scenario | seconds | peak RSS MB | balanced | max rev. dev. | max work. dev. | moved | kept share | target |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["scenarios"].items():
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | {'yes' if r['balanced'] else 'no'} | "
            f"{r['max_revenue_deviation']:.2%} | {r['max_workload_deviation']:.2%} | {r['moved']:,} | "
            f"{r['keep_share']:.1%} | < {TARGET_SECONDS} s |"
        )
    reasons = sorted({k for r in results["scenarios"].values() for k in r["moved_by_reason"]})
    lines += ["", "Moves by reason (accounts without a valid current owner count as moves too):", "",
              "| scenario | " + " | ".join(reasons) + " |", "|---|" + "---:|" * len(reasons)]
    for name, r in results["scenarios"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r['moved_by_reason'].get(k, 0):,}" for k in reasons) + " |")
    problems = [p for r in results["scenarios"].values() for p in r["problems"]]
    if problems:
        lines += ["", "Targets not met:", ""] + [f"- {p}" for p in problems]
    (out / "balance.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
