"""The column mapping: the user's export columns → the data contract.

A mapping file is YAML, one key per contract table::

    orders:
      file: online_retail.parquet      # optional; else <table>.<ext> in the folder
      columns:                         # contract column: source column
        order_id: InvoiceNo
        account_id: CustomerID
        unit_price: UnitPrice          # amount = quantity × unit_price if no amount
      date_format: "%d/%m/%Y %H:%M"    # optional, when dates are not ISO
      decimal_comma: false             # "1.234,50" style numbers
      values:                          # optional recoding, case-insensitive
        currency: {"€": EUR}
      currency_rates: {EUR: 1.0, USD: 0.92}   # to one base currency
    accounts:
      derive_from: orders              # one account per distinct account_id
      columns:
        country: Country               # most frequent value in the source rows

Examples
--------
>>> m = Mapping.model_validate({"orders": {"columns": {"account_id": "CustomerID"}}})
>>> m.for_table("orders").source_of("account_id"), m.for_table("orders").source_of("order_id")
('CustomerID', 'order_id')
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sikta.engine.contract import CONTRACT, REVENUE_TABLES
from sikta.engine.yamlspec import load_yaml_file
from sikta.errors import MappingError


class TableMapping(BaseModel):
    """How one contract table is read from the user's files."""

    model_config = ConfigDict(extra="forbid")

    file: str | list[str] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    derive_from: str | None = None
    date_format: str | None = None
    decimal_comma: bool = False
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    currency_rates: dict[str, float] | None = None

    @property
    def files(self) -> list[str]:
        if self.file is None:
            return []
        return [self.file] if isinstance(self.file, str) else list(self.file)

    def source_of(self, column: str) -> str:
        """The source column name that feeds contract ``column``."""
        return self.columns.get(column, column)

    @field_validator("currency_rates")
    @classmethod
    def _positive_rates(cls, rates: dict[str, float] | None) -> dict[str, float] | None:
        if rates is not None:
            bad = [k for k, v in rates.items() if not v > 0]
            if bad:
                raise ValueError(f"conversion rates must be positive: {', '.join(bad)}")
        return rates


class Mapping(BaseModel):
    """A whole mapping file: contract table name → :class:`TableMapping`."""

    model_config = ConfigDict(extra="forbid")

    accounts: TableMapping | None = None
    products: TableMapping | None = None
    contacts: TableMapping | None = None
    orders: TableMapping | None = None
    subscriptions: TableMapping | None = None
    usage: TableMapping | None = None
    tickets: TableMapping | None = None
    survey_responses: TableMapping | None = None
    interactions: TableMapping | None = None

    @model_validator(mode="after")
    def _check_columns(self) -> Mapping:
        for name in CONTRACT:
            tm = self.for_table(name)
            contract = CONTRACT[name]
            unknown = sorted(set(tm.columns) - set(contract.names))
            if unknown and tm.derive_from is None:
                raise ValueError(
                    f"{name}: {', '.join(unknown)} not in the contract (columns: {', '.join(contract.names)})"
                )
            if tm.derive_from is not None:
                if name != "accounts":
                    raise ValueError(f"{name}: derive_from is only possible for accounts")
                if tm.derive_from not in REVENUE_TABLES:
                    raise ValueError(f"accounts: derive_from must be one of {', '.join(REVENUE_TABLES)}")
                if unknown:
                    raise ValueError(f"accounts: {', '.join(unknown)} not in the contract")
        return self

    def for_table(self, name: str) -> TableMapping:
        """The mapping of ``name`` (an identity mapping when the file has none)."""
        return getattr(self, name, None) or TableMapping()

    def given(self) -> list[str]:
        """Tables the file mentions."""
        return [n for n in CONTRACT if getattr(self, n) is not None]


def load_mapping(path: str | Path | None) -> tuple[Mapping, Path | None]:
    """Read a mapping file; ``None`` gives the identity mapping.

    Returns the mapping and the folder its relative ``file:`` paths start from.
    """
    if path is None:
        return Mapping(), None
    return load_yaml_file(Mapping, path, error=MappingError), Path(path).resolve().parent
