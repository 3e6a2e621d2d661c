"""No degenerate matrix without a word: model check and run warn, the run stores the diagnosis, diagnose says why;
suggest on transaction-only data, best customers by a rule. Real-data cases are skipped when the data is absent."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sikta.cli import app
from sikta.service.diagnose import diagnose_run
from sikta.service.model import model_from_text

AS_OF = "2025-12-31"


def _model(pain: str, thresholds: str = "") -> str:
    return (f"name: g\npotential:\n  - {{name: size, feature: employees}}\npain:\n  - {pain}\n"
            + (f"thresholds: {thresholds}\n" if thresholds else ""))


CASES = {
    # every unit scores 0 on pain: constant axis, and nothing can be high pain
    "constant": (_model("{name: none, rule: 'employees < 0'}"),
                 ["pain axis is constant: every unit scores 0.00", "group 'invest' is empty",
                  "group 'streamline' is empty"], "not usable"),
    # most units have no ticket in the window: the median threshold sits on them
    "threshold at the minimum": (_model("{name: t, feature: tickets_high_12m}"),
                                 ["pain threshold 0.00 equals the axis minimum"], "usable with caveats"),
    # a third answered a survey
    "parameter most lack": (_model("{name: need_score}"),
                            ["pain axis depends on need score, which", "of accounts lack (they score as missing)"],
                            "usable with caveats"),
    # a fixed threshold no unit reaches: two groups empty
    # a pain axis that cannot pass 0.5 (its second parameter is always 0) against a threshold of 0.9
    "empty groups": (_model("{name: t, feature: tickets_12m}\n  - {name: none, rule: 'employees < 0'}",
                            "{pain: {value: 0.9}}"),
                     ["pain threshold 0.90 is above the axis maximum 0.50: no unit counts as high pain",
                      "group 'invest' is empty", "group 'streamline' is empty"], "usable with caveats"),
}


@pytest.mark.parametrize("case", CASES)
def test_model_check_and_run_warn_and_the_run_stores_it(synthetic_3000, tmp_path, case):
    _, ws = synthetic_3000
    text, expected, verdict = CASES[case]
    f = ws.store.frame(ws.features("account", AS_OF))
    scope = f[f.status.isin(["customer", "prospect"])]
    if case == "threshold at the minimum":
        assert (scope.tickets_high_12m.fillna(0) == 0).mean() > 0.5  # the premise, from the features
    if case == "parameter most lack":
        share = scope[[c for c in scope.columns if c.startswith("need_")]].notna().any(axis=1).mean()
        assert share < 0.6
        expected = [e.replace("which", f"which {1 - share:.0%}".replace("%", " %")) for e in expected]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    runner = CliRunner()
    check = runner.invoke(app, ["model", "check", str(path), "-w", str(ws.path), "--json"])
    assert check.exit_code == 0, check.stderr
    matrix = json.loads(check.stdout)["matrix"]
    assert matrix["verdict"] == verdict
    for e in expected:
        assert any(e in r for r in matrix["reasons"]), (e, matrix["reasons"])
    human = runner.invoke(app, ["run", "--model", str(path), "-w", str(ws.path), "--as-of", AS_OF])
    assert human.exit_code == 0 and "warning" in human.stdout and expected[0][:30] in human.stdout.replace("\n", " ")
    stored = diagnose_run(ws)["matrix"]  # the run that just ran
    assert stored["verdict"] == verdict and stored["reasons"] == matrix["reasons"]


def test_a_sound_matrix_has_no_warning_and_every_axis_is_explained(synthetic_3000, tmp_path):
    _, ws = synthetic_3000
    text = _model("{name: t, feature: tickets_12m}").replace("tickets_12m}", "tickets_12m, scaling: rank}")
    run = ws.run(model_from_text(text + "thresholds: {pain: {quantile: 0.7}}\n"), as_of=AS_OF)
    d = run.diagnostics
    groups = {g["group"]: g for g in d["groups"]}
    assert all(groups[g]["units"] > 0 for g in ("invest", "qualify", "streamline", "maintain"))
    assert sum(g["units"] for g in d["groups"]) == run.units
    assert sum(g["revenue_share"] for g in d["groups"]) == pytest.approx(1.0)
    rows = ws.store.frame(ws.run_rows(run.run_id))
    assert groups["invest"]["units"] == (rows.group == "invest").sum()
    for axis in ("potential", "pain"):
        a = d["axes"][axis]
        assert a["why"].startswith(f"{axis} is the weighted mean of")
        assert a["high_share"] == pytest.approx((rows[rows.group != "deprioritized"][f"{axis}_high"]).mean())


# -- suggest on real data -----------------------------------------------------------------------------------------

from tests.conftest import REPO, SHARED_DATA  # noqa: E402

RETAIL = SHARED_DATA / "online_retail.parquet"


@pytest.mark.skipif(not RETAIL.exists(), reason="shared/data/online_retail.parquet is not beside the repo")
def test_online_retail_suggested_model_fills_all_four_groups_and_diagnose_says_why(tmp_path):
    from sikta.service.workspace import Workspace

    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(RETAIL, mapping=REPO / "examples" / "online_retail" / "mapping.yaml")
        s = ws.suggest()
        assert any("no survey answers" in n for n in s.notes)
        assert not any("separate" in n and "need" in n for n in s.notes)
        assert s.pain and not any(p.name.startswith("need") for p in s.pain)
        f = ws.store.frame(ws.features("account"))
        scope = f[f.status.isin(["customer", "prospect"])]
        for p in [*s.potential, *s.pain]:
            col = p.source.get("feature", p.name)
            if col in scope.columns:
                assert scope[col].notna().mean() >= 0.6 and scope[col].nunique() > 1, p.name
        # BG/NBD on Online Retail's one year: a = 0.003, nobody is more likely gone than not - no p_alive pain
        assert "p_alive" not in {p.name for p in s.pain} and any("p_alive not proposed" in n for n in s.notes)
        # transaction-only data carry the value and behavioral schemes; no surveys, no firmographics
        assert "value: {type: value}" in s.text and "behavioral: {type: behavioral}" in s.text
        assert "needs: {type" not in s.text and "firmographic: {type" not in s.text
        (tmp_path / "m.yaml").write_text(s.text)
        run = ws.run(tmp_path / "m.yaml")
        assert set(run.schemes) == {"value", "behavioral"}
        counts = {g: run.groups[g]["accounts"] for g in ("invest", "qualify", "streamline", "maintain")}
        assert all(n > 0 for n in counts.values()), counts
        doc = diagnose_run(ws)["matrix"]
        assert doc["verdict"] == "usable", doc["reasons"]
        for axis, params in (("potential", s.potential), ("pain", s.pain)):
            why = doc["axes"][axis]["why"]
            assert all(p.name.replace("_", " ") in why for p in params), why
        r = CliRunner().invoke(app, ["diagnose", "--matrix", "-w", str(ws.path)])
        assert r.exit_code == 0 and "pain is the weighted mean of" in r.stdout.replace("\n", " ")


def test_cdnow_factor_no_better_than_chance_is_not_presented(tmp_path):
    """CDNOW's best customers by revenue: the driver search's best try (tenure_days) has holdout AUC 0.49."""
    lifetimes = pytest.importorskip("lifetimes.datasets")
    from pathlib import Path

    from sikta.service.workspace import Workspace

    log = Path(lifetimes.__file__).parent / "CDNOW_master.txt"
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.ingest(log, mapping=REPO / "examples" / "cdnow" / "mapping.yaml")
        best = ws.analyze.best(by="revenue", top_share=0.1)
        assert best.holdout_auc < 0.55  # the premise
        s = ws.suggest()
        assert not any(p.name in best.drivers for p in s.potential)
        assert s.best_summary.startswith("No factor separates the best customers from the rest better than chance")
        assert any("do no better than chance on the holdout" in n for n in s.notes)
        assert "No factor separates" in s.text
        assert s.potential and s.pain  # what exists: value and purchase signals


# -- best customers by a rule ---------------------------------------------------------------------------------------


def test_best_customers_by_a_rule(synthetic_3000, tmp_path):
    _, ws = synthetic_3000
    rule = "revenue_12m > 200000 and tech_maturity >= 3"
    best = ws.analyze(as_of=AS_OF).best(by=rule)
    f = ws.store.frame(ws.features("account", AS_OF))
    cust = f[f.status == "customer"]
    expected = ((cust.revenue_12m > 200000) & (cust.tech_maturity >= 3)).sum()
    assert best.best == expected and best.rest == len(cust) - expected
    assert "tech_maturity" not in set(best.effects.feature)  # what the rule reads cannot explain the rule
    r = CliRunner().invoke(app, ["suggest", "--best", rule, "-w", str(ws.path), "--as-of", AS_OF,
                                 "--out", str(tmp_path / "m.yaml"), "--json"])
    assert r.exit_code == 0, r.stderr
    assert f"best = the customers meeting {rule}: {expected} of {len(cust)}" in (tmp_path / "m.yaml").read_text()
    bad = CliRunner().invoke(app, ["suggest", "--best", "revenue_12m + 1", "-w", str(ws.path),
                                   "--out", str(tmp_path / "x.yaml")])
    assert bad.exit_code == 2 and "not true/false" in bad.stderr


def test_industry_fit_in_a_run_is_explained(synthetic_3000, tmp_path):
    _, ws = synthetic_3000
    run = ws.run(model_from_text("name: f\npotential: [{name: industry_fit}]\npain: [{name: competitive_pressure}]\n"),
                 as_of=AS_OF)
    rows = ws.store.frame(ws.run_rows(run.run_id))
    assert rows["potential__industry_fit__value"].notna().mean() > 0.9
    assert rows["pain__competitive_pressure__value"].isna().all()  # the generator has no competitor signal
    assert any("pain axis is constant" in r for r in run.diagnostics["reasons"])
    unit = rows.sort_values("potential__industry_fit__value").unit_id.iloc[-1]
    lines = ws.explain(unit, run.run_id)["lines"]
    assert "as likely as for an average customer" in lines[0]
    lifts = ws.analyze(as_of=AS_OF).industry_fit()
    assert set(lifts.dimension) == {"industry", "size_band", "region"}
    assert pd.Series(lifts.lift).gt(0).all()
