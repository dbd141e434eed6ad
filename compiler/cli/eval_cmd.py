"""`snnc eval MODEL_OR_ARTEFACT --data DATA --timesteps 4,8,16,32`: accuracy, honestly measured.

For a model (.onnx): compiles it in memory with the same options as `snnc compile`, then reports
the float model's accuracy, the quantized ANN's, and the bit-exact SNN's at every T (plus the
SNN's agreement with the quantized ANN), per-layer firing rates, synaptic operations per image
and an energy estimate against the ANN (docs/eval.md). For an artefact (.snn): the SNN's numbers.
`--sweep KEY=V1,V2` evaluates the product of configurations side by side; `--report DIR` writes
a Markdown report with plots.
"""
from __future__ import annotations

import itertools
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import click

from snnc.compiler.cli.common import EXIT_FAILED, fail, handle_user_errors
from snnc.compiler.cli.options import (
    COMPILE_FIELDS, OutputDir, build_compile_options, compile_options, format_option, hw_option, load_calib, load_spec_and_bits,
    quiet_option, timesteps_list,
)
from snnc.compiler.cli.progress import progress

SWEEP_KEYS = ("bits",) + tuple(k for k in COMPILE_FIELDS if k != "calib_samples")  # from CompileOptions
CORRELATION_SAMPLES = 64
BATCH = 100
ENERGY_NOTE = ("Core layers only: the host layer is the same in both networks and is excluded; neuron updates "
               "(threshold compare, reset), memory access and data movement are not modelled.")


def _sweeps(ctx, param, values: tuple[str, ...]) -> list[tuple[str, list]]:
    """KEY=V1,V2 -> (key, [typed values]), each value converted by the option KEY's own type."""
    out: list[tuple[str, list]] = []
    params = {p.name: p for p in ctx.command.params}
    for item in values:
        key, sep, vals = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in SWEEP_KEYS:
            raise click.BadParameter(f"{item!r}: expected KEY=V1,V2 with KEY one of {', '.join(SWEEP_KEYS)}")
        if key in (k for k, _ in out):
            raise click.BadParameter(f"{key} is swept twice")
        p = params[key]
        typ = click.BOOL if p.is_flag else p.type
        try:
            typed = [typ.convert(v.strip(), p, ctx) for v in vals.split(",") if v.strip()]
        except click.BadParameter as exc:
            raise click.BadParameter(f"{key}: {exc.message}") from None
        if not typed:
            raise click.BadParameter(f"{item!r}: no values")
        out.append((key, list(dict.fromkeys(typed))))
    return out


def command_line() -> str:
    """The command as the user typed it (from sys.argv), or as reconstructed from the parsed
    parameters when not run as `snnc` (tests, `python -m`)."""
    prog = Path(sys.argv[0]).name if sys.argv else ""
    if prog == "snnc":
        return shlex.join(["snnc"] + sys.argv[1:])
    ctx = click.get_current_context()
    from click.core import ParameterSource

    words = ["snnc", "eval"]
    for p in ctx.command.params:
        if ctx.get_parameter_source(p.name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[p.name]
        if isinstance(p, click.Argument):
            words.append(str(value))
        elif p.is_flag:
            words.append(p.opts[-1])
        elif p.name == "timesteps":
            words += [p.opts[-1], ",".join(map(str, value))]
        elif p.name == "sweep":
            for key, vals in value:
                words += [p.opts[-1], f"{key}={','.join(str(v).lower() if isinstance(v, bool) else str(v) for v in vals)}"]
        else:
            words += [p.opts[-1], str(value)]
    return shlex.join(words)


def given_options(names: tuple[str, ...]) -> list[str]:
    """Those of `names` that the user gave on the command line, as they would type them."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    params = {p.name: p for p in ctx.command.params}
    return [params[n].opts[-1] if len(params[n].opts[-1]) > 2 else params[n].opts[0] for n in names
            if n in params and ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]


def machine() -> dict:
    import numpy as np

    from snnc.compiler import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "snnc": __version__}


def _label(overrides: dict) -> str:
    return ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in overrides.items())


def _config_result(art, acc, e_mac, e_ac, lowered=None, graph=None, test=None, extras=None) -> dict:
    """One configuration's numbers; fills `extras` (a ConfigPlots) with what only the report draws."""
    from snnc.compiler.evaluate import activity_summary, ann_layer_values, layer_correlation

    layers, energies = activity_summary(art, acc, e_mac_pj=e_mac, e_ac_pj=e_ac)
    tmax = max(acc.snn_acc)
    res: dict = {"quantized_ann": acc.qann_acc, "snn": acc.snn_acc, "agreement_snn_vs_quantized_ann": acc.agreement}
    if lowered is not None:
        reports = {rep.artefact_name: rep for rep in lowered.layers}
        for layer in layers:
            rep = reports.get(layer.name)
            if rep is not None:
                layer.weight_error, layer.scale = rep.weight_error, rep.scale
        n = min(CORRELATION_SAMPLES, acc.samples)
        corr = layer_correlation(art, lowered.qann, ann_layer_values(graph, lowered),
                                 test.take(n, tuple(art.input.shape)), tmax)
        for layer in layers:
            if layer.name in corr:
                layer.correlation = corr[layer.name].r
        res["correlation_samples"] = n
        if extras is not None:
            extras.correlation = corr
    if extras is not None:
        extras.histograms = {layer.name: acc.activity[tmax].histograms[layer.name] for layer in layers}
    res["layers"] = [layer.to_dict() for layer in layers]
    res["energy"] = {t: e.to_dict() for t, e in energies.items()}
    return res


@click.command("eval")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="Labelled test data (.npz with x/y or x_test/y_test [, x_scale]).")
@click.option("--timesteps", "-T", default="4,8,16,32", show_default=True, callback=timesteps_list,
              help="Comma-separated timesteps to simulate.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Score only the first N samples.")
@hw_option
@click.option("--bits", type=int, default=None, metavar="N", help="Weight bits (required for a model).")
@compile_options
@click.option("--sweep", multiple=True, callback=_sweeps, metavar="KEY=V1,V2",
              help=f"Evaluate every combination of these values side by side (repeatable; KEY: {', '.join(SWEEP_KEYS)}).")
@click.option("--e-mac", type=click.FloatRange(0, min_open=True), default=4.6, show_default=True, metavar="PJ",
              help="Energy of one multiply-accumulate in pJ (Horowitz ISSCC 2014, 45 nm, 32-bit float).")
@click.option("--e-ac", type=click.FloatRange(0, min_open=True), default=0.9, show_default=True, metavar="PJ",
              help="Energy of one accumulate (addition) in pJ (same source).")
@click.option("--float-model", type=click.Path(dir_okay=False), default=None, metavar="MODEL",
              help="With an artefact: also score this float model on the same data, as the reference.")
@click.option("--report", "report_dir", type=OutputDir(), default=None, metavar="DIR",
              help="Write DIR/report.md with PNG plots (needs matplotlib).")
@format_option
@quiet_option
@handle_user_errors
def eval_cmd(target, data, timesteps, limit, hw, bits, sweep, e_mac, e_ac, float_model, report_dir, fmt, quiet, **kw):
    """Accuracy, firing rates, SynOps and energy of MODEL (float, quantized, SNN) or ARTEFACT (SNN)."""
    from snnc import runtime
    from snnc.compiler.backend.build import compile_graph, file_sha256, prepare
    from snnc.compiler.data import load_dataset
    from snnc.compiler.energy import ENERGY_SOURCE
    from snnc.compiler.evaluate import evaluate
    from snnc.compiler.report import ConfigPlots

    t0 = time.perf_counter()
    if not Path(target).is_file():
        fail(f"{target}: no such file")
    is_artefact = target.endswith(".snn")
    if is_artefact and sweep:
        fail("--sweep needs a model to compile (an artefact is one fixed configuration)")
    if is_artefact:
        ignored = given_options(("bits", "calib", "calib_samples", "norm", "percentile", "reset", "v_init",
                                 "per_channel", "input_encoding", "input_scale", "hw"))
        if ignored:
            fail(f"{', '.join(ignored)}: an artefact is already compiled (these options shape a compilation); "
                 "pass the model instead, or drop them")
    if float_model and not is_artefact:
        fail("--float-model goes with an artefact; for a model, eval scores the model itself")
    if float_model and not Path(float_model).is_file():
        fail(f"{float_model}: no such model file")
    if not is_artefact and bits is None and "bits" not in dict(sweep):
        fail("--bits is required when evaluating a model (or pass a compiled .snn artefact)")
    wrap = progress(not quiet)
    cmd = command_line()
    test = load_dataset(data, role="eval", scale=kw.get("data_scale"))
    result: dict = {"target": target, "data": data, "timesteps": timesteps, "command": cmd, "machine": machine(),
                    "energy_model": {"e_mac_pj": e_mac, "e_ac_pj": e_ac, "source": ENERGY_SOURCE, "note": ENERGY_NOTE}}
    configs: list[dict] = []
    extras: list = []
    float_acc = None
    samples = 0
    if is_artefact:
        art = runtime.load(target)
        reference = prepare(float_model) if float_model else None
        acc = evaluate(art, test, timesteps, graph=reference, limit=limit, batch_size=BATCH, progress=wrap)
        float_acc = acc.float_acc
        extra = ConfigPlots() if report_dir else None
        configs.append({"label": Path(target).name, "sweep": {}, "options": dict(art.provenance.get("options") or {}),
                        **_config_result(art, acc, e_mac, e_ac, extras=extra)})
        extras.append(extra)
        samples = acc.samples
    else:
        keys = [k for k, _ in sweep]
        grid = [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in sweep))] or [{}]
        for b in {o.get("bits", bits) for o in grid}:
            load_spec_and_bits(hw, b)  # every bit width is allowed, before any work
        calib, _ = load_calib(kw)
        graph = prepare(target)
        sha = file_sha256(target)
        for overrides in (wrap(grid, "configurations") if len(grid) > 1 else grid):
            b = overrides.get("bits", bits)
            spec = load_spec_and_bits(hw, b)
            opts = build_compile_options(b, max(timesteps), {**kw, **{k: v for k, v in overrides.items() if k != "bits"}})
            res = compile_graph(graph, spec, opts, calib, source_sha256=sha, progress=wrap)
            entry = {"label": _label(overrides) or Path(target).name, "sweep": overrides, "options": opts.to_dict()}
            if res.exit_code != 0:
                if len(grid) == 1:
                    click.echo(res.check.to_text())
                    fail(f"{target} does not fit {spec.name} at --bits {b}", code=EXIT_FAILED)
                configs.append({**entry, "fits": False, "check": res.check.to_text()})
                extras.append(None)
                continue
            for w in res.warnings if not quiet else []:
                click.echo(f"warning: {entry['label'] + ': ' if overrides else ''}{w}", err=True)
            acc = evaluate(res.artefact, test, timesteps, graph=graph if float_acc is None else None,
                           qann=res.lowered.qann, limit=limit, batch_size=BATCH, progress=wrap)
            if float_acc is None:
                float_acc = acc.float_acc
            samples = acc.samples
            extra = ConfigPlots() if report_dir else None
            configs.append({**entry, "fits": True, **_config_result(res.artefact, acc, e_mac, e_ac, res.lowered, graph, test, extra)})
            extras.append(extra)
    result.update({"samples": samples, "float": float_acc})
    if sweep:
        result["configs"] = configs
    else:
        result.update(configs[0])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    path = None
    if report_dir:
        from snnc.compiler.report import write_report

        path = write_report(report_dir, result, extras)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        _print_text(result, configs, bits)
    if path is not None and not quiet:
        click.echo(f"wrote {path}", err=True)
    if any(not c.get("fits", True) for c in configs):
        sys.exit(EXIT_FAILED)


def _pct(v) -> str:
    return "-" if v is None else f"{v * 100:.2f}%"


def _print_text(result: dict, configs: list[dict], bits) -> None:
    ts = result["timesteps"]
    tmax = max(ts)
    click.echo(f"{result['samples']} samples from {result['data']}")
    if result["float"] is not None:
        click.echo(f"float model      {_pct(result['float'])}")
    if "configs" in result:
        _print_sweep(result, ts, tmax)
        return
    c = configs[0]
    if c["quantized_ann"] is not None:
        click.echo(f"quantized ANN    {_pct(c['quantized_ann'])}  ({bits}-bit weights, activations clipped at the calibration scale)")
    for t in ts:
        line = f"SNN T={t:<4}       {_pct(c['snn'][t])}"
        if c["agreement_snn_vs_quantized_ann"]:
            line += f"  (agrees with the quantized ANN on {_pct(c['agreement_snn_vs_quantized_ann'][t])})"
        click.echo(line)
    click.echo("")
    click.echo("firing rate (spikes per neuron per step) and synaptic operations per image")
    width = max(len(layer["name"]) for layer in c["layers"])
    head = f"{'layer':<{width}}  {'kind':<7} {'neurons':>7}  " + "".join(f"{'T=' + str(t):>8}" for t in ts)
    click.echo(head + f"  {'SynOps T=' + str(tmax):>14}  {'ANN MACs':>10}  {'r':>6}")
    for layer in c["layers"]:
        ops = (f"{layer['current_macs']:,} MACs" if layer["input"] == "current" else f"{layer['synops'][tmax]:,.0f}")
        macs = f"{layer['macs']:,}" if layer["macs"] else "-"
        r = "-" if layer.get("correlation") is None else f"{layer['correlation']:.3f}"
        click.echo(f"{layer['name']:<{width}}  {layer['kind']:<7} {layer['neurons']:>7}  "
                   + "".join(f"{layer['firing_rate'][t]:>8.4f}" for t in ts) + f"  {ops:>14}  {macs:>10}  {r:>6}")
    em = result["energy_model"]
    click.echo("")
    click.echo(f"energy per image (E_MAC {em['e_mac_pj']} pJ, E_AC {em['e_ac_pj']} pJ; core layers, host excluded)")
    click.echo(f"{'T':<5} {'SynOps':>12} {'SNN MACs':>10} {'E_SNN nJ':>10} {'E_ANN nJ':>10} {'E_SNN/E_ANN':>12}")
    for t in ts:
        e = c["energy"][t]
        click.echo(f"{t:<5} {e['synops']:>12,.0f} {e['snn_macs']:>10,} {e['snn_pj'] / 1000:>10.1f} "
                   f"{e['ann_pj'] / 1000:>10.1f} {e['ratio']:>12.3f}")


def _print_sweep(result: dict, ts: list[int], tmax: int) -> None:
    rows = []
    for c in result["configs"]:
        if not c.get("fits", True):
            rows.append([c["label"], "no fit"] + ["-"] * (len(ts) + 2))
            continue
        e = c["energy"][tmax]
        rows.append([c["label"], _pct(c["quantized_ann"])] + [_pct(c["snn"][t]) for t in ts]
                    + [f"{e['synops']:,.0f}", f"{e['ratio']:.3f}"])
    head = ["configuration", "qANN"] + [f"T={t}" for t in ts] + [f"SynOps T={tmax}", "E_SNN/E_ANN"]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt_row = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
    click.echo(fmt_row(head))
    for r in rows:
        click.echo(fmt_row(r))
