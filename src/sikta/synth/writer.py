"""Streaming, deterministic writers for the contract tables.

Parquet files use fixed writer options (zstd, no timestamps in metadata), so
the same rows always give the same bytes. CSV files have a header, ISO dates
and ``YYYY-MM-DD HH:MM:SS`` timestamps.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from sikta.engine.contract import CONTRACT

ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
TS_FORMAT = "%Y-%m-%d %H:%M:%S"

#: columns that receive text (bad dates, words in numbers) in dirty mode, and so are written as strings
TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("employees", "first_seen"),
    "products": ("list_price",),
    "orders": ("order_date", "amount"),
    "subscriptions": ("start_date",),
    "usage": ("date", "events"),
    "tickets": ("opened_at",),
    "survey_responses": ("answered_at",),
    "interactions": ("date",),
}

TRUTH_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string()),
        pa.field("needs_segment", pa.string()),
        pa.field("behavior_type", pa.string()),
        pa.field("is_best", pa.bool_()),
        pa.field("best_drivers", pa.string()),
        pa.field("planted_churner", pa.bool_()),
        pa.field("reactivated", pa.bool_()),
        pa.field("onboarding", pa.bool_()),
        pa.field("trend", pa.string()),
    ]
)


def contract_schema(table: str) -> pa.Schema:
    """The Arrow schema of a contract table: its columns, in contract order."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.dtype]) for c in CONTRACT[table].columns])


def file_schema(table: str, dirty: bool) -> pa.Schema:
    """The schema written to disk: text-receiving columns become strings in dirty mode."""
    schema = contract_schema(table)
    if not dirty:
        return schema
    text = TEXT_COLUMNS.get(table, ())
    return pa.schema([pa.field(f.name, pa.string()) if f.name in text else f for f in schema])


def as_text(arr) -> pa.Array:
    """Column values as the strings a CSV export would hold."""
    if pa.types.is_timestamp(arr.type):
        return pc.strftime(arr.cast(pa.timestamp("s")), format=TS_FORMAT)
    return arr.cast(pa.string())


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a contract-typed table to ``schema`` (only string targets differ)."""
    cols = []
    for f in schema:
        col = table.column(f.name)
        if col.type != f.type:
            col = as_text(col) if f.type == pa.string() else col.cast(f.type)
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)


class TableSink:
    """Appends chunks of one table to a parquet or CSV file."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str):
        self.path, self.schema, self.fmt = path, schema, fmt
        self.rows = 0
        if fmt == "csv":
            # CSV timestamps are written by us, without the fractional seconds Arrow would add
            self.out_schema = pa.schema(
                [pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema]
            )
            self._writer = pcsv.CSVWriter(str(path), self.out_schema)
        else:
            self.out_schema = schema
            self._writer = pq.ParquetWriter(
                str(path),
                schema,
                compression="zstd",
                compression_level=3,
                use_dictionary=True,
                write_statistics=True,
                version="2.6",
                data_page_version="1.0",
                store_schema=True,
            )

    def write(self, table: pa.Table) -> None:
        table = conform(table.select(self.schema.names), self.schema)
        if self.fmt == "csv":
            table = conform(table, self.out_schema)
            self._writer.write_table(table)
        else:
            self._writer.write_table(table, row_group_size=1_000_000)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.rows == 0 and self.fmt != "csv":
            # an empty table still gets a valid file with its schema
            self._writer.write_table(self.schema.empty_table())
        self._writer.close()
