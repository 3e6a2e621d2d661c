"""Best customers through the workspace: a factor no better than chance is not a finding, and text codes are categories."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.core.diagnostics import auc_beats_chance
from sikta.service.workspace import Workspace
from tests.conftest import write

runner = CliRunner()


def _workspace(folder, amounts, regions, seed: int) -> Workspace:
    """600 accounts with an industry, employees and a region code ('1', '2', '3'), one order each in 2025."""
    rng = np.random.default_rng(seed)
    n = len(amounts)
    industries = rng.choice(["retail", "software", "energy", "health"], n)
    employees = rng.integers(5, 500, n)
    days = rng.integers(1, 150, n)
    write(folder, "accounts.csv", "account_id,industry,employees,region\n" + "".join(
        f"A{i:04d},{industries[i]},{employees[i]},{regions[i]}\n" for i in range(n)))
    write(folder, "orders.csv", "order_id,account_id,order_date,amount\n" + "".join(
        f"{i},A{i:04d},{np.datetime64('2025-01-01') + int(days[i])},{amounts[i]:.2f}\n" for i in range(n)))
    ws = Workspace(folder / "ws.duckdb")
    ws.ingest(folder)
    return ws


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    """Revenue unrelated to every attribute: no factor can separate the best customers."""
    d = tmp_path_factory.mktemp("best_noise")
    rng = np.random.default_rng(3)
    ws = _workspace(d, rng.lognormal(6, 1, 600), rng.choice(["1", "2", "3"], 600), seed=4)
    yield ws, d
    ws.close()


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """Region '2' - the middle code - buys about ten times as much: a category, not a threshold."""
    d = tmp_path_factory.mktemp("best_coded")
    rng = np.random.default_rng(5)
    regions = rng.choice(["1", "2", "3"], 600)
    amounts = rng.lognormal(5, 0.5, 600) * np.where(regions == "2", 10.0, 1.0)
    ws = _workspace(d, amounts, regions, seed=6)
    yield ws, d
    ws.close()


def test_a_try_no_better_than_chance_is_not_presented_as_a_finding(noise):
    ws, _ = noise
    best = ws.analyze(as_of="2025-06-30").best()
    pos, neg = best.n_holdout_best, best.n_holdout - best.n_holdout_best
    assert (pos, neg) == (18, 162)  # stratified 30 % of 60 best and 540 others
    assert not auc_beats_chance(best.holdout_auc, pos, neg)  # the premise: this data holds nothing
    assert best.beats_chance is False and best.drivers  # the search still returns its best try ...
    assert best.explanation.startswith("No factor separates the best customers from the rest better than chance")
    assert f"AUC {best.holdout_auc:.2f} on 18 best and 162 other customers" in best.explanation  # ... as evidence
    doc = best.to_dict()
    assert doc["beats_chance"] is False and doc["drivers"] == [] and doc["rules"] == []
    assert doc["best_try"] == {"drivers": best.drivers, "rules": best.rules}
    assert (doc["holdout_best"], doc["holdout_others"]) == (18, 162) and doc["holdout_auc"] == best.holdout_auc


def test_the_cli_says_so_in_text_and_json(noise, tmp_path):
    ws, _ = noise
    text = runner.invoke(app, ["analyze", "best", "-w", str(ws.path), "--as-of", "2025-06-30"])
    assert text.exit_code == 0, text.stderr
    flat = " ".join(text.stdout.split())
    assert "No factor separates the best customers from the rest better than chance on the holdout" in flat
    assert "rules:" not in flat and "Watersheds" not in flat
    out = runner.invoke(app, ["analyze", "best", "-w", str(ws.path), "--as-of", "2025-06-30", "--json",
                              "--out", str(tmp_path / "out")])
    doc = json.loads(out.stdout)["best"]
    assert doc["beats_chance"] is False and doc["rules"] == [] and doc["best_try"]["drivers"]
    stored = json.loads((tmp_path / "out" / "analysis.json").read_text())["best"]
    assert stored["beats_chance"] is False and stored["rules"] == []


def test_region_codes_are_categories(coded):
    ws, _ = coded
    best = ws.analyze(as_of="2025-06-30").best()
    assert best.beats_chance and best.drivers[0] == "region"
    # as numbers, no single threshold could pick out the middle code: "region ≥ 2" or "region ≤ 2"
    assert best.rules[0] == "region in {2}"
    effect = best.effects.set_index("feature").loc["region"]
    assert effect["kind"] == "categorical" and str(effect["top_category"]) == "2"
    text = runner.invoke(app, ["analyze", "best", "-w", str(ws.path), "--as-of", "2025-06-30"])
    assert "rules: region in {2}" in text.stdout
