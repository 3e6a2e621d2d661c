"""CRM exports (exact headers, no personal data by default) and write-back into a real PostgreSQL server."""

from __future__ import annotations

import csv
import threading
import time

import duckdb
import pandas as pd
import psycopg
import pytest

from sikta.errors import InputError, UsageError
from sikta.service.crm_export import export_layout
from sikta.service.model import model_from_text, starter_model_text
from sikta.service.workspace import Workspace
from sikta.service.writeback import write_back

SALESFORCE = ["Id", "Sikta_Unit_Id__c", "Sikta_Group__c", "Sikta_Group_Label__c", "Sikta_Segment__c",
              "Sikta_Potential_Score__c", "Sikta_Pain_Score__c", "Sikta_Revenue_12m__c", "Sikta_CLV__c",
              "Sikta_Value_Tier__c", "Sikta_Engagement__c", "Sikta_Owner__c", "Sikta_Run_Id__c", "Sikta_As_Of__c"]
HUBSPOT = ["Record ID", "Company Domain Name", "sikta_unit_id", "sikta_group", "sikta_group_label", "sikta_segment",
           "sikta_potential_score", "sikta_pain_score", "sikta_revenue_12m", "sikta_clv", "sikta_value_tier",
           "sikta_engagement", "sikta_owner", "sikta_run_id", "sikta_as_of"]
GENERIC = ["unit_id", "crm_id", "domain", "name", "status", "group", "group_label", "segment", "potential_score",
           "pain_score", "revenue_12m", "clv", "clv_minus_cac", "value_tier", "engagement", "owner", "run_id", "as_of",
           "grain", "model_name", "model_version"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from sikta.synth import generate

    d = tmp_path_factory.mktemp("crm")
    generate(d / "data", accounts=300, seed=3, lines_per_account=10, years=2)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(d / "data")
    run = ws.run(model_from_text(starter_model_text(), source="starter.yaml"))
    yield d, ws, run
    ws.close()


def _header(path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def _personal(ws) -> list[str]:
    c = ws.store.table("contacts").to_pandas()
    return [v for v in pd.concat([c["email"], c["name"]]).dropna().astype(str) if len(v) > 5]


#: the starter model declares four schemes; each is one more field, in the order declared (docs/operate.md)
SCHEMES = ("firmographic", "needs", "behavioral", "value")


@pytest.mark.parametrize(("to", "header", "file"), [
    ("salesforce", SALESFORCE + [f"Sikta_{s.title()}__c" for s in SCHEMES], "salesforce_accounts.csv"),
    ("hubspot", HUBSPOT + [f"sikta_{s}" for s in SCHEMES], "hubspot_companies.csv"),
    ("csv", GENERIC + [f"scheme__{s}" for s in SCHEMES], "segments.csv")])
def test_layouts_have_exact_headers_and_no_personal_data(synth, tmp_path, to, header, file):
    _, ws, run = synth
    doc = export_layout(ws, to, out_dir=tmp_path)
    assert _header(tmp_path / file) == header and doc["columns"] == header
    text = (tmp_path / file).read_text(encoding="utf-8")
    leaked = [v for v in _personal(ws) if v in text]
    assert not leaked, leaked[:3]
    assert doc["contacts"] is None and not (tmp_path / "contacts.csv").exists()
    rows = pd.read_csv(tmp_path / file, dtype=str)
    units = ws.run_rows().count().execute()
    assert len(rows) + doc["unmatched"] == units


def test_salesforce_id_is_the_mapped_crm_id(synth, tmp_path):
    _, ws, run = synth
    export_layout(ws, "salesforce", out_dir=tmp_path)
    got = pd.read_csv(tmp_path / "salesforce_accounts.csv", dtype=str).set_index("Sikta_Unit_Id__c")
    accounts = ws.store.table("accounts").to_pandas().set_index("account_id")
    assert (got["Id"] == accounts.loc[got.index, "crm_id"]).all()
    groups = ws.run_rows().to_pandas().set_index("unit_id")["group"]
    assert (got["Sikta_Group__c"] == groups.loc[got.index]).all()
    assert set(got["Sikta_As_Of__c"]) == {str(pd.Timestamp(run.as_of).date())}


def test_units_without_an_id_go_to_the_unmatched_file(tmp_path, clean_exports):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.ingest(clean_exports)
    ws.run(model_from_text(starter_model_text().replace("employees < 10", "employees < 0"), source="s.yaml"))
    doc = export_layout(ws, "salesforce", out_dir=tmp_path / "sf")
    assert doc["rows"] == 0 and doc["unmatched"] == ws.run_rows().count().execute()
    un = pd.read_csv(doc["files"]["unmatched"])
    assert set(un["reason"]) == {"no crm_id: map the CRM's Account Id to accounts.crm_id"}
    ws.close()


def test_include_contacts_adds_them_in_their_own_file(synth, tmp_path):
    _, ws, _ = synth
    doc = export_layout(ws, "parquet", out_dir=tmp_path, include_contacts=True)
    c = pd.read_parquet(tmp_path / "contacts.parquet")
    assert list(c.columns) == ["contact_id", "account_id", "crm_id", "unit_id", "name", "email", "role", "department",
                               "group", "segment"]
    assert doc["contacts"] == len(c) > 0 and c["email"].notna().any()
    seg = pd.read_parquet(tmp_path / "segments.parquet")
    assert list(seg.columns) == GENERIC + [f"scheme__{s}" for s in SCHEMES] and "email" not in seg.columns


def test_formula_cells_are_neutralized(synth, tmp_path):
    _, ws, _ = synth
    con = ws.store.raw
    unit = ws.run_rows().to_pandas()["unit_id"].iat[0]
    con.execute("UPDATE accounts SET crm_id = '=HYPERLINK(1)' WHERE account_id = ?", [unit])
    try:
        export_layout(ws, "salesforce", out_dir=tmp_path)
        text = (tmp_path / "salesforce_accounts.csv").read_text()
        assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text
    finally:
        con.execute("UPDATE accounts SET crm_id = NULL WHERE crm_id = '=HYPERLINK(1)'")


def _pg(url: str):
    return psycopg.connect(url, autocommit=True)


def test_write_back_into_postgres_replaces_the_table(synth, postgres_url):
    _, ws, run = synth
    doc = write_back(ws, postgres_url, "sikta_segments")
    units = ws.run_rows().to_pandas().set_index("unit_id")
    with _pg(postgres_url) as con:
        rows = con.execute('SELECT unit_id, "group", revenue_12m FROM sikta_segments').fetchall()
        cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'sikta_segments' ORDER BY ordinal_position")]
    assert doc["tables"] == {"sikta_segments": len(units)} and len(rows) == len(units)
    assert cols == GENERIC + [f"scheme__{s}" for s in SCHEMES] and "email" not in cols
    assert {u: g for u, g, _ in rows} == units["group"].to_dict()
    # a second write replaces the rows (no duplicates, no leftover staging table)
    write_back(ws, postgres_url, "sikta_segments", run.run_id)
    with _pg(postgres_url) as con:
        n = con.execute("SELECT count(*) FROM sikta_segments").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert n == len(units) and "sikta_segments__sikta_new" not in tables


def test_write_back_swap_is_atomic_for_a_reader(synth, postgres_url):
    _, ws, _ = synth
    write_back(ws, postgres_url, "atomic_t")
    with _pg(postgres_url) as con:
        con.execute("DELETE FROM atomic_t WHERE unit_id IN (SELECT unit_id FROM atomic_t LIMIT 5)")
        before = con.execute("SELECT count(*) FROM atomic_t").fetchone()[0]
    reader = psycopg.connect(postgres_url)  # holds a transaction that read the table
    assert reader.execute("SELECT count(*) FROM atomic_t").fetchone()[0] == before
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            write_back(ws, postgres_url, "atomic_t")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        done.set()

    t = threading.Thread(target=write)
    t.start()
    time.sleep(1.0)
    # the swap waits for the reader; meanwhile the reader still sees the old rows, never a missing table
    assert not done.is_set()
    assert reader.execute("SELECT count(*) FROM atomic_t").fetchone()[0] == before
    reader.commit()
    t.join(60)
    reader.close()
    assert done.is_set() and not errors
    with _pg(postgres_url) as con:
        assert con.execute("SELECT count(*) FROM atomic_t").fetchone()[0] == before + 5


def test_a_failed_swap_leaves_the_table_as_it_was(synth, postgres_url):
    _, ws, _ = synth
    write_back(ws, postgres_url, "kept_t")
    with _pg(postgres_url) as con:
        con.execute("DELETE FROM kept_t WHERE unit_id IN (SELECT unit_id FROM kept_t LIMIT 3)")
        before = con.execute("SELECT count(*) FROM kept_t").fetchone()[0]
        con.execute("CREATE VIEW kept_v AS SELECT unit_id FROM kept_t")  # a dependent view blocks DROP TABLE
    with pytest.raises(InputError, match=r"writing to postgresql://sikta@127\.0\.0\.1:\d+/postgres failed: .*depend"):
        write_back(ws, postgres_url, "kept_t")
    with _pg(postgres_url) as con:
        assert con.execute("SELECT count(*) FROM kept_t").fetchone()[0] == before


def test_write_back_into_a_duckdb_file(synth, tmp_path):
    _, ws, _ = synth
    target = tmp_path / "crm.duckdb"
    write_back(ws, str(target), "segments")
    write_back(ws, f"duckdb://{target}", "segments")
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("SELECT count(*) FROM segments").fetchone()[0] == ws.run_rows().count().execute()
    con.close()
    with pytest.raises(UsageError, match="names the workspace itself"):
        write_back(ws, str(ws.path), "segments")
    with pytest.raises(UsageError, match="--table 'x y'"):
        write_back(ws, str(target), "x y")


def test_connection_errors_hide_the_password(synth):
    _, ws, _ = synth
    with pytest.raises(InputError) as info:
        write_back(ws, "postgresql://u:topsecret@127.0.0.1:1/db", "t")
    assert "topsecret" not in str(info.value) and "u:***@127.0.0.1:1" in str(info.value)
