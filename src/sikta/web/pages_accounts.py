"""Account pages: sortable, filterable lists (per group or all), CSV download, one account.

``/accounts`` and ``/groups/{group}`` list the units of a run (the latest by
default, ``?run=`` for another) with ``sort``/``order``, ``group``,
``status`` and ``q`` (text in id or name) as query parameters, 50 to a page.
``/accounts.csv`` answers the same filters with every matching row as CSV:
run columns only, no contacts, no personal data. ``/accounts/{unit_id}``
shows the unit's parameters, the explanation of its group, its group in
every run at the same grain, its features, and its contacts (names and
e-mails for analysts and admins only).

The reads go through the app's cached
:class:`~sikta.service.segments.RunReader`, the same one the REST API uses,
so a page and ``GET /api/v1/accounts`` always agree.

Text cells a spreadsheet would run as formulas are neutralized by
:mod:`sikta.engine.csvsafe`, as in every CSV Sikta writes.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from sikta.engine.contract import STATUSES
from sikta.engine.csvsafe import write_frame_csv
from sikta.errors import NotFoundError, UsageError
from sikta.service.segments import PAGE_COLUMNS, SORTS
from sikta.web.common import GROUPS, PageRoute, group_styles, reader, render, signed_in, workspace

router = APIRouter(route_class=PageRoute, include_in_schema=False)

HEADINGS = {"unit_id": "Account", "name": "Name", "status": "Status", "group": "Group", "revenue_12m": "Revenue 12m",
            "potential_score": "Potential", "pain_score": "Pain", "deprioritized_by": "Deprioritized by"}
NUMERIC = {"revenue_12m", "potential_score", "pain_score"}
PAGE_SIZE = 50
MAX_SEARCH = 100
#: the most rows one CSV download holds (a million-unit run is an export, not a download)
MAX_CSV_ROWS = 1_000_000


@dataclass(frozen=True)
class Filters:
    """What a list shows: run, group, status, search text, sort column and order, page."""

    run: str | None = None
    group: str | None = None
    status: str | None = None
    search: str | None = None
    sort: str = "revenue_12m"
    order: str = "desc"
    page: int = 1

    @classmethod
    def from_request(cls, request: Request, group: str | None = None) -> Filters:
        p = request.query_params
        group = group or p.get("group") or None
        if group is not None and group not in GROUPS:
            raise NotFoundError(f"no group {group!r}: the groups are {', '.join(GROUPS)}")
        status = p.get("status") or None
        if status is not None and status not in STATUSES:
            raise UsageError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        sort = p.get("sort") or "revenue_12m"
        if sort not in SORTS:
            raise UsageError(f"cannot sort by {sort!r}: sort by one of {', '.join(SORTS)}")
        order = p.get("order") or ("desc" if sort in NUMERIC else "asc")
        if order not in ("asc", "desc"):
            raise UsageError("order is asc or desc")
        try:
            page = max(1, int(p.get("page") or 1))
        except ValueError:
            raise UsageError("page is a number") from None
        search = (p.get("q") or "").strip()[:MAX_SEARCH] or None
        return cls(p.get("run") or None, group, status, search, sort, order, page)

    @property
    def reader_sort(self) -> str:
        return ("-" if self.order == "desc" else "") + self.sort

    def read(self, rr: Any, *, limit: int, offset: int = 0) -> dict[str, Any]:
        return rr.accounts(self.run, group=self.group, status=self.status, q=self.search, sort=self.reader_sort,
                           limit=limit, offset=offset)


def _list_page(request: Request, group: str | None) -> HTMLResponse:
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        f = Filters.from_request(request, group)
        first = f.read(rr, limit=PAGE_SIZE, offset=(f.page - 1) * PAGE_SIZE)
        total = first["total"]
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(f.page, pages)
        listing = first if page == f.page else f.read(rr, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        meta = rr.meta(listing["run_id"])
        styles = group_styles(rr.model(listing["run_id"]))
        kpis = {g["group"]: g for g in rr.groups(listing["run_id"])["groups"]}
        all_runs = rr.runs()
    rows = listing["rows"]
    present = set(rows[0]) if rows else set(PAGE_COLUMNS)
    columns = [(c, HEADINGS.get(c, c), c in NUMERIC, c in SORTS) for c in PAGE_COLUMNS if c in present]
    revenue_total = sum(float(k.get("revenue_12m") or 0) for k in kpis.values())
    return render(request, "accounts.html", f=f, meta=meta, rows=rows, total=total, page=page, pages=pages,
                  columns=columns, statuses=STATUSES, styles=styles, group=group, summary=kpis.get(group),
                  revenue_total=revenue_total, all_runs=all_runs)


@router.get("/accounts", response_class=HTMLResponse)
def accounts(request: Request) -> HTMLResponse:
    """Every unit of a run, sortable and filterable."""
    return _list_page(request, None)


@router.get("/groups/{group}", response_class=HTMLResponse)
def group_page(request: Request, group: str) -> HTMLResponse:
    """The units of one matrix group."""
    return _list_page(request, group)


@router.get("/accounts.csv")
def accounts_csv(request: Request) -> Response:
    """The filtered rows as CSV (every page; run columns only, no personal data)."""
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        f = Filters.from_request(request)
        listing = f.read(rr, limit=MAX_CSV_ROWS)
    rows = listing["rows"]
    frame = pd.DataFrame(rows, columns=[c for c in PAGE_COLUMNS if not rows or c in rows[0]])
    frame.insert(0, "run_id", listing["run_id"])
    buf = io.StringIO()
    write_frame_csv(frame, buf, float_format="%.6g")
    name = f"sikta-{f.group or 'accounts'}-{listing['run_id']}.csv"
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})


# -- one account ----------------------------------------------------------------
def _parameters(model: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Value, score and weight of each model parameter for one run row."""
    out = []
    for axis, _, p in model.parameters():
        out.append({"axis": axis, "label": p.label or p.name.replace("_", " "), "source": p.source, "weight": p.weight,
                    "value": row.get(f"{axis}__{p.name}__value"), "score": row.get(f"{axis}__{p.name}__score")})
    return out


@router.get("/accounts/{unit_id:path}", response_class=HTMLResponse)
def account(request: Request, unit_id: str) -> HTMLResponse:
    """One unit: why it is in its group, its history across runs, its features and contacts."""
    run = request.query_params.get("run") or None
    with workspace(request) as ws, reader(request) as rr:
        user = signed_in(request, ws)
        doc = rr.account(unit_id, run)
        meta = rr.meta(doc["run_id"])
        model = rr.model(doc["run_id"])
        personal = user.can("analyst")
        try:
            contacts = rr.contacts(unit_id, doc["run_id"], personal=personal)["contacts"]
        except NotFoundError:  # an old run's unit that the current data no longer has
            contacts = []
    features = {k: v for k, v in (doc["features"] or {}).items() if k not in ("unit_id", "grain", "as_of")} or None
    roles = Counter(str(c.get("role") or "(no role)") for c in contacts)
    return render(request, "account.html", meta=meta, unit_id=unit_id, doc=doc, row=doc["values"],
                  parameters=_parameters(model, doc["values"]), features=features, history=doc["history"],
                  contacts=contacts if personal else [], contact_roles=dict(sorted(roles.items())),
                  contact_count=len(contacts), styles=group_styles(model))
