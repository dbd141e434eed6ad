"""`snnc finetune MODEL --data TRAIN.npz --bits N -o OUT.onnx`: quantization-aware fine-tuning."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from snnc.compiler.cli.common import EXIT_FAILED, EXIT_OK, fail, handle_user_errors
from snnc.compiler.cli.options import (
    OutputFile, bits_option, field_option, format_option, hw_option, load_spec_and_bits, positive_scale, quiet_option,
    timesteps_list,
)
from snnc.compiler.finetune.options import FinetuneOptions


def finetune_option(name: str):
    return field_option(FinetuneOptions, name)


@click.command("finetune")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="Labelled training data: .npz with x_train/y_train (or x/y, calib_x/calib_y) [, x_scale].")
@hw_option
@bits_option
@click.option("-o", "--out", type=OutputFile(), help="ONNX file to write (default: MODEL_qat<N>.onnx).")
@finetune_option("epochs")
@finetune_option("lr")
@finetune_option("batch_size")
@finetune_option("per_channel")
@finetune_option("percentile")
@finetune_option("act_levels")
@click.option("-T", "--timesteps", default="0", show_default=True,
              callback=lambda ctx, p, v: 0 if v.strip() == "0" else tuple(timesteps_list(ctx, p, v)),
              help="Train the SNN itself over this many steps (backpropagation through time through the "
                   "bit-exact integer dynamics); a list (8,16,32): one drawn per batch; 0: train the quantized "
                   "ANN. A step costs about T times an ANN step.")
@finetune_option("reset")
@finetune_option("v_init")
@finetune_option("calib_samples")
@click.option("--data-scale", type=float, default=None, callback=positive_scale, help="Multiply stored data by this (default: the file's x_scale, else 1).")
@finetune_option("input_scale")
@finetune_option("max_shift")
@finetune_option("device")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch CPU threads (default: torch's).")
@finetune_option("seed")
@finetune_option("max_steps")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Compile the result with snnc (--norm max) and check that it reproduces the trained integers.")
@format_option
@quiet_option
@handle_user_errors
def finetune_cmd(model, data, hw, bits, out, epochs, lr, batch_size, per_channel, percentile, act_levels, timesteps, reset,
                 v_init, calib_samples,
                 data_scale, input_scale, max_shift, device, threads, seed, max_steps, verify, fmt, quiet):
    """Fine-tune MODEL (.onnx, or any file snnc imports) for N-bit weights, and write an ONNX model
    that `snnc compile --norm max` turns into exactly the trained integer network.

    Weights are quantized with snnc's own rule in the forward pass (straight-through gradients),
    each spiking layer's ReLU becomes a clip at its calibrated level. With --timesteps T the
    network trained is the SNN itself, run for T steps with the artefact's integer dynamics
    (surrogate gradient for the spike): the remedy when the SNN lags the quantized ANN at small T
    (deep networks, BN-folded biases). Exit 1 when --verify finds
    that compile would not reproduce the integers.
    """
    import sys

    from snnc.compiler.backend.build import prepare
    from snnc.compiler.finetune import FinetuneOptions, compile_matches, finetune, load_training_data, save_onnx
    from snnc.compiler.backend.options import CompileOptions

    spec = load_spec_and_bits(hw, bits)
    if not Path(model).is_file():
        fail(f"{model}: no such model file")
    out = out or str(Path(model).with_name(f"{Path(model).stem}_qat{bits}.onnx"))
    if threads:
        import torch

        torch.set_num_threads(threads)
    from snnc.compiler.data import load_dataset

    train = load_training_data(data, data_scale)
    calib = load_dataset(data, role="calib", scale=data_scale)  # what `snnc compile --calib DATA` reads
    graph = prepare(model)
    opts = FinetuneOptions(bits=bits, epochs=epochs, lr=lr, batch_size=batch_size, per_channel=per_channel,
                           percentile=percentile, act_levels=act_levels, calib_samples=calib_samples,
                           input_scale=input_scale, max_shift=max_shift, max_steps=max_steps, device=device, seed=seed,
                           timesteps=timesteps, reset=reset, v_init=v_init)
    talk = not quiet and fmt == "text"
    log = (lambda s: click.echo(s, err=True)) if talk else None
    res = finetune(graph, spec, train, opts, calib=calib, progress=talk and sys.stderr.isatty(), log=log)
    save_onnx(res.graph, out)
    copts = CompileOptions(bits=bits, norm="max", calibration="off", per_channel=per_channel, calib_samples=calib_samples,
                           input_scale=input_scale, reset=reset, v_init=v_init)
    match = compile_matches(prepare(out), res.final, spec, copts, calib) if verify else None
    command = compile_command(out, hw, copts, data, data_scale)
    summary = {
        "model": str(model), "out": str(out), "device": res.device, "seconds": res.seconds,
        "options": opts.to_dict(), "history": res.history,
        "layers": [{"node": l.node, "theta_min": int(l.theta.min()), "theta_max": int(l.theta.max()),
                    "lam_in": l.lam_in, "lam_out": l.lam_out, "nudged": l.nudged, "reduced": l.reduced}
                   for l in res.final.layers],
        "compile_command": command,
        "verified": None if match is None else match.ok,
        "problems": res.final.problems + ([] if match is None else match.problems),
    }
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(render(summary))
    if match is not None and not match.ok:
        click.echo("error: snnc compile would not reproduce the trained integers: " + "; ".join(match.problems), err=True)
        raise SystemExit(EXIT_FAILED)
    raise SystemExit(EXIT_OK)


def compile_command(out, hw: str, copts, data, data_scale) -> str:
    """The `snnc compile` command that builds exactly the integers this fine-tune verified: every
    compile option from the CompileOptions used for the check, and the same data options."""
    from snnc.compiler.backend.options import compile_flags

    words = ["snnc", "compile", str(out), "--hw", hw] + compile_flags(copts, always=("bits", "norm"))
    words += ["--calib", str(data)] + (["--data-scale", repr(data_scale)] if data_scale is not None else [])
    return shlex.join(words)


def render(s: dict) -> str:
    lines = [f"fine-tuned {s['model']} on {s['device']} in {s['seconds']:.0f} s"]
    for h in s["history"]:
        lines.append(f"  epoch {h['epoch']}: loss {h['loss']:.4f}, train accuracy {h['train_accuracy'] * 100:.2f}%")
    head = ("layer", "theta", "lambda_in", "lambda_out")
    rows = [(l["node"], f"{l['theta_min']}..{l['theta_max']}", f"{l['lam_in']:.4g}", f"{l['lam_out']:.4g}") for l in s["layers"]]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head] + rows:
        lines.append("  " + "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())
    lines.append(f"wrote {s['out']}")
    if s["verified"] is not None:
        lines.append("verified: snnc compile reproduces the trained integers" if s["verified"] else "NOT verified")
    for p in s["problems"]:
        lines.append(f"warning: {p}")
    lines.append(f"compile with: {s['compile_command']}")
    return "\n".join(lines)
