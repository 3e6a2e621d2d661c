"""Store.has and Store.tables answer what Ibis's list_tables answers (their oracle), for tables, views,
temporary tables, names that need quoting and names that are not there."""

from __future__ import annotations

from sikta.engine.store import Store


def test_has_agrees_with_ibis_list_tables(tmp_path):
    store = Store(tmp_path / "ws.duckdb")
    try:
        raw = store.con.con
        raw.execute("CREATE TABLE orders AS SELECT 1 AS x")
        raw.execute("CREATE TABLE \"Odd name; it's\" AS SELECT 1 AS x")
        raw.execute("CREATE VIEW v_orders AS SELECT * FROM orders")
        raw.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS x")
        raw.execute("CREATE SCHEMA other")
        raw.execute("CREATE TABLE other.elsewhere AS SELECT 1 AS x")
        listed = set(store.con.list_tables())
        for name in ("orders", "Odd name; it's", "v_orders", "scratch", "elsewhere", "ORDERS", "missing", "'; --"):
            assert store.has(name) == (name in listed), name
        assert store.has("orders") and store.has("Odd name; it's") and store.has("scratch")
        assert not store.has("elsewhere") and not store.has("missing")
        assert store.tables() == sorted(listed)  # its own catalog query, the same names
    finally:
        store.close()
