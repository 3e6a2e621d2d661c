"""Time units of the CLV summaries (no model code: model files and settings check against it cheaply)."""

from __future__ import annotations

__all__ = ["TIME_UNITS"]

#: days per unit of time; ``week`` is days / 7 and ``month`` days / (365.25 / 12), both continuous
TIME_UNITS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
