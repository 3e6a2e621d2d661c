"""A small, independent reading of the data contract for the generator tests.

It loads every column as text (as a CSV import would see it) and marks the
rows a correct validator must quarantine: unparseable or missing required
values, out-of-range values, disallowed values, end before start, later
copies of a key, unknown references and parent cycles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sikta.engine.contract import CONTRACT, SURVEY_SCALES, load_order

TS_FORMAT = "%Y-%m-%d %H:%M:%S"


def load_text(path: Path) -> pd.DataFrame:
    """A table with every column as text (None for null), from parquet or CSV."""
    if path.suffix == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return df.astype(object).where(df.notna(), None)
    table = pq.read_table(path)
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("s")), format=TS_FORMAT)
        cols[name] = col.cast(pa.string()).to_pylist()
    return pd.DataFrame(cols, dtype=object)


def load_dir(directory: Path, fmt: str) -> dict[str, pd.DataFrame]:
    return {t: load_text(directory / f"{t}.{fmt}") for t in CONTRACT}


def _parse(s: pd.Series, dtype: str) -> pd.Series:
    if dtype in ("int", "float"):
        return pd.to_numeric(s, errors="coerce")
    if dtype == "date":
        return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")
    if dtype == "timestamp":
        return pd.to_datetime(s, format=TS_FORMAT, errors="coerce")
    return s


def quarantine(tables: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Per table, a boolean mask of the rows that break the contract."""
    out: dict[str, np.ndarray] = {}
    loaded: dict[str, dict[str, set]] = {}
    for tc in load_order():
        df = tables[tc.name]
        bad = np.zeros(len(df), dtype=bool)
        parsed = {}
        for col in tc.columns:
            s = df[col.name]
            present = s.notna().to_numpy()
            if not col.nullable:
                bad |= ~present
            v = _parse(s, col.dtype)
            parsed[col.name] = v
            if col.dtype == "string":
                ok = np.ones(len(df), dtype=bool)
            else:
                ok = v.notna().to_numpy().copy()
                if col.dtype == "int":
                    ok &= (v.fillna(0) % 1 == 0).to_numpy()
                bad |= present & ~ok
            if col.min is not None:
                bad |= present & ok & (v < col.min).fillna(False).to_numpy()
            if col.max is not None:
                bad |= present & ok & (v > col.max).fillna(False).to_numpy()
            if col.allowed is not None:
                norm = s.fillna("").str.strip().str.lower()
                bad |= present & ~norm.isin(col.allowed).to_numpy()
        if tc.name == "survey_responses":
            value = parsed["value"]
            for item, (lo, hi) in SURVEY_SCALES.items():
                is_item = df["item"].fillna("").str.startswith(item) if item.endswith("_") else df["item"] == item
                bad |= (is_item & ((value < lo) | (value > hi))).fillna(False).to_numpy()
            bad |= (df["account_id"].isna() & df["contact_id"].isna()).to_numpy()
        for start, end in tc.ordered:
            bad |= (parsed[end] < parsed[start]).fillna(False).to_numpy()
        if tc.key:
            bad |= df.duplicated(subset=list(tc.key), keep="first").to_numpy()
        for ref in tc.references:
            if ref.table == tc.name:
                continue
            s = df[ref.column]
            bad |= (s.notna() & ~s.isin(loaded[ref.table][ref.target])).to_numpy()
        if tc.name == "accounts":
            bad |= _hierarchy_bad(df, bad)
        out[tc.name] = bad
        loaded[tc.name] = {c.name: set(df.loc[~bad, c.name].dropna()) for c in tc.columns}
    return out


def _hierarchy_bad(df: pd.DataFrame, bad: np.ndarray) -> np.ndarray:
    """Accounts whose parent is unknown or that sit on a parent cycle."""
    ids = df["account_id"].to_numpy()
    pos = {a: i for i, a in enumerate(ids) if not bad[i]}
    parent = np.array([pos.get(p, -2) if p is not None else -1 for p in df["parent_account_id"]])
    unknown = parent == -2
    cur = parent.copy()
    cycle = np.zeros(len(df), dtype=bool)
    for _ in range(64):  # real trees are 4 levels deep; any longer walk is a cycle
        cycle |= cur == np.arange(len(df))
        cur = np.where(cur >= 0, parent[np.maximum(cur, 0)], cur)
    return unknown | cycle | (cur >= 0)
