"""DuckDB alone on the same CSV exports: every file copied into a table, types guessed, nothing checked.

    python bench/baselines/csv_copy.py CSV_DIR WORKSPACE

The floor under ``sikta ingest`` of a CSV folder: the same reading and writing without the data
contract, the quarantine, the duplicate and reference checks or the account hierarchy. Prints one
JSON line with the rows copied per table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb


def main(folder: Path, target: Path) -> dict:
    t0 = time.perf_counter()
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target), config={"storage_compatibility_version": "latest"})
    con.execute("SET enable_progress_bar = false")
    rows = {}
    for f in sorted(folder.glob("*.csv")):
        path = str(f).replace("'", "''")
        con.execute(f'CREATE TABLE "{f.stem}" AS SELECT * FROM read_csv(\'{path}\')')
        rows[f.stem] = con.execute(f'SELECT count(*) FROM "{f.stem}"').fetchone()[0]
    con.close()
    return {"rows": rows, "seconds": round(time.perf_counter() - t0, 2)}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
