"""Needs segments: planted needs recovered (ARI against the generator's truth), no-answer units labelled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from sikta.core.needs import NO_ANSWERS, TOO_FEW, NeedsSegmenter
from sikta.errors import DataTooThinError, UsageError
from tests.core import _synthetic as syn


def three_groups(n=60, seed=0):
    """Price-, support- and speed-minded answerers on a 1-5 scale, rounded like a survey."""
    rng = np.random.default_rng(seed)
    profiles = {"price": [4.7, 2.0, 2.5], "support": [2.0, 4.7, 2.5], "speed": [2.5, 2.5, 4.8]}
    rows, truth = [], []
    for name, mu in profiles.items():
        rows.append(np.clip(np.round(np.asarray(mu) + rng.normal(0, 0.5, (n, 3))), 1, 5))
        truth += [name] * n
    df = pd.DataFrame(np.vstack(rows), columns=["need_price", "need_support", "need_speed"])
    return df, np.array(truth)


def test_clusters_and_words_on_hand_made_answers():
    df, truth = three_groups()
    seg = NeedsSegmenter(n_bootstrap=8).fit(df)
    assert seg.clusterer_.n_clusters_ == 3
    assert adjusted_rand_score(truth, seg.segments_.cluster) > 0.95
    labels = dict(zip(truth, seg.segments_.segment))
    assert labels == {"price": "values price", "support": "values support", "speed": "values speed"}
    p = seg.profiles_.set_index("segment")
    # z of price in the price cluster, by hand: (cluster mean - overall mean) / overall sample SD
    x = df.need_price
    in_price = seg.segments_.segment == "values price"
    assert p.loc["values price", "z_need_price"] == pytest.approx((x[in_price].mean() - x.mean()) / x.std(ddof=1))
    assert p.loc["values price", "description"].startswith("values price;")
    head, tail = p.loc["values support", "description"].split("; ")
    assert head == "values support" and "price" in tail and tail.endswith("little")
    assert p.n_units.sum() == len(df)


def test_units_without_answers_are_labelled_not_imputed():
    df, _ = three_groups()
    blank = pd.DataFrame(np.nan, index=range(40), columns=df.columns)
    one = pd.DataFrame({"need_price": [5.0] * 5, "need_support": np.nan, "need_speed": np.nan})
    full = pd.concat([df, blank, one], ignore_index=True)
    seg = NeedsSegmenter(n_bootstrap=8).fit(full)
    s = seg.segments_
    assert (s.segment.iloc[180:220] == NO_ANSWERS).all() and (s.cluster.iloc[180:220] == -1).all()
    assert (s.segment.iloc[220:] == TOO_FEW).all()  # 1 of 3 items < half
    assert seg.n_no_answers_ == 40 and seg.n_too_few_ == 5 and seg.n_complete_ == 180
    # the clusters are the same as without the blank rows: nothing was filled in
    alone = NeedsSegmenter(n_bootstrap=8).fit(df)
    assert np.array_equal(s.cluster.iloc[:180].to_numpy(), alone.segments_.cluster.to_numpy())
    assert any("40 of 225 units" in n and "not imputed" in n for n in seg.notes_)
    p = seg.profiles_.set_index("segment")
    assert p.loc[NO_ANSWERS, "n_units"] == 40 and p.loc[NO_ANSWERS, "share"] == pytest.approx(40 / 225)


def test_partial_answers_are_placed_on_what_they_answered():
    df, truth = three_groups()
    partial = pd.DataFrame({"need_price": [np.nan, 5.0], "need_support": [5.0, 1.0], "need_speed": [2.0, np.nan]})
    seg = NeedsSegmenter(n_bootstrap=8).fit(pd.concat([df, partial], ignore_index=True))
    assert seg.n_partial_ == 2
    assert seg.segments_.segment.iloc[-2:].tolist() == ["values support", "values price"]
    assert seg.segments_.n_answered.iloc[-2:].tolist() == [2, 2]
    # partial rows take no part in forming the clusters
    assert len(seg.clusterer_.labels_) == len(df)


def test_pain_items_read_as_struggles():
    df, _ = three_groups()
    noise = np.random.default_rng(1).normal(0, .3, len(df))
    df["pain_onboarding"] = np.where(np.arange(len(df)) >= 120, 4.5, 1.5) + noise
    seg = NeedsSegmenter(n_bootstrap=8).fit(df)
    text = seg.profiles_.set_index("segment").description
    assert any("struggles with onboarding" in t for t in text)


def test_refusals():
    df, _ = three_groups()
    with pytest.raises(DataTooThinError, match="no survey answers at all"):
        NeedsSegmenter().fit(df.rename(columns=lambda c: c.replace("need_", "x_")))
    thin = pd.concat([df.head(8), pd.DataFrame(np.nan, index=range(300), columns=df.columns)], ignore_index=True)
    with pytest.raises(DataTooThinError, match="8 of 308 units answered every survey item"):
        NeedsSegmenter().fit(thin)
    with pytest.raises(UsageError, match="no column 'need_x'"):
        NeedsSegmenter(columns=["need_x"]).fit(df)
    with pytest.raises(UsageError, match="min_answered"):
        NeedsSegmenter(min_answered=0).fit(df)
    with pytest.raises(UsageError, match="not numeric"):
        NeedsSegmenter().fit(df.assign(need_price="high"))


# -- planted truth of the synthetic generator -------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_the_planted_needs_segments(tmp_path, seed):
    """Default settings, several seeds; answers averaged per account straight from the exports."""
    from sikta.synth import generate

    generate(tmp_path, accounts=2000, seed=seed, lines_per_account=3)
    answers = syn.need_means(tmp_path)
    items = [c for c in answers.columns if c.startswith("need_")]
    seg = NeedsSegmenter().fit(answers[items])
    ari = adjusted_rand_score(answers.needs_segment, seg.segments_.cluster)
    assert seg.clusterer_.n_clusters_ == 5
    assert ari >= 0.8, ari


def test_recovers_them_from_the_feature_table(synthetic_3000):
    """Through ingest and the engine's need_* features, at department and at account grain."""
    d, ws = synthetic_3000
    dept = ws.store.frame(ws.features(grain="department")).set_index("unit_id")
    items = [c for c in dept.columns if c.startswith("need_")]
    seg = NeedsSegmenter().fit(dept[items])
    placed = seg.segments_.cluster >= 0
    truth = syn.truth(d / "data").needs_segment.reindex(dept.index)
    assert adjusted_rand_score(truth[placed], seg.segments_.cluster[placed]) >= 0.8
    assert (seg.segments_.segment[~placed] == NO_ANSWERS).all()

    acct = ws.store.frame(ws.features(grain="account")).set_index("unit_id")
    seg = NeedsSegmenter().fit(acct[items])
    hierarchy = ws.store.frame(ws.store.table("_sikta_hierarchy"))
    truth = syn.answering_truth(d / "data", hierarchy).reindex(acct.index)
    ok = (seg.segments_.cluster >= 0) & truth.notna()
    assert ok.sum() > 0.85 * (seg.segments_.cluster >= 0).sum()  # few units mix members of different segments
    assert adjusted_rand_score(truth[ok], seg.segments_.cluster[ok]) >= 0.8
