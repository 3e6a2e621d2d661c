"""Response bodies of the operating layer's endpoints (:mod:`sikta.api.routes_operate`).

Numbers that could not be computed are ``null``; rates are shares (0.25 = 25 %).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sikta.service.alerts import CHANGES


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KpiRow(_Out):
    segment: str
    judged_by: str | None = Field(None, description="the KPI this group is judged by (the model's kpi:)")
    judged_value: float | None = None
    units: int
    logos_start: int
    logos_end: int
    new_logos: int
    churned_logos: int
    logo_churn: float | None
    dollar_churn: float | None
    grr: float | None
    nrr: float | None
    expansion_rate: float | None
    contraction_rate: float | None
    revenue_start: float
    revenue_end: float
    avg_revenue: float | None
    onboarding_completion: float | None = None
    onboarding_eligible: int | None = None
    ttv_median_days: float | None = None
    ttv_km_median_days: float | None = None


class Period(_Out):
    start: date
    end: date


class KpisOut(_Out):
    run_id: str
    as_of: date
    grain: str
    window_months: int
    period: Period
    cohort_run: str = Field(description="the run whose groups the units are judged in")
    currency: str | None
    judged_by: dict[str, str]
    by: dict[str, list[KpiRow]] = Field(description="'group' and every scheme label column → rows, '(all)' last")
    notes: list[str]


class CoverageModel(_Out):
    engagement: str
    touch: Literal["high", "pooled", "tech"]
    role: str | None
    accounts: int
    revenue: float
    workload: float
    accounts_per_owner: float | None
    workload_per_owner: float | None
    fte_accounts: float | None
    fte_workload: float | None
    headcount: int
    binding: str | None


class MixRow(_Out):
    touch: str
    accounts: int
    share_accounts: float
    revenue: float
    share_revenue: float


class CoverageOut(_Out):
    run_id: str
    grain: str
    units: int
    rules: Literal["model", "default"]
    headcount: int
    currency: str | None
    models: list[CoverageModel]
    mix: list[MixRow]


class AlertRow(_Out):
    unit_id: str
    name: str | None
    dimension: str
    value_from: str | None
    value_to: str | None
    change: Literal[CHANGES]  # type: ignore[valid-type]
    merged_into: str | None
    revenue_from: float | None
    revenue_to: float | None
    tier_from: str | None
    tier_to: str | None


class AlertsOut(_Out):
    run_from: str
    run_to: str
    grain: str
    total: int
    matched: int
    by_change: dict[str, int]
    alerts: list[AlertRow]


class ActionRow(_Out):
    unit_id: str
    name: str | None
    group: str | None
    engagement: str | None
    rule: str
    action: str
    owner: str | None
    owner_reason: str
    channel: str | None
    channel_reason: str
    due_date: date
    content: str | None
    reason: str


class ActionsOut(_Out):
    run_id: str
    as_of: date
    total: int
    per_owner: dict[str, int]
    per_rule: dict[str, int]
    actions: list[ActionRow]
    notes: list[str]


class PreviewGroup(_Out):
    accounts: int
    revenue: float
    accounts_before: int | None
    revenue_before: float | None
    change: int | None = None


class Mover(_Out):
    unit_id: str
    name: str | None
    group_from: str
    group_to: str
    revenue: float | None


class Transition(_Out):
    from_: str = Field(alias="from")
    to: str
    accounts: int
    revenue: float
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class PreviewOut(_Out):
    model: str
    model_sha256: str
    grain: str
    against: str | None = Field(description="the run compared with (the latest at the model's grain)")
    units: int
    groups: dict[str, PreviewGroup]
    transitions: list[Transition]
    moved: int | None
    moved_revenue: float | None
    movers: list[Mover]
    stored: Literal[False] = False
    seconds: float
