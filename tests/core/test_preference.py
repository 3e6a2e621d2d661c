"""Preference fit against a declared go-to-market: each component by hand, seed 002's personal-contact case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sikta.core.preference import FITS, NO_FIT, PARTIAL, UNKNOWN, PreferenceFit
from sikta.errors import UsageError

DIGITAL = {"digital_share": "high", "channels": ["digital"], "regions": ["Nordics", "DACH"]}


def test_personal_contact_does_not_fit_a_fully_digital_model():
    """Seed 002: mature, in the market, but wants a field rep -> does not fit, whatever the score."""
    df = pd.DataFrame({"channel_preference": ["field", "digital"], "tech_maturity": [5, 5], "region": ["DACH"] * 2})
    s = PreferenceFit(DIGITAL).fit(df).segments_
    assert s.segment.tolist() == [NO_FIT, FITS]
    assert s.fit_score.iloc[0] == pytest.approx(2 / 3)  # channel 0, tech 1, geography 1
    assert s.reason.iloc[0] == "wants field contact; the go-to-market offers digital only"
    # the same customer fits a model that also offers field sales
    both = PreferenceFit(DIGITAL | {"channels": ["digital", "field"]}).fit(df).segments_
    assert both.segment.tolist() == [FITS, FITS]


def test_tech_component_by_hand():
    df = pd.DataFrame({"tech_maturity": [5, 4, 3, 2, 1, None]})
    pf = PreferenceFit({"digital_share": "high"}).fit(df)
    assert pf.required_maturity_ == 4.0
    # needed 4: gaps 0, 0, 1, 2, 3 -> 1 - gap / 2
    assert pf.segments_.tech_fit.tolist()[:5] == [1.0, 1.0, 0.5, 0.0, 0.0]
    assert pf.segments_.segment.tolist() == [FITS, FITS, PARTIAL, NO_FIT, NO_FIT, UNKNOWN]
    assert "tech maturity 3 below the 4 a 75% digital model needs" == pf.segments_.reason.iloc[2]
    low = PreferenceFit({"digital_share": 0.25}).fit(df).segments_.tech_fit
    assert low.tolist()[:5] == [1.0, 1.0, 1.0, 1.0, 0.5]


def test_geography_weights_and_unknowns():
    df = pd.DataFrame({
        "channel_preference": ["digital", "digital", None, "phone"],
        "tech_maturity": [4, 4, np.nan, np.nan],
        "region": ["CEE", None, None, None],
        "country": [None, "Germany", None, None],
    })
    pf = PreferenceFit(DIGITAL | {"countries": ["Germany"]}, weights={"geography": 2.0}).fit(df)
    s = pf.segments_
    assert s.geography_fit.iloc[:2].tolist() == [0.0, 1.0]
    assert s.fit_score.iloc[0] == pytest.approx((1 + 1 + 0) / 4)  # geography weighs 2
    assert s.reason.iloc[0] == "CEE is outside the markets served (Nordics, DACH and Germany)"
    assert s.segment.iloc[0] == PARTIAL and s.segment.iloc[1] == FITS  # geography is not a must-match
    assert s.segment.iloc[2] == UNKNOWN and math.isnan(s.fit_score.iloc[2])
    assert s.segment.iloc[3] == NO_FIT  # phone only: the must-match channel is 0
    assert any(n.startswith("tech: unknown for 2 of 4 units") for n in pf.notes_)
    p = pf.profiles_.set_index("segment")
    assert p.n_units.sum() == 4 and p.loc[NO_FIT, "n_units"] == 1


def test_must_match_can_be_relaxed():
    df = pd.DataFrame({"channel_preference": ["phone"], "tech_maturity": [5], "region": ["Nordics"]})
    s = PreferenceFit(DIGITAL, must_match=()).fit(df).segments_
    assert s.segment.item() == PARTIAL and s.fit_score.item() == pytest.approx(2 / 3)


@pytest.mark.parametrize(("gtm", "match"), [
    ({}, "declare the go-to-market"),
    ({"chanels": ["digital"]}, "unknown go-to-market key 'chanels'"),
    ({"digital_share": "very high"}, "digital_share"),
    ({"digital_share": 1.5}, "digital_share"),
    ({"channels": "digital"}, "list of names"),
])
def test_bad_go_to_market(gtm, match):
    with pytest.raises(UsageError, match=match):
        PreferenceFit(gtm).fit(pd.DataFrame({"tech_maturity": [3]}))
