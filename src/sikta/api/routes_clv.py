"""``GET /api/v1/clv``: the customer lifetime value summary (docs/clv.md).

A viewer reads a stored result: the newest of the grain, or the one with the
settings asked for. Computing a new one (another date, model or horizon, or
none stored yet) fits the models and stores the per-unit table, a write that
takes the analyst role, as a feature build of the analysis does. Per-account
values are on the account document (``GET /api/v1/accounts/{unit_id}``, field
``clv``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from sikta.api.deps import require, state
from sikta.api.errors import responses
from sikta.api.schemas import FIRST_DATE, LAST_DATE
from sikta.engine.contract import GRAINS
from sikta.errors import NotFoundError
from sikta.service import clv as clv_svc
from sikta.service import tokens
from sikta.service.clv_settings import MODELS, ClvSettings
from sikta.service.segments import plain
from sikta.service.workspace import Workspace

router = APIRouter(prefix="/api/v1")
Viewer = Annotated[dict, Depends(require("viewer"))]
Day = Annotated[date | None, Query(ge=FIRST_DATE, le=LAST_DATE)]


class ClvOut(BaseModel):
    """The fit and its checks, as ``sikta clv --json`` prints them."""

    model_config = ConfigDict(extra="allow")
    model: Literal[MODELS]  # type: ignore[valid-type]
    bgnbd: dict[str, float] | None = Field(None, description="r, alpha, a, b (with model bgnbd)")
    paretonbd: dict[str, float] | None = Field(None, description="r, alpha, s, beta (with model paretonbd)")
    gamma_gamma: dict[str, float] | None = Field(description="p, q, v (null when spends show no spread)")
    log_likelihood: float
    customers: int
    holdout: dict[str, Any] | None = Field(description="predicted vs actual after the calibration end, by "
                                                       "calibration frequency and week (null without a holdout)")
    grain: str
    calibration_end: date
    as_of: date
    time_unit: str
    horizon_months: int
    discount: float
    totals: dict[str, float | int | None]
    tiers: dict[str, Any]
    notes: list[str]


@router.get("/clv", response_model=ClvOut, tags=["clv"], responses=responses(400, 401, 403, 404, 409, 503))
def get_clv(
    request: Request, token: Viewer,
    grain: Literal[GRAINS] = "account",  # type: ignore[valid-type]
    calibration_end: Annotated[Day, Query(description="fit on purchases up to this day")] = None,
    as_of: Annotated[Day, Query(description="the last day of data (after calibration_end: a holdout)")] = None,
    model: Literal[MODELS] | None = None,  # type: ignore[valid-type]
    time_unit: Literal["day", "week", "month"] | None = None,
    horizon: Annotated[int | None, Query(ge=1, le=600, description="months")] = None,
    discount: Annotated[float | None, Query(ge=0, lt=1, description="per year")] = None,
) -> dict[str, Any]:
    """CLV summary: the purchase and spend models' parameters, log-likelihood, customers, the holdout
    check, totals and value tiers. Without settings: the fit of the latest run at the grain (the one it
    scored with, else one as of its date), else the newest stored result of the grain."""
    st = state(request)
    asked = any(v is not None for v in (calibration_end, as_of, model, time_unit, horizon, discount))
    settings = ClvSettings().with_options(model=model, time_unit=time_unit, horizon=horizon, discount=discount)

    def read(ws: Workspace) -> clv_svc.ClvResult | None:
        if not asked:
            return clv_svc.current(ws, grain)
        cal, end = clv_svc._dates(ws, settings, calibration_end, as_of)
        return clv_svc.stored(ws, grain, clv_svc._key(grain, cal, end, settings))

    found = st.read(read)
    if found is None:
        if not tokens.role_allows(token["role"], "analyst"):
            if not asked:
                raise NotFoundError(f"no CLV at {grain} grain from the current data yet: an analyst computes one "
                                    "('sikta clv', GET /api/v1/clv as analyst, or a run whose model uses CLV)")
            raise HTTPException(403, "these settings need a new CLV fit, a write that takes the analyst role; "
                                     "viewers see the stored results")

        def compute(ws: Workspace) -> clv_svc.ClvResult:
            return clv_svc.compute(ws, grain, calibration_end=calibration_end, as_of=as_of, settings=settings)

        found = st.read_or_write(compute)
        with st.lock:
            st.reader.refresh()  # a run without CLV may now have a fit as of its date to show
    return plain(found.to_dict())
