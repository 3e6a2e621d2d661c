"""``suggest`` on the synthetic generator: the planted drivers of the best customers become the
potential parameters, the file it writes loads and runs, and the CLI prints the evidence."""

from __future__ import annotations

import json

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
    names = {p.name for p in s.potential}
    assert planted <= names, (planted, [(p.name, p.evidence) for p in s.potential])
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
    again = CliRunner().invoke(app, ["suggest", "--out", str(out), "-w", str(wsfile)])
    assert again.exit_code == 2 and "--force" in again.stderr  # never overwrites silently
    r = CliRunner().invoke(app, ["run", "--model", str(out), "-w", str(wsfile), "--as-of", "2025-12-31", "--json"])
    assert r.exit_code == 0, r.stderr
    groups = json.loads(r.stdout)["groups"]
    assert set(groups) == set(runs.GROUPS)
    assert all(groups[g]["accounts"] > 0 for g in ("invest", "qualify", "streamline", "maintain"))


@pytest.mark.parametrize("threshold", [0.6, 1.01])
def test_thinly_covered_parameters_are_called_out(synthetic_3000, monkeypatch, threshold):
    """Survey needs exist only for surveyed accounts; a suggested parameter without a value for
    most units would silently put them all at the bottom of its axis, so suggest says so. At a
    threshold above 100 % every feature parameter is called out, with its share."""
    d, ws = synthetic_3000
    monkeypatch.setattr(suggest_module, "MIN_COVERAGE", threshold)
    s = suggest(ws, grain="account", as_of="2025-12-31")
    f = ws.features("account", "2025-12-31").to_pandas()
    scope = f[f.status.isin(["customer", "prospect"])]
    flagged = 0
    for p in s.potential + s.pain:
        if "feature" not in p.source:
            continue
        share = scope[p.name].notna().mean()  # independent of the engine-side count
        said = [n for n in s.notes if n.startswith(f"{p.axis}: {p.name} has a value for {share:.0%} ")]
        if share < threshold:
            flagged += 1
            assert said and "missing:" in said[0] and f"{share:.0%} of in-scope units" in p.evidence
            assert f"{share:.0%} of in-scope units, the others score 0 (missing)" in s.text  # in the file too
        else:
            assert not said and "in-scope units" not in p.evidence
    assert flagged >= (1 if threshold > 1 else 0)
