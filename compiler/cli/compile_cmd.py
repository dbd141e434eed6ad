"""`snnc compile MODEL --hw SPEC --bits N -o OUT.snn`"""
from __future__ import annotations

import json
from pathlib import Path

import click

from snnc.compiler.cli.common import EXIT_FAILED, EXIT_OK, handle_user_errors
from snnc.compiler.cli.options import bits_option, format_option, hw_option, quiet_option
from snnc.compiler.cli.progress import progress


@click.command("compile")
@click.argument("model", type=click.Path(dir_okay=False))
@hw_option
@bits_option
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Artefact to write (default: MODEL with .snn).")
@click.option("--calib", type=click.Path(dir_okay=False), help="Calibration inputs (.npz with x [, y, x_scale] or .npy).")
@click.option("--data-scale", type=float, default=None,
              help="Multiply the stored data by this to get the model's input (default: the file's x_scale, else 1).")
@click.option("--calib-samples", type=click.IntRange(1), default=1000, show_default=True, help="Use at most this many calibration inputs.")
@click.option("--timesteps", "-T", type=click.IntRange(1), default=32, show_default=True, help="Timesteps for golden vectors and the agreement check.")
@click.option("--norm", type=click.Choice(["max", "percentile", "spikenorm"]), default="percentile", show_default=True,
              help="Threshold normalization: activation max, a percentile of activations (Rueckauer 2017), or Spike-Norm (Sengupta 2019).")
@click.option("--percentile", type=click.FloatRange(50, 100), default=99.99, show_default=True, help="Percentile for --norm percentile.")
@click.option("--reset", type=click.Choice(["subtract", "zero"]), default="subtract", show_default=True, help="Reset by subtracting the threshold, or to zero.")
@click.option("--v-init", type=click.Choice(["half", "zero"]), default="half", show_default=True, help="Initial membrane: floor(threshold/2) or 0.")
@click.option("--per-channel", is_flag=True, help="One threshold per output channel (where the spec allows).")
@click.option("--input-encoding", type=click.Choice(["current", "rate"]), default="current", show_default=True,
              help="Integer current every timestep, or deterministic rate-coded spikes.")
@click.option("--input-scale", type=float, default=None, help="Float value of one integer input step (default: from the calibration data range).")
@format_option
@quiet_option
@handle_user_errors
def compile_cmd(model, hw, bits, out, calib, data_scale, calib_samples, timesteps, norm, percentile, reset, v_init,
                per_channel, input_encoding, input_scale, fmt, quiet):
    """Compile MODEL (.onnx) into a bit-exact spiking artefact for the hardware spec.

    Runs the same checks as `snnc check` first and writes nothing when they fail (exit 1).
    """
    from snnc.compiler.build import compile_model
    from snnc.compiler.cli.check_cmd import render_report
    from snnc.compiler.cli.common import fail
    from snnc.compiler.data import load_dataset
    from snnc.compiler.lower import CompileOptions
    from snnc.hwspec import load_spec

    spec = load_spec(hw)
    if bits not in spec.weight_bits:
        fail(f"--bits {bits}: the spec {spec.name} allows {', '.join(map(str, spec.weight_bits))}")
    if not Path(model).exists():
        fail(f"{model}: no such model file")
    out = out or str(Path(model).with_suffix(".snn"))
    opts = CompileOptions(bits=bits, timesteps=timesteps, norm=norm, percentile=percentile, reset=reset, v_init=v_init,
                          per_channel=per_channel, input_encoding=input_encoding, input_scale=input_scale,
                          calib_samples=calib_samples)
    data = load_dataset(calib, role="calib", scale=data_scale) if calib else None
    result = compile_model(model, spec, opts, data, out, progress=progress(not quiet and fmt == "text"))
    if result.exit_code != EXIT_OK:
        click.echo(render_report(result.check, fmt))
        click.echo(f"error: {model} does not fit {spec.name} at --bits {bits}; no artefact written", err=True)
        raise SystemExit(EXIT_FAILED)
    summary = summarize(result, model, spec)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(render_summary(summary, quiet))
    raise SystemExit(EXIT_OK)


def summarize(result, model, spec) -> dict:
    layers = []
    for r in result.lowered.layers:
        layers.append({k: v for k, v in vars(r).items()})
    return {
        "model": str(model),
        "artefact": str(result.out),
        "hardware_spec": {"name": spec.name, "sha256": spec.sha256},
        "options": result.artefact.provenance.get("options"),
        "input": {"encoding": result.artefact.input.encoding, "lo": result.artefact.input.lo,
                  "hi": result.artefact.input.hi, "scale": result.artefact.input.scale},
        "layers": layers,
        "agreement": None if result.agreement is None else {
            "snn_vs_quantized_ann": result.agreement, "samples": result.agreement_samples,
            "timesteps": result.artefact.golden.timesteps},
        "golden_samples": int(result.artefact.golden.inputs.shape[0]),
        "warnings": result.warnings,
    }


def _fmt(v, spec=""):
    if v is None:
        return "-"
    return format(v, spec) if spec else str(v)


def render_summary(s: dict, quiet: bool = False) -> str:
    head = ("layer", "kind", "place", "bits", "theta", "weights", "row bits", "scale", "w err", "saturate")
    rows = []
    for l in s["layers"]:
        theta = "-" if l["theta_min"] is None else (str(l["theta_min"]) if l["theta_min"] == l["theta_max"] else f"{l['theta_min']}..{l['theta_max']}")
        row_bits = "-" if l["row_bits"] is None else f"{l['row_bits']}/{l['row_budget']}"
        rows.append((l["name"], l["kind"], l["placement"], _fmt(l["bits"]), theta,
                     f"{l['weight_bytes']} B" if l["weight_bytes"] else "-", row_bits,
                     _fmt(l["scale"], ".4g"), _fmt(l["weight_error"], ".3f"),
                     "possible" if l["saturation_possible"] else ("no" if l["membrane_bound"] is not None else "-")))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    total = sum(l["weight_bytes"] for l in s["layers"])
    out.append("")
    out.append(f"weights: {total} bytes packed; input: {s['input']['encoding']} ints in [{s['input']['lo']}, {s['input']['hi']}], scale {s['input']['scale']:.6g}")
    if s["agreement"]:
        a = s["agreement"]
        out.append(f"agreement SNN vs quantized ANN: {a['snn_vs_quantized_ann'] * 100:.1f}% of {a['samples']} calibration inputs at T={a['timesteps']}")
    if not quiet:
        for w in s["warnings"]:
            out.append(f"warning: {w}")
    out.append(f"wrote {s['artefact']} ({s['golden_samples']} golden vectors)")
    return "\n".join(out)
