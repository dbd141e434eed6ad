"""`snnc sensitivity MODEL --data DATA.npz`: per core layer, the accuracy when only it is lowered
to each width, and what spiking costs at it (docs/fit.md; the library is `snnc.compiler.sensitivity`).

Also here: `measured_auto_bits`, the `--bits auto` of `snnc compile` when calibration data is
given (the plan from measured sensitivity, `backend.fit.solve_bits(graph, spec, calib)`).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from snnc.compiler.cli.common import EXIT_OK, fail, handle_user_errors
from snnc.compiler.cli.options import COMPILE_FIELDS, OutputFile, field_option, format_option, hw_option, \
    positive_scale, quiet_option


def _bits_list(ctx, param, value: str | None):
    if value is None:
        return None
    try:
        bits = sorted({int(b) for b in value.split(",") if b.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    from snnc.runtime.packing import MAX_WEIGHT_BITS

    if not bits or bits[0] < 1 or bits[-1] > MAX_WEIGHT_BITS:
        raise click.BadParameter(f"widths must lie in 1..{MAX_WEIGHT_BITS}, got {value!r}")
    return bits


def _sensitivity_options(func):
    from snnc.compiler.backend.options import CompileOptions

    for opt in reversed([field_option(CompileOptions, name) for name in COMPILE_FIELDS]):
        func = opt(func)
    return func


@click.command("sensitivity")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False), metavar="DATA.npz",
              help="Labelled samples to score (x/y or x_test/y_test; without labels only agreement with the float model).")
@click.option("--calib", type=click.Path(dir_okay=False), metavar="CALIB.npz",
              help="Calibration inputs for the activation scales λ, as in compile (default: the samples of --data).")
@click.option("--data-scale", type=float, default=None, callback=positive_scale,
              help="Multiply stored data by this to get the model's input (default: the file's x_scale, else 1).")
@click.option("--bits-list", callback=_bits_list, default=None, metavar="B,B,...",
              help="Widths to try per layer (default: the spec's weight_bits); the widest is the SNN's width.")
@click.option("--timesteps", "-T", type=click.IntRange(1), default=16, show_default=True, help="T of the SNN.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Score at most this many samples of --data.")
@hw_option
@_sensitivity_options
@click.option("--plot", type=OutputFile(), default=None, metavar="OUT.png", help="Also draw the report (needs matplotlib).")
@format_option
@quiet_option
@handle_user_errors
def sensitivity_cmd(model, data, calib, data_scale, bits_list, timesteps, limit, hw, plot, fmt, quiet, **kw):
    """Per core conv/linear layer of MODEL: accuracy and agreement with the float model when only
    that layer is quantized to each width (the others float), and the accuracy of the bit-exact
    SNN read up to that layer (the float model after it)."""
    from snnc.compiler.backend.build import prepare
    from snnc.compiler.backend.options import CompileOptions
    from snnc.compiler.cli.progress import progress
    from snnc.compiler.data import load_dataset
    from snnc.compiler.sensitivity import plot as draw, sensitivity
    from snnc.hwspec import load_spec

    spec = load_spec(hw)
    if not Path(model).is_file():
        fail(f"{model}: no such model file")
    if plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            fail("--plot needs matplotlib: pip install matplotlib (or pip install 'snnc[report]')")
    test = load_dataset(data, role="eval", scale=data_scale)
    cal = load_dataset(calib, role="calib", scale=data_scale) if calib else None
    bits = bits_list or sorted(spec.weight_bits)
    opts = CompileOptions(bits=max(bits), timesteps=timesteps, **{name: kw.pop(name) for name in COMPILE_FIELDS})
    report = sensitivity(prepare(model), spec, test, cal, bits_list=bits, timesteps=timesteps, options=opts,
                         limit=limit, model=model, command=_command_line(),
                         progress=progress(not quiet and fmt == "text"))
    if plot:
        draw(report, plot)
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.to_text())
    if plot and not quiet:
        click.echo(f"wrote {plot}", err=True)
    raise SystemExit(EXIT_OK)


def _command_line() -> str | None:
    """The command as typed when run as `snnc` (recorded in the report), else None."""
    import shlex
    import sys

    return shlex.join(["snnc"] + sys.argv[1:]) if sys.argv and Path(sys.argv[0]).name == "snnc" else None


def measured_auto_bits(graph, spec, layer_bits, calib, kw: dict, timesteps: int, quiet: bool = False):
    """`--bits auto` with calibration data, for `snnc compile`: (bits, layer_bits) of the plan
    chosen by measured sensitivity on `calib` (backend/fit.py), printed to stderr unless quiet.
    `kw` holds the parsed compile options (read, not consumed)."""
    from snnc.compiler.backend.fit import solve_bits
    from snnc.compiler.backend.options import CompileOptions
    from snnc.compiler.cli.progress import progress

    if layer_bits:
        raise click.UsageError("--bits auto chooses every layer's width; drop --bits-for")
    opts = CompileOptions(bits=max(spec.weight_bits), timesteps=timesteps, **{n: kw[n] for n in COMPILE_FIELDS})
    plan = solve_bits(graph, spec, calib, options=opts, progress=progress(not quiet))
    if not quiet:
        click.echo("--bits auto (measured on the calibration data):\n" + plan.to_text(spec) + "\n", err=True)
    return plan.default, plan.layer_bits
