"""The report's CLV section shows the fit of the report's run, not the newest stored one.

Fits are stored in an order other than their dates: a run as of the later date first, then one
as of the earlier date, then a holdout fit that ends on the earlier date. Each run's report must
show the fit it scored with; the expected values are the run's own ``clv__clv`` column, read with
SQL from the run table (what ``sikta export`` ships), not from the stored fit the report reads.
A run whose model uses no CLV gets a fit as of its date, or the section says there is none.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from html import unescape

import pytest

from sikta.service import clv as clv_svc
from sikta.service import runs
from sikta.service.model import model_from_text
from sikta.service.workspace import Workspace
from sikta.web.report import write_report
from tests.service.test_clv_workspace import MODEL as CLV_MODEL
from tests.service.test_clv_workspace import _exports
from tests.web.test_report import _figures, _parse

PLAIN_MODEL = "name: plain\npotential: [{name: rev, feature: revenue_12m}]\npain: [{name: rec, feature: recency_days}]\n"
LATE, EARLY, HOLDOUT_CAL, BARE = dt.date(2025, 6, 30), dt.date(2024, 12, 31), dt.date(2024, 6, 30), dt.date(2024, 3, 31)
TOP = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("report_run_clv")
    data = d / "data"
    data.mkdir()
    _exports(data)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(data)
    clv_model, plain = model_from_text(CLV_MODEL), model_from_text(PLAIN_MODEL)
    late = runs.create_run(ws, clv_model, as_of=LATE).run_id  # stores the fit to LATE first
    early = runs.create_run(ws, clv_model, as_of=EARLY).run_id  # then the one to EARLY
    held = ws.clv("account", calibration_end=HOLDOUT_CAL, as_of=EARLY)  # newest of all: a holdout to EARLY
    late_again = runs.create_run(ws, clv_model, as_of=LATE).run_id  # reuses the older stored fit to LATE
    plain_early = runs.create_run(ws, plain, as_of=EARLY).run_id
    plain_bare = runs.create_run(ws, plain, as_of=BARE).run_id  # nothing stored as of BARE
    newest = clv_svc.stored_all(ws, "account")[0]
    assert newest.table == held.table  # the premise: the newest stored fit belongs to neither clv run
    fits = {r: json.loads(runs.get_run(ws, r)["clv"])["table"] for r in (late, early, late_again)}
    assert fits[late] == fits[late_again] != fits[early]  # the second run to LATE reused the first one's fit
    yield {"ws": ws, "dir": d, "late": late, "early": early, "late_again": late_again, "held": held,
           "plain_early": plain_early, "plain_bare": plain_bare}
    ws.close()


def _report(world, run_id: str) -> tuple[dict, str]:
    out = world["dir"] / f"{run_id}.html"
    doc = write_report(world["ws"], out, run_id, top_n=TOP)
    return doc, out.read_text(encoding="utf-8")


def _lead(html: str) -> str:
    section = html.split('<section id="clv">')[1].split("</section>")[0]
    return unescape(section.split('<div class="chart">')[0])


def _run_clv(ws, run_id: str, top: int) -> list[tuple[str, float]]:
    """The run's own top units by clv__clv, with SQL on the run table."""
    table = runs.run_table(run_id)
    return ws.store.raw.execute(f'SELECT unit_id, clv__clv FROM "{table}" WHERE clv__clv IS NOT NULL '
                                f"ORDER BY clv__clv DESC, unit_id LIMIT {top}").fetchall()


def _shown(html: str) -> list[tuple[str, float]]:
    rows = _parse(html).tables["table-clv-top"]["rows"]
    return [(r[0]["text"], float(r[5]["v"])) for r in rows]


def _assert_same(got: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert len(expected) == TOP
    assert [u for u, _ in got] == [u for u, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-12)


@pytest.mark.parametrize(("run", "day"), [("late", LATE), ("late_again", LATE), ("early", EARLY)])
def test_each_clv_run_shows_the_fit_it_scored_with(world, run, day):
    run_id = world[run]
    doc, html = _report(world, run_id)
    assert "clv" in doc["sections"]
    _assert_same(_shown(html), _run_clv(world["ws"], run_id, TOP))
    lead = _lead(html)
    assert f"purchases to {day};" in lead and f"The fit run {run_id} scored with" in lead


def test_the_runs_at_two_dates_show_different_values(world):
    # guards the test above: were both dates' values alike it could not tell the fits apart
    late, early = dict(_run_clv(world["ws"], world["late"], 200)), dict(_run_clv(world["ws"], world["early"], 200))
    both = sorted(set(late) & set(early))
    assert len(both) > 10 and sum(late[u] != pytest.approx(early[u]) for u in both) > len(both) / 2


def test_a_holdout_is_shown_only_when_its_data_end_on_the_runs_date(world):
    _, early = _report(world, world["early"])
    _, late = _report(world, world["late"])
    assert {"chart-clv-holdout", "chart-clv-tracking"} <= set(_figures(early))
    assert f"Holdout check (fit to {HOLDOUT_CAL}, data to {EARLY})" in _lead(early)
    assert not {"chart-clv-holdout", "chart-clv-tracking"} & set(_figures(late))
    assert f"No holdout check stored with data to {LATE}" in late


def test_a_run_without_clv_shows_the_fit_to_its_date(world):
    _, html = _report(world, world["plain_early"])
    # the fit on all purchases to the date, not the newer holdout fit that stops before it
    _assert_same(_shown(html), _run_clv(world["ws"], world["early"], TOP))
    lead = _lead(html)
    assert f"purchases to {EARLY};" in lead and f"Run {world['plain_early']} uses no CLV" in lead


def test_a_run_without_clv_and_no_fit_at_its_date_says_so(world):
    doc, html = _report(world, world["plain_bare"])
    assert doc["skipped"]["clv"] == (f"no CLV for this run: its model uses none, and no CLV is stored at account "
                                     f"grain as of {BARE} ('sikta clv --as-of {BARE}' makes one)")
    assert "table-clv-top" not in _parse(html).tables


def test_a_run_whose_fit_is_gone_says_so_rather_than_show_another(world, tmp_path):
    path = tmp_path / "ws.duckdb"
    world["ws"].store.raw.execute("CHECKPOINT")  # the copy must hold everything written so far
    shutil.copyfile(world["ws"].path, path)
    with Workspace(path) as ws:
        meta = runs.get_run(ws, world["late"])
        table = clv_svc.stored_for_run(ws, meta).table
        ws.store.drop(table)  # what pruning does to a fit after a newer ingest or newer fits
        ws.store.execute(f'DELETE FROM "{clv_svc.REGISTRY}" WHERE "table" = ?', [table])
        doc = write_report(ws, tmp_path / "r.html", world["late"])
    why = doc["skipped"]["clv"]
    assert why.startswith(f"the CLV fit run {meta['run_id']} used (purchases to {LATE}, as of {LATE}) is no longer "
                          "stored") and "clv__ columns" in why


@pytest.mark.parametrize("run", ["late", "early", "late_again"])
def test_an_account_document_shows_the_fit_its_run_scored_with(world, run):
    # GET /api/v1/accounts/{unit_id} and the account page read RunReader.account(): the clv field showed
    # the newest stored fit (the holdout to EARLY) for every run
    from sikta.service.segments import RunReader

    ws, run_id = world["ws"], world[run]
    reader = RunReader(ws)
    for unit_id, expected in _run_clv(ws, run_id, 3):
        doc = reader.account(unit_id, run_id)
        assert doc["clv"]["clv"] == pytest.approx(expected, rel=1e-12), unit_id


def test_an_account_document_of_a_run_without_clv_shows_the_fit_to_its_date(world):
    from sikta.service.segments import RunReader

    ws = world["ws"]
    reader = RunReader(ws)
    early = dict(_run_clv(ws, world["early"], 3))  # the fit to EARLY on all purchases, as the CLV run used
    for unit_id, expected in early.items():
        assert reader.account(unit_id, world["plain_early"])["clv"]["clv"] == pytest.approx(expected, rel=1e-12)
    unit = next(iter(early))
    assert reader.account(unit, world["plain_bare"])["clv"] is None  # nothing stored as of its date
