"""The data contract: the canonical tables Sikta reads (SPEC §3).

The contract is data, not code paths: ingest validates against it, the
generator writes it, the docs print it. A column's ``dtype`` is one of
``string``, ``int``, ``float``, ``date``, ``timestamp``.

Examples
--------
>>> CONTRACT["orders"].column("amount").dtype
'float'
>>> CONTRACT["accounts"].key
('account_id',)
>>> [t.name for t in load_order()][:2]
['accounts', 'products']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DType = Literal["string", "int", "float", "date", "timestamp"]

STATUSES = ("customer", "prospect", "former")
ACCOUNT_TYPES = ("group", "company", "department")
GRAINS = ("ultimate_parent", "account", "department")


@dataclass(frozen=True)
class Column:
    """One contract column.

    ``required`` means the column must exist in the source (after mapping);
    ``nullable=False`` means every row needs a value, else the row is
    quarantined. ``allowed`` values are compared after lower-casing and
    stripping. ``pii`` columns never leave the workspace by default.
    """

    name: str
    dtype: DType = "string"
    required: bool = False
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    pii: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Reference:
    """A foreign key: ``column`` must name a loaded row of ``table.target``."""

    column: str
    table: str
    target: str


@dataclass(frozen=True)
class TableContract:
    """One canonical table: its columns, unique key, references and row rules."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    #: pairs (start, end): a row whose end is before its start is quarantined
    ordered: tuple[tuple[str, str], ...] = ()
    doc: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no contract column {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def pii(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)


def _acct_ref(table: str) -> Reference:
    return Reference("account_id", "accounts", "account_id")


ACCOUNTS = TableContract(
    "accounts",
    (
        Column("account_id", required=True, nullable=False, doc="unique id"),
        Column("name", doc="company, subsidiary or department name"),
        Column("parent_account_id", doc="parent in the account hierarchy (a forest)"),
        Column(
            "account_type",
            allowed=ACCOUNT_TYPES,
            doc="group (holding), company (legal entity) or department; default company",
        ),
        Column("status", allowed=STATUSES, doc="customer, prospect or former (as the CRM says)"),
        Column("industry"),
        Column("employees", "int", min=0),
        Column("annual_revenue", "float", min=0, doc="the company's own turnover"),
        Column("country"),
        Column("region"),
        Column("sites", "int", min=0),
        Column("legal_form"),
        Column("founded_year", "int", min=1600, max=2100),
        Column("first_seen", "date"),
        Column("tech_maturity", "int", min=1, max=5, doc="1 (analog) to 5 (fully digital)"),
        Column("channel_preference", doc="e.g. digital, phone, field, partner"),
        Column("owner", doc="account owner in the CRM"),
        Column("crm_id", doc="the account's id in the CRM (Salesforce Account Id, HubSpot Record ID), for exports"),
        Column("domain", doc="the company's web domain (HubSpot's Company Domain Name), for exports"),
    ),
    key=("account_id",),
    references=(Reference("parent_account_id", "accounts", "account_id"),),
    doc="customers, prospects and former customers; parent links form a forest",
)

PRODUCTS = TableContract(
    "products",
    (
        Column("product_id", required=True, nullable=False),
        Column("product_line"),
        Column("product_suite"),
        Column("list_price", "float", min=0),
    ),
    key=("product_id",),
)

CONTACTS = TableContract(
    "contacts",
    (
        Column("contact_id", required=True, nullable=False),
        Column("account_id", required=True, nullable=False),
        Column("department"),
        Column("role"),
        Column("name", pii=True),
        Column("email", pii=True),
    ),
    key=("contact_id",),
    references=(_acct_ref("contacts"),),
    doc="decision makers; personal data, never exported unless asked for",
)

ORDERS = TableContract(
    "orders",
    (
        Column("order_id", required=True, nullable=False, doc="order or invoice number"),
        Column("account_id", required=True, nullable=False),
        Column("order_date", "date", required=True, nullable=False),
        Column("product_id"),
        Column("product_line"),
        Column("quantity", "float"),
        Column("unit_price", "float", doc="used when there is no amount: amount = quantity × unit_price"),
        Column("amount", "float", required=True, nullable=False, doc="net line amount; negative = credit note"),
        Column("cost", "float"),
        Column("currency"),
    ),
    references=(_acct_ref("orders"), Reference("product_id", "products", "product_id")),
    doc="order lines: non-contractual revenue; negative amounts are credit notes / returns",
)

SUBSCRIPTIONS = TableContract(
    "subscriptions",
    (
        Column("subscription_id", required=True, nullable=False),
        Column("account_id", required=True, nullable=False),
        Column("product_line"),
        Column("start_date", "date", required=True, nullable=False),
        Column("end_date", "date", doc="empty while active"),
        Column("mrr", "float", required=True, nullable=False, min=0),
        Column("seats", "int", min=0),
        Column("currency"),
    ),
    key=("subscription_id",),
    references=(_acct_ref("subscriptions"),),
    ordered=(("start_date", "end_date"),),
    doc="contractual revenue (ARR = 12 × MRR)",
)

USAGE = TableContract(
    "usage",
    (
        Column("account_id", required=True, nullable=False),
        Column("date", "date", required=True, nullable=False),
        Column("feature"),
        Column("events", "int", min=0),
        Column("active_users", "int", min=0),
    ),
    references=(_acct_ref("usage"),),
    doc="product behaviour",
)

TICKETS = TableContract(
    "tickets",
    (
        Column("ticket_id", required=True, nullable=False),
        Column("account_id", required=True, nullable=False),
        Column("opened_at", "timestamp", required=True, nullable=False),
        Column("closed_at", "timestamp"),
        Column("priority", allowed=("low", "normal", "high", "urgent")),
        Column("category"),
        Column("csat", "float", min=1, max=5),
    ),
    key=("ticket_id",),
    references=(_acct_ref("tickets"),),
    ordered=(("opened_at", "closed_at"),),
    doc="support load, a pain signal",
)

SURVEY_RESPONSES = TableContract(
    "survey_responses",
    (
        Column("account_id", doc="account_id or contact_id (or both)"),
        Column("contact_id"),
        Column("survey_id"),
        Column("answered_at", "date", required=True, nullable=False),
        Column("item", required=True, nullable=False, doc="'nps' (0-10), 'satisfaction' (1-5), 'need_<name>' (1-5)"),
        Column("value", "float", required=True, nullable=False),
    ),
    references=(_acct_ref("survey_responses"), Reference("contact_id", "contacts", "contact_id")),
    doc="needs (importance 1-5), satisfaction (1-5), NPS (0-10)",
)

INTERACTIONS = TableContract(
    "interactions",
    (
        Column("account_id", required=True, nullable=False),
        Column("date", "date", required=True, nullable=False),
        Column("channel", doc="e.g. meeting, call, email, web, event"),
        Column("type"),
        Column("direction", allowed=("inbound", "outbound")),
    ),
    references=(_acct_ref("interactions"),),
    doc="meetings, calls, e-mails, web visits, campaign responses",
)

#: survey items with a fixed scale: item (or item prefix ending in '_') -> (min, max)
SURVEY_SCALES: dict[str, tuple[float, float]] = {"nps": (0, 10), "satisfaction": (1, 5), "need_": (1, 5)}

CONTRACT: dict[str, TableContract] = {
    t.name: t
    for t in (
        ACCOUNTS,
        PRODUCTS,
        CONTACTS,
        ORDERS,
        SUBSCRIPTIONS,
        USAGE,
        TICKETS,
        SURVEY_RESPONSES,
        INTERACTIONS,
    )
}

#: a workspace needs accounts (given or derived) and at least one revenue table
REVENUE_TABLES = ("orders", "subscriptions")


def load_order() -> list[TableContract]:
    """Tables in an order where every reference points to an earlier table.

    Examples
    --------
    >>> names = [t.name for t in load_order()]
    >>> names.index("contacts") < names.index("survey_responses")
    True
    """
    done: list[str] = []
    pending = list(CONTRACT)
    while pending:
        for name in pending:
            deps = {r.table for r in CONTRACT[name].references} - {name}
            if deps <= set(done):
                done.append(name)
                pending.remove(name)
                break
        else:  # pragma: no cover - the contract itself is acyclic
            raise RuntimeError(f"contract references form a cycle among {pending}")
    return [CONTRACT[n] for n in done]
