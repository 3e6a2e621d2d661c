"""``suggest`` on the synthetic generator: the planted drivers of the best customers become the
potential parameters, the file it writes loads and runs, and the CLI prints the evidence."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.service import runs
from sikta.service.model import model_from_text, validate
from sikta.service import suggest as suggest_module
from sikta.service.suggest import suggest


def test_suggest_recovers_the_planted_drivers(synthetic_3000):
    d, ws = synthetic_3000
    truth = pd.read_parquet(d / "data" / "truth.parquet")
    planted = set(truth.best_drivers.dropna().unique()[0].split(","))
    s = suggest(ws, grain="account", as_of="2025-12-31")
    # The revenue-best are a noisy proxy of the planted best: one holdout split may keep only one planted
    # driver (tests/engine/test_best.py pools several), but the strongest factor is a planted one.
    assert s.potential[0].name in planted, (planted, [(p.name, p.evidence) for p in s.potential])
    assert 1 <= len(s.potential) <= 3 and 1 <= len(s.pain) <= 3
    for p in s.potential + s.pain:
        assert p.evidence  # every parameter says why
    # pain comes from what the best customers report more strongly than the rest
    assert all(p.name.startswith("need_") or p.effect is None or p.effect > 0 for p in s.pain)
    model = model_from_text(s.text, source="suggested.yaml")
    validate(model, ws.features("account", "2025-12-31").columns)
    assert [p.name for p in model.potential] == [p.name for p in s.potential]
    for p in s.potential:
        assert f"# evidence: {p.evidence}" in s.text


def test_the_suggested_model_runs_and_fills_the_matrix(synthetic_3000, tmp_path):
    d, ws = synthetic_3000
    wsfile = ws.path
    out = tmp_path / "suggested.yaml"
    # the CLI opens the same workspace file a second time in this process (DuckDB shares it)
    r = CliRunner().invoke(app, ["suggest", "--out", str(out), "-w", str(wsfile), "--as-of", "2025-12-31"])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "Potential" in r.stdout and "evidence" in r.stdout and "holdout" in r.stdout
    # the written model's matrix diagnosis is printed, warnings or not (README, docs/schemes.md)
    line = next(x for x in r.stdout.splitlines() if x.startswith("matrix of the written model (as of 2025-12-31): "))
    placed = dict(re.findall(r"(invest|qualify|streamline|maintain|deprioritized) ([\d,]+)", line))
    assert set(placed) == {"invest", "qualify", "streamline", "maintain", "deprioritized"}
    text = out.read_text()  # survey answers and firmographics: all four schemes the data can carry
    assert all(f"{k}: {{type: {k}}}" in text for k in ("value", "behavioral", "needs", "firmographic"))
    again = CliRunner().invoke(app, ["suggest", "--out", str(out), "-w", str(wsfile)])
    assert again.exit_code == 2 and "--force" in again.stderr  # never overwrites silently
    r = CliRunner().invoke(app, ["run", "--model", str(out), "-w", str(wsfile), "--as-of", "2025-12-31", "--json"])
    assert r.exit_code == 0, r.stderr
    groups = json.loads(r.stdout)["groups"]
    assert set(groups) == set(runs.GROUPS)
    assert all(groups[g]["accounts"] > 0 for g in ("invest", "qualify", "streamline", "maintain"))
    # what suggest printed is what the run stores
    assert {g: int(n.replace(",", "")) for g, n in placed.items()} == {g: groups[g]["accounts"] for g in placed}


def test_thinly_covered_parameters_are_never_proposed(synthetic_3000, monkeypatch):
    """Survey needs exist only for surveyed accounts: a parameter without a value for most units would put
    them all at the bottom of its axis ("high pain" = "answered a survey"), so suggest leaves it out and says why."""
    d, ws = synthetic_3000
    monkeypatch.setattr(suggest_module, "MIN_EFFECT", 0.0)  # every need the best customers rate higher is a candidate
    s = suggest(ws, grain="account", as_of="2025-12-31")
    f = ws.features("account", "2025-12-31").to_pandas()
    scope = f[f.status.isin(["customer", "prospect"])]
    for p in s.potential + s.pain:
        if "feature" in p.source:
            assert scope[p.source["feature"]].notna().mean() >= suggest_module.MIN_COVERAGE, p.name
    needs = [c for c in scope.columns if c.startswith("need_")]
    assert needs and max(scope[c].notna().mean() for c in needs) < 0.6  # surveyed accounts are a minority
    assert not any(p.name.startswith("need_") for p in s.pain)
    left_out = [n for n in s.notes if "not proposed" in n]
    assert left_out, s.notes  # the candidates that are too thin are named, with their coverage (pandas, not the engine)
    for n in left_out:
        name = n.split(": ", 1)[1].split(" ", 1)[0]
        share = scope[name].notna().mean()
        assert share < suggest_module.MIN_COVERAGE and f"only {share:.0%} of in-scope units" in n
    # the written model's matrix is diagnosed on the spot; a pain axis with most units at 0 gets a threshold above them
    assert s.matrix is not None and s.matrix["verdict"] in ("usable", "usable with caveats")
    assert not any("equals the axis minimum" in r for r in s.matrix["reasons"]), s.matrix["reasons"]
