"""Segment lists for CRM and marketing automation (SPEC §4.6 *Exports*).

An export writes one run's accounts with their group and scores as CSV or
Parquet into the workspace's export folder (``<workspace stem>_exports/``
beside the workspace file) and records it in ``_sikta_exports``. The rows
come from the run table only, so no contact or other personal data can end
up in a file. The engine writes the file; Python never holds the rows.

The layout is one generic CRM import layout (the columns of
:data:`COLUMNS`); vendor-specific layouts are not built yet. Text cells a
spreadsheet would run as a formula are neutralized (:mod:`sikta.engine.csvsafe`).

Retention: after each export the oldest ones go (file and record) so that at
most :func:`retention` exports are kept: ``$SIKTA_EXPORTS_KEEP`` (default 100)
files, together at most ``$SIKTA_EXPORTS_MAX_MB`` (default 1024) MB. An admin
lists them (``GET /api/v1/exports``) and deletes one
(``DELETE /api/v1/exports/{id}``).

Examples
--------
>>> from pathlib import Path
>>> export_folder(Path("/data/ws.duckdb"))
PosixPath('/data/ws_exports')
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from sikta.engine.csvsafe import safe_table
from sikta.errors import NotFoundError, UsageError
from sikta.service import runs as runs_svc

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

EXPORTS = "_sikta_exports"
EXPORTS_SCHEMA = {
    "export_id": "string", "run_id": "string", "format": "string", "groups": "string", "path": "string",
    "rows": "int64", "created_at": "timestamp", "created_by": "string",
}
FORMATS = ("csv", "parquet")
#: the file's columns, in order (those a run table lacks are left out)
COLUMNS = ("unit_id", "name", "status", "group", "group_label", "potential_score", "pain_score",
           "deprioritized_by", "revenue_12m", "run_id", "as_of", "grain", "model_name", "model_version")


@dataclass(frozen=True)
class Retention:
    """How many exports to keep, and how many bytes they may take together."""

    keep: int = 100
    max_bytes: int = 1024 * 2**20


def retention() -> Retention:
    """The retention from ``$SIKTA_EXPORTS_KEEP`` and ``$SIKTA_EXPORTS_MAX_MB``."""
    try:
        keep = int(os.environ.get("SIKTA_EXPORTS_KEEP", "100"))
        mb = float(os.environ.get("SIKTA_EXPORTS_MAX_MB", "1024"))
    except ValueError:
        raise UsageError("SIKTA_EXPORTS_KEEP is a number of files and SIKTA_EXPORTS_MAX_MB a number of MB") from None
    return Retention(keep=max(keep, 1), max_bytes=int(max(mb, 0) * 2**20))


def export_folder(workspace_path: str | Path) -> Path:
    """Where a workspace's exports go: ``<stem>_exports`` beside the workspace file."""
    p = Path(workspace_path)
    return p.parent / f"{p.stem}_exports"


def export_run(
    ws: Workspace, run: str | None = "latest", *, fmt: str = "csv", groups: list[str] | None = None,
    created_by: str | None = None, keep: Retention | None = None,
) -> dict[str, Any]:
    """Write a run's segment list; returns the export record (id, path, rows, ...).

    Parameters
    ----------
    ws
        The workspace.
    run
        ``latest``, ``previous``, a run id or a unique suffix of one.
    fmt
        ``csv`` (with a header) or ``parquet``.
    groups
        Only these groups (default: every group).
    created_by
        Who asked (a token name), for the record.
    keep
        The retention to apply afterwards (default :func:`retention`); the new export always stays.
    """
    if fmt not in FORMATS:
        raise UsageError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    unknown = sorted(set(groups or ()) - set(runs_svc.GROUPS))
    if unknown:
        raise UsageError(f"unknown group {unknown[0]!r}: use {', '.join(runs_svc.GROUPS)}")
    meta = runs_svc.get_run(ws, run)
    from sikta.service.model import model_from_text

    model = model_from_text(meta["model_text"], source=f"run {meta['run_id']}")
    labels = {g: _label(model, g) for g in runs_svc.GROUPS}
    t = ws.store.table(runs_svc.run_table(meta["run_id"]))
    if groups:
        t = t.filter(t.group.isin(list(groups)))
    derived = {
        "group_label": t.group.substitute(labels),
        "run_id": ibis.literal(meta["run_id"]),
        "as_of": ibis.literal(pd.Timestamp(meta["as_of"]).date()),
        "grain": ibis.literal(meta["grain"]),
        "model_name": ibis.literal(meta["model_name"]),
        "model_version": ibis.literal(str(meta["model_version"])),
    }
    t = t.select(*[(derived[c].name(c) if c in derived else t[c]) for c in COLUMNS if c in derived or c in t.columns])
    t = t.order_by("unit_id")
    created = datetime.now(UTC).replace(tzinfo=None)
    export_id = f"exp-{created:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    folder = export_folder(ws.path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"segments_{meta['run_id']}_{export_id}.{fmt}"
    partial = path.with_name(path.name + ".partial")
    # written aside and renamed, so a reader never sees half a file
    if fmt == "csv":
        ws.store.con.to_csv(safe_table(t), partial)  # names a spreadsheet would run as formulas get an apostrophe
    else:
        ws.store.con.to_parquet(t, partial)
    os.replace(partial, path)
    rows = ws.store.count(t)
    record = {"export_id": export_id, "run_id": meta["run_id"], "format": fmt, "groups": ",".join(groups or ()),
              "path": str(path), "rows": rows, "created_at": created, "created_by": created_by}
    with ws.store.transaction():
        ws.store.create_empty(EXPORTS, EXPORTS_SCHEMA, replace=False)
        ws.store.insert(EXPORTS, pd.DataFrame([record]), schema=EXPORTS_SCHEMA)
    apply_retention(ws, keep or retention())
    return _public(record)


def apply_retention(ws: Workspace, keep: Retention) -> list[str]:
    """Delete the oldest exports beyond ``keep`` (the newest always stays); returns their ids."""
    listed = list_exports(ws)  # newest first
    gone, total = [], 0
    for i, e in enumerate(listed):
        total += e["size_bytes"] or 0
        if i > 0 and (i >= keep.keep or total > keep.max_bytes):
            gone.append(e["export_id"])
    for export_id in gone:
        delete_export(ws, export_id)
    return gone


def delete_export(ws: Workspace, export_id: str) -> dict[str, Any]:
    """Delete an export's file and record; returns the record as it was."""
    hits = [e for e in list_exports(ws) if e["export_id"] == export_id]
    if not hits:
        raise NotFoundError(f"no export {export_id!r}")
    Path(hits[0]["path"]).unlink(missing_ok=True)
    ws.store.execute(f'DELETE FROM "{EXPORTS}" WHERE export_id = ?', [export_id])
    return hits[0]


def _label(model: Any, group: str) -> str:
    style = getattr(model.groups, group, None)
    return style.label if style is not None and style.label else group


def _public(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    out["groups"] = [g for g in (r.get("groups") or "").split(",") if g]
    out["created_at"] = pd.Timestamp(r["created_at"]).to_pydatetime()
    out["rows"] = int(r["rows"])
    try:
        out["size_bytes"] = Path(r["path"]).stat().st_size
    except OSError:
        out["size_bytes"] = None  # the file is gone
    return out


def list_exports(ws: Workspace) -> list[dict[str, Any]]:
    """Every export, newest first."""
    if not ws.store.has(EXPORTS):
        return []
    t = ws.store.table(EXPORTS)
    frame = ws.store.frame(t.order_by([t.created_at.desc(), t.export_id.desc()]))
    return [_public({k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()})
            for r in frame.to_dict("records")]


def get_export(ws: Workspace, export_id: str) -> dict[str, Any]:
    """One export's record; its file must still exist."""
    hits = [e for e in list_exports(ws) if e["export_id"] == export_id]
    if not hits:
        raise NotFoundError(f"no export {export_id!r}")
    if not Path(hits[0]["path"]).exists():
        raise NotFoundError(f"the file of export {export_id!r} is gone: {hits[0]['path']}")
    return hits[0]


__all__ = ["FORMATS", "COLUMNS", "Retention", "retention", "export_folder", "export_run", "list_exports", "get_export",
           "delete_export", "apply_retention"]
