"""`snnc run ARTEFACT INPUT.npy`: bit-exact simulation of an artefact (uses snnc.runtime only)."""
from __future__ import annotations

import click

import numpy as np

from snnc.compiler.atomic import atomic_write
from snnc.compiler.cli.common import handle_user_errors
from snnc.compiler.cli.options import OutputFile, backend_option
from snnc.runtime import InputError, load, simulate
from snnc.runtime.encode import input_clip_warning
from snnc.runtime.npyio import load_input_npy, result_arrays

SHOW = 20


@click.command("run")
@click.argument("artefact", type=click.Path(dir_okay=False))
@click.argument("input_npy", metavar="INPUT.npy", type=click.Path(dir_okay=False))
@click.option("--timesteps", "-T", type=click.IntRange(min=1), default=None,
              help="Timesteps to simulate (default: the T of the artefact's golden vectors).")
@click.option("--out", "out", type=OutputFile(), default=None,
              help="Write counts per layer, logits and predictions (and traces) to this .npz.")
@click.option("--trace", is_flag=True, help="Also record per-layer spikes and membranes (B, T, ...) in --out.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Samples simulated at once.")
@backend_option
@handle_user_errors
def run(artefact: str, input_npy: str, timesteps: int | None, out: str | None, trace: bool,
        batch_size: int | None, backend: str) -> None:
    """Simulate ARTEFACT on INPUT.npy ((B, *input_shape) or one sample) and print the outputs."""
    art = load(artefact)
    if timesteps is None:
        if art.golden is None:
            raise InputError("--timesteps: required (the artefact has no golden vectors to take T from)")
        timesteps = art.golden.timesteps
    x = load_input_npy(input_npy, art.input)
    if (clipped := input_clip_warning(art.input, x, input_npy)) is not None:
        click.echo(f"warning: {clipped}", err=True)
    res = simulate(art, x, timesteps, trace=trace, batch_size=batch_size, backend=backend)
    counts = res.output_counts.reshape(len(x), -1)
    click.echo(f"{len(x)} sample(s), T={timesteps}, output layer {res.output_layer!r} "
               f"({counts.shape[1]} neurons, {int(counts.sum())} spikes)")
    for i in range(min(len(x), SHOW)):
        pred = f"prediction {int(res.predictions[i])}  " if res.predictions is not None else ""
        click.echo(f"  sample {i}: {pred}spikes {int(counts[i].sum())}, most active neuron {int(counts[i].argmax())}")
    if len(x) > SHOW:
        click.echo(f"  ... {len(x) - SHOW} more")
    if out:
        with atomic_write(out) as fh:  # a kill leaves the earlier result, never a truncated .npz
            np.savez(fh, **result_arrays(res))
        click.echo(f"wrote {out}")
