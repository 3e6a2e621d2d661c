"""The ``schemes:`` block of the model file: one small spec per segmentation scheme (SPEC §4.4).

Each scheme has a name (it names the run's columns ``scheme__<name>``), a
``type`` and the few parameters of that type; everything has a default that
runs on the demo data, so ``needs: {type: needs}`` is a complete scheme.

.. code-block:: yaml

    schemes:
      firmographic: {type: firmographic, by: [tier, vertical], min_size: 30}
      needs: {type: needs}
      behavioral: {type: behavioral}
      value: {type: value, measure: revenue}
      analytics: {type: opportunity, line: Analytics}
      fit: {type: preference, gtm: {digital_share: high, channels: [digital, phone]}}
      tier_x_needs: {type: layer, of: [firmographic, needs], min_size: 30}

Which units a scheme labels (``scope``; the matrix's statuses bound all of them):

=============  =======================================================================
``all``        every unit in the model's scope (``customer.statuses``)
``customers``  those whose status is ``customer`` at the as-of date
``buyers``     those with at least one order line (they have a buying style)
=============  =======================================================================

Defaults per type (:data:`DEFAULT_SCOPE`): firmographic, needs, preference and
layer label everybody in scope (prospects have a size, answers and a channel
too); behavioral labels the buyers (a prospect has no buying style); value and
opportunity label the customers (a prospect has no revenue, and has bought no
line).

A matrix parameter reads a scheme with ``scheme: NAME`` (the scheme's number:
the propensity of an opportunity, the fit score of a preference fit, the
measure of a value scheme) or ``scheme: NAME=SEGMENT`` (1 when the unit's
segment is SEGMENT or has it as one of its `` × `` parts, so
``scheme: firmographic=enterprise`` matches ``enterprise × Retail``; 0 for
another segment; missing outside the scheme's scope or when the unit has no
segment). See :func:`scheme_ref`.

Examples
--------
>>> s = SchemeSet.model_validate({"needs": {"type": "needs"}, "v": {"type": "value", "scope": "all"}})
>>> [(n, x.type, x.units) for n, x in s.items()]
[('needs', 'needs', 'all'), ('v', 'value', 'all')]
>>> scheme_ref("firmographic=enterprise")
('firmographic', 'enterprise')
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sikta.engine.expressions import parse
from sikta.errors import ModelError

__all__ = [
    "DEFAULT_SCOPE", "NUMBERS", "SCOPES", "TYPES", "SchemeSet", "SchemeSpec", "scheme_ref",
]

TYPES = ("firmographic", "needs", "behavioral", "value", "opportunity", "preference", "layer")
SCOPES = ("all", "customers", "buyers")
DEFAULT_SCOPE = {
    "firmographic": "all", "needs": "all", "behavioral": "buyers", "value": "customers",
    "opportunity": "customers", "preference": "all", "layer": "all",
}
#: the number ``scheme: NAME`` reads, per type (types without one give segments only)
NUMBERS = {"value": "value", "opportunity": "propensity", "preference": "fit_score"}
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def scheme_ref(text: str) -> tuple[str, str | None]:
    """``"NAME"`` or ``"NAME=SEGMENT"`` → ``(name, segment or None)``.

    Examples
    --------
    >>> scheme_ref("needs"), scheme_ref(" needs = values support ")
    (('needs', None), ('needs', 'values support'))
    >>> scheme_ref("Needs")
    Traceback (most recent call last):
    ...
    sikta.errors.ModelError: scheme 'Needs': write scheme: NAME or scheme: NAME=SEGMENT, NAME in lower-case letters, digits and single _
    """
    name, eq, label = str(text).partition("=")
    name, label = name.strip(), label.strip()
    if not _NAME.match(name) or (eq and not label):
        raise ModelError(f"scheme {text!r}: write scheme: NAME or scheme: NAME=SEGMENT, NAME in lower-case letters, "
                         "digits and single _")
    return name, (label if eq else None)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Literal[SCOPES] | None = None  # type: ignore[valid-type]
    description: str | None = None

    @property
    def units(self) -> str:
        """The scope in force: the declared one or the type's default."""
        return self.scope or DEFAULT_SCOPE[self.type]  # type: ignore[attr-defined]


class _Clusters(_Spec):
    k_min: Annotated[int, Field(ge=2, le=20)] = 2
    k_max: Annotated[int, Field(ge=2, le=20)] = 8
    n_bootstrap: Annotated[int, Field(ge=2, le=200)] = 20
    min_cluster_size: Annotated[int, Field(ge=1)] = 10
    min_cluster_share: Annotated[float, Field(ge=0, lt=0.5)] = 0.03
    random_state: int = 0

    @model_validator(mode="after")
    def _k(self) -> _Clusters:
        if self.k_max < self.k_min:
            raise _fail("k", f"k_max ({self.k_max}) must be at least k_min ({self.k_min})")
        return self


class Firmographic(_Spec):
    """Size tier × vertical (× region, legal form) by rules (:class:`~sikta.core.firmographic.FirmographicSegmenter`)."""

    type: Literal["firmographic"]
    by: Annotated[list[Literal["tier", "vertical", "region", "legal_form"]], Field(min_length=1)] = ["tier", "vertical"]
    employee_bands: list[float] | None = None
    revenue_bands: list[float] | None = None
    tier_names: list[str] | None = None
    verticals: dict[str, str] | None = None
    #: cells smaller than this are pooled into "<tier> × other"; default: the actionable minimum
    #: (30 units and 2 % of them, :class:`sikta.core.diagnostics.Thresholds`); 0 pools nothing
    min_size: Annotated[int, Field(ge=0)] | None = None


class Needs(_Clusters):
    """Clusters of survey answers (:class:`~sikta.core.needs.NeedsSegmenter`)."""

    type: Literal["needs"]
    columns: list[str] | None = None
    min_answered: Annotated[float, Field(gt=0, le=1)] = 0.5
    algorithm: Literal["kmeans", "gaussian"] = "kmeans"


class Behavioral(_Clusters):
    """Clusters of buying style (:class:`~sikta.core.behavioral.BehaviorSegmenter`)."""

    type: Literal["behavioral"]
    inputs: list[str] | None = None
    log: Literal["auto"] | bool = "auto"
    lookback_months: Annotated[int, Field(ge=1)] | None = None
    algorithm: Literal["kmeans", "gaussian"] = "gaussian"


class Value(_Spec):
    """Value tiers A/B/C by cumulative share of the measure (the CLV helper's tiers plug in here)."""

    type: Literal["value"]
    measure: str = "revenue"
    a: Annotated[float, Field(gt=0, lt=1)] = 0.8
    b: Annotated[float, Field(gt=0, lt=1)] = 0.95

    @model_validator(mode="after")
    def _ab(self) -> Value:
        if self.a >= self.b:
            raise _fail("tiers", f"a ({self.a:g}) must be below b ({self.b:g}): A is the top {self.a:.0%} of the value")
        return self


class Opportunity(_Spec):
    """Propensity to buy a product line or meet a condition (:class:`~sikta.core.propensity.PropensityModel`)."""

    type: Literal["opportunity"]
    line: str | None = None
    when: str | None = None
    features: list[str] | None = None
    exclude: list[str] = []
    model: Literal["gbm", "logistic"] = "gbm"
    min_positives: Annotated[int, Field(ge=10)] = 30
    high_share: Annotated[float, Field(gt=0, lt=1)] = 0.2
    medium_share: Annotated[float, Field(ge=0, lt=1)] = 0.3
    random_state: int = 0

    @field_validator("when")
    @classmethod
    def _syntax(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse(v, what="opportunity: when")
            except ModelError as exc:
                raise _fail("expression", str(exc)) from None
        return v

    @model_validator(mode="after")
    def _target(self) -> Opportunity:
        if (self.line is None) == (self.when is None):
            raise _fail("target", "give exactly one of line: (a product line) or when: (a condition on features)")
        if self.high_share + self.medium_share > 1:
            raise _fail("shares", "high_share + medium_share must be at most 1")
        return self


class GoToMarket(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    digital_share: Literal["high", "medium", "low"] | Annotated[float, Field(ge=0, le=1)] | None = None
    channels: Annotated[list[str], Field(min_length=1)] | None = None
    regions: Annotated[list[str], Field(min_length=1)] | None = None
    countries: Annotated[list[str], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _some(self) -> GoToMarket:
        if all(getattr(self, k) is None for k in ("digital_share", "channels", "regions", "countries")):
            raise _fail("gtm", "declare the go-to-market: digital_share, channels, regions and/or countries")
        return self


class Preference(_Spec):
    """Fit with the company's own go-to-market (:class:`~sikta.core.preference.PreferenceFit`)."""

    type: Literal["preference"]
    gtm: GoToMarket
    weights: dict[Literal["channel", "tech", "geography"], Annotated[float, Field(ge=0)]] | None = None
    must_match: list[Literal["channel", "tech", "geography"]] = ["channel"]
    fit_at: Annotated[float, Field(gt=0, le=1)] = 0.75
    partial_at: Annotated[float, Field(gt=0, le=1)] = 0.4


class Layer(_Spec):
    """Two schemes crossed into one segment (:func:`~sikta.core.layering.layer`)."""

    type: Literal["layer"]
    of: Annotated[list[str], Field(min_length=2, max_length=2)]
    min_size: Annotated[int, Field(ge=0)] = 30


SchemeSpec = Annotated[
    Firmographic | Needs | Behavioral | Value | Opportunity | Preference | Layer, Field(discriminator="type")
]


class SchemeSet(RootModel[dict[str, SchemeSpec]]):
    """``name → spec``; names are column-safe, layers name two other schemes and never loop."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _types(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        for name, spec in data.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise _fail("name", f"scheme name {name!r} is not usable: use lower-case letters, digits and single _ "
                                    "(it names the run's columns)")
            if isinstance(spec, dict) and spec.get("type") not in TYPES:
                got = spec.get("type")
                raise _fail("type", f"scheme '{name}': type must be one of {', '.join(TYPES)}"
                                    + (f", not {got!r}" if got is not None else " (type: is missing)"))
        return data

    @model_validator(mode="after")
    def _layers(self) -> SchemeSet:
        specs = self.root
        for name, spec in specs.items():
            if isinstance(spec, Layer):
                for other in spec.of:
                    if other not in specs:
                        raise _fail("layer", f"scheme '{name}': layers '{other}', which is not declared under schemes:")
                    if other == name:
                        raise _fail("layer", f"scheme '{name}' cannot layer itself")
                if spec.of[0] == spec.of[1]:
                    raise _fail("layer", f"scheme '{name}': layer two different schemes, not '{spec.of[0]}' twice")
        self.order()  # raises on a cycle
        return self

    def items(self) -> Iterator[tuple[str, SchemeSpec]]:  # type: ignore[override]
        return iter(self.root.items())

    def __contains__(self, name: object) -> bool:
        return name in self.root

    def __getitem__(self, name: str) -> SchemeSpec:
        return self.root[name]

    def __len__(self) -> int:
        return len(self.root)

    def names(self) -> list[str]:
        return list(self.root)

    def order(self, wanted: list[str] | None = None) -> list[str]:
        """Names in computing order (a layer after the schemes it crosses), limited to ``wanted`` and what they need."""
        done: list[str] = []

        def visit(n: str, path: tuple[str, ...]) -> None:
            if n in done:
                return
            if n in path:
                raise _fail("layer", "layers loop: " + " → ".join((*path, n)))
            spec = self.root[n]
            for other in spec.of if isinstance(spec, Layer) else ():
                if other in self.root:
                    visit(other, (*path, n))
            done.append(n)

        for n in wanted if wanted is not None else list(self.root):
            visit(n, ())
        return done
