"""Playbook rules → actions: conditions, transitions, channel policy, owners, due dates, duplicates."""

from __future__ import annotations

import pandas as pd
import pytest

from sikta.core.playbook import ACTION_COLUMNS, plan_actions, playbook_rules
from sikta.errors import InputError, ModelError

UNITS = pd.DataFrame({
    "unit_id": ["u1", "u2", "u3", "u4"],
    "group": ["invest", "maintain", "maintain", "qualify"],
    "group_from": ["invest", "invest", None, "qualify"],
    "group_to": ["invest", "maintain", "maintain", "qualify"],
    "onboarding_struggle": [1.0, 0.0, 0.5, 1.0],
    "owner": ["ann", "bob", None, "ann"],
    "channel_preference": ["Phone", "email", "field", None],
})

RULES = playbook_rules([
    {"name": "onboarding rescue", "when": {"onboarding_struggle": {"min": 0.5}}, "action": "training offer",
     "channels": ["phone", "email"], "fallback_channel": "email", "due_days": 5, "content": "onboarding-training"},
    {"name": "onboarding call", "when": {"onboarding_struggle": 1}, "action": "proactive call", "channel": "phone",
     "due_days": 2},
    {"name": "downgrade review", "when": {"group_from": "invest", "group_to": "maintain"},
     "action": "review meeting", "channel": "meeting", "due_days": 14, "fallback_owner": "cs-queue"},
    {"name": "same training again", "when": {"group": "invest"}, "action": "training offer", "due_days": 1},
])


def test_actions_by_hand():
    a = plan_actions(UNITS, RULES, as_of="2025-03-28")
    assert list(a.columns) == list(ACTION_COLUMNS)
    got = a[["unit_id", "rule", "owner", "channel", "channel_reason", "due_date"]].values.tolist()
    assert got == [
        # u1 struggles (1.0): training by phone (its preference, offered), and the fixed-channel call;
        # "same training again" repeats the training action: dropped, the first rule wins
        ["u1", "onboarding rescue", "ann", "phone", "preference", "2025-04-02"],
        ["u1", "onboarding call", "ann", "phone", "fixed by the rule", "2025-03-30"],
        # u2 moved from invest to maintain: a review meeting
        ["u2", "downgrade review", "bob", "meeting", "fixed by the rule", "2025-04-11"],
        # u3 struggles a little (0.5): prefers field, which the rule does not offer -> fallback email; no owner
        ["u3", "onboarding rescue", None, "email", "fallback: preference not offered by the rule", "2025-04-02"],
        # u4 has no preference -> fallback
        ["u4", "onboarding rescue", "ann", "email", "fallback: no preference", "2025-04-02"],
        ["u4", "onboarding call", "ann", "phone", "fixed by the rule", "2025-03-30"],
    ]
    assert a.loc[a["unit_id"] == "u3", "owner_reason"].item() == "no owner"
    assert a.loc[a["rule"] == "onboarding rescue", "content"].unique().tolist() == ["onboarding-training"]
    assert a.loc[a["unit_id"] == "u2", "reason"].item() == "group_from=invest, group_to=maintain"


def test_fallback_owner_for_units_without_an_owner():
    units = UNITS.assign(owner=[None] * 4)
    a = plan_actions(units, RULES, as_of="2025-03-28")
    review = a[a["rule"] == "downgrade review"].iloc[0]
    assert review["owner"] == "cs-queue" and review["owner_reason"] == "fallback owner of the rule"


def test_no_fallback_channel_leaves_the_channel_empty_and_says_why():
    rules = playbook_rules([{"name": "r", "when": {}, "action": "check in", "channels": ["email"]}])
    a = plan_actions(UNITS, rules, as_of="2025-01-01").set_index("unit_id")
    assert a.loc["u2", "channel"] == "email"
    assert a.loc["u1", "channel"] is None and a.loc["u1", "channel_reason"].startswith("none: preference not offered")
    assert a.loc["u4", "channel_reason"] == "none: no preference and no fallback"


def test_units_without_owner_or_preference_columns():
    a = plan_actions(UNITS[["unit_id", "group"]], playbook_rules([{"name": "r", "when": {"group": "invest"},
                                                                    "action": "x", "fallback_channel": "email"}]),
                     as_of="2025-01-01")
    assert a[["unit_id", "owner", "channel"]].values.tolist() == [["u1", None, "email"]]


def test_nothing_matches():
    a = plan_actions(UNITS, playbook_rules([{"name": "r", "when": {"group": "deprioritized"}, "action": "x"}]),
                     as_of="2025-01-01")
    assert a.empty and list(a.columns) == list(ACTION_COLUMNS)


@pytest.mark.parametrize(("rules", "message"), [
    ([{"when": {}, "action": "x"}], "playbook rule 1: name must be non-empty text"),
    ([{"name": "a", "action": "x"}, {"name": "a", "action": "y"}], "the name is used by an earlier rule"),
    ([{"name": "a"}], "playbook rule 'a': action must be non-empty text"),
    ([{"name": "a", "action": "x", "due": 3}], "unknown key 'due'"),
    ([{"name": "a", "action": "x", "channels": []}], "channels must be a non-empty list"),
    ([{"name": "a", "action": "x", "when": "invest"}], "'when' must map fields"),
    ({"name": "a"}, "expected a list of rules"),
])
def test_bad_rules(rules, message):
    with pytest.raises(ModelError, match=message):
        playbook_rules(rules)


def test_a_rule_on_an_unknown_field_names_it():
    rules = playbook_rules([{"name": "a", "action": "x", "when": {"segmnt": "b"}}])
    with pytest.raises(ModelError, match="playbook rule 'a': no field 'segmnt'"):
        plan_actions(UNITS, rules, as_of="2025-01-01")
    with pytest.raises(InputError, match="is not a date"):
        plan_actions(UNITS, rules, as_of="someday")
