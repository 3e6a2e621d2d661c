"""Firmographic rules: band edges, the higher-tier rule, configurable bands, the nuance note."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sikta.core.firmographic import NOTE, UNKNOWN_SIZE, FirmographicSegmenter
from sikta.errors import UsageError


def test_band_edges_and_the_higher_tier_rule():
    df = pd.DataFrame({
        "employees": [99, 100, 999, 1000, None, None, 20, -5],
        "annual_revenue": [None, None, None, None, 49_999_999.0, 1e9, 5e8, None],
        "industry": ["Retail"] * 8,
    })
    s = FirmographicSegmenter().fit(df).segments_
    assert s.tier.tolist() == ["SMB", "mid-market", "mid-market", "enterprise", "SMB", "enterprise", "mid-market",
                               UNKNOWN_SIZE]
    assert s.tier_by.tolist() == ["employees"] * 4 + ["annual_revenue"] * 2 + ["both", "none"]
    assert s.segment.iloc[6] == "mid-market × Retail"  # 20 employees but 500 million turnover


def test_configurable_bands_names_and_verticals():
    df = pd.DataFrame({"employees": [5, 50, 500], "annual_revenue": np.nan,
                       "industry": ["Banking", "Insurance", "Steel"], "region": ["DACH", None, "Nordics"]})
    seg = FirmographicSegmenter(
        by=("tier", "vertical", "region"), employee_bands=(10, 200), tier_names=("small", "medium", "large"),
        verticals={"Banking": "Financial", "Insurance": "Financial"},
    ).fit(df)
    assert seg.segments_.segment.tolist() == ["small × Financial × DACH", "medium × Financial × unknown region",
                                              "large × Steel × Nordics"]
    assert seg.profiles_.set_index("segment").loc["large × Steel × Nordics", "description"].startswith(
        "large (200+ employees or 1 billion+ turnover)")


def test_small_cells_are_pooled_per_tier():
    df = pd.DataFrame({"employees": [10] * 6 + [10, 500], "industry": ["Retail"] * 6 + ["Mining", "Mining"]})
    s = FirmographicSegmenter(min_size=3).fit(df).segments_.segment
    assert s.tolist() == ["SMB × Retail"] * 6 + ["SMB × other", "mid-market × other"]


def test_the_note_and_what_is_missing():
    df = pd.DataFrame({"employees": [10, None], "industry": [None, "Retail"]})
    seg = FirmographicSegmenter().fit(df)
    assert seg.note_ == NOTE and "lack nuance on their own" in NOTE
    assert seg.notes_[0] == NOTE
    assert any("1 of 2 units (50%) have neither employees nor annual revenue" in n for n in seg.notes_)
    assert any("have no industry" in n for n in seg.notes_)
    p = seg.profiles_
    assert p.n_units.sum() == 2 and p.share.sum() == pytest.approx(1.0)


def test_refusals():
    df = pd.DataFrame({"employees": [10], "industry": ["x"]})
    with pytest.raises(UsageError, match="edges"):
        FirmographicSegmenter(employee_bands=(100,)).fit(df)
    with pytest.raises(UsageError, match="increasing"):
        FirmographicSegmenter(employee_bands=(1000, 100)).fit(df)
    with pytest.raises(UsageError, match="by must name"):
        FirmographicSegmenter(by=("size",)).fit(df)
    with pytest.raises(UsageError, match="no such column"):
        FirmographicSegmenter(by=("tier", "region")).fit(df)
    with pytest.raises(UsageError, match="employees or an annual_revenue"):
        FirmographicSegmenter().fit(pd.DataFrame({"industry": ["x"]}))
    with pytest.raises(UsageError, match="not numeric"):
        FirmographicSegmenter().fit(pd.DataFrame({"employees": ["many"]}))
