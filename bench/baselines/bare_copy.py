"""DuckDB alone on the same exports: every file copied into a table of a database file, nothing checked.

    python bench/baselines/bare_copy.py EXPORTS_DIR WORKSPACE

The floor under ``sikta ingest`` of an export folder: the same reading and writing (the same DuckDB
storage format as a workspace) without the data contract, the quarantine, the duplicate and
reference checks or the account hierarchy. Reads ``<table>.csv`` (types guessed) and
``<table>.parquet`` files; the generator's ``truth.parquet`` (its answer key, not an export) is
skipped. Prints one JSON line with the rows copied per table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

READERS = {".csv": "read_csv", ".parquet": "read_parquet"}


def main(folder: Path, target: Path) -> dict:
    t0 = time.perf_counter()
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target), config={"storage_compatibility_version": "latest"})
    con.execute("SET enable_progress_bar = false")
    rows = {}
    for f in sorted(folder.iterdir()):
        if f.suffix not in READERS or f.stem == "truth":
            continue
        path = str(f).replace("'", "''")
        con.execute(f'CREATE TABLE "{f.stem}" AS SELECT * FROM {READERS[f.suffix]}(\'{path}\')')
        rows[f.stem] = con.execute(f'SELECT count(*) FROM "{f.stem}"').fetchone()[0]
    con.close()
    return {"rows": rows, "seconds": round(time.perf_counter() - t0, 2)}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
