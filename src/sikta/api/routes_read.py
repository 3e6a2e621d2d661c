"""Read endpoints (role *viewer* and up): runs, accounts, groups, contacts, analysis.

Each endpoint is a thin adapter: it checks the caller's role, takes the
workspace lock and asks :class:`~sikta.service.segments.RunReader` or the
service layer; the answers are JSON-ready and typed by :mod:`sikta.api.schemas`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from sikta import __version__
from sikta.api import schemas as s
from sikta.api.deps import require, run_reader, state, workspace
from sikta.api.errors import responses
from sikta.engine.contract import GRAINS, STATUSES
from sikta.errors import DataTooThinError
from sikta.service import runs as runs_svc
from sikta.service import tokens
from sikta.service.analysis import PARTS, PERIODS
from sikta.service.segments import SORTS, plain
from sikta.service.workspace import Workspace

router = APIRouter(prefix="/api/v1")
Viewer = Annotated[dict, Depends(require("viewer"))]
RunRef = Annotated[str, Query(max_length=100, description="'latest', 'previous', a run id or a unique suffix of one")]
RunPath = Annotated[str, Path(max_length=100, description="'latest', 'previous', a run id or a unique suffix of one")]
UnitPath = Annotated[str, Path(max_length=200, description="the unit (account) id at the run's grain")]
Sort = Literal[tuple(x for c in SORTS for x in (c, f"-{c}"))]  # type: ignore[valid-type]
AUTH = responses(401, 403)
ANALYSIS_CACHE = 64


def _json(doc: dict[str, Any]) -> Response:
    # The hot reads answer with orjson's bytes: FastAPI then skips validating and re-encoding
    # a response the service already made JSON-ready, which cost more than the read itself.
    # tests/api/test_account_documents.py validates these answers against their response models.
    return Response(orjson.dumps(doc), media_type="application/json")


def _builds_features(ws: Workspace, grain: str, as_of: date | None, window_months: int) -> bool:
    """Whether ``ws.features`` would build a feature table for these settings (none is stored yet)."""
    return ws.feature_build(grain, as_of, window_months=window_months) is None


@router.get("/health", response_model=s.Health, tags=["meta"])
async def health() -> dict[str, Any]:
    """Liveness; the only endpoint without a token."""
    return {"status": "ok", "version": __version__}


@router.get("/me", response_model=s.Me, tags=["meta"], responses=AUTH)
def me(token: Viewer) -> dict[str, Any]:
    """Who the token belongs to and what it may do."""
    return token


@router.get("/runs", response_model=s.RunList, tags=["runs"], responses=AUTH)
def list_runs(request: Request, _: Viewer) -> dict[str, Any]:
    """Every run, newest first, with its group counts."""
    with run_reader(request) as reader:
        return {"runs": reader.runs()}


@router.get("/runs/{run_id}", response_model=s.RunDetail, tags=["runs"], responses=responses(401, 403, 404))
def get_run(request: Request, run_id: RunPath, _: Viewer) -> dict[str, Any]:
    """One run: its metadata, model text and group counts."""
    with run_reader(request) as reader:
        return reader.meta(run_id)


@router.get("/runs/{run_a}/diff/{run_b}", response_model=s.DiffOut, tags=["runs"],
            responses=responses(400, 401, 403, 404))
def diff_runs(
    request: Request, run_a: RunPath, run_b: RunPath, _: Viewer,
    limit: Annotated[int, Query(ge=0, le=10_000, description="changed accounts to list (0: none)")] = 100,
) -> dict[str, Any]:
    """The transition matrix between two runs, and which accounts moved and why."""
    with run_reader(request) as reader:
        a, b = reader.resolve(run_a)["run_id"], reader.resolve(run_b)["run_id"]
        doc = runs_svc.diff(reader.ws, a, b, limit=max(limit, 1))
    if not limit:
        doc["accounts"] = []
    return plain(doc)


@router.get("/accounts", response_model=s.AccountPage, tags=["accounts"], responses=responses(400, 401, 403, 404))
def list_accounts(
    request: Request, _: Viewer,
    run: RunRef = "latest",
    group: s.Group | None = None,
    status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
    q: Annotated[str | None, Query(max_length=200, description="part of the unit id or name, any case")] = None,
    sort: Annotated[Sort, Query(description="a column; '-' first for descending")] = "-revenue_12m",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=s.MAX_OFFSET)] = 0,
) -> Response:
    """One page of a run's accounts with group, scores and revenue (stable paging, ties by unit id)."""
    with run_reader(request) as reader:
        return _json(reader.accounts(run, group=group, status=status, q=q, sort=sort, limit=limit, offset=offset))


@router.get("/accounts/{unit_id}", response_model=s.AccountDetail, tags=["accounts"],
            responses=responses(401, 403, 404))
def get_account(request: Request, unit_id: UnitPath, _: Viewer, run: RunRef = "latest") -> Response:
    """One account: its group and why, its run values and features, and its group in every run."""
    st = state(request)
    with run_reader(request) as reader:
        ctx = reader.account_context(run)
    # outside the lock: immutable tables, a cursor per thread; the gate keeps the connection in place
    with st.gate.shared():
        return _json(reader.account_read(ctx, unit_id, features_json=True))


@router.get("/accounts/{unit_id}/contacts", response_model=s.ContactsOut, tags=["accounts"],
            responses=responses(401, 403, 404))
def get_contacts(request: Request, unit_id: UnitPath, token: Viewer, run: RunRef = "latest") -> dict[str, Any]:
    """The contacts of an account's member accounts. Names and e-mails only for analysts and admins."""
    personal = tokens.role_allows(token["role"], "analyst")
    with run_reader(request) as reader:
        return reader.contacts(unit_id, run, personal=personal)


@router.get("/groups", response_model=s.GroupsOut, tags=["accounts"], responses=responses(401, 403, 404))
def get_groups(request: Request, _: Viewer, run: RunRef = "latest") -> dict[str, Any]:
    """Accounts, revenue and KPIs per group of a run (definitions: sikta.service.segments)."""
    with run_reader(request) as reader:
        return reader.groups(run)


@router.get("/analysis/{part}", response_model=s.AnalysisOut, tags=["analysis"],
            responses=responses(400, 401, 403, 409, 422, 503))
def get_analysis(
    request: Request, part: Literal[PARTS], token: Viewer,  # type: ignore[valid-type]
    grain: Literal[GRAINS] = "account",  # type: ignore[valid-type]
    as_of: Annotated[date | None, Query(ge=s.FIRST_DATE, le=s.LAST_DATE, description="default: the latest revenue date")] = None,
    period: Literal[PERIODS] = "month",  # type: ignore[valid-type]
    window_months: Annotated[int, Query(ge=1, le=120)] = 12,
    limit: Annotated[int, Query(ge=1, le=1000, description="rows of each ranked table")] = 20,
) -> dict[str, Any]:
    """One part of the fact-based customer analysis, as ``sikta analyze PART --json`` shows it.

    Viewers get it for the stored feature table's date, grain and window; other settings build
    features first, which takes the analyst role.
    """
    st = state(request)
    key = ("analysis", part, grain, as_of, period, window_months, limit)
    with workspace(request) as ws:
        if key in st.cache:
            return st.cache[key]
        if _builds_features(ws, grain, as_of, window_months) and not tokens.role_allows(token["role"], "analyst"):
            # a feature build at another date or grain can take minutes and blocks every reader meanwhile
            raise HTTPException(403, "this analysis needs a new feature build (another as_of, grain or window): "
                                     "that takes the analyst role; viewers see the stored one")

    def analyse(ws: Workspace) -> dict[str, Any]:
        report = ws.analyze(grain=grain, as_of=as_of, period=period, window_months=window_months).run(parts=(part,))
        if not ws.store.read_only:
            st.reader.refresh(prepare=True)  # the analysis may have rebuilt a feature table
        if part in report.skipped:
            raise DataTooThinError(report.skipped[part])
        doc = report.to_dict(limit)
        result = {k: v for k, v in doc.items() if k not in ("grain", "as_of", "window_months", "skipped")}
        # the data only changes with an ingest, which cannot happen while the server runs
        mine = [k for k in st.cache if k and k[0] == "analysis"]  # the web UI keeps its own entries here
        for old in mine[: max(0, len(mine) - ANALYSIS_CACHE + 1)]:
            st.cache.pop(old, None)
        st.cache[key] = {"part": part, "grain": grain, "as_of": doc["as_of"], "window_months": window_months,
                         "result": plain(result)}
        return st.cache[key]

    # read-only first; a feature build makes it a write (then the server takes the file briefly)
    return st.read_or_write(analyse)
