"""The currency money is shown in, and the display formats shared by the CLI, the web UI and the report.

The currency is ``$SIKTA_CURRENCY`` when set, else the one currency of the
loaded revenue rows (after any ``currency_rates`` conversion every row holds
the base currency); with no currency column, or several, money is shown
without one.

Examples
--------
>>> money(1234567.8, "EUR"), money(-12.6, None), money(None, "EUR")
('EUR 1,234,568', '-13', '–')
>>> rate(0.1234), rate(None), quarter("2025-02-14"), quarter("2025-12-31")
('12.3 %', '–', '2025 Q1', '2025 Q4')
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace

__all__ = ["currency", "money", "quarter", "rate"]


def currency(ws: Workspace) -> str | None:
    """``$SIKTA_CURRENCY``, else the single currency of orders and subscriptions (None when mixed or absent)."""
    env = os.environ.get("SIKTA_CURRENCY", "").strip()
    if env:
        return env.upper()
    found: set[str] = set()
    for name in ("orders", "subscriptions"):
        if ws.store.has(name) and "currency" in ws.store.table(name).columns:
            t = ws.store.table(name)
            q = t.filter(t.currency.notnull()).select(c=t.currency.strip().upper()).distinct().limit(3)
            found |= set(ws.store.frame(q)["c"].dropna())
    return found.pop() if len(found) == 1 else None


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def money(x: Any, cur: str | None, digits: int = 0) -> str:
    """``EUR 1,234`` (no currency: ``1,234``); ``–`` when empty."""
    if _missing(x):
        return "–"
    text = f"{float(x):,.{digits}f}"
    return f"{cur} {text}" if cur else text


def rate(x: Any, digits: int = 1) -> str:
    """A share as ``12.3 %``; ``–`` when empty."""
    if _missing(x):
        return "–"
    v = 100 * float(x)
    return f"{v if round(v, digits) else 0.0:.{digits}f} %"  # no "-0.0 %" for a tiny negative share


def quarter(x: Any) -> str:
    """A date's quarter as ``2025 Q1``."""
    if _missing(x):
        return "–"
    t = pd.Timestamp(x)
    return f"{t.year} Q{t.quarter}"
