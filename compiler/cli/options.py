"""Options shared by several commands, defined once."""
from __future__ import annotations

import click

hw_option = click.option(
    "--hw", "hw", default="hw_v1", show_default=True, metavar="SPEC",
    help="Hardware spec: a YAML file or the name of a shipped spec (hw_v1).",
)
bits_option = click.option(
    "--bits", type=int, required=True, metavar="N",
    help="Weight bit width (the spec lists the allowed ones; hw_v1: 1-4).",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bars or notes.")
