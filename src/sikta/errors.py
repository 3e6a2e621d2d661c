"""One exception tree for Sikta.

Every failure a user can cause (bad input, a bad model file, a missing
workspace) is a :class:`SiktaError`. Adapters map the classes to their own
vocabulary in one place each: exit codes in :mod:`sikta.cli`, HTTP statuses
in the REST API. Anything that is *not* a ``SiktaError`` is a bug and may
show a traceback.

Examples
--------
>>> try:
...     raise InputError("orders.csv: no column 'account_id'")
... except SiktaError as exc:
...     print(type(exc).__name__, exc.exit_code)
InputError 3
"""

from __future__ import annotations


class SiktaError(Exception):
    """Base of every expected failure; the message is one line for the user."""

    exit_code: int = 1


class UsageError(SiktaError):
    """The call itself is wrong: an unknown option value, a bad combination."""

    exit_code = 2


class EngineUnavailableError(UsageError):
    """The engine asked for cannot run here (``--engine spark`` without Java 17+ or pyspark)."""


class InputError(SiktaError):
    """An input file or source cannot be used at all (missing, unreadable, wrong shape)."""

    exit_code = 3


class MappingError(InputError):
    """The column mapping file is invalid."""


class ModelError(InputError):
    """A segmentation model file or one of its expressions is invalid."""


class ContractError(InputError):
    """Input breaks the data contract in a way that no quarantine can absorb
    (e.g. mixed currencies without conversion rates)."""


class WorkspaceError(SiktaError):
    """The workspace is missing, locked, or lacks what the command needs."""

    exit_code = 4


class NotFoundError(WorkspaceError):
    """A named object (table, run, account) does not exist in the workspace."""


class WorkspaceLockedError(WorkspaceError):
    """Another process holds the workspace file (a writer, or readers when this one wants to write)."""


class ReadOnlyWorkspaceError(WorkspaceError):
    """The workspace was opened read-only and something tried to write to it.

    ``reason`` says why it was opened read-only (None: by choice, and it could be opened for writing).
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class DataTooThinError(SiktaError):
    """There is not enough data for a meaningful answer (e.g. too few accounts)."""

    exit_code = 5


__all__ = [
    "SiktaError",
    "UsageError",
    "EngineUnavailableError",
    "InputError",
    "MappingError",
    "ModelError",
    "ContractError",
    "WorkspaceError",
    "NotFoundError",
    "WorkspaceLockedError",
    "ReadOnlyWorkspaceError",
    "DataTooThinError",
]
