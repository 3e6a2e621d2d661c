"""The report of a run whose opportunity lists are empty: written, with the reason in place of the table.

A handful of hand-made accounts whose orders all fall in the 12 months before the first run's date:
nobody can have lapsed yet, so the reactivation list is empty (the owner lookup once failed on the
empty frame and the whole report with it). A later run, when one unit has gone quiet, is the
control: the same section then lists exactly the units the orders below say lapsed; long after
the last order every unit has lapsed and nobody active is left to measure their potential against.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sikta.service import runs
from sikta.service.analysis import MIN_PEERS
from sikta.service.model import model_from_text
from sikta.service.workspace import Workspace
from sikta.web import report
from sikta.web.report import write_report
from tests.conftest import write
from tests.web.test_report import _parse

MODEL = "name: m\npotential: [{name: rev, feature: revenue_12m}]\npain: [{name: rec, feature: recency_days}]\n"
EARLY, LATE, GONE = dt.date(2023, 6, 30), dt.date(2024, 5, 31), dt.date(2025, 12, 31)
ORDERS = """
    order_id,account_id,order_date,product_id,quantity,amount,currency
    O1,A1,2023-02-03,P1,1,100,EUR
    O2,A1,2023-05-10,P1,1,120,EUR
    O3,A2,2023-03-01,P1,2,300,EUR
    O4,A3,2023-04-15,P1,1,80,EUR
    O5,A4,2023-06-20,P1,1,60,EUR
    O6,A5,2023-06-01,P1,1,90,EUR
    O7,A6,2023-05-05,P1,1,70,EUR
    O8,A1,2024-01-15,P1,1,110,EUR
    O9,A2,2024-03-01,P1,1,150,EUR
    O10,A4,2024-02-10,P1,1,65,EUR
    O11,A5,2024-04-02,P1,1,95,EUR
    O12,A6,2024-05-20,P1,1,75,EUR
    O13,A7,2024-05-25,P1,1,40,EUR
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("empty_lists")
    data = d / "data"
    data.mkdir()
    write(data, "accounts.csv", """
        account_id,name,parent_account_id,account_type,status,industry,employees
        A1,Alpha,,company,customer,retail,50
        A2,Beta,,company,customer,retail,80
        A3,Gamma,,company,customer,retail,20
        A4,Delta,,company,customer,retail,30
        A5,Epsilon,,company,customer,retail,40
        A6,Zeta,,company,customer,retail,60
        A7,Eta,,company,customer,retail,70
    """)
    orders = pd.read_csv(write(data, "orders.csv", ORDERS), parse_dates=["order_date"])
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(data)
    model = model_from_text(MODEL)
    early = runs.create_run(ws, model, as_of=EARLY)
    late = runs.create_run(ws, model, as_of=LATE)
    yield {"ws": ws, "orders": orders, "early": early.run_id, "late": late.run_id, "dir": d}
    ws.close()


def _lapsed(orders: pd.DataFrame, as_of: dt.date) -> set[str]:
    """Units with orders up to ``as_of`` but none in the 12 months to it, from the order rows."""
    upto = orders[orders.order_date.dt.date <= as_of]
    start = pd.Timestamp(as_of) - pd.DateOffset(months=12)
    recent = set(upto[upto.order_date > start].account_id)
    return set(upto.account_id) - recent


def _section(html: str, sid: str) -> str:
    return html.split(f'<section id="{sid}">')[1].split("</section>")[0]


def test_a_run_with_nobody_lapsed_gets_its_report_with_the_reason(world):
    assert _lapsed(world["orders"], EARLY) == set()  # the premise: the orders leave nobody lapsed
    out = world["dir"] / "early.html"
    doc = write_report(world["ws"], out, world["early"])
    assert doc["run"] == world["early"] and out.stat().st_size > 0
    why = doc["skipped"]["reactivation"]
    first = world["orders"].order_date.min().date()
    # the reason is analyze's own (Analysis.nothing_found), the same words as `sikta analyze reactivation`
    assert why.startswith("nothing to show: no former or lapsed customers at 2023-06-30: all ")
    assert f"(the data start on {first}, less than 12 months earlier)" in why
    html = out.read_text(encoding="utf-8")
    section = _section(html, "reactivation")
    assert "nothing to show" in section and "table-reactivation" not in _parse(html).tables


def test_the_reactivation_list_of_a_later_run_holds_exactly_the_lapsed_units(world):
    lapsed = _lapsed(world["orders"], LATE)
    assert lapsed == {"A3"}  # the control is not empty
    out = world["dir"] / "late.html"
    doc = write_report(world["ws"], out, world["late"])
    assert "reactivation" in doc["sections"] and "reactivation" not in doc["skipped"]
    table = _parse(out.read_text(encoding="utf-8")).tables["table-reactivation"]
    assert {row[0]["text"] for row in table["rows"]} == lapsed


def test_with_everyone_lapsed_the_reason_is_that_nobody_active_sets_their_potential(world):
    lapsed = _lapsed(world["orders"], GONE)
    assert lapsed == set(world["orders"].account_id)  # no active customer left to compare with
    analysis = world["ws"].analyze(grain="account", as_of=GONE)
    assert analysis.reactivation().empty
    assert analysis.nothing_found("reactivation") == (
        f"{len(lapsed)} former or lapsed customers, but fewer than {MIN_PEERS} active customers (revenue in the "
        "window) to compare them with")


def test_the_owner_lookup_of_an_empty_list_is_an_empty_list(world):
    ws = world["ws"]
    meta = runs.get_run(ws, world["early"])
    analysis = ws.analyze(grain="account", as_of=EARLY)
    empty = analysis.reactivation()
    assert empty.empty
    got = report._with_owner(analysis, meta, analysis.features(), empty)
    assert got.empty and {"unit_id", "group", "owner"} <= set(got.columns)
    # and a non-empty list keeps its rows, each with its group in the run (SQL on the run table)
    top = pd.DataFrame({"unit_id": ["A1", "A2"], "score": [2.0, 1.0]})
    got = report._with_owner(analysis, meta, analysis.features(), top)
    table = runs.run_table(meta["run_id"])
    groups = dict(ws.store.raw.execute(f'SELECT unit_id, "group" FROM "{table}"').fetchall())
    assert len(got) == len(top)
    assert got.set_index("unit_id")["group"].to_dict() == {u: groups.get(u) for u in got["unit_id"]}
