"""``sikta clv``: the JSON shape of issue 11, Rich output, --out files and one-line errors with their exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sikta.service.workspace import Workspace
from tests.cli.test_cli import assert_one_line_error, run
from tests.clv_data import lifetimes_file
from tests.conftest import REPO

CAL, OBS = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def wsfile(tmp_path_factory):
    path = tmp_path_factory.mktemp("cdnow_cli") / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(lifetimes_file("CDNOW_sample.txt"), mapping=REPO / "examples" / "cdnow" / "sample_mapping.yaml")
    return path


def test_json_has_the_issue_keys_and_the_published_fit(wsfile):
    doc = json.loads(run("clv", "--calibration-end", CAL, "--as-of", OBS, "--time-unit", "week", "--json",
                         "-w", wsfile).stdout)
    assert {"model", "bgnbd", "gamma_gamma", "log_likelihood", "customers", "holdout"} <= set(doc)
    assert doc["model"] == "bgnbd" and list(doc["bgnbd"]) == ["r", "alpha", "a", "b"]
    assert list(doc["gamma_gamma"]) == ["p", "q", "v"]
    assert [round(doc["bgnbd"][k], 3) for k in ("r", "alpha", "a", "b")] == [0.243, 4.414, 0.793, 2.426]
    assert [round(doc["gamma_gamma"][k], 2) for k in ("p", "q", "v")] == [6.25, 3.74, 15.44]
    assert round(doc["log_likelihood"], 1) == -9582.4 and doc["customers"] == 2357
    h = doc["holdout"]
    assert [r["frequency"] for r in h["by_frequency"]] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(r["customers"] for r in h["by_frequency"]) == 2357
    assert h["actual"] == sum(r["actual"] for r in h["by_frequency"])
    assert len(h["tracking"]) == 77 and h["tracking"][-1]["week"] == 77
    assert {"actual", "predicted", "error", "verdict"} <= set(h)


def test_pareto_nbd_keys(wsfile):
    doc = json.loads(run("clv", "--calibration-end", CAL, "--model", "paretonbd", "--json", "-w", wsfile).stdout)
    assert doc["model"] == "paretonbd" and list(doc["paretonbd"]) == ["r", "alpha", "s", "beta"]
    assert "bgnbd" not in doc
    assert doc["holdout"] is not None  # the as-of date defaults to the last purchase, 1998-06-30


def test_no_holdout_without_a_later_as_of(wsfile):
    doc = json.loads(run("clv", "--calibration-end", OBS, "--as-of", OBS, "--json", "-w", wsfile).stdout)
    assert doc["holdout"] is None and doc["calibration_end"] == doc["as_of"] == OBS


def test_human_output_and_out_files(wsfile, tmp_path):
    out = run("clv", "--calibration-end", CAL, "--as-of", OBS, "--out", tmp_path / "clv", "--limit", "3",
              "-w", wsfile).stdout
    assert "BG/NBD" in out and "Value tiers by clv" in out and "Top units by CLV" in out
    assert "verdict" in out and "under-predicts" in out
    units = pd.read_parquet(tmp_path / "clv" / "clv_units.parquet")
    assert len(units) == 2357 and units.unit_id.is_unique
    csv = pd.read_csv(tmp_path / "clv" / "clv_units.csv", dtype={"unit_id": str})
    assert csv.unit_id.tolist() == units.unit_id.tolist()
    assert set(units.value_tier) == {"A", "B", "C"}
    holdout = pd.read_csv(tmp_path / "clv" / "clv_holdout.csv")
    assert holdout.customers.sum() == 2357
    assert json.loads((tmp_path / "clv" / "clv.json").read_text())["customers"] == 2357


def test_model_file_settings(wsfile, tmp_path):
    model = tmp_path / "m.yaml"
    model.write_text("name: m\npotential: [{name: clv}]\npain: [{name: p_alive, direction: lower}]\n"
                     "clv: {margin_rate: 0.3, cac: {default: 5}, horizon: 12}\n")
    doc = json.loads(run("clv", "--calibration-end", CAL, "--model-file", model, "--json", "-w", wsfile).stdout)
    assert doc["margin"] == {"source": "margin_rate", "overall_rate": 0.3}
    assert doc["horizon_months"] == 12
    assert doc["totals"]["clv_minus_cac"] == pytest.approx(doc["totals"]["clv"] - 5 * doc["customers"])


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--time-unit", "year"], 2, "--time-unit"),
        (["--model", "bgnbd2"], 2, "--model"),
        (["--calibration-end", "1998-07-01", "--as-of", OBS], 2, "after the as-of date"),
        (["--calibration-end", "30.09.1997"], 2, "is not a date"),
        (["--horizon", "0"], 2, "--horizon"),
        (["--calibration-end", "1997-01-01"], 5, "needs repeat purchases"),
        (["--as-of", "1996-12-31"], 5, "nothing to fit"),
        (["--contractual"], 5, "no subscriptions"),
        (["--contractual", "--model", "bgnbd"], 2, "--contractual takes"),
        (["--by", "industry"], 2, "go with --contractual"),
    ],
)
def test_expected_failures_are_one_line(wsfile, args, code, fragment):
    assert_one_line_error(run("clv", *args, "-w", wsfile, ok=False), code, fragment)


def test_missing_workspace_and_bad_model_file(tmp_path, wsfile):
    assert_one_line_error(run("clv", "-w", tmp_path / "none.duckdb", ok=False), 4, "does not exist")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: m\npotential: [{name: clv}]\npain: [{name: p_alive}]\nclv: {tiers: {a: 0.9, b: 0.5}}\n")
    assert_one_line_error(run("clv", "--model-file", bad, "-w", wsfile, ok=False), 3, "bad.yaml:4")


def test_suggest_on_the_cli_fits_clv_although_it_opens_read_only(tmp_path):
    """The CLI opens a workspace read-only first; a CLV proposal stores a fit, so suggest reopens it for writing
    (it said 'no CLV built-ins proposed - ... open read-only' in make demo)."""
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ws.ingest(lifetimes_file("CDNOW_sample.txt"), mapping=REPO / "examples" / "cdnow" / "sample_mapping.yaml")
    run("analyze", "-w", path)  # as make demo does: suggest itself then has nothing but the CLV fit to write
    r = run("suggest", "--out", tmp_path / "m.yaml", "-w", path)
    assert "read-only" not in r.stdout + r.stderr
    text = (tmp_path / "m.yaml").read_text()
    assert "  - name: clv" in text and "clv:" in text
