"""The operating layer on a hand-made workspace whose every answer is worked out by hand.

Six companies, as of 2025-06-30 (12-month windows; revenue previous → current):

=====  =========  ========  ==============  ======  ==========================
id     employees  industry  revenue         group   engagement (rules below)
=====  =========  ========  ==============  ======  ==========================
A1     2000       retail    100 → 100       invest  strategic (invest, >= 1000)
A2     500        retail    40 → 60         invest  dedicated
A3     300        software  50 → 30         qualify dedicated
A4     20         retail    10 → 10         stream. pooled
A5     10         software  0 → 5 (new)     maint.  tech_touch
A6     50         software  25 → 0 (former) -       out of the run (churned)
=====  =========  ========  ==============  ======  ==========================

Potential is the rule ``employees >= 100``, pain ``industry == 'retail'``,
both high at 0.5.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytest

from sikta.errors import InputError, ModelError, NotFoundError, UsageError
from sikta.service import alerts as alerts_svc
from sikta.service import runs as runs_svc
from sikta.service.model import model_from_text
from sikta.service.operate import read_team
from sikta.service.segment_kpis import segment_kpis
from sikta.service.workspace import Workspace
from tests.conftest import write

MODEL = """
name: hand
version: 1
potential:
  - name: big
    rule: employees >= 100
pain:
  - name: retail
    rule: industry == 'retail'
thresholds:
  potential: {value: 0.5}
  pain: {value: 0.5}
groups:
  invest: {kpi: net revenue retention}
  qualify: {kpi: GRR}
coverage:
  models:
    strategic: {accounts_per_owner: 1, workload_per_owner: 1000}
    dedicated: {accounts_per_owner: 1, workload_per_owner: 1000}
  rules:
    - when: {group: invest, employees: {min: 1000}}
      engagement: strategic
    - when: {group: [invest, qualify]}
      engagement: dedicated
    - when: {group: streamline}
      engagement: pooled
playbooks:
  - name: big retail
    when: {group: invest}
    action: quarterly business review
    channels: [phone, field]
    fallback_channel: email
    due_days: 14
    content: qbr-deck
  - name: downgrade review
    when: {group_from: invest, group_to: [qualify, streamline, maintain]}
    action: review meeting
    channel: meeting
content:
  items:
    - {item_id: smb-kit, size_band: small}
    - {item_id: enterprise-guide, size_band: large}
    - {item_id: retail-news, segment: null, group: [invest, streamline]}
"""

ACCOUNTS = """
account_id,name,parent_account_id,account_type,status,industry,employees,owner,channel_preference
A1,Alpha,,company,customer,retail,2000,sam,field
A2,Beta,,company,customer,retail,500,dana,phone
A3,Gamma,,company,customer,software,300,dora,digital
A4,Delta,,company,customer,retail,20,pat,
A5,Epsilon,,company,customer,software,10,,digital
A6,Zeta,,company,former,software,50,dora,phone
"""

ORDERS = """
order_id,account_id,order_date,amount
1,A1,2024-03-01,100
2,A1,2025-06-30,100
3,A2,2024-03-01,40
4,A2,2025-03-01,60
5,A3,2024-03-01,50
6,A3,2025-03-01,30
7,A4,2024-03-01,10
8,A4,2025-03-01,10
9,A5,2025-03-01,2
10,A5,2025-03-20,3
11,A6,2024-03-01,25
"""


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    d = tmp_path_factory.mktemp("operate")
    data = d / "data"
    data.mkdir()
    write(data, "accounts.csv", ACCOUNTS)
    write(data, "orders.csv", ORDERS)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(data)
    first = ws.run(model_from_text(MODEL, source="hand.yaml"))
    yield d, ws, first
    ws.close()


def test_groups_are_as_designed(hand):
    _, ws, first = hand
    rows = ws.run_rows().to_pandas().set_index("unit_id")["group"].to_dict()
    assert rows == {"A1": "invest", "A2": "invest", "A3": "qualify", "A4": "streamline", "A5": "maintain"}


def test_coverage_headcount_gap_and_mix_by_hand(hand):
    _, ws, _ = hand
    team = read_team(io.StringIO("owner_id,role,capacity_accounts\nsam,strategic,1\ndana,dedicated,1\n"), "team.csv")
    doc = ws.operate.coverage(team=team, team_name="team.csv")
    m = {r["engagement"]: r for r in doc["models"]}
    assert {k: m[k]["accounts"] for k in m} == {"strategic": 1, "dedicated": 2, "pooled": 1, "tech_touch": 1}
    # 1 strategic account at 1 each; 2 dedicated at 1 each; 1 pooled at 1,000 each
    assert [m[k]["headcount"] for k in ("strategic", "dedicated", "pooled", "tech_touch")] == [1, 2, 1, 0]
    assert [m[k]["gap"] for k in ("strategic", "dedicated", "pooled", "tech_touch")] == [0, 1, 1, 0]
    assert doc["gap"] == 2 and doc["rules"] == "model"
    mix = {r["touch"]: r for r in doc["mix"]}
    assert mix["high"]["accounts"] == 3 and math.isclose(mix["high"]["share_revenue"], 190 / 205)
    assert math.isclose(mix["tech"]["share_revenue"], 5 / 205)


def test_coverage_says_units_with_net_credit_notes_count_as_zero(hand, tmp_path):
    _, ws, first = hand
    assert ws.operate.coverage(first.run_id)["notes"] == []  # every unit bought more than it returned
    data = tmp_path / "data"
    data.mkdir()
    write(data, "accounts.csv", ACCOUNTS)
    write(data, "orders.csv", ORDERS + "12,A4,2025-04-01,-35\n")  # A4: 10 bought, 35 returned in the window
    with Workspace(tmp_path / "ws.duckdb") as w2:
        w2.ingest(data)
        run = w2.run(model_from_text(MODEL, source="hand.yaml"))
        doc = w2.operate.coverage(run.run_id)
        revenue = w2.store.frame(w2.store.table(runs_svc.run_table(run.run_id))).set_index("unit_id").revenue_12m
    assert revenue["A4"] == -25.0
    assert doc["notes"] == ["1 unit with more credit notes than purchases in the window counts as revenue 0 here "
                            "(a book's revenue is what its accounts bring); the run's group totals net them"]
    assert math.isclose(sum(m["revenue"] for m in doc["models"]), revenue.clip(lower=0).sum())


def test_team_file_errors_name_the_file_row_and_column(hand, tmp_path):
    _, ws, _ = hand
    with pytest.raises(InputError, match=r"team file .*team\.csv: no column 'capacity_accounts'"):
        read_team(write(tmp_path, "team.csv", "owner_id,role\nx,dedicated\n"))
    bad = read_team(io.StringIO("owner_id,role,capacity_accounts\nx,dedicated,lots\n"), "t.csv")
    with pytest.raises(InputError, match=r"t\.csv: team row 1 \(owner_id 'x'\), column 'capacity_accounts'"):
        ws.operate.coverage(team=bad, team_name="t.csv")
    with pytest.raises(InputError, match="no such file"):
        read_team(tmp_path / "missing.csv")


def test_balance_respects_roles_and_capacity_then_owners_carry_to_actions(hand):
    _, ws, first = hand
    team = read_team(io.StringIO("owner_id,role,capacity_accounts\nsam,strategic,1\n"
                                 "dana,dedicated,1\ndora,dedicated,1\npool,pooled,10\n"), "team.csv")
    doc = ws.operate.balance(team, keep_owners=1.0, tolerance=0.5)
    a = doc["assignments"].set_index("unit_id")
    # tech touch (A5) needs no owner; A2 and A3 keep their CRM owners (both dedicated, capacity 1 each)
    assert set(a.index) == {"A1", "A2", "A3", "A4"}
    assert a.loc["A1", "owner_id"] == "sam" and a.loc["A1", "status"] == "kept"
    assert (a.loc["A2", "owner_id"], a.loc["A3", "owner_id"]) == ("dana", "dora")
    assert a.loc["A4", "owner_id"] == "pool" and a.loc["A4", "reason"] == "current owner not in the team"
    assert doc["tech_touch"] == 1
    stored = ws.operate.assignments().set_index("unit_id")["owner_id"].to_dict()
    assert stored == {"A1": "sam", "A2": "dana", "A3": "dora", "A4": "pool"}
    acts = ws.operate.actions()["actions"].set_index("unit_id")
    # invest units get the review: owner from the assignment, channel from the preference when offered
    assert sorted(acts.index) == ["A1", "A2"]
    assert acts.loc["A1", ["owner", "channel", "due_date", "content"]].tolist() == ["sam", "field", "2025-07-14",
                                                                                   "qbr-deck"]
    assert acts.loc["A2", "channel"] == "phone"


def test_a_capacity_short_role_leaves_the_smallest_unassigned(hand):
    _, ws, _ = hand
    team = read_team(io.StringIO("owner_id,role,capacity_accounts\nsam,strategic,1\ndana,dedicated,1\n"), "t")
    a = ws.operate.balance(team, store=False)["assignments"].set_index("unit_id")
    assert a.loc["A3", "status"] == "unassigned" and a.loc["A3", "reason"] == "role capacity short"
    assert a.loc["A4", "reason"] == "no owner with this role"


def test_unknown_rule_field_is_named(hand):
    _, ws, _ = hand
    text = MODEL.replace("when: {group: invest}\n    action: quarterly", "when: {grup: invest}\n    action: quarterly")
    bad = ws.run(model_from_text(text, source="bad.yaml"))
    with pytest.raises(ModelError, match=r"playbook rule 'big retail': no field 'grup' in the unit rows \(did you mean 'group'\?\)"):
        ws.operate.actions(bad.run_id)


def test_content_by_context_with_reasons(hand):
    _, ws, first = hand
    doc = ws.operate.content(first.run_id)
    got = doc["matches"].groupby("unit_id")["item_id"].apply(sorted).to_dict()
    # A1 is large (2,000 employees), A4 and A5 small, the others mid; retail-news is for invest/streamline
    assert got == {"A1": ["enterprise-guide", "retail-news"], "A2": ["retail-news"], "A4": ["retail-news", "smb-kit"],
                   "A5": ["smb-kit"]}
    one = ws.operate.content(first.run_id, account="A1")["matches"].set_index("item_id")
    assert not one.loc["smb-kit", "fits"] and one.loc["smb-kit", "reason"] == "size_band: for small, the unit is large"
    with pytest.raises(NotFoundError):
        ws.operate.content(first.run_id, account="nope")


def test_kpis_by_group_by_hand(hand):
    _, ws, first = hand
    doc = segment_kpis(ws, first.run_id)
    g = {r["segment"]: r for r in doc["by"]["group"]}
    assert math.isclose(g["invest"]["nrr"], 160 / 140) and g["invest"]["grr"] == 1.0
    assert math.isclose(g["invest"]["expansion_rate"], 20 / 140)
    assert g["invest"]["judged_by"] == "nrr" and math.isclose(g["invest"]["judged_value"], 160 / 140)
    assert g["qualify"]["judged_by"] == "grr" and math.isclose(g["qualify"]["grr"], 0.6)
    assert g["maintain"]["new_logos"] == 1 and g["maintain"]["nrr"] is None
    # A5's first order 2025-03-01, its second (the milestone and first value) 19 days later
    assert g["maintain"]["onboarding_completion"] == 1.0 and g["maintain"]["ttv_median_days"] == 19.0
    assert g["(out of scope)"]["logo_churn"] == 1.0 and g["(out of scope)"]["churned_revenue"] == 25.0
    every = g["(all)"]
    assert math.isclose(every["grr"], (225 - 25 - 20) / 225) and math.isclose(every["nrr"], 200 / 225)
    assert [r["segment"] for r in doc["by"]["group"]][:2] == ["invest", "qualify"]
    assert doc["period"] == {"start": "2024-06-30", "end": "2025-06-30"} and doc["notes"]
    # the year before the period start is partial: 2024-03-01 .. 2024-06-30, both days included, is
    # 31 + 30 + 31 + 30 = 122 days, and the note says so
    assert any("orders begin 2024-03-01" in n and "only 122 days" in n for n in doc["notes"])


def test_group_kpis_of_a_run_at_another_date_and_a_partial_previous_year(hand):
    # a run at another date showed "–" for growth and risk ("rerun the model"), though its dated feature
    # build was stored; and growth against a previous year holding a few days of data came without a word
    from sikta.service.segments import RunReader

    _, ws, first = hand
    march = ws.run(model_from_text(MODEL, source="hand.yaml"), as_of="2025-03-31")
    reader = RunReader(ws)
    # the orders start on 2024-03-01: the year before 2025-06-30's window, (2023-06-30, 2024-06-30], holds
    # 2024-03-01 .. 2024-06-30 of them: 31 + 30 + 31 + 30 = 122 days
    assert reader.groups(first.run_id)["note"] == (
        "the data start on 2024-03-01: the previous 12 months hold 122 days of them, so growth compares against "
        "a partial year")
    doc = reader.groups(march.run_id)
    # (2023-03-31, 2024-03-31] holds 2024-03-01 .. 2024-03-31: 31 days
    assert doc["note"] == ("the data start on 2024-03-01: the previous 12 months hold 31 days of them, so growth "
                           "compares against a partial year")
    # the previous year's revenue of the run's units, from the order lines (2024-03-01: A1 100, A2 40, A3 50, A4 10)
    units = set(ws.run_rows(march.run_id).to_pandas().unit_id)
    orders = pd.read_csv(io.StringIO(ORDERS.strip()), dtype={"account_id": str})
    prev = orders[(orders.order_date > "2023-03-31") & (orders.order_date <= "2024-03-31") & orders.account_id.isin(units)]
    assert sum(g["revenue_prev_12m"] for g in doc["groups"]) == pytest.approx(prev.amount.sum())
    assert all(g["at_risk"] is not None for g in doc["groups"])
    # the account document of that run shows the features of its date, as its scores do: A2's last order is
    # 2025-03-01, 30 days before 2025-03-31 and 121 days before the default build's 2025-06-30
    a2 = reader.account("A2", march.run_id)
    assert a2["features_as_of"] == "2025-03-31" and a2["features"]["recency_days"] == 30
    assert reader.account("A2", first.run_id)["features"]["recency_days"] == 121
    early = ws.run(model_from_text(MODEL, source="hand.yaml"), as_of="2025-02-28")  # (2023-02-28, 2024-02-29]: none
    assert RunReader(ws).groups(early.run_id)["note"] == (
        "the data start on 2024-03-01, after the previous 12 months: there is no growth to compare")


def test_alerts_merged_gone_and_history_after_a_new_ingest(hand, tmp_path):
    d, ws, first = hand
    # Delta (A4) becomes a department of Alpha; Gamma (A3) leaves the data
    data = tmp_path / "data2"
    data.mkdir()
    accounts = ACCOUNTS.replace("A4,Delta,,company", "A4,Delta,A1,department")
    accounts = "\n".join(line for line in accounts.splitlines() if not line.startswith("A3,"))
    write(data, "accounts.csv", accounts)
    write(data, "orders.csv", "\n".join(line for line in ORDERS.splitlines() if ",A3," not in line))
    ws.ingest(data)
    second = ws.run(model_from_text(MODEL.replace("version: 1", "version: 2"), source="hand.yaml"))
    doc = alerts_svc.alerts(ws, first.run_id, second.run_id)
    got = doc["alerts"].set_index("unit_id")[["change", "merged_into"]]
    assert got.loc["A4", "change"] == "merged" and got.loc["A4", "merged_into"] == "A1"
    assert got.loc["A3", "change"] == "gone"
    # stored by the run itself (against the previous run at the grain): the same rows are read back
    stored = ws.store.table(alerts_svc.ALERTS).to_pandas()
    assert set(stored[stored.run_to == second.run_id].unit_id) >= {"A3", "A4"}
    h = alerts_svc.history(ws, "A4")
    mine = [e for e in h["runs"] if e["run_id"] in (first.run_id, second.run_id)]
    assert [e["unit_id"] for e in mine] == ["A4", "A1"]
    assert mine[0]["group"] == "streamline" and mine[1]["change"] == "merged into A1"


def test_alert_filters(hand):
    _, ws, _ = hand
    runs = ws.runs()
    stricter = MODEL.replace("rule: industry == 'retail'", "rule: industry == 'none'")
    later = ws.run(model_from_text(stricter, source="x.yaml"))
    doc = alerts_svc.alerts(ws, None, later.run_id, change=["downgrade"])
    frame = doc["alerts"]
    assert len(runs) >= 1 and set(frame["change"]) == {"downgrade"}
    # retail units lose their pain: invest → qualify, streamline → maintain
    assert frame.set_index("unit_id")["value_to"].to_dict().get("A1") == "qualify"
    top = alerts_svc.alerts(ws, None, later.run_id, change=["downgrade"], tier=["A"])["alerts"]
    assert set(top["unit_id"]) <= set(frame["unit_id"]) and "A1" in set(top["unit_id"])
    with pytest.raises(Exception, match="change 'sideways' is not one of"):
        alerts_svc.alerts(ws, change=["sideways"])


def test_exports_of_actions_neutralize_formulas(hand, tmp_path):
    from sikta.service.operate_io import write_table

    p = write_table(pd.DataFrame({"name": ["=cmd", "ok"], "n": [-1.5, 2.0]}), tmp_path / "x.csv")
    assert p.read_text().splitlines() == ["name,n", "'=cmd,-1.5", "ok,2.0"]
    q = write_table(pd.DataFrame({"name": ["=cmd"]}), tmp_path / "x.parquet")
    assert pd.read_parquet(q)["name"].tolist() == ["=cmd"] and Path(q).exists()


def test_what_if_preview_matches_the_run_it_would_store(hand):
    from sikta.service.whatif import preview

    _, ws, _ = hand
    base = ws.runs().iloc[0]["run_id"]
    edited = model_from_text(MODEL.replace("rule: employees >= 100", "rule: employees >= 400"), source="e.yaml")
    tables, runs = set(ws.store.tables()), len(ws.runs())
    doc = preview(ws, edited)
    assert set(ws.store.tables()) == tables and len(ws.runs()) == runs and doc["against"] == base
    stored = ws.run(edited)
    assert {g: v["accounts"] for g, v in doc["groups"].items()} == {g: v["accounts"] for g, v in stored.groups.items()}
    assert {g: round(v["revenue"], 2) for g, v in doc["groups"].items()} == \
        {g: round(v["revenue"], 2) for g, v in stored.groups.items()}
    d = ws.diff(base, stored.run_id)
    assert doc["moved"] == d["moved"] and {m["unit_id"] for m in doc["movers"]} == {a["unit_id"] for a in d["accounts"]}


@pytest.fixture
def schemed(tmp_path):
    """Two runs whose tables carry scheme columns as the schemes capability writes them."""

    data = tmp_path / "data"
    data.mkdir()
    write(data, "accounts.csv", ACCOUNTS)
    write(data, "orders.csv", ORDERS)
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.ingest(data)
    tiers = [{"A1": "A", "A2": "A", "A3": "B", "A4": "C", "A5": "C"}, {"A1": "A", "A2": "B", "A3": "B", "A4": "C", "A5": "A"}]
    made = []
    for i, tier in enumerate(tiers):
        r = ws.run(model_from_text(MODEL.replace("version: 1", f"version: {i + 1}"), source="hand.yaml"))
        t = runs_svc.run_table(r.run_id)
        ws.store.raw.execute(f'ALTER TABLE "{t}" ADD COLUMN scheme__tier VARCHAR')
        ws.store.raw.execute(f'ALTER TABLE "{t}" ADD COLUMN scheme__tier__score DOUBLE')
        for unit, label in tier.items():
            ws.store.raw.execute(f'UPDATE "{t}" SET scheme__tier = ?, scheme__tier__score = 1 WHERE unit_id = ?',
                                 [label, unit])
        made.append(r.run_id)
    # the alerts stored with the run predate the columns added here: computed again on request
    for table in (alerts_svc.ALERTS, alerts_svc.ALERT_PAIRS):
        ws.store.raw.execute(f'DELETE FROM "{table}"')
    yield ws, made
    ws.close()


def test_scheme_labels_are_segments_everywhere(schemed, tmp_path):
    from sikta.service.crm_export import export_layout

    ws, (first, second) = schemed
    ctx = ws.operate.context(second)
    assert ctx.labels == ["scheme__tier"] and ctx.segment == "scheme__tier"
    k = segment_kpis(ws, second)
    assert set(k["by"]) == {"group", "scheme__tier"}
    tier = {r["segment"]: r for r in k["by"]["scheme__tier"]}
    # tier B in the second run: A2 (40 → 60) and A3 (50 → 30): NRR 90 / 90 = 1
    assert math.isclose(tier["B"]["nrr"], 1.0) and tier["B"]["units"] == 2
    doc = alerts_svc.alerts(ws, first, second, dimension="segment")
    got = doc["alerts"].set_index("unit_id")[["value_from", "value_to", "change"]].to_dict("index")
    assert got == {"A2": {"value_from": "A", "value_to": "B", "change": "downgrade"},
                   "A5": {"value_from": "C", "value_to": "A", "change": "upgrade"}}
    assert alerts_svc.alerts(ws, first, second, dimension="scheme__tier")["matched"] == 2
    with pytest.raises(UsageError, match="dimension 'bogus' is not one of group, segment, scheme__tier"):
        alerts_svc.alerts(ws, first, second, dimension="bogus")  # a typo once read as "no alerts"
    units = ws.operate.actions(second)["actions"]
    assert len(units)  # the rules still run with the scheme columns present
    out = export_layout(ws, "salesforce", second, out_dir=tmp_path)
    assert out["columns"][-1] == "Sikta_Tier__c" and "Sikta_Tier_Score__c" not in out["columns"]
    rows = pd.read_csv(tmp_path / "salesforce_unmatched.csv")
    assert len(rows) == 5  # no crm ids in the hand-made accounts


def test_without_a_run_at_the_period_start_the_note_says_how_to_measure_churn_per_group(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write(data, "accounts.csv", ACCOUNTS)
    write(data, "orders.csv", ORDERS)
    ws = Workspace(tmp_path / "ws.duckdb")
    try:
        ws.ingest(data)
        model = model_from_text(MODEL, source="hand.yaml")
        latest = ws.run(model)
        doc = segment_kpis(ws, latest.run_id)
        hint = [n for n in doc["notes"] if n.startswith("no run at")]
        assert hint and "sikta run --as-of 2024-06-30" in hint[0]
        # following the hint: the units are judged in the run at the period start, and the note is gone
        start = ws.run(model, as_of="2024-06-30")
        doc = segment_kpis(ws, latest.run_id)
        assert doc["cohort_run"] == start.run_id
        assert not any(n.startswith("no run at") for n in doc["notes"])
    finally:
        ws.close()
