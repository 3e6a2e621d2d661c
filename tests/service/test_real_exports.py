"""Exports as Excel, CRMs and public data sets write them: every one loads, and nothing is silently wrong.

Each case is shaped like a real file that once crashed Sikta, lost data with
exit 0, or gave a wrong answer without a word (issue 10).
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pandas as pd
import pytest

from sikta.errors import DataTooThinError, InputError
from sikta.service.workspace import Workspace
from tests.conftest import REPO

NAMES = ["Café Zürich", "Bär & Söhne", "Łódź Sp. z o.o.", "Ørsted €uro"]


def _accounts_text(delimiter: str, names: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(["account_id", "name", "employees"])
    for i, name in enumerate(names):
        w.writerow([f"A{i}", name, 10 * (i + 1)])
    return buf.getvalue()


ORDERS = "order_id,account_id,order_date,amount\nO1,A0,2025-01-05,10\n"


@pytest.mark.parametrize(
    ("encoding", "delimiter", "names"),
    [
        ("utf-8", ",", NAMES),
        ("utf-8-sig", ";", NAMES),
        ("cp1252", ";", [n for n in NAMES if n != "Łódź Sp. z o.o."]),  # Excel on a Western European Windows
        ("latin-1", "\t", [n.replace("€", "E") for n in NAMES if n != "Łódź Sp. z o.o."]),
        ("utf-16", "\t", NAMES),  # Excel's "Unicode text"
        ("utf-8", "|", NAMES),
    ],
)
def test_encodings_and_delimiters_are_detected(ws, tmp_path, encoding, delimiter, names):
    (tmp_path / "accounts.csv").write_bytes(_accounts_text(delimiter, names).encode(encoding))
    (tmp_path / "orders.csv").write_text(ORDERS)
    report = ws.ingest(tmp_path)
    assert report.tables["accounts"].loaded == len(names)
    got = {r["name"] for r in ws.table("accounts").to_pyarrow().to_pylist()}
    assert got == set(names)


def test_a_forced_encoding_is_used(ws, tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id,name\nA0,Café\n", encoding="utf-8")
    (tmp_path / "orders.csv").write_text(ORDERS)
    (tmp_path / "m.yaml").write_text("accounts:\n  encoding: windows-1252\n")
    ws.ingest(tmp_path, mapping=tmp_path / "m.yaml")
    assert ws.table("accounts").to_pyarrow().to_pylist()[0]["name"] == "CafÃ©"  # what cp1252 makes of UTF-8 bytes


@pytest.mark.parametrize(
    ("column", "values", "hint", "fix"),
    [
        ("order_date", ["06.01.2023", "17.02.2023", "31.12.2022"], 'date_format: "%d.%m.%Y"', 'date_format: "%d.%m.%Y"'),
        ("order_date", ["12/31/2022", "01/02/2023", "02/14/2023"], 'date_format: "%m/%d/%Y"', 'date_format: "%m/%d/%Y"'),
        ("amount", ["1,50", "1.234,00", "-3,25"], "decimal_comma: true", "decimal_comma: true"),
    ],
)
def test_a_systematic_format_error_names_the_mapping_option(ws, tmp_path, column, values, hint, fix):
    rows = {"order_date": ["2023-01-06", "2023-02-17", "2022-12-31"], "amount": ["1.5", "1234", "-3.25"]}
    rows[column] = values
    lines = [f"O{i},A0,{rows['order_date'][i]},\"{rows['amount'][i]}\"" for i in range(3)]
    (tmp_path / "accounts.csv").write_text("account_id\nA0\n")
    (tmp_path / "orders.csv").write_text("order_id,account_id,order_date,amount\n" + "\n".join(lines) + "\n")
    report = ws.ingest(tmp_path)
    assert report.tables["orders"].loaded == 0
    assert len(report.hints) == 1 and hint in report.hints[0] and f"orders.{column}" in report.hints[0]
    (tmp_path / "m.yaml").write_text(f"orders:\n  {fix}\n")
    report = ws.ingest(tmp_path, mapping=tmp_path / "m.yaml")
    assert report.tables["orders"].loaded == 3 and not report.hints


def test_extra_columns_are_kept_typed_and_usable_in_models(ws, tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "account_id,lead_type,declared_monthly_revenue,signed,code,score\n"
        "A0,online_big,50000,2024-01-03,00123,7\n"
        "A1,offline,0,2024-02-01,00456,oops\n"
        "A2,online_big,1200.5,,,3\n"
    )
    (tmp_path / "orders.csv").write_text("order_id,account_id,order_date,amount\nO1,A0,2025-01-05,10\nO2,A2,2025-01-06,5\n")
    (tmp_path / "m.yaml").write_text(
        "accounts:\n  attributes:\n    lead_type: lead_type\n    declared_monthly_revenue: declared_monthly_revenue\n"
        "    signed: signed\n    code: code\n    score: {column: score, type: int}\n"
    )
    report = ws.ingest(tmp_path, mapping=tmp_path / "m.yaml")
    assert report.tables["accounts"].attributes == {
        "attr_lead_type": "string", "attr_declared_monthly_revenue": "float64", "attr_signed": "date",
        "attr_code": "string", "attr_score": "int64",
    }
    q = ws.quarantine("accounts").to_pyarrow().to_pylist()
    assert [(r["row"], r["column"], r["reason"]) for r in q] == [(2, "attr_score", "attr_score is not a whole number: 'oops'")]
    f = {r["unit_id"]: r for r in ws.features("account").to_pyarrow().to_pylist()}
    assert f["A0"]["attr_code"] == "00123" and f["A2"]["attr_declared_monthly_revenue"] == 1200.5
    model = (
        "name: attrs\npotential:\n  - name: declared\n    expr: attr_declared_monthly_revenue / 1000\n"
        "pain:\n  - name: big\n    rule: attr_lead_type == 'online_big'\n"
        "thresholds: {potential: {value: 0.5}, pain: {value: 0.5}}\n"
    )
    (tmp_path / "model.yaml").write_text(model)
    run = ws.run(tmp_path / "model.yaml")
    rows = {r["unit_id"]: r for r in ws.run_rows(run.run_id).to_pyarrow().to_pylist()}
    assert rows["A0"]["potential__declared__value"] == 50.0 and rows["A0"]["group"] == "invest"
    assert rows["A2"]["pain__big__value"] == 1.0


def test_an_order_line_attribute_stays_in_the_orders_table(ws, tmp_path):
    # as docs/mapping.md says: only accounts attributes reach the feature row (a line has no per-unit value)
    (tmp_path / "accounts.csv").write_text("account_id\nA0\n")
    (tmp_path / "orders.csv").write_text("order_id,account_id,order_date,amount,SalesChannel\n"
                                         "O1,A0,2025-01-05,10,web\nO2,A0,2025-01-06,5,shop\n")
    (tmp_path / "m.yaml").write_text("orders:\n  attributes: {channel: SalesChannel}\n")
    report = ws.ingest(tmp_path, mapping=tmp_path / "m.yaml")
    assert report.tables["orders"].attributes == {"attr_channel": "string"}
    assert sorted(ws.table("orders").attr_channel.to_pyarrow().to_pylist()) == ["shop", "web"]
    assert "attr_channel" not in ws.features("account").columns


def test_constants_and_a_missing_order_id(ws, tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id\nA0\nA1\n")
    (tmp_path / "orders.csv").write_text(
        "customer,day,value\nA0,2025-01-05,10\nA0,2025-01-05,5\nA0,2025-02-01,7\nA1,2025-01-09,3\n"
    )
    (tmp_path / "m.yaml").write_text(
        "orders:\n  columns: {account_id: customer, order_date: day, amount: value, currency: {value: EUR}}\n"
        "accounts:\n  columns: {status: {value: prospect}}\n"
    )
    report = ws.ingest(tmp_path, mapping=tmp_path / "m.yaml")
    assert report.tables["orders"].loaded == 4
    orders = ws.table("orders").to_pyarrow().to_pylist()
    assert {o["currency"] for o in orders} == {"EUR"}
    assert sorted({o["order_id"] for o in orders}) == ["A0@2025-01-05", "A0@2025-02-01", "A1@2025-01-09"]
    assert {a["status"] for a in ws.table("accounts").to_pyarrow().to_pylist()} == {"prospect"}
    f = {r["unit_id"]: r for r in ws.features("account", "2025-06-30").to_pyarrow().to_pylist()}
    assert f["A0"]["orders_lifetime"] == 2 and f["A0"]["crm_status"] == "prospect"


def test_a_constant_for_the_key_or_an_unknown_value_is_refused(ws, tmp_path):
    (tmp_path / "m.yaml").write_text("accounts:\n  columns: {status: {value: lead}}\n")
    with pytest.raises(InputError, match=r"m.yaml:1: accounts: status 'lead' is not one of customer, prospect, former"):
        ws.ingest(tmp_path, mapping=tmp_path / "m.yaml")


def test_exact_duplicate_lines_are_counted_and_dedupe_drops_them(ws, tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id\nA0\n")
    (tmp_path / "orders.csv").write_text(
        "order_id,account_id,order_date,amount,note\n"
        "O1,A0,2025-01-05,10,x\nO1,A0,2025-01-05,10,x\nO1,A0,2025-01-05,10,y\nO1,A0,2025-01-05,10,x\n"
    )
    report = ws.ingest(tmp_path)
    r = report.tables["orders"]
    assert (r.duplicates, r.loaded) == (2, 4)  # the 'y' line differs in a column the contract does not read
    assert any("2 exact duplicate lines" in n for n in report.notes)
    (tmp_path / "m.yaml").write_text("orders:\n  dedupe: true\n")
    report = ws.ingest(tmp_path, mapping=tmp_path / "m.yaml", allow_shrink=True)
    assert report.tables["orders"].loaded == 2
    q = ws.quarantine("orders").to_pyarrow().to_pylist()
    assert [(x["row"], x["reason"]) for x in q] == [
        (2, "exact duplicate of row 1 (dedupe: true)"), (4, "exact duplicate of row 1 (dedupe: true)")]


def test_dedupe_counts_only_the_repeats_it_quarantined(ws, tmp_path):
    # Online Retail: 5,268 repeats, 43 of them without a customer id - quarantined for that before the
    # dedupe check; the note said all 5,268 were quarantined as repeats where the quarantine held 5,225
    (tmp_path / "accounts.csv").write_text("account_id\nA0\n")
    (tmp_path / "orders.csv").write_text(
        "order_id,account_id,order_date,amount\n"
        "O1,A0,2025-01-05,10\nO1,A0,2025-01-05,10\nO1,A0,2025-01-05,10\nO2,,2025-01-06,5\nO2,,2025-01-06,5\n")
    (tmp_path / "m.yaml").write_text("orders:\n  dedupe: true\n")
    report = ws.ingest(tmp_path, mapping=tmp_path / "m.yaml")
    r = report.tables["orders"]
    assert (r.rows_in, r.loaded, r.quarantined, r.duplicates, r.deduped) == (5, 1, 4, 3, 2)
    reasons = sorted(x["reason"] for x in ws.quarantine("orders").to_pyarrow().to_pylist())
    assert sum(x.endswith("(dedupe: true)") for x in reasons) == 2 and sum("account_id" in x for x in reasons) == 2
    note = next(n for n in report.notes if n.startswith("orders:"))
    assert "3 exact duplicate lines" in note and "2 quarantined as repeats (dedupe: true)" in note
    assert "the other 1 failed another check first" in note


def _cdnow_file() -> Path:
    lt = pytest.importorskip("lifetimes")
    return Path(lt.__file__).parent / "datasets" / "CDNOW_master.txt"


def test_the_cdnow_log_loads_without_an_order_id(ws):
    path = _cdnow_file()
    report = ws.ingest(path, mapping=REPO / "examples" / "cdnow" / "mapping.yaml")
    ref = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    assert report.tables["orders"].loaded == len(ref) == 69_659
    assert report.tables["accounts"].loaded == ref.customer_id.nunique() == 23_570
    assert report.tables["orders"].duplicates == int(ref.duplicated().sum())
    o = ws.table("orders")
    total = ws.store.scalar(o.amount.sum())
    assert total == pytest.approx(ref.dollar_value.sum(), rel=1e-12)
    days = ref.groupby(["customer_id", "date"]).ngroups
    assert ws.store.scalar(o.order_id.nunique()) == days  # one order per customer and day


def _olist_files(folder: Path, leads: int = 300, deals: int = 40) -> tuple[Path, Path]:
    rnd = random.Random(7)
    rows = [{"mql_id": f"{i:032x}", "first_contact_date": f"2018-{1 + i % 12:02d}-{1 + i % 27:02d}",
             "landing_page_id": f"lp{i % 7}", "origin": rnd.choice(["organic_search", "paid_search", "social", ""])}
            for i in range(leads)]
    won = rnd.sample(rows, deals)
    deal_rows = [{"mql_id": r["mql_id"], "seller_id": "s" + r["mql_id"][-6:], "sdr_id": "sdr1",
                  "sr_id": rnd.choice(["sr_a", "sr_b"]), "won_date": r["first_contact_date"] + " 10:11:12",
                  "business_segment": rnd.choice(["pet", "home_decor"]),
                  "lead_type": rnd.choice(["online_big", "offline"]), "lead_behaviour_profile": rnd.choice(["cat", ""]),
                  "has_company": "", "has_gtin": "", "average_stock": "", "business_type": rnd.choice(["reseller", "manufacturer"]),
                  "declared_product_catalog_size": rnd.choice(["", "100"]),
                  "declared_monthly_revenue": rnd.choice(["0", "0", "100000", "5000"])} for r in won]
    paths = []
    for name, data in (("olist_marketing_qualified_leads_dataset.csv", rows), ("olist_closed_deals_dataset.csv", deal_rows)):
        with open(folder / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(data[0]))
            w.writeheader()
            w.writerows(data)
        paths.append(folder / name)
    return paths[0], paths[1]


def test_a_funnel_export_of_leads_and_won_deals_loads(ws, tmp_path):
    leads, deals = _olist_files(tmp_path)
    report = ws.ingest(leads, deals, mapping=REPO / "examples" / "olist" / "mapping.yaml")
    acc = report.tables["accounts"]
    assert (acc.rows_in, acc.loaded, acc.quarantined) == (340, 300, 40)
    loaded = {r["account_id"]: r for r in ws.table("accounts").to_pyarrow().to_pylist()}
    won = pd.read_csv(deals, dtype=str, keep_default_na=False)
    assert {a for a, r in loaded.items() if r["status"] == "customer"} == set(won.mql_id)
    for r in won.to_dict("records"):
        a = loaded[r["mql_id"]]
        assert a["attr_lead_type"] == r["lead_type"] and a["industry"] == r["business_segment"]
        assert a["attr_declared_monthly_revenue"] == float(r["declared_monthly_revenue"])
    q = ws.quarantine("accounts").to_pyarrow().to_pylist()
    assert all(x["reason"].startswith("duplicate account_id") and "olist_closed_deals" in x["reason"] for x in q)
    assert report.tables["orders"].loaded == 40


# -- the workspace keeps a good snapshot ------------------------------------------------------------


def _good(folder: Path) -> Path:
    folder.mkdir()
    (folder / "accounts.csv").write_text("account_id\n" + "".join(f"A{i}\n" for i in range(10)))
    (folder / "orders.csv").write_text("order_id,account_id,order_date,amount\n"
                                        + "".join(f"O{i},A{i},2025-01-0{1 + i % 9},{i + 1}.5\n" for i in range(10)))
    return folder


def test_a_broken_reingest_does_not_wipe_a_good_workspace(ws, tmp_path):
    first = ws.ingest(_good(tmp_path / "good"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "accounts.csv").write_text((tmp_path / "good" / "accounts.csv").read_text())
    (bad / "orders.csv").write_text("order_id,account_id,order_date,amount\n"
                                    + "".join(f"O{i},A{i},2025-01-0{1 + i % 9},\"{i + 1},5\"\n" for i in range(10)))
    with pytest.raises(InputError) as exc:
        ws.ingest(bad)
    msg = str(exc.value)
    assert "orders would load 0 of 10 rows (it had 10)" in msg and "decimal_comma: true" in msg
    assert "--allow-shrink" in msg and "\n" not in msg
    assert ws.last_ingest()["ingest_id"] == first.ingest_id and ws.store.count(ws.table("orders")) == 10
    ws.ingest(bad, allow_shrink=True)
    assert ws.store.count(ws.table("orders")) == 0


def test_losing_more_than_half_of_a_table_or_a_whole_table_is_refused(ws, tmp_path):
    ws.ingest(_good(tmp_path / "good"))
    few = tmp_path / "few"
    few.mkdir()
    (few / "accounts.csv").write_text("account_id\nA0\nA1\nA2\nA3\n")
    (few / "orders.csv").write_text("order_id,account_id,order_date,amount\nO1,A0,2025-01-01,1\n")
    with pytest.raises(InputError, match=r"accounts would load 4 of 4 rows \(it had 10\)"):
        ws.ingest(few)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "accounts.csv").write_text((tmp_path / "good" / "accounts.csv").read_text())
    (sub / "subscriptions.csv").write_text("subscription_id,account_id,start_date,mrr\nS1,A0,2025-01-01,10\n")
    with pytest.raises(InputError, match=r"orders is not in this ingest \(it had 10 rows\)"):
        ws.ingest(sub)


# -- feature builds, analysis dates and windows -----------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from sikta.synth import generate

    d = tmp_path_factory.mktemp("small")
    generate(d / "data", accounts=600, seed=11)
    w = Workspace(d / "ws.duckdb")
    w.ingest(d / "data")
    yield d, w
    w.close()


def test_an_analysis_at_another_date_never_changes_what_run_scores(small, tmp_path):
    d, ws = small
    from sikta.service.model import starter_model_text

    model = tmp_path / "m.yaml"
    model.write_text(starter_model_text())
    default = ws.default_as_of()
    first = ws.run(model)
    ws.analyze(as_of="2024-01-31", window_months=24).pareto()
    ws.build_features("account", "2023-06-30")
    second = ws.run(model)
    assert first.as_of == second.as_of == default
    assert second.features["table"] == "features_account" and second.features["as_of"] == str(default)
    a = {r["unit_id"]: r["group"] for r in ws.run_rows(first.run_id).to_pyarrow().to_pylist()}
    b = {r["unit_id"]: r["group"] for r in ws.run_rows(second.run_id).to_pyarrow().to_pylist()}
    assert a == b
    keyed = {t for t in ws.store.tables() if t.startswith("features_account__")}
    assert {"features_account__20240131_w24", "features_account__20230630_w12"} <= keyed
    past = ws.run(model, as_of="2023-06-30")
    assert past.features["table"] == "features_account__20230630_w12" and str(past.as_of) == "2023-06-30"


def test_dates_outside_the_data(small):
    d, ws = small
    with pytest.raises(DataTooThinError, match=r"as-of 1999-01-01 is before the first revenue"):
        ws.build_features("account", "1999-01-01")
    end = ws.analyze.data_end()
    later = (pd.Timestamp(end) + pd.Timedelta(days=75)).date()
    flow = ws.analyze(as_of=later).flow()
    last = pd.Timestamp(flow.periods.period_start.max()).date()
    month_end = (pd.Timestamp(last) + pd.offsets.MonthEnd(0)).date()
    assert month_end <= end  # no month after the last order is counted as churn
    assert any("after the last revenue date" in n for n in ws.analyze(as_of=later).notes())


def test_columns_are_named_after_the_window(small, tmp_path):
    d, ws = small
    report = ws.analyze(window_months=24).run(parts=("outflow", "pareto"))
    report.write(tmp_path / "out")
    head = (tmp_path / "out" / "outflow.csv").read_text().splitlines()[0].split(",")
    assert "revenue_24m" in head and "revenue_prev_24m" in head and not any("_12m" in c for c in head)


def test_revenue_at_risk_is_yearly_whatever_the_window():
    import ibis

    from sikta.engine.opportunity import outflow

    f = ibis.memtable(pd.DataFrame({"unit_id": ["A"], "status": ["customer"], "revenue_12m": [100.0],
                                    "revenue_prev_12m": [200.0], "revenue_growth": [-0.5]}))
    got = ibis.duckdb.connect().to_pandas(outflow(f, window_months=24))
    # 100 lost over a 24-month window is 50 a year
    assert got.revenue_at_risk.tolist() == [50.0] and "vs previous 24 months" in got.signals.iat[0]


def test_pareto_counts_the_units_it_leaves_out(ws, tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id\nA\nB\nC\nD\n")
    (tmp_path / "orders.csv").write_text(
        "order_id,account_id,order_date,amount\n1,A,2025-03-01,100\n2,B,2025-03-02,10\n3,B,2025-03-05,-15\n"
        "4,C,2025-03-03,10\n5,C,2025-03-04,-10\n"
    )
    ws.ingest(tmp_path)
    p = ws.analyze(as_of="2025-06-30").pareto()
    assert (p.accounts, p.excluded) == (1, 2)  # B nets -5, C nets 0; D bought nothing and is no customer


# -- many product lines -----------------------------------------------------------------------------


def test_thousands_of_product_lines(tmp_path):
    rnd = random.Random(3)
    n_acc, lines = 300, [f"SKU{i:05d}" for i in range(5000)]
    rows = []
    for i in range(12000):
        acc = f"A{rnd.randrange(n_acc):03d}"
        line = lines[rnd.randrange(5000)] if rnd.random() < 0.5 else lines[rnd.randrange(20)]
        rows.append((f"O{i}", acc, f"2025-{1 + i % 6:02d}-{1 + i % 28:02d}", line, round(rnd.uniform(1, 90), 2)))
    (tmp_path / "accounts.csv").write_text("account_id,industry\n" + "".join(f"A{i:03d},retail\n" for i in range(n_acc)))
    with open(tmp_path / "orders.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "account_id", "order_date", "product_line", "amount"])
        w.writerows(rows)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(tmp_path)
        build = ws.build_features("account", "2025-06-30")
        assert any("product lines: too many for a column each" in n for n in build.notes)
        f = ws.store.frame(ws.features("account", "2025-06-30")).set_index("unit_id")
        ref = pd.DataFrame(rows, columns=["order_id", "account_id", "date", "line", "amount"])
        per = ref.groupby(["account_id", "line"]).amount.sum()
        want = per[per > 0].groupby(level=0).size()
        assert f.n_product_lines.reindex(want.index).tolist() == want.tolist()
        assert ws.analyze(as_of="2025-06-30").pareto().accounts == ref.account_id.nunique()
        space = ws.analyze(as_of="2025-06-30").whitespace()
        assert not space.empty and space.groupby("unit_id").size().max() <= 10
        bought = set(zip(ref.account_id, ref.line, strict=True))
        assert not any((u, line) in bought for u, line in zip(space.unit_id, space.product_line, strict=True))
        adopters = ref.groupby("line").account_id.nunique()
        top = space.iloc[0]
        assert top.adopters == adopters[top.product_line]
        mix = ws.analyze(as_of="2025-06-30").best(top_share=0.2).product_mix
        assert len(mix) == ref.line.nunique()
