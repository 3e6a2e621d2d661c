"""The one place where Sikta's exception tree becomes exit codes.

Expected failures print one line on stderr (``error: ...``) and exit with
the class's code; no traceback. Anything else is a bug and shows one.

Examples
--------
>>> from sikta.errors import InputError
>>> exit_code_for(InputError("x"))
3
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from sikta.errors import ReadOnlyWorkspaceError, SiktaError

err = Console(stderr=True, highlight=False, soft_wrap=True)
#: set while a command runs again with the workspace opened for writing (see handles_errors)
WRITE_AGAIN: contextvars.ContextVar[bool] = contextvars.ContextVar("sikta_write_again", default=False)


def exit_code_for(exc: SiktaError) -> int:
    return exc.exit_code


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a :class:`SiktaError` ends it with one clear line.

    Commands that read open the workspace read-only (see ``sikta.cli.app._open``). When one turns
    out to write (an analysis that builds features) and nothing else holds the workspace, it runs
    once more with the workspace opened for writing: writes are staged, so the refused first try
    changed nothing.
    """

    def attempt(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReadOnlyWorkspaceError as exc:
            if exc.reason is not None or WRITE_AGAIN.get():
                raise
        token = WRITE_AGAIN.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            WRITE_AGAIN.reset(token)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return attempt(*args, **kwargs)
        except SiktaError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted: the workspace is unchanged")
            raise typer.Exit(130) from None

    return wrapper
