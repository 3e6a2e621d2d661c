"""Layering two schemes into cross segments."""

from __future__ import annotations

import pandas as pd
import pytest

from sikta.core.layering import layer, layer_table
from sikta.errors import UsageError


def test_cross_labels_by_position_and_by_index():
    assert layer(["enterprise", "SMB"], ["values support", "no answers"]).tolist() == [
        "enterprise × values support", "SMB × no answers"]
    a = pd.Series(["SMB", "enterprise"], index=["u2", "u1"])
    b = pd.Series(["price", "support"], index=["u1", "u2"])
    out = layer(a, b)
    assert out.to_dict() == {"u2": "SMB × support", "u1": "enterprise × price"}


def test_missing_labels_and_pooling():
    out = layer(["SMB", None, "SMB", "SMB"], ["a", "a", float("nan"), "b"], min_size=2)
    # every cell has one unit: all pooled into '<first> × other'
    assert out.tolist() == ["SMB × other", "unknown × other", "SMB × other", "SMB × other"]


def test_layer_table_shares():
    t = layer_table(["SMB"] * 3 + ["enterprise"], ["a", "a", "b", "b"]).set_index(["first", "second"])
    assert t.loc[("SMB", "a"), "n_units"] == 2 and t.loc[("SMB", "a"), "share_of_first"] == pytest.approx(2 / 3)
    assert t.loc[("enterprise", "b"), "share_of_first"] == 1.0
    assert t.n_units.sum() == 4


def test_refusals():
    with pytest.raises(UsageError, match="2 labels in the first scheme but 3"):
        layer(["a", "b"], ["x", "y", "z"])
    with pytest.raises(UsageError, match="different units"):
        layer(pd.Series(["a"], index=["u1"]), pd.Series(["x"], index=["u9"]))
    with pytest.raises(UsageError, match="min_size"):
        layer(["a"], ["b"], min_size=-1)
