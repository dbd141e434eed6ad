"""`snnc compile MODEL --hw SPEC --bits N -o OUT.snn`"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from snnc.compiler.atomic import clean_stale
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.cli.common import EXIT_FAILED, EXIT_OK, fail, handle_user_errors
from snnc.compiler.cli.options import field_option
from snnc.compiler.cli.options import (
    bits_option, build_compile_options, compile_options, format_option, hw_option, load_calib,
    OutputFile, load_spec_and_bits, quiet_option, resolve_auto_bits,
)
from snnc.compiler.cli.progress import progress


@click.command("compile")
@click.argument("model", type=click.Path(dir_okay=False))
@hw_option
@bits_option
@click.option("-o", "--out", type=OutputFile(), help="Artefact to write (default: MODEL with .snn).")
@click.option("--timesteps", "-T", type=click.IntRange(1), default=32, show_default=True,
              help="Timesteps for the golden vectors and the agreement check.")
@compile_options
@field_option(CompileOptions, "calibration")
@field_option(CompileOptions, "golden_counts")
@click.option("--dry-run", is_flag=True, help="With --bits auto: print the per-layer plan and its cost, compile nothing.")
@format_option
@quiet_option
@handle_user_errors
def compile_cmd(model, hw, bits, out, timesteps, dry_run, fmt, quiet, **kw):
    """Compile MODEL (.onnx) into a bit-exact spiking artefact for the hardware spec.

    Runs the same checks as `snnc check` first and writes nothing when they fail (exit 1).
    """
    from snnc.compiler.backend.build import compile_graph, file_sha256, prepare
    from snnc.compiler.cli.check_cmd import render_report

    spec = load_spec_and_bits(hw, bits)
    if not Path(model).is_file():
        fail(f"{model}: no such model file")
    if dry_run and bits != "auto":
        fail("--dry-run goes with --bits auto (it prints the per-layer plan)")
    graph = prepare(model)
    data, _ = load_calib(kw)
    if bits == "auto" and data is not None:  # the plan from measured sensitivity on the calibration data
        from snnc.compiler.cli.sensitivity_cmd import measured_auto_bits

        bits, kw["layer_bits"] = measured_auto_bits(graph, spec, kw.get("layer_bits", ()), data, kw, timesteps,
                                                    quiet=quiet and not dry_run)
    bits, kw["layer_bits"] = resolve_auto_bits(graph, spec, bits, kw.get("layer_bits", ()), quiet=quiet and not dry_run)
    if dry_run:
        raise SystemExit(EXIT_OK)
    out = out or str(Path(model).with_suffix(".snn"))
    clean_stale(out)  # temporary files a killed earlier compile left next to the artefact
    calibration, golden_counts = kw.pop("calibration"), kw.pop("golden_counts")
    opts = replace(build_compile_options(bits, timesteps, kw), calibration=calibration, golden_counts=golden_counts)
    result = compile_graph(graph, spec, opts, data, out=out, source_sha256=file_sha256(model),
                           progress=progress(not quiet and fmt == "text"))
    if result.exit_code != EXIT_OK:
        click.echo(render_report(result.check, fmt))
        click.echo(f"error: {model} does not fit {spec.name} at --bits {bits}; no artefact written", err=True)
        raise SystemExit(EXIT_FAILED)
    summary = summarize(result, model, spec)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(render_summary(summary))
    if not quiet and fmt == "text":  # in JSON they are the document's "warnings"
        for w in result.warnings:
            click.echo(f"warning: {w}", err=True)
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
            "snn_vs_quantized_ann": result.agreement, "snn_vs_float": result.float_agreement,
            "samples": result.agreement_samples,
            "timesteps": result.artefact.golden.timesteps},
        "golden_samples": int(result.artefact.golden.inputs.shape[0]),
        "golden_digests": sorted(result.artefact.golden.digests),
        "rounding": result.artefact.provenance.get("rounding"),  # --rounding: the layers GPTQ rounded
        "warnings": result.warnings,
    }


def _fmt(v, spec=""):
    if v is None:
        return "-"
    return format(v, spec) if spec else str(v)


def render_summary(s: dict) -> str:
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
        out.append(f"agreement SNN vs quantized ANN: {a['snn_vs_quantized_ann'] * 100:.1f}%, vs float model: "
                   f"{a['snn_vs_float'] * 100:.1f}% of {a['samples']} calibration inputs at T={a['timesteps']}")
    cal = [l for l in s["layers"] if l.get("calibration")]
    if cal:  # --calibration auto: what it chose per layer, and why (docs/compile.md)
        out.append(f"calibration auto (target T={s['agreement']['timesteps'] if s['agreement'] else '-'}):")
        out += [f"  {l['name']}: {l['calibration']}" for l in cal]
    rnd = s.get("rounding")
    if rnd:  # --rounding gptq / auto at 1-2 bits (docs/compile.md, "Data-aware rounding")
        out.append(f"weight rounding: GPTQ (output error on {rnd['samples']} calibration inputs, θ search, bias "
                   f"correction) for {len(rnd['layers'])} layer(s): {', '.join(rnd['layers'])}")
    digests = (f"; the counts of {len(s['golden_digests'])} layers as SHA-256 digests (--golden-counts full "
               f"stores them all)" if s["golden_digests"] else "")
    out.append(f"wrote {s['artefact']} ({s['golden_samples']} golden vectors{digests})")
    return "\n".join(out)
