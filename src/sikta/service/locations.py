"""Where the workspace is, without importing the engine (the CLI's start-up stays instant).

Examples
--------
>>> import os
>>> os.environ.pop("SIKTA_WORKSPACE", None) and None
>>> str(default_workspace())
'sikta.duckdb'
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WORKSPACE = "sikta.duckdb"
#: the parts of the customer analysis, in the order they run and print
PARTS = ("pareto", "flow", "outflow", "whitespace", "reactivation", "best")
#: the periods of the customer flow
PERIODS = ("month", "quarter", "year")


def default_workspace() -> Path:
    """``$SIKTA_WORKSPACE`` or ``./sikta.duckdb``."""
    return Path(os.environ.get("SIKTA_WORKSPACE") or DEFAULT_WORKSPACE)
