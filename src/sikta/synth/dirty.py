"""Dirty mode: realistic bad rows, each breaking exactly one contract rule.

Bad rows are *added* to the clean rows (copies of real rows with one field
broken), at random positions; duplicates always come after their original.
They use their own random stream and id ranges, so the clean rows of a dirty
data set are exactly the rows of the clean data set with the same seed, and
a correct validator that quarantines ``expected_quarantine`` rows per table
loads exactly the clean data.

Nothing ever references a bad row: fresh ids are never used by child tables,
and an account copy or an unknown id never gets child rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sikta.synth._util import const_strings, id_strings, uniform_int
from sikta.synth.writer import TS_FORMAT

#: the kinds of bad rows per table, in the order they are injected
KINDS: dict[str, tuple[str, ...]] = {
    "accounts": ("duplicate_id", "not_a_number", "bad_date"),
    "products": ("duplicate_id", "not_a_number"),
    "contacts": ("duplicate_id", "unknown_account"),
    "orders": ("bad_date", "unknown_account", "not_a_number"),
    "subscriptions": ("duplicate_id", "unknown_account", "negative_seats", "end_before_start", "bad_date"),
    "usage": ("unknown_account", "bad_date", "not_a_number"),
    "tickets": ("duplicate_id", "unknown_account", "closed_before_opened", "bad_date"),
    "survey_responses": ("nps_out_of_range", "unknown_account", "bad_date"),
    "interactions": ("unknown_account", "bad_date"),
}
#: injected once per data set, not at the rate
SPECIAL = {"accounts": {"parent_cycle": 3, "self_parent": 1}}
KEY = {
    "accounts": "account_id",
    "products": "product_id",
    "contacts": "contact_id",
    "subscriptions": "subscription_id",
    "tickets": "ticket_id",
}
DATE_COLUMN = {
    "accounts": "first_seen",
    "orders": "order_date",
    "subscriptions": "start_date",
    "usage": "date",
    "tickets": "opened_at",
    "survey_responses": "answered_at",
    "interactions": "date",
}
NUMBER_COLUMN = {"accounts": "employees", "products": "list_price", "orders": "amount", "usage": "events"}
BAD_DATES = ("2024-13-45", "yesterday", "2023-02-30", "0000-00-00", "31/02/2024")
BAD_TIMESTAMPS = ("2024-13-45 10:00:00", "yesterday", "2023-02-30 09:15:00", "2024-06-31 25:61:00")
#: words in numeric columns; nullable columns avoid tokens CSV readers treat as null ('n/a', 'NA')
BAD_NUMBERS = {
    "employees": ("approx. 50", "50-100", "several hundred", "10+", "unknown"),
    "list_price": ("call us", "on request", "from 99", "TBA"),
    "amount": ("n/a", "tbd", "1.234,50 EUR", "see invoice"),
    "events": ("lots", "approx. 50", "many", "1,2k"),
}
BAD_NPS = (11.0, 12.0, 15.0, -1.0, -3.0, 100.0)
#: fresh keys of bad rows come from a range clean data never reaches
FRESH_BASE = 90_000_000
FRESH_PREFIX = {"contacts": "C", "subscriptions": "S", "tickets": "T"}


@dataclass
class DirtyState:
    """Rate, running counts and id allocation across chunks."""

    rate: float
    n_accounts: int
    width: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    fresh: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {t: {k: 0 for k in kinds} for t, kinds in KINDS.items()}
        for k, v in SPECIAL["accounts"].items():
            self.counts["accounts"][k] = 0
        self.fresh = {t: 0 for t in KEY}

    def fresh_ids(self, table: str, k: int) -> pa.Array:
        start = self.fresh[table]
        self.fresh[table] += k
        if table == "accounts":  # after all real accounts, before the unknown-id range
            return id_strings("A", self.n_accounts + 1 + start + np.arange(k), self.width)
        if table == "products":
            return id_strings("MISC-", 1 + start + np.arange(k), 4)
        return id_strings(FRESH_PREFIX[table], FRESH_BASE + start + np.arange(k), 8)

    def unknown_accounts(self, rng: np.random.Generator, k: int) -> pa.Array:
        n = self.n_accounts
        return id_strings("A", uniform_int(rng, np.full(k, 2 * n + 1), np.full(k, 3 * n)), self.width)

    def manifest(self) -> dict:
        return {
            "rate": self.rate,
            "tables": {t: dict(sorted(c.items())) for t, c in sorted(self.counts.items())},
            "expected_quarantine": {t: int(sum(c.values())) for t, c in sorted(self.counts.items())},
            "notes": (
                "Every injected row breaks exactly one contract rule and no other row references it. "
                "duplicate_id rows are later copies of an existing key (the first occurrence is valid). "
                "Unparseable values (bad_date, not_a_number) count as quarantined even in nullable columns. "
                "parent_cycle: accounts CYC-1..3 whose parents form a cycle; self_parent: one account "
                "that is its own parent."
            ),
        }


def _pick(rng: np.random.Generator, values, k: int) -> pa.Array:
    return pa.array([values[i] for i in rng.integers(0, len(values), k)], type=pa.string())


def _set(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), values.cast(table.schema.field(i).type))


def _break(table_name: str, kind: str, bad: pa.Table, rng: np.random.Generator, state: DirtyState) -> pa.Table:
    k = bad.num_rows
    if kind != "duplicate_id" and table_name in KEY:
        bad = _set(bad, KEY[table_name], state.fresh_ids(table_name, k))
    if kind == "bad_date":
        col = DATE_COLUMN[table_name]
        return _set(bad, col, _pick(rng, BAD_TIMESTAMPS if col == "opened_at" else BAD_DATES, k))
    if kind == "not_a_number":
        col = NUMBER_COLUMN[table_name]
        return _set(bad, col, _pick(rng, BAD_NUMBERS[col], k))
    if kind == "unknown_account":
        bad = _set(bad, "account_id", state.unknown_accounts(rng, k))
        if table_name == "survey_responses":
            bad = _set(bad, "contact_id", pa.nulls(k, pa.string()))
        return bad
    if kind == "negative_seats":
        return _set(bad, "seats", pa.array(-rng.integers(1, 21, k), type=pa.int64()))
    if kind == "end_before_start":
        start = bad.column("start_date").cast(pa.date32()).combine_chunks()
        days = np.asarray(start.cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int32)
        return _set(bad, "end_date", pa.array(days - rng.integers(1, 61, k).astype(np.int32), type=pa.date32()))
    if kind == "closed_before_opened":
        opened = pc.strptime(bad.column("opened_at"), format=TS_FORMAT, unit="s").combine_chunks()
        secs = opened.cast(pa.int64()).to_numpy(zero_copy_only=False)
        closed = (secs - rng.integers(3600, 5 * 86400, k)) * 1_000_000
        return _set(bad, "closed_at", pa.array(closed, type=pa.timestamp("us")))
    if kind == "nps_out_of_range":
        bad = _set(bad, "item", const_strings("nps", k))
        return _set(bad, "value", pa.array(np.array(BAD_NPS)[rng.integers(0, len(BAD_NPS), k)]))
    if kind == "duplicate_id":
        return bad
    raise AssertionError(kind)  # pragma: no cover


def inject(
    table_name: str, table: pa.Table, rng: np.random.Generator, state: DirtyState, first: bool
) -> pa.Table:
    """``table`` (already in its file schema) with bad rows mixed in.

    ``first`` marks the first chunk: it gets at least one row of every kind
    and the one-off parent cycle and self-parent accounts.
    """
    n = table.num_rows
    if n == 0:
        return table
    kinds = KINDS[table_name]
    parts, pos = [table], [2 * np.arange(n) + 1]  # clean row i sorts at 2i+1, a bad row before row p at 2p
    for kind in kinds:
        k = int(rng.binomial(n, state.rate / len(kinds)))
        if state.counts[table_name][kind] == 0:
            k = max(k, 1)
        if k == 0:
            continue
        src = rng.integers(0, n, k)
        parts.append(_break(table_name, kind, table.take(pa.array(src)), rng, state))
        p = uniform_int(rng, src + 1, np.full(k, n)) if kind == "duplicate_id" else rng.integers(0, n + 1, k)
        pos.append(2 * p)
        state.counts[table_name][kind] += k
    if first and table_name == "accounts":
        parts.append(_cycle(table, rng))
        parts.append(_self_parent(table, rng, state))
        pos.append(2 * rng.integers(0, n + 1, 4))
        for kind, k in SPECIAL["accounts"].items():
            state.counts["accounts"][kind] += k
    order = np.argsort(np.concatenate(pos), kind="stable")
    return pa.concat_tables(parts).take(pa.array(order))


def _cycle(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    bad = table.take(pa.array(rng.integers(0, table.num_rows, 3)))
    bad = _set(bad, "account_id", pa.array(["CYC-1", "CYC-2", "CYC-3"]))
    bad = _set(bad, "parent_account_id", pa.array(["CYC-3", "CYC-1", "CYC-2"]))
    return _set(bad, "account_type", const_strings("company", 3))


def _self_parent(table: pa.Table, rng: np.random.Generator, state: DirtyState) -> pa.Table:
    bad = table.take(pa.array(rng.integers(0, table.num_rows, 1)))
    ids = state.fresh_ids("accounts", 1)
    bad = _set(bad, "account_id", ids)
    bad = _set(bad, "parent_account_id", ids)
    return _set(bad, "account_type", const_strings("company", 1))

