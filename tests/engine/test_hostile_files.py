"""Files as careless users and hostile probes make them: each case once crashed ingest or lost data.

Every file here is a regression for a defect found by probing (issue 15): the
ingest must account for every row, name file, row, column and reason, and never
show a traceback.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from sikta.errors import InputError

ORDERS_OK = "order_id,account_id,order_date,amount\nO1,A1,2025-01-05,10\n"


def _quarantine(ws, table: str) -> dict[int, tuple[str, str]]:
    q = ws.quarantine(table).to_pyarrow().to_pylist()
    return {r["row"]: (r["column"], r["reason"]) for r in q}


def _folder(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return d


def test_a_whole_number_beyond_64_bits_is_quarantined_not_a_crash(ws, tmp_path):
    d = _folder(tmp_path, {"accounts.csv": "account_id,employees\nA1,1e19\nA2,12\nA3,-9.3e18\n",
                           "orders.csv": ORDERS_OK})
    report = ws.ingest(d)
    assert report.tables["accounts"].loaded == 1
    assert _quarantine(ws, "accounts") == {
        1: ("employees", "employees '1e19' is too large for a whole number"),
        3: ("employees", "employees '-9.3e18' is too large for a whole number"),
    }


def test_dates_outside_the_plausible_range_are_quarantined(ws, tmp_path):
    d = _folder(tmp_path, {
        "accounts.csv": "account_id,first_seen\nA1,2020-01-01\nA2,10000-01-01\nA3,1066-10-14\n",
        "orders.csv": "order_id,account_id,order_date,amount\nO1,A1,2025-01-05,10\nO2,A1,10000-01-01,5\n",
    })
    ws.ingest(d)
    assert _quarantine(ws, "accounts") == {
        2: ("first_seen", "first_seen 10000-01-01 is outside the plausible range 1900-01-01 to 2100-12-31"),
        3: ("first_seen", "first_seen 1066-10-14 is outside the plausible range 1900-01-01 to 2100-12-31"),
    }
    assert _quarantine(ws, "orders") == {
        2: ("order_date", "order_date 10000-01-01 is outside the plausible range 1900-01-01 to 2100-12-31"),
    }
    # the loaded data builds features (the year-10000 row once crashed the feature build)
    assert ws.store.count(ws.features("account")) == 1


def test_one_future_order_does_not_move_the_default_as_of(ws, tmp_path):
    today = date.today()
    last = today - timedelta(days=40)
    d = _folder(tmp_path, {
        "accounts.csv": "account_id\nA1\nA2\n",
        "orders.csv": f"order_id,account_id,order_date,amount\nO1,A1,{last},100\nO2,A2,2099-01-05,7\n",
    })
    report = ws.ingest(d)
    assert report.tables["orders"].future == 1 and report.tables["orders"].loaded == 2
    assert any("dated after today" in n for n in report.notes)
    assert ws.default_as_of() == last
    f = ws.features("account").to_pyarrow().to_pylist()
    assert {r["unit_id"]: r["revenue_12m"] for r in f}["A1"] == 100.0


def test_bad_csv_lines_are_quarantined_and_the_rest_loads(ws, tmp_path):
    orders = (
        "order_id,account_id,order_date,amount\n"
        "O1,A1,2025-01-01,5\n"           # row 1
        "O2,A1,2025-01-02\n"             # row 2: a field short
        "O3,A1,2025-01-03,5,extra\n"     # row 3: a field too many
        "   \n"                          # row 4: spaces only
        "O5,A1,not a date,5\n"           # row 5: a bad value after bad lines keeps its row number
        "O6,A1,2025-01-06,6\n"           # row 6
        'O7,"A1,2025-01-07,7\n'          # row 7: a quote never closed, eats the rest of the file
        "O8,A1,2025-01-08,8\n"
    )
    d = _folder(tmp_path, {"accounts.csv": "account_id\nA1\n", "orders.csv": orders})
    report = ws.ingest(d)
    r = report.tables["orders"]
    assert (r.rows_in, r.loaded, r.quarantined) == (7, 2, 5)
    got = _quarantine(ws, "orders")
    assert got[2] == ("amount", "the line has 3 fields, the header has 4")
    assert got[3] == ("(line)", "the line has 5 fields, the header has 4")
    assert got[4] == ("(line)", "blank line (only spaces)")
    assert got[5] == ("order_date", "order_date is not a date: 'not a date'")
    assert got[7][1].startswith("a quote is opened and never closed")
    assert {row["order_id"] for row in ws.table("orders").to_pyarrow().to_pylist()} == {"O1", "O6"}


def test_row_numbers_count_records_not_lines(ws, tmp_path):
    """A quoted field spanning two lines is one row; a bad row after it keeps its row number."""
    orders = 'order_id,account_id,order_date,amount,product_id\nO1,A1,2025-01-01,5,"two\nlines"\nO2,A1,2025-01-02\nO3,A1,oops,5,x\n'
    d = _folder(tmp_path, {"accounts.csv": "account_id\nA1\n", "orders.csv": orders})
    ws.ingest(d)
    assert {k: v[0] for k, v in _quarantine(ws, "orders").items()} == {2: "amount", 3: "order_date"}


@pytest.mark.parametrize("name", ["_row", "_ROW", "_file", "_reason", "__row"])
@pytest.mark.parametrize("values", [("7", "8"), ("x", "y")])
def test_source_columns_named_like_internal_ones_are_plain_columns(ws, tmp_path, name, values):
    d = _folder(tmp_path, {
        "accounts.csv": f"account_id,parent_account_id,{name}\nA1,,{values[0]}\nA2,A1,{values[1]}\n",
        "orders.csv": f"order_id,account_id,order_date,amount,{name}\nO1,A2,2025-01-05,10,{values[0]}\n",
    })
    report = ws.ingest(d)
    assert report.tables["accounts"].loaded == 2 and report.tables["orders"].loaded == 1
    assert ws.store.count(ws.quarantine()) == 0


def test_the_first_valid_copy_of_a_key_is_loaded(ws, tmp_path):
    """The first copy fails a later check (its account is unknown): the valid second copy loads."""
    d = _folder(tmp_path, {
        "accounts.csv": "account_id\nA1\n",
        "orders.csv": ORDERS_OK,
        "contacts.csv": "contact_id,account_id\nC1,NOPE\nC1,A1\n",
    })
    ws.ingest(d)
    assert _quarantine(ws, "contacts") == {1: ("account_id", "account_id 'NOPE' is not a known account")}
    assert ws.table("contacts").to_pyarrow().to_pylist()[0]["account_id"] == "A1"


def test_email_addresses_never_reach_a_reason(ws, tmp_path):
    d = _folder(tmp_path, {
        "accounts.csv": "account_id\nA1\n",
        "orders.csv": "order_id,account_id,order_date,amount\nO1,ann.lee@corp.example,2025-01-05,10\nO2,A1,bob@x.io,1\n",
    })
    ws.ingest(d)
    q = ws.quarantine("orders").to_pyarrow().to_pylist()
    text = " ".join(f"{r['reason']} {r['record']}" for r in q)
    assert "@" not in text and text.count("<e-mail>") >= 3
    assert {r["row"] for r in q} == {1, 2}


def test_a_folder_or_a_device_named_like_a_table_is_an_error(ws, clean_exports, tmp_path):
    first = ws.ingest(clean_exports)
    d = _folder(tmp_path, {"accounts.csv": "account_id\nA1\n", "orders.csv": ORDERS_OK})
    (d / "contacts.csv").mkdir()
    with pytest.raises(InputError, match=r"contacts.csv: is a folder, not a file"):
        ws.ingest(d)
    (d / "contacts.csv").rmdir()
    os.symlink("/dev/null", d / "contacts.csv")
    with pytest.raises(InputError, match=r"contacts.csv: is not a regular file"):
        ws.ingest(d)
    (d / "contacts.csv").unlink()
    (d / "contacts.csv").write_text("")
    with pytest.raises(InputError, match=r"contacts.csv: the file is empty"):
        ws.ingest(d)
    assert ws.last_ingest()["ingest_id"] == first.ingest_id


def test_a_parquet_damaged_inside_is_one_clear_error_and_changes_nothing(ws, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = _folder(tmp_path, {"accounts.csv": "account_id\nA1\n", "orders.csv": ORDERS_OK})
    first = ws.ingest(good)
    d = tmp_path / "damaged"
    d.mkdir()
    (d / "accounts.csv").write_text("account_id\nA1\n", encoding="utf-8")
    n = 5000
    pq.write_table(pa.table({"order_id": [f"O{i}" for i in range(n)], "account_id": ["A1"] * n,
                             "order_date": ["2025-01-05"] * n, "amount": [1.0] * n}), d / "orders.parquet",
                   compression="snappy")
    data = bytearray((d / "orders.parquet").read_bytes())
    for i in range(200, 1200):  # a compressed data page; the footer (schema, row count) still reads
        data[i] ^= 0x5A
    (d / "orders.parquet").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"orders.parquet: cannot read as orders: .*Snappy"):
        ws.ingest(d)
    assert ws.last_ingest()["ingest_id"] == first.ingest_id
    assert ws.store.count(ws.store.table("orders")) == 1


def test_a_header_naming_a_column_twice_is_an_error(ws, tmp_path):
    d = _folder(tmp_path, {"accounts.csv": "account_id,name,Name\nA1,x,y\n", "orders.csv": ORDERS_OK})
    with pytest.raises(InputError, match=r"accounts.csv: the header names column 'Name' twice \(columns 2 and 3\)"):
        ws.ingest(d)


def test_random_garbage_is_one_clear_error(ws, tmp_path):
    d = _folder(tmp_path, {"accounts.csv": "account_id\nA1\n", "orders.parquet": b"\x00\x01garbage" * 20})
    with pytest.raises(InputError, match="orders.parquet: cannot read as PARQUET"):
        ws.ingest(d)
