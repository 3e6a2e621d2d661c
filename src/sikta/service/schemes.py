"""Segmentation schemes in the product: computed from the model file, diagnosed, kept with the run (SPEC §4.4, §4.5).

A model file's ``schemes:`` block (:mod:`sikta.service.scheme_spec`) declares
the schemes; :func:`compute` gives each unit in a scheme's scope a segment
and the numbers behind it (:mod:`sikta.service.scheme_types`), a profile per
segment in plain words, and a :class:`~sikta.core.diagnostics.Diagnosis`
with a verdict and reasons. ``sikta run`` calls :func:`for_run`: the schemes
are computed before the matrix is scored (a matrix parameter may read them:
``scheme: needs=values support``), their labels and numbers become columns
``scheme__<name>`` / ``scheme__<name>__<number>`` of the run table, and the
diagnoses are stored with the run (``_sikta_runs.schemes``).

A scheme that cannot be computed (no survey answers at all, too few buyers of
a line) does not stop a run: it is recorded as ``not usable`` with the reason,
and its columns stay empty - unless a matrix parameter reads it, which makes
the run fail with that reason.

Examples
--------
>>> SchemeResult.failed("needs", "needs", "all", "account", "needs: no survey answers at all").summary()
'needs: not usable - needs: no survey answers at all'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from sikta.core.diagnostics import CAVEATS, NOT_USABLE, UNPLACED, USABLE, diagnose
from sikta.engine.features_parts import slug
from sikta.engine.matrix import scheme_param_column
from sikta.errors import DataTooThinError, ModelError, UsageError
from sikta.service import scheme_types as st
from sikta.service.scheme_spec import TYPES, SchemeSet, scheme_ref

if TYPE_CHECKING:
    import pyarrow as pa
    from sikta.service.model import Model
    from sikta.service.workspace import Workspace

__all__ = ["RunSchemes", "SchemeContext", "SchemeResult", "Schemes", "compute", "for_run", "unit_word"]

#: the numbers of each type that go into the run table as ``scheme__<name>__<number>``
RUN_NUMBERS = {
    "needs": ("cluster",), "behavioral": ("cluster",), "value": ("value", "cumulative_share"),
    "opportunity": ("propensity",), "preference": ("fit_score",),
}
#: a holdout AUC below this reads as a weak model (a caveat)
WEAK_AUC = 0.7
#: a calibration error above this is a caveat: the propensities are not probabilities
MAX_CALIBRATION_ERROR = 0.1


def unit_word(grain: str) -> str:
    """What the units of a grain are called in reasons.

    Examples
    --------
    >>> unit_word("ultimate_parent"), unit_word("account")
    ('groups', 'accounts')
    """
    return {"ultimate_parent": "groups", "account": "accounts", "department": "departments"}.get(grain, "units")


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float | np.floating):
        return None if math.isnan(v) or math.isinf(v) else float(v)
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    return _jsonable(df.astype(object).where(df.notna(), None).to_dict("records"))


@dataclass
class SchemeResult:
    """One computed scheme: a segment per unit in scope, the numbers, profiles, notes and the verdict."""

    name: str
    type: str
    scope: str
    grain: str
    units: pd.DataFrame
    profiles: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    diagnosis: Any = None
    number: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    variables: list[str] = field(default_factory=list)
    unplaced: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def failed(cls, name: str, kind: str, scope: str, grain: str, reason: str) -> SchemeResult:
        return cls(name, kind, scope, grain, pd.DataFrame({"segment": pd.Series(dtype=object)}),
                   pd.DataFrame(), error=reason)

    @property
    def verdict(self) -> str:
        return NOT_USABLE if self.error else self.diagnosis.verdict if self.diagnosis is not None else "not assessed"

    @property
    def reasons(self) -> list[str]:
        return [self.error] if self.error else list(self.diagnosis.reasons) if self.diagnosis is not None else []

    def summary(self) -> str:
        """``needs: not usable - 64 % of accounts have no survey answers``."""
        return f"{self.name}: {self.verdict}" + (" - " + "; ".join(self.reasons) if self.reasons else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the per-unit rows: ``{"scheme", "type", "verdict", "reasons", ...}``."""
        diag = self.diagnosis.to_dict() if self.diagnosis is not None else {}
        diag.pop("scheme", None)
        sizes = {r["segment"]: r for r in diag.get("sizes", [])}
        profiles = []
        for r in _records(self.profiles):
            s = sizes.get(r.get("segment"), {})
            profiles.append(r | {k: s[k] for k in ("revenue", "revenue_share", "actionable", "placed") if k in s})
        return _jsonable({
            "scheme": self.name, "type": self.type, "scope": self.scope, "grain": self.grain,
            "units": int(len(self.units)), "verdict": self.verdict, "reasons": self.reasons,
            "number": self.number, "notes": list(self.notes), "profiles": profiles,
            **{k: v for k, v in diag.items() if k not in ("verdict", "reasons", "notes")},
            "diagnosis_notes": diag.get("notes", []), **({"details": self.extra} if self.extra else {}),
        })

    def table(self) -> pd.DataFrame:
        """Per unit: ``unit_id``, ``segment`` and the numbers behind it (what ``--out`` writes)."""
        t = self.units.copy()
        t.index.name = "unit_id"
        t = t.reset_index()
        for c in t.columns:
            if t[c].map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
                t[c] = t[c].map(lambda v: ";".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else v)
        return t

    def run_columns(self) -> pa.Table:
        """``unit_id``, ``scheme__<name>`` and ``scheme__<name>__<number>`` for the run table (NaN as null)."""
        import pyarrow as pa

        cols = {"unit_id": pa.array(self.units.index.astype(str).to_numpy(), pa.string()),
                f"scheme__{self.name}": pa.array(self.units.segment.astype(object).to_numpy(), pa.string(),
                                                 from_pandas=True)}
        for c in RUN_NUMBERS.get(self.type, ()):
            if c in self.units.columns:
                cols[f"scheme__{self.name}__{c}"] = pa.array(
                    pd.to_numeric(self.units[c], errors="coerce").astype(float).to_numpy(), pa.float64(), from_pandas=True)
        return pa.table(cols)

    def write(self, folder: str | Path) -> list[Path]:
        """``NAME.parquet`` and ``NAME.csv`` (unit_id, segment, numbers) and ``NAME.json`` (profiles, verdict)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        t = self.table()
        paths = [folder / f"{self.name}.parquet", folder / f"{self.name}.csv", folder / f"{self.name}.json"]
        t.to_parquet(paths[0], index=False)
        _write_csv(t, paths[1])
        paths[2].write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return paths


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """The CSV of a scheme's units, through the project's one CSV writer (text a spreadsheet would run is neutralized)."""
    from sikta.engine.csvsafe import write_frame_csv

    write_frame_csv(frame, path)


class SchemeContext:
    """The units of one model's scope at one date, with what the scheme types read (loaded once)."""

    def __init__(self, ws: Workspace, model: Model, as_of: date | None = None, features: ir.Table | None = None,
                 engine: str | None = None, behavior_first: bool = False):
        self.ws, self.model, self.engine = ws, model, engine
        self.grain = model.customer.grain
        self.f = features if features is not None else ws.features(self.grain, as_of)
        self.as_of = pd.Timestamp(ws.store.scalar(self.f.as_of.max())).date() if "as_of" in self.f.columns else as_of
        self._behavior: dict[int | None, pd.DataFrame] = {}
        if behavior_first:
            self._prefetch_behavior()
        scoped = self.f.filter(self.f.status.isin(list(model.customer.statuses)))
        self.frame = ws.store.frame(scoped)
        self.frame.set_index("unit_id", inplace=True)  # in place: a copy of the wide frame costs seconds at 1M units
        self.frame.index = self.frame.index.astype(str)
        self.results: dict[str, SchemeResult] = {}

    def _prefetch_behavior(self) -> None:
        """Read the behavioral schemes' inputs before the units are loaded.

        The query reads every order line; DuckDB may take up to its memory limit for it. Run while
        this process holds little else, its peak does not stack on the feature table's (at L, 1M
        accounts, the run peaked at 6.2 GB otherwise, 4.6 GB so). A failure is left for the scheme to report.
        """
        for name in self.model.schemes.order(None):
            spec = self.model.schemes[name]
            if spec.type == "behavioral":
                try:
                    self.behavior(spec.lookback_months)
                except DataTooThinError:
                    pass

    def units(self, scope: str) -> pd.DataFrame:
        f = self.frame
        if scope == "customers":
            return f[f.status == "customer"]
        if scope == "buyers":
            return f[pd.to_numeric(f.get("orders_lifetime"), errors="coerce").fillna(0) > 0] \
                if "orders_lifetime" in f.columns else f.iloc[:0]
        return f

    def behavior(self, lookback: int | None) -> pd.DataFrame:
        """Buying-style inputs per unit (engine: :func:`sikta.engine.behavior.behavior_inputs`)."""
        if lookback not in self._behavior:
            from sikta.engine.behavior import behavior_inputs
            from sikta.service import engines

            inputs = engines.inputs(self.ws, self.engine)  # on spark the order lines are read from its snapshot
            tables = {n: inputs.tables[n] for n in ("orders", "products", "subscriptions", "tickets")
                      if n in inputs.tables}
            if "orders" not in tables and "subscriptions" not in tables:
                raise DataTooThinError("behavioral: no orders or subscriptions: no purchase behavior to segment")
            counts = None
            if lookback is None and inputs.engine == "duckdb" and "orders_lifetime" in self.f.columns:
                # the feature table counted the orders of all history already, the same way
                counts = self.f.select("unit_id", orders=self.f.orders_lifetime)
            b = behavior_inputs(tables, inputs.hierarchy, grain=self.grain, as_of=self.as_of, lookback_months=lookback,
                                order_counts=counts)
            frame = inputs.frame(b).set_index("unit_id")
            frame.index = frame.index.astype(str)
            self._behavior[lookback] = frame
        return self._behavior[lookback]

    def target(self, spec, frame: pd.DataFrame) -> tuple[pd.Series, list[str]]:
        """Who bought the line (or meets the condition), and the columns that restate it."""
        if spec.line is not None:
            lines = self.frame["product_lines"] if "product_lines" in self.frame.columns else pd.Series(dtype=object)
            known = sorted({x for v in lines.dropna() for x in (list(v) if v is not None else [])})
            if spec.line not in known:
                from sikta.service.model import _closest

                shown = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "") if known else "none in the data"
                raise UsageError(f"opportunity: no product line {spec.line!r}{_closest(spec.line, known)} "
                                 f"(lines: {shown})")
            y = frame["product_lines"].map(lambda v: v is not None and spec.line in list(v))
            return y.astype(bool), [f"rev12_{slug(spec.line)}", "product_lines", "n_product_lines"]
        from sikta.engine.expressions import compile_expression, parse

        cond = compile_expression(spec.when, self.f, what="opportunity: when").fill_null(False)
        got = self.ws.store.frame(self.f.select(self.f.unit_id, _y=cond)).set_index("unit_id")["_y"]
        got.index = got.index.astype(str)
        return got.reindex(frame.index).fillna(False).astype(bool), sorted(parse(spec.when).columns)


def _judge(name: str, spec, c: st.Computed, frame: pd.DataFrame, grain: str, stability: bool):
    base = c.frame if c.frame is not None else frame
    revenue = "revenue_12m" if "revenue_12m" in base.columns else None
    # only the columns the diagnosis reads: aligning the whole unit frame (a hundred columns) took seconds at 1M units
    used = [col for col in dict.fromkeys([*c.variables, *c.inputs, *([revenue] if revenue else [])]) if col in base.columns]
    diag_frame = base[used]
    if not diag_frame.index.equals(c.units.index):
        diag_frame = diag_frame.reindex(c.units.index)
    n_boot = getattr(spec, "n_bootstrap", 20)
    d = diagnose(c.units.segment, name=name, frame=diag_frame, revenue=revenue, variables=c.variables,
                 inputs=c.inputs, refit=c.refit if stability else None, n_bootstrap=n_boot,
                 unplaced=UNPLACED | c.unplaced, unit=unit_word(grain))
    fatal, caveats = [], []
    if spec.type == "opportunity":
        from sikta.core.diagnostics import auc_beats_chance

        auc, pos = c.extra["auc"], c.extra["positives"]
        if not auc_beats_chance(auc, pos, len(c.units) - pos):
            fatal.append(f"the propensity model does no better than chance on holdout (AUC {auc:.2f})")
        elif auc < WEAK_AUC:
            caveats.append(f"the propensity model is weak (holdout AUC {auc:.2f})")
        if c.extra["calibration_error"] > MAX_CALIBRATION_ERROR:
            caveats.append(f"the propensities are poorly calibrated (calibration error {c.extra['calibration_error']:.2f})")
    if fatal or caveats:
        d.reasons = fatal + [r for r in d.reasons] + caveats
        d.verdict = NOT_USABLE if fatal or d.verdict == NOT_USABLE else CAVEATS
    if spec.type in ("firmographic", "value", "preference") and d.notes == ["stability not assessed (no refit given)"]:
        d.notes = ["rules, not clusters: the same data always give the same segments (stability not assessed)"]
    return d


def compute_one(ctx: SchemeContext, name: str, spec, *, stability: bool = True) -> SchemeResult:
    """Compute one scheme of the context's model (layers read ``ctx.results``)."""
    scope = spec.units
    frame = ctx.units(scope)
    if frame.empty:
        raise DataTooThinError(f"{name}: no {unit_word(ctx.grain)} in scope ({scope})")
    if spec.type == "behavioral":
        from sikta.core.behavioral import columns_read

        b = ctx.behavior(spec.lookback_months)
        st.check_columns([*frame.columns, *b.columns], spec.inputs, "behavioral: inputs")  # suggest from them all
        # only the columns the scheme reads: the segmenter copies its frame, and a copy of the wide
        # unit frame (a hundred columns) took seconds at 1M units
        read = set(columns_read(spec.inputs))
        frame = frame[[c for c in frame.columns if c in read]].join(
            b[[c for c in b.columns if c not in frame.columns]], how="left")
        c = st.behavioral(spec, frame)
    elif spec.type == "opportunity":
        y, restated = ctx.target(spec, frame)
        c = st.opportunity(spec, frame, y, restated)
    elif spec.type == "layer":
        first, second = (ctx.results.get(n) for n in spec.of)
        for n, r in zip(spec.of, (first, second)):
            if r is None or r.error:
                raise DataTooThinError(f"{name}: scheme '{n}' could not be computed"
                                       + (f" ({r.error})" if r is not None and r.error else ""))
        c = st.cross(spec, frame, first, second)
    else:
        c = st.compute(spec, frame)
    d = _judge(name, spec, c, frame, ctx.grain, stability)
    units = c.units.copy()
    units.index = units.index.astype(str)
    return SchemeResult(name, spec.type, scope, ctx.grain, units, c.profiles, c.notes, d, c.number, c.extra,
                        c.variables, c.unplaced)


def compute(ctx: SchemeContext, names: list[str] | None = None, *, stability: bool = True,
            raise_errors: bool = False) -> dict[str, SchemeResult]:
    """Compute the model's schemes (all, or ``names`` and the schemes their layers need), in order."""
    specs: SchemeSet = ctx.model.schemes
    for n in names or ():
        if n not in specs:
            raise UsageError(f"no scheme {n!r} in the model (schemes: {', '.join(specs.names()) or 'none'})")
    for n in specs.order(names):
        spec = specs[n]
        try:
            ctx.results[n] = compute_one(ctx, n, spec, stability=stability)
        except DataTooThinError as exc:
            if raise_errors and (names is None or n in names):
                raise
            ctx.results[n] = SchemeResult.failed(n, spec.type, spec.units, ctx.grain, str(exc))
    return {n: ctx.results[n] for n in specs.order(names) if names is None or n in names}


# -- the run ------------------------------------------------------------------------------------------


@dataclass
class RunSchemes:
    """The schemes of one run: their columns for the run table and their diagnoses for ``_sikta_runs``."""

    results: dict[str, SchemeResult] = field(default_factory=dict)

    def attach(self, scored: ir.Table) -> ir.Table:
        """The run rows with ``scheme__<name>`` (and numbers) joined on (null outside a scheme's scope)."""
        failed = [n for n, r in self.results.items() if r.error]
        # one join per scheme in the engine: merging the schemes' frames in pandas first took seconds at 1M units
        for r in self.results.values():
            if not r.error:
                t = ibis.memtable(r.run_columns())
                scored = scored.left_join(t, "unit_id").drop("unit_id_right")
        if failed:
            scored = scored.mutate(**{f"scheme__{n}": ibis.null("string") for n in failed})
        return scored

    def diagnostics(self) -> dict[str, dict]:
        return {n: r.to_dict() for n, r in self.results.items()}


def _parameter_columns(model: Model, results: dict[str, SchemeResult], index: pd.Index) -> pd.DataFrame:
    """The columns ``scheme:`` parameters read (:func:`sikta.engine.matrix.scheme_param_column`)."""
    from sikta.core.layering import SEP
    from sikta.service.model import _closest, _lines
    from sikta.engine.yamlspec import nearest_line

    out = pd.DataFrame(index=index)
    for axis, i, p in model.parameters():
        if p.kind != "scheme":
            continue
        name, segment = scheme_ref(p.scheme)
        r = results[name]
        where = f"{model.source}:{nearest_line(_lines(model), (axis, i, 'scheme'))}: {axis} parameter '{p.name}'"
        if r.error:
            raise DataTooThinError(f"{where} reads scheme '{name}', which could not be computed: {r.error}")
        col = scheme_param_column(p.scheme)
        labels = r.units.segment.reindex(index)
        if segment is None:
            out[col] = pd.to_numeric(r.units[r.number], errors="coerce").reindex(index).astype(float)
            continue
        seen = {part for lab in r.units.segment.dropna().unique() for part in [lab, *str(lab).split(SEP)]}
        if segment not in seen:
            shown = sorted(r.units.segment.dropna().unique())
            raise ModelError(f"{where}: scheme '{name}' has no segment '{segment}'{_closest(segment, seen)} "
                             f"(segments: {', '.join(map(str, shown[:12]))}{' ...' if len(shown) > 12 else ''})")
        hit = labels.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                         else float(v == segment or segment in str(v).split(SEP)))
        placed = ~labels.isin(list(UNPLACED | r.unplaced))
        out[col] = hit.where(placed & labels.notna()).astype(float)
    return out


def for_run(ws: Workspace, model: Model, f: ir.Table, as_of: date | None, *,
            stability: bool = True, engine: str | None = None) -> tuple[ir.Table, RunSchemes]:
    """Compute the model's schemes before scoring; the feature table gains the columns parameters read.

    ``engine="spark"`` reads the behavioral scheme's order lines on Spark."""
    if not len(model.schemes):
        return f, RunSchemes()
    ctx = SchemeContext(ws, model, as_of, features=f, engine=engine, behavior_first=True)
    results = compute(ctx, stability=stability)
    params = _parameter_columns(model, results, ctx.frame.index)
    if len(params.columns):
        t = ibis.memtable(params.reset_index(names="unit_id"),
                          schema={"unit_id": "string", **{c: "float64" for c in params.columns}})
        f = f.left_join(t, "unit_id").drop("unit_id_right")
    return f, RunSchemes(results)


def stored(meta: dict) -> dict[str, dict]:
    """The scheme diagnoses a run stored (empty for a run without schemes or from an older Sikta)."""
    raw = meta.get("schemes")
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
        return {}
    return json.loads(raw)


# -- the workspace facade ----------------------------------------------------------------------------


def default_spec(name: str):
    """A scheme of type ``name`` with its defaults (``sikta scheme needs`` without a model that declares it)."""
    if name not in TYPES or name in ("opportunity", "preference", "layer"):
        need = {"opportunity": "a line: or when:", "preference": "the go-to-market (gtm:)",
                "layer": "the two schemes it crosses (of:)"}.get(name)
        hint = f": a {name} scheme needs {need}, declare it under schemes: in the model file" if need else ""
        raise UsageError(f"no scheme {name!r} in the model{hint} (types with defaults: firmographic, needs, "
                         "behavioral, value)")
    return SchemeSet.model_validate({name: {"type": name}})[name]


@dataclass
class Schemes:
    """``ws.schemes``: compute and diagnose the schemes of a model file (see :mod:`sikta.service.schemes`)."""

    ws: Workspace

    def model(self, model: str | Path | Model | None = None) -> Model:
        """The model to read schemes from: a file, a loaded model, or the latest run's model."""
        from sikta.service.model import Model as M, load_model, model_from_text, starter_model_text

        if isinstance(model, M):
            return model
        if model is not None:
            return load_model(model)
        from sikta.service.runs import get_run, list_runs

        if not list_runs(self.ws).empty:
            meta = get_run(self.ws)
            return model_from_text(meta["model_text"], source=f"run {meta['run_id']}")
        return model_from_text(starter_model_text(), source="the starter model")

    def compute(self, name: str | None = None, *, model: str | Path | Model | None = None,
                as_of: str | date | None = None, stability: bool = True) -> dict[str, SchemeResult]:
        """Compute one scheme (``name``) or all of a model's; a type name works without a declaration."""
        from sikta.service.workspace import parse_date

        m = self.model(model)
        if name is not None and name not in m.schemes:
            m = m.model_copy(update={"schemes": SchemeSet.model_validate({name: default_spec(name)})})
            m._text, m._source = None, "defaults"
        ctx = SchemeContext(self.ws, m, parse_date(as_of, "as_of"))
        return compute(ctx, None if name is None else [name], stability=stability, raise_errors=name is not None)

    def __call__(self, name: str, **kw: Any) -> SchemeResult:
        return self.compute(name, **kw)[name]


def verdict_counts(docs: dict[str, dict]) -> dict[str, int]:
    """How many schemes got each verdict (for one-line summaries)."""
    out = {USABLE: 0, CAVEATS: 0, NOT_USABLE: 0}
    for d in docs.values():
        out[d["verdict"]] = out.get(d["verdict"], 0) + 1
    return out
