"""The model file: loads when valid, and every mistake names the file and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sikta.errors import ModelError
from sikta.service.model import Model, Parameter, load_model, model_from_text, starter_model_text, validate

EXAMPLE = textwrap.dedent("""\
    name: demo-model
    version: 3
    customer:
      grain: account
      statuses: [customer, prospect]
    potential:
      - name: wallet_gap
        weight: 2
      - name: size
        expr: log(employees + 1)
        scaling: rank
        direction: higher
    pain:
      - name: support_load
        feature: tickets_12m
      - name: need_integration
        feature: need_integration
    thresholds:
      potential: {quantile: 0.6}
      pain: {value: 0.5}
    deprioritize:
      - name: long gone
        when: status == 'former' and months_since_last_order > 36
      - name: micro
        when: employees < 5
    groups:
      invest: {label: Invest, colour: "#1b9e77", kpi: nrr}
""")
COLUMNS = ["unit_id", "status", "employees", "tickets_12m", "need_integration", "months_since_last_order",
           "revenue_12m", "industry"]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "model.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ModelError) as info:
        load_model(path)
    return str(info.value)


def test_the_example_loads(tmp_path):
    path = _write(tmp_path, EXAMPLE)
    m = load_model(path)
    assert m.name == "demo-model" and str(m.version) == "3"
    assert [(p.name, p.kind, p.source, p.weight) for p in m.potential] == [
        ("wallet_gap", "builtin", "wallet_gap", 2.0),
        ("size", "expr", "log(employees + 1)", 1.0),
    ]
    assert [p.kind for p in m.pain] == ["feature", "feature"]
    assert m.thresholds.potential.quantile == 0.6 and m.thresholds.pain.value == 0.5
    assert [r.name for r in m.deprioritize] == ["long gone", "micro"]
    assert m.groups.invest.kpi == "nrr" and m.groups.maintain.label is None
    assert m.text == EXAMPLE and m.source == str(path)
    assert len(m.sha256) == 64 and m.sha256 == model_from_text(EXAMPLE).sha256
    validate(m, COLUMNS)


def test_the_schema_names_the_five_groups():
    from sikta.engine.matrix import GROUPS
    from sikta.service.model import Groups

    assert tuple(Groups.model_fields) == GROUPS


def test_defaults_fill_what_was_left_out():
    m = model_from_text("name: m\npotential: [{name: growth}]\npain: [{name: hit, rule: employees > 3}]\n")
    assert (m.customer.grain, m.customer.statuses) == ("account", ["customer", "prospect"])
    assert m.thresholds.potential.quantile == 0.5 and m.thresholds.pain.quantile == 0.5
    assert m.potential[0].scaling == "rank" and m.pain[0].scaling == "none"  # a rule is already 0/1
    assert m.pain[0].label == "hit" and m.potential[0].direction == "higher" and m.potential[0].missing == 0


def test_to_yaml_round_trips_and_keeps_only_what_was_written():
    m = model_from_text(EXAMPLE)
    again = model_from_text(m.to_yaml())
    assert again.model_dump() == m.model_dump()
    potential = m.to_yaml().split("pain:")[0]
    assert "label" not in potential and "missing" not in potential and "scaling: rank" in potential
    built = Model(name="x", potential=[Parameter(name="growth", weight=2)], pain=[Parameter(name="need_score")])
    assert model_from_text(built.text).model_dump() == built.model_dump()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


BAD = {
    # variant name: (old, new, text on the line the error must point at, words in the message)
    "a 4th parameter": (
        "pain:\n",
        "  - name: growth\n  - name: c\n    feature: sites\npain:\n",
        "potential:",
        ["Keep it simple: 1–3 parameters per axis are the watersheds that decide; potential has 4"],
    ),
    "unknown key": ("    weight: 2\n", "    weight: 2\n    wieght: 3\n", "wieght: 3", ["potential.0.wieght", "unknown key"]),
    "bad scaling": ("scaling: rank", "scaling: sqrt", "scaling: sqrt", ["potential.1.scaling", "rank"]),
    "feature and expr": (
        "    feature: tickets_12m\n",
        "    feature: tickets_12m\n    expr: tickets_12m * 2\n",
        "- name: support_load",
        ["only one of feature, expr or rule", "feature and expr"],
    ),
    "weight 0": ("weight: 2", "weight: 0", "weight: 0", ["potential.0.weight", "weight must be a number > 0"]),
    "negative weight": ("weight: 2", "weight: -1", "weight: -1", ["weight must be a number > 0"]),
    "quantile 1": ("{quantile: 0.6}", "{quantile: 1}", "potential: {quantile: 1}", ["thresholds.potential", "quantile"]),
    "both threshold kinds": ("{value: 0.5}", "{value: 0.5, quantile: 0.2}", "pain: {value", ["exactly one of quantile"]),
    "value above 1": ("{value: 0.5}", "{value: 50}", "pain: {value: 50}", ["value must be between 0 and 1"]),
    "duplicate parameter": ("- name: need_integration", "- name: support_load", "pain:", ["two pain parameters are called 'support_load'"]),
    "duplicate rule": ("- name: micro", "- name: long gone", "deprioritize:", ["two deprioritization rules are called 'long gone'"]),
    "unknown built-in": ("- name: wallet_gap", "- name: walet_gap", "- name: walet_gap", ["not a built-in", "did you mean 'wallet_gap'"]),
    "bad name": ("- name: size", "- name: Size Band", "- name: Size Band", ["not a usable name"]),
    "unknown grain": ("grain: account", "grain: company", "grain: company", ["customer.grain"]),
    "unknown status": ("[customer, prospect]", "[customer, lead]", "statuses:", ["customer.statuses"]),
    "bad colour": ('"#1b9e77"', "1b9e77", "invest:", ["colour must look like"]),
    "unknown group": ("  invest: {", "  winners: {", "winners:", ["groups.winners", "unknown key"]),
    "missing missing": ("scaling: rank", "missing: 2", "missing: 2", ["potential.1.missing"]),
    "no pain": (EXAMPLE[EXAMPLE.index("pain:"):EXAMPLE.index("thresholds:")], "pain: []\n", "pain: []", ["pain needs at least one parameter"]),
    "not yaml": ("version: 3", "version: [3", "version: [3", ["not valid YAML"]),
}


@pytest.mark.parametrize("variant", list(BAD))
def test_each_mistake_names_the_file_and_line(tmp_path, variant):
    old, new, on_line, words = BAD[variant]
    assert old in EXAMPLE, variant
    text = EXAMPLE.replace(old, new, 1)
    message = _error(tmp_path, text)
    path = str(tmp_path / "model.yaml")
    line = _line_of(text, on_line)
    assert message.startswith(f"{path}:"), message
    got_line = int(message[len(path) + 1:].split(":", 1)[0])
    if variant == "not yaml":
        assert got_line >= line, message  # the YAML parser reports where it noticed, at or after the slip
    else:
        assert got_line == line, message
    for w in words:
        assert w in message, message


def test_a_missing_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="file not found"):
        load_model(tmp_path / "nope.yaml")


def test_validate_names_the_parameter_and_suggests_the_closest_column(tmp_path):
    text = EXAMPLE.replace("feature: tickets_12m", "feature: tickets_12mm")
    m = load_model(_write(tmp_path, text))
    with pytest.raises(ModelError) as info:
        validate(m, COLUMNS)
    assert str(info.value) == (f"{tmp_path / 'model.yaml'}:{_line_of(text, 'tickets_12mm')}: pain parameter "
                               "'support_load': unknown feature 'tickets_12mm' (did you mean 'tickets_12m'?)")


def test_validate_checks_expressions_against_the_columns(tmp_path):
    text = EXAMPLE.replace("log(employees + 1)", "log(employes + 1)")
    m = load_model(_write(tmp_path, text))
    with pytest.raises(ModelError) as info:
        validate(m, COLUMNS)
    assert str(info.value) == (f"{tmp_path / 'model.yaml'}:{_line_of(text, 'employes')}: potential parameter 'size': "
                               "expr 'log(employes + 1)': unknown column 'employes' (did you mean 'employees'?)")


def test_validate_checks_rules_and_lets_expressions_read_builtins(tmp_path):
    text = EXAMPLE.replace("employees < 5", "employee < 5")
    m = load_model(_write(tmp_path, text))
    with pytest.raises(ModelError) as info:
        validate(m, COLUMNS)
    assert str(info.value).startswith(f"{tmp_path / 'model.yaml'}:{_line_of(text, 'employee < 5')}: "
                                      "deprioritization rule 'micro': when 'employee < 5': unknown column 'employee'")
    ok = model_from_text(EXAMPLE.replace("employees < 5", "wallet_gap < 100"))
    validate(ok, COLUMNS)  # built-ins are computed on demand, so rules may read them


def test_validate_checks_kinds_when_it_has_the_types():
    schema = {c: "float64" for c in COLUMNS} | {"status": "string", "industry": "string", "is_big": "boolean"}
    validate(model_from_text(EXAMPLE), schema)
    cases = {
        "feature: tickets_12m": ("feature: industry", "pain parameter 'support_load': feature 'industry' is text, not a number or true/false"),
        "expr: log(employees + 1)": ("expr: employees > 3", None),  # true/false counts as 1/0
        "employees < 5": ("employees + 5", "deprioritization rule 'micro': when 'employees + 5' is a number, not true/false"),
    }
    for old, (new, problem) in cases.items():
        m = model_from_text(EXAMPLE.replace(old, new), source="m.yaml")
        if problem is None:
            validate(m, schema)
            continue
        with pytest.raises(ModelError) as info:
            validate(m, schema)
        assert str(info.value) == f"m.yaml:{_line_of(EXAMPLE.replace(old, new), new)}: {problem}"
    rule = model_from_text("name: r\npotential: [{name: r, rule: employees + 1}]\npain: [{name: need_score}]\n", source="r.yaml")
    with pytest.raises(ModelError, match="r.yaml:2: potential parameter 'r': rule 'employees \\+ 1' is a number, not true/false"):
        validate(rule, schema)


def test_expressions_are_checked_for_syntax_on_load(tmp_path):
    text = EXAMPLE.replace("log(employees + 1)", "log(employees + )")
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'model.yaml'}:{_line_of(text, 'log(employees + )')}: potential.1.expr: "
                              "parameter 'size': expr 'log(employees + )'")
    text = EXAMPLE.replace("employees < 5", "employees < 5; drop table x")
    assert "rule 'micro': when" in _error(tmp_path, text)


def test_the_starter_model_loads_and_is_commented(tmp_path):
    text = starter_model_text()
    m = load_model(_write(tmp_path, text))
    assert [p.name for p in m.potential] == ["estimated_wallet", "wallet_gap", "size"]
    assert [p.name for p in m.pain] == ["need_score", "ticket_load", "usage_decline"]
    assert m.deprioritize and text.count("#") >= 10
    validate(m, COLUMNS + ["usage_trend", "need_price"])


# -- the starter model on synthetic data ---------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_features(tmp_path_factory):
    from sikta.service.workspace import Workspace
    from sikta.synth import generate

    d = tmp_path_factory.mktemp("starter")
    generate(d / "data", accounts=2000, seed=5)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(d / "data")
    yield ws, ws.features("account", as_of="2025-12-31")
    ws.close()


def test_the_starter_model_fills_every_group_on_synthetic_data(synthetic_features):
    from sikta.engine.matrix import GROUPS, explain_row, score

    ws, f = synthetic_features
    m = model_from_text(starter_model_text(), source="starter.yaml")
    validate(m, f.columns)
    out = ws.store.frame(score(f, m))
    in_scope = ws.store.count(f.filter(f.status.isin(m.customer.statuses)))
    assert len(out) == in_scope == out.unit_id.nunique()
    share = out.group.value_counts(normalize=True)
    assert set(share.index) == set(GROUPS)
    assert share.min() >= 0.05, share.to_dict()
    # prospects are in the matrix with a potential of their own (their whole wallet)
    prospects = out[out.status == "prospect"]
    assert (prospects["potential__wallet_gap__value"] > 0).mean() > 0.9
    for g in GROUPS:
        lines = explain_row(out[out.group == g].iloc[0].to_dict(), m)
        assert lines[-1].startswith("→ ") and g in lines[-1].lower()
