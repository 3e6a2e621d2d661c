"""The schemes page: every scheme of a run with its verdict and segments, and the matrix's diagnosis.

``/schemes`` (viewer) shows the latest run (``?run=`` another one): for each
scheme declared in the run's model its verdict with the reasons, notes (the
firmographic note among them) and a table of segments with units, shares,
revenue share and the profile in plain words; then the pain × potential
matrix: its verdict, the axis warnings and why each axis is what it is. The
dashboard shows the same verdicts in short, and a visible notice when the
matrix is not plainly usable.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from sikta.web.common import PageRoute, cached, reader, render, signed_in, workspace

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def run_diagnosis(request: Request, ws: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The run's scheme and matrix diagnoses (cached: runs never change); call with the workspace lock held."""
    from sikta.service.diagnose import diagnosis_of

    return cached(request, ("diagnosis", meta["run_id"]), lambda: diagnosis_of(ws, meta))


@router.get("/schemes", response_class=HTMLResponse)
def schemes_page(request: Request, run: str | None = None) -> HTMLResponse:
    """Is the segmentation any good: each scheme of a run and its matrix, with verdicts and reasons."""
    with workspace(request) as ws, reader(request) as rr:
        signed_in(request, ws)
        if not rr.runs():
            return render(request, "schemes.html", doc=None, meta=None)
        meta = rr.meta(run)
        doc = run_diagnosis(request, ws, meta)
    return render(request, "schemes.html", doc=doc, meta=meta)
