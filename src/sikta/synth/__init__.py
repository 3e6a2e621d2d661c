"""A realistic synthetic B2B data set in the canonical tables (SPEC §3, §4.1).

:func:`generate` writes the nine contract tables (accounts, products,
contacts, orders, subscriptions, usage, tickets, survey_responses,
interactions), a ``truth.parquet`` with the planted patterns, and in dirty
mode a ``dirty_manifest.json``. Accounts are generated in chunks of whole
hierarchies and streamed to disk, so memory stays bounded at any size.

Examples
--------
>>> import tempfile
>>> summary = generate(tempfile.mkdtemp(), accounts=300, seed=1)
>>> summary.rows["accounts"]
300
>>> sorted(summary.files)[:3]
['accounts', 'contacts', 'interactions']
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sikta.engine.contract import CONTRACT
from sikta.errors import UsageError
from sikta.synth import _util as u
from sikta.synth.accounts import accounts_table, build_accounts
from sikta.synth.catalog import build_products
from sikta.synth.dirty import DirtyState, inject
from sikta.synth.engagement import make_contacts, make_interactions, make_surveys
from sikta.synth.latent import BestRule, Window, plan, truth_table
from sikta.synth.revenue import make_orders, make_subscriptions
from sikta.synth.signals import make_tickets, make_usage
from sikta.synth.writer import TRUTH_SCHEMA, TableSink, conform, file_schema

__all__ = ["generate", "GenerateSummary", "TABLES", "CHUNK_SIZE", "MAX_DIRTY"]

TABLES = tuple(CONTRACT)
#: accounts per chunk: peak memory scales with this, not with the data set
CHUNK_SIZE = 20_000
MAX_DIRTY = 0.25


@dataclass(frozen=True)
class GenerateSummary:
    """What :func:`generate` wrote.

    Attributes
    ----------
    out_dir : Path
    files : dict[str, Path]
        table name -> file, including ``truth`` and (dirty mode) ``dirty_manifest``.
    rows : dict[str, int]
        rows written per table, injected bad rows included.
    dirty_injected : dict[str, dict[str, int]]
        bad rows per table and kind; empty when ``dirty`` is 0.
    """

    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    dirty_injected: dict[str, dict[str, int]] = field(default_factory=dict)


def _check(accounts, seed, fmt, dirty, end_date, years, lines_per_account, chunk_size) -> None:
    def is_int(x) -> bool:
        return isinstance(x, numbers.Integral) and not isinstance(x, bool)

    if not is_int(accounts) or accounts < 1:
        raise UsageError(f"accounts must be a positive integer, not {accounts!r}")
    if accounts > 3_000_000:
        raise UsageError(f"accounts must be at most 3,000,000, not {accounts}")
    if not is_int(seed) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, not {seed!r}")
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    if not isinstance(dirty, numbers.Real) or not 0 <= dirty <= MAX_DIRTY:
        raise UsageError(f"dirty must be a rate between 0 and {MAX_DIRTY}, not {dirty!r}")
    if not isinstance(end_date, dt.date) or isinstance(end_date, dt.datetime):
        raise UsageError(f"end_date must be a datetime.date, not {end_date!r}")
    if not is_int(years) or not 1 <= years <= 20:
        raise UsageError(f"years must be an integer from 1 to 20, not {years!r}")
    if not isinstance(lines_per_account, numbers.Real) or not (
        math.isfinite(lines_per_account) and 0 <= lines_per_account <= 10_000
    ):
        raise UsageError(f"lines_per_account must be between 0 and 10000, not {lines_per_account!r}")
    if not is_int(chunk_size) or chunk_size < 100:
        raise UsageError(f"chunk_size must be an integer of at least 100, not {chunk_size!r}")


def generate(
    out_dir: str | Path,
    accounts: int = 5000,
    seed: int = 0,
    fmt: str = "parquet",
    dirty: float = 0.0,
    end_date: dt.date = dt.date(2025, 12, 31),
    years: int = 3,
    lines_per_account: float = 100.0,
    progress: Callable[[int, int], None] | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> GenerateSummary:
    """Write a synthetic B2B customer base to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing; existing files of the same names are replaced.
    accounts : int
        Number of accounts (customers, prospects and former customers,
        including group and department nodes of the hierarchies).
    seed : int
        Same arguments give byte-identical files.
    fmt : {"parquet", "csv"}
        Format of the nine contract tables; ``truth.parquet`` is always parquet.
    dirty : float
        Rate of bad rows to inject per table (0 = clean). Writes
        ``dirty_manifest.json`` with the counts a validator must quarantine.
    end_date : datetime.date
        Last day of the observed period.
    years : int
        Length of the observed period; orders, usage, tickets and
        interactions fall inside it (subscriptions may start earlier).
    lines_per_account : float
        Order lines per account on average (over all accounts, prospects
        included). Buying customers always get at least one recent order,
        so 0 still yields a few lines.
    progress : callable, optional
        Called as ``progress(done_chunks, total_chunks)`` after each chunk.
    chunk_size : int
        Accounts per chunk (whole hierarchies); the output depends on it.

    Returns
    -------
    GenerateSummary

    Raises
    ------
    UsageError
        For an argument out of range.

    Notes
    -----
    ``truth.parquet`` has one row per generated account; dirty mode's extra
    account rows (duplicates, bad values, the ``CYC-*`` cycle) are not in it.
    The clean rows of a dirty data set are exactly those of the clean data
    set with the same arguments. Byte-identity holds for one pyarrow version
    (the parquet footer names the writer version).

    Examples
    --------
    >>> import tempfile
    >>> s = generate(tempfile.mkdtemp(), accounts=200, seed=3, fmt="csv", dirty=0.02)
    >>> s.files["orders"].name, s.files["truth"].name
    ('orders.csv', 'truth.parquet')
    >>> s.dirty_injected["accounts"]["parent_cycle"]
    3
    """
    _check(accounts, seed, fmt, dirty, end_date, years, lines_per_account, chunk_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    is_dirty = dirty > 0
    win = Window.build(end_date, years)
    rule = BestRule.for_seed(seed)
    products, prod = build_products(seed)
    product_ids = products["product_id"].combine_chunks()
    # unknown ids in dirty mode live in (2N, 3N], so the width must hold 3N
    width = max(7, len(str(3 * accounts)))
    state = DirtyState(float(dirty), accounts, width) if is_dirty else None

    files = {t: out / f"{t}.{fmt}" for t in TABLES}
    files["truth"] = out / "truth.parquet"
    sinks: dict[str, TableSink] = {}
    try:
        for t in TABLES:
            sinks[t] = TableSink(files[t], file_schema(t, is_dirty), fmt)
        sinks["truth"] = TableSink(files["truth"], TRUTH_SCHEMA, "parquet")

        def emit(name: str, table, chunk: int) -> None:
            table = table.cast(file_schema(name, False))
            if state is not None:
                table = inject(
                    name,
                    conform(table, file_schema(name, True)),
                    u.rng_for(seed, chunk, u.S_DIRTY * 1000 + TABLES.index(name)),
                    state,
                    first=chunk == 0,
                )
            sinks[name].write(table)

        emit("products", products, 0)
        total = math.ceil(accounts / chunk_size)
        next_id = {"order": 1, "sub": 1, "ticket": 1, "contact": 1}
        for c in range(total):
            n = min(chunk_size, accounts - c * chunk_size)
            acc = build_accounts(u.rng_for(seed, c, u.S_ACCOUNTS), n, 1 + c * chunk_size, width, end_date.year)
            lat = plan(u.rng_for(seed, c, u.S_LATENT), acc, win, rule)
            emit("accounts", accounts_table(acc), c)
            contacts = make_contacts(u.rng_for(seed, c, u.S_CONTACTS), acc, next_id["contact"])
            next_id["contact"] += contacts.table.num_rows
            emit("contacts", contacts.table, c)
            orders, n_orders = make_orders(
                u.rng_for(seed, c, u.S_ORDERS), acc, lat, win, prod, product_ids, lines_per_account, next_id["order"]
            )
            next_id["order"] += n_orders
            emit("orders", orders, c)
            del orders
            subs, sub_rows = make_subscriptions(u.rng_for(seed, c, u.S_SUBS), acc, lat, win, prod, next_id["sub"])
            next_id["sub"] += subs.num_rows
            emit("subscriptions", subs, c)
            emit("usage", make_usage(u.rng_for(seed, c, u.S_USAGE), acc, lat, win, sub_rows), c)
            tickets = make_tickets(u.rng_for(seed, c, u.S_TICKETS), acc, lat, win, next_id["ticket"])
            next_id["ticket"] += tickets.num_rows
            emit("tickets", tickets, c)
            emit("survey_responses", make_surveys(u.rng_for(seed, c, u.S_SURVEY), acc, lat, win, contacts), c)
            emit("interactions", make_interactions(u.rng_for(seed, c, u.S_INTERACTIONS), acc, lat, win), c)
            sinks["truth"].write(truth_table(acc, lat, rule))
            if progress is not None:
                progress(c + 1, total)
    finally:
        for sink in sinks.values():
            sink.close()

    rows = {t: s.rows for t, s in sinks.items()}
    injected: dict[str, dict[str, int]] = {}
    if state is not None:
        manifest = state.manifest()
        files["dirty_manifest"] = out / "dirty_manifest.json"
        files["dirty_manifest"].write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        injected = manifest["tables"]
    else:
        (out / "dirty_manifest.json").unlink(missing_ok=True)  # a stale manifest would lie
    return GenerateSummary(out_dir=out, files=files, rows=rows, dirty_injected=injected)

