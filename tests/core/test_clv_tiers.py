"""Value tiers A/B/C: hand-made cases and the Pareto A/B/C classes of the customer analysis as a reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sikta.core.clv import tier_summary, value_tiers
from sikta.core.pareto import pareto
from sikta.errors import UsageError


def test_by_hand():
    # 100 in all: before each unit 0, 50, 80, 95 → A, A (crosses 80), B (crosses 95), C
    got = value_tiers([30.0, 50.0, 5.0, 15.0], ["b", "a", "d", "c"])
    assert got.tolist() == ["A", "A", "C", "B"]


def test_worthless_units_are_c_and_unknown_ones_have_no_tier():
    got = value_tiers([10.0, 0.0, -5.0, None, float("nan")], list("vwxyz"))
    assert got.tolist() == ["A", "C", "C", None, None]
    assert value_tiers([None, -1.0]).tolist() == [None, "C"]


def test_ties_are_broken_by_unit_id_whatever_the_input_order():
    a = value_tiers([10.0, 10.0, 10.0], ["z", "y", "x"], a=0.3, b=0.6)
    assert dict(zip("zyx", a, strict=True)) == {"x": "A", "y": "B", "z": "C"}


def test_thresholds_are_checked():
    with pytest.raises(UsageError, match="0 < a < b < 1"):
        value_tiers([1.0], a=0.9, b=0.8)
    with pytest.raises(UsageError, match="one unit id per value"):
        value_tiers([1.0, 2.0], ["a"])


@given(st.lists(st.floats(-50, 1000, allow_nan=False), min_size=1, max_size=60),
       st.floats(0.05, 0.6), st.floats(0.05, 0.35))
def test_same_classes_as_the_pareto_analysis(values, a, gap):
    b = min(a + gap, 0.99)
    ids = [f"u{i:03d}" for i in range(len(values))]
    got = dict(zip(ids, value_tiers(values, ids, a=a, b=b), strict=True))
    positive = pd.Series(values, index=ids)
    if not (positive > 0).any():
        assert set(got.values()) == {"C"}
        return
    ref = pareto(positive, a=a, b=b).curve.set_index("unit_id")["abc"]
    for uid, tier in got.items():
        assert tier == (ref[uid] if uid in ref.index else "C")


def test_summary_shares():
    s = tier_summary(["A", "A", "B", "C", None], [50.0, 30.0, 15.0, -5.0, None])
    assert s["A"] == {"units": 2, "value": 80.0, "share_units": 0.5, "share_value": 80 / 95}
    assert s["C"]["value"] == -5.0 and s["C"]["units"] == 1
    assert sum(v["units"] for v in s.values()) == 4
    assert np.isclose(sum(v["share_units"] for v in s.values()), 1.0)
