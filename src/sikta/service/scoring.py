"""What the matrix scores: the feature table plus the columns a model reads that need a fit.

The CLV built-ins (``clv``, ``p_alive``, ...) and scheme parameters
(``scheme: needs=...``) are not features: they are computed at the model's
grain and as-of date and joined onto the feature table before
:func:`sikta.engine.matrix.score` reads it. ``sikta run``, ``sikta model
check`` / ``suggest`` (the matrix diagnosis) and the what-if preview all go
through :func:`scoring_input`, so a model that runs also checks and previews.

Examples
--------
>>> from sikta.service.scoring import ScoringInput
>>> ScoringInput.__dataclass_fields__.keys() >= {"features", "clv", "schemes"}
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from sikta.service.model import Model
    from sikta.service.workspace import Workspace


@dataclass
class ScoringInput:
    """The table to score, the CLV part of the run (or None) and the computed schemes."""

    features: ir.Table
    clv: Any
    schemes: Any
    as_of: date


def scoring_input(ws: Workspace, model: Model, f: ir.Table, as_of: Any, *, all_schemes: bool = True,
                  stability: bool = True, engine: str | None = None) -> ScoringInput:
    """Join the fitted built-ins and scheme columns ``model`` reads onto the feature table ``f``.

    Parameters
    ----------
    ws, model
        The workspace and the model to score.
    f
        The feature build at the model's grain (``ws.features(grain, as_of)``).
    as_of
        The build's date; None means the default build's.
    all_schemes
        Compute every declared scheme (a run stores them all); False computes
        them only when a matrix parameter reads one (checks and previews).
    stability
        Bootstrap the schemes' stability (a run's diagnosis); checks skip it.
    engine
        ``spark``: the transaction-level inputs (CLV purchase summaries, the behavioral
        scheme's buying-style inputs) are computed on Spark (docs/engines.md).
    """
    from sikta.service import clv_run
    from sikta.service.schemes import RunSchemes, for_run

    grain = model.customer.grain
    day = pd.Timestamp(as_of if as_of is not None else ws.feature_build(grain, None)["as_of"]).date()
    # CLV first (a scheme may read the CLV columns); a read-only workspace keeps the fit in this connection
    spark = "spark" if engine == "spark" else None  # duckdb is the default: None keeps stored CLV results usable
    clv_part = clv_run.for_run(ws, model, day, store=not ws.store.read_only, engine=spark)
    if clv_part is not None:
        f = clv_part.features(f)
    schemes = RunSchemes()
    if all_schemes or any(p.kind == "scheme" for _, _, p in model.parameters()):
        f, schemes = for_run(ws, model, f, day, stability=stability, engine=spark)
    return ScoringInput(f, clv_part, schemes, day)
