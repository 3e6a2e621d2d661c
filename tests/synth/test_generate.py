"""The synthetic generator: contract schema, determinism and the planted patterns."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sikta.engine.contract import CONTRACT
from sikta.errors import UsageError
from sikta.synth import GenerateSummary, generate
from sikta.synth.writer import contract_schema

from ._reference import load_dir, quarantine

N = 1500
END = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> tuple[GenerateSummary, list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []
    out = tmp_path_factory.mktemp("synth_clean")
    summary = generate(out, accounts=N, seed=7, chunk_size=600, progress=lambda d, t: calls.append((d, t)))
    return summary, calls


@pytest.fixture(scope="module")
def data(gen) -> dict[str, pd.DataFrame]:
    summary, _ = gen
    return {t: pq.read_table(p).to_pandas() for t, p in summary.files.items()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- files, schema, determinism -------------------------------------------------


def test_summary_files_rows_and_progress(gen):
    summary, calls = gen
    assert set(summary.files) == set(CONTRACT) | {"truth"}
    for table, path in summary.files.items():
        assert path.exists() and path.suffix == ".parquet"
        assert pq.ParquetFile(path).metadata.num_rows == summary.rows[table]
    assert summary.rows["accounts"] == summary.rows["truth"] == N
    assert not (summary.out_dir / "dirty_manifest.json").exists()
    assert summary.dirty_injected == {}
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_parquet_schema_matches_contract_exactly(gen):
    summary, _ = gen
    types = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "date": pa.date32(),
             "timestamp": pa.timestamp("us")}  # fmt: skip
    for table, tc in CONTRACT.items():
        schema = pq.read_schema(summary.files[table])
        assert schema.names == [c.name for c in tc.columns], table
        assert [f.type for f in schema] == [types[c.dtype] for c in tc.columns], table
        assert schema.equals(contract_schema(table)), table


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a = generate(tmp_path / "a", accounts=300, seed=11, chunk_size=150, lines_per_account=20)
    b = generate(tmp_path / "b", accounts=300, seed=11, chunk_size=150, lines_per_account=20)
    c = generate(tmp_path / "c", accounts=300, seed=12, chunk_size=150, lines_per_account=20)
    assert set(a.files) == set(b.files) == set(c.files)
    for table in a.files:
        assert _sha(a.files[table]) == _sha(b.files[table]), table
        assert _sha(a.files[table]) != _sha(c.files[table]), table


def test_order_lines_are_calibrated_to_lines_per_account(gen, tmp_path):
    summary, _ = gen
    assert 0.85 * 100 * N <= summary.rows["orders"] <= 1.15 * 100 * N
    small = generate(tmp_path, accounts=N, seed=7, chunk_size=600, lines_per_account=20)
    assert 0.85 * 20 * N <= small.rows["orders"] <= 1.15 * 20 * N


def test_clean_data_breaks_no_contract_rule(gen):
    summary, _ = gen
    bad = quarantine(load_dir(summary.out_dir, "parquet"))
    assert {t: int(m.sum()) for t, m in bad.items()} == {t: 0 for t in CONTRACT}


# --- accounts and hierarchy --------------------------------------------------------


def test_status_shares(data):
    share = data["accounts"]["status"].value_counts(normalize=True)
    assert 0.25 <= share["prospect"] <= 0.35
    assert 0.08 <= share["former"] <= 0.17
    assert share["customer"] >= 0.45


def test_account_ids_are_sequential_over_chunks(data):
    ids = data["accounts"]["account_id"]
    assert ids.tolist() == [f"A{i:07d}" for i in range(1, N + 1)]


def test_hierarchy_is_a_forest_with_deep_trees(data):
    acc = data["accounts"]
    parent = dict(zip(acc["account_id"], acc["parent_account_id"]))
    assert acc["parent_account_id"].dropna().isin(acc["account_id"]).all()

    def depth(a: str) -> int:
        d = 0
        while not pd.isna(parent[a]) and d <= 10:
            a, d = parent[a], d + 1
        return d

    depths = acc["account_id"].map(depth)
    assert depths.max() == 3  # 4 levels: group / company / company / department
    roots = acc[acc["parent_account_id"].isna()]
    children = acc["parent_account_id"].value_counts()
    grand = acc[depths >= 2]
    assert len(grand) > 0
    # roots with depth >= 2 below them
    root_of = {}
    for a in grand["account_id"]:
        r = a
        while not pd.isna(parent[r]):
            r = parent[r]
        root_of[a] = r
    assert len(set(root_of.values())) >= 10
    singles = roots["account_type"].eq("company").mean()
    assert 0.5 <= singles <= 0.7
    groups = acc[acc["account_type"] == "group"]
    assert groups["parent_account_id"].isna().all()
    assert (groups["account_id"].map(children).fillna(0) >= 2).all()
    depts = acc[acc["account_type"] == "department"]
    assert len(depts) > 0 and depts["name"].str.contains(" \u2013 ").all()
    assert depts["parent_account_id"].map(dict(zip(acc["account_id"], acc["account_type"]))).eq("company").all()


def test_firmographics_are_varied_and_related(data):
    acc = data["accounts"]
    assert acc["industry"].nunique() >= 8
    assert acc["country"].nunique() >= 10 and acc["region"].nunique() >= 6
    assert set(acc["channel_preference"]) == {"digital", "phone", "field", "partner"}
    assert 20 <= acc["owner"].nunique() <= 60
    assert acc["owner"].str.fullmatch(r"rep_\d{3}").all()
    comp = acc[acc["account_type"] != "department"]
    assert comp["employees"].min() >= 1 and comp["employees"].max() <= 100_000
    assert np.corrcoef(np.log(comp["employees"]), np.log(comp["annual_revenue"]))[0, 1] > 0.6
    assert np.corrcoef(np.log(comp["employees"]), comp["sites"])[0, 1] > 0.2
    by_tm = acc.groupby("tech_maturity")["channel_preference"].apply(lambda s: (s == "digital").mean())
    assert by_tm[5] > by_tm[1] + 0.3
    assert acc.groupby("country")["legal_form"].agg(lambda s: set(s.dropna())).map(len).max() <= 3


# --- revenue -----------------------------------------------------------------------


def test_every_child_row_points_to_an_existing_account(data):
    ids = set(data["accounts"]["account_id"])
    for table in ("contacts", "orders", "subscriptions", "usage", "tickets", "interactions"):
        assert data[table]["account_id"].isin(ids).all(), table
    assert data["orders"]["product_id"].isin(set(data["products"]["product_id"])).all()
    sr = data["survey_responses"]
    assert sr["account_id"].dropna().isin(ids).all()
    assert sr["contact_id"].dropna().isin(set(data["contacts"]["contact_id"])).all()
    assert (sr["account_id"].notna() | sr["contact_id"].notna()).all()


def test_prospects_have_no_revenue_and_statuses_match_revenue(data):
    acc = data["accounts"].set_index("account_id")
    orders, subs = data["orders"], data["subscriptions"]
    buyers = set(orders["account_id"]) | set(subs["account_id"])
    prospects = set(acc.index[acc["status"] == "prospect"])
    assert not prospects & buyers
    cutoff = pd.Timestamp(END) - pd.Timedelta(days=365)
    recent = set(orders.loc[pd.to_datetime(orders["order_date"]) > cutoff, "account_id"])
    end = pd.to_datetime(subs["end_date"])
    recent |= set(subs.loc[end.isna() | (end > cutoff), "account_id"])
    formers = set(acc.index[acc["status"] == "former"])
    assert not formers & recent
    buying_customers = set(acc.index[acc["status"] == "customer"]) & buyers
    assert buying_customers <= recent


def test_orders_and_subscriptions_both_present_and_sane(data):
    orders, subs = data["orders"], data["subscriptions"]
    assert len(orders) > 0 and len(subs) > 0
    assert set(orders["product_line"]).isdisjoint(set(subs["product_line"]))
    assert (orders["currency"] == "EUR").all() and (subs["currency"] == "EUR").all()
    pos = orders[orders["amount"] > 0]
    assert np.allclose(pos["amount"], (pos["quantity"] * pos["unit_price"]).round(2), atol=0.011)
    assert (pos["cost"] < pos["amount"] * 1.5).all()
    end = pd.to_datetime(subs["end_date"])
    assert ((end >= pd.to_datetime(subs["start_date"])) | end.isna()).all()
    assert (subs["mrr"] >= 0).all() and (subs["seats"] >= 1).all()
    assert subs["subscription_id"].is_unique


def test_credit_notes_refer_to_earlier_purchases(data):
    orders = data["orders"]
    cn = orders[orders["amount"] < 0]
    assert 0.01 <= len(cn) / len(orders) <= 0.05
    assert cn["order_id"].str.endswith("-CN").all()
    orig = orders[orders["amount"] > 0].groupby(["order_id", "product_id"], as_index=False).agg(
        account_id=("account_id", "first"), order_date=("order_date", "min"), quantity=("quantity", "sum")
    )
    m = cn.assign(base=cn["order_id"].str[:-3]).merge(
        orig, left_on=["base", "product_id"], right_on=["order_id", "product_id"], suffixes=("", "_o")
    )
    assert len(m) == len(cn)
    assert (m["account_id"] == m["account_id_o"]).all()
    assert (m["order_date"] >= m["order_date_o"]).all()
    assert (-m["quantity"] <= m["quantity_o"]).all()


def test_seasonality_q4_peak_and_summer_dip(data):
    o = data["orders"]
    month = pd.to_datetime(o["order_date"]).dt.month
    rev = o.groupby(month)["amount"].sum()
    lines = o.groupby(month).size()
    assert rev[[10, 11, 12]].mean() > 1.4 * rev[[7, 8]].mean()
    assert lines[[10, 11, 12]].mean() > 1.5 * lines[[7, 8]].mean()


def test_product_lines_have_industry_affinity(data):
    acc = data["accounts"].set_index("account_id")
    cols = ["account_id", "product_line"]
    bought = pd.concat([data["orders"][cols], data["subscriptions"][cols]]).drop_duplicates()
    buyers = acc.loc[sorted(set(bought["account_id"]))]
    lines = sorted(set(bought["product_line"]))
    assert len(lines) >= 6
    assert len(data["products"]) >= 20 * len(lines)
    assert data["products"].groupby("product_line").size().between(20, 60).all()
    big = buyers["industry"].value_counts()
    industries = big[big >= 40].index
    strong = 0
    for line in lines:
        has = set(bought.loc[bought["product_line"] == line, "account_id"])
        rate = buyers.loc[buyers["industry"].isin(industries)].assign(h=lambda d: d.index.isin(has))
        by_ind = rate.groupby("industry")["h"].mean()
        if by_ind.max() >= 0.3 and by_ind.max() >= 3 * max(by_ind.min(), 0.02):
            strong += 1
    assert strong >= 6


# --- truth and planted behaviour --------------------------------------------------------


def test_truth_one_row_per_account_and_consistent(data):
    truth, acc = data["truth"], data["accounts"]
    assert truth["account_id"].tolist() == acc["account_id"].tolist()
    assert list(truth.columns) == ["account_id", "needs_segment", "behavior_type", "is_best", "best_drivers",
                                   "planted_churner", "reactivated", "onboarding", "trend"]  # fmt: skip
    status = acc["status"].to_numpy()
    assert truth.loc[status == "prospect", "behavior_type"].isna().all()
    assert truth.loc[status != "prospect", "behavior_type"].notna().all()
    assert truth["needs_segment"].nunique() in (4, 5)
    assert (truth["best_drivers"].notna() == truth["is_best"]).all()
    drivers = set(",".join(truth["best_drivers"].dropna()).split(","))
    assert drivers and drivers <= set(acc.columns)
    cust = truth[status == "customer"]
    assert 0.08 <= cust["is_best"].mean() <= 0.18
    assert not truth.loc[status != "customer", ["is_best", "planted_churner", "onboarding", "reactivated"]].any().any()
    assert truth.loc[status == "prospect", "trend"].eq("none").all()
    assert set(truth["trend"]) == {"growth", "flat", "decline", "none"}
    assert truth["planted_churner"].sum() > 10 and truth["reactivated"].sum() > 5 and truth["onboarding"].sum() > 5


def test_best_customers_are_richer_and_driven_by_firmographics(data):
    truth, acc, orders = data["truth"], data["accounts"], data["orders"]
    rev = orders.groupby("account_id")["amount"].sum()
    gm = (orders["amount"] - orders["cost"]).groupby(orders["account_id"]).sum()
    t = truth.set_index("account_id").join(acc.set_index("account_id"))
    t = t[(t["status"] == "customer") & t.index.isin(rev.index)]
    best, rest = t[t["is_best"]], t[~t["is_best"]]
    assert rev[best.index].median() > 3 * rev[rest.index].median()
    assert (gm[best.index].sum() / rev[best.index].sum()) > (gm[rest.index].sum() / rev[rest.index].sum())
    assert (best["trend"] == "growth").mean() > (rest["trend"] == "growth").mean() + 0.2
    # each named driver separates best from the rest clearly
    for driver in best["best_drivers"].iloc[0].split(","):
        if driver == "industry":
            fit = best["industry"].value_counts(normalize=True).head(3).index
            assert best["industry"].isin(fit).mean() > rest["industry"].isin(fit).mean() + 0.4
        else:
            assert best[driver].mean() > rest[driver].mean() + 0.8


def test_planted_churners_decline_in_revenue_and_usage(data):
    truth = data["truth"].set_index("account_id")
    o = data["orders"].assign(d=lambda x: pd.to_datetime(x["order_date"]))
    last = o[o["d"] > pd.Timestamp("2025-06-30")].groupby("account_id")["amount"].sum()
    before = o[(o["d"] > pd.Timestamp("2024-06-30")) & (o["d"] <= pd.Timestamp("2024-12-31"))]
    before = before.groupby("account_id")["amount"].sum()
    both = pd.concat([last.rename("last"), before.rename("before")], axis=1).fillna(0).join(truth)
    both = both[both["before"] > 0]
    ch, other = both[both["planted_churner"]], both[~both["planted_churner"] & (both["trend"] != "decline")]
    assert ch["last"].sum() / ch["before"].sum() < 0.6 * other["last"].sum() / other["before"].sum()

    u = data["usage"].assign(d=lambda x: pd.to_datetime(x["date"]))
    u = u.join(truth["planted_churner"], on="account_id")
    late = u[u["d"] > pd.Timestamp("2025-11-01")].groupby("planted_churner")["active_users"].mean()
    early = u[u["d"] < pd.Timestamp("2025-01-01")].groupby("planted_churner")["active_users"].mean()
    assert late[True] / early[True] < 0.5 * late[False] / early[False]


def test_onboarding_and_reactivation_are_visible(data):
    truth = data["truth"].set_index("account_id")
    o = data["orders"].assign(d=lambda x: pd.to_datetime(x["order_date"]))
    s = data["subscriptions"].assign(d=lambda x: pd.to_datetime(x["start_date"]))
    first = pd.concat([o.groupby("account_id")["d"].min(), s.groupby("account_id")["d"].min()]).groupby(level=0).min()
    onb = truth.index[truth["onboarding"]]
    assert (first[onb] >= pd.Timestamp(END) - pd.Timedelta(days=90)).all()
    pos = o[o["amount"] > 0]
    months = pos.assign(m=pos["d"].dt.year * 12 + pos["d"].dt.month)[["account_id", "m"]].drop_duplicates()
    months = months.sort_values(["account_id", "m"])
    gap = (months.groupby("account_id")["m"].diff() >= 4).groupby(months["account_id"]).any()
    re = truth.index[truth["reactivated"]].intersection(gap.index)
    assert len(re) > 0 and gap[re].all()
    assert gap[re].mean() > gap.drop(re).mean() + 0.3


def test_behavior_types_shape_the_data(data):
    truth = data["truth"].set_index("account_id")
    o = data["orders"].join(truth["behavior_type"], on="account_id")
    o = o.merge(data["products"][["product_id", "list_price"]], on="product_id")
    o = o[o["amount"] > 0]
    disc = 1 - o["unit_price"] / o["list_price"]
    by = disc.groupby(o["behavior_type"]).mean()
    assert by["price_driven"] > by["quality_driven"] + 0.1
    price = o.groupby("behavior_type")["list_price"].median()
    assert price["quality_driven"] > price["price_driven"]
    cn = data["orders"].join(truth["behavior_type"], on="account_id")
    cn_rate = cn.groupby("behavior_type")["amount"].apply(lambda a: (a < 0).mean())
    assert cn_rate["price_driven"] > 2 * cn_rate["quality_driven"]
    t = data["tickets"].groupby("account_id").size()
    cust = truth[truth["behavior_type"].notna()]
    per = cust.assign(n=t.reindex(cust.index).fillna(0)).groupby("behavior_type")["n"].mean()
    assert per["support_driven"] > 2 * per[["price_driven", "quality_driven", "routine"]].max()


def test_needs_segments_have_distinct_profiles(data):
    truth = data["truth"].set_index("account_id")
    sr, contacts = data["survey_responses"], data["contacts"].set_index("contact_id")
    acct = sr["account_id"].fillna(sr["contact_id"].map(contacts["account_id"]))
    sr = sr.assign(seg=acct.map(truth["needs_segment"]))
    needs = sr[sr["item"].str.startswith("need_")]
    assert set(needs["item"]) == {"need_price", "need_quality", "need_support", "need_integration",
                                  "need_speed", "need_innovation"}  # fmt: skip
    assert needs["value"].between(1, 5).all()
    prof = needs.pivot_table(index="seg", columns="item", values="value", aggfunc="mean")
    # each segment has an item where it is at least 1 point above every other segment
    for seg in prof.index:
        gaps = prof.loc[seg] - prof.drop(seg).max()
        assert gaps.max() > 0.7, seg
    nps = sr[sr["item"] == "nps"]["value"]
    assert nps.between(0, 10).all() and nps.nunique() > 5


def test_tickets_contacts_interactions(data):
    t = data["tickets"]
    assert set(t["priority"]) == {"low", "normal", "high", "urgent"}
    closed = t["closed_at"].notna()
    assert 0 < (~closed).sum() < 0.1 * len(t)
    assert (t.loc[closed, "closed_at"] >= t.loc[closed, "opened_at"]).all()
    assert t["csat"].dropna().between(1, 5).all() and t["csat"].notna().any()
    c = data["contacts"]
    per = c.groupby("account_id").size()
    assert per.min() >= 1 and per.max() <= 6 and len(per) == N
    assert c["email"].str.fullmatch(r"[a-z]+\.[a-z]+@[a-z0-9-]+\.example").all()
    i = data["interactions"].merge(data["accounts"][["account_id", "channel_preference"]], on="account_id")
    assert set(i["channel"]) == {"meeting", "call", "email", "web", "event"}
    assert set(i["direction"]) == {"inbound", "outbound"}
    mix = pd.crosstab(i["channel_preference"], i["channel"], normalize="index")
    assert mix.loc["digital", "web"] > 3 * mix.loc["field", "web"]
    assert mix.loc["field", "meeting"] > 3 * mix.loc["digital", "meeting"]
    usage_accts = set(data["usage"]["account_id"])
    assert usage_accts <= set(data["subscriptions"]["account_id"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"accounts": 0},
        {"accounts": 1.5},
        {"seed": -1},
        {"fmt": "xlsx"},
        {"dirty": -0.1},
        {"dirty": 0.9},
        {"end_date": dt.datetime(2025, 1, 1)},
        {"years": 0},
        {"lines_per_account": float("nan")},
        {"chunk_size": 10},
    ],
)
def test_bad_arguments_raise_usage_error(tmp_path, kwargs):
    with pytest.raises(UsageError):
        generate(tmp_path, **kwargs)


@pytest.mark.parametrize("accounts", [1, 2, 7])
@pytest.mark.parametrize("dirty", [0.0, 0.1])
def test_tiny_data_sets_still_write_every_table(tmp_path, accounts, dirty):
    s = generate(tmp_path, accounts=accounts, seed=accounts, dirty=dirty)
    assert s.rows["truth"] == accounts
    for table in CONTRACT:
        assert pq.read_schema(s.files[table]).names == list(CONTRACT[table].names), table
        assert pq.ParquetFile(s.files[table]).metadata.num_rows == s.rows[table]
    if dirty:  # every kind is injected into every table that has rows to copy from
        clean = generate(tmp_path / "clean", accounts=accounts, seed=accounts)
        for table, kinds in s.dirty_injected.items():
            assert all(n >= 1 for n in kinds.values()) == (clean.rows[table] > 0), table
            assert s.rows[table] == clean.rows[table] + sum(kinds.values()), table
