"""How long the web UI's pages and the static report take to draw in Chromium on a large workspace.

    .venv/bin/python bench/bench_pages.py --workspace bench/data/M/ws.duckdb

The workspace needs ingested data and at least one run (``sikta run``); it is
copied, so the original is not touched. The app runs under uvicorn on a
loopback port; Debian's Chromium (headless, the flags of DEVELOPERS.md) signs
in and times, per page, the server's answer and the moment every Plotly chart
on it is drawn. The report is written with ``sikta report`` and opened from
disk the same way. Writes bench/results/pages_<units>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
DRAWN = ("() => [...document.querySelectorAll('.js-plotly-plot')].every(d => d._fullLayout)")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(page, url: str) -> dict:
    t0 = time.perf_counter()
    resp = page.goto(url, wait_until="load")
    loaded = time.perf_counter() - t0
    page.wait_for_function(DRAWN, timeout=120_000)
    drawn = time.perf_counter() - t0
    charts = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
    return {"status": resp.status if resp else None, "loaded_s": round(loaded, 2), "drawn_s": round(drawn, 2),
            "charts": charts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, default=HERE / "data" / "M" / "ws.duckdb")
    a = ap.parse_args()
    if not a.workspace.exists():
        raise SystemExit(f"{a.workspace} is missing: build it (bench_foundation.py --size M) and run a model first")
    import uvicorn
    from playwright.sync_api import sync_playwright

    from sikta.api import create_app
    from sikta.service import runs, tokens
    from sikta.service.workspace import Workspace

    scratch = Path(tempfile.mkdtemp(prefix="sikta_pages_"))
    ws_path = scratch / "ws.duckdb"
    shutil.copy(a.workspace, ws_path)
    with Workspace(ws_path) as ws:
        token = tokens.create_token(ws, "viewer", name="bench")[0]
        meta = runs.get_run(ws)
        units = int(meta["units"])
        some_unit = ws.store.frame(runs.run_rows(ws).limit(1)).unit_id.iat[0]
    report = scratch / "report.html"
    t0 = time.perf_counter()
    sikta = Path(sys.executable).parent / "sikta"
    subprocess.run([str(sikta), "report", "-w", str(ws_path), "--out", str(report)], check=True, capture_output=True)
    report_build = time.perf_counter() - t0

    port = _port()
    server = uvicorn.Server(uvicorn.Config(create_app(ws_path), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    results: dict = {"units": units, "when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                     "report": {"build_s": round(report_build, 1), "bytes": report.stat().st_size}, "pages": {}}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto(f"{base}/signin")
            page.fill("#token", token)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/")
            for name, path in (("dashboard (first)", "/"), ("dashboard (cached)", "/"),
                               ("group list", "/groups/invest"), ("account", f"/accounts/{some_unit}"),
                               ("runs", "/runs")):
                results["pages"][name] = _timed(page, base + path)
                print(name, results["pages"][name], flush=True)
            results["report"].update(_timed(page, report.as_uri()))
            print("report", results["report"], flush=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
        shutil.rmtree(scratch, ignore_errors=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"pages_{units}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# Pages and report in Chromium, run of {units:,} units ({results['when']}, {os.cpu_count()} cpus)", "",
             "| page | HTTP | loaded s | charts drawn s | charts |", "|---|---:|---:|---:|---:|"]
    for name, r in results["pages"].items():
        lines.append(f"| {name} | {r['status']} | {r['loaded_s']} | {r['drawn_s']} | {r['charts']} |")
    r = results["report"]
    lines.append(f"| static report ({r['bytes'] / 1e6:.1f} MB, built in {r['build_s']} s) | file | {r['loaded_s']} | "
                 f"{r['drawn_s']} | {r['charts']} |")
    (out / f"pages_{units}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
