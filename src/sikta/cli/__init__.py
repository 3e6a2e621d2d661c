"""The ``sikta`` command line: a thin adapter over :mod:`sikta.service`."""

from sikta.cli import (  # noqa: F401  (register their commands)
    analyze_cmd, clv_cmd, export_cmd, kpis_cmd, model_cmd, operate_cmd, report_cmd, schemes_cmd, serve_cmd, webhook_cmd,
)
from sikta.cli.app import app, main

__all__ = ["app", "main"]
