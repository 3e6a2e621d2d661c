"""Planted truth of the synthetic generator, lined up with feature units, for the scheme tests.

At ``department`` grain every account is its own unit, so ``truth.parquet``
maps one to one. At ``account`` grain a legal entity's departments roll into
it: the unit's survey answers are the mean over the members that answered,
so its true needs segment is theirs (units whose answering members disagree
have none), not the head account's own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def truth(data_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(data_dir) / "truth.parquet").set_index("account_id")


def survey_answers(data_dir: Path) -> pd.DataFrame:
    """need_* items per answering account (a contact's answer counts for the contact's account), long form."""
    d = Path(data_dir)
    sr = pd.read_parquet(d / "survey_responses.parquet")
    contacts = pd.read_parquet(d / "contacts.parquet")[["contact_id", "account_id"]]
    sr = sr[sr["item"].str.startswith("need_")]
    sr = sr.merge(contacts.rename(columns={"account_id": "contact_account"}), on="contact_id", how="left")
    sr["account"] = sr["account_id"].fillna(sr["contact_account"])
    return sr[["account", "item", "value"]]


def need_means(data_dir: Path) -> pd.DataFrame:
    """Independent of the engine: mean answer per account and item, with the planted segment."""
    wide = survey_answers(data_dir).pivot_table(index="account", columns="item", values="value", aggfunc="mean")
    return wide.join(truth(data_dir)[["needs_segment"]])


def answering_truth(data_dir: Path, hierarchy: pd.DataFrame, grain_column: str = "account_unit_id") -> pd.Series:
    """Needs segment per unit from the members that answered; None where they disagree."""
    who = survey_answers(data_dir)[["account"]].drop_duplicates()
    who = who.merge(hierarchy[["account_id", grain_column]], left_on="account", right_on="account_id")
    who["segment"] = truth(data_dir).needs_segment.reindex(who["account"]).to_numpy()
    return who.groupby(grain_column)["segment"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else None)
