"""CSV output and dirty mode: the manifest must match the rows actually written."""

from __future__ import annotations

import csv
import hashlib
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sikta.engine.contract import CONTRACT
from sikta.synth import generate
from sikta.synth.dirty import KINDS
from sikta.synth.writer import TEXT_COLUMNS, contract_schema

from ._reference import load_dir, quarantine

ARGS = dict(accounts=800, seed=5, chunk_size=400, lines_per_account=40)
RATE = 0.02
CHILDREN = ("contacts", "orders", "subscriptions", "usage", "tickets", "survey_responses", "interactions")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth_dirty")
    return {
        ("clean", "parquet"): generate(base / "cp", **ARGS),
        ("clean", "csv"): generate(base / "cc", fmt="csv", **ARGS),
        ("dirty", "parquet"): generate(base / "dp", dirty=RATE, **ARGS),
        ("dirty", "csv"): generate(base / "dc", fmt="csv", dirty=RATE, **ARGS),
    }


@pytest.fixture(scope="module")
def texts(runs):
    return {key: load_dir(s.out_dir, key[1]) for key, s in runs.items()}


# --- CSV ---------------------------------------------------------------------------


def test_csv_header_and_formats(runs):
    s = runs[("clean", "csv")]
    assert s.files["truth"].suffix == ".parquet" and s.files["orders"].suffix == ".csv"
    for table, tc in CONTRACT.items():
        with open(s.files[table], newline="") as f:
            header = next(csv.reader(f))
        assert header == [c.name for c in tc.columns], table
    orders = pd.read_csv(s.files["orders"], dtype=str)
    assert orders["order_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    tickets = pd.read_csv(s.files["tickets"], dtype=str)
    assert tickets["opened_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()
    closed = tickets["closed_at"].dropna()
    assert len(closed) and closed.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()


def test_csv_holds_the_same_values_as_parquet(texts):
    for table in CONTRACT:
        pd.testing.assert_frame_equal(texts[("clean", "csv")][table], texts[("clean", "parquet")][table], obj=table)


# --- dirty mode ----------------------------------------------------------------------


def test_manifest_structure(runs):
    for fmt in ("parquet", "csv"):
        s = runs[("dirty", fmt)]
        manifest = json.loads(s.files["dirty_manifest"].read_text())
        assert s.files["dirty_manifest"] == s.out_dir / "dirty_manifest.json"
        assert manifest["tables"] == s.dirty_injected
        assert set(manifest["tables"]) == set(CONTRACT)
        for table, kinds in manifest["tables"].items():
            assert set(KINDS[table]) <= set(kinds)
            assert all(n >= 1 for n in kinds.values()), table
            assert manifest["expected_quarantine"][table] == sum(kinds.values())
        assert manifest["tables"]["accounts"]["parent_cycle"] == 3
        assert manifest["tables"]["accounts"]["self_parent"] == 1


def test_injection_rate_is_about_the_rate(runs):
    dirty, clean = runs[("dirty", "parquet")], runs[("clean", "parquet")]
    for table in ("orders", "usage", "interactions"):
        injected = dirty.rows[table] - clean.rows[table]
        assert injected == sum(dirty.dirty_injected[table].values())
        assert 0.5 * RATE <= injected / clean.rows[table] <= 1.5 * RATE, table


def test_reference_validator_quarantines_exactly_the_manifest(runs, texts):
    for fmt in ("parquet", "csv"):
        manifest = json.loads(runs[("dirty", fmt)].files["dirty_manifest"].read_text())
        bad = quarantine(texts[("dirty", fmt)])
        assert {t: int(m.sum()) for t, m in bad.items()} == manifest["expected_quarantine"], fmt


def test_without_quarantined_rows_dirty_equals_clean(texts):
    for fmt in ("parquet", "csv"):
        dirty, clean = texts[("dirty", fmt)], texts[("clean", fmt)]
        bad = quarantine(dirty)
        for table in CONTRACT:
            kept = dirty[table][~bad[table]].reset_index(drop=True)
            pd.testing.assert_frame_equal(kept, clean[table], obj=f"{fmt}:{table}")


def test_unknown_accounts_and_duplicates_match_manifest(runs, texts):
    s = runs[("dirty", "parquet")]
    t = texts[("dirty", "parquet")]
    ids = set(t["accounts"]["account_id"])
    for table in CHILDREN:
        acct = t[table]["account_id"]
        unknown = int((acct.notna() & ~acct.isin(ids)).sum())
        assert unknown == s.dirty_injected[table]["unknown_account"], table
    for table, key in (("accounts", "account_id"), ("contacts", "contact_id"), ("subscriptions", "subscription_id"),
                       ("tickets", "ticket_id"), ("products", "product_id")):  # fmt: skip
        dups = int(t[table].duplicated(subset=[key]).sum())
        assert dups == s.dirty_injected[table]["duplicate_id"], table
    subs = t["subscriptions"]
    assert int((pd.to_numeric(subs["seats"]) < 0).sum()) == s.dirty_injected["subscriptions"]["negative_seats"]
    sr = t["survey_responses"]
    nps = pd.to_numeric(sr["value"])[sr["item"] == "nps"]
    assert int(((nps < 0) | (nps > 10)).sum()) == s.dirty_injected["survey_responses"]["nps_out_of_range"]


def test_cycle_and_self_parent_accounts_have_no_children(texts):
    t = texts[("dirty", "csv")]
    acc = t["accounts"].set_index("account_id")
    assert acc.loc[["CYC-1", "CYC-2", "CYC-3"], "parent_account_id"].tolist() == ["CYC-3", "CYC-1", "CYC-2"]
    selfp = acc.index[acc["parent_account_id"] == acc.index]
    assert len(selfp) == 1
    dirty_ids = {"CYC-1", "CYC-2", "CYC-3", *selfp}
    clean_ids = set(texts[("clean", "csv")]["accounts"]["account_id"])
    extra = set(acc.index) - clean_ids
    assert dirty_ids <= extra
    for table in CHILDREN:
        assert not set(t[table]["account_id"].dropna()) & extra, table
    assert not set(acc["parent_account_id"].dropna()) & (extra - dirty_ids)


def test_dirty_parquet_writes_text_columns_as_strings(runs):
    s = runs[("dirty", "parquet")]
    for table in CONTRACT:
        schema = pq.read_schema(s.files[table])
        expected = contract_schema(table)
        assert schema.names == expected.names
        for f, e in zip(schema, expected):
            want = pa.string() if f.name in TEXT_COLUMNS.get(table, ()) else e.type
            assert f.type == want, (table, f.name)


def test_dirty_output_is_deterministic(runs, tmp_path):
    again = generate(tmp_path, fmt="csv", dirty=RATE, **ARGS)
    first = runs[("dirty", "csv")]
    for name, path in first.files.items():
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(again.files[name].read_bytes()).digest()
