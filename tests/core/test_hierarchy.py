"""The account forest against a hand-drawn example and a naive walk as oracle."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sikta.core.hierarchy import resolve_forest

#        G (group)
#       /        \
#     C1          C2            S (single company)
#    /  \          |
#  D1    D2       D3 (dept)
#  |
#  D4 (dept under dept)
IDS = ["G", "C1", "C2", "D1", "D2", "D3", "D4", "S"]
PARENTS = [None, "G", "G", "C1", "C1", "C2", "D1", ""]
KINDS = ["group", "company", "company", "department", "department", "department", "department", None]


def test_hand_drawn_forest():
    f = resolve_forest(IDS, PARENTS, KINDS)
    rows = {r["account_id"]: r for r in f.frame.to_dict("records")}
    assert f.broken == {}
    assert {k: r["ultimate_parent_id"] for k, r in rows.items()} == {
        "G": "G", "C1": "G", "C2": "G", "D1": "G", "D2": "G", "D3": "G", "D4": "G", "S": "S"
    }
    assert {k: r["account_unit_id"] for k, r in rows.items()} == {
        "G": "G", "C1": "C1", "C2": "C2", "D1": "C1", "D2": "C1", "D3": "C2", "D4": "C1", "S": "S"
    }
    assert {k: r["depth"] for k, r in rows.items()} == {
        "G": 0, "C1": 1, "C2": 1, "D1": 2, "D2": 2, "D3": 2, "D4": 3, "S": 0
    }
    assert pd.isna(rows["S"]["parent_account_id"])


def test_without_types_every_node_is_its_own_account_unit():
    f = resolve_forest(IDS, PARENTS)
    assert list(f.frame["account_unit_id"]) == IDS


def test_department_at_the_root_is_its_own_unit():
    f = resolve_forest(["D"], [None], ["department"])
    assert f.frame["account_unit_id"].tolist() == ["D"]


def test_broken_links_cascade_to_descendants():
    f = resolve_forest(
        ["A", "B", "C", "X", "Y", "Z", "ok"],
        ["B", "C", "A", "A", "X", "missing", None],
    )
    assert f.broken == {
        0: "parent cycle: A → B → C → A",
        1: "parent cycle: B → C → A → B",
        2: "parent cycle: C → A → B → C",
        3: "ancestor 'A' cannot be placed (parent cycle: A → B → C → A)",
        4: "ancestor 'A' cannot be placed (parent cycle: A → B → C → A)",
        5: "parent 'missing' is not a loaded account",
    }
    assert f.frame["account_id"].tolist() == ["ok"]


def _naive(ids, parents):
    """Walk up parent by parent; None for nodes that never reach a root."""
    pos = {a: i for i, a in enumerate(ids)}
    out = {}
    for a in ids:
        seen, node, depth = set(), a, 0
        while True:
            if node in seen:
                out[a] = None
                break
            seen.add(node)
            p = parents[pos[node]]
            if p is None:
                out[a] = (node, depth)
                break
            if p not in pos:
                out[a] = None
                break
            node, depth = p, depth + 1
    return out


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_matches_a_naive_walk(data):
    n = data.draw(st.integers(1, 40))
    ids = [f"a{i}" for i in range(n)]
    parents = [
        data.draw(st.one_of(st.none(), st.sampled_from(ids), st.just("ghost")), label=f"parent of {a}")
        for a in ids
    ]
    f = resolve_forest(ids, parents)
    expected = _naive(ids, parents)
    placed = {r["account_id"]: (r["ultimate_parent_id"], r["depth"]) for r in f.frame.to_dict("records")}
    assert placed == {a: v for a, v in expected.items() if v is not None}
    assert {ids[i] for i in f.broken} == {a for a, v in expected.items() if v is None}
    assert len(placed) + len(f.broken) == n
