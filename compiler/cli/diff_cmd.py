"""`snnc diff A B`: the first layer, timestep, sample and neuron where two runs differ (docs/diff.md).

A and B: `snnc run --trace --out` files, artefacts (their golden vectors) or external dumps in the
format of docs/diff.md. Exit 0 identical, 1 different (values, or layers / T / batch that do not
match), 2 bad input. `snnc diff MODEL ART.snn --data DATA.npz` compares the quantized ANN's
activations / λ with the SNN's firing rates instead (the float route, `snnc.compiler.diff`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from snnc.compiler.cli.common import EXIT_FAILED, fail, handle_user_errors
from snnc.compiler.cli.options import format_option

MODEL_SUFFIXES = (".onnx", ".pt2")


@click.command("diff")
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option("--artefact", type=click.Path(dir_okay=False), default=None, metavar="ART.snn",
              help="Take the layer order and shapes from this artefact (default: A's or B's when one is an artefact).")
@click.option("--common-only", is_flag=True,
              help="A layer present in only one of A and B is noted, not a difference (for partial dumps).")
@click.option("--data", type=click.Path(dir_okay=False), default=None, metavar="DATA.npz",
              help="Float route (A a model, B its artefact): the samples whose rates are compared.")
@click.option("--calib", type=click.Path(dir_okay=False), default=None, metavar="CALIB.npz",
              help="Float route: the calibration data the artefact was compiled with (default: --data).")
@click.option("--hw", default=None, metavar="SPEC",
              help="Float route: the hardware spec the artefact was built for (default: the one its provenance names).")
@click.option("--data-scale", type=float, default=None, help="Float route: scale of integer data (as in compile).")
@click.option("--limit", type=click.IntRange(min=1), default=256, show_default=True,
              help="Float route: samples of --data used.")
@click.option("--timesteps", "-T", type=click.IntRange(min=1), default=None,
              help="Float route: T of the SNN (default: the artefact's golden T).")
@click.option("--rate-threshold", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Float route: a layer whose mean |ANN/λ - SNN rate| exceeds this is reported.")
@format_option
@handle_user_errors
def diff_cmd(a, b, artefact, common_only, data, calib, hw, data_scale, limit, timesteps, rate_threshold, fmt):
    """First layer, timestep, sample and neuron where the traces A and B differ, with both values."""
    for p in (a, b):
        if not Path(p).is_file():
            fail(f"{p}: no such file")
    if Path(a).suffix.lower() in MODEL_SUFFIXES:
        _float_route(a, b, data, calib, hw, data_scale, limit, timesteps, rate_threshold, fmt)
        return
    if Path(b).suffix.lower() in MODEL_SUFFIXES:
        fail(f"{b}: a model goes first (snnc diff MODEL ART.snn --data DATA.npz)")
    if data or calib or timesteps or hw:
        fail("--data, --calib, --hw and --timesteps belong to the float route (A a model .onnx/.pt2, B its artefact)")
    from snnc.runtime import load
    from snnc.runtime.diff import first_difference

    art = load(artefact) if artefact else None
    report = first_difference(a, b, artefact=art, all_layers=not common_only)
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.to_text())
    if not report.identical:
        sys.exit(EXIT_FAILED)


def _float_route(model, art_path, data, calib, hw, data_scale, limit, timesteps, rate_threshold, fmt):
    if not data:
        fail("--data: required when A is a model (the samples whose ANN activations and SNN rates are compared)")
    if not art_path.endswith(".snn"):
        fail(f"{art_path}: the float route compares a model with its artefact (.snn)")
    from snnc.compiler.diff import rate_diff

    report = rate_diff(model, art_path, data, calib=calib, data_scale=data_scale, limit=limit,
                       timesteps=timesteps, threshold=rate_threshold, hw=hw)
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.to_text())
    if report.first is not None:
        sys.exit(EXIT_FAILED)
