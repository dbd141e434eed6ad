"""`snnc check MODEL --hw SPEC --bits N [--format text|json]`: does the model fit the chip?

Exit 0: it fits; 1: constraint violations (all of them are listed, each with a fix);
2: bad input or usage (missing model, not a model, invalid spec, a bit width the spec lacks).
"""
from __future__ import annotations

from pathlib import Path

import click

from snnc.compiler.cli.common import fail, handle_user_errors
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.cli.options import (
    bits_for_option, bits_option, field_option, format_option, hw_option, load_spec_and_bits, resolve_auto_bits,
)

maxpool_option = field_option(CompileOptions, "maxpool")
host_from_option = field_option(CompileOptions, "host_from")
input_encoding_option = field_option(CompileOptions, "input_encoding")  # population: C*P first-layer channels
input_population_option = field_option(CompileOptions, "input_population")


def render_report(report, fmt: str) -> str:
    """The report as the chosen output format (text table or JSON)."""
    return report.to_json() if fmt == "json" else report.to_text()


@click.command("check")
@click.argument("model", type=click.Path(dir_okay=False))
@hw_option
@bits_option
@bits_for_option
@maxpool_option
@host_from_option
@input_encoding_option
@input_population_option
@format_option
@handle_user_errors
def check(model: str, hw: str, bits: int, layer_bits, maxpool: str, host_from: str | None, input_encoding: str,
          input_population: int, fmt: str) -> None:
    """Check that MODEL (.onnx) fits the hardware spec at N-bit weights; list every violation."""
    from snnc.compiler.backend.build import prepare
    from snnc.compiler.check import check_graph

    spec = load_spec_and_bits(hw, bits)
    if not Path(model).is_file():
        fail(f"{model}: no such model file")
    from types import SimpleNamespace

    from snnc.compiler.backend.substitute import substitute

    graph = prepare(model)
    # what compile --maxpool avgpool / --host-from do, reported the same way
    graph, notes = substitute(graph, SimpleNamespace(maxpool=maxpool, host_from=host_from, input_encoding=input_encoding,
                                                     input_population=input_population))
    for note in notes:
        click.echo(f"warning: {note}", err=True)
    auto = bits == "auto"
    bits, layer_bits = resolve_auto_bits(graph, spec, bits, layer_bits, quiet=fmt == "json")
    report = check_graph(graph, spec, bits, model=model, layer_bits=layer_bits)
    click.echo(render_report(report, fmt))
    if not report.fits and not auto and fmt == "text":
        hint = auto_hint(graph, spec, report)
        if hint:
            click.echo(hint)
    raise SystemExit(report.exit_code)


def auto_hint(graph, spec, report) -> str | None:
    """When widths are what breaks the model (HW001, HW005), the `--bits auto` plan that fits, if any."""
    from snnc.compiler.backend.fit import solve_bits
    from snnc.compiler.check import check_graph
    from snnc.compiler.errors import SnncError

    if not {v.code for v in report.errors} & {"HW001", "HW005", "HW014"}:
        return None
    try:
        plan = solve_bits(graph, spec)
    except SnncError:
        return None
    if not check_graph(graph, spec, plan.default, layer_bits=plan.layer_bits).fits:
        return None
    return f"hint: per-layer widths make it fit: --bits auto (or {plan.flags()})"
