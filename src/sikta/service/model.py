"""The segmentation model file: "segmentation as code" (SPEC §4.3).

A model is a YAML file the user keeps under version control. It says who is
in scope, which 1–3 parameters make *potential* and which 1–3 make *pain*,
where each axis turns from low to high, which rules deprioritize a unit before
the matrix, and how the five groups are labelled. :mod:`sikta.engine.matrix`
scores a feature table with it.

Schema
------
.. code-block:: yaml

    name: demo-model                 # required
    version: 3                       # free text or number, shown in runs
    description: ...                 # optional
    customer:
      grain: account                 # ultimate_parent | account | department (default account)
      statuses: [customer, prospect] # in scope (default); others are not in the matrix
    potential:                       # 1-3 parameters
      - name: wallet_gap             # a built-in when no feature/expr/rule is given
        weight: 2                    # > 0, default 1
      - name: size                   # lower-case letters, digits, single _ (it names columns)
        expr: log(employees + 1)     # or feature: <column>, or rule: <boolean expression>
        scaling: rank                # rank (default; none for rule) | minmax | z | log | none
        direction: higher            # higher (default) | lower: a low value is more
        missing: 0                   # score of a unit without a value, 0..1 (default 0)
        label: company size          # optional, for people; default the name with spaces
    pain:                            # 1-3 parameters, as potential
      - name: need_score
    thresholds:                      # axis score >= value, or > the quantile, is "high"
      potential: {quantile: 0.6}     # 0 < q < 1 over the units in the matrix (default 0.5)
      pain: {value: 0.5}             # 0 <= value <= 1
    deprioritize:                    # decided first, in order; the first rule that fires counts
      - name: long gone
        when: status == 'former' and months_since_last_order > 36
    groups:                          # optional: label, colour, kpi per group
      invest: {label: Invest, colour: "#1b9e77", kpi: nrr}
    wallet:                          # optional settings of estimated_wallet / wallet_gap
      percentile: 0.75
      peers: [industry, size_band]
      min_peers: 5
    clv:                             # optional: CLV settings (sikta.service.clv_settings, docs/clv.md)
      horizon: 36

Built-ins are listed in :mod:`sikta.engine.wallet` (plus ``rule``). Every
error names the file and line (:mod:`sikta.engine.yamlspec`); expressions are
checked for syntax on load and against the feature columns with
:func:`validate` before a run.

Examples
--------
>>> m = model_from_text('''
... name: tiny
... potential:
...   - name: wallet_gap
... pain:
...   - name: tickets
...     feature: tickets_12m
... ''', source="tiny.yaml")
>>> [(p.name, p.kind, p.source, p.scaling) for p in m.potential + m.pain]
[('wallet_gap', 'builtin', 'wallet_gap', 'rank'), ('tickets', 'feature', 'tickets_12m', 'rank')]
>>> try:
...     validate(m, ["unit_id", "status", "tickets_12"])
... except ModelError as exc:
...     print(exc)
tiny.yaml:7: pain parameter 'tickets': unknown feature 'tickets_12m' (did you mean 'tickets_12'?)
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import ibis
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sikta.engine.contract import GRAINS
from sikta.engine.expressions import parse
from sikta.engine.matrix import GROUPS, MAX_PARAMETERS, SCALINGS, STATUSES
from sikta.engine.wallet import BUILTINS
from sikta.engine.yamlspec import line_index, nearest_line, load_yaml_file, load_yaml_model
from sikta.errors import ModelError
from sikta.service.clv_settings import ClvSettings
from sikta.service.scheme_spec import SchemeSet, scheme_ref
from sikta.service.operate_spec import ContentSpec, CoverageSpec, Playbooks

__all__ = [
    "Model",
    "Parameter",
    "load_model",
    "model_from_text",
    "starter_model_text",
    "validate",
    "validate_against",
]

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
Grain = Literal[GRAINS]  # type: ignore[valid-type]  # one list of names, kept in the engine
Status = Literal[STATUSES]  # type: ignore[valid-type]


def _fail(kind: str, message: str) -> PydanticCustomError:
    # a custom error keeps pydantic from prefixing "Value error, " to a sentence meant for people
    return PydanticCustomError(kind, message)


def _closest(word: str, options: Iterable[str]) -> str:
    hit = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{hit[0]}'?)" if hit else ""


def _check_syntax(text: str, what: str) -> str:
    try:
        parse(text, what=what)
    except ModelError as exc:
        raise _fail("expression", str(exc)) from None
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Customer(_Strict):
    """Who the customer is (the grain) and which statuses are in the matrix."""

    grain: Grain = "account"
    statuses: Annotated[list[Status], Field(min_length=1)] = ["customer", "prospect"]

    @field_validator("statuses")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise _fail("duplicate", "a status is listed twice")
        return v


class Parameter(_Strict):
    """One potential or pain parameter: a built-in, a feature, an expression or a rule."""

    name: str
    label: str | None = None
    feature: str | None = None
    expr: str | None = None
    rule: str | None = None
    scheme: str | None = None  # NAME (its number) or NAME=SEGMENT (1/0): see sikta.service.scheme_spec
    weight: float = 1.0
    scaling: Literal[SCALINGS] | None = None  # type: ignore[valid-type]
    direction: Literal["higher", "lower"] = "higher"
    missing: Annotated[float, Field(ge=0, le=1)] = 0.0

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise _fail("name", f"'{v}' is not a usable name: use lower-case letters, digits and single _ (it names columns)")
        return v

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        if not (math.isfinite(v) and v > 0):
            raise _fail("weight", f"weight must be a number > 0, not {v:g}")
        return v

    @field_validator("expr", "rule")
    @classmethod
    def _syntax(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _check_syntax(v, f"parameter '{info.data.get('name', '?')}': {info.field_name}")

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                scheme_ref(v)
            except ModelError as exc:
                raise _fail("scheme", str(exc)) from None
        return v

    @model_validator(mode="after")
    def _one_source(self) -> Parameter:
        given = [k for k in ("feature", "expr", "rule", "scheme") if getattr(self, k) is not None]
        if len(given) > 1:
            raise _fail("source", f"parameter '{self.name}': give only one of feature, expr or rule (or scheme), not {' and '.join(given)}")
        if not given and self.name not in BUILTINS:
            raise _fail(
                "source",
                f"parameter '{self.name}' is not a built-in{_closest(self.name, BUILTINS)}: give feature:, expr:, rule:"
                f" or scheme: (built-ins: {', '.join(BUILTINS)})",
            )
        # the defaults depend on the kind; set them without marking them as written by the user
        if self.scaling is None:
            segment = self.scheme is not None and scheme_ref(self.scheme)[1] is not None
            object.__setattr__(self, "scaling", "none" if self.rule is not None or segment else "rank")
        if self.label is None:
            object.__setattr__(self, "label", self.name.replace("_", " "))
        return self

    @property
    def kind(self) -> str:
        """``builtin``, ``feature``, ``expr``, ``rule`` or ``scheme``."""
        return next((k for k in ("feature", "expr", "rule", "scheme") if getattr(self, k) is not None), "builtin")

    @property
    def source(self) -> str:
        """The built-in's name, the feature column, the expression text or the scheme reference."""
        return {"feature": self.feature, "expr": self.expr, "rule": self.rule,
                "scheme": self.scheme}.get(self.kind) or self.name


def _axis(v: list[Parameter], axis: str) -> list[Parameter]:
    if not v:
        raise _fail("too_short", f"{axis} needs at least one parameter")
    if len(v) > MAX_PARAMETERS:
        raise _fail(
            "too_many",
            f"Keep it simple: 1–{MAX_PARAMETERS} parameters per axis are the watersheds that decide; {axis} has {len(v)}",
        )
    names = [p.name for p in v]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _fail("duplicate", f"two {axis} parameters are called '{dup}'")
    return v


class Threshold(_Strict):
    """Where an axis turns high: ``{quantile: q}`` or ``{value: v}``."""

    quantile: float | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Threshold:
        if (self.quantile is None) == (self.value is None):
            raise _fail("threshold", "give exactly one of quantile (0 < q < 1) or value (0..1)")
        if self.quantile is not None and not 0 < self.quantile < 1:
            raise _fail("threshold", f"quantile must be between 0 and 1 (exclusive), not {self.quantile:g}")
        if self.value is not None and not 0 <= self.value <= 1:
            raise _fail("threshold", f"value must be between 0 and 1 (axis scores are 0..1), not {self.value:g}")
        return self


class Thresholds(_Strict):
    potential: Threshold = Threshold(quantile=0.5)
    pain: Threshold = Threshold(quantile=0.5)


class Rule(_Strict):
    """A deprioritization rule: a unit for which ``when`` is true gets not a single minute."""

    name: Annotated[str, Field(min_length=1)]
    when: str

    @field_validator("when")
    @classmethod
    def _syntax(cls, v: str, info: ValidationInfo) -> str:
        return _check_syntax(v, f"rule '{info.data.get('name', '?')}': when")


class GroupStyle(_Strict):
    label: str | None = None
    colour: str | None = None
    kpi: str | None = None

    @field_validator("colour")
    @classmethod
    def _colour(cls, v: str | None) -> str | None:
        if v is not None and not _COLOUR.match(v):
            raise _fail("colour", f"colour must look like \"#1b9e77\", not {v!r} (quote it: # starts a YAML comment)")
        return v


class Groups(_Strict):
    invest: GroupStyle = GroupStyle()
    qualify: GroupStyle = GroupStyle()
    streamline: GroupStyle = GroupStyle()
    maintain: GroupStyle = GroupStyle()
    deprioritized: GroupStyle = GroupStyle()



class Wallet(_Strict):
    """Settings of the ``estimated_wallet`` / ``wallet_gap`` built-ins."""

    percentile: Annotated[float, Field(gt=0, lt=1)] = 0.75
    peers: list[str] = ["industry", "size_band"]
    min_peers: Annotated[int, Field(ge=1)] = 5


class Model(_Strict):
    """A validated segmentation model; ``text`` and ``sha256`` identify the file it came from."""

    name: Annotated[str, Field(min_length=1)]
    version: str | int | float | None = None
    description: str | None = None
    customer: Customer = Customer()
    potential: list[Parameter]
    pain: list[Parameter]
    thresholds: Thresholds = Thresholds()
    deprioritize: list[Rule] = []
    groups: Groups = Groups()
    wallet: Wallet = Wallet()
    clv: ClvSettings | None = None  # customer lifetime value settings (sikta.service.clv_settings)
    schemes: SchemeSet = SchemeSet({})
    coverage: CoverageSpec | None = None  # operating layer: sikta.service.operate_spec
    playbooks: Playbooks = []
    content: ContentSpec | None = None

    _text: str | None = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="<model>")

    @field_validator("potential")
    @classmethod
    def _potential(cls, v: list[Parameter]) -> list[Parameter]:
        return _axis(v, "potential")

    @field_validator("pain")
    @classmethod
    def _pain(cls, v: list[Parameter]) -> list[Parameter]:
        return _axis(v, "pain")

    @field_validator("deprioritize")
    @classmethod
    def _rules(cls, v: list[Rule]) -> list[Rule]:
        names = [r.name for r in v]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise _fail("duplicate", f"two deprioritization rules are called '{dup}'")
        return v

    @property
    def text(self) -> str:
        """The exact file content (or :meth:`to_yaml` for a model built in code)."""
        return self._text if self._text is not None else self.to_yaml()

    @property
    def source(self) -> str:
        """Where the model came from (file name), for messages."""
        return self._source

    @property
    def sha256(self) -> str:
        """SHA-256 of :attr:`text`: the model version a run records."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def parameters(self) -> list[tuple[str, int, Parameter]]:
        """``(axis, index, parameter)`` for every parameter, potential first."""
        return [("potential", i, p) for i, p in enumerate(self.potential)] + [
            ("pain", i, p) for i, p in enumerate(self.pain)
        ]

    def to_yaml(self) -> str:
        """The model as YAML (what was written explicitly; comments are not kept).

        Examples
        --------
        >>> m = Model(name="m", potential=[Parameter(name="growth")], pain=[Parameter(name="need_score")])
        >>> print(m.to_yaml().strip())
        name: m
        potential:
        - name: growth
        pain:
        - name: need_score
        >>> model_from_text(m.to_yaml()).model_dump() == m.model_dump()
        True
        """
        data = self.model_dump(mode="json", exclude_unset=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def model_from_text(text: str, *, source: str = "<model>") -> Model:
    """Parse and validate model YAML ``text``; errors read ``source:line: path: problem``."""
    model = load_yaml_model(Model, text, source=source, error=ModelError)
    model._text, model._source = text, source
    check_scheme_parameters(model)
    return model


def load_model(path: str | Path) -> Model:
    """Load a model file (see the module docstring for the schema).

    Raises
    ------
    ModelError
        ``"<file>:<line>: <field path>: <what is wrong>"``, or the file cannot be read.
    """
    p = Path(path)
    model = load_yaml_file(Model, p, error=ModelError)
    model._text, model._source = p.read_text(encoding="utf-8"), str(p)
    check_scheme_parameters(model)
    return model


def starter_model_text() -> str:
    """A commented starter model that runs on the demo data and fills every group.

    Examples
    --------
    >>> model_from_text(starter_model_text()).customer.statuses
    ['customer', 'prospect']
    """
    return resources.files("sikta.service").joinpath("model_starter.yaml").read_text(encoding="utf-8")


def validate(model: Model, columns: Iterable[str] | Mapping[str, Any]) -> None:
    """Check the model against the feature table's columns before a run.

    Every feature a parameter names must exist, and every expression and rule
    must parse over the feature columns plus the built-ins (any built-in can
    be used inside an expression; it is computed on demand). Given the column
    types (an Ibis schema, or a mapping of name to type), the kinds are checked
    too: a feature or expr parameter must be a number (or true/false), a rule
    and a ``when`` true/false.

    Raises
    ------
    ModelError
        ``"<file>:<line>: <axis> parameter '<name>': <problem>"`` or
        ``"<file>:<line>: deprioritization rule '<name>': <problem>"``; an unknown
        column comes with the closest existing name.
    """
    typed = isinstance(columns, Mapping) or hasattr(columns, "items")
    kinds: dict[str, Any] = dict(columns.items()) if typed else dict.fromkeys(columns, "unknown")  # type: ignore[union-attr]
    kinds.update({b: "float64" for b in BUILTINS if b not in kinds})
    lines = _lines(model)

    def at(*loc: Any) -> str:
        return f"{model.source}:{nearest_line(lines, loc)}"

    for axis, i, p in model.parameters():
        who = f"{axis} parameter '{p.name}'"
        if p.kind == "feature":
            if p.feature not in kinds:
                raise ModelError(f"{at(axis, i, 'feature')}: {who}: unknown feature '{p.feature}'{_closest(p.feature, kinds)}")
            _kind(_kind_of(kinds[p.feature]), ("numeric", "boolean"), f"{at(axis, i, 'feature')}: {who}: feature '{p.feature}'")
        elif p.kind in ("expr", "rule"):
            e = _parse(p.source, kinds, f"{who}: {p.kind}", at(axis, i, p.kind))
            want = ("boolean",) if p.kind == "rule" else ("numeric", "boolean")
            _kind(e.kind, want, f"{at(axis, i, p.kind)}: {who}: {p.kind} '{p.source}'")
    for i, r in enumerate(model.deprioritize):
        who = f"deprioritization rule '{r.name}'"
        e = _parse(r.when, kinds, f"{who}: when", at("deprioritize", i, "when"))
        _kind(e.kind, ("boolean",), f"{at('deprioritize', i, 'when')}: {who}: when '{r.when}'")
    for loc, col in (("cac", model.clv.cac.by), ("contract", model.clv.contract.by)) if model.clv else ():
        if col is not None and col not in kinds:
            raise ModelError(f"{at('clv', loc, 'by')}: clv {loc} by: unknown feature '{col}'{_closest(col, kinds)}")
    missing = [c for c in model.wallet.peers if c not in kinds and c != "size_band"]
    if missing and any(p.source in ("estimated_wallet", "wallet_gap") for _, _, p in model.parameters()):
        raise ModelError(f"{at('wallet', 'peers')}: wallet peers: unknown feature '{missing[0]}'{_closest(missing[0], kinds)}")


#: the name the run service uses
validate_against = validate

#: segments a rule-based scheme can give, known before any data (clustered ones are checked at run time)
_KNOWN_SEGMENTS = {
    "value": ("A", "B", "C"),
    "preference": ("fits", "partial fit", "does not fit"),
    "opportunity": ("already buys", "high propensity", "medium propensity", "low propensity"),
}


def check_scheme_parameters(model: Model) -> None:
    """Every ``scheme:`` parameter names a declared scheme, and a number or segment that scheme gives.

    Raises
    ------
    ModelError
        ``"<file>:<line>: <axis> parameter '<name>': <problem>"``.
    """
    from sikta.service.scheme_spec import NUMBERS

    refs = [(axis, i, p) for axis, i, p in model.parameters() if p.kind == "scheme"]
    if not refs:
        return
    lines = _lines(model)
    declared = model.schemes.names()
    for axis, i, p in refs:
        where = f"{model.source}:{nearest_line(lines, (axis, i, 'scheme'))}: {axis} parameter '{p.name}'"
        name, segment = scheme_ref(p.scheme)
        if name not in model.schemes:
            listed = ", ".join(declared) if declared else "none: add a schemes: block"
            raise ModelError(f"{where}: no scheme '{name}' is declared{_closest(name, declared)} (schemes: {listed})")
        kind = model.schemes[name].type
        if segment is None and kind not in NUMBERS:
            raise ModelError(f"{where}: scheme '{name}' ({kind}) gives segments, not a number: write "
                             f"scheme: {name}=<segment>")
        known = _KNOWN_SEGMENTS.get(kind)
        if segment is not None and known and segment not in known:
            raise ModelError(f"{where}: scheme '{name}' ({kind}) has no segment '{segment}'"
                             f"{_closest(segment, known)} (segments: {', '.join(known)})")

_KIND_WORDS = {"numeric": "a number", "boolean": "true/false", "string": "text"}


def _kind_of(dtype: Any) -> str:
    try:
        dt = ibis.dtype(dtype)
    except Exception:  # noqa: BLE001 - "unknown", or anything ibis cannot read, is untyped
        return "unknown"
    return "boolean" if dt.is_boolean() else "numeric" if dt.is_numeric() else "string" if dt.is_string() else str(dt)


def _kind(kind: str, want: tuple[str, ...], where: str) -> None:
    # an unknown kind (column types not given) passes: score() checks again on the real table
    if kind in want or kind == "unknown":
        return
    wanted = " or ".join(_KIND_WORDS[k] for k in want)
    raise ModelError(f"{where} is {_KIND_WORDS.get(kind, kind)}, not {wanted}")


def _parse(text: str, kinds: Mapping[str, Any], what: str, where: str):
    try:
        return parse(text, columns=kinds, what=what)
    except ModelError as exc:
        raise ModelError(f"{where}: {exc}") from None


def _lines(model: Model) -> dict[tuple, int]:
    try:
        node = yaml.compose(model.text)
    except yaml.YAMLError:  # pragma: no cover - the text loaded once already
        return {}
    return line_index(node) if node is not None else {}
