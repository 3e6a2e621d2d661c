"""The data contract on hand-made tables: each kind of bad row lands in
quarantine with the reason a person would write, and rows in = loaded +
quarantined for every table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sikta.errors import ContractError, InputError
from tests.conftest import write

ACCOUNTS = """
    account_id,name,parent_account_id,account_type,status,employees,founded_year,first_seen,tech_maturity
    G1,Group,,group,customer,1000,1990,2020-01-01,3
    C1,Co One,G1,company,customer,200,2000,2020-01-01,4
    D1,Dept,C1,department,customer,,,,
    C1,Copy of C1,,company,customer,5,2001,2020-01-01,2
    X1,Bad size,,company,customer,approx. 50,,,
    X2,Negative,,company,customer,-3,,,
    X3,Lead,,company,lead,,,,
    X4,Bad date,,company,customer,,,2024-13-45,
    Y1,Cycle one,Y2,company,customer,,,,
    Y2,Cycle two,Y1,company,customer,,,,
    S1,Self,S1,company,customer,,,,
    O1,Orphan,ZZ,company,customer,,,,
    K1,Kid of cycle,Y1,company,customer,,,,
    ,No id,,company,customer,,,,
    P1,Prospect,,company,PROSPECT,10,,,5
    M1,Too mature,,company,customer,,,,9
"""

EXPECTED_ACCOUNTS = {
    # row: (column, reason) -- rows are 1-based data rows (row 1 is right after the header)
    4: ("account_id", "duplicate account_id 'C1' (first at row 2)"),
    5: ("employees", "employees is not a whole number: 'approx. 50'"),
    6: ("employees", "employees -3 is below the minimum 0"),
    7: ("status", "status 'lead' is not one of customer, prospect, former"),
    8: ("first_seen", "first_seen is not a date: '2024-13-45'"),
    9: ("parent_account_id", "parent cycle: Y1 → Y2 → Y1"),
    10: ("parent_account_id", "parent cycle: Y2 → Y1 → Y2"),
    11: ("parent_account_id", "account is its own parent (S1)"),
    12: ("parent_account_id", "parent 'ZZ' is not a loaded account"),
    13: ("parent_account_id", "ancestor 'Y1' cannot be placed (parent cycle: Y1 → Y2 → Y1)"),
    14: ("account_id", "account_id is missing"),
    16: ("tech_maturity", "tech_maturity 9 is above the maximum 5"),
}

ORDERS = """
    order_id,account_id,order_date,product_id,quantity,amount,cost,currency
    O1,C1,2025-01-05,P1,1,100,60,EUR
    O2,D1,2025-02-05,P1,1,-20,,EUR
    O3,NOPE,2025-01-05,P1,1,10,,EUR
    O4,X1,2025-01-05,P1,1,10,,EUR
    O5,C1,yesterday,P1,1,10,,EUR
    O6,C1,2025-01-05,P1,1,n/a,,EUR
    O7,C1,2025-01-05,P9,1,5,,EUR
    O8,,2025-01-05,P1,1,5,,EUR
    O9,G1,2025-01-06 13:45:00,P1,2.5,7.5,,eur
"""

EXPECTED_ORDERS = {
    3: ("account_id", "account_id 'NOPE' is not a known account"),
    4: ("account_id", "account_id 'X1' is a quarantined account"),
    5: ("order_date", "order_date is not a date: 'yesterday'"),
    6: ("amount", "amount is not a number: 'n/a'"),
    7: ("product_id", "product_id 'P9' is not a known product"),
    8: ("account_id", "account_id is missing"),
}

SUBSCRIPTIONS = """
    subscription_id,account_id,product_line,start_date,end_date,mrr,seats
    S-1,C1,cloud,2024-01-01,,100,10
    S-2,C1,cloud,2024-01-01,2023-06-01,100,10
    S-3,C1,cloud,2024-01-01,,100,-2
    S-1,G1,cloud,2024-02-01,,50,5
    S-4,G1,cloud,2024-02-01,,-50,5
"""
EXPECTED_SUBSCRIPTIONS = {
    2: ("end_date", "end_date is before start_date"),
    3: ("seats", "seats -2 is below the minimum 0"),
    4: ("subscription_id", "duplicate subscription_id 'S-1' (first at row 1)"),
    5: ("mrr", "mrr -50.0 is below the minimum 0"),
}

TICKETS = """
    ticket_id,account_id,opened_at,closed_at,priority,category,csat
    T1,C1,2025-01-01 10:00:00,2025-01-02 10:00:00,High,billing,4
    T2,C1,2025-01-01 10:00:00,2024-12-31 10:00:00,low,billing,
    T3,C1,2025-01-01 10:00:00,,meh,billing,
    T4,C1,2025-01-01 10:00:00,,low,billing,7
"""
EXPECTED_TICKETS = {
    2: ("closed_at", "closed_at is before opened_at"),
    3: ("priority", "priority 'meh' is not one of low, normal, high, urgent"),
    4: ("csat", "csat 7.0 is above the maximum 5"),
}

CONTACTS = """
    contact_id,account_id,department,role,name,email
    K-1,C1,finance,cfo,Ada Lovelace,ada@example.com
    K-1,C1,it,cio,Grace Hopper,grace@example.com
    K-2,S9,it,cio,Alan Turing,alan@example.com
"""
EXPECTED_CONTACTS = {
    2: ("contact_id", "duplicate contact_id 'K-1' (first at row 1)"),
    3: ("account_id", "account_id 'S9' is not a known account"),
}

SURVEYS = """
    account_id,contact_id,survey_id,answered_at,item,value
    ,K-1,s1,2025-01-10,NPS,9
    C1,,s1,2025-01-10,nps,11
    ,K-9,s1,2025-01-10,nps,5
    ,,s1,2025-01-10,nps,5
    G1,,s1,2025-01-10,need_price,0
"""
EXPECTED_SURVEYS = {
    2: ("value", "nps value 11.0 is outside 0-10"),
    3: ("contact_id", "contact_id 'K-9' is not a known contact"),
    4: ("account_id", "account_id and contact_id are both missing"),
    5: ("value", "need_price value 0.0 is outside 1-5"),
}

USAGE = """
    account_id,date,feature,events,active_users
    C1,2025-01-01,reports,10,2
    C1,2025-01-02,reports,-1,2
"""
INTERACTIONS = """
    account_id,date,channel,type,direction
    C1,2025-01-01,call,demo,inbound
    C1,2025-01-01,call,demo,sideways
"""
PRODUCTS = """
    product_id,product_line,product_suite,list_price
    P1,analytics,cloud,9.5
"""


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    d = tmp_path / "dirty"
    d.mkdir()
    for name, text in {
        "accounts.csv": ACCOUNTS, "orders.csv": ORDERS, "subscriptions.csv": SUBSCRIPTIONS,
        "tickets.csv": TICKETS, "contacts.csv": CONTACTS, "survey_responses.csv": SURVEYS,
        "usage.csv": USAGE, "interactions.csv": INTERACTIONS, "products.csv": PRODUCTS,
    }.items():
        write(d, name, text)
    return d


def _quarantine(ws, table: str) -> dict[int, tuple[str, str]]:
    q = ws.quarantine(table).to_pyarrow().to_pylist()
    return {r["row"]: (r["column"], r["reason"]) for r in q}


@pytest.mark.parametrize(
    ("table", "expected", "rows_in"),
    [
        ("accounts", EXPECTED_ACCOUNTS, 16),
        ("orders", EXPECTED_ORDERS, 9),
        ("subscriptions", EXPECTED_SUBSCRIPTIONS, 5),
        ("tickets", EXPECTED_TICKETS, 4),
        ("contacts", EXPECTED_CONTACTS, 3),
        ("survey_responses", EXPECTED_SURVEYS, 5),
    ],
)
def test_each_bad_row_is_quarantined_with_its_reason(ws, dirty, table, expected, rows_in):
    report = ws.ingest(dirty)
    assert _quarantine(ws, table) == expected
    r = report.tables[table]
    assert (r.rows_in, r.quarantined, r.loaded) == (rows_in, len(expected), rows_in - len(expected))
    assert ws.store.count(ws.table(table)) == r.loaded


def test_rows_in_equals_loaded_plus_quarantined_everywhere(ws, dirty):
    report = ws.ingest(dirty)
    assert set(report.tables) == {
        "accounts", "products", "contacts", "orders", "subscriptions", "usage", "tickets",
        "survey_responses", "interactions",
    }
    for name, r in report.tables.items():
        assert r.rows_in == r.loaded + r.quarantined, name
    assert _quarantine(ws, "usage") == {2: ("events", "events -1 is below the minimum 0")}
    assert _quarantine(ws, "interactions") == {
        2: ("direction", "direction 'sideways' is not one of inbound, outbound")
    }


def test_loaded_values_are_typed_and_normalized(ws, dirty):
    ws.ingest(dirty)
    acc = {r["account_id"]: r for r in ws.table("accounts").to_pyarrow().to_pylist()}
    assert set(acc) == {"G1", "C1", "D1", "P1"}
    assert acc["P1"]["status"] == "prospect"  # enum values are lower-cased
    assert acc["C1"]["employees"] == 200 and acc["C1"]["parent_account_id"] == "G1"
    orders = {r["order_id"]: r for r in ws.table("orders").to_pyarrow().to_pylist()}
    assert orders["O2"]["amount"] == -20.0  # credit notes are valid
    assert str(orders["O9"]["order_date"]) == "2025-01-06"
    assert orders["O9"]["quantity"] == 2.5
    survey = ws.table("survey_responses").to_pyarrow().to_pylist()
    # the answer given by contact K-1 belongs to K-1's account
    assert {(r["account_id"], r["item"], r["value"]) for r in survey} == {("C1", "nps", 9.0)}


def test_hierarchy_of_loaded_accounts(ws, dirty):
    ws.ingest(dirty)
    h = {r["account_id"]: r for r in ws.store.table("_sikta_hierarchy").to_pyarrow().to_pylist()}
    assert set(h) == {"G1", "C1", "D1", "P1"}
    assert h["D1"]["ultimate_parent_id"] == "G1" and h["D1"]["account_unit_id"] == "C1" and h["D1"]["depth"] == 2
    assert ws.units_per_grain() == {"ultimate_parent": 2, "account": 3, "department": 4}


def test_personal_data_is_redacted_in_quarantine_records(ws, dirty):
    ws.ingest(dirty)
    q = ws.quarantine("contacts").to_pyarrow().to_pylist()
    records = [json.loads(r["record"]) for r in q]
    assert all(r["email"] == "<redacted>" and r["name"] == "<redacted>" for r in records)
    assert {r["contact_id"] for r in records} == {"K-1", "K-2"}
    assert "grace" not in json.dumps(records).lower()


def test_mixed_currencies_without_rates_is_a_clear_error(ws, tmp_path):
    d = tmp_path / "cur"
    d.mkdir()
    write(d, "accounts.csv", "account_id\nA\n")
    write(d, "orders.csv", "order_id,account_id,order_date,amount,currency\n1,A,2025-01-01,10,EUR\n2,A,2025-01-01,10,USD\n")
    with pytest.raises(ContractError, match=r"mixed currencies \(orders: EUR, USD\)"):
        ws.ingest(d)
    assert not ws.store.has("orders")


def test_one_currency_written_differently_is_one_currency_and_a_mix_across_tables_is_not(ws, tmp_path):
    d = tmp_path / "cur2"
    d.mkdir()
    write(d, "accounts.csv", "account_id\nA\n")
    write(d, "orders.csv", "order_id,account_id,order_date,amount,currency\n1,A,2025-01-01,10,EUR\n"
                           "2,A,2025-01-02,10, eur \n3,A,2025-01-03,10,\n")
    assert ws.ingest(d).tables["orders"].loaded == 3
    write(d, "subscriptions.csv", "subscription_id,account_id,product_line,start_date,mrr,currency\n"
                                  "S1,A,P,2025-01-01,5,usd\n")
    with pytest.raises(ContractError, match=r"mixed currencies \(orders: EUR, subscriptions: USD\)"):
        ws.ingest(d)


def test_currency_rates_convert_and_quarantine_unknown_currencies(ws, tmp_path):
    d = tmp_path / "cur"
    d.mkdir()
    write(d, "accounts.csv", "account_id\nA\n")
    write(d, "orders.csv", "order_id,account_id,order_date,amount,currency\n1,A,2025-01-01,10,EUR\n2,A,2025-01-01,10,usd\n3,A,2025-01-01,10,SEK\n")
    write(d, "mapping.yaml", "orders:\n  currency_rates: {EUR: 1.0, USD: 0.5}\n")
    report = ws.ingest(d, mapping=d / "mapping.yaml")
    amounts = sorted(r["amount"] for r in ws.table("orders").to_pyarrow().to_pylist())
    assert amounts == [5.0, 10.0]
    assert _quarantine(ws, "orders") == {3: ("currency", "no conversion rate for currency 'SEK'")}
    assert {r["currency"] for r in ws.table("orders").to_pyarrow().to_pylist()} == {"EUR"}
    assert report.tables["orders"].quarantined == 1


def test_amount_from_quantity_times_unit_price_and_mapped_names(ws, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    write(d, "kunden.csv", "Kundennummer;Land\nK1;DE\nK2;AT\n")
    write(d, "rechnungen.csv", "Beleg;Kunde;Datum;Menge;Preis\nR1;K1;05.01.2025;3;2,50\nR2;K2;06.01.2025;1;1.000,00\nR3;K2;31.02.2025;1;1,00\n")
    write(d, "mapping.yaml", """
        accounts:
          file: kunden.csv
          columns: {account_id: Kundennummer, country: Land}
        orders:
          file: rechnungen.csv
          columns: {order_id: Beleg, account_id: Kunde, order_date: Datum, quantity: Menge, unit_price: Preis}
          date_format: "%d.%m.%Y"
          decimal_comma: true
    """)
    report = ws.ingest(d, mapping=d / "mapping.yaml")
    rows = {r["order_id"]: r for r in ws.table("orders").to_pyarrow().to_pylist()}
    assert rows["R1"]["amount"] == pytest.approx(7.5) and rows["R2"]["amount"] == pytest.approx(1000.0)
    assert str(rows["R1"]["order_date"]) == "2025-01-05"
    assert _quarantine(ws, "orders") == {3: ("order_date", "order_date is not a date: '31.02.2025'")}
    assert report.tables["accounts"].loaded == 2


def test_excel_and_parquet_sources(ws, tmp_path):
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "x"
    d.mkdir()
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append(["account_id", "employees", "first_seen"])
    sheet.append(["A", 12, "2024-01-01"])
    sheet.append(["B", "twelve", None])
    wb.save(d / "accounts.xlsx")
    pq.write_table(pa.table({"order_id": ["1", "2"], "account_id": ["A", "C"],
                             "order_date": pa.array([19000, 19001], pa.date32()), "amount": [1.5, 2.0]}),
                   d / "orders.parquet")
    report = ws.ingest(d)
    assert _quarantine(ws, "accounts") == {2: ("employees", "employees is not a whole number: 'twelve'")}
    assert _quarantine(ws, "orders") == {2: ("account_id", "account_id 'C' is not a known account")}
    assert report.tables["orders"].loaded == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"accounts.csv": "account_id\nA\n"}, "no orders or subscriptions file found"),
        ({"orders.csv": "order_id,account_id,order_date,amount\n1,A,2025-01-01,1\n"}, "no accounts file found"),
        ({"accounts.csv": "id\nA\n", "orders.csv": "order_id,account_id,order_date,amount\n"},
         r"accounts.csv: accounts needs column\(s\) account_id; the file has id"),
        ({"accounts.csv": "account_id\nA\n", "orders.parquet": "this is not parquet"},
         r"orders.parquet: cannot read as PARQUET"),
    ],
)
def test_unusable_input_is_one_clear_error_and_changes_nothing(ws, clean_exports, tmp_path, files, message):
    first = ws.ingest(clean_exports)
    d = tmp_path / "bad"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    with pytest.raises(InputError, match=message):
        ws.ingest(d)
    assert ws.last_ingest()["ingest_id"] == first.ingest_id
    assert ws.store.count(ws.table("orders")) == 4
    assert not [t for t in ws.store.tables() if t.startswith("_sikta_stage__")]


def test_missing_path_names_the_file(ws, tmp_path):
    with pytest.raises(InputError, match=r"nowhere.csv: file not found"):
        ws.ingest(tmp_path / "nowhere.csv")


def test_a_failure_half_way_leaves_the_previous_data(ws, clean_exports, tmp_path, monkeypatch):
    first = ws.ingest(clean_exports)
    from sikta.engine import validate

    def boom(t, table):
        if table == "orders":
            raise RuntimeError("disk full")
        return original(t, table)

    original = validate.quarantined
    monkeypatch.setattr(validate, "quarantined", boom)
    d = tmp_path / "second"
    d.mkdir()
    write(d, "accounts.csv", "account_id\nA\n")
    write(d, "orders.csv", "order_id,account_id,order_date,amount\n1,A,2025-01-01,1\n")
    with pytest.raises(RuntimeError, match="disk full"):
        ws.ingest(d, allow_shrink=True)
    assert ws.last_ingest()["ingest_id"] == first.ingest_id
    assert {r["account_id"] for r in ws.table("accounts").to_pyarrow().to_pylist()} == {"G1", "C1", "D1", "S1", "P1"}
    assert not [t for t in ws.store.tables() if t.startswith("_sikta_stage__")]


def test_reingest_replaces_the_snapshot_and_records_fingerprints(ws, clean_exports, tmp_path):
    import hashlib

    ws.ingest(clean_exports)
    d = tmp_path / "next"
    d.mkdir()
    write(d, "accounts.csv", "account_id\nA\n")
    write(d, "subscriptions.csv", "subscription_id,account_id,start_date,mrr\nS1,A,2025-01-01,10\n")
    report = ws.ingest(d, allow_shrink=True)
    assert report.removed == ["orders"] and not ws.store.has("orders")
    files = ws.store.table("_sikta_files").to_pyarrow().to_pylist()
    sub = [f for f in files if f["table"] == "subscriptions"][0]
    assert sub["sha256"] == hashlib.sha256((d / "subscriptions.csv").read_bytes()).hexdigest()
    assert len(ws.store.table("_sikta_ingests").to_pyarrow()) == 2


def test_odd_text_reaches_the_quarantine_unchanged(ws, tmp_path):
    # A failed row's file, reason and record travel through the written table as one JSON verdict:
    # quotes, backslashes, tabs, line breaks and emoji in the values, a quote and an umlaut in the path.
    d = tmp_path / 'exp"ö'
    d.mkdir()
    write(d, "accounts.csv", 'account_id,name,employees\nA1,ok,1\nA2,"Bé ""q"" \\ b\tt",lots\nA3,"two\nlines",x😀\n')
    write(d, "orders.csv", "order_id,account_id,order_date,amount\n1,A1,2024-01-01,10\n")
    ws.ingest(d)
    q = sorted(ws.quarantine("accounts").to_pyarrow().to_pylist(), key=lambda r: r["row"])
    assert [(r["file"], r["row"], r["column"]) for r in q] == [(str(d / "accounts.csv"), 2, "employees"),
                                                               (str(d / "accounts.csv"), 3, "employees")]
    assert [r["reason"] for r in q] == ["employees is not a whole number: 'lots'",
                                        "employees is not a whole number: 'x😀'"]
    records = [json.loads(r["record"]) for r in q]
    assert [(r["account_id"], r["name"], r["employees"]) for r in records] == [
        ("A2", 'Bé "q" \\ b\tt', "lots"), ("A3", "two\nlines", "x😀")]
