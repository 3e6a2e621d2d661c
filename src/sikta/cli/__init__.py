"""The ``sikta`` command line: a thin adapter over :mod:`sikta.service`."""

from sikta.cli.app import app, main

__all__ = ["app", "main"]
