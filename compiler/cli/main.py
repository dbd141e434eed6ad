"""Entry point of the `snnc` command.

Exit codes (one place, used by every command):
  0  success / the model fits / verification identical
  1  a check failed: constraint violations, golden-vector mismatch
  2  usage error or bad input (missing file, malformed model, invalid spec, corrupt artefact)
"""
from __future__ import annotations

import click

from snnc.compiler import __version__
from snnc.compiler.cli import commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="snnc")
def cli() -> None:
    """snnc: compile trained CNNs to integer spiking networks for neuromorphic hardware."""


for _cmd in commands.ALL:
    cli.add_command(_cmd)


def main() -> None:
    cli(prog_name="snnc")


if __name__ == "__main__":  # pragma: no cover
    main()
