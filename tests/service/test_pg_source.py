"""Ingest from PostgreSQL, on a real server (tests/pg_server.py), against the file path as the reference.

The generated CSV files are copied into typed PostgreSQL tables with the
server's own CSV reader (``COPY``), so the database and the files hold the
same rows; ingesting either must give the same tables and features. The
server trusts every login, so a password in the URL is accepted and ignored:
that lets every test carry one and check it is never shown or stored. One
role gets a real password (``scram-sha-256`` for that role only) for the
bad-credentials and ``PGPASSWORD`` cases.
"""

from __future__ import annotations

import json

import pandas as pd
import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from sikta.cli import app
from sikta.engine.contract import CONTRACT
from sikta.engine import pgsource
from sikta.engine.pgsource import redact_url
from sikta.errors import InputError, MappingError, UsageError
from sikta.service.workspace import Workspace

PASSWORD = "Pw-never-SHOWN-7319"
DATABASE = "sikta_source"
PG_TYPES = {"string": "text", "int": "bigint", "float": "double precision", "date": "date", "timestamp": "timestamp"}
FEATURES_KEY = "unit_id"


def _columns(csv_path) -> list[str]:
    return [c.strip('"') for c in csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")]


def _load(con: psycopg.Connection, schema: str, data, tables=None) -> None:
    """The generated CSV files as typed tables of ``schema`` (contract types; text for anything else)."""
    con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    for name in tables or CONTRACT:
        path = data / f"{name}.csv"
        cols = _columns(path)
        types = {c.name: PG_TYPES[c.dtype] for c in CONTRACT[name].columns}
        defs = ", ".join(f"{c} {types.get(c, 'text')}" for c in cols)
        con.execute(f'CREATE TABLE "{schema}"."{name}" ({defs})')
        with con.cursor().copy(f'COPY "{schema}"."{name}" FROM STDIN WITH (FORMAT csv, HEADER true)') as cp:
            cp.write(path.read_bytes())


@pytest.fixture(scope="module")
def pg(postgres_url, tmp_path_factory):
    """A database of its own on the session's server (the write-back tests use the default one)."""
    from sikta.synth import generate

    data = tmp_path_factory.mktemp("pg_source") / "csv"
    generate(data, accounts=250, seed=11, fmt="csv", lines_per_account=20)
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        con.execute(f"CREATE DATABASE {DATABASE}")
    base = postgres_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    with psycopg.connect(base, autocommit=True) as con:
        _load(con, "public", data)
    return base.replace("://sikta@", f"://sikta:{PASSWORD}@"), data, base


def _sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        for s in statements:
            con.execute(s)


def _frame(ws: Workspace, name: str) -> pd.DataFrame:
    f = ws.store.frame(ws.table(name))
    return f.sort_values(list(f.columns)).reset_index(drop=True)


def _leaks(ws: Workspace, secret: str) -> list[str]:
    """Every text cell of every workspace table that holds ``secret``."""
    found = []
    for (table,) in ws.store.raw.execute("SELECT table_name FROM information_schema.tables").fetchall():
        for col, dtype, *_ in ws.store.raw.execute(f'DESCRIBE "{table}"').fetchall():
            if dtype == "VARCHAR" and ws.store.raw.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{col}" LIKE ?', [f"%{secret}%"]).fetchone()[0]:
                found.append(f"{table}.{col}")
    return found


def test_a_database_ingest_equals_the_same_rows_from_csv(pg, tmp_path):
    url, data, _ = pg
    with Workspace(tmp_path / "pg.duckdb") as wp, Workspace(tmp_path / "csv.duckdb") as wc:
        rp, rc = wp.ingest(url), wc.ingest(data)
        counts = {t: (r.rows_in, r.loaded, r.quarantined) for t, r in rp.tables.items()}
        assert counts == {t: (r.rows_in, r.loaded, r.quarantined) for t, r in rc.tables.items()}
        assert set(counts) == set(CONTRACT) and counts["orders"][0] > 1000
        for name in CONTRACT:
            pd.testing.assert_frame_equal(_frame(wp, name), _frame(wc, name), check_dtype=False)
        label = f"{redact_url(url)}/public.orders"
        assert rp.tables["orders"].files == [label] and label.startswith("postgresql://sikta:***@")
        for grain in ("account", "ultimate_parent"):
            fp = wp.features(grain=grain).to_pandas().sort_values(FEATURES_KEY).reset_index(drop=True)
            fc = wc.features(grain=grain).to_pandas().sort_values(FEATURES_KEY).reset_index(drop=True)
            pd.testing.assert_frame_equal(fp, fc, check_dtype=False, rtol=1e-9)
        assert not _leaks(wp, PASSWORD) and PASSWORD not in json.dumps(rp.to_dict())
        files = wp.store.frame(wp.store.table("_sikta_files"))
        assert files["file"].str.startswith("postgresql://sikta:***@").all() and files["sha256"].str.len().eq(64).all()
        # the same rows give the same fingerprints on the next ingest (they hash rows, not storage)
        assert wp.ingest(url).fingerprints == rp.fingerprints


def _expected_row(base: str, table: str, key: str, where: str) -> int:
    """1-based position in ORDER BY the key, then every column in the table's order (pgsource's rule)."""
    with psycopg.connect(base) as con:
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'dirty' AND table_name = %s "
            "ORDER BY ordinal_position", [table]).fetchall()]
        order = ", ".join([key, *(c for c in cols if c != key)] if key else cols)
        return con.execute(f"SELECT n FROM (SELECT *, row_number() OVER (ORDER BY {order}) n FROM dirty.{table}) x "
                           f"WHERE {where}").fetchone()[0]


def test_bad_rows_are_quarantined_with_the_redacted_table_and_row(pg, tmp_path, monkeypatch):
    url, _, base = pg
    monkeypatch.setattr(pgsource, "BATCH_ROWS", 997)  # many batches: row numbers run on across them
    _sql(base, "DROP SCHEMA IF EXISTS dirty CASCADE", "CREATE SCHEMA dirty",
         "CREATE TABLE dirty.accounts AS SELECT * FROM public.accounts",
         "CREATE TABLE dirty.orders AS SELECT order_id, account_id, order_date::text AS order_date, product_id, "
         "quantity, unit_price, amount, currency FROM public.orders",
         "INSERT INTO dirty.accounts (account_id, name, status, employees) VALUES "
         "('A0000001', 'zzz second copy', 'customer', 3), ('Z-NEG', 'Negative', 'customer', -5)",
         "INSERT INTO dirty.orders (order_id, account_id, order_date, amount, currency) VALUES "
         "('X-DATE', 'A0000002', 'not-a-date', 10, 'EUR'), ('X-ACCT', 'NOPE-1', '2025-01-02', 10, 'EUR'), "
         "('X-AMT', 'A0000002', '2025-01-02', NULL, 'EUR')")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        rep = ws.ingest(url, schema="dirty")
        for r in rep.tables.values():
            assert r.rows_in == r.loaded + r.quarantined
        assert rep.tables["accounts"].quarantined == 2 and rep.tables["orders"].quarantined == 3
        q = ws.store.frame(ws.quarantine())
        prefix = f"postgresql://sikta:***@{base.split('@', 1)[1]}/dirty."
        assert set(q["file"]) == {prefix + "accounts", prefix + "orders"}
        got = {(r.table, r.row): (r.column, r.reason) for r in q.itertuples()}
        dup = _expected_row(base, "accounts", "account_id", "name = 'zzz second copy'")
        assert got[("accounts", dup)] == ("account_id", "duplicate account_id 'A0000001' (first at row 1)")
        neg = _expected_row(base, "accounts", "account_id", "account_id = 'Z-NEG'")
        assert got[("accounts", neg)] == ("employees", "employees -5 is below the minimum 0")
        row = _expected_row(base, "orders", "", "order_id = 'X-DATE'")
        assert got[("orders", row)] == ("order_date", "order_date is not a date: 'not-a-date'")
        row = _expected_row(base, "orders", "", "order_id = 'X-ACCT'")
        assert got[("orders", row)][0] == "account_id" and "NOPE-1" in got[("orders", row)][1]
        row = _expected_row(base, "orders", "", "order_id = 'X-AMT'")
        assert got[("orders", row)] == ("amount", "amount is missing (no amount, quantity or unit_price)")
        assert not _leaks(ws, PASSWORD)


def test_a_mapping_names_tables_and_columns(pg, tmp_path):
    url, _, base = pg
    _sql(base, "DROP SCHEMA IF EXISTS crm CASCADE", "CREATE SCHEMA crm",
         'CREATE TABLE crm.kunden AS SELECT account_id AS "KundenNr", name, status FROM public.accounts',
         'CREATE TABLE public.bestellungen AS SELECT order_id, account_id AS kunde, order_date, amount::numeric(12,2) '
         "AS betrag FROM public.orders")
    m = tmp_path / "mapping.yaml"
    m.write_text("accounts:\n  table: kunden\n  columns: {account_id: KundenNr}\n"
                 "orders:\n  table: public.bestellungen\n  columns: {account_id: kunde, amount: betrag}\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        rep = ws.ingest(url, mapping=m, schema="crm")
        assert set(rep.tables) == {"accounts", "orders"} and rep.tables["orders"].quarantined == 0
        assert rep.tables["orders"].files[0].endswith("/public.bestellungen")
        total = ws.store.raw.execute("SELECT round(sum(amount), 2) FROM orders").fetchone()[0]
    with psycopg.connect(base) as con:
        assert total == pytest.approx(float(con.execute("SELECT sum(amount::numeric(12,2)) FROM public.orders").fetchone()[0]))
    with Workspace(tmp_path / "files.duckdb") as ws:  # a mapping of tables is not for files, and the reverse
        with pytest.raises(InputError, match="database table 'kunden': ingest a postgresql://"):
            ws.ingest(tmp_path, mapping=m)
        m.write_text("accounts:\n  file: accounts.csv\n")
        with pytest.raises(InputError, match="from file 'accounts.csv', but this ingest reads postgresql://"):
            ws.ingest(url, mapping=m)
        m.write_text("accounts:\n  table: kunden; DROP TABLE x\n")
        with pytest.raises(MappingError, match="give a table name or schema.table"):
            ws.ingest(url, mapping=m)
        m.write_text("accounts:\n  table: kunden\n  file: accounts.csv\n")
        with pytest.raises(MappingError, match="cannot be combined with file:"):
            ws.ingest(url, mapping=m)


def test_passwords_are_redacted_wherever_libpq_takes_them():
    assert redact_url("postgres://ann:s3cr%40t@h1:5432,h2:5433/crm?sslmode=require&password=x") == \
        "postgresql://ann:***@h1:5432,h2:5433/crm?sslmode=require&password=***"
    assert redact_url("postgresql://ann@db/crm") == "postgresql://ann@db/crm"


@pytest.fixture(scope="module")
def pw_role(pg):
    """A role that must give its password (scram-sha-256 for this role only; everyone else stays trusted)."""
    _, _, base = pg
    with psycopg.connect(base, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS sikta_pw")
        con.execute("CREATE ROLE sikta_pw LOGIN PASSWORD 'right-Pass-42'")
        con.execute("GRANT USAGE ON SCHEMA public TO sikta_pw; GRANT SELECT ON ALL TABLES IN SCHEMA public TO sikta_pw")
        hba = con.execute("SELECT setting FROM pg_settings WHERE name = 'hba_file'").fetchone()[0]
        text = con.execute("SELECT pg_read_file(%s)", [hba]).fetchone()[0]
        # entries only, spaces for tabs: COPY's text format would escape a tab and break the file
        lines = [" ".join(ln.split()) for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        lines = ["host all sikta_pw 127.0.0.1/32 scram-sha-256", *lines]
        con.execute(sql.SQL("COPY (SELECT unnest(string_to_array({}, chr(10)))) TO {}").format(
            sql.Literal("\n".join(lines)), sql.Literal(hba)))
        con.execute("SELECT pg_reload_conf()")
    return base.replace("://sikta@", "://sikta_pw@")


def test_pgpassword_is_used_and_a_wrong_password_is_one_line(pw_role, tmp_path, monkeypatch):
    with Workspace(tmp_path / "ws.duckdb") as ws:
        wrong = pw_role.replace("sikta_pw@", f"sikta_pw:{PASSWORD}@")
        with pytest.raises(InputError) as err:
            ws.ingest(wrong)
        msg = str(err.value)
        assert msg.startswith("cannot connect to postgresql://sikta_pw:***@") and "password authentication failed" in msg
        assert PASSWORD not in msg and "\n" not in msg
        monkeypatch.setenv("PGPASSWORD", "right-Pass-42")  # libpq's own: no password in the URL at all
        assert ws.ingest(pw_role).tables["accounts"].loaded == 250


def test_errors_are_one_line_and_change_nothing(pg, tmp_path):
    url, data, base = pg
    _sql(base, "DROP SCHEMA IF EXISTS bare CASCADE", "CREATE SCHEMA bare",
         "CREATE TABLE bare.orders AS SELECT * FROM public.orders",
         "DROP SCHEMA IF EXISTS nocol CASCADE", "CREATE SCHEMA nocol",
         "CREATE TABLE nocol.accounts AS SELECT account_id AS id, name FROM public.accounts",
         "CREATE TABLE nocol.orders AS SELECT * FROM public.orders")
    port = base.split("@", 1)[1].split("/")[0].split(":")[1]
    cases = [
        (f"postgresql://sikta:{PASSWORD}@127.0.0.1:1/{DATABASE}", {}, InputError,
         f"cannot connect to postgresql://sikta:***@127.0.0.1:1/{DATABASE}: "),
        (f"postgres://nobody:{PASSWORD}@127.0.0.1:{port}/{DATABASE}", {}, InputError, 'role "nobody" does not exist'),
        (f"postgresql://sikta:{PASSWORD}@127.0.0.1:{port}/no_such_db", {}, InputError, 'database "no_such_db" does not exist'),
        (url, {"schema": "nope"}, InputError, "no schema 'nope' (schemas there: bare, "),
        (url, {"schema": "BARE"}, InputError, "no table accounts in schema bare (tables in bare: orders)"),
        (url, {"schema": "nocol"}, InputError, "nocol.accounts: accounts needs column(s) account_id; the table has id, name"),
        (url + "/public", {}, UsageError, "give the database only"),
    ]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        before = ws.ingest(data).ingest_id
        for target, kw, kind, fragment in cases:
            with pytest.raises(kind) as err:
                ws.ingest(target, **kw)
            msg = str(err.value)
            assert fragment in msg and "\n" not in msg and PASSWORD not in msg, msg
            assert ws.last_ingest()["ingest_id"] == before
        with pytest.raises(UsageError, match="ingested on its own"):
            ws.ingest(url, data)
        with pytest.raises(UsageError, match="--schema is for a database source"):
            ws.ingest(data, schema="public")


def test_the_shrink_guard_holds_for_a_database(pg, tmp_path):
    url, _, base = pg
    _sql(base, "DROP SCHEMA IF EXISTS small CASCADE", "CREATE SCHEMA small",
         "CREATE TABLE small.accounts AS SELECT * FROM public.accounts ORDER BY account_id LIMIT 20",
         "CREATE TABLE small.orders AS SELECT o.* FROM public.orders o JOIN small.accounts USING (account_id)")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        before = ws.ingest(url).ingest_id
        with pytest.raises(InputError, match="refusing to replace the workspace: accounts would load 20 of 20"):
            ws.ingest(url, schema="small")
        assert ws.last_ingest()["ingest_id"] == before and ws.store.count(ws.table("accounts")) == 250
        assert ws.ingest(url, schema="small", allow_shrink=True).tables["accounts"].loaded == 20


def test_cli_errors_in_one_line_without_the_password(pg, tmp_path):
    url, _, _ = pg
    runner = CliRunner()
    wsfile = tmp_path / "ws.duckdb"
    bad = f"postgresql://sikta:{PASSWORD}@127.0.0.1:1/{DATABASE}"
    result = runner.invoke(app, ["ingest", bad, "-w", str(wsfile)])
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == 3 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot connect to postgresql://sikta:***@127.0.0.1:1/{DATABASE}: ")
    assert PASSWORD not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert not wsfile.exists()  # a failed first ingest leaves no workspace behind
    result = runner.invoke(app, ["ingest", url, "-w", str(wsfile), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["tables"]["accounts"]["loaded"] == 250 and PASSWORD not in result.stdout + result.stderr
    result = runner.invoke(app, ["quarantine", "-w", str(wsfile), "--json"])
    assert result.exit_code == 0 and PASSWORD not in result.stdout
    assert "--schema" in runner.invoke(app, ["ingest", "--help"]).stdout
