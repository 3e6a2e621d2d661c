"""``sikta diagnose``: is a run's segmentation any good? Its schemes and its matrix, with verdicts (SPEC §4.5).

Everything is read from the run: the scheme diagnoses and the matrix
diagnosis are stored when the run is made (``_sikta_runs.schemes`` and
``.diagnostics``), so a diagnosis always describes exactly the segments the
run holds. A run from a Sikta without stored diagnostics gets its matrix
diagnosed from the run table and its model (schemes cannot be re-made for an
old run; the answer says so).

Examples
--------
>>> pick({"a": {"verdict": "usable"}}, {"verdict": "usable"}, scheme="a")["verdict"]
'usable'
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from sikta.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["diagnose_run", "diagnosis_of", "pick"]


def _matrix(ws: Workspace, meta: dict) -> dict[str, Any]:
    raw = meta.get("diagnostics")
    if isinstance(raw, str) and raw:
        return json.loads(raw)
    from sikta.service.matrix_checks import matrix_columns, matrix_diagnosis
    from sikta.service.model import model_from_text
    from sikta.service.runs import run_table

    model = model_from_text(meta["model_text"], source=f"run {meta['run_id']}")
    t = ws.store.table(run_table(meta["run_id"]))
    doc = matrix_diagnosis(ws.store.frame(t.select(*matrix_columns(model, t.columns))), model)
    return doc | {"note": "diagnosed now: this run was made before runs stored their diagnostics"}


def diagnose_run(ws: Workspace, run: str | None = None) -> dict[str, Any]:
    """``{"run_id", "model", "grain", "as_of", "schemes": {name: diagnosis}, "matrix": diagnosis}``."""
    from sikta.service.runs import get_run

    return diagnosis_of(ws, get_run(ws, run))


def diagnosis_of(ws: Workspace, meta: dict[str, Any]) -> dict[str, Any]:
    """:func:`diagnose_run` for a run's metadata (as :func:`sikta.service.runs.get_run` gives it)."""
    from sikta.service.schemes import stored

    raw = meta.get("schemes")
    old = raw is None or (isinstance(raw, float) and math.isnan(raw))
    doc = {"run_id": meta["run_id"], "model": meta["model_name"], "grain": meta["grain"],
           "as_of": str(meta["as_of"])[:10], "schemes": stored(meta), "matrix": _matrix(ws, meta)}
    if old:
        doc["note"] = "this run was made before runs stored scheme diagnoses: run the model again to diagnose its schemes"
    return doc


def pick(schemes: dict[str, dict], matrix: dict, *, scheme: str | None = None, only_matrix: bool = False) -> dict:
    """The part of a run's diagnosis asked for: one scheme, the matrix, or both."""
    if scheme is not None and only_matrix:
        raise UsageError("give --scheme NAME or --matrix, not both")
    if scheme is not None:
        if scheme not in schemes:
            listed = ", ".join(schemes) or "none: declare them under schemes: in the model file"
            raise NotFoundError(f"the run has no scheme {scheme!r} (schemes: {listed})")
        return schemes[scheme]
    if only_matrix:
        return matrix
    return {"schemes": schemes, "matrix": matrix}
