"""The fact-based customer analysis (SPEC §4.2, seed 001 step 1).

Before anyone segments, the data must show where the obvious revenue is
that nobody acts on, and what the best customers have in common. Every part
runs its transaction-level work in the engine; Python receives one row per
unit at most.

Examples
--------
>>> import sikta, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "accounts.csv").write_text("account_id\\nA\\nB\\nC\\nD\\nE\\n")
>>> _ = (d / "orders.csv").write_text("order_id,account_id,order_date,amount\\n"
...     "1,A,2025-05-01,80\\n2,B,2025-05-02,10\\n3,C,2025-05-03,5\\n4,D,2025-05-04,4\\n5,E,2025-05-05,1\\n")
>>> ws = sikta.Workspace(d / "ws.duckdb"); _ = ws.ingest(d)
>>> p = ws.analyze(as_of="2025-06-30").pareto()
>>> p.top20_share, p.abc["A"]["accounts"]
(0.8, 1)
>>> ws.close()
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir
import pandas as pd

from sikta.core.pareto import ParetoResult, pareto
from sikta.engine import best as best_q
from sikta.engine import flow as flow_q
from sikta.engine import opportunity as opp
from sikta.engine.contract import GRAINS
from sikta.engine.csvsafe import write_frame_csv
from sikta.engine.features import unit_map
from sikta.engine.features_parts import minus_months
from sikta.errors import DataTooThinError, UsageError
from sikta.service.locations import PARTS, PERIODS

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

#: with more product lines than fit in columns, whitespace and up-sell keep each unit's best lines only
PER_UNIT = 10
# the engine's defaults, read off its signatures so that the reasons given for an empty list cannot drift
_OUTFLOW = {k: v.default for k, v in inspect.signature(opp.outflow).parameters.items()}
MIN_PEERS = inspect.signature(opp.reactivation).parameters["min_peers"].default
#: the parts that are lists of units: empty, they say why (:meth:`Analysis.nothing_found`)
LISTS = ("outflow", "whitespace", "upsell", "reactivation")
#: how the outflow list is ordered (``alive_value`` = P(alive) × CLV, see docs/clv.md)
OUTFLOW_RANKS = ("revenue_at_risk", "alive_value")


def _period_start(day: date, period: str) -> date:
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def window_named(frame: pd.DataFrame, window_months: int) -> pd.DataFrame:
    """Columns named after the window the numbers cover: ``revenue_12m`` → ``revenue_24m`` for 24 months.

    Feature tables keep their ``*_12m`` names whatever the window (models refer to
    them); what people read is named after the window it covers.

    Examples
    --------
    >>> list(window_named(pd.DataFrame(columns=["unit_id", "revenue_12m", "revenue_prev_12m"]), 24).columns)
    ['unit_id', 'revenue_24m', 'revenue_prev_24m']
    """
    if window_months == 12:
        return frame
    return frame.rename(columns={c: c.replace("_12m", f"_{window_months}m") for c in frame.columns if "_12m" in c})


def _count(n: int, noun: str) -> str:
    """``1 customer``, ``2 customers``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _records(frame: pd.DataFrame, limit: int | None = None) -> list[dict]:
    rows = frame if limit is None else frame.head(limit)
    return json.loads(rows.to_json(orient="records", date_format="iso", double_precision=10))


@dataclass
class FlowResult:
    """Customer flow per period, the subscription ARR bridge and retention."""

    period: str
    periods: pd.DataFrame
    subscriptions: pd.DataFrame | None
    nrr: float | None
    grr: float | None
    start_arr: float | None

    def to_dict(self) -> dict:
        doc: dict[str, Any] = {"period": self.period, "periods": _records(self.periods)}
        if self.subscriptions is not None:
            doc |= {"subscriptions": _records(self.subscriptions), "nrr": self.nrr, "grr": self.grr,
                    "start_arr": self.start_arr}
        return doc


@dataclass
class BestResult:
    """Who the best customers are and what sets them apart.

    ``drivers`` and ``rules`` are what the search chose; they are a finding only when
    ``beats_chance`` (the holdout AUC beats chance, :attr:`sikta.core.drivers.DriverSelector.beats_chance_`).
    Otherwise they are the best try, kept with the holdout figures as evidence: the explanation
    says that no factor separates the best customers, and ``to_dict`` lists them under
    ``best_try`` instead of ``drivers`` / ``rules``.
    """

    by: str
    best: int
    rest: int
    effects: pd.DataFrame
    product_mix: pd.DataFrame
    history: pd.DataFrame
    drivers: list[str]
    rules: list[str]
    holdout_auc: float
    holdout_capture: float
    base_rate: float
    explanation: str
    rule_objects: list = field(default_factory=list)  # sikta.core.drivers.Rule, one per driver with a rule
    rule_table: pd.DataFrame | None = None  # holdout shares of best and other customers meeting each rule
    n_holdout: int = 0  # customers in the holdout (best and others) the AUC and rules were checked on
    n_holdout_best: int = 0  # of those, best customers
    beats_chance: bool = True  # whether the holdout AUC beats chance: only then are drivers and rules a finding

    def to_dict(self, limit: int = 20) -> dict:
        found = {"drivers": self.drivers, "rules": self.rules}
        doc: dict[str, Any] = {"by": self.by, "best": self.best, "rest": self.rest, "beats_chance": self.beats_chance}
        # a consumer reading "rules" acts on them: a try no better than chance is evidence, under its own key
        doc |= found if self.beats_chance else {"drivers": [], "rules": [], "best_try": found}
        return doc | {
            "holdout_auc": self.holdout_auc, "holdout_capture": self.holdout_capture, "base_rate": self.base_rate,
            "holdout_best": self.n_holdout_best, "holdout_others": self.n_holdout - self.n_holdout_best,
            "explanation": self.explanation, "effects": _records(self.effects, limit),
            "product_mix": _records(self.product_mix), "history": _records(self.history),
        }


@dataclass
class AnalysisReport:
    """Everything ``sikta analyze`` produced; parts that could not run say why (``skipped``), and so do
    lists that ran and found nothing (``nothing_found``: an empty list is an answer, but says nothing by itself)."""

    grain: str
    as_of: date
    window_months: int
    results: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    nothing_found: dict[str, str] = field(default_factory=dict)

    def to_dict(self, limit: int = 20) -> dict:
        doc: dict[str, Any] = {"grain": self.grain, "as_of": str(self.as_of), "window_months": self.window_months,
                               "notes": self.notes}
        for name, value in self.results.items():
            if isinstance(value, pd.DataFrame):
                doc[name] = {"rows": len(value), "top": _records(window_named(value, self.window_months), limit)}
                if name in self.nothing_found:
                    doc[name]["nothing_found"] = self.nothing_found[name]
            elif isinstance(value, BestResult):
                doc[name] = value.to_dict(limit)
            else:
                doc[name] = value.to_dict()
        doc["skipped"] = self.skipped
        return doc

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every result as a table, for ``--out`` (columns named after the window, see :func:`window_named`)."""
        return {k: window_named(v, self.window_months) for k, v in self._tables().items()}

    def _tables(self) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {}
        for name, value in self.results.items():
            if isinstance(value, pd.DataFrame):
                out[name] = value
            elif isinstance(value, ParetoResult):
                out["pareto_curve"] = value.curve
            elif isinstance(value, FlowResult):
                out["flow_periods"] = value.periods
                if value.subscriptions is not None:
                    out["flow_subscriptions"] = value.subscriptions
            elif isinstance(value, BestResult):
                out |= {"best_effects": value.effects, "best_product_mix": value.product_mix,
                        "best_history": value.history}
        return out

    def write(self, folder: str | Path) -> list[Path]:
        """Write every table as Parquet and CSV, plus the JSON summary."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in self.tables().items():
            flat = frame.copy()
            for col in flat.columns:
                if flat[col].map(lambda v: isinstance(v, list | tuple)).any():
                    flat[col] = flat[col].map(lambda v: ";".join(map(str, v)) if isinstance(v, list | tuple) else v)
            flat.to_parquet(folder / f"{name}.parquet", index=False)
            write_frame_csv(flat, folder / f"{name}.csv")  # text cells a spreadsheet would run are neutralized
            written += [folder / f"{name}.parquet", folder / f"{name}.csv"]
        (folder / "analysis.json").write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return [*written, folder / "analysis.json"]


@dataclass(frozen=True)
class Analysis:
    """The analysis of one workspace at a grain and date.

    Use ``ws.analyze.<part>()`` with the defaults, or configure first:
    ``ws.analyze(grain="ultimate_parent", as_of="2025-06-30", period="quarter").flow()``.
    """

    ws: Workspace
    grain: str = "account"
    as_of: date | None = None
    window_months: int = 12
    period: str = "month"
    outflow_rank: str = "revenue_at_risk"  # or "alive_value": P(alive) × CLV (docs/clv.md)
    engine: str | None = None  # who builds a missing feature table: duckdb or spark (docs/engines.md)
    # Answers that depend only on the data and the key they are stored under (the as-of date, the feature
    # table for a grain/date/window): one ``analyze`` asks each of them 5-15 times, and on small data the
    # repeated lookups cost more than the analysis. Shared by the copies ``__call__`` makes (keys name
    # every setting they depend on); an Analysis lives for one request, never across an ingest.
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, **settings: Any) -> Analysis:
        from sikta.service.workspace import parse_date

        if "as_of" in settings:
            settings["as_of"] = parse_date(settings["as_of"], "as_of")
        new = replace(self, **settings)
        if new.grain not in GRAINS:
            raise UsageError(f"grain {new.grain!r} is not one of {', '.join(GRAINS)}")
        if new.period not in PERIODS:
            raise UsageError(f"period {new.period!r} is not one of {', '.join(PERIODS)}")
        if not 1 <= new.window_months <= 120:
            raise UsageError("window_months must be between 1 and 120")
        if new.engine is not None:
            from sikta.service.engines import check_engine

            new = replace(new, engine=check_engine(new.engine))
        if new.outflow_rank not in OUTFLOW_RANKS:
            raise UsageError(f"outflow rank {new.outflow_rank!r} is not one of {', '.join(OUTFLOW_RANKS)}")
        return new

    # -- inputs ------------------------------------------------------------
    def _remember(self, key: tuple, compute: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def date(self) -> date:
        return self.as_of or self._remember(("default_as_of",), self.ws.default_as_of)

    def features(self) -> ir.Table:
        key = ("features", self.grain, self.date, self.window_months, self.engine)
        return self._remember(key, lambda: self.ws.features(self.grain, self.date, window_months=self.window_months,
                                                            engine=self.engine))

    def _units(self) -> ir.Table:
        return unit_map(self._table("_sikta_hierarchy"), self.grain)

    def _transactions(self) -> tuple[ir.Table | None, ir.Table | None, ir.Table, Any]:
        """Orders, subscriptions and the unit map on the analysis's engine, and what executes a query on them.

        With ``engine="spark"`` the bridge reads the Parquet snapshot on Spark (docs/engines.md) and only
        its result - one row per period, or per unit and period - comes back; otherwise the workspace's
        own tables on DuckDB.
        """
        from sikta.service import engines

        inputs = self._remember(("inputs", self.engine), lambda: engines.inputs(self.ws, self.engine))
        return (inputs.tables.get("orders"), inputs.tables.get("subscriptions"), unit_map(inputs.hierarchy, self.grain),
                inputs.frame)

    def _table(self, name: str) -> ir.Table | None:
        return self._remember(("table", name), lambda: self.ws.store.table(name) if self.ws.store.has(name) else None)

    def _lines(self, f: ir.Table) -> dict[str, str] | ir.Table | None:
        """The product lines: ``rev12_*`` columns when the build has them, else the long per-line table.

        ``f`` is the feature table of this analysis (possibly with columns added): its ``rev12_*``
        columns are those of the build, so the answer depends only on the grain, date and window.
        """
        return self._remember(("lines", self.grain, self.date, self.window_months), lambda: self._find_lines(f))

    def _find_lines(self, f: ir.Table) -> dict[str, str] | ir.Table | None:
        from sikta.engine.features_parts import slug
        from sikta.service import feature_store as fs

        dims = self.ws.feature_lines(self.grain, self.date, window_months=self.window_months)
        wide = {line: f"rev12_{slug(line)}" for line in dims if f"rev12_{slug(line)}" in f.columns}
        if wide:
            return wide
        if not any(self._table(t) is not None and "product_line" in self._table(t).columns
                   for t in ("orders", "subscriptions", "products")):
            return None
        long = fs.lines(self.ws, self.grain, self.date, self.window_months)
        if self.ws.store.count(long.limit(1)) == 0:
            return None
        return long.select("unit_id", "product_line", "rev")

    def data_end(self) -> date | None:
        """The last day the revenue data speaks of, up to the as-of date: the latest order date or
        subscription start (the day of the export, as near as the data tells; end dates are often
        contract terms known in advance, so they do not count)."""
        return self._remember(("data_end", self.date), self._data_end)

    def _data_end(self) -> date | None:
        days = []
        for name, cols in (("orders", ("order_date",)), ("subscriptions", ("start_date",))):
            t = self._table(name)
            for col in cols if t is not None else ():
                days.append(self.ws.store.scalar(t.filter(t[col] <= self.date)[col].max()))
        days = [pd.Timestamp(d).date() for d in days if d is not None and not pd.isna(d)]
        return max(days) if days else None

    def data_start(self) -> date | None:
        """The first revenue date in the data (order date or subscription start), if any."""
        from sikta.service.feature_store import data_span

        return self._remember(("data_start",), lambda: (span := data_span(self.ws)) and span[0])

    def notes(self) -> list[str]:
        """What a reader must know about the dates: an as-of after the last data."""
        end = self.data_end()
        if end is None or self.date <= end:
            return []
        return [f"as-of {self.date} is {(self.date - end).days} days after the last revenue date in the data ({end}): "
                f"revenue after {end} is unknown, not zero; the flow stops at the last complete {self.period} with "
                "data, and recency and window revenue count the gap as no purchases"]

    # -- parts -------------------------------------------------------------
    def pareto(self, a: float = 0.8, b: float = 0.95) -> ParetoResult:
        """Concentration of the window's net revenue: curve, top-20 % share, Gini, A/B/C."""
        f = self.features()
        # units with revenue activity in the window; those netting <= 0 are counted as excluded by pareto()
        active = (f.revenue_12m != 0) | (f.frequency_12m.fill_null(0) > 0) | (f.credit_notes_12m.fill_null(0) > 0)
        rev = self.ws.store.frame(f.filter(active.fill_null(False)).select("unit_id", "revenue_12m"))
        if not (rev["revenue_12m"] > 0).any():
            raise DataTooThinError(
                f"no {self.grain} has positive revenue in the {self.window_months} months to {self.date}: "
                "nothing to rank (choose another --as-of)"
            )
        return pareto(rev.set_index("unit_id")["revenue_12m"], a=a, b=b)

    def flow(self, period: str | None = None, tolerance: float = 0.02) -> FlowResult:
        """New, retained, churned and reactivated units per period, as a revenue bridge.

        Kept beside the workspace once computed (:mod:`sikta.service.analysis_results`): the report
        and the analysis page show what ``analyze`` computed instead of reading every order line again.
        """
        from sikta.service import analysis_results as stored

        period = period or self.period
        if period not in PERIODS:
            raise UsageError(f"period {period!r} is not one of {', '.join(PERIODS)}")
        # "history" names the definition of new: a bridge stored when new meant new within the range
        # (same settings, same ingest) must not be shown as the answer of the whole-history definition
        settings = {"grain": self.grain, "as_of": self.date, "window_months": self.window_months, "period": period,
                    "tolerance": tolerance, "history": "all"}

        def compute() -> tuple[dict, dict]:
            r = self._flow(period, tolerance)
            frames = {"periods": r.periods} | ({} if r.subscriptions is None else {"subscriptions": r.subscriptions})
            return {"nrr": r.nrr, "grr": r.grr, "start_arr": r.start_arr}, frames

        meta, frames = stored.remember(self.ws, "flow", settings, compute)
        return FlowResult(period, frames["periods"], frames.get("subscriptions"), meta["nrr"], meta["grr"],
                          meta["start_arr"])

    def _flow(self, period: str, tolerance: float) -> FlowResult:
        end = self.date
        start = _period_start(minus_months(end, self.window_months), period)
        data_end = self.data_end()
        if data_end is not None:
            end = min(end, data_end)  # a period after the last data is unknown, not churned
        try:
            grid = flow_q.period_starts(period, start, end)  # an empty period must show as churn, not vanish
        except UsageError as exc:  # e.g. an as-of years after the data: the other parts still have something to say
            raise DataTooThinError(f"no complete {period} with data between {start} and {self.date}"
                                   f"{'' if data_end is None else f' (the data end on {data_end})'}: no flow to show "
                                   "(choose another --as-of)") from exc
        orders, subs, units, run = self._transactions()
        per = flow_q.period_revenue(orders, subs, units, period=period, start=start, end=end)
        # without what came before the range, a customer returning after a pause would count as new, and
        # the same month would split new/reactivated differently for another as-of
        before = flow_q.active_before(orders, subs, units, period=period, before=grid[0])
        periods = run(flow_q.customer_flow(per, tolerance=tolerance, periods=grid, history=before)
                      .order_by("period_start"))
        if periods.empty or float(periods["end_revenue"].abs().sum() + periods["start_revenue"].abs().sum()) == 0:
            raise DataTooThinError(
                f"no revenue in complete {period}s between {start} and {end}: no flow to show (choose another --as-of)"
            )
        sub_frame = nrr = grr = start_arr = None
        if subs is not None:
            sub_frame = run(flow_q.subscription_flow(subs, units, period=period, start=start, end=end).order_by("period_start"))
            rates = run(flow_q.retention_rates(subs, units, start=minus_months(end, self.window_months), end=end))
            if not rates.empty and rates["start_arr"].iat[0]:
                nrr, grr, start_arr = (float(rates[c].iat[0]) for c in ("nrr", "grr", "start_arr"))
        return FlowResult(period, periods, sub_frame, nrr, grr, start_arr)

    def outflow(self) -> pd.DataFrame:
        """Customers whose revenue is falling or whose activity stopped, by revenue at risk
        (or, with ``outflow_rank="alive_value"``, by P(alive) × CLV: the value still there to keep)."""
        frame = self.ws.store.frame(opp.outflow(self.features(), window_months=self.window_months))
        if self.outflow_rank == "alive_value":
            from sikta.service.clv_run import rank_by_alive_value

            frame = rank_by_alive_value(self.ws, self.grain, self.date, frame)
        return frame

    def whitespace(self) -> pd.DataFrame:
        """Product lines a customer does not buy that its lookalikes do, with expected value.

        Kept beside the workspace once computed, like the revenue bridge: the report shows what
        ``analyze`` found (at 1M accounts, 1.9M gaps took 3 s to compute again).
        """
        from sikta.service import analysis_results as stored

        settings = {"grain": self.grain, "as_of": self.date, "window_months": self.window_months}
        return stored.remember(self.ws, "whitespace", settings, lambda: ({}, {"gaps": self._whitespace()}))[1]["gaps"]

    def _whitespace(self) -> pd.DataFrame:
        f = self.features()
        lines = self._lines(f)
        if lines is None:
            raise DataTooThinError("no product lines in the data: whitespace needs orders or subscriptions with product_line")
        return self.ws.store.frame(opp.whitespace(f, lines, window_months=self.window_months,
                                                  per_unit=PER_UNIT if isinstance(lines, ir.Table) else None))

    def upsell(self) -> pd.DataFrame:
        """Customers far below their lookalikes' spend on lines they already buy."""
        f = self.features()
        lines = self._lines(f)
        if lines is None:
            return pd.DataFrame()
        return self.ws.store.frame(opp.upsell(f, lines, window_months=self.window_months,
                                              per_unit=PER_UNIT if isinstance(lines, ir.Table) else None))

    def reactivation(self) -> pd.DataFrame:
        """Former and lapsed customers worth winning back, by past value and peer potential."""
        return self.ws.store.frame(opp.reactivation(self.features()))

    def best(
        self, by: str = "revenue", top_share: float | None = 0.1, top_n: int | None = None, method: str = "tree"
    ) -> BestResult:
        """Pick the best customers, profile them against the rest, and find 1–3 separating factors."""
        from sikta.core.drivers import DriverSelector, holds_text
        from sikta.core.stats import effect_sizes, split_kinds

        if top_n is not None:
            top_share = None
        f = best_q.select_best(self.features(), by=by, top_n=top_n, top_share=top_share)
        candidates = best_q.candidate_features(f.columns, by=by)
        # only the columns the profile reads: at 1M accounts the whole table took 8 s to load
        customers = self.ws.store.frame(f.filter(f.status == "customer").select("is_best", *candidates))
        y = customers["is_best"].astype(bool)
        n_best = int(y.sum())
        if len(y) == 0:
            raise DataTooThinError(f"no customers at {self.grain} grain as of {self.date}: nothing to profile "
                                   "(see 'sikta status' and 'sikta quarantine')")
        if n_best < 30 or len(y) - n_best < 30:
            finer = "" if self.grain == "department" else ", or a finer grain"
            bar = "a larger --top-share" if n_best < 30 else "a smaller --top-share"
            raise DataTooThinError(
                f"only {n_best} best customer{'' if n_best == 1 else 's'} and {len(y) - n_best} "
                f"other{'' if len(y) - n_best == 1 else 's'}: need at least 30 of each "
                f"for a profile that is not noise ({bar}{finer if len(y) < 60 else ''})"
            )
        # a feature known for fewer than half the customers cannot describe "what they have in common"
        usable = [c for c in candidates if customers[c].notna().mean() > 0.5]
        numeric, categorical = split_kinds(customers, usable)
        # split_kinds takes text that reads as numbers for numbers; codes such as region '1', '2', '3' name
        # categories (a mean region is meaningless), as the driver search treats them
        text = [c for c in numeric if holds_text(customers[c])]
        numeric, categorical = [c for c in numeric if c not in text], categorical + text
        effects = effect_sizes(customers, y, numeric, categorical)
        selector = DriverSelector(method=method).fit(customers[usable], y)
        lines = self._lines(f)
        mix = self.ws.store.frame(best_q.product_mix(f.filter(f.status == "customer"), lines)) \
            if lines is not None else pd.DataFrame()
        history = pd.DataFrame()
        if self._table("orders") is not None:
            history = self.ws.store.frame(
                best_q.purchase_history(self._table("orders"), self._units(), f, period="quarter", as_of=self.date)
            )
        return BestResult(
            by=by, best=n_best, rest=len(y) - n_best, effects=effects, product_mix=mix, history=history,
            drivers=list(selector.features_), rules=list(selector.rules_), holdout_auc=float(selector.holdout_auc_),
            holdout_capture=float(selector.holdout_capture_), base_rate=float(selector.base_rate_),
            explanation=selector.explain(), rule_objects=list(selector.rule_objects_),
            rule_table=selector.rule_table_, n_holdout=int(selector.n_holdout_),
            n_holdout_best=int(selector.n_holdout_best_), beats_chance=bool(selector.beats_chance_),
        )

    def nothing_found(self, part: str) -> str:
        """Why a list part (outflow, whitespace, upsell, reactivation) came out empty, in one sentence.

        Counted on the feature table in the engine (one row comes back), by the definitions of
        docs/analysis.md; ask only when the list is empty.
        """
        from sikta.engine.opportunity_peers import with_inputs

        f = with_inputs(self.features())
        rev12, life = f.revenue_12m.fill_null(0.0), f.revenue_lifetime.fill_null(0.0)
        current = f.status == "customer"
        c = self.ws.store.frame(f.aggregate(
            customers=f.unit_id.count(where=current),
            ever=f.unit_id.count(where=current | (f.status == "former")),
            former=f.unit_id.count(where=f.status == "former"),
            lapsed=f.unit_id.count(where=(f.status != "former") & (life > 0) & (rev12 <= 0)),
        )).iloc[0].fillna(0).astype(int)
        when, w = self.date, self.window_months
        if part == "reactivation":
            if c.ever == 0:
                return f"nobody to win back: no {self.grain} has bought anything up to {when}"
            if c.former + c.lapsed == 0:
                start = self.data_start()
                young = (f" (the data start on {start}, less than {w} months earlier)"
                         if start is not None and start > minus_months(when, w) else "")
                return (f"no former or lapsed customers at {when}: all {c.ever:,} units that ever bought are current "
                        f"customers with revenue in the {w} months to {when}{young}")
            return (f"{_count(c.former + c.lapsed, 'former or lapsed customer')}, but fewer than {MIN_PEERS} "
                    "active customers (revenue in the window) to compare them with")
        if c.customers == 0:
            return f"no current customers at {when}: nobody to list"
        if part == "outflow":
            o = _OUTFLOW
            return (f"none of the {c.customers:,} current customers shows a warning signal at {when} (revenue down "
                    f"{100 * o['decline_threshold']:.0f} % or more on the previous {w} months, orders stopped against its "
                    f"usual gap, usage down {100 * o['usage_drop']:.0f} %, MRR contraction, no interaction for "
                    f"{o['silence_days']} days)")
        if c.customers < MIN_PEERS:
            return (f"only {_count(c.customers, 'current customer')}: fewer than {MIN_PEERS} lookalike peers "
                    "to compare with")
        if part == "whitespace":
            lines = self._lines(self.features())
            n = len(lines) if isinstance(lines, dict) else self.ws.store.count(lines.select("product_line").distinct())
            if n == 1:
                return "only one product line in the data: no other line to cross-sell"
            return (f"no current customer lacks a product line that any of its lookalike peers buys "
                    f"({c.customers:,} customers, {n:,} lines)")
        if part == "upsell":
            return "no current customer spends less than half its lookalike peers' median on a line it buys"
        raise UsageError(f"part {part!r} is not a list")

    def industry_fit(self) -> pd.DataFrame:
        """What the ``industry_fit`` built-in learned: the lift of each industry, size band and region among the
        best customers (see :mod:`sikta.engine.fit_builtins`), largest first."""
        from sikta.engine.fit_builtins import industry_fit_table

        t = self.ws.store.frame(industry_fit_table(self.features()))
        return t.sort_values(["dimension", "lift"], ascending=[True, False], kind="mergesort").reset_index(drop=True)

    def run(self, parts: tuple[str, ...] = PARTS, **best_options: Any) -> AnalysisReport:
        """Run several parts; a part without enough data is skipped with the reason."""
        report = AnalysisReport(self.grain, self.date, self.window_months, notes=self.notes())
        for part in parts:
            try:
                if part == "whitespace":
                    report.results["whitespace"] = self.whitespace()
                    report.results["upsell"] = self.upsell()
                elif part == "best":
                    report.results["best"] = self.best(**best_options)
                else:
                    report.results[part] = getattr(self, part)()
            except DataTooThinError as exc:
                report.skipped[part] = str(exc)
        for part in LISTS:
            if part in report.results and report.results[part].empty:
                report.nothing_found[part] = self.nothing_found(part)
        return report
