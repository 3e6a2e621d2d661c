"""The operating layer's blocks of the model file: ``coverage:``, ``playbooks:`` and ``content:``.

Each block is optional; :class:`sikta.service.model.Model` references them
with one line each. The rule language of every ``when`` is
:mod:`sikta.core.conditions` (field → allowed values); the fields are the
columns of the unit rows (:mod:`sikta.service.operate_units`): ``group``,
``segment`` and every scheme label, transitions (``group_from`` /
``group_to``), the features (``employees``, ``lifecycle_stage``,
``tickets_12m`` ...) and the signal built-ins (``onboarding_struggle``,
``usage_decline`` ...).

.. code-block:: yaml

    coverage:
      models:                        # engagement models: change a default or add one
        dedicated: {accounts_per_owner: 40, workload_per_owner: 90}
        scale: {touch: pooled, accounts_per_owner: 400, role: pooled}
      rules:                         # the first rule a unit meets decides its engagement model
        - when: {group: invest, employees: {min: 1000}}
          engagement: strategic
        - when: {group: [invest, qualify]}
          engagement: dedicated
        - when: {group: streamline}
          engagement: pooled
      default: tech_touch            # units no rule catches
      workload: {tickets_per_unit: 12, interactions_per_unit: 24, size_scale: 100, size_weight: 1}
    playbooks:                       # rules → actions (sikta.core.playbook)
      - name: rescue onboarding
        when: {onboarding_struggle: {min: 0.5}}
        action: training offer and proactive call
        fallback_channel: email
        due_days: 7
        content: onboarding-kit
      - name: review downgrade
        when: {group_from: invest, group_to: maintain}
        action: review meeting
        channel: meeting
        due_days: 14
    content:
      catalog: content.csv           # beside the model file (CSV or YAML), or items: [...] inline
      limit: 3                       # items per unit
      need_threshold: 4              # a need_* survey score from this value is a need

Examples
--------
>>> c = CoverageSpec.model_validate({"rules": [{"when": {"group": "invest"}, "engagement": "strategic"}]})
>>> [m.name for m in c.engagement_models()], c.default
(['strategic', 'dedicated', 'pooled', 'tech_touch'], 'tech_touch')
>>> ContentSpec.model_validate({"items": [{"item_id": "a", "size_band": "small"}]}).limit
3
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sikta.core.conditions import check_when
from sikta.core.coverage import EngagementModel, engagement_models
from sikta.core.playbook import Rule as PlaybookRuleCore
from sikta.core.playbook import playbook_rules
from sikta.errors import InputError, ModelError

__all__ = ["CoverageSpec", "ContentSpec", "PlaybookRule", "Playbooks", "Workload", "load_catalog", "rules_of"]


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("operate", message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Workload(_Strict):
    """The constants of :func:`sikta.core.coverage.workload_weight`."""

    base: Annotated[float, Field(ge=0)] = 1.0
    tickets_per_unit: Annotated[float, Field(gt=0)] = 12.0
    interactions_per_unit: Annotated[float, Field(gt=0)] = 24.0
    size_scale: Annotated[float, Field(gt=0)] = 100.0
    size_weight: Annotated[float, Field(ge=0)] = 1.0


class EngagementRule(_Strict):
    when: dict[str, Any] | None = None
    engagement: str

    @field_validator("when")
    @classmethod
    def _when(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        try:
            check_when(v, "engagement rule")
        except ModelError as exc:
            raise _fail(str(exc)) from None
        return v


class CoverageSpec(_Strict):
    """Groups and segments → engagement models with capacities (SPEC §4.6)."""

    models: dict[str, dict[str, Any]] = {}
    rules: list[EngagementRule] = []
    default: str = "tech_touch"
    workload: Workload = Workload()

    @model_validator(mode="after")
    def _known(self) -> CoverageSpec:
        try:
            models = engagement_models(self.models)
        except ModelError as exc:
            raise _fail(str(exc)) from None
        names = [m.name for m in models]
        for i, r in enumerate(self.rules, 1):
            if r.engagement not in names:
                raise _fail(f"engagement rule {i}: no engagement model {r.engagement!r} (models: {', '.join(names)})")
        if self.default not in names:
            raise _fail(f"default {self.default!r} is not an engagement model (models: {', '.join(names)})")
        return self

    def engagement_models(self) -> tuple[EngagementModel, ...]:
        """The default engagement models with this block's changes."""
        return engagement_models(self.models)


class PlaybookRule(_Strict):
    """One playbook rule (see :mod:`sikta.core.playbook`)."""

    name: str
    when: dict[str, Any] | None = None
    action: str
    channel: str = "preference"
    channels: list[str] | str | None = None
    fallback_channel: str | None = None
    due_days: int = 7
    content: str | None = None
    fallback_owner: str | None = None

    @model_validator(mode="after")
    def _core(self) -> PlaybookRule:
        try:
            playbook_rules([self.model_dump(exclude_unset=True)])
        except ModelError as exc:
            raise _fail(str(exc)) from None
        return self


def _unique(rules: list[PlaybookRule]) -> list[PlaybookRule]:
    names = [r.name.strip() for r in rules]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _fail(f"two playbook rules are called {dup!r}")
    return rules


#: the ``playbooks:`` block: rules in priority order, each name once
Playbooks = Annotated[list[PlaybookRule], AfterValidator(_unique)]


def rules_of(rules: list[PlaybookRule]) -> tuple[PlaybookRuleCore, ...]:
    """The core rules of a model's ``playbooks:`` (names checked for repeats)."""
    return playbook_rules([r.model_dump(exclude_unset=True) for r in rules])


class ContentSpec(_Strict):
    """Where the content catalog is, and how many items a unit gets."""

    catalog: str | None = None
    items: list[dict[str, Any]] | None = None
    limit: Annotated[int, Field(ge=1)] = 3
    need_threshold: Annotated[float, Field(ge=1, le=5)] = 4.0

    @model_validator(mode="after")
    def _one(self) -> ContentSpec:
        if (self.catalog is None) == (self.items is None):
            raise _fail("give the catalog as a file (catalog: content.csv) or inline (items: [...]), one of them")
        for i, it in enumerate(self.items or [], 1):
            if not isinstance(it.get("item_id"), str | int) or not str(it.get("item_id")).strip():
                raise _fail(f"content item {i}: needs an item_id")
        return self


def load_catalog(spec: ContentSpec, model_file: str | None = None) -> pd.DataFrame:
    """The catalog as a frame: the inline items, or the file (CSV or YAML list) beside the model file.

    A relative ``catalog`` path is read beside the model file when there is
    one (the run records where its model came from), else from the current
    folder.
    """
    if spec.items is not None:
        return pd.DataFrame(spec.items)
    path = Path(spec.catalog)
    if not path.is_absolute() and model_file:
        beside = Path(model_file).parent / path
        path = beside if beside.exists() or not path.exists() else path
    if not path.exists():
        raise InputError(f"content catalog {spec.catalog}: no such file (looked at {path})")
    if path.suffix.lower() in (".yaml", ".yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, Mapping):
            data = data.get("items")
        if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
            raise InputError(f"content catalog {path}: expected a list of items (item_id, tags ...)")
        frame = pd.DataFrame(data)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)
    if "item_id" not in frame.columns:
        raise InputError(f"content catalog {path}: no column 'item_id' (columns: {', '.join(frame.columns)})")
    return frame
