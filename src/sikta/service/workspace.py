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

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import ibis.expr.types as ir

from sikta.engine.contract import CONTRACT, GRAINS
from sikta.engine.store import Store
from sikta.errors import DataTooThinError, UsageError, WorkspaceError
from sikta.service import feature_store as fs
from sikta.service import ingest as ing
from sikta.service.feature_store import FeatureBuild
from sikta.service.locations import DEFAULT_WORKSPACE, default_workspace

if TYPE_CHECKING:
    import pandas as pd

    from sikta.service.analysis import Analysis
    from sikta.service.clv import Clv
    from sikta.service.model import Model
    from sikta.service.operate import Operate
    from sikta.service.runs import RunSummary
    from sikta.service.schemes import Schemes
    from sikta.service.suggest import Suggestion



def parse_date(value: str | date | None, what: str = "date") -> date | None:
    """Accept ``YYYY-MM-DD`` strings or dates; a clear error otherwise."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(f"{what} {value!r} is not a date (use YYYY-MM-DD)") from None


def not_after_today(day: date, what: str = "as-of") -> date:
    """``day``, or a clear error when it lies after today: no data exist from the future.

    An as-of of 2199 once stored a run of prospects only, every unit "changed group" against it
    and tenures of 69,000 days followed; the default as-of is never after today either.

    Examples
    --------
    >>> not_after_today(date(2020, 1, 31))
    datetime.date(2020, 1, 31)
    """
    today = date.today()
    if day > today:
        raise UsageError(f"{what} {day} is after today ({today}): there are no data from the future to score")
    return day


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
    def ingest(
        self, *paths: str | Path, mapping: str | Path | None = None, allow_shrink: bool = False,
        schema: str | None = None,
    ) -> ing.IngestReport:
        """Load exports (folders and/or files, or one PostgreSQL database) into the workspace.

        See :func:`sikta.service.ingest.ingest`. Rows that break the
        contract go to :meth:`quarantine`; nothing is dropped. A snapshot
        that would empty a table or lose more than half of its rows is
        refused unless ``allow_shrink``. A ``postgresql://user@host/db`` URL
        reads the contract tables from ``schema`` (``public``); keep the
        password out of the URL (``PGPASSWORD`` or ``~/.pgpass``).
        """
        if not paths:
            raise UsageError("give at least one folder or file to ingest")
        return ing.ingest(self.store, list(paths), mapping, allow_shrink=allow_shrink, schema=schema)

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
        row = self.store.rows(
            h.aggregate(
                ultimate_parent=h.ultimate_parent_id.nunique(),
                account=h.account_unit_id.nunique(),
                department=h.account_id.nunique(),
            )
        )[0]
        return {g: int(row[g]) for g in GRAINS}

    # -- features -----------------------------------------------------------
    def default_as_of(self) -> date:
        """The latest revenue date in the data (so old exports are not 'stale'), never later than today.

        Rows dated in the future (a typo, a scheduled delivery) do not move it:
        the ingest summary counts them.
        """
        import pandas as pd

        self._require_data()
        today = date.today()
        dates = []
        for name, col in (("orders", "order_date"), ("subscriptions", "start_date")):
            if self.store.has(name):
                t = self.store.table(name)
                dates.append(self.store.scalar(t.filter(t[col] <= today)[col].max()))
        dates = [pd.Timestamp(d).date() for d in dates if d is not None and not pd.isna(d)]
        if not dates:
            raise DataTooThinError("no dated revenue rows up to today: pass --as-of to choose the date")
        return max(dates)

    @property
    def engine(self) -> str | None:
        """The engine this workspace is set to run on (``spark``), or None: DuckDB, the default (docs/engines.md)."""
        from sikta.service.engines import workspace_engine

        return workspace_engine(self)

    def set_engine(self, name: str) -> str | None:
        """Set the engine the CLI's ``--engine`` defaults to for this workspace; ``duckdb`` clears it."""
        from sikta.service.engines import set_workspace_engine

        return set_workspace_engine(self, name)

    def build_features(
        self, grain: str = "account", as_of: str | date | None = None, *, window_months: int = 12,
        engine: str | None = None,
    ) -> FeatureBuild:
        """Build and store the per-unit feature table for ``grain`` at ``as_of`` (see :mod:`sikta.service.feature_store`).

        ``engine``: ``duckdb`` (default) or ``spark`` runs the build (docs/engines.md).
        """
        self._require_data()
        return fs.build(self, grain, parse_date(as_of, "--as-of"), window_months, engine=engine)

    def feature_build(self, grain: str, as_of: str | date | None = None, *, window_months: int = 12) -> dict | None:
        """The stored build for (grain, as_of, window) - by default the grain's default build - if any."""
        if not self.store.has(ing.INGESTS):
            return None
        return fs.find(self, grain, parse_date(as_of, "as_of"), window_months)

    def feature_lines(self, grain: str, as_of: str | date | None = None, *, window_months: int = 12) -> list[str]:
        """Product lines behind the ``rev12_*`` columns of a build (empty when there are too many for columns)."""
        return list(fs.dims_of(self.feature_build(grain, as_of, window_months=window_months)).get("product_lines", []))

    @property
    def analyze(self) -> Analysis:
        """The fact-based analysis: ``ws.analyze.pareto()``, ``ws.analyze(grain=...).flow()``."""
        from sikta.service.analysis import Analysis

        return Analysis(self)

    def features(
        self, grain: str = "account", as_of: str | date | None = None, *, window_months: int = 12,
        engine: str | None = None,
    ) -> ir.Table:
        """The feature table (one row per unit), built if there is none for these settings and data.

        Parameters
        ----------
        grain
            ``ultimate_parent``, ``account`` or ``department``.
        as_of
            Only data up to this date is used; default: the latest revenue date (never past today).
        window_months
            Length of the trailing window ("last 12 months").
        engine
            ``duckdb`` or ``spark``: the build must come from that engine (a
            stored one made by the other is rebuilt); None takes any stored build.

        Each (grain, as_of, window) is its own stored build: asking for another
        date or window never replaces the default build that runs score.
        """
        self._require_data()
        return fs.features(self, grain, parse_date(as_of, "as_of"), window_months, engine=engine)

    @property
    def clv(self) -> Clv:
        """Customer lifetime value: ``ws.clv(grain=..., calibration_end=..., as_of=...)``,
        ``ws.clv.contractual()``, ``ws.clv.value_tiers()`` (see :mod:`sikta.service.clv`, docs/clv.md)."""
        from sikta.service.clv import Clv

        return Clv(self)

    # -- segmentation (see sikta.service.runs and docs/model.md) ---------------
    def run(self, model: str | Path | Model, *, as_of: str | date | None = None, engine: str | None = None) -> RunSummary:
        """Score the matrix with a model (a file path or a loaded model); store an immutable run.

        ``engine`` (``duckdb`` or ``spark``) builds the features the run scores when needed (see
        :meth:`features`); the run records which engine built them.

        Examples
        --------
        >>> ws.run("model.yaml").groups["invest"]["accounts"]  # doctest: +SKIP
        412
        """
        from sikta.service import runs
        from sikta.service.model import load_model

        loaded = load_model(model) if isinstance(model, str | Path) else model
        source = str(model) if isinstance(model, str | Path) else None
        return runs.create_run(self, loaded, as_of=parse_date(as_of, "as_of"), model_file=source, engine=engine)

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

    @property
    def schemes(self) -> Schemes:
        """Segmentation schemes: ``ws.schemes("needs")``, ``ws.schemes.compute(model="model.yaml")`` (see docs/schemes.md)."""
        from sikta.service.schemes import Schemes

        return Schemes(self)

    @property
    def operate(self) -> Operate:
        """The operating layer: ``ws.operate.coverage()``, ``.balance(team)``, ``.actions()``, ``.content()``."""
        from sikta.service.operate import Operate

        return Operate(self)

    def suggest(self, **settings) -> Suggestion:
        """Propose potential and pain parameters from the best customers (:func:`sikta.service.suggest.suggest`)."""
        from sikta.service.suggest import suggest

        return suggest(self, **settings)

    def summary(self) -> dict:
        """Tables, row counts, units per grain and the last ingest, for people."""
        import pandas as pd

        self._require_data()
        last = self.last_ingest() or {}
        counts = self.table_counts()
        builds = fs.builds(self)
        return {
            "workspace": str(self.path),
            "ingest_id": last.get("ingest_id"),
            "ingested_at": str(last.get("finished_at")),
            "tables": {r["table"]: {k: int(r[k]) for k in ("rows_in", "loaded", "quarantined")} for r in counts.to_dict("records")},
            "units_per_grain": self.units_per_grain(),
            "engine": self.engine or "duckdb",
            "features": {
                b["table"]: {"grain": b["grain"], "as_of": str(pd.Timestamp(b["as_of"]).date()),
                             "window_months": int(b["window_months"]), "units": int(b["units"]),
                             "engine": b["engine"]} for b in builds
            },
        }


__all__ = ["Workspace", "FeatureBuild", "default_workspace", "parse_date"]
