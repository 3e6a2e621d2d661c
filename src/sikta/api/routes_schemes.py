"""Scheme and matrix diagnoses of a run (role *viewer* and up): is the segmentation any good? (SPEC §4.5)

``GET /api/v1/runs/{run_id}/diagnostics`` answers what ``sikta diagnose --json``
prints: every scheme of the run with its verdict, reasons, segments and
profiles, sizes, distinctiveness, stability and coverage, and the matrix
with its verdict, reasons (the axis warnings), group sizes and why each axis
is what it is. Read from the run, as stored when it was made.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request

from sikta.api.deps import require, run_reader
from sikta.api.errors import responses
from sikta.api.schemas import _Out

router = APIRouter(prefix="/api/v1")
Viewer = Annotated[dict, Depends(require("viewer"))]
RunPath = Annotated[str, Path(max_length=100, description="'latest', 'previous', a run id or a unique suffix of one")]
Verdict = Literal["usable", "usable with caveats", "not usable"]
Record = dict[str, Any]


class SchemeDiagnosis(_Out):
    scheme: str
    type: str
    scope: str
    grain: str
    units: int
    verdict: Verdict
    reasons: list[str]
    notes: list[str] = []
    number: str | None = None
    profiles: list[Record] = []
    sizes: list[Record] = []
    distinctiveness: list[Record] = []
    coverage: list[Record] = []
    placed_share: float | None = None
    stability: float | None = None
    stability_ari: float | None = None
    diagnosis_notes: list[str] = []
    details: Record | None = None


class MatrixDiagnosis(_Out):
    verdict: Verdict
    reasons: list[str]
    units: int
    in_matrix: int
    groups: list[Record]
    axes: dict[str, Record]
    note: str | None = None


class RunDiagnostics(_Out):
    run_id: str
    model: str
    grain: str
    as_of: str
    schemes: dict[str, SchemeDiagnosis]
    matrix: MatrixDiagnosis
    note: str | None = None


@router.get("/runs/{run_id}/diagnostics", response_model=RunDiagnostics, tags=["runs"],
            responses=responses(401, 403, 404))
def run_diagnostics(request: Request, run_id: RunPath, _: Viewer) -> dict[str, Any]:
    """Whether the run's segmentation is any good: each scheme and the matrix, with a verdict and reasons."""
    from sikta.service.diagnose import diagnosis_of

    with run_reader(request) as reader:
        return diagnosis_of(reader.ws, reader.meta(run_id))


__all__ = ["router"]
