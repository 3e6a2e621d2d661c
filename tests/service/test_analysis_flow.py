"""The revenue bridge through the workspace: new means first active ever, not first in the range shown.

Reference: pandas on the CDNOW source file (lifetimes' CDNOW_sample.txt, ingested with the example
mapping), computing the definitions of docs/analysis.md over the whole history.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sikta.service.workspace import Workspace
from tests.clv_data import cdnow_sample, lifetimes_file
from tests.conftest import REPO, write


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    d = tmp_path_factory.mktemp("flow_cdnow")
    with Workspace(d / "ws.duckdb") as ws:
        ws.ingest(lifetimes_file("CDNOW_sample.txt"), mapping=REPO / "examples" / "cdnow" / "sample_mapping.yaml")
        yield ws


def _reference(freq: str) -> pd.DataFrame:
    """Per period: active, new (first active period ever), reactivated, churned - over the whole file."""
    raw = cdnow_sample()
    net = raw.groupby(["customer_id", raw["order_date"].dt.to_period(freq)])["dollar_value"].sum().round(6)
    active = net[net > 0].reset_index()
    by = {p: set(g.customer_id) for p, g in active.groupby("order_date")}
    rows, seen, prev = [], set(), set()
    for p in pd.period_range(min(by), max(by), freq=freq):
        now = by.get(p, set())
        rows.append({"period": p.start_time.date(), "active_end": len(now), "new_accounts": len(now - seen),
                     "reactivated_accounts": len((now - prev) & seen), "churned_accounts": len(prev - now)})
        seen |= now
        prev = now
    return pd.DataFrame(rows).set_index("period")


@pytest.mark.parametrize("period", ["month", "quarter"])
def test_new_and_reactivated_match_pandas_on_the_whole_history(cdnow, period):
    got = cdnow.analyze(as_of="1998-06-30", period=period).flow().periods
    got = got.set_index(pd.to_datetime(got.period_start).dt.date)
    want = _reference("M" if period == "month" else "Q").loc[got.index]
    cols = ["active_end", "new_accounts", "reactivated_accounts", "churned_accounts"]
    pd.testing.assert_frame_equal(got[cols].astype("int64"), want[cols].astype("int64"), check_names=False)
    # every CDNOW customer made a first purchase in Q1 1997, before the range: judged on the range alone,
    # the returning ones of the first period shown were all "new" and none reactivated
    assert got["reactivated_accounts"].iloc[0] > 0 and got["new_accounts"].sum() <= 1


def test_a_month_gets_the_same_answer_whatever_the_as_of(cdnow):
    cols = ["new_accounts", "reactivated_accounts", "new_revenue", "reactivated_revenue"]
    early = cdnow.analyze(as_of="1997-12-31").flow().periods
    late = cdnow.analyze(as_of="1998-06-30").flow().periods
    both = early.merge(late, on="period_start", suffixes=("_early", "_late"))
    assert len(both) == 6  # 1997-07 .. 1997-12
    for c in cols:
        assert both[f"{c}_early"].tolist() == pytest.approx(both[f"{c}_late"].tolist()), c


def test_a_returning_customer_is_reactivated_by_hand(tmp_path):
    # A bought in Jan 2024, then nothing until Mar 2025; B's first purchase is on 2025-03-31 (the data end then).
    # The 12 months to 2025-03-31 start in Mar 2024: A's January is before the range shown.
    write(tmp_path, "accounts.csv", "account_id\nA\nB\nC\n")
    write(tmp_path, "orders.csv", "order_id,account_id,order_date,amount\n"
          "1,A,2024-01-10,100\n2,A,2025-03-05,40\n3,B,2025-03-31,30\n4,C,2024-03-15,10\n5,C,2025-02-15,10\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(tmp_path)
        f = ws.analyze(as_of="2025-03-31").flow().periods
    march = f[pd.to_datetime(f.period_start).dt.date == pd.Timestamp("2025-03-01").date()].iloc[0]
    assert (march.new_accounts, march.reactivated_accounts) == (1, 1)
    assert (march.new_revenue, march.reactivated_revenue) == (30.0, 40.0)
    assert march.churned_accounts == 1  # C bought in February only
