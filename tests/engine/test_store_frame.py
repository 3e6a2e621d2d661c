"""Store.frame builds pandas frames through Arrow; Ibis's own execute is the oracle for the result."""

from __future__ import annotations

import datetime as dt
import decimal

import ibis
import numpy as np
import pandas as pd
import pytest

from sikta.engine.store import Store, _whole_decimals_as_int

# Every column type the feature, run and contract tables use, each with and without nulls, and all-null.
TYPES = """
SELECT * FROM (VALUES
  (1::BIGINT, 1::BIGINT, NULL::BIGINT, 1.5::DOUBLE, 2.5::DOUBLE, 'a', 'x', TRUE, TRUE, DATE '2024-01-31',
   DATE '2024-02-01', TIMESTAMP '2024-01-01 10:00:00', TIMESTAMP '2024-01-01 11:00:00', 3::INTEGER,
   12::HUGEINT, 1.25::DECIMAL(10, 2), ['a', 'b'], [DATE '2024-01-01'], {'k': 1, 'v': 'x'}, NULL::VARCHAR,
   [1.5, NULL]),
  (2, NULL, NULL, 2.5, NULL, 'b', NULL, FALSE, NULL, DATE '2024-03-01', NULL, TIMESTAMP '2024-01-02 10:00:00',
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, []),
  (3, 7, NULL, -0.0, 'nan'::DOUBLE, 'c', 'z', TRUE, FALSE, DATE '2024-04-01', DATE '2024-04-02',
   TIMESTAMP '2024-01-03 10:00:00', TIMESTAMP '2024-01-03 12:00:00', 5, 9, 2.00, ['c', NULL],
   [NULL, DATE '2024-05-01'], {'k': NULL, 'v': NULL}, NULL, [2.0])
) t(i, i_null, i_all_null, f, f_null, s, s_null, b, b_null, d, d_null, ts, ts_null, i32_null, whole, dec, tags,
    days, st, s_all_null, nums)
"""


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for col in a.columns:  # the Python types inside object columns too (lists stay lists, None stays None)
        assert [type(v) for v in a[col]] == [type(v) for v in b[col]], col


@pytest.fixture
def store():
    st = Store(":memory:")
    st.raw.execute(f"CREATE TABLE t AS {TYPES}")
    yield st
    st.close()


def test_every_type_comes_out_as_ibis_gives_it(store):
    t = store.table("t")
    got = store.frame(t)
    _same(got, store.con.execute(_whole_decimals_as_int(t)))
    # and what that is, spelled out for the columns whose nulls used to go through Python lists
    assert got.i_null.dtype == np.float64 and np.isnan(got.i_null[1])
    assert got.i_all_null.dtype == object and got.i_all_null.isna().all()
    assert got.b_null.tolist() == [True, None, False]
    assert got.ts_null.dtype == "datetime64[ns]" and pd.isna(got.ts_null[1])
    assert got.whole.tolist()[0] == 12 and got.dec[0] == decimal.Decimal("1.25")
    assert got.tags.tolist() == [["a", "b"], None, ["c", None]]
    assert got.days[2] == [None, dt.date(2024, 5, 1)]


def test_expressions_limits_and_in_memory_tables(store):
    t = store.table("t")
    names = ibis.memtable({"s": ["a", "c"], "label": ["first", None]})
    expr = t.left_join(names, "s").select("s", "label", "i_null", "tags", n=t.i_null.count().over())
    _same(store.frame(expr.order_by("s")), store.con.execute(expr.order_by("s")))
    _same(store.frame(t, limit=2), store.con.execute(_whole_decimals_as_int(t), limit=2))
    empty = t.filter(t.i > 10)
    _same(store.frame(empty), store.con.execute(_whole_decimals_as_int(empty)))
    assert store.frame(t.i.sum().name("total").as_table())["total"].tolist() == [6]
