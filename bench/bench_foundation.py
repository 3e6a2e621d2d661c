"""Benchmark the foundation: generate, ingest, features, next to hand-written DuckDB SQL.

    .venv/bin/python bench/bench_foundation.py --size S      # 10k accounts / ~1M order lines
    .venv/bin/python bench/bench_foundation.py --size M      # 100k / ~10M
    .venv/bin/python bench/bench_foundation.py --size L --only generate   # 1M / ~100M, generator only

Each step runs in its own process, so its peak RSS (DuckDB included) is its own.
Writes bench/results/foundation_<size>.json and .md. The hand-written SQL covers
the heavy part of the feature build (orders with per-product-line sums,
subscriptions, usage, tickets, interactions aggregated per account and rolled up
to the unit); the Ibis build does all of that and more (surveys, firmographic
fallbacks, status, lifecycle, storing the table). The order aggregates are the same columns
(window and previous revenue, credit notes, margin, frequency and its two halves for
frequency_trend, products bought, first and last order, per-line sums), each compared
with the feature table before any time is reported.
Times are measured inside each process after imports. The SQL result is
checked against the Ibis result before any time is reported.
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
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"XS": 2_000, "S": 10_000, "M": 100_000, "L": 1_000_000}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------- steps (child side)
def step_generate(data: Path, accounts: int) -> dict:
    from sikta.synth import generate

    summary = generate(data, accounts=accounts, seed=7)
    return {"rows": summary.rows}


def step_ingest(data: Path, ws: Path) -> dict:
    from sikta.service.workspace import Workspace

    ws.unlink(missing_ok=True)
    with Workspace(ws) as w:
        report = w.ingest(data)
    return {"rows_in": {k: r.rows_in for k, r in report.tables.items()},
            "quarantined": sum(r.quarantined for r in report.tables.values())}


def step_features(ws: Path, grain: str, as_of: str) -> dict:
    from sikta.service.workspace import Workspace

    with Workspace(ws) as w:
        build = w.build_features(grain, as_of)
    return {"units": build.units}


HAND_SQL = """
WITH u AS (SELECT account_id, {unit} AS unit_id FROM _sikta_hierarchy),
o AS (
  SELECT account_id,
    SUM(amount) FILTER (WHERE order_date > DATE '{start}') AS order_revenue_12m,
    SUM(amount) FILTER (WHERE order_date > DATE '{prev}' AND order_date <= DATE '{start}') AS order_revenue_prev_12m,
    SUM(-amount) FILTER (WHERE order_date > DATE '{start}' AND amount < 0) AS credit_notes_12m,
    COUNT(DISTINCT order_id) FILTER (WHERE order_date > DATE '{start}' AND amount > 0) AS frequency_12m,
    COUNT(DISTINCT order_id) FILTER (WHERE amount > 0) AS orders_lifetime,
    COUNT(DISTINCT order_id) FILTER (WHERE order_date > DATE '{start}' AND order_date <= DATE '{mid}' AND amount > 0)
      AS orders_h1,
    COUNT(DISTINCT order_id) FILTER (WHERE order_date > DATE '{mid}' AND amount > 0) AS orders_h2,
    COUNT(DISTINCT product_id) FILTER (WHERE order_date > DATE '{start}' AND amount > 0) AS products_12m,
    COUNT(order_id) FILTER (WHERE order_date > DATE '{start}' AND amount > 0) AS lines_12m,
    COUNT(order_id) FILTER (WHERE amount > 0) AS lines_lifetime,
    MAX(order_date) FILTER (WHERE amount > 0) AS last_order_date,
    MIN(order_date) FILTER (WHERE amount > 0) AS first_order_date,
    SUM(amount - cost) FILTER (WHERE order_date > DATE '{start}' AND cost IS NOT NULL) AS margin_12m,
    SUM(amount) FILTER (WHERE order_date > DATE '{start}' AND cost IS NOT NULL) AS costed_12m,
    SUM(amount) AS revenue_lifetime{line_sums}
  FROM (SELECT o.*, COALESCE(o.product_line, p.product_line) AS line FROM orders o
        LEFT JOIN (SELECT product_id, MIN(product_line) AS product_line FROM products GROUP BY product_id) p
        USING (product_id)) WHERE order_date <= DATE '{as_of}' GROUP BY account_id),
s AS (
  SELECT account_id,
    SUM(mrr * GREATEST(0, date_diff('day', GREATEST(start_date, DATE '{start}' + 1),
        LEAST(COALESCE(end_date, DATE '{as_of}' + 1), DATE '{as_of}' + 1)))) / (365.25 / 12) AS subscription_revenue_12m,
    SUM(mrr) FILTER (WHERE start_date <= DATE '{as_of}' AND (end_date IS NULL OR end_date > DATE '{as_of}')) AS mrr,
    SUM(seats) FILTER (WHERE start_date <= DATE '{as_of}' AND (end_date IS NULL OR end_date > DATE '{as_of}')) AS seats
  FROM subscriptions WHERE start_date <= DATE '{as_of}' GROUP BY account_id),
g AS (
  SELECT account_id,
    SUM(events) FILTER (WHERE date > DATE '{as_of}' - 90) AS usage_events_90d,
    SUM(events) FILTER (WHERE date > DATE '{as_of}' - 180 AND date <= DATE '{as_of}' - 90) AS usage_events_prev_90d
  FROM usage WHERE date <= DATE '{as_of}' GROUP BY account_id),
t AS (
  SELECT account_id,
    COUNT(*) FILTER (WHERE opened_at >= DATE '{start}' + 1) AS tickets_12m,
    AVG(csat) FILTER (WHERE opened_at >= DATE '{start}' + 1) AS avg_csat_12m
  FROM tickets WHERE opened_at < DATE '{as_of}' + 1 GROUP BY account_id),
i AS (
  SELECT account_id, COUNT(*) FILTER (WHERE date > DATE '{start}') AS interactions_12m
  FROM interactions WHERE date <= DATE '{as_of}' GROUP BY account_id)
SELECT u.unit_id,
  COALESCE(SUM(o.order_revenue_12m), 0) + COALESCE(SUM(s.subscription_revenue_12m), 0) AS revenue_12m,
  SUM(o.order_revenue_prev_12m) AS order_revenue_prev_12m, SUM(o.credit_notes_12m) AS credit_notes_12m,
  SUM(o.frequency_12m) AS frequency_12m, SUM(o.orders_lifetime) AS orders_lifetime,
  (SUM(o.orders_h2) - SUM(o.orders_h1)) / NULLIF(SUM(o.orders_h1) + SUM(o.orders_h2), 0) AS frequency_trend,
  SUM(o.products_12m) AS products_12m, SUM(o.lines_12m) AS lines_12m, SUM(o.lines_lifetime) AS lines_lifetime,
  MAX(o.last_order_date) AS last_order_date, MIN(o.first_order_date) AS first_order_date,
  SUM(o.margin_12m) / NULLIF(SUM(o.costed_12m), 0) AS gross_margin_12m, SUM(o.revenue_lifetime) AS revenue_lifetime,
  SUM(s.mrr) AS mrr, SUM(s.seats) AS seats, SUM(g.usage_events_90d) AS usage_events_90d,
  SUM(g.usage_events_prev_90d) AS usage_events_prev_90d, SUM(t.tickets_12m) AS tickets_12m,
  SUM(i.interactions_12m) AS interactions_12m{line_rollup}
FROM u LEFT JOIN o USING (account_id) LEFT JOIN s USING (account_id) LEFT JOIN g USING (account_id)
  LEFT JOIN t USING (account_id) LEFT JOIN i USING (account_id)
GROUP BY u.unit_id
"""


def step_hand_sql(ws: Path, grain: str, as_of: str) -> dict:
    import duckdb

    d = date.fromisoformat(as_of)
    start = date(d.year - 1, d.month, min(d.day, 28 if d.month == 2 else d.day))
    prev = date(d.year - 2, d.month, start.day)
    mid = start + (d - start) / 2  # the window's halves, as frequency_trend splits it (whole days)
    unit = {"ultimate_parent": "ultimate_parent_id", "account": "account_unit_id", "department": "account_id"}[grain]
    con = duckdb.connect(str(ws), read_only=True, config={"memory_limit": os.environ.get("SIKTA_MEMORY_LIMIT", "4GB")})
    # One revenue column pair per product line the feature build knows: lines of orders and subscriptions
    # up to the as-of date and of the catalog (sikta.engine.features.dims_queries), not only those ordered.
    have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    sources = [f"SELECT product_line FROM {t}" + (f" WHERE {c} <= DATE '{as_of}'" if c else "")
               for t, c in (("orders", "order_date"), ("subscriptions", "start_date"), ("products", "")) if t in have]
    lines = [r[0] for r in con.execute(" UNION ".join(sources) + " ORDER BY 1").fetchall() if r[0] is not None]
    line_sums = "".join(
        f",\n    SUM(amount) FILTER (WHERE order_date > DATE '{start}' AND line = '{ln}') AS r12_{i},"
        f" SUM(amount) FILTER (WHERE line = '{ln}') AS lf_{i}" for i, ln in enumerate(lines))
    line_rollup = "".join(f", SUM(o.r12_{i}) AS r12_{i}, SUM(o.lf_{i}) AS lf_{i}" for i in range(len(lines)))
    sql = HAND_SQL.format(unit=unit, start=start, mid=mid, prev=prev, as_of=as_of, line_sums=line_sums, line_rollup=line_rollup)
    con.execute(f"CREATE TEMP TABLE hand AS {sql}")
    n, rev = con.execute("SELECT count(*), sum(revenue_12m) FROM hand").fetchone()
    ibis_rev = con.execute(f"SELECT sum(revenue_12m) FROM features_{grain}").fetchone()[0]
    diff = con.execute(
        f"SELECT count(*) FROM hand h JOIN features_{grain} f USING (unit_id) "
        "WHERE abs(coalesce(h.revenue_12m, 0) - coalesce(f.revenue_12m, 0)) > 1e-6 * (1 + abs(f.revenue_12m)) "
        "OR coalesce(h.frequency_12m, 0) <> coalesce(f.frequency_12m, 0) "
        "OR coalesce(h.products_12m, 0) <> coalesce(f.products_12m, 0) "
        "OR abs(coalesce(h.frequency_trend, 0) - coalesce(f.frequency_trend, 0)) > 1e-9"
    ).fetchone()[0]
    return {"units": n, "revenue_12m": rev, "ibis_revenue_12m": ibis_rev, "units_disagreeing": diff}


# --------------------------------------------------------------- driver (parent side)
def run_step(name: str, *args: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--step", name, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(wall, 2)
    print(f"  {name:<24} {result['seconds']:8.2f} s   peak RSS {result['peak_rss_mb']:8.0f} MB", flush=True)
    return result


def child(step: str, args: list[str]) -> None:
    # Imports are paid once per process, not per build: warm them before the clock starts.
    import duckdb  # noqa: F401

    import sikta.service.workspace  # noqa: F401
    import sikta.synth  # noqa: F401

    t0 = time.perf_counter()
    fn = {"generate": lambda: step_generate(Path(args[0]), int(args[1])),
          "ingest": lambda: step_ingest(Path(args[0]), Path(args[1])),
          "features": lambda: step_features(Path(args[0]), args[1], args[2]),
          "hand_sql": lambda: step_hand_sql(Path(args[0]), args[1], args[2])}[step]
    out = fn()
    out.update(seconds=round(time.perf_counter() - t0, 3), peak_rss_mb=round(_peak_mb(), 1))
    print(json.dumps(out, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=SIZES, default="S")
    ap.add_argument("--only", choices=["generate", "all"], default="all")
    ap.add_argument("--as-of", default="2025-12-31")
    ap.add_argument("--step")
    ap.add_argument("rest", nargs="*")
    a = ap.parse_args()
    if a.step:
        child(a.step, a.rest)
        return
    accounts = SIZES[a.size]
    base = HERE / "data" / a.size
    data, ws = base / "exports", base / "ws.duckdb"
    print(f"size {a.size}: {accounts:,} accounts -> {base}")
    results: dict = {"size": a.size, "accounts": accounts, "when": datetime.now(UTC).isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "steps": {}}
    steps = results["steps"]
    steps["generate"] = run_step("generate", str(data), str(accounts))
    results["order_lines"] = steps["generate"]["rows"].get("orders")
    if a.only == "all":
        steps["ingest"] = run_step("ingest", str(data), str(ws))
        for grain in ("account", "ultimate_parent"):
            steps[f"features_{grain}"] = run_step("features", str(ws), grain, a.as_of)
            steps[f"hand_sql_{grain}"] = run_step("hand_sql", str(ws), grain, a.as_of)
            h = steps[f"hand_sql_{grain}"]
            if h["units_disagreeing"]:
                raise SystemExit(f"hand-written SQL disagrees with the feature table on {h['units_disagreeing']} units")
            results[f"features_vs_hand_sql_{grain}"] = round(
                steps[f"features_{grain}"]["seconds"] / max(h["seconds"], 1e-9), 2)
        results["end_to_end_s"] = round(sum(steps[k]["seconds"] for k in ("ingest", "features_account")), 2)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"foundation_{a.size}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    lines = [f"# Foundation benchmark, size {a.size} ({accounts:,} accounts, {results['order_lines']:,} order lines)",
             "", f"{results['when']}, {results['machine']['cpus']} CPUs, Python {results['machine']['python']}", "",
             "| step | seconds | peak RSS MB |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['seconds']:.2f} | {v['peak_rss_mb']:.0f} |" for k, v in steps.items()]
    for k, v in results.items():
        if k.startswith("features_vs_hand_sql"):
            lines.append(f"\n{k}: **{v}×** (Ibis feature build time / hand-written DuckDB SQL time; target ≤ 1.3)")
    (out / f"foundation_{a.size}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / f'foundation_{a.size}.json'}")


if __name__ == "__main__":
    main()
