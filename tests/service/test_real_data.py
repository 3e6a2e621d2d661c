"""UCI Online Retail through the example mapping, checked against pandas and the
published figures (SOURCE.md: 541,909 lines, 135,080 without CustomerID, 4,372 customers)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from sikta.service.workspace import Workspace
from tests.conftest import REPO, SHARED_DATA

RETAIL = SHARED_DATA / "online_retail.parquet"
MAPPING = REPO / "examples" / "online_retail" / "mapping.yaml"
pytestmark = pytest.mark.skipif(not RETAIL.exists(), reason="shared/data/online_retail.parquet is not beside the repo")


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("retail") / "ws.duckdb")
    report = ws.ingest(RETAIL, mapping=MAPPING)
    raw = pd.read_parquet(RETAIL, dtype_backend="numpy_nullable")
    yield ws, report, raw
    ws.close()


def test_counts_match_the_published_figures(retail):
    _, report, _ = retail
    o = report.tables["orders"]
    assert (o.rows_in, o.quarantined, o.loaded) == (541_909, 135_080, 406_829)
    assert report.tables["accounts"].loaded == 4_372
    assert report.tables["accounts"].derived_from == "orders"


def test_lines_without_customer_are_quarantined_with_that_reason(retail):
    ws, _, raw = retail
    q = ws.quarantine("orders").select("row", "column", "reason").to_pandas()
    assert set(zip(q["column"], q["reason"], strict=True)) == {("account_id", "account_id is missing")}
    expected_rows = (raw.index[raw["CustomerID"].isna()] + 1).tolist()  # 1-based rows of the file
    assert sorted(q["row"].tolist()) == expected_rows


def test_loaded_amounts_and_accounts_match_pandas(retail):
    ws, _, raw = retail
    known = raw[raw["CustomerID"].notna()]
    loaded = ws.table("orders")
    total = ws.store.scalar(loaded.amount.sum())
    assert total == pytest.approx(float((known["Quantity"] * known["UnitPrice"]).sum()), rel=1e-12)
    per_account = ws.store.frame(loaded.group_by("account_id").aggregate(n=loaded.count()))
    expected = known.groupby(known["CustomerID"].astype(str)).size()
    assert dict(zip(per_account["account_id"], per_account["n"], strict=True)) == expected.to_dict()


def test_derived_country_is_the_most_frequent(retail):
    ws, _, raw = retail
    known = raw[raw["CustomerID"].notna()]
    counts = known.groupby([known["CustomerID"].astype(str), "Country"]).size().reset_index(name="n")
    top = counts.sort_values("n", ascending=False).groupby("CustomerID").head(2)
    unique_mode = top.groupby("CustomerID").filter(lambda g: len(g) == 1 or g["n"].iat[0] > g["n"].iat[1])
    expected = unique_mode.drop_duplicates("CustomerID").set_index("CustomerID")["Country"]
    accounts = ws.table("accounts").select("account_id", "country").to_pandas().set_index("account_id")["country"]
    assert len(expected) > 4_300
    assert accounts.loc[expected.index].to_dict() == expected.to_dict()


def test_features_conserve_revenue_in_the_window(retail):
    ws, _, raw = retail
    feats = ws.features(grain="account", as_of="2011-12-09")
    assert ws.store.count(feats) == 4_372
    known = raw[raw["CustomerID"].notna()].copy()
    known["day"] = known["InvoiceDate"].dt.date
    window = known[(known["day"] > date(2010, 12, 9)) & (known["day"] <= date(2011, 12, 9))]
    expected = float((window["Quantity"] * window["UnitPrice"]).sum())
    assert ws.store.scalar(feats.revenue_12m.sum()) == pytest.approx(expected, rel=1e-9)


def test_pareto_excludes_the_customers_whose_net_revenue_is_not_positive(retail):
    """Over 24 months to 2011-06-30, pareto ranks the customers with net revenue > 0 and counts the
    others that traded in the window (net <= 0: credit notes outweigh orders) as excluded."""
    ws, _, raw = retail
    known = raw[raw["CustomerID"].notna()].copy()
    day = known["InvoiceDate"].dt.date
    window = known[(day > date(2009, 6, 30)) & (day <= date(2011, 6, 30))]
    net = (window["Quantity"] * window["UnitPrice"]).groupby(window["CustomerID"]).sum().round(6)
    p = ws.analyze(as_of="2011-06-30", window_months=24).pareto()
    assert (p.accounts, p.excluded) == (int((net > 0).sum()), int((net <= 0).sum()))
    assert p.excluded > 30
    assert p.revenue == pytest.approx(float(net[net > 0].sum()), rel=1e-9)


def test_thousands_of_stock_codes_as_product_lines(retail, tmp_path):
    """Mapping product_line to StockCode (4,070 codes) once crashed features, analyze, suggest, run and report."""
    mapping = tmp_path / "lines.yaml"
    mapping.write_text(MAPPING.read_text().replace("product_id: StockCode", "product_id: StockCode\n    product_line: StockCode"))
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(RETAIL, mapping=mapping)
        raw = retail[2]
        known = raw[raw["CustomerID"].notna()]
        f = ws.store.frame(ws.features("account"))
        life = (known["Quantity"] * known["UnitPrice"]).groupby([known["CustomerID"].astype(str), known["StockCode"]]).sum()
        want = life[life.round(6) > 0].groupby(level=0).size()
        got = f.set_index("unit_id").n_product_lines
        assert (got.reindex(want.index) == want).all()
        space = ws.analyze.whitespace()
        assert len(space) > 10_000 and space.groupby("unit_id").size().max() <= 10
        from sikta.web.report import write_report

        write_report(ws, tmp_path / "report.html")
        assert (tmp_path / "report.html").stat().st_size > 100_000
