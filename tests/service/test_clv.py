"""CLV through the workspace, with lifetimes as the oracle on CDNOW (both files that ship with it).

The sample (2,357 customers) is the data of Fader, Hardie & Lee (2005): the service must give the
published fit. The full log (23,570 customers) has no published fit; the service must equal
lifetimes on the same summaries. Each file is ingested like a user would, with its example mapping.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import calibration_and_holdout_data

from sikta.service.clv_settings import ClvSettings
from sikta.service.workspace import Workspace
from tests.clv_data import cdnow_master, cdnow_sample, lifetimes_file
from tests.conftest import REPO

CAL, OBS = dt.date(1997, 9, 30), dt.date(1998, 6, 30)
BG = ["r", "alpha", "a", "b"]
GG = ["p", "q", "v"]
WEEKS_PER_MONTH = 365.25 / 12 / 7


def _lifetimes_summary(raw: pd.DataFrame) -> pd.DataFrame:
    return calibration_and_holdout_data(
        raw, "customer_id", "order_date", calibration_period_end=CAL, observation_period_end=OBS,
        freq="D", freq_multiplier=7, monetary_value_col="dollar_value",
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("cdnow_sample") / "ws.duckdb")
    ws.ingest(lifetimes_file("CDNOW_sample.txt"), mapping=REPO / "examples" / "cdnow" / "sample_mapping.yaml")
    res = ws.clv(calibration_end=CAL, as_of=OBS, time_unit="week")
    units = res.units().to_pandas().set_index("unit_id")
    ref = _lifetimes_summary(cdnow_sample())
    yield ws, res, units, ref
    ws.close()


def test_sample_gives_the_published_fit_and_lifetimes(sample):
    _, res, _, ref = sample
    got = np.array([res.params[k] for k in BG])
    oracle = BetaGeoFitter().fit(ref.frequency_cal, ref.recency_cal, ref.T_cal)
    np.testing.assert_allclose(got, oracle.params_[BG].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(np.round(got, 3), [0.243, 4.414, 0.793, 2.426])  # FHL 2005
    assert round(res.log_likelihood, 1) == -9582.4
    assert res.customers == len(ref) == 2357
    repeat = ref[(ref.frequency_cal > 0) & (ref.monetary_value_cal > 0)]
    gg = GammaGammaFitter().fit(repeat.frequency_cal, repeat.monetary_value_cal)
    np.testing.assert_allclose([res.gamma_gamma[k] for k in GG], gg.params_[GG].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(np.round([res.gamma_gamma[k] for k in GG], 2), [6.25, 3.74, 15.44])  # FHL 2005b


def test_per_unit_values_equal_lifetimes_at_the_same_parameters(sample):
    _, res, units, ref = sample
    u = units.loc[ref.index]
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(res.params)[BG]
    x, tx, T = ref.frequency_cal, ref.recency_cal, ref.T_cal
    np.testing.assert_allclose(u.p_alive, bgf.conditional_probability_alive(x, tx, T), rtol=1e-6)
    horizon = 36 * WEEKS_PER_MONTH
    np.testing.assert_allclose(
        u.expected_purchases, bgf.conditional_expected_number_of_purchases_up_to_time(horizon, x, tx, T), rtol=1e-6)
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(res.gamma_gamma)[GG]
    spend = ggf.conditional_expected_average_profit(x, ref.monetary_value_cal)
    np.testing.assert_allclose(u.expected_spend, spend, rtol=1e-6)
    # CLV: purchases expected in each month, times the spend, discounted monthly at 10 % a year
    monthly = 1.1 ** (1 / 12) - 1
    before, clv = 0.0, 0.0
    for k in range(1, 37):
        upto = bgf.conditional_expected_number_of_purchases_up_to_time(k * WEEKS_PER_MONTH, x, tx, T)
        clv = clv + (upto - before) / (1 + monthly) ** k
        before = upto
    np.testing.assert_allclose(u.clv, clv * spend, rtol=1e-6)  # no cost and no margin rate: revenue


def test_holdout_equals_lifetimes_counts_and_predictions(sample):
    _, res, units, ref = sample
    h = res.holdout
    assert h["actual"] == ref.frequency_holdout.sum()
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(res.params)[BG]
    pred = bgf.conditional_expected_number_of_purchases_up_to_time(
        ref.duration_holdout, ref.frequency_cal, ref.recency_cal, ref.T_cal)
    assert h["predicted"] == pytest.approx(pred.sum(), rel=1e-8)
    bins = np.minimum(ref.frequency_cal, 7)
    by = ref.assign(bin=bins, pred=pred).groupby("bin").agg(customers=("pred", "size"),
                                                             actual=("frequency_holdout", "sum"), predicted=("pred", "sum"))
    assert [r["customers"] for r in h["by_frequency"]] == by.customers.tolist()
    assert [r["actual"] for r in h["by_frequency"]] == by.actual.tolist()
    np.testing.assert_allclose([r["predicted"] for r in h["by_frequency"]], by.predicted, rtol=1e-8)
    assert (h["error"] < -0.10) == (h["verdict"] is not None)
    assert units.frequency_holdout.sum() == h["actual"]
    # the tracking curve ends at the cohort's cumulative repeat purchases up to the as-of date
    # (77 complete weeks from 1997-01-01), counted here from the raw lines
    raw = cdnow_sample()
    days = raw.drop_duplicates(["customer_id", "order_date"])
    end = pd.Timestamp("1997-01-01") + pd.Timedelta(days=7 * 77)
    repeats = days[days.order_date < end].groupby("customer_id").size().sub(1).sum()
    assert h["tracking"][-1] == {"week": 77, "actual": float(repeats), "predicted": pytest.approx(
        h["tracking"][-1]["predicted"])}


def test_pareto_nbd_through_the_service(sample):
    ws, _, _, ref = sample
    res = ws.clv(calibration_end=CAL, as_of=OBS, model="paretonbd")
    oracle = ParetoNBDFitter().fit(ref.frequency_cal, ref.recency_cal, ref.T_cal, initial_params=np.ones(4),
                                   tol=1e-10, maxiter=20_000)
    names = ["r", "alpha", "s", "beta"]
    assert list(res.params) == names and res.model == "paretonbd"
    np.testing.assert_allclose([res.params[k] for k in names], oracle.params_[names].to_numpy(), rtol=1e-4)
    u = res.units().to_pandas().set_index("unit_id").loc[ref.index]
    np.testing.assert_allclose(
        u.p_alive, oracle.conditional_probability_alive(ref.frequency_cal, ref.recency_cal, ref.T_cal), rtol=1e-5)
    horizon = 36 * WEEKS_PER_MONTH
    oracle_at_ours = ParetoNBDFitter()
    oracle_at_ours.params_ = pd.Series(res.params)[names]
    no_purchase = oracle_at_ours.conditional_probability_of_n_purchases_up_to_time(
        0, horizon, ref.frequency_cal, ref.recency_cal, ref.T_cal)
    np.testing.assert_allclose(u.p_purchase, 1 - no_purchase, rtol=1e-8)


def test_the_result_is_stored_under_its_settings_and_reused(sample):
    ws, res, _, _ = sample
    again = ws.clv(calibration_end=CAL, as_of=OBS, time_unit="week")
    assert again.table == res.table and again.summary == res.summary
    other = ws.clv(calibration_end=CAL, as_of=OBS, horizon=12)
    assert other.table != res.table
    assert ws.clv.latest("account").table == other.table
    # a 12-month horizon is worth less than a 36-month one, unit by unit
    a = res.units().to_pandas().set_index("unit_id").clv
    b = other.units().to_pandas().set_index("unit_id").clv.loc[a.index]
    assert (b <= a + 1e-9).all() and b.sum() < a.sum()


def test_full_cdnow_equals_lifetimes_on_the_same_summaries(tmp_path):
    raw = cdnow_master()
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(lifetimes_file("CDNOW_master.txt"), mapping=REPO / "examples" / "cdnow" / "mapping.yaml")
        res = ws.clv(calibration_end=CAL, as_of=OBS)
    ref = _lifetimes_summary(raw)
    oracle = BetaGeoFitter().fit(ref.frequency_cal, ref.recency_cal, ref.T_cal)
    np.testing.assert_allclose([res.params[k] for k in BG], oracle.params_[BG].to_numpy(), rtol=1e-4)
    assert res.customers == 23_570
    repeat = ref[(ref.frequency_cal > 0) & (ref.monetary_value_cal > 0)]
    gg = GammaGammaFitter().fit(repeat.frequency_cal, repeat.monetary_value_cal)
    np.testing.assert_allclose([res.gamma_gamma[k] for k in GG], gg.params_[GG].to_numpy(), rtol=1e-4)
    assert res.summary["gamma_gamma_check"]["customers"] == len(repeat)
    # the repeat customers left out of the spend fit, counted by lifetimes' summary, in plain words
    left_out = int(((ref.frequency_cal > 0) & (ref.monetary_value_cal <= 0)).sum())
    said = [n for n in res.notes if "left out of the Gamma-Gamma fit" in n]
    if left_out == 1:
        assert said == ["1 repeat customer with an average spend <= 0 is left out of the Gamma-Gamma fit "
                        "(it gets the population's mean spend)"]
    else:
        assert said == [f"{left_out:,} repeat customers with an average spend <= 0 are left out of the "
                        "Gamma-Gamma fit (they get the population's mean spend)"] if left_out else not said
    assert res.holdout["actual"] == ref.frequency_holdout.sum() == 19_684
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(res.params)[BG]
    pred = bgf.conditional_expected_number_of_purchases_up_to_time(
        ref.duration_holdout, ref.frequency_cal, ref.recency_cal, ref.T_cal).sum()
    assert res.holdout["predicted"] == pytest.approx(pred, rel=1e-8)
    # 16,874 predicted against 19,684: the 14 % miss is reported, not hidden
    assert res.holdout["verdict"].startswith("the model under-predicts holdout repeat purchases by 14%")
    json.dumps(res.to_dict())  # JSON-ready as it is


def test_settings_validate_like_the_file():
    from sikta.errors import UsageError

    with pytest.raises(UsageError, match="--time-unit"):
        ClvSettings().with_options(time_unit="year")
    with pytest.raises(UsageError, match="--horizon"):
        ClvSettings().with_options(horizon=0)
    assert ClvSettings().with_options(discount=0.0).monthly_discount() == 0.0


def test_suggest_proposes_clv_and_p_alive_on_transaction_only_data(sample):
    from sikta.service import runs
    from sikta.service.model import model_from_text
    from sikta.service.suggest import suggest

    ws, _, _, _ = sample
    s = suggest(ws, grain="account", as_of=OBS)
    potential = {p.name: p for p in s.potential}
    pain = {p.name: p for p in s.pain}
    assert "clv" in potential and "wallet_gap" not in potential  # no firmographics: no lookalike wallets
    assert pain["p_alive"].source == {"direction": "lower"}
    assert "2,357 customers" in potential["clv"].evidence and "P(alive) < 0.5" in pain["p_alive"].evidence
    model = model_from_text(s.text, source="suggested.yaml")
    assert model.clv is not None
    # a purchase log of dates and amounts shows nothing of how customers buy: no behavioral scheme, and why
    assert "behavioral" not in model.schemes.names() and "# behavioral: {type: behavioral}" in s.text
    assert "no product ids and no credit notes, and there are no tickets" in s.text
    run = runs.create_run(ws, model, as_of=OBS)
    rows = ws.run_rows(run.run_id).to_pandas()
    assert rows["clv__p_alive"].notna().all()  # every in-scope unit bought (CDNOW has no prospects)
    np.testing.assert_allclose(rows["pain__p_alive__value"], rows["clv__p_alive"])


CLV_MODEL = """
name: clv what-if
version: 1
customer: {grain: account, statuses: [customer]}
potential:
  - name: clv
pain:
  - name: p_alive
    direction: lower
thresholds:
  potential: {quantile: 0.7}
  pain: {quantile: 0.5}
clv:
  horizon: HORIZON
"""


def test_what_if_with_clv_on_a_read_only_workspace_equals_the_run_it_would_store(tmp_path):
    """The web editor previews in a server holding the workspace read-only: a new CLV setting is fitted in the
    connection only (nothing written), and the preview's groups equal those of the run stored afterwards."""
    from sikta.service.model import model_from_text
    from sikta.service.whatif import preview

    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(lifetimes_file("CDNOW_sample.txt"), mapping=REPO / "examples" / "cdnow" / "sample_mapping.yaml")
        ws.run(model_from_text(CLV_MODEL.replace("HORIZON", "36"), source="a.yaml"), as_of=CAL)
    edited = model_from_text(CLV_MODEL.replace("HORIZON", "3"), source="b.yaml")
    with Workspace(path, read_only=True) as ws:
        before = set(ws.store.tables())
        doc = preview(ws, edited)
    with Workspace(path, read_only=True) as ws:
        assert set(ws.store.tables()) == before  # the temporary fit is gone with the connection
    with Workspace(path) as ws:
        stored = ws.run(edited, as_of=CAL)
    assert {g: doc["groups"][g]["accounts"] for g in stored.groups} == {g: v["accounts"] for g, v in stored.groups.items()}
    assert doc["moved"] > 0  # a 3-month horizon ranks customers differently from 36 months
