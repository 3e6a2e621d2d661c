"""Operating-layer endpoints: KPIs, coverage, alerts and actions (viewer), the what-if preview (analyst).

Answers about a run are computed once per server and run (runs are immutable,
and nothing that changes them - an ingest, a balance - can happen while a
server holds the workspace) and kept in the app's result cache.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from sikta.api import schemas_operate as so
from sikta.api.deps import require, state, workspace
from sikta.api.errors import responses
from sikta.api.routes_read import RunRef
from sikta.api.routes_write import ModelText, _checked
from sikta.service import money
from sikta.service.alerts import CHANGES, TIERS
from sikta.service.alerts import alerts as list_alerts
from sikta.service.runs import get_run
from sikta.service.segment_kpis import segment_kpis
from sikta.service.segments import plain
from sikta.service.whatif import preview
from sikta.service.workspace import Workspace

router = APIRouter(prefix="/api/v1")
Viewer = Annotated[dict, Depends(require("viewer"))]
Analyst = Annotated[dict, Depends(require("analyst"))]
RunOpt = Annotated[str | None, Query(max_length=100, description="'latest', 'previous', a run id or a unique suffix")]
CACHED = 32


def _cached(request: Request, key: tuple, build: Any) -> Any:
    """``build(ws)`` once per app and key (read-only first; a feature build makes it a write)."""
    st = state(request)
    key = ("operate", *key)
    with st.lock:
        if key in st.cache:
            return st.cache[key]
    doc = st.read_or_write(build)
    with st.lock:
        mine = [k for k in st.cache if k and k[0] == "operate"]
        for old in mine[: max(0, len(mine) - CACHED + 1)]:
            st.cache.pop(old, None)
        st.cache[key] = doc
    return doc


def _run_id(request: Request, run: str | None) -> str:
    with workspace(request) as ws:
        return get_run(ws, run)["run_id"]


@router.get("/kpis", response_model=so.KpisOut, tags=["operate"], responses=responses(400, 401, 403, 404, 503))
def get_kpis(
    request: Request, _: Viewer, run: RunRef = "latest", cohort: RunOpt = None,
    onboarding_days: Annotated[int, Query(ge=1, le=730)] = 90,
) -> dict[str, Any]:
    """KPIs per group and per segment: logo and dollar churn, GRR, NRR, expansion, onboarding, time to value."""
    run_id = _run_id(request, run)

    def build(ws: Workspace) -> dict[str, Any]:
        doc = segment_kpis(ws, run_id, cohort=cohort, onboarding_days=onboarding_days)
        return plain({**doc, "currency": money.currency(ws)})

    return _cached(request, ("kpis", run_id, cohort, onboarding_days), build)


@router.get("/coverage", response_model=so.CoverageOut, tags=["operate"], responses=responses(401, 403, 404, 503))
def get_coverage(request: Request, _: Viewer, run: RunRef = "latest") -> dict[str, Any]:
    """Headcount per engagement model (the model's coverage: rules) and the high/pooled/tech-touch mix."""
    run_id = _run_id(request, run)

    def build(ws: Workspace) -> dict[str, Any]:
        return plain({**ws.operate.coverage(run_id), "currency": money.currency(ws)})

    return _cached(request, ("coverage", run_id), build)


@router.get("/alerts", response_model=so.AlertsOut, tags=["operate"], responses=responses(400, 401, 403, 404, 503))
def get_alerts(
    request: Request, _: Viewer,
    run_from: RunOpt = None, run_to: RunRef = "latest",
    change: Annotated[list[Literal[CHANGES]] | None, Query(description="only these changes")] = None,  # type: ignore[valid-type]
    tier: Annotated[list[Literal[TIERS]] | None, Query(description="only units of these revenue tiers")] = None,  # type: ignore[valid-type]
    dimension: Annotated[str | None, Query(max_length=100, description="group, segment or scheme__<name>")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """Units that changed group or segment between two runs (default: the latest against the one before)."""
    def build(ws: Workspace) -> dict[str, Any]:
        doc = list_alerts(ws, run_from, run_to, change=change, tier=tier, dimension=dimension)
        frame = doc["alerts"].iloc[offset:offset + limit]
        return plain({**{k: v for k, v in doc.items() if k != "alerts"},
                      "alerts": frame.astype(object).where(frame.notna(), None).to_dict("records")})

    return state(request).read_or_write(build)


@router.get("/actions", response_model=so.ActionsOut, tags=["operate"], responses=responses(400, 401, 403, 404, 503))
def get_actions(
    request: Request, _: Viewer, run: RunRef = "latest",
    owner: Annotated[str | None, Query(max_length=200, description="only this owner's actions")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """The actions the model's playbooks produce, with owner, channel, due date and content."""
    run_id = _run_id(request, run)
    doc = _cached(request, ("actions", run_id), lambda ws: ws.operate.actions(run_id))
    acts = doc["actions"]
    if owner is not None:
        acts = acts[acts["owner"] == owner]
    page = acts.iloc[offset:offset + limit]
    return plain({"run_id": doc["run_id"], "as_of": doc["as_of"], "total": len(acts), "per_owner": doc["per_owner"],
                  "per_rule": doc["per_rule"], "notes": doc["notes"],
                  "actions": page.astype(object).where(page.notna(), None).to_dict("records")})


@router.post("/models/preview", response_model=so.PreviewOut, tags=["models"],
             responses=responses(400, 401, 403, 404, 503))
def preview_model(request: Request, text: ModelText, _: Analyst) -> dict[str, Any]:
    """What-if: group sizes, revenue per group and who would move against the latest run; nothing is stored."""
    with workspace(request) as ws:
        model, _checked_against = _checked(ws, text)
    return plain(state(request).read_or_write(lambda ws: preview(ws, model)))
