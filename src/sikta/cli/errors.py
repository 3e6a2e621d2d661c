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

import functools
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from sikta.errors import SiktaError

err = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_code_for(exc: SiktaError) -> int:
    return exc.exit_code


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a :class:`SiktaError` ends it with one clear line."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SiktaError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted: the workspace is unchanged")
            raise typer.Exit(130) from None

    return wrapper
