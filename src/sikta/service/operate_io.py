"""Writing the operating layer's tables (assignments, actions, content, alerts) to a file a user asked for.

``.parquet`` writes Parquet; anything else CSV with a header, through the
project's one CSV writer (text cells a spreadsheet would run as formulas are
neutralized). List cells become ``a|b`` text in CSV.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
>>> write_table(pd.DataFrame({"unit_id": ["=1+1"], "needs": [["crm", "speed"]]}), p)
PosixPath('...a.csv')
>>> p.read_text().splitlines()
['unit_id,needs', "'=1+1,crm|speed"]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sikta.engine.csvsafe import write_frame_csv

__all__ = ["write_table"]


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            out[col] = out[col].map(lambda v: "|".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
    return out


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` (Parquet by suffix, else CSV), written aside and renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(partial, index=False)
    else:
        write_frame_csv(_flat(frame), partial)
    partial.replace(path)
    return path
