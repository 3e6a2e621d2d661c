"""The pain × potential matrix on hand-made feature tables.

Every expected score is worked out by hand in the comments next to it; the
properties at the end check the matrix invariants on random tables and models.
"""

from __future__ import annotations

import math

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from sikta.engine.matrix import GROUPS, explain_row, param_column, score
from sikta.errors import ModelError
from sikta.service.model import model_from_text

CON = ibis.duckdb.connect()


def table(rows: list[dict]) -> ibis.Table:
    df = pd.DataFrame(rows)
    types = {c: "float64" for c in df.columns if c not in ("unit_id", "status", "employees", "industry")}
    types.update({c: "string" for c in ("unit_id", "status", "industry") if c in df.columns})
    if "employees" in df.columns:
        types["employees"] = "int64"
    return ibis.memtable(df).cast(types)


def run(f: ibis.Table, model) -> pd.DataFrame:
    out = CON.to_pandas(score(f, model))
    return out.sort_values("unit_id", kind="stable").reset_index(drop=True)


def model(potential: str, pain: str = "[{name: q, feature: q, scaling: none}]", rest: str = "") -> object:
    return model_from_text(f"name: t\npotential: {potential}\npain: {pain}\n{rest}")


# -- groups known by construction --------------------------------------------------------------

HAND = [
    # minmax over the in-scope units: p / 100 (min 0 at D, max 100 at A; G is out of scope) and q / 10
    dict(unit_id="A", status="customer", employees=50, p=100.0, q=10.0),  # 1.00, 1.00 → invest
    dict(unit_id="B", status="customer", employees=50, p=80.0, q=2.0),  # 0.80, 0.20 → qualify
    dict(unit_id="C", status="prospect", employees=50, p=10.0, q=9.0),  # 0.10, 0.90 → streamline
    dict(unit_id="D", status="customer", employees=50, p=0.0, q=0.0),  # 0.00, 0.00 → maintain
    dict(unit_id="E", status="prospect", employees=50, p=50.0, q=5.0),  # 0.50, 0.50 → invest (at = high)
    dict(unit_id="F", status="customer", employees=50, p=49.0, q=4.9),  # 0.49, 0.49 → maintain
    dict(unit_id="G", status="former", employees=50, p=1000.0, q=10.0),  # out of scope: not scored
    dict(unit_id="H", status="customer", employees=2, p=60.0, q=6.0),  # 0.60, 0.60 but micro → deprioritized
]
HAND_MODEL = """
name: hand
potential: [{name: p, feature: p, scaling: minmax}]
pain: [{name: q, feature: q, scaling: minmax}]
thresholds: {potential: {value: 0.5}, pain: {value: 0.5}}
deprioritize: [{name: micro, when: employees < 5}]
"""


def test_each_unit_lands_where_it_was_built_to():
    out = run(table(HAND), model_from_text(HAND_MODEL))
    assert out.unit_id.tolist() == list("ABCDEFH")  # the former customer is not in the matrix
    assert out.group.tolist() == ["invest", "qualify", "streamline", "maintain", "invest", "maintain", "deprioritized"]
    assert out.potential_score.tolist() == pytest.approx([1.0, 0.8, 0.1, 0.0, 0.5, 0.49, 0.6])
    assert out.pain_score.tolist() == pytest.approx([1.0, 0.2, 0.9, 0.0, 0.5, 0.49, 0.6])
    assert out.deprioritized_by.tolist()[-1] == "micro" and out.deprioritized_by[:-1].isna().all()
    assert out.potential_threshold.tolist() == [0.5] * 7
    assert out.potential__p__value.tolist() == [100.0, 80.0, 10.0, 0.0, 50.0, 49.0, 60.0]
    assert {"employees", "status", "potential__p__score", "pain__q__score", "potential_high", "pain_high"} <= set(out.columns)


def test_statuses_choose_the_scope():
    m = model_from_text(HAND_MODEL.replace("name: hand", "name: hand\ncustomer: {statuses: [former, prospect]}"))
    out = run(table(HAND), m)
    assert out.unit_id.tolist() == ["C", "E", "G"]
    # minmax now runs over C, E, G: p 10..1000
    assert out.potential_score.tolist() == pytest.approx([0.0, 40 / 990, 1.0])


# -- scaling, direction, missing ----------------------------------------------------------------

VALUES = [1.0, 2.0, 2.0, 4.0, None]


def _scores(scaling: str, values=VALUES, extra: str = "") -> list[float]:
    f = table([dict(unit_id=f"U{i}", status="customer", v=v, q=0.0) for i, v in enumerate(values)])
    out = run(f, model(f"[{{name: v, feature: v, scaling: {scaling}{extra}}}]"))
    return out["potential__v__score"].tolist()


def test_rank_is_the_share_of_others_strictly_below():
    # non-null 1, 2, 2, 4 (n = 4): (rank − 1) / 3 with ties at the lowest rank; null → missing score 0
    assert _scores("rank") == pytest.approx([0.0, 1 / 3, 1 / 3, 1.0, 0.0])


def test_minmax():
    assert _scores("minmax") == pytest.approx([0.0, 1 / 3, 1 / 3, 1.0, 0.0])  # (v − 1) / (4 − 1)


def test_z_is_the_normal_cdf_of_the_z_score():
    mean, sd = 2.25, math.sqrt(((1 - 2.25) ** 2 + 2 * (2 - 2.25) ** 2 + (4 - 2.25) ** 2) / 3)  # sample sd 1.258
    want = [norm.cdf((v - mean) / sd) for v in VALUES[:4]] + [0.0]  # Φ(−0.99) = 0.160 … Φ(1.39) = 0.918
    assert _scores("z") == pytest.approx(want, abs=1e-6)


def test_log_is_log1p_then_minmax():
    lo, hi = math.log(2), math.log(5)
    assert _scores("log") == pytest.approx([0.0, (math.log(3) - lo) / (hi - lo), (math.log(3) - lo) / (hi - lo), 1.0, 0.0])
    # negative values count as 0 before the log: log1p(0) = 0 is the minimum
    assert _scores("log", [-5.0, 0.0, math.e - 1]) == pytest.approx([0.0, 0.0, 1.0])


def test_none_takes_the_value_clipped_to_0_1():
    assert _scores("none", [0.2, 1.5, -1.0, 0.7, None]) == pytest.approx([0.2, 1.0, 0.0, 0.7, 0.0])


def test_direction_lower_and_the_missing_score():
    # 1 − rank for values; the missing score is taken as it is, whatever the direction
    assert _scores("rank", extra=", direction: lower, missing: 0.5") == pytest.approx([1.0, 2 / 3, 2 / 3, 0.0, 0.5])


@pytest.mark.parametrize("scaling", ["rank", "minmax", "z", "log"])
def test_a_constant_parameter_scores_zero(scaling):
    assert _scores(scaling, [3.0, 3.0, None]) == [0.0, 0.0, 0.0]


def test_axis_score_is_the_weighted_mean():
    f = table([dict(unit_id="A", status="customer", a=1.0, b=0.0, q=0.0), dict(unit_id="B", status="customer", a=0.2, b=0.6, q=0.0)])
    m = model("[{name: a, feature: a, scaling: none, weight: 3}, {name: b, feature: b, scaling: none}]")
    # A: (3 × 1 + 1 × 0) / 4 = 0.75; B: (3 × 0.2 + 0.6) / 4 = 0.3
    assert run(f, m).potential_score.tolist() == pytest.approx([0.75, 0.3])


# -- thresholds ---------------------------------------------------------------------------------


def test_quantile_threshold_over_the_units_in_the_matrix():
    rows = [dict(unit_id=u, status="customer", employees=50, v=v, q=0.0) for u, v in zip("ABCDE", [0.0, 0.25, 0.5, 0.75, 1.0], strict=True)]
    rows.append(dict(unit_id="Z", status="customer", employees=1, v=0.9, q=0.0))  # deprioritized: not in the quantile
    m = model("[{name: v, feature: v, scaling: none}]", rest="thresholds: {potential: {quantile: 0.6}}\n"
              "deprioritize: [{name: tiny, when: employees < 2}]")
    out = run(table(rows), m)
    # quantile 0.6 of 0, .25, .5, .75, 1: position 0.6 × 4 = 2.4 → 0.5 + 0.4 × 0.25 = 0.6; high is above it
    assert out.potential_threshold.iloc[0] == pytest.approx(0.6)
    assert out.potential_high.tolist() == [False, False, False, True, True, True]
    assert out.group.tolist() == ["maintain", "maintain", "maintain", "qualify", "qualify", "deprioritized"]


def test_ties_at_the_bottom_stay_low_together():
    # everybody without pain scores 0: the median is 0 and nobody is above it
    rows = [dict(unit_id=f"U{i}", status="customer", v=float(i), q=0.0 if i < 7 else 1.0) for i in range(10)]
    out = run(table(rows), model("[{name: v, feature: v}]", rest="thresholds: {pain: {quantile: 0.5}}"))
    assert out.pain_threshold.iloc[0] == 0.0
    assert out.pain_high.tolist() == [False] * 7 + [True] * 3


def test_absolute_threshold_counts_ties_as_high():
    rows = [dict(unit_id=u, status="customer", v=v, q=0.0) for u, v in zip("ABC", [0.3, 0.5, 0.7], strict=True)]
    out = run(table(rows), model("[{name: v, feature: v, scaling: none}]", rest="thresholds: {potential: {value: 0.5}}"))
    assert out.potential_high.tolist() == [False, True, True]


# -- deprioritization ---------------------------------------------------------------------------


def test_the_first_rule_that_fires_is_recorded_and_nulls_never_fire():
    rows = [
        dict(unit_id="A", status="customer", employees=2, m=40.0, q=0.0),  # both fire → the first, 'long gone'
        dict(unit_id="B", status="customer", employees=2, m=1.0, q=0.0),  # only 'micro'
        dict(unit_id="C", status="customer", employees=None, m=None, q=0.0),  # nulls: neither fires
        dict(unit_id="D", status="customer", employees=80, m=40.0, q=0.0),  # 'long gone'
    ]
    m = model("[{name: q2, feature: q}]", rest="deprioritize:\n  - {name: long gone, when: m > 36}\n  - {name: micro, when: employees < 5}")
    out = run(table(rows), m)
    assert out.deprioritized_by.tolist()[:2] == ["long gone", "micro"]
    assert pd.isna(out.deprioritized_by.iloc[2]) and out.deprioritized_by.iloc[3] == "long gone"
    assert out.group.tolist() == ["deprioritized", "deprioritized", "maintain", "deprioritized"]


def test_rules_and_expressions_as_parameters():
    rows = [dict(unit_id="A", status="customer", employees=100, industry="it", q=0.0),
            dict(unit_id="B", status="customer", employees=10, industry="law", q=0.0),
            dict(unit_id="C", status="customer", employees=None, industry=None, q=0.0)]
    m = model("[{name: it, rule: \"industry == 'it'\"}, {name: big, expr: employees * 2, scaling: minmax}]")
    out = run(table(rows), m)
    assert out.potential__it__value.tolist() == [1.0, 0.0, 0.0]  # a null rule counts as false
    assert out.potential__big__value.tolist()[:2] == [200.0, 20.0] and pd.isna(out.potential__big__value.iloc[2])
    # A: (1 + 1) / 2 = 1; B: (0 + 0) / 2 = 0; C: (0 + missing 0) / 2 = 0
    assert out.potential_score.tolist() == [1.0, 0.0, 0.0]


def test_a_text_feature_is_refused_with_its_name():
    f = table([dict(unit_id="A", status="customer", industry="it", q=0.0)])
    with pytest.raises(ModelError, match="feature 'industry' is string, not a number"):
        score(f, model("[{name: ind, feature: industry}]"))


# -- explanations -------------------------------------------------------------------------------


def test_explanations_give_values_scores_weights_thresholds_and_the_group():
    m = model_from_text(HAND_MODEL.replace("scaling: minmax}]\npain", "scaling: minmax, weight: 2}]\npain"))
    out = run(table(HAND), m)
    rows = {r["unit_id"]: r for r in out.to_dict("records")}
    a = explain_row(rows["A"], m)
    assert a[0] == "Potential 1.00 (high: at or above 0.50): p 100 → score 1.00 × weight 2."
    assert a[1] == "Pain 1.00 (high: at or above 0.50): q 10 → score 1.00 × weight 1."
    assert a[2] == "→ invest: high pain and high potential — over-invest for the long term."
    f = explain_row(rows["F"], m)
    assert f[0].startswith("Potential 0.49 (low: below 0.50)") and f[-1].startswith("→ maintain: low pain and low potential")
    h = explain_row(rows["H"], m)
    assert h == ["Deprioritized by rule 'micro' (employees < 5; here employees = 2), decided before the matrix.",
                 "→ deprioritized: not a single minute — decided early by the rules."]


def test_explanations_say_when_a_value_is_missing_and_use_group_labels():
    f = table([dict(unit_id="A", status="customer", v=None, q=1.0), dict(unit_id="B", status="customer", v=3.0, q=0.0)])
    m = model("[{name: v, feature: v, label: spend}]", rest="groups: {streamline: {label: Streamline, kpi: grr}}")
    lines = explain_row(run(f, m).iloc[0].to_dict(), m)
    assert "spend: no value → score 0.00 (a missing value scores 0)" in lines[0]
    assert lines[-1].startswith("→ Streamline: high pain and low potential") and lines[-1].endswith("Judged by grr.")


# -- properties ---------------------------------------------------------------------------------

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_num = st.one_of(st.none(), st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 2)))


@st.composite
def tables_and_models(draw, threshold: str | None = None):
    n = draw(st.integers(1, 25))
    rows = [
        dict(unit_id=f"U{i:02d}", status=draw(st.sampled_from(["customer", "prospect", "former"])),
             x0=draw(_num), x1=draw(_num), x2=draw(_num), employees=draw(st.one_of(st.none(), st.integers(0, 20))))
        for i in range(n)
    ]

    def params(prefix: str) -> str:
        k = draw(st.integers(1, 3))
        out = []
        for j in range(k):
            scaling = draw(st.sampled_from(["rank", "minmax", "z", "log", "none"]))
            direction = draw(st.sampled_from(["higher", "lower"]))
            weight = draw(st.sampled_from([0.5, 1, 2, 3]))
            out.append(f"{{name: {prefix}{j}, feature: x{draw(st.integers(0, 2))}, scaling: {scaling}, "
                       f"direction: {direction}, weight: {weight}}}")
        return "[" + ", ".join(out) + "]"

    def thr(kind: str | None) -> str:
        kind = kind or draw(st.sampled_from(["quantile", "value"]))
        return f"{{{kind}: {draw(st.sampled_from([0.2, 0.5, 0.7]))}}}"

    statuses = draw(st.lists(st.sampled_from(["customer", "prospect", "former"]), min_size=1, max_size=3, unique=True))
    rule = "deprioritize: [{name: small, when: employees < 3}]" if draw(st.booleans()) else ""
    text = (f"name: r\ncustomer: {{statuses: [{', '.join(statuses)}]}}\npotential: {params('p')}\npain: {params('q')}\n"
            f"thresholds: {{potential: {thr(threshold)}, pain: {thr(None)}}}\n{rule}\n")
    return pd.DataFrame(rows), model_from_text(text)


def _frame(df: pd.DataFrame) -> ibis.Table:
    return ibis.memtable(df).cast({"x0": "float64", "x1": "float64", "x2": "float64", "employees": "int64"})


@SETTINGS
@given(tables_and_models())
def test_every_in_scope_unit_lands_in_exactly_one_group(case):
    df, m = case
    out = run(_frame(df), m)
    in_scope = sorted(df.unit_id[df.status.isin(m.customer.statuses)])
    assert out.unit_id.tolist() == in_scope  # each once, nobody else
    assert out.group.isin(GROUPS).all()
    for c in [c for c in out.columns if c.endswith("score")]:
        assert out[c].between(0, 1).all(), c
    matrix = out[out.deprioritized_by.isna()]
    expect = [
        {(True, True): "invest", (False, True): "qualify", (True, False): "streamline", (False, False): "maintain"}[(pa, po)]
        for pa, po in zip(matrix.pain_high, matrix.potential_high, strict=True)
    ]
    assert matrix.group.tolist() == expect
    assert (out[out.deprioritized_by.notna()].group == "deprioritized").all()


@SETTINGS
@given(tables_and_models())
def test_scoring_twice_gives_the_same_rows(case):
    df, m = case
    a, b = run(_frame(df), m), run(_frame(df.sample(frac=1, random_state=1)), m)
    pd.testing.assert_frame_equal(a, b)


def _with_potential_threshold(m, th: dict):
    return m.model_copy(update={"thresholds": m.thresholds.model_copy(update={"potential": type(m.thresholds.potential)(**th)})})


@SETTINGS
@given(tables_and_models(), st.sampled_from(["value", "quantile"]), st.floats(0.05, 0.95), st.floats(0.05, 0.95))
def test_moving_the_potential_threshold_moves_exactly_the_units_between(case, kind, a, b):
    df, m = case
    old, new = run(_frame(df), _with_potential_threshold(m, {kind: a})), run(_frame(df), _with_potential_threshold(m, {kind: b}))
    lo, hi = sorted([old.potential_threshold.iloc[0] if len(old) else 0.0, new.potential_threshold.iloc[0] if len(new) else 0.0])
    s = old.potential_score
    # value: high is score >= t, so scores in [lo, hi) flip; quantile: high is score > t, so (lo, hi] flip
    between = (s >= lo) & (s < hi) if kind == "value" else (s > lo) & (s <= hi)
    should_move = between & old.deprioritized_by.isna()
    moved = old.group != new.group
    assert moved.tolist() == should_move.tolist()
    assert (old.pain_high == new.pain_high).all() and (old.potential_score == new.potential_score).all()
    swaps = {("invest", "streamline"), ("streamline", "invest"), ("qualify", "maintain"), ("maintain", "qualify")}
    assert all((x, y) in swaps for x, y in zip(old.group[moved], new.group[moved], strict=True))


def test_explanations_show_expressions_rules_and_lower_is_more():
    rows = [dict(unit_id="A", status="customer", employees=99, industry="it", q=0.0),
            dict(unit_id="B", status="customer", employees=9, industry="law", q=0.0)]
    m = model("[{name: size, expr: employees + 1, label: company size}, {name: it, rule: \"industry == 'it'\"},"
              " {name: small, feature: employees, direction: lower}]")
    line = explain_row(run(table(rows), m).iloc[0].to_dict(), m)[0]
    # A: size 100 → rank 1; rule true → 1; employees 99 lower is more → 1 − 1 = 0; (1 + 1 + 0) / 3
    # B: (0 + 0 + 1) / 3, so the median of the two is 0.5
    assert line == ("Potential 0.67 (high: above 0.50, the 50th percentile of the matrix): "
                    "company size employees + 1 = 100 → score 1.00 × weight 1; "
                    "it (industry == 'it'): yes → score 1.00 × weight 1; "
                    "small employees = 99 → score 0.00, lower is more × weight 1.")


def test_column_names_are_plain_identifiers():
    out = score(table(HAND), model_from_text(HAND_MODEL))
    assert all(c.replace("_", "").isalnum() for c in out.columns)
    assert param_column("pain", "need_score", "value") == "pain__need_score__value"
