"""`snnc verify ARTEFACT`: replay the artefact's golden vectors; exit 0 identical, 1 mismatch, 2 bad artefact."""
from __future__ import annotations

import sys

import click

from snnc.compiler.cli.common import EXIT_FAILED, handle_user_errors
from snnc.compiler.cli.options import backend_option
from snnc.runtime import load, verify as verify_artefact


@click.command("verify")
@click.argument("artefact", type=click.Path(dir_okay=False))
@backend_option
@handle_user_errors
def verify(artefact: str, backend: str) -> None:
    """Re-simulate ARTEFACT's golden inputs; every spike, count and prediction must be identical."""
    report = verify_artefact(load(artefact), backend=backend)
    if report.ok:
        click.echo(f"{artefact}: {report}")
        return
    click.echo(f"{artefact}: {report}", err=True)
    sys.exit(EXIT_FAILED)
