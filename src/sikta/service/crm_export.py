"""CRM and marketing-automation exports of a run: Salesforce, HubSpot, CSV, Parquet (SPEC §4.6 *Exports*).

Every layout carries, per unit of the run: group, segment (the run's first
scheme, see :mod:`sikta.service.operate_units`) and every scheme label,
potential and pain scores, revenue, CLV (when the run has it), engagement
model and owner (from the book assignment, else the CRM). The CRM's own id
comes from the accounts column ``crm_id`` (the mapping fills it: ``columns:
{crm_id: Id}``), the web domain from ``domain``; at a grain above account
they are the unit head's.

* ``salesforce`` - ``salesforce_accounts.csv`` for Data Loader's *Update* on
  Account: first column ``Id`` (the ``crm_id``), then the custom fields of
  :data:`SALESFORCE_FIELDS` and one ``Sikta_<Scheme>__c`` per scheme;
* ``hubspot`` - ``hubspot_companies.csv`` for HubSpot's company import:
  ``Record ID`` (the ``crm_id``) and ``Company Domain Name`` (HubSpot
  matches on the Record ID, else on the domain), then the properties of
  :data:`HUBSPOT_PROPERTIES` and one ``sikta_<scheme>`` per scheme;
* ``csv`` / ``parquet`` - ``segments.csv`` / ``segments.parquet`` in the
  generic layout (:data:`GENERIC`, then ``scheme__<name>`` columns).

Units the CRM cannot match (no ``crm_id`` for Salesforce, neither id nor
domain for HubSpot) are not dropped silently: they go to
``<layout>_unmatched.csv`` with the reason, and the summary counts them.

Personal data (contact names and e-mails) is left out; ``include_contacts``
adds ``contacts.csv`` (or ``.parquet``): each contact of the run's units with
name, e-mail, role and department beside the unit's group and segment. Every
CSV goes through the one CSV writer (:mod:`sikta.engine.csvsafe`).

Examples
--------
>>> salesforce_field("scheme__value_tier"), hubspot_property("scheme__needs")
('Sikta_Value_Tier__c', 'sikta_needs')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sikta.engine.csvsafe import write_frame_csv
from sikta.errors import UsageError
from sikta.service import operate_units as ou
from sikta.service import runs as runs_svc
from sikta.service.exports import export_folder

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["GENERIC", "HUBSPOT_PROPERTIES", "LAYOUTS", "SALESFORCE_FIELDS", "export_layout", "export_rows",
           "hubspot_property", "salesforce_field"]

LAYOUTS = ("salesforce", "hubspot", "csv", "parquet")
#: the generic layout (csv, parquet, database write-back): column → type
GENERIC = {
    "unit_id": "string", "crm_id": "string", "domain": "string", "name": "string", "status": "string",
    "group": "string", "group_label": "string", "segment": "string", "potential_score": "float64",
    "pain_score": "float64", "revenue_12m": "float64", "clv": "float64", "clv_minus_cac": "float64",
    "value_tier": "string", "engagement": "string", "owner": "string", "run_id": "string", "as_of": "date",
    "grain": "string", "model_name": "string", "model_version": "string",
}
#: generic column → Salesforce custom field (after ``Id``)
SALESFORCE_FIELDS = {
    "unit_id": "Sikta_Unit_Id__c", "group": "Sikta_Group__c", "group_label": "Sikta_Group_Label__c",
    "segment": "Sikta_Segment__c", "potential_score": "Sikta_Potential_Score__c", "pain_score": "Sikta_Pain_Score__c",
    "revenue_12m": "Sikta_Revenue_12m__c", "clv": "Sikta_CLV__c", "value_tier": "Sikta_Value_Tier__c",
    "engagement": "Sikta_Engagement__c", "owner": "Sikta_Owner__c", "run_id": "Sikta_Run_Id__c",
    "as_of": "Sikta_As_Of__c",
}
#: generic column → HubSpot company property (after ``Record ID`` and ``Company Domain Name``)
HUBSPOT_PROPERTIES = {k: "sikta_" + k for k in SALESFORCE_FIELDS}
CONTACT_COLUMNS = ("contact_id", "account_id", "crm_id", "unit_id", "name", "email", "role", "department", "group",
                   "segment")


def salesforce_field(column: str) -> str:
    """The custom field of a scheme column: ``scheme__value_tier`` → ``Sikta_Value_Tier__c``."""
    name = column.removeprefix("scheme__")
    return "Sikta_" + "_".join(p[:1].upper() + p[1:] for p in name.split("_") if p)[:30] + "__c"


def hubspot_property(column: str) -> str:
    """The property of a scheme column: ``scheme__needs`` → ``sikta_needs``."""
    return "sikta_" + column.removeprefix("scheme__")


def _labels(model: Any) -> dict[str, str]:
    out = {}
    for g in runs_svc.GROUPS:
        style = getattr(model.groups, g, None)
        out[g] = style.label if style is not None and style.label else g
    return out


def export_rows(ws: Workspace, run: str | None = None) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """The generic rows of a run (one per unit), its scheme columns, and the run's metadata."""
    from sikta.service.operate import Operate

    op = Operate(ws)
    ctx = op.context(run)
    clv_cols = [c for c in ("clv__clv", "clv__clv_minus_cac", "clv__value_tier") if c in ctx.rows.columns]
    frame, _, _ = op.engaged(ctx, set(clv_cols) | {"potential_score", "pain_score"})
    acc = ws.store.table("accounts")
    ids = [c for c in ("crm_id", "domain") if c in acc.columns]
    if ids:
        crm = ws.store.frame(acc.select(unit_id=acc.account_id, **{c: acc[c] for c in ids}))
        frame = frame.merge(crm, on="unit_id", how="left")
    m = ctx.meta
    out = pd.DataFrame({
        "unit_id": frame["unit_id"].astype(str),
        "crm_id": frame["crm_id"] if "crm_id" in frame else None,
        "domain": frame["domain"] if "domain" in frame else None,
        "name": frame["name"], "status": frame["status"], "group": frame["group"],
        "group_label": frame["group"].map(_labels(ctx.model)), "segment": frame["segment"],
        "potential_score": frame["potential_score"], "pain_score": frame["pain_score"],
        "revenue_12m": frame["revenue_12m"],
        "clv": frame["clv__clv"] if "clv__clv" in frame else np.nan,
        "clv_minus_cac": frame["clv__clv_minus_cac"] if "clv__clv_minus_cac" in frame else np.nan,
        "value_tier": frame["clv__value_tier"] if "clv__value_tier" in frame else None,
        "engagement": frame["engagement"], "owner": frame["owner"], "run_id": m["run_id"],
        "as_of": pd.Timestamp(m["as_of"]).date(), "grain": m["grain"], "model_name": m["model_name"],
        "model_version": str(m["model_version"]),
    })
    for c in ctx.labels:
        out[c] = frame[c].to_numpy()
    return out.sort_values("unit_id").reset_index(drop=True), list(ctx.labels), m


def _present(v: pd.Series) -> np.ndarray:
    return v.notna().to_numpy() & v.astype(str).str.strip().ne("").to_numpy()


def _contacts(ws: Workspace, rows: pd.DataFrame, grain: str) -> pd.DataFrame:
    from sikta.engine.features import unit_map
    from sikta.service import ingest as ing

    if not ws.store.has("contacts"):
        raise UsageError("--include-contacts: the workspace has no contacts table")
    c = ws.store.table("contacts")
    m = unit_map(ws.store.table(ing.HIERARCHY), grain)
    t = c.join(m, "account_id")
    cols = {k: t[k] for k in ("contact_id", "account_id", "unit_id", "name", "email", "role", "department")
            if k in t.columns}
    frame = ws.store.frame(t.select(**cols).order_by(["unit_id", "contact_id"]))
    frame = frame[frame["unit_id"].isin(set(rows["unit_id"]))]
    frame = frame.merge(rows[["unit_id", "crm_id", "group", "segment"]], on="unit_id", how="left")
    for k in CONTACT_COLUMNS:
        if k not in frame.columns:
            frame[k] = None
    return frame[list(CONTACT_COLUMNS)].reset_index(drop=True)


def _layout(to: str, rows: pd.DataFrame, labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The file's frame in the vendor layout, and the unmatched units with the reason."""
    if to == "salesforce":
        ok = _present(rows["crm_id"])
        out = pd.DataFrame({"Id": rows["crm_id"]})
        for col, field in SALESFORCE_FIELDS.items():
            out[field] = rows[col]
        for c in labels:
            out[salesforce_field(c)] = rows[c]
        why = "no crm_id: map the CRM's Account Id to accounts.crm_id"
    elif to == "hubspot":
        ok = _present(rows["crm_id"]) | _present(rows["domain"])
        out = pd.DataFrame({"Record ID": rows["crm_id"], "Company Domain Name": rows["domain"]})
        for col, prop in HUBSPOT_PROPERTIES.items():
            out[prop] = rows[col]
        for c in labels:
            out[hubspot_property(c)] = rows[c]
        why = "neither crm_id (Record ID) nor domain: map one of them in accounts"
    else:
        return rows, rows.iloc[:0]
    out["Sikta_As_Of__c" if to == "salesforce" else "sikta_as_of"] = rows["as_of"].astype(str)
    unmatched = rows.loc[~ok, ["unit_id", "name", "group"]].assign(reason=why)
    return out[ok].reset_index(drop=True), unmatched.reset_index(drop=True)


def export_layout(ws: Workspace, to: str, run: str | None = None, *, out_dir: str | Path | None = None,
                  include_contacts: bool = False) -> dict[str, Any]:
    """Write a run in a CRM import layout (see the module docstring); returns what was written."""
    if to not in LAYOUTS:
        raise UsageError(f"--to {to!r} is not one of {', '.join(LAYOUTS)}")
    rows, labels, meta = export_rows(ws, run)
    folder = Path(out_dir) if out_dir else export_folder(ws.path) / f"{to}_{runs_svc.run_table(meta['run_id'])[5:]}"
    folder.mkdir(parents=True, exist_ok=True)
    frame, unmatched = _layout(to, rows, labels)
    name = {"salesforce": "salesforce_accounts.csv", "hubspot": "hubspot_companies.csv", "csv": "segments.csv",
            "parquet": "segments.parquet"}[to]
    files = {"accounts": _write(frame, folder / name)}
    if len(unmatched):
        files["unmatched"] = _write(unmatched, folder / f"{to}_unmatched.csv")
    contacts = None
    if include_contacts:
        contacts = _contacts(ws, rows, meta["grain"])
        files["contacts"] = _write(contacts, folder / ("contacts.parquet" if to == "parquet" else "contacts.csv"))
    summary = {"run_id": meta["run_id"], "to": to, "folder": str(folder), "rows": len(frame),
               "unmatched": len(unmatched), "contacts": None if contacts is None else len(contacts),
               "columns": list(frame.columns), "files": {k: str(v) for k, v in files.items()}}
    (folder / "manifest.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _write(frame: pd.DataFrame, path: Path) -> Path:
    partial = path.with_name(path.name + ".partial")
    if path.suffix == ".parquet":
        frame.to_parquet(partial, index=False)
    else:
        write_frame_csv(frame, partial)
    partial.replace(path)
    return path

