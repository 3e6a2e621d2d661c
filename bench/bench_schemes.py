"""Benchmark the stability-chosen clustering behind the needs and behavioral schemes.

    .venv/bin/python bench/bench_schemes.py --units 100000

Planted clusters in 6 columns (like the six need items); for each algorithm the
StableClusterer (k searched over 2..8 with 20 bootstrap fits each, on a 2,000-row
sample, then the chosen k fitted on all rows) is timed beside a single plain fit of
the same algorithm at the right k on all rows - the floor any k-choosing method
pays. Writes bench/results/schemes_<units>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from sikta.core.clustering import StableClusterer

HERE = Path(__file__).resolve().parent


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.uniform(1, 5, (5, 6))
    y = rng.integers(0, 5, n)
    return centers[y] + rng.normal(0, 0.6, (n, 6)), y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=100_000)
    a = ap.parse_args()
    X, y = data(a.units)
    rows = []
    for algorithm in ("kmeans", "gaussian"):
        t0 = time.perf_counter()
        sc = StableClusterer(algorithm=algorithm).fit(X)
        stable = time.perf_counter() - t0
        t0 = time.perf_counter()
        Z = (X - X.mean(0)) / X.std(0)
        if algorithm == "kmeans":
            KMeans(5, n_init=10, random_state=0).fit(Z)
        else:
            GaussianMixture(5, covariance_type="tied", n_init=3, random_state=0).fit(Z)
        single = time.perf_counter() - t0
        rows.append({"algorithm": algorithm, "stable_seconds": round(stable, 2), "single_fit_seconds": round(single, 2),
                     "ratio": round(stable / single, 2), "k": sc.n_clusters_,
                     "ari_vs_planted": round(adjusted_rand_score(y, sc.labels_), 3)})
        print(rows[-1], flush=True)
    out = {"units": a.units, "when": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_1min": round(os.getloadavg()[0], 2)}, "results": rows}
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    (res / f"schemes_{a.units}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# Stability-chosen clustering, {a.units:,} units × 6 columns", "",
             f"{out['when']}, {os.cpu_count()} CPUs, load {out['machine']['load_1min']}", "",
             "| algorithm | StableClusterer (s) | one fit at the right k (s) | ratio | k chosen | ARI vs planted |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['algorithm']} | {r['stable_seconds']} | {r['single_fit_seconds']} | {r['ratio']} | {r['k']} | "
              f"{r['ari_vs_planted']} |" for r in rows]
    (res / f"schemes_{a.units}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
