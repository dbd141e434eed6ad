"""Pieces shared by the CLI commands: exit codes, and the one place that turns an exception into
the line the user sees.

Every command runs inside `guard()` (the `handle_user_errors` decorator, and the `snnc` group
around it): an exception never reaches the user as a traceback.

- a project error (`SnncError`, `SpecError`, `ArtefactError`: bad model, spec, data, artefact or
  option) is `error: <message>` on stderr, exit 2; the message names the file and the field or
  layer;
- anything else is a bug in snnc: one line `error: internal error (snnc X.Y.Z): <type>: <what>;
  please report ...`, exit 2 (set `SNNC_TRACEBACK=1` to see the traceback as well);
- warnings: snnc's own (`SnncWarning`) are printed as `warning: <message>` when they happen
  (not with `-q`/`--quiet`, which silences them as it silences the other notes);
  other libraries' warnings are held and printed as `warning:` lines only when the command
  succeeds, so an error is never preceded by a Python warning.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import traceback
import warnings
from typing import Callable, Iterator, NoReturn, TypeVar

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
TRACEBACK_ENV = "SNNC_TRACEBACK"

F = TypeVar("F", bound=Callable)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'bad input': reported as one line, exit 2, no traceback."""
    from snnc.runtime.errors import ArtefactError
    from snnc.hwspec.errors import SpecError
    from snnc.compiler.errors import SnncError

    return (ArtefactError, SpecError, SnncError)


def _one_line(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[:limit] + "..."
    return text


def _version() -> str:
    try:
        from snnc.compiler import __version__

        return str(__version__)
    except Exception:  # noqa: BLE001 - the bug line must never fail itself
        return "unknown"


def message_for(exc: BaseException) -> tuple[str, int]:
    """The one mapping from an exception to (the text after `error: `, exit code)."""
    if isinstance(exc, user_errors()):
        return str(exc) or type(exc).__name__, EXIT_BAD_INPUT
    if isinstance(exc, MemoryError):
        return ("out of memory: the input needs more memory than this machine has "
                "(a smaller --batch-size or --calib-samples may help)"), EXIT_BAD_INPUT
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS,
                                                   errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EDQUOT):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or _one_line(exc)}", EXIT_BAD_INPUT
    what = _one_line(exc)
    return (f"internal error (snnc {_version()}): {type(exc).__name__}{': ' + what if what else ''}; "
            f"please report this line and the command (set {TRACEBACK_ENV}=1 for the traceback)"), EXIT_BAD_INPUT


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _passes_through(exc: BaseException) -> bool:
    """Exceptions that are not errors to map: exits, click's own usage errors and aborts, ^C,
    and a closed output pipe (click ends quietly on those)."""
    return isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit, click.exceptions.ClickException,
                            click.exceptions.Exit, click.exceptions.Abort, BrokenPipeError))


def _quiet() -> bool:
    """Whether the running command (or a group around it) was given `-q`/`--quiet`."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("quiet"):
            return True
        ctx = ctx.parent
    return False


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Run a command: map exceptions to one `error:` line (exit 2) and handle warnings (above)."""
    from snnc.compiler.errors import SnncWarning

    held: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        text = " ".join(str(message).split())
        if issubclass(category, SnncWarning):
            if not _quiet():
                click.echo(f"warning: {text}", err=True)
        elif text not in held:
            held.append(text)

    def flush() -> None:
        for text in held:
            click.echo(f"warning: {text}", err=True)
        held.clear()

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        except BaseException as exc:  # noqa: B902 - the one place exceptions become messages
            if isinstance(exc, SystemExit) and exc.code in (None, EXIT_OK):
                flush()
            if _passes_through(exc):
                raise
            if os.environ.get(TRACEBACK_ENV):
                traceback.print_exception(exc, file=sys.stderr)
            message, code = message_for(exc)
            fail(message, code)
        flush()


def handle_user_errors(func: F) -> F:
    """Decorator of every command: runs it inside `guard()`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with guard():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
