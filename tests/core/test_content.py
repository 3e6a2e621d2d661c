"""Content by context: seed 000's rules, reasons, ranking and the explanation of withheld items."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sikta.core.content import match_content, needs_from_scores, size_band

CATALOG = pd.DataFrame({
    "item_id": ["smb-pricing", "enterprise-security", "onboarding-kit", "crm-upkeep", "warehouse-efficiency",
                "newsletter", "growth-webinar"],
    "title": ["SMB pricing", "Security", "Onboarding kit", "CRM upkeep", "Warehouse", "News", "Webinar"],
    "size_band": ["small", "large", None, None, None, None, None],
    "lifecycle_stage": [None, None, "onboarding", None, None, None, None],
    "need": [None, None, None, "crm", "logistics", None, None],
    "segment": [None, None, None, None, None, None, "growth|scale"],
    "channel": [None, None, None, "email", None, None, "webinar;email"],
})
UNITS = pd.DataFrame({
    "unit_id": ["bigco", "newsmall", "oldsmall"],
    "size_band": ["large", "small", "small"],
    "lifecycle_stage": ["established", "onboarding", "established"],
    "segment": ["growth", "core", None],
    "needs": [["crm"], "logistics;crm", None],
    "channel_preference": ["email", None, "phone"],
})


def items(result, unit):
    return result.loc[result["unit_id"] == unit, "item_id"].tolist()


def test_seed_rules():
    m = match_content(UNITS, CATALOG)
    # a large company never gets small-business content
    assert "smb-pricing" not in items(m, "bigco") and "smb-pricing" in items(m, "newsmall")
    # onboarding content only to onboarding accounts, not to long-standing ones
    assert items(m, "newsmall").count("onboarding-kit") == 1
    assert "onboarding-kit" not in items(m, "bigco") + items(m, "oldsmall")
    # needs segments get items for their needs, and not for needs they do not have
    assert "crm-upkeep" in items(m, "bigco") and "warehouse-efficiency" not in items(m, "bigco")
    assert {"crm-upkeep", "warehouse-efficiency"} <= set(items(m, "newsmall"))
    assert not {"crm-upkeep", "warehouse-efficiency"} & set(items(m, "oldsmall"))


def test_ranking_and_reasons_by_hand():
    m = match_content(UNITS, CATALOG)
    big = m[m["unit_id"] == "bigco"].set_index("item_id")
    # crm-upkeep: need (1) + preferred channel email (1) = 2; growth-webinar: segment (1) + email (1) = 2;
    # enterprise-security: size (1); newsletter: general (0). Ties by catalog order.
    assert big.index.tolist() == ["crm-upkeep", "growth-webinar", "enterprise-security", "newsletter"]
    assert big["score"].tolist() == [2, 2, 1, 0] and big["rank"].tolist() == [1, 2, 3, 4]
    assert big.loc["crm-upkeep", "reason"] == "need=crm; channel=email (preferred)"
    assert big.loc["growth-webinar", "reason"] == "segment=growth; channel=email (preferred)"
    assert big.loc["newsletter", "reason"] == "general item (no tags for this unit)"
    assert big.loc["crm-upkeep", "title"] == "CRM upkeep"
    new = m[m["unit_id"] == "newsmall"].set_index("item_id")
    assert new.loc["warehouse-efficiency", "reason"] == "need=logistics"
    # a channel that is not preferred ranks lower but is not withheld
    assert "crm-upkeep" in new.index and new.loc["crm-upkeep", "score"] == 1


def test_limit_keeps_the_best():
    m = match_content(UNITS, CATALOG, limit=2)
    assert items(m, "bigco") == ["crm-upkeep", "growth-webinar"]
    assert m.groupby("unit_id").size().max() == 2


def test_explain_lists_withheld_items_with_the_reason():
    m = match_content(UNITS[UNITS["unit_id"] == "bigco"], CATALOG, explain=True).set_index("item_id")
    assert len(m) == len(CATALOG)
    assert not m.loc["smb-pricing", "fits"] and pd.isna(m.loc["smb-pricing", "rank"])
    assert m.loc["smb-pricing", "reason"] == "size_band: for small, the unit is large"
    assert m.loc["onboarding-kit", "reason"] == "lifecycle_stage: for onboarding, the unit is established"
    assert m.loc["warehouse-efficiency", "reason"] == "need: for logistics, the unit needs crm"
    assert m.loc["newsletter", "fits"]


def test_missing_unit_values_do_not_match_tagged_items():
    units = pd.DataFrame({"unit_id": ["x"]})
    m = match_content(units, CATALOG, explain=True).set_index("item_id")
    assert m.loc["smb-pricing", "reason"] == "size_band: for small, the unit is empty"
    assert m.loc["crm-upkeep", "reason"] == "need: for crm, the unit needs none"
    assert m.index[m["fits"]].tolist() == ["newsletter"]


def test_size_bands_and_needs_helpers():
    assert size_band([0, 49, 50, 999, 1000, 10**6, None, "n/a"]).tolist() == [
        "small", "small", "mid", "mid", "large", "large", None, None]
    custom = size_band([10, 300], bands=[("s", 0, 100), ("l", 100, None)])
    assert custom.tolist() == ["s", "l"]
    df = pd.DataFrame({"need_crm": [5, 3.9, None], "need_hr": [4, 4.5, 1], "other": [9, 9, 9]})
    assert needs_from_scores(df).tolist() == [["crm", "hr"], ["hr"], []]
    assert needs_from_scores(df, threshold=3.5).tolist()[1] == ["crm", "hr"]


def test_against_a_plain_loop_on_random_contexts():
    rng = np.random.default_rng(5)
    n = 400
    units = pd.DataFrame({
        "unit_id": [f"u{i}" for i in range(n)],
        "size_band": rng.choice(["small", "mid", "large", None], n),
        "lifecycle_stage": rng.choice(["onboarding", "established"], n),
        "needs": [list(rng.choice(["crm", "hr", "ops"], rng.integers(0, 3), replace=False)) for _ in range(n)],
    })
    got = match_content(units, CATALOG.assign(need=[None, None, None, "crm", "ops|hr", None, None]))
    for u in units.to_dict("records"):
        want = []
        for it in CATALOG.assign(need=[None, None, None, "crm", "ops|hr", None, None]).to_dict("records"):
            if it["size_band"] and it["size_band"] != u["size_band"]:
                continue
            if it["lifecycle_stage"] and it["lifecycle_stage"] != u["lifecycle_stage"]:
                continue
            if it["need"] and not set(it["need"].split("|")) & set(u["needs"]):
                continue
            if it["segment"]:  # no unit has a segment here
                continue
            want.append(it["item_id"])
        assert sorted(items(got, u["unit_id"])) == sorted(want), u
