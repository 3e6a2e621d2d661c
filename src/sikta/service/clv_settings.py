"""The ``clv:`` block of a model file: how customer lifetime value is computed (docs/clv.md).

.. code-block:: yaml

    clv:
      model: bgnbd               # bgnbd (default) | paretonbd
      time_unit: week            # day | week (default) | month: the models' clock
      horizon: 36                # months of future purchases counted (default 36)
      discount: 0.10             # yearly discount rate (default 0.10), applied month by month
      calibration_end: 2025-06-30   # optional: fit on purchases up to this day (default: the as-of date)
      margin_rate: 0.35          # margin on revenue when the orders have no cost column
      cac:                       # cost to acquire a customer, for clv_minus_cac
        default: 400             # for units whose segment has no value (or without by:)
        by: channel_preference   # a feature column: segment or channel
        values: {field: 2500, partner: 900, digital: 150}
      tiers:                     # value tiers A/B/C by cumulative share
        by: clv                  # clv (default) | revenue | margin
        a: 0.8                   # A: the top units carrying 80 % of the value
        b: 0.95                  # B: the next ones up to 95 %; C the rest
      contract:                  # subscriptions (sikta clv --contractual)
        period: year             # month | quarter | year (default): one renewal opportunity
        by: industry             # optional: retention curves per value of this feature

Every field is optional; ``clv: {}`` uses the defaults. The CLI options of
``sikta clv`` override the file.

Examples
--------
>>> s = ClvSettings(cac={"default": 100, "by": "industry", "values": {"it": 250}})
>>> s.model, s.horizon, s.cac.for_segment("it"), s.cac.for_segment("law")
('bgnbd', 36, 250.0, 100.0)
>>> s.monthly_discount() == (1.1 ** (1 / 12) - 1)
True
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sikta.core.clv.units import TIME_UNITS
from sikta.errors import UsageError

__all__ = ["MODELS", "TIER_BASES", "Cac", "ClvSettings", "Contract", "Tiers"]

MODELS = ("bgnbd", "paretonbd")
TIER_BASES = ("clv", "revenue", "margin")
PERIODS = {"month": 1, "quarter": 3, "year": 12}


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cac(_Strict):
    """Cost to acquire a customer: one number, or one per segment/channel of a feature column."""

    default: float | None = None
    by: str | None = None
    values: dict[str, float] = {}

    @field_validator("default")
    @classmethod
    def _default(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise _fail("cac", f"cac default must be a number >= 0, not {v:g}")
        return v

    @field_validator("values")
    @classmethod
    def _values(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if not (math.isfinite(x) and x >= 0)]
        if bad:
            raise _fail("cac", f"cac of {bad[0]!r} must be a number >= 0")
        return v

    @model_validator(mode="after")
    def _by(self) -> Cac:
        if self.values and self.by is None:
            raise _fail("cac", "cac values per segment need by: <feature> (the column that names the segment)")
        if self.by is not None and not self.values and self.default is None:
            raise _fail("cac", f"cac by {self.by!r} needs values: {{segment: cost}} (and/or a default)")
        return self

    @property
    def given(self) -> bool:
        return self.default is not None or bool(self.values)

    def for_segment(self, segment: object) -> float | None:
        """The CAC of a unit in ``segment`` (the default when the segment has none, or is missing)."""
        if segment is not None and str(segment) in self.values:
            return float(self.values[str(segment)])
        return self.default


class Tiers(_Strict):
    """Value tiers A/B/C: by what, and the cumulative-share thresholds."""

    by: Literal[TIER_BASES] = "clv"  # type: ignore[valid-type]
    a: Annotated[float, Field(gt=0, lt=1)] = 0.8
    b: Annotated[float, Field(gt=0, lt=1)] = 0.95

    @model_validator(mode="after")
    def _order(self) -> Tiers:
        if not self.a < self.b:
            raise _fail("tiers", f"tier thresholds need a < b, got a = {self.a:g}, b = {self.b:g}")
        return self


class Contract(_Strict):
    """Subscriptions: the renewal period of the sBG model and the segment of the retention curves."""

    period: Literal[tuple(PERIODS)] = "year"  # type: ignore[valid-type]
    by: str | None = None

    @property
    def months(self) -> int:
        return PERIODS[self.period]


class ClvSettings(_Strict):
    """Settings of the CLV computation (the model file's ``clv:`` block)."""

    model: Literal[MODELS] = "bgnbd"  # type: ignore[valid-type]
    time_unit: Literal[tuple(TIME_UNITS)] = "week"  # type: ignore[valid-type]
    horizon: Annotated[int, Field(ge=1, le=600)] = 36
    discount: Annotated[float, Field(ge=0, lt=1)] = 0.10
    calibration_end: dt.date | None = None
    margin_rate: Annotated[float, Field(gt=-1, le=1)] | None = None
    cac: Cac = Cac()
    tiers: Tiers = Tiers()
    contract: Contract = Contract()

    def monthly_discount(self) -> float:
        """The yearly rate as a monthly one: (1 + d)^(1/12) − 1."""
        return (1.0 + self.discount) ** (1.0 / 12.0) - 1.0

    def with_options(self, **options: object) -> ClvSettings:
        """A copy with the given options (``None`` = keep), validated like the file.

        Raises
        ------
        UsageError
            An option out of range, with the valid values.

        Examples
        --------
        >>> ClvSettings().with_options(model="paretonbd", horizon=None).model
        'paretonbd'
        """
        given = {k: v for k, v in options.items() if v is not None}
        data = self.model_dump() | given
        try:
            return ClvSettings.model_validate(data)
        except Exception as exc:  # pydantic's ValidationError: one line per option for the CLI
            errors = getattr(exc, "errors", lambda: [])()
            if not errors:
                raise
            e = errors[0]
            where = ".".join(str(p) for p in e["loc"])
            raise UsageError(f"--{where.replace('_', '-')}: {e['msg']} (got {e.get('input')!r})") from None
