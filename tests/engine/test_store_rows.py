"""The Store's pandas-free paths: ``rows``, ``count`` and rows inserted as dicts.

A small ingest never loads pandas (0.4 s of a 1.5 s command), so these paths carry its answers and
bookkeeping. Their oracle is Ibis's own execution of the same expressions, and the values written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime

import ibis
import pytest

from sikta.engine.store import Store


@pytest.fixture
def store(tmp_path):
    st = Store(tmp_path / "ws.duckdb")
    yield st
    st.close()


def test_rows_match_ibis_execute(store):
    t = ibis.memtable({"k": ["a", "b", "b", None], "x": [1.5, None, 2.0, 4.0],
                       "d": [date(2025, 1, 2), None, date(2025, 3, 4), date(2025, 3, 4)]})
    expr = t.group_by("k").aggregate(n=t.count(), s=t.x.sum(), last=t.d.max()).order_by("k")
    got = store.rows(expr)
    want = store.con.execute(expr)
    assert [r["k"] for r in got] == ["a", "b", None]
    assert [r["n"] for r in got] == want["n"].tolist() == [1, 2, 1]
    assert [r["s"] for r in got] == [1.5, 2.0, 4.0]
    assert [r["last"] for r in got] == [date(2025, 1, 2), date(2025, 3, 4), date(2025, 3, 4)]
    assert store.rows(t.filter(t.x > 100)) == []
    assert store.count(t) == 4 and store.count(t.filter(t.k == "b")) == 2 == int(store.con.execute(t.count()) - 2)


def test_rows_inserted_as_dicts_keep_every_value(store):
    schema = {"id": "string", "n": "int64", "at": "timestamp", "amount": "float64", "day": "date"}
    store.create_empty("meta", schema)
    awkward = 'quote \' double " back\\slash\nnew line, tab\t, ünï ✓, {"json": 1}'
    rows = [
        {"id": awkward, "n": 2**53 + 1, "at": datetime(2026, 12, 3, 21, 50, 56, 123456), "amount": 0.1,
         "day": date(2024, 2, 29)},
        {"id": None, "n": None, "at": None, "amount": None, "day": None},
        {"id": "only id"},  # missing keys are nulls
    ]
    store.insert("meta", rows, schema=schema)
    store.insert("meta", [], schema=schema)  # nothing to add
    got = store.records('SELECT * FROM meta ORDER BY n NULLS LAST, id NULLS FIRST')
    assert got[0] == rows[0]
    assert got[1] == {"id": None, "n": None, "at": None, "amount": None, "day": None}
    assert got[2] == {"id": "only id", "n": None, "at": None, "amount": None, "day": None}
    with pytest.raises(TypeError, match="need a schema"):
        store.insert("meta", rows)


def test_a_small_ingest_loads_neither_pandas_nor_the_models(tmp_path):
    """The CLI ingest of a small export (with a bad line and a bad value) runs without pandas."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "accounts.csv").write_text("account_id,status\nA1,customer\nA2,customer\n")
    (d / "orders.csv").write_text(
        'order_id,account_id,order_date,amount\nO1,A1,2025-01-05,100\nO4,A1,2025-03-01,1,"extra"\n'
        'O2,A2,2025-02-01,5\nO3,A1,not a date,7\n')  # the rows after the bad line keep their numbers
    ws = tmp_path / "ws.duckdb"
    code = ("import sys, json; from sikta.cli import main; sys.argv = ['sikta', 'ingest', sys.argv[1], '-w', "
            "sys.argv[2], '--json']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = ('pandas', 'sklearn', 'scipy', 'plotly', 'fastapi')\n"
            "print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(d), str(ws)], capture_output=True, text=True, check=True)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    report = json.loads(done.stdout)
    assert {t: (r["rows_in"], r["loaded"], r["quarantined"]) for t, r in report["tables"].items()} == {
        "accounts": (2, 2, 0), "orders": (4, 2, 2)}
    with Store(ws, read_only=True) as st:
        q = st.records('SELECT "row", "column", reason, record FROM _sikta_quarantine ORDER BY "row"')
        assert [(r["row"], r["column"], r["reason"]) for r in q] == [
            (2, "(line)", "the line has 5 fields, the header has 4"),
            (4, "order_date", "order_date is not a date: 'not a date'")]
        assert json.loads(q[0]["record"]) == {"line": 'O4,A1,2025-03-01,1,"extra"'}
        assert [r["order_id"] for r in st.records("SELECT order_id FROM orders ORDER BY order_id")] == ["O1", "O2"]
        assert st.records("SELECT rows_in, loaded, quarantined FROM _sikta_tables WHERE \"table\" = 'orders'") == [
            {"rows_in": 4, "loaded": 2, "quarantined": 2}]
