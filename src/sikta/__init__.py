"""Sikta: B2B customer segmentation — aim better.

>>> import sikta
>>> sikta.Workspace  # doctest: +ELLIPSIS
<class 'sikta.service.workspace.Workspace'>
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sikta.errors import (
    ContractError,
    DataTooThinError,
    InputError,
    MappingError,
    ModelError,
    NotFoundError,
    SiktaError,
    UsageError,
    WorkspaceError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sikta.service.workspace import Workspace


def __getattr__(name: str) -> Any:
    # Lazy, so that `sikta --version` and `import sikta.errors` stay instant.
    if name == "Workspace":
        from sikta.service.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'sikta' has no attribute {name!r}")


__all__ = [
    "Workspace",
    "SiktaError",
    "UsageError",
    "InputError",
    "MappingError",
    "ModelError",
    "ContractError",
    "WorkspaceError",
    "NotFoundError",
    "DataTooThinError",
    "__version__",
]
