"""The column mapping: the user's export columns → the data contract.

A mapping file is YAML, one key per contract table. A table is read from one
source (a mapping) or from several (a list of mappings, each with its own
files and columns, stacked in order)::

    orders:
      file: online_retail.parquet      # optional; else <table>.<ext> in the folder
      columns:                         # contract column: source column
        order_id: InvoiceNo            # no order_id at all: one order per account and day
        account_id: CustomerID
        unit_price: UnitPrice          # amount = quantity × unit_price if no amount
        currency: {value: GBP}         # a constant instead of a column
      attributes:                      # extra source columns kept as attr_<name>
        channel: SalesChannel          # type inferred (number, date or text)
        margin: {column: Margin, type: float}
      date_format: "%d/%m/%Y %H:%M"    # optional, when dates are not ISO
      decimal_comma: false             # "1.234,50" style numbers
      encoding: auto                   # utf-8, cp1252 (Excel on Windows), latin-1, utf-16
      delimiter: auto                  # ",", ";", tab, "|" or whitespace
      header: true                     # false: name the columns with column_names
      dedupe: false                    # true: exact duplicate lines go to quarantine
      values:                          # optional recoding, case-insensitive
        currency: {"€": EUR}
      currency_rates: {EUR: 1.0, USD: 0.92}   # to one base currency
    accounts:
      derive_from: orders              # one account per distinct account_id
      columns:
        country: Country               # most frequent value in the source rows

For a database source (``sikta ingest postgresql://...``) a table names its
database table instead of a file: ``table: crm_accounts`` (in ``--schema``)
or ``table: sales.crm_accounts``; a plain name, never SQL.

Examples
--------
>>> m = Mapping.model_validate({"orders": {"columns": {"account_id": "CustomerID", "currency": {"value": "EUR"}}}})
>>> tm = m.for_table("orders")
>>> tm.source_of("account_id"), tm.source_of("order_id"), tm.constants()
('CustomerID', 'order_id', {'currency': 'EUR'})
>>> [len(m.sources(t)) for t in ("orders", "accounts")]
[1, 1]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sikta.engine.contract import CONTRACT, REVENUE_TABLES
from sikta.engine.yamlspec import load_yaml_file
from sikta.errors import MappingError

#: prefix of the columns that extra source columns (``attributes:``) become
ATTR = "attr_"
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1")
#: spellings people use for the same encodings
_ENCODING_ALIASES = {
    "utf8": "utf-8", "utf_8": "utf-8", "windows-1252": "cp1252", "win-1252": "cp1252", "1252": "cp1252",
    "ansi": "cp1252", "iso-8859-1": "latin-1", "latin1": "latin-1", "iso8859-1": "latin-1", "utf-8-bom": "utf-8-sig",
    "utf16": "utf-16", "unicode": "utf-16",
}
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "|": "|", "whitespace": "whitespace", "auto": "auto"}
_ATTR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: a database table: ``name`` or ``schema.name``, identifiers only (the name is looked up, never spliced into SQL)
_DB_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$")


class Constant(BaseModel):
    """A contract column filled with one value for every row (``status: {value: prospect}``)."""

    model_config = ConfigDict(extra="forbid")

    value: str | int | float | bool


class Attribute(BaseModel):
    """An extra source column kept as ``attr_<name>``, typed as declared or inferred."""

    model_config = ConfigDict(extra="forbid")

    column: str
    type: Literal["auto", "string", "int", "float", "date", "timestamp"] = "auto"


class TableMapping(BaseModel):
    """How one contract table is read from one source (a file or a set of files)."""

    model_config = ConfigDict(extra="forbid")

    file: str | list[str] | None = None
    table: str | None = None
    columns: dict[str, str | Constant] = Field(default_factory=dict)
    attributes: dict[str, str | Attribute] = Field(default_factory=dict)
    derive_from: str | None = None
    date_format: str | None = None
    decimal_comma: bool = False
    encoding: str = "auto"
    delimiter: str = "auto"
    header: bool = True
    column_names: list[str] | None = None
    dedupe: bool = False
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    currency_rates: dict[str, float] | None = None

    @property
    def files(self) -> list[str]:
        if self.file is None:
            return []
        return [self.file] if isinstance(self.file, str) else list(self.file)

    def source_of(self, column: str) -> str:
        """The source column name that feeds contract ``column`` (itself when unmapped or constant)."""
        src = self.columns.get(column, column)
        return src if isinstance(src, str) else column

    def constants(self) -> dict[str, str | int | float | bool]:
        """Contract columns filled with a constant."""
        return {c: v.value for c, v in self.columns.items() if isinstance(v, Constant)}

    def attribute_sources(self) -> dict[str, Attribute]:
        """``attr_<name>`` → its :class:`Attribute` (column and type)."""
        return {ATTR + n: (a if isinstance(a, Attribute) else Attribute(column=a)) for n, a in self.attributes.items()}

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        key = v.strip().lower()
        key = _ENCODING_ALIASES.get(key, key)
        if key not in ENCODINGS:
            raise ValueError(f"encoding {v!r} is not one of {', '.join(ENCODINGS)}")
        return key

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str) -> str:
        key = v if v in DELIMITERS else v.strip().lower()
        if key not in DELIMITERS:
            raise ValueError("delimiter must be one of ',', ';', tab, '|', whitespace or auto")
        return DELIMITERS[key]

    @field_validator("table")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        if v is not None and not _DB_TABLE.match(v.strip()):
            raise ValueError(f"table {v!r}: give a table name or schema.table (letters, digits, _ and $)")
        return v.strip() if v is not None else v

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, v: dict) -> dict:
        for name in v:
            if not _ATTR_NAME.match(name):
                raise ValueError(f"attribute name {name!r}: use lower-case letters, digits and _ (it names the column attr_{name})")
        return v

    @field_validator("currency_rates")
    @classmethod
    def _positive_rates(cls, rates: dict[str, float] | None) -> dict[str, float] | None:
        if rates is not None:
            bad = [k for k, v in rates.items() if not v > 0]
            if bad:
                raise ValueError(f"conversion rates must be positive: {', '.join(bad)}")
        return rates

    @model_validator(mode="after")
    def _headerless(self) -> TableMapping:
        if not self.header and not self.column_names:
            raise ValueError("header: false needs column_names: [...] (the names of the columns, in order)")
        if self.table is not None and (self.file is not None or self.derive_from is not None):
            raise ValueError("table: reads a database table; it cannot be combined with "
                             + ("file:" if self.file is not None else "derive_from:"))
        return self


TableSpec = TableMapping | list[TableMapping]


class Mapping(BaseModel):
    """A whole mapping file: contract table name → one :class:`TableMapping` or a list of them."""

    model_config = ConfigDict(extra="forbid")

    accounts: TableSpec | None = None
    products: TableSpec | None = None
    contacts: TableSpec | None = None
    orders: TableSpec | None = None
    subscriptions: TableSpec | None = None
    usage: TableSpec | None = None
    tickets: TableSpec | None = None
    survey_responses: TableSpec | None = None
    interactions: TableSpec | None = None

    @field_validator(*CONTRACT)
    @classmethod
    def _check_table_spec(cls, spec: TableSpec | None, info: ValidationInfo) -> TableSpec | None:
        if spec is None:
            return spec
        name = info.field_name
        sources = spec if isinstance(spec, list) else [spec]
        try:
            if len(sources) > 1 and any(s.derive_from for s in sources):
                raise ValueError("derive_from cannot be combined with other sources")
            if len(sources) > 1 and any(not s.files and not s.table for s in sources):
                raise ValueError("with several sources, each needs its own file: (or table: for a database)")
            for tm in sources:
                _check_table(name, tm)
        except ValueError as exc:
            # a custom error keeps pydantic from prefixing "Value error, " to a sentence meant for people
            raise PydanticCustomError("mapping", str(exc)) from None
        return spec

    def sources(self, name: str) -> list[TableMapping]:
        """Every source of table ``name`` (an identity mapping when the file has none)."""
        spec = getattr(self, name, None)
        if spec is None:
            return [TableMapping()]
        return list(spec) if isinstance(spec, list) else [spec]

    def for_table(self, name: str) -> TableMapping:
        """The first (usually only) source of ``name``: table-wide settings live there."""
        return self.sources(name)[0]

    def given(self) -> list[str]:
        """Tables the file mentions."""
        return [n for n in CONTRACT if getattr(self, n) is not None]


def _check_table(name: str, tm: TableMapping) -> None:
    contract = CONTRACT[name]
    unknown = sorted(set(tm.columns) - set(contract.names))
    if unknown:
        raise ValueError(f"{', '.join(unknown)} not in the contract (columns: {', '.join(contract.names)}); "
                         "keep other columns with attributes:")
    if tm.derive_from is not None:
        if name != "accounts":
            raise ValueError("derive_from is only possible for accounts")
        if tm.derive_from not in REVENUE_TABLES:
            raise ValueError(f"derive_from must be one of {', '.join(REVENUE_TABLES)}")
    clash = sorted(set(tm.attributes) & set(contract.names))
    if clash:
        raise ValueError(f"attribute {clash[0]!r} is a contract column; map it under columns: instead")
    if tm.constants().keys() & set(contract.key) and contract.key:
        raise ValueError(f"the key {', '.join(contract.key)} cannot be a constant")
    for col, value in tm.constants().items():
        allowed = contract.column(col).allowed
        if allowed and str(value).strip().lower() not in allowed:
            raise ValueError(f"{col} {value!r} is not one of {', '.join(allowed)}")


def load_mapping(path: str | Path | None) -> tuple[Mapping, Path | None]:
    """Read a mapping file; ``None`` gives the identity mapping.

    Returns the mapping and the folder its relative ``file:`` paths start from.
    """
    if path is None:
        return Mapping(), None
    return load_yaml_file(Mapping, path, error=MappingError), Path(path).resolve().parent
