"""Connection settings every workspace gets, whoever opens it."""

from __future__ import annotations

import pytest

from sikta.engine.store import Store


@pytest.mark.parametrize("read_only", [False, True])
def test_duckdb_draws_no_progress_bar_of_its_own(tmp_path, read_only):
    # DuckDB prints a bar on stdout once a query runs 2 s, which broke 'sikta ingest --json' at 10M lines
    path = tmp_path / "ws.duckdb"
    Store(path).close()
    store = Store(path, read_only=read_only)
    assert store.raw.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    assert store.con.con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    store.close()
