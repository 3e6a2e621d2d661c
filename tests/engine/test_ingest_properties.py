"""Property: for random dirty exports, rows in = loaded + quarantined, and the
loaded rows are exactly those a plain-Python reading of the contract accepts."""

from __future__ import annotations

import csv
import math
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sikta.service.workspace import Workspace

ACCOUNT_IDS = ["A1", "A2", "A3"]
account_ids = st.sampled_from([*ACCOUNT_IDS, "ZZ", "", " A1 "])
dates = st.sampled_from(["2025-01-05", "2025-02-30", "yesterday", "", "2024-12-31 23:59:00"])
amounts = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["n/a", "", "1e3", "nan", "inf", " 12 "]),
)
row = st.tuples(st.text("abcdef0123456789", min_size=0, max_size=4), account_ids, dates, amounts)


def _reference_ok(order_id: str, account: str, day: str, amount: str) -> bool:
    """The contract for orders, read plainly: every required field present and parseable."""
    if not order_id.strip() or account.strip() not in ACCOUNT_IDS:
        return False
    text = day.strip()
    try:
        date.fromisoformat(text[:10])
        if len(text) > 10:
            from datetime import datetime

            datetime.fromisoformat(text)
    except ValueError:
        return False
    try:
        value = float(amount.strip())
    except ValueError:
        return False
    return math.isfinite(value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=0, max_size=30))
def test_nothing_is_lost(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("prop")
    with open(d / "accounts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id"])
        w.writerows([[a] for a in ACCOUNT_IDS])
    with open(d / "orders.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "account_id", "order_date", "amount"])
        w.writerows(rows)
    with Workspace(d / "ws.duckdb") as ws:
        report = ws.ingest(d)
        o = report.tables["orders"]
        assert o.rows_in == len(rows) == o.loaded + o.quarantined
        expected = sum(_reference_ok(*r) for r in rows)
        assert o.loaded == expected
        q = ws.quarantine("orders").to_pyarrow().to_pylist()
        assert len(q) == o.quarantined and all(r["reason"] for r in q)
        bad_rows = sorted(r["row"] for r in q)
        assert bad_rows == [i + 1 for i, r in enumerate(rows) if not _reference_ok(*r)]


short_or_long = st.sampled_from([("O9", "A1", "2025-01-05"), ("O9", "A1", "2025-01-05", "5", "extra")])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(row, short_or_long), min_size=0, max_size=30))
def test_every_quarantined_row_keeps_its_place_in_the_file(tmp_path_factory, rows):
    """Lines that do not split into the header's fields are set aside while the file is read; every other row,
    good or bad, keeps its own number (its record's position in the file), wherever those lines fall."""
    d = tmp_path_factory.mktemp("lines")
    (d / "accounts.csv").write_text("account_id\n" + "\n".join(ACCOUNT_IDS) + "\n")
    with open(d / "orders.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "account_id", "order_date", "amount"])
        w.writerows(rows)
    with Workspace(d / "ws.duckdb") as ws:
        o = ws.ingest(d).tables["orders"]
        assert o.rows_in == len(rows) == o.loaded + o.quarantined
        q = ws.quarantine("orders").to_pyarrow().to_pylist()
        expected = [i + 1 for i, r in enumerate(rows) if len(r) != 4 or not _reference_ok(*r)]
        assert sorted(r["row"] for r in q) == expected
        lines = sorted(r["row"] for r in q if r["column"] == "(line)" or "fields" in r["reason"])
        assert lines == [i + 1 for i, r in enumerate(rows) if len(r) != 4]
