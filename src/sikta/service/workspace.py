"""The workspace: Sikta's Python API for notebook users.

A workspace is one DuckDB file holding the ingested contract tables, the
quarantine, the account hierarchy and the feature tables (later also model
versions and runs). Every method returns Ibis tables or small dataclasses;
call ``.to_pandas()`` on a table to look at it.

Examples
--------
>>> import sikta, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "accounts.csv").write_text("account_id,parent_account_id\\nG,\\nC,G\\n")
>>> _ = (d / "orders.csv").write_text("order_id,account_id,order_date,amount\\n1,C,2025-01-05,100\\n2,G,2025-03-01,50\\n")
>>> ws = sikta.Workspace(d / "ws.duckdb")
>>> report = ws.ingest(d)
>>> report.tables["orders"].loaded
2
>>> feats = ws.features(grain="ultimate_parent", as_of="2025-06-30")
>>> feats.select("unit_id", "revenue_12m").to_pandas().values.tolist()
[['G', 150.0]]
>>> ws.close()
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import ibis.expr.types as ir
import pandas as pd

from sikta.engine import features as feat
from sikta.engine.contract import CONTRACT, GRAINS
from sikta.engine.store import Store
from sikta.errors import NotFoundError, UsageError, WorkspaceError
from sikta.service import ingest as ing

if TYPE_CHECKING:
    from sikta.service.analysis import Analysis
    from sikta.service.model import Model
    from sikta.service.runs import RunSummary
    from sikta.service.suggest import Suggestion

DEFAULT_WORKSPACE = "sikta.duckdb"
FEATURE_BUILDS = "_sikta_feature_builds"
FEATURE_BUILDS_SCHEMA = {
    "grain": "string", "as_of": "date", "ingest_id": "string", "window_months": "int64",
    "units": "int64", "built_at": "timestamp", "missing": "string", "dims": "string",
}


def default_workspace() -> Path:
    """``$SIKTA_WORKSPACE`` or ``./sikta.duckdb``."""
    return Path(os.environ.get("SIKTA_WORKSPACE") or DEFAULT_WORKSPACE)


def parse_date(value: str | date | None, what: str = "date") -> date | None:
    """Accept ``YYYY-MM-DD`` strings or dates; a clear error otherwise."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(f"{what} {value!r} is not a date (use YYYY-MM-DD)") from None


@dataclass
class FeatureBuild:
    """What a feature build produced."""

    grain: str
    as_of: date
    units: int
    table: str
    missing: dict[str, list[str]] = field(default_factory=dict)


class Workspace:
    """Open (or create) a Sikta workspace.

    Parameters
    ----------
    path
        The DuckDB file; default ``$SIKTA_WORKSPACE`` or ``./sikta.duckdb``.
    read_only
        Open for reading only (the file must exist). Many read-only processes may share a
        workspace; one that writes has it alone.
    wait
        Seconds to keep trying while another process holds the file.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False, wait: float = 0.0) -> None:
        self.path = Path(path) if path is not None else default_workspace()
        self.store = Store(self.path, read_only=read_only, wait=wait)

    # -- context management ---------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # -- ingest -----------------------------------------------------------
    def ingest(self, *paths: str | Path, mapping: str | Path | None = None) -> ing.IngestReport:
        """Load exports (folders and/or files) into the workspace.

        See :func:`sikta.service.ingest.ingest`. Rows that break the
        contract go to :meth:`quarantine`; nothing is dropped.
        """
        if not paths:
            raise UsageError("give at least one folder or file to ingest")
        return ing.ingest(self.store, list(paths), mapping)

    def _require_data(self) -> None:
        if not self.store.has("accounts"):
            raise WorkspaceError(f"workspace {self.path} holds no data yet: run 'sikta ingest PATH' first")

    def table(self, name: str) -> ir.Table:
        """A loaded contract table (``accounts``, ``orders``, ...)."""
        if name not in CONTRACT:
            raise UsageError(f"{name!r} is not a contract table ({', '.join(CONTRACT)})")
        return self.store.table(name)

    def quarantine(self, table: str | None = None) -> ir.Table:
        """Rows the last ingest quarantined, with file, row, column and reason."""
        self._require_data()
        q = self.store.table(ing.QUARANTINE)
        if table is not None:
            if table not in CONTRACT:
                raise UsageError(f"{table!r} is not a contract table ({', '.join(CONTRACT)})")
            q = q.filter(q.table == table)
        return q.order_by(["table", "file", "row"])

    def last_ingest(self) -> dict | None:
        if not self.store.has(ing.INGESTS):
            return None
        t = self.store.table(ing.INGESTS)
        rows = self.store.frame(t.order_by(t.finished_at.desc()).limit(1))
        return None if rows.empty else rows.iloc[0].to_dict()

    def table_counts(self) -> pd.DataFrame:
        """rows_in / loaded / quarantined per table of the last ingest."""
        self._require_data()
        last = self.last_ingest()
        t = self.store.table(ing.TABLE_STATS)
        return self.store.frame(t.filter(t.ingest_id == last["ingest_id"]).drop("ingest_id"))

    def units_per_grain(self) -> dict[str, int]:
        """How many segmentation units each grain has (all loaded accounts)."""
        self._require_data()
        h = self.store.table(ing.HIERARCHY)
        row = self.store.frame(
            h.aggregate(
                ultimate_parent=h.ultimate_parent_id.nunique(),
                account=h.account_unit_id.nunique(),
                department=h.account_id.nunique(),
            )
        ).iloc[0]
        return {g: int(row[g]) for g in GRAINS}

    # -- features -----------------------------------------------------------
    def _tables(self) -> dict[str, ir.Table]:
        return {name: self.store.table(name) for name in CONTRACT if self.store.has(name)}

    def default_as_of(self) -> date:
        """The latest revenue date in the data (so old exports are not 'stale')."""
        self._require_data()
        dates = []
        if self.store.has("orders"):
            dates.append(self.store.scalar(self.store.table("orders").order_date.max()))
        if self.store.has("subscriptions"):
            s = self.store.table("subscriptions")
            dates.append(self.store.scalar(s.start_date.max()))
        dates = [pd.Timestamp(d).date() for d in dates if d is not None and not pd.isna(d)]
        if not dates:
            raise WorkspaceError("no dated revenue rows: pass --as-of")
        return max(dates)

    def build_features(
        self, grain: str = "account", as_of: str | date | None = None, *, window_months: int = 12
    ) -> FeatureBuild:
        """Build and store the per-unit feature table for ``grain`` at ``as_of``."""
        self._require_data()
        if grain not in GRAINS:
            raise UsageError(f"grain {grain!r} is not one of {', '.join(GRAINS)}")
        as_of_d = parse_date(as_of, "--as-of") or self.default_as_of()
        tables = self._tables()
        dims = feat.Dims(
            **{
                key: tuple(str(x) for x in self.store.frame(q)["value"].tolist())
                for key, q in feat.dims_queries(tables, as_of=as_of_d).items()
            }
        )
        expr = feat.build_features(
            tables, self.store.table(ing.HIERARCHY), grain=grain, as_of=as_of_d, dims=dims, window_months=window_months
        )
        name = f"features_{grain}"
        missing = feat.missing_inputs(tables)
        last = self.last_ingest() or {}
        with self.store.staged() as stage:
            stage.create(name, expr)
            units = self.store.count(stage.table(name))
            record = pd.DataFrame([{
                "grain": grain, "as_of": as_of_d, "ingest_id": last.get("ingest_id"), "window_months": window_months,
                "units": units, "built_at": datetime.now(UTC).replace(tzinfo=None),
                "missing": "; ".join(f"{k}: {', '.join(v)}" for k, v in missing.items()),
                "dims": json.dumps(dataclasses.asdict(dims)),
            }])

            def _log() -> None:
                self.store.create_empty(FEATURE_BUILDS, FEATURE_BUILDS_SCHEMA, replace=False)
                self.store.insert(FEATURE_BUILDS, record, schema=FEATURE_BUILDS_SCHEMA)

            stage.on_commit.append(_log)
        return FeatureBuild(grain=grain, as_of=as_of_d, units=units, table=name, missing=missing)

    def feature_build(self, grain: str) -> dict | None:
        """The stored build for ``grain`` (as_of, units, ...), if any."""
        if not self.store.has(f"features_{grain}") or not self.store.has(FEATURE_BUILDS):
            return None
        t = self.store.table(FEATURE_BUILDS)
        rows = self.store.frame(t.filter(t.grain == grain).order_by(t.built_at.desc()).limit(1))
        return None if rows.empty else rows.iloc[0].to_dict()

    def feature_lines(self, grain: str) -> list[str]:
        """Product lines behind the ``rev12_*`` columns of the stored build."""
        build = self.feature_build(grain)
        if build is None or not build.get("dims"):
            return []
        return list(json.loads(build["dims"]).get("product_lines", []))

    @property
    def analyze(self) -> Analysis:
        """The fact-based analysis: ``ws.analyze.pareto()``, ``ws.analyze(grain=...).flow()``."""
        from sikta.service.analysis import Analysis

        return Analysis(self)

    def features(self, grain: str = "account", as_of: str | date | None = None, *, window_months: int = 12) -> ir.Table:
        """The feature table (one row per unit), built if the stored one does not match.

        Parameters
        ----------
        grain
            ``ultimate_parent``, ``account`` or ``department``.
        as_of
            Only data up to this date is used; default: the latest revenue date.
        window_months
            Length of the trailing window ("last 12 months").
        """
        as_of_d = parse_date(as_of, "as_of")
        stored = self.feature_build(grain)
        last = self.last_ingest() or {}
        if (
            stored is None
            or stored["ingest_id"] != last.get("ingest_id")
            or int(stored["window_months"]) != window_months
            or (as_of_d is not None and pd.Timestamp(stored["as_of"]).date() != as_of_d)
        ):
            self.build_features(grain, as_of_d, window_months=window_months)
        return self.store.table(f"features_{grain}")

    # -- segmentation (see sikta.service.runs and docs/model.md) ---------------
    def run(self, model: str | Path | Model, *, as_of: str | date | None = None) -> RunSummary:
        """Score the matrix with a model (a file path or a loaded model); store an immutable run.

        Examples
        --------
        >>> ws.run("model.yaml").groups["invest"]["accounts"]  # doctest: +SKIP
        412
        """
        from sikta.service import runs
        from sikta.service.model import load_model

        loaded = load_model(model) if isinstance(model, str | Path) else model
        source = str(model) if isinstance(model, str | Path) else None
        return runs.create_run(self, loaded, as_of=parse_date(as_of, "as_of"), model_file=source)

    def runs(self) -> pd.DataFrame:
        """The stored runs, newest first."""
        from sikta.service import runs

        return runs.list_runs(self)

    def run_rows(self, run: str | None = None) -> ir.Table:
        """Per-unit rows of a run (default the latest): values, scores, axis scores, group."""
        from sikta.service import runs

        return runs.run_rows(self, run)

    def explain(self, unit_id: str, run: str | None = None) -> dict:
        """Why ``unit_id`` is in its group in a run: ``["lines"]`` in words, ``["values"]`` in numbers."""
        from sikta.service import runs

        return runs.explain(self, unit_id, run)

    def diff(self, run_a: str = "previous", run_b: str = "latest", *, limit: int | None = None) -> dict:
        """Transitions between two runs and who moved why."""
        from sikta.service import runs

        return runs.diff(self, run_a, run_b, limit=limit)

    def suggest(self, **settings) -> Suggestion:
        """Propose potential and pain parameters from the best customers (:func:`sikta.service.suggest.suggest`)."""
        from sikta.service.suggest import suggest

        return suggest(self, **settings)

    def summary(self) -> dict:
        """Tables, row counts, units per grain and the last ingest, for people."""
        self._require_data()
        last = self.last_ingest() or {}
        counts = self.table_counts()
        builds = {g: self.feature_build(g) for g in GRAINS}
        return {
            "workspace": str(self.path),
            "ingest_id": last.get("ingest_id"),
            "ingested_at": str(last.get("finished_at")),
            "tables": {r["table"]: {k: int(r[k]) for k in ("rows_in", "loaded", "quarantined")} for r in counts.to_dict("records")},
            "units_per_grain": self.units_per_grain(),
            "features": {
                g: {"as_of": str(pd.Timestamp(b["as_of"]).date()), "units": int(b["units"])} for g, b in builds.items() if b
            },
        }


__all__ = ["Workspace", "FeatureBuild", "default_workspace", "parse_date"]
