"""Playbooks: rules on group, segment, transition or signal that produce actions (SPEC §4.6, seed 002).

Seed 002 asks for "a rule set for how the customer should be worked"; seed
000 gives the example: a customer struggling with onboarding gets training
and proactive help. A rule (:class:`Rule`, built from plain dicts by
:func:`playbook_rules`) says *when* (a condition of
:mod:`sikta.core.conditions` on the unit rows), *what* (``action``), *how*
(``channel``), *by when* (``due_days``) and *with what* (``content``, a tag
of the content catalog).

**Unit rows** (one per unit; the lead's service joins them): ``unit_id``,
``owner`` (from the book assignment), ``channel_preference``, and whatever
the rules name - typically ``group``, ``segment``, the transition since the
previous run as ``group_from`` / ``group_to`` (and ``segment_from`` /
``segment_to``; empty for a new unit) and signals such as
``onboarding_struggle`` or ``usage_decline``. A transition is therefore a
condition like any other: ``{"group_from": "invest", "group_to":
"maintain"}``.

**Channel policy**: ``channel: "preference"`` (the default) uses the
unit's ``channel_preference`` when it is one of the rule's ``channels``
(any, when the rule lists none), else the rule's ``fallback_channel``;
any other value is a fixed channel. ``channel_reason`` says which applied.

**Owner**: the unit's ``owner``; when it is empty, the rule's
``fallback_owner`` (e.g. a team queue); else none (``owner_reason`` says so).

Every rule a unit meets gives one action (rules are listed in priority
order); a unit that meets two rules with the same ``action`` gets it once,
from the first.

Examples
--------
>>> units = pd.DataFrame({"unit_id": ["a", "b"], "group": ["invest", "maintain"], "onboarding_struggle": [1.0, 0.0],
...                       "owner": ["ann", None], "channel_preference": ["phone", None]})
>>> rules = playbook_rules([{"name": "rescue onboarding", "when": {"onboarding_struggle": {"min": 0.5}},
...                          "action": "proactive call", "fallback_channel": "email", "due_days": 3,
...                          "content": "onboarding-training"}])
>>> a = plan_actions(units, rules, as_of="2025-06-30")
>>> a[["unit_id", "action", "owner", "channel", "channel_reason", "due_date"]].values.tolist()
[['a', 'proactive call', 'ann', 'phone', 'preference', '2025-07-03']]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sikta.core.conditions import check_when, describe, matches
from sikta.core.frames import day, require_columns, text_column, unique_ids
from sikta.errors import ModelError

__all__ = ["ACTION_COLUMNS", "PREFERENCE", "Rule", "plan_actions", "playbook_rules"]

PREFERENCE = "preference"
ACTION_COLUMNS = ("unit_id", "rule", "action", "owner", "owner_reason", "channel", "channel_reason", "due_date",
                  "content", "reason")
_KEYS = {"name", "when", "action", "channel", "channels", "fallback_channel", "due_days", "content",
         "fallback_owner"}


@dataclass(frozen=True)
class Rule:
    """One playbook rule (see the module docstring for the fields' meaning)."""

    name: str
    action: str
    when: Mapping[str, Any]
    channel: str = PREFERENCE
    channels: tuple[str, ...] | None = None
    fallback_channel: str | None = None
    due_days: int = 7
    content: str | None = None
    fallback_owner: str | None = None


def _text(value: Any, context: str, what: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ModelError(f"{context}: {what} must be non-empty text, got {value!r}")
    return value.strip()


def playbook_rules(config: Sequence[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """Rules from plain dicts (as a model file holds them), checked, in priority order.

    Examples
    --------
    >>> playbook_rules([{"name": "review", "when": {"group_from": "invest", "group_to": "maintain"},
    ...                  "action": "review meeting", "channel": "meeting", "due_days": 14}])[0].channel
    'meeting'
    >>> try:
    ...     playbook_rules([{"name": "x", "action": "call", "due_days": -1}])
    ... except ModelError as exc:
    ...     print(exc)
    playbook rule 'x': due_days must be a whole number of days >= 0, got -1
    """
    if not isinstance(config, Sequence) or isinstance(config, (str, bytes)):
        raise ModelError("playbook: expected a list of rules")
    rules, seen = [], set()
    for i, raw in enumerate(config, 1):
        if not isinstance(raw, Mapping):
            raise ModelError(f"playbook rule {i}: expected a mapping with name, when and action")
        name = raw.get("name")
        context = f"playbook rule {name!r}" if isinstance(name, str) and name.strip() else f"playbook rule {i}"
        unknown = set(raw) - _KEYS
        if unknown:
            raise ModelError(f"{context}: unknown key {sorted(unknown)[0]!r} (keys: {', '.join(sorted(_KEYS))})")
        name = _text(name, context, "name", required=True)
        if name in seen:
            raise ModelError(f"{context}: the name is used by an earlier rule")
        seen.add(name)
        due = raw.get("due_days", 7)
        if not isinstance(due, int) or isinstance(due, bool) or due < 0:
            raise ModelError(f"{context}: due_days must be a whole number of days >= 0, got {due!r}")
        channels = raw.get("channels")
        if channels is not None:
            if isinstance(channels, str):
                channels = [channels]
            if not isinstance(channels, Sequence) or not channels:
                raise ModelError(f"{context}: channels must be a non-empty list of channel names")
            channels = tuple(_text(c, context, "each of channels").casefold() for c in channels)
        channel = (_text(raw.get("channel", PREFERENCE), context, "channel") or PREFERENCE).casefold()
        fallback = _text(raw.get("fallback_channel"), context, "fallback_channel")
        check_when(raw.get("when"), context)
        rules.append(Rule(
            name=name,
            action=_text(raw.get("action"), context, "action", required=True),
            when=dict(raw.get("when") or {}),
            channel=channel,
            channels=channels,
            fallback_channel=fallback.casefold() if fallback else None,
            due_days=due,
            content=_text(raw.get("content"), context, "content"),
            fallback_owner=_text(raw.get("fallback_owner"), context, "fallback_owner"),
        ))
    return tuple(rules)


def _channels(rule: Rule, pref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel and the reason for it, per unit, under the rule's policy."""
    n = len(pref)
    if rule.channel != PREFERENCE:
        return np.full(n, rule.channel, dtype=object), np.full(n, "fixed by the rule", dtype=object)
    has = np.array([p is not None for p in pref], dtype=bool)
    offered = has if rule.channels is None else np.array([p in rule.channels for p in pref], dtype=bool)
    channel = np.where(offered, pref, rule.fallback_channel).astype(object)
    if rule.fallback_channel:
        miss = np.where(has, "fallback: preference not offered by the rule", "fallback: no preference")
    else:
        miss = np.where(has, "none: preference not offered and no fallback", "none: no preference and no fallback")
    reason = np.where(offered, "preference", miss).astype(object)
    channel[~offered & (rule.fallback_channel is None)] = None
    return channel, reason


def plan_actions(units: pd.DataFrame, rules: Sequence[Rule], *, as_of: Any, owner: str = "owner",
                 channel_preference: str = "channel_preference") -> pd.DataFrame:
    """The actions the rules produce for the units.

    Parameters
    ----------
    units
        One row per unit: ``unit_id`` and every field the rules name; the
        ``owner`` and ``channel_preference`` columns are optional (missing =
        empty for every unit).
    rules
        From :func:`playbook_rules`, in priority order.
    as_of
        The day the actions are planned; ``due_date = as_of + due_days``.
    owner, channel_preference
        The columns holding the unit's owner and preferred channel.

    Returns
    -------
    pandas.DataFrame
        :data:`ACTION_COLUMNS`, one row per action, by unit (input order) then
        rule order: ``due_date`` as ``YYYY-MM-DD`` text, ``reason`` the
        matched condition of the rule (e.g. ``group=invest``).
    """
    require_columns(units, "units", ("unit_id",))
    unique_ids(units, "units", "unit_id")
    start = day(as_of, "as_of")
    n = len(units)
    own = text_column(units, owner) if owner in units.columns else np.full(n, None, dtype=object)
    pref = (np.array([p.casefold() if p else None for p in text_column(units, channel_preference)], dtype=object)
            if channel_preference in units.columns else np.full(n, None, dtype=object))
    parts = []
    for order, rule in enumerate(rules):
        hit = np.flatnonzero(matches(units, rule.when, f"playbook rule {rule.name!r}"))
        if not len(hit):
            continue
        channel, channel_reason = _channels(rule, pref[hit])
        who = own[hit]
        has_owner = np.array([o is not None for o in who], dtype=bool)
        owner_reason = np.where(has_owner, "assignment",
                                "fallback owner of the rule" if rule.fallback_owner else "no owner").astype(object)
        parts.append(pd.DataFrame({
            "_pos": hit,
            "_order": order,
            "unit_id": units["unit_id"].to_numpy()[hit],
            "rule": rule.name,
            "action": rule.action,
            "owner": np.where(has_owner, who, rule.fallback_owner).astype(object),
            "owner_reason": owner_reason,
            "channel": channel,
            "channel_reason": channel_reason,
            "due_date": (start + pd.Timedelta(days=rule.due_days)).strftime("%Y-%m-%d"),
            "content": rule.content,
            "reason": describe(rule.when),
        }))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ACTION_COLUMNS})
    out = pd.concat(parts, ignore_index=True).sort_values(["_pos", "_order"], kind="stable")
    out = out.drop_duplicates(["_pos", "action"], keep="first")
    return out[list(ACTION_COLUMNS)].reset_index(drop=True)
