"""`snnc eval MODEL_OR_ARTEFACT --data DATA --timesteps 4,8,16,32`: accuracy, honestly measured.

For a model (.onnx): compiles it in memory with the same options as `snnc compile`, then reports
the float model's accuracy, the quantized ANN's, and the bit-exact SNN's at every T (plus the
SNN's agreement with the quantized ANN). For an artefact (.snn): the SNN's accuracy at every T.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from snnc.compiler.cli.common import fail, handle_user_errors
from snnc.compiler.cli.options import (
    build_compile_options, compile_options, format_option, hw_option, load_calib, load_spec_and_bits, quiet_option,
)
from snnc.compiler.cli.progress import progress


def _timesteps(ctx, param, value: str) -> list[int]:
    try:
        ts = sorted({int(t) for t in value.split(",") if t.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not ts or ts[0] < 1:
        raise click.BadParameter("timesteps must be positive integers")
    return ts


@click.command("eval")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="Labelled test data (.npz with x/y or x_test/y_test [, x_scale]).")
@click.option("--timesteps", "-T", default="4,8,16,32", show_default=True, callback=_timesteps,
              help="Comma-separated timesteps to simulate.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Score only the first N samples.")
@hw_option
@click.option("--bits", type=int, default=None, metavar="N", help="Weight bits (required for a model).")
@compile_options
@format_option
@quiet_option
@handle_user_errors
def eval_cmd(target, data, timesteps, limit, hw, bits, fmt, quiet, **kw):
    """Accuracy of MODEL (float, quantized, SNN) or of an ARTEFACT (SNN) on labelled data."""
    from snnc import runtime
    from snnc.compiler.build import compile_graph, file_sha256, prepare
    from snnc.compiler.data import load_dataset
    from snnc.compiler.evaluate import evaluate

    if not Path(target).is_file():
        fail(f"{target}: no such file")
    wrap = progress(not quiet and fmt == "text")
    test = load_dataset(data, role="eval", scale=kw.get("data_scale"))
    result: dict = {"target": target, "data": data, "timesteps": timesteps}
    if target.endswith(".snn"):
        art = runtime.load(target)
        acc = evaluate(art, test, timesteps, limit=limit, progress=wrap)
    else:
        if bits is None:
            fail("--bits is required when evaluating a model (or pass a compiled .snn artefact)")
        spec = load_spec_and_bits(hw, bits)
        opts = build_compile_options(bits, max(timesteps), kw)
        calib, _ = load_calib(kw)
        graph = prepare(target)
        res = compile_graph(graph, spec, opts, calib, source_sha256=file_sha256(target), progress=wrap)
        if res.exit_code != 0:
            click.echo(res.check.to_text())
            fail(f"{target} does not fit {spec.name} at --bits {bits}", code=1)
        for w in res.warnings if not quiet else []:
            click.echo(f"warning: {w}", err=True)
        art = res.artefact
        acc = evaluate(art, test, timesteps, graph=graph, qann=res.lowered.qann, limit=limit, progress=wrap)
        result["options"] = opts.to_dict()
    result.update({"samples": acc.samples, "float": acc.float_acc, "quantized_ann": acc.qann_acc,
                   "snn": acc.snn_acc, "agreement_snn_vs_quantized_ann": acc.agreement})
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    pct = lambda v: "-" if v is None else f"{v * 100:.2f}%"  # noqa: E731
    click.echo(f"{acc.samples} samples from {data}")
    if acc.float_acc is not None:
        click.echo(f"float model      {pct(acc.float_acc)}")
        click.echo(f"quantized ANN    {pct(acc.qann_acc)}  ({bits}-bit weights, activations clipped at the calibration scale)")
    for t in timesteps:
        line = f"SNN T={t:<4}       {pct(acc.snn_acc[t])}"
        if acc.agreement:
            line += f"  (agrees with the quantized ANN on {pct(acc.agreement[t])})"
        click.echo(line)
