"""`snnc inspect ARTEFACT [--format text|json]`: layers, bits, weight memory, fan-in against the
synapse row, placement, and utilization per layer and per chip against the spec the artefact
embeds (docs/inspect.md).

Exit 0: inspected (whether or not it is within the budgets: the document says, `fits`);
2: not an artefact, or a corrupt one (one `error:` line, nothing on stdout).
"""
from __future__ import annotations

import click
from snnc.compiler.cli.common import handle_user_errors
from snnc.compiler.cli.options import format_option


@click.command("inspect")
@click.argument("artefact", type=click.Path(dir_okay=False))
@format_option
@handle_user_errors
def inspect_cmd(artefact: str, fmt: str) -> None:
    """Show ARTEFACT's layers and how much of the chip's budgets they use."""
    from snnc.compiler.inspect import inspect_artefact

    report = inspect_artefact(artefact)
    click.echo(report.to_json() if fmt == "json" else report.to_text())
