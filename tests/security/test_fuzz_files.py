"""Fuzzed input files: whatever bytes arrive, ingest never shows a traceback and loses no row.

Every generated export is a CSV of orders (with a fixed accounts file): random
encodings and byte order marks, delimiters, ragged rows, quotes and newlines in
fields, huge and tiny numbers, dates in many formats and out of range,
duplicated, missing and empty headers, empty files and binary garbage. The
properties: the ingest either succeeds with rows in = loaded + quarantined (and
the loaded table holds exactly the loaded rows, every quarantined row names a
file, a row, a column and a reason), or it refuses the file with one clear line
(an :class:`~sikta.errors.InputError`). For well-formed files, rows in equals the
records a plain Python csv reader counts.

The fast variant runs in ``make test``; ``--long`` runs at least 10,000 cases and
writes its numbers to ``bench/results/security_fuzz_files.md``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sikta.engine.store import Store
from sikta.errors import SiktaError
from sikta.service.ingest import ingest

REPO = Path(__file__).resolve().parents[2]
HEADER = ["order_id", "account_id", "order_date", "amount"]
ACCOUNTS = "account_id\nA1\nA2\n"

values = st.one_of(
    st.sampled_from(["A1", "A2", "A3", "", " A1 ", "a1", "ann@x.io"]),
    st.sampled_from(["2025-01-05", "05.01.2025", "01/05/2025", "10000-01-01", "1850-02-03", "2025-02-30",
                     "2099-12-31", "yesterday", "20250105", "2025-01-05T10:00:00Z", ""]),
    st.sampled_from(["1", "-3.5", "1e19", "1e-300", "1e400", "nan", "inf", "1,5", "1.234,50", "9" * 40, "0x10",
                     "", " 12 "]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(['"quoted, with comma"', 'a "quote', 'multi\nline', "=HYPERLINK(1)", "\t", "\x00"]),
)
rows = st.lists(st.lists(values, min_size=0, max_size=6), max_size=25)
headers = st.one_of(
    st.just(HEADER),
    st.permutations(HEADER).map(list),
    st.sampled_from([HEADER + ["amount"], HEADER[:3], HEADER + [""], ["ORDER_ID", "Account_Id", "order_date", "AMOUNT"],
                     ["order_id", "account_id", "order_date", "amount", "_row"]]),
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"])
delimiters = st.sampled_from([",", ";", "\t", "|"])


@st.composite
def exports(draw) -> tuple[bytes, bool]:
    """(file bytes, whether a plain csv reader sees exactly the records we wrote)."""
    kind = draw(st.sampled_from(["csv"] * 8 + ["empty", "garbage"]))
    if kind == "empty":
        return b"", False
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=300)), False
    header, body = draw(headers), draw(rows)
    delim, enc = draw(delimiters), draw(encodings)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    w.writerow(header)
    w.writerows(body)
    text = buf.getvalue()
    if draw(st.booleans()):  # damage: cut the file or drop a quote somewhere
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(['"', "", "\n\n   \n", delim * 3]))+ text[cut:]
        regular = False
    else:
        regular = True
    try:
        return text.encode(enc, errors="strict"), regular and enc.startswith("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8"), regular


def _records(data: bytes) -> int:
    """Data records a plain reader sees: every non-blank record after the header."""
    text = data.decode("utf-8-sig")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delim = max(",;\t|", key=first.count)
    # newline="": a carriage return inside a field is data (the csv module's rule; found by --long)
    records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim) if r]
    return len(records) - 1  # the first is the header


def check_one(tmp: Path, data: bytes, regular: bool) -> str:
    """Ingest one fuzzed orders file; assert the properties; say how it ended."""
    (tmp / "accounts.csv").write_text(ACCOUNTS)
    (tmp / "orders.csv").write_bytes(data)
    store = Store(":memory:")
    try:
        report = ingest(store, [tmp])
    except SiktaError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "Traceback" not in msg, msg
        return "refused"
    try:
        o = report.tables["orders"]
        assert o.rows_in == o.loaded + o.quarantined
        assert store.count(store.table("orders")) == o.loaded
        q = store.frame(store.table("_sikta_quarantine"))
        q = q[q.table == "orders"]
        assert len(q) == o.quarantined
        assert q["file"].str.len().gt(0).all() and q["row"].ge(1).all()
        assert q["column"].str.len().gt(0).all() and q["reason"].str.len().gt(0).all()
        assert not q["reason"].str.contains("@x.io").any() and not q["record"].fillna("").str.contains("@x.io").any()
        if regular:
            assert o.rows_in == _records(data), (o.rows_in, _records(data))
        return "loaded"
    finally:
        store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(export=exports())
@example(export=(b"order_id,account_id,order_date,amount\nO1,A1,2025-01-05,1e19\n", True))
@example(export=(b"order_id,account_id\n\xff\xfe\x00garbage", False))
@example(export=(b"\n\n   \norder_id,account_id,order_date,amount\r\n", False))  # found by --long: blank lines above the header
@example(export=(b"order_id,account_id,order_date,amount\nA1\nA1,A1,A1,A1,z\r\\6,A1\nA1,A1\n\n", True))  # --long: a bare CR
@example(export=(b"\n\norder_id,account_id,order_date,amount\nO1,A1,2025-01-05,1\nO2,A1,x,1\n", True))
@example(export=('order_id;account_id;order_date;amount\r\nO1;A1;05.01.2025;"1,5"\r\n'.encode("cp1252"), False))
def test_fuzzed_exports_never_lose_a_row(tmp_path_factory, export):
    data, regular = export
    check_one(tmp_path_factory.mktemp("fuzz"), data, regular)


@pytest.mark.long
def test_fuzzed_exports_long(tmp_path_factory):
    """At least 10,000 fresh cases; the counts go to bench/results."""
    seen = {"loaded": 0, "refused": 0}
    started = time.perf_counter()

    @settings(max_examples=10_000, deadline=None, derandomize=False, database=None,
              suppress_health_check=list(HealthCheck))
    @given(export=exports())
    def run(export):
        data, regular = export
        seen[check_one(tmp_path_factory.mktemp("fuzz"), data, regular)] += 1

    run()
    total = sum(seen.values())
    assert total >= 10_000
    out = REPO / "bench" / "results"
    doc = {"cases": total, **seen, "seconds": round(time.perf_counter() - started, 1), "tracebacks": 0, "rows_lost": 0}
    (out / "security_fuzz_files.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "security_fuzz_files.md").write_text(
        f"# Fuzzed input files\n\n{total:,} generated order exports (encodings, delimiters, ragged rows, quotes and "
        f"newlines, odd numbers and dates, bad headers, empty files, binary garbage): {seen['loaded']:,} loaded with "
        f"rows in = loaded + quarantined, {seen['refused']:,} refused with one clear line, no traceback, "
        f"in {doc['seconds']} s.\n")
