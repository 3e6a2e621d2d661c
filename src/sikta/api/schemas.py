"""The REST API's response and request bodies, so the OpenAPI schema is fully typed.

Numbers that could not be computed are ``null``, never NaN. Timestamps are
UTC without an offset, as the workspace stores them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sikta.api.errors import ErrorDetail
from sikta.service.runs import GROUPS

#: dates a request may name: wide enough for any real data, narrow enough that a date a month or a
#: year before or after it still exists (0001-01-02 or 9999-12-31 would overflow date arithmetic)
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2199, 12, 31)
#: the largest offset a page may start at (more rows than any workspace holds; a 64-bit index
#: overflows at 2**63)
MAX_OFFSET = 1_000_000_000

Role = Literal["viewer", "analyst", "admin"]
Group = Literal[GROUPS]  # type: ignore[valid-type]
#: the workspace stores naive UTC; JSON gets an explicit offset, as RFC 3339 wants
Timestamp = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))]
#: one cell of a feature or run row
Value = bool | int | float | str | list[str | int | float | bool | None] | None


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Health(_Out):
    status: Literal["ok"] = "ok"
    version: str


class Me(_Out):
    token_id: str
    name: str | None
    role: Role


# -- runs ----------------------------------------------------------------------
class GroupCount(_Out):
    accounts: int
    revenue: float


class RunOut(_Out):
    run_id: str
    created_at: Timestamp
    as_of: date
    grain: str
    model_name: str
    model_version: str
    model_sha256: str
    model_file: str | None = None
    ingest_id: str | None = None
    sikta_version: str | None = None
    units: int
    groups: dict[str, GroupCount]


class RunList(_Out):
    runs: list[RunOut]


class RunDetail(RunOut):
    model_text: str


class Transition(_Out):
    group_a: str
    group_b: str
    accounts: int


class MovedAccount(_Out):
    unit_id: str
    name: str | None = None
    group_a: str
    group_b: str
    why: str


class DiffOut(_Out):
    run_a: str
    run_b: str
    model_changed: bool
    as_of: list[str]
    transitions: list[Transition]
    moved: int = Field(description="accounts whose group differs (including those in only one run)")
    accounts: list[MovedAccount] = Field(description="the first `limit` of them, by unit_id")


# -- accounts ------------------------------------------------------------------
class AccountRow(_Out):
    unit_id: str
    name: str | None = None
    status: str | None = None
    group: str
    potential_score: float | None = None
    pain_score: float | None = None
    deprioritized_by: str | None = None
    revenue_12m: float | None = None


class AccountPage(_Out):
    run_id: str
    total: int = Field(description="rows matching the filters, over all pages")
    limit: int
    offset: int
    sort: str
    rows: list[AccountRow]


class HistoryItem(_Out):
    run_id: str
    created_at: Timestamp
    as_of: date
    group: str | None = Field(description="null: the unit was not in that run")


class AccountDetail(_Out):
    run_id: str
    as_of: date
    grain: str
    unit_id: str
    name: str | None
    group: str
    explanation: list[str] = Field(description="why the unit is in its group, in sentences")
    values: dict[str, Value] = Field(description="the run's row: parameter values, scores, thresholds")
    features: dict[str, Value] | None = Field(description="the unit's row of the current feature table")
    features_as_of: date | None
    history: list[HistoryItem] = Field(description="the unit's group in each run of the same grain, newest first")
    clv: dict[str, Value] | None = Field(None, description="the unit's values in the CLV fit the run scored with, "
                                         "else one as of the run's date (CLV, CLV − CAC, P(alive), value tier, ...; "
                                         "docs/clv.md)")


class Contact(_Out):
    contact_id: str
    account_id: str
    department: str | None = None
    role: str | None = None
    name: str | None = Field(None, description="personal: null for viewers")
    email: str | None = Field(None, description="personal: null for viewers")


class ContactsOut(_Out):
    unit_id: str
    grain: str
    personal_data: Literal["included", "redacted"]
    contacts: list[Contact]


class GroupKpis(_Out):
    group: Group
    label: str
    colour: str | None
    kpi: str | None = Field(description="the KPI the model says this group is judged by")
    accounts: int
    customers: int
    prospects: int
    revenue_12m: float
    revenue_share: float | None
    revenue_prev_12m: float | None
    revenue_growth: float | None
    mrr: float | None
    at_risk: int | None
    at_risk_share: float | None
    revenue_at_risk: float | None
    mean_potential_score: float | None
    mean_pain_score: float | None


class GroupsOut(_Out):
    run_id: str
    as_of: date
    grain: str
    units: int
    revenue_12m: float
    features_as_of: date | None
    note: str | None
    groups: list[GroupKpis]


class AnalysisOut(_Out):
    part: str
    grain: str
    as_of: date
    window_months: int
    result: dict[str, Any] = Field(description="the part's result, as in 'sikta analyze PART --json'")


# -- models and jobs -----------------------------------------------------------
class ModelProblem(_Out):
    line: int | None
    message: str


class ModelCheck(_Out):
    ok: bool
    name: str | None = None
    version: str | None = None
    sha256: str | None = None
    grain: str | None = None
    potential: list[str] = []
    pain: list[str] = []
    checked_against_features: bool = False
    errors: list[ModelProblem] = []


class Delivery(_Out):
    """One event to one webhook, from the outbox (the same ``delivery_id`` on every attempt)."""

    delivery_id: str
    webhook_id: str
    event_id: str
    event: str
    run_id: str
    state: Literal["pending", "delivered", "failed"] = Field(
        description="pending: tried again at next_attempt_at; delivered: a 2xx answer; failed: a final answer, "
                    "or the retry period ended")
    ok: bool = Field(description="delivered")
    attempts: int
    status_code: int | None = Field(description="the last attempt's HTTP status (null: no answer)")
    error: str | None
    created_at: Timestamp
    next_attempt_at: Timestamp | None
    finished_at: Timestamp | None


class JobOut(_Out):
    job_id: str
    kind: Literal["run"] = "run"
    status: Literal["queued", "running", "done", "failed"]
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    submitted_by: str | None = None
    model_name: str | None = None
    run_id: str | None = None
    error: ErrorDetail | None = None
    webhooks: list[Delivery] = []


class JobList(_Out):
    jobs: list[JobOut]


# -- admin ---------------------------------------------------------------------
class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    name: str | None = Field(None, max_length=200)


class TokenOut(_Out):
    token_id: str
    name: str | None
    role: Role
    created_at: Timestamp
    revoked_at: Timestamp | None


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself: shown once, only its hash is stored")


class TokenList(_Out):
    tokens: list[TokenOut]


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str = "latest"
    format: Literal["csv", "parquet"] = "csv"
    groups: list[Group] | None = None


class ExportOut(_Out):
    export_id: str
    run_id: str
    format: Literal["csv", "parquet"]
    groups: list[str]
    path: str
    rows: int
    size_bytes: int | None = Field(None, description="the file's size (null: the file is gone)")
    created_at: Timestamp
    created_by: str | None


class ExportList(_Out):
    exports: list[ExportOut]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000)
    secret: str | None = Field(None, min_length=16, max_length=200,
                               description="shared HMAC secret; left out, one is generated and returned once")


class WebhookOut(_Out):
    webhook_id: str
    url: str
    created_at: Timestamp


class WebhookCreated(WebhookOut):
    secret: str = Field(description="sign-check key: shown once")


class WebhookList(_Out):
    webhooks: list[WebhookOut]


class DeliveryList(_Out):
    deliveries: list[Delivery]
