"""The rule language: every form of allowed value, empty cells, lists in cells, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sikta.core.conditions import check_when, describe, first_match, matches
from sikta.errors import ModelError

UNITS = pd.DataFrame({
    "group": ["invest", "Maintain ", None, "qualify"],
    "score": [0.9, 0.5, np.nan, 0.2],
    "segment": [1, "2", "3", None],
    "needs": [["integration", "training"], [], None, ("reporting",)],
    "flag": [True, False, True, 1.0],
})


def test_values_lists_and_case():
    assert matches(UNITS, {"group": "invest"}).tolist() == [True, False, False, False]
    assert matches(UNITS, {"group": ["maintain", "qualify"]}).tolist() == [False, True, False, True]


def test_empty_cells_match_only_none():
    assert matches(UNITS, {"group": None}).tolist() == [False, False, True, False]
    assert matches(UNITS, {"group": [None, "invest"]}).tolist() == [True, False, True, False]


def test_numbers_compare_as_numbers_across_types():
    # 1 (int), "2" (text from a CSV) and 3.0 all compare numerically; True equals 1
    assert matches(UNITS, {"segment": [1.0, 2]}).tolist() == [True, True, False, False]
    assert matches(UNITS, {"flag": 1}).tolist() == [True, False, True, True]


def test_ranges_are_closed_and_skip_empty_cells():
    assert matches(UNITS, {"score": {"min": 0.5}}).tolist() == [True, True, False, False]
    assert matches(UNITS, {"score": {"min": 0.2, "max": 0.5}}).tolist() == [False, True, False, True]


def test_list_cells_match_any_item():
    assert matches(UNITS, {"needs": "training"}).tolist() == [True, False, False, False]
    assert matches(UNITS, {"needs": ["reporting", "integration"]}).tolist() == [True, False, False, True]
    # an empty list and an empty cell both count as empty
    assert matches(UNITS, {"needs": None}).tolist() == [False, True, True, False]


def test_all_entries_must_hold_and_empty_when_matches_all():
    assert matches(UNITS, {"group": ["invest", "qualify"], "score": {"max": 0.5}}).tolist() == [False, False, False, True]
    assert matches(UNITS, {}).all() and matches(UNITS, None).all()


def test_first_match():
    hit = first_match(UNITS, [{"score": {"min": 0.8}}, {"score": {"min": 0.4}}, {"group": None}])
    assert hit.tolist() == [0, 1, 2, -1]


def test_describe():
    assert describe({"group": "invest"}) == "group=invest"
    assert describe({"score": {"min": 0.2, "max": 0.5}, "owner": None}) == "0.2 ≤ score ≤ 0.5, owner=(empty)"
    assert describe(None) == "all units"


@pytest.mark.parametrize(("when", "message"), [
    ("invest", "'when' must map fields to allowed values"),
    ({"grp": "x"}, "no field 'grp' in the unit rows"),
    ({"score": {"above": 1}}, "a range takes 'min' and/or 'max'"),
    ({"score": {"min": "high"}}, "min must be a number"),
    ({"score": {"min": 2, "max": 1}}, "min 2 is above max 1"),
    ({"group": []}, "allows no value"),
    ({"group": [["a"]]}, "allowed values must be plain values"),
])
def test_bad_conditions_are_model_errors(when, message):
    with pytest.raises(ModelError, match=message) as info:
        matches(UNITS, when, "rule 'r1'")
    assert str(info.value).startswith("rule 'r1': ") and "\n" not in str(info.value)


def test_check_when_without_fields_does_not_know_columns():
    assert check_when({"anything": 1}, "x") == {"anything": frozenset({1.0})}
