"""Analysis results kept beside the workspace, so that a report or a page reuses what ``analyze`` computed.

The revenue bridge reads every order line (8 s at 1M accounts), the whitespace compares
every unit with its peers (3 s); ``sikta analyze`` computes them, and ``sikta report``
and the analysis page show them again. A result is stored under a digest of everything
it depends on: the part, its settings (grain, as-of date, window, period, tolerance),
the ingest it was computed from and the Sikta version. It lives in
``<workspace>.results/``, a folder beside the workspace file, so that a command holding
the workspace read-only (many may at once) can store what it computed. A new ingest makes every stored result stale; the next store removes the
stale ones. The bridge keeps aggregates only (one row per period); the cross-sell whitespace
keeps one row per unit and missing line (unit ids and numbers): no names, no contacts, no
personal data. Frames are Arrow IPC files (every dtype comes back as it was, seconds-resolution
timestamps included, which Parquet would widen to milliseconds), scalars JSON: nothing is
unpickled.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> class Ws:  # what the store needs of a workspace: its path and the last ingest
...     path = str(pathlib.Path(tempfile.mkdtemp()) / "ws.duckdb")
...     def last_ingest(self): return {"ingest_id": "ing-1"}
>>> settings = {"grain": "account", "period": "month"}
>>> save(Ws(), "flow", settings, {"nrr": 1.1}, {"periods": pd.DataFrame({"n": [1, 2]})})
>>> meta, frames = load(Ws(), "flow", settings)
>>> meta["nrr"], frames["periods"]["n"].tolist()
(1.1, [1, 2])
>>> load(Ws(), "flow", {"grain": "account", "period": "quarter"}) is None
True
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from sikta import __version__

__all__ = ["load", "save", "remember", "folder"]


class _Workspace(Protocol):
    path: str | Path

    def last_ingest(self) -> dict | None: ...


def folder(ws: _Workspace) -> Path | None:
    """Where the results of ``ws`` are kept; ``None`` for an in-memory workspace."""
    path = str(ws.path)
    return None if path == ":memory:" else Path(path + ".results")


def _entry(ws: _Workspace, part: str, settings: dict[str, Any]) -> tuple[Path, str] | None:
    base = folder(ws)
    ingest = (ws.last_ingest() or {}).get("ingest_id")
    if base is None or not ingest:
        return None
    key = json.dumps({"part": part, "ingest": ingest, "version": __version__, **settings}, sort_keys=True, default=str)
    return base / f"{part}-{ingest}-{hashlib.sha256(key.encode()).hexdigest()[:24]}", ingest


def _write(path: Path, frame: pd.DataFrame) -> None:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=None)
    # zstd: the whitespace at 1M accounts is 25 MB instead of 209, and reads and writes faster so
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)


def _read(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    with pa.OSFile(str(path), "rb") as source:  # read in, not mapped: a later save may remove the entry
        return pa.ipc.open_file(source).read_all().to_pandas()


def load(ws: _Workspace, part: str, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, pd.DataFrame]] | None:
    """The stored ``(scalars, frames)`` of ``part`` under ``settings`` for the current ingest, or ``None``.

    An entry that cannot be read (a half-copied folder, a disk error) counts as absent: the
    caller computes the result again.
    """
    found = _entry(ws, part, settings)
    return None if found is None else _load(found[0])


def save(ws: _Workspace, part: str, settings: dict[str, Any], meta: dict[str, Any],
         frames: dict[str, pd.DataFrame]) -> None:
    """Store ``part``'s result; stale entries (other ingests) of every part are removed.

    Best effort: a folder that cannot be written (read-only media, no space) stores nothing
    and the result is computed again next time.
    """
    found = _entry(ws, part, settings)
    if found is not None:
        _save(*found, meta, frames)


def remember(ws: _Workspace, part: str, settings: dict[str, Any],
             compute: Callable[[], tuple[dict[str, Any], dict[str, pd.DataFrame]]],
             ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The stored result of ``part`` under ``settings``, else ``compute()``'s, stored (see :func:`save`)."""
    found = _entry(ws, part, settings)
    if found is not None and (hit := _load(found[0])) is not None:
        return hit
    meta, frames = compute()
    if found is not None:
        _save(*found, meta, frames)
    return meta, frames


def _load(path: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]] | None:
    if not path.is_dir():
        return None
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        frames = {name: _read(path / f"{name}.arrow") for name in meta.pop("_frames")}
    except (OSError, ValueError, KeyError):
        return None
    return meta, frames


def _save(path: Path, ingest: str, meta: dict[str, Any], frames: dict[str, pd.DataFrame]) -> None:
    tmp = path.parent / f".tmp-{secrets.token_hex(6)}"
    try:
        tmp.mkdir(parents=True)
        for name, frame in frames.items():
            _write(tmp / f"{name}.arrow", frame)
        (tmp / "meta.json").write_text(json.dumps(meta | {"_frames": list(frames)}), encoding="utf-8")
        os.rename(tmp, path)  # atomic: a reader sees the whole entry or none (another writer may have won)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    for old in path.parent.iterdir():
        if old.is_dir() and not old.name.startswith(".") and f"-{ingest}-" not in old.name:
            shutil.rmtree(old, ignore_errors=True)
