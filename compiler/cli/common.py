"""Pieces shared by the CLI commands: exit codes and turning user errors into one clear line."""
from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

F = TypeVar("F", bound=Callable)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'bad input': reported as one line, exit 2, no traceback."""
    from snnc.runtime.errors import ArtefactError
    from snnc.hwspec.errors import SpecError
    from snnc.compiler.errors import SnncError

    return (ArtefactError, SpecError, SnncError)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> "NoReturn":  # type: ignore[name-defined]
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_user_errors(func: F) -> F:
    """Decorator: user-facing errors become `error: <message>` on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except user_errors() as exc:  # noqa: B902
            fail(str(exc))

    return wrapper  # type: ignore[return-value]
