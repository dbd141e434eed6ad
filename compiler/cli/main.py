"""Entry point of the `snnc` command.

Exit codes (one place, used by every command):
  0  success / the model fits / verification identical
  1  a check failed: constraint violations, golden-vector mismatch
  2  usage error or bad input (missing file, malformed model, invalid spec, corrupt artefact),
     and an internal error (reported as one line with the snnc version; see cli/common.py)

Every error is one `error: ...` line on stderr: usage errors too (click's own multi-line usage
message is replaced by `error: <what>; see 'snnc CMD --help'`).
"""
from __future__ import annotations

import sys

import click

from snnc.compiler import __version__
from snnc.compiler.cli import commands
from snnc.compiler.cli.common import EXIT_BAD_INPUT, guard


class SnncGroup(click.Group):
    """The `snnc` group: usage errors in the `error:` format, and every command inside `guard()`."""

    def invoke(self, ctx: click.Context):
        with guard():
            return super().invoke(ctx)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name or "snnc", complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            cmd = exc.ctx.command_path if exc.ctx is not None else (prog_name or "snnc")
            what = " ".join(exc.format_message().split()).rstrip(".")
            click.echo(f"error: {what}; see '{cmd} --help'", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as exc:
            click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=SnncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="snnc")
def cli() -> None:
    """snnc: compile trained CNNs to integer spiking networks for neuromorphic hardware."""


for _cmd in commands.ALL:
    cli.add_command(_cmd)


def main() -> None:
    cli(prog_name="snnc")


if __name__ == "__main__":  # pragma: no cover
    main()
