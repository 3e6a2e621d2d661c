"""How ingest reads and writes: a Parquet source is checked through a view rather than a copy,
each table is written once and cut to its final shape, and nothing of the work is left behind.
The answers must not depend on that: the same rows as CSV or as Parquet give the same verdicts."""

from __future__ import annotations

import csv
import string

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sikta.engine import validate as v
from sikta.engine.contract import CONTRACT
from sikta.engine.store import Store
from sikta.service.workspace import Workspace

ACCOUNTS = ["A1", "A2", "Q1"]  # Q1's row breaks a rule: orders naming it name a quarantined account
cell = st.sampled_from(["A1", " A2", "Q1 ", "ZZ", "", "\tA1\n", "2025-01-05", "yesterday", "12.5", "n/a", " 7 "])
order_row = st.tuples(st.sampled_from(["O1", "O2", "", " O3 "]), cell, cell, cell, st.sampled_from(["P1", "P9", ""]))


def _write_sources(d, rows, kind):
    d.mkdir()
    accounts = {"account_id": ACCOUNTS, "status": ["customer", "customer", "lead"]}
    products = {"product_id": ["P1"]}
    orders = dict(zip(["order_id", "account_id", "order_date", "amount", "product_id"],
                      map(list, zip(*rows, strict=True)) if rows else [[]] * 5, strict=True))
    for name, cols in (("accounts", accounts), ("products", products), ("orders", orders)):
        if kind == "parquet":
            # small row groups: the scan is split as a large export's would be
            pq.write_table(pa.table({k: pa.array(vals, pa.string()) for k, vals in cols.items()}),
                           d / f"{name}.parquet", row_group_size=7)
        else:
            with open(d / f"{name}.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(list(cols))
                w.writerows(zip(*cols.values(), strict=True))


def _outcome(d):
    with Workspace(d / "ws.duckdb") as ws:
        report = ws.ingest(d)
        loaded = sorted(tuple(r.values()) for r in ws.table("orders").to_pyarrow().to_pylist())
        q = sorted((r["row"], r["column"], r["reason"]) for r in ws.quarantine("orders").to_pyarrow().to_pylist())
        columns = ws.table("orders").columns
        leftovers = ws.store.records(
            "SELECT view_name AS n FROM duckdb_views() WHERE temporary AND view_name LIKE '\\_%' ESCAPE '\\' "
            "UNION ALL SELECT table_name FROM duckdb_tables() WHERE temporary")
        stage = [t for t in ws.store.tables() if t.startswith("_sikta_stage__")]
        return report.tables["orders"], loaded, q, columns, leftovers, stage


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(order_row, min_size=0, max_size=25).flatmap(
    lambda r: st.lists(st.sampled_from(r), max_size=8).map(lambda extra: r + extra) if r else st.just(r)))
def test_parquet_and_csv_give_the_same_verdicts(tmp_path_factory, rows):
    base = tmp_path_factory.mktemp("same")
    outcomes = {}
    for kind in ("csv", "parquet"):
        _write_sources(base / kind, rows, kind)
        outcomes[kind] = _outcome(base / kind)
    (rep_c, loaded_c, q_c, _, _, _), (rep_p, loaded_p, q_p, columns, leftovers, stage) = outcomes.values()
    assert rep_p.rows_in == len(rows) == rep_p.loaded + rep_p.quarantined == rep_c.rows_in
    assert (loaded_p, q_p) == (loaded_c, q_c)
    # exact duplicate lines: every line identical to an earlier one (the count sorts the lines' hashes)
    assert rep_p.duplicates == rep_c.duplicates == len(rows) - len(set(rows))
    assert len(q_p) == rep_p.quarantined and [r for r, _, _ in q_p] == sorted({r for r, _, _ in q_p})
    assert tuple(columns) == CONTRACT["orders"].names  # no bookkeeping column survives
    assert leftovers == [] and stage == []
    # an order naming the quarantined account says so; one naming no account at all says that
    for row, (_, account, day, amount, product) in enumerate(rows, start=1):
        reason = dict((r, why) for r, _, why in q_p).get(row, "")
        if account.strip() == "Q1" and "account_id" in reason:
            assert "is a quarantined account" in reason
        if account.strip() == "ZZ" and "account_id" in reason:
            assert "is not a known account" in reason


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=string.whitespace + "\x01\x7fa é!", max_size=6), min_size=1, max_size=30))
def test_strip_only_where_needed_equals_python_strip(values):
    t = ibis.memtable({"s": values}, schema={"s": "string"})
    got = Store(":memory:").frame(t.select(s=v.strip(t.s)))["s"].tolist()
    assert got == [x.strip(string.whitespace) for x in values]


def test_prune_keeps_passed_rows_and_final_columns():
    store = Store(":memory:")
    with store.staged() as stage:
        stage.create("t", ibis.memtable({"a": [1, 2, 3], "_reason": [None, "bad", None], "_x": ["p", "q", "r"]},
                                        schema={"a": "int64", "_reason": "string", "_x": "string"}))
        stage.prune("t", failed="_reason", drop=("_reason", "_x"))
    assert store.table("t").columns == ("a",)
    assert sorted(store.frame(store.table("t"))["a"]) == [1, 3]


def test_prune_with_failed_rows_and_refused_inside_a_transaction():
    store = Store(":memory:")
    rows = {"a": list(range(10)), "_reason": [None if i % 3 else "bad" for i in range(10)]}
    with store.staged() as stage:
        stage.create("t", ibis.memtable(rows, schema={"a": "int64", "_reason": "string"}))
        with store.transaction(), pytest.raises(RuntimeError, match="outside a transaction"):
            stage.prune("t", failed="_reason", drop=("_reason",))
        stage.prune("t", failed="_reason", drop=("_reason",))
    assert sorted(store.frame(store.table("t"))["a"]) == [i for i in range(10) if i % 3]


def test_a_temp_view_is_refused_outside_temp():
    with pytest.raises(ValueError, match="only temporary views"):
        Store(":memory:").create("v", ibis.memtable({"a": [1]}), view=True)
