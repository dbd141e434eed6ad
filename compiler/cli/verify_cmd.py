"""`snnc verify ARTEFACT [--format text|json]`: replay the artefact's golden vectors; exit 0
identical, 1 mismatch, 2 bad artefact (one `error:` line on stderr, nothing on stdout).

With `--format json` stdout is one JSON document (docs/inspect.md, "verify"): `schema`
("snnc-verify/1"), `artefact`, `ok`, `checked`, `samples`, `timesteps`, `mismatch` (null, or
{layer, quantity, sample, timestep, neuron, expected, actual}), `exit_code`.
"""
from __future__ import annotations

import json
import sys

import click
from snnc.compiler.cli.common import EXIT_FAILED, EXIT_OK, handle_user_errors
from snnc.compiler.cli.options import backend_option, format_option
from snnc.runtime import load
from snnc.runtime import verify as verify_artefact

SCHEMA = "snnc-verify/1"


def verify_document(artefact: str, report) -> dict:
    """The JSON document of `snnc verify --format json`."""
    mismatch = None
    if report.mismatch is not None:
        m = report.mismatch
        value = (lambda v: str(v)) if m.quantity == "counts digest" else int  # digests: hex strings
        mismatch = {"layer": str(m.layer), "quantity": str(m.quantity),
                    "sample": None if m.sample is None else int(m.sample),
                    "timestep": None if m.timestep is None else int(m.timestep),
                    "neuron": [int(i) for i in m.neuron], "expected": value(m.expected), "actual": value(m.actual)}
    return {"schema": SCHEMA, "artefact": artefact, "ok": bool(report.ok), "checked": int(report.checked),
            "samples": int(report.samples), "timesteps": int(report.timesteps), "mismatch": mismatch,
            "exit_code": EXIT_OK if report.ok else EXIT_FAILED}


@click.command("verify")
@click.argument("artefact", type=click.Path(dir_okay=False))
@backend_option
@format_option
@handle_user_errors
def verify(artefact: str, backend: str, fmt: str) -> None:
    """Re-simulate ARTEFACT's golden inputs; every spike, count and prediction must be identical."""
    report = verify_artefact(load(artefact), backend=backend)
    if fmt == "json":
        click.echo(json.dumps(verify_document(artefact, report), indent=2))
    elif report.ok:
        click.echo(f"{artefact}: {report}")
    else:
        click.echo(f"{artefact}: {report}", err=True)
    if not report.ok:
        sys.exit(EXIT_FAILED)
