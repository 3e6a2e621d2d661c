"""One account is read from prepared JSON documents and written with orjson, past FastAPI's
response validation: checked here against the wide tables read column by column, and against
what the response models would have made of the same answer."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from sikta.api import schemas as s
from sikta.service.runs import run_table


@pytest.fixture(scope="module")
def run_ids(api) -> list[str]:
    return [r[0] for r in api.sql("SELECT run_id FROM _sikta_runs ORDER BY created_at DESC")]


def _columns(api, table: str) -> list[str]:
    return [c for (c,) in api.sql("SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                                  "ORDER BY column_index", [table])]


def _same_cell(got, want) -> bool:
    if want is None or (isinstance(want, float) and not math.isfinite(want)):
        return got is None
    if isinstance(want, dt.datetime | dt.date):
        return got == want.isoformat()
    if isinstance(want, bool) or isinstance(want, str | list):
        return got == want
    if isinstance(want, float | Decimal):
        return got == pytest.approx(float(want), rel=1e-12)
    return got == want


def _docs(api) -> set[str]:
    return {t for (t,) in api.sql("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, '_sikta_doc_')")}


def test_the_app_prepares_a_document_table_per_run_and_feature_table(api, run_ids):
    docs = _docs(api)
    assert {f"_sikta_doc_{run_table(r)}@" for r in run_ids} <= docs
    assert sum(t.startswith("_sikta_doc_features_account@") for t in docs) == 1
    for doc in docs:
        source = doc.removeprefix("_sikta_doc_").split("@")[0]
        assert api.sql(f'SELECT count(*) FROM "{doc}"') == api.sql(f'SELECT count(*) FROM "{source}"')


def test_an_account_from_documents_equals_the_wide_tables(api, run_ids):
    features, values = _columns(api, "features_account"), _columns(api, run_table(run_ids[0]))
    sample = api.sql(f'SELECT unit_id FROM "{run_table(run_ids[0])}" ORDER BY hash(unit_id) LIMIT 25')
    checked_null = False
    for (unit_id,) in sample:
        body = api.get(f"/api/v1/accounts/{unit_id}").json()
        assert list(body["features"]) == features and list(body["values"]) == values
        wide = api.sql("SELECT * FROM features_account WHERE unit_id = ?", [unit_id])[0]
        for col, want in zip(features, wide, strict=True):
            assert _same_cell(body["features"][col], want), (unit_id, col, body["features"][col], want)
            checked_null |= want is None
        row = api.sql(f'SELECT * FROM "{run_table(run_ids[0])}" WHERE unit_id = ?', [unit_id])[0]
        for col, want in zip(values, row, strict=True):
            assert _same_cell(body["values"][col], want), (unit_id, col, body["values"][col], want)
    assert checked_null


def test_the_answer_is_what_the_response_model_would_have_written(api, run_ids):
    unit_id = api.sql(f'SELECT unit_id FROM "{run_table(run_ids[0])}" ORDER BY unit_id LIMIT 1')[0][0]
    for url in (f"/api/v1/accounts/{unit_id}", f"/api/v1/accounts/{unit_id}?run=previous",
                "/api/v1/accounts?limit=20", "/api/v1/accounts?group=invest&sort=-potential_score&limit=5"):
        r = api.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        model = s.AccountDetail if "?limit" not in url and "group=" not in url else s.AccountPage
        assert r.json() == model.model_validate(r.json()).model_dump(mode="json"), url


def test_the_wide_table_path_says_the_same(api, run_ids):
    """Without document tables (an app started with prepare=False) the reader reads the tables."""
    st = api.app.state.sikta
    for run in ("latest", "previous"):
        with st.lock:
            ctx = st.reader.account_context(run)
        assert ctx["run_doc"] and ctx["features_doc"]
        wide = dict(ctx, run_doc=None, features_doc=None)
        for (unit_id,) in api.sql(f'SELECT unit_id FROM "{run_table(ctx["meta"]["run_id"])}" ORDER BY hash(unit_id) LIMIT 10'):
            fast, slow = st.reader.account_read(ctx, unit_id), st.reader.account_read(wide, unit_id)
            assert fast.keys() == slow.keys()
            for key in fast:
                if key in ("values", "features"):
                    assert fast[key].keys() == slow[key].keys()
                    assert all(_same_cell(fast[key][c], slow[key][c]) for c in fast[key]), key
                else:
                    assert fast[key] == slow[key], key


def test_an_analysis_at_another_date_leaves_the_scored_features_alone(api, run_ids):
    unit_ids = [u for (u,) in api.sql("SELECT unit_id FROM features_account WHERE revenue_12m > 0 ORDER BY unit_id LIMIT 40")]
    before = {u: api.get(f"/api/v1/accounts/{u}").json() for u in unit_ids}
    (as_of,) = api.sql("SELECT as_of FROM _sikta_feature_builds WHERE \"table\" = 'features_account' "
                       "ORDER BY built_at DESC LIMIT 1")[0]
    earlier = as_of - dt.timedelta(days=180)
    assert api.get(f"/api/v1/analysis/pareto?grain=account&as_of={earlier}", "analyst").status_code == 200
    keyed = f"features_account__{earlier:%Y%m%d}_w12"
    then = {u: r for u, r in api.sql(f'SELECT unit_id, revenue_12m FROM "{keyed}" WHERE unit_id IN '
                                     f"({', '.join('?' * len(unit_ids))})", unit_ids)}
    assert any(then[u] != pytest.approx(before[u]["features"]["revenue_12m"]) for u in then)  # a real other build
    for u in unit_ids:  # the default build, its documents and what accounts show are unchanged
        body = api.get(f"/api/v1/accounts/{u}").json()
        assert body["features_as_of"] == as_of.isoformat() == before[u]["features_as_of"]
        assert body["features"] == before[u]["features"]


def test_a_rebuilt_feature_table_gets_fresh_documents(api, run_ids):
    st = api.app.state.sikta
    old_docs = {t for t in _docs(api) if t.startswith("_sikta_doc_features_account@")}
    assert len(old_docs) == 1
    with api.writing() as ws:
        ws.build_features("account")  # the default build again: a new build time
        st.reader.refresh(prepare=True)
    with st.lock:
        fresh = st.reader.account_context("latest")["features_doc"]
    assert fresh not in (None, *old_docs)
    assert {t for t in _docs(api) if t.startswith("_sikta_doc_features_account@")} == {fresh}
    (u,) = api.sql("SELECT unit_id FROM features_account WHERE revenue_12m > 0 ORDER BY unit_id LIMIT 1")[0]
    (want,) = api.sql("SELECT revenue_12m FROM features_account WHERE unit_id = ?", [u])[0]
    assert _same_cell(api.get(f"/api/v1/accounts/{u}").json()["features"]["revenue_12m"], want)


def test_a_new_ingest_drops_the_feature_documents_with_the_features(api, tmp_path):
    from sikta.synth import generate

    assert any(t.startswith("_sikta_doc_features_") for t in _docs(api))
    generate(tmp_path / "data", accounts=300, seed=8, lines_per_account=10, years=2)
    with api.writing() as ws:
        ws.ingest(tmp_path / "data", allow_shrink=True)
    assert not any(t.startswith("_sikta_doc_features_") for t in _docs(api))
    assert any(t.startswith("_sikta_doc_run__") for t in _docs(api))  # runs stay as they were
