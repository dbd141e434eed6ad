"""`snnc eval MODEL_OR_ARTEFACT --data DATA --timesteps 4,8,16,32`: accuracy, honestly measured.

For a model (.onnx): compiles it in memory with the same options as `snnc compile`, then reports
the float model's accuracy, the quantized ANN's, and the bit-exact SNN's at every T (plus the
SNN's agreement with the quantized ANN), per-layer firing rates, synaptic operations per image
and an energy estimate against the ANN (docs/eval.md). For an artefact (.snn): the SNN's numbers.
`--sweep KEY=V1,V2` evaluates the product of configurations side by side; `--report DIR` writes
a Markdown report with plots.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.cli.common import EXIT_FAILED, fail, handle_user_errors
from snnc.compiler.cli.options import field_option
from snnc.compiler.cli.options import (
    COMPILE_FIELDS, BitsType, OutputDir, build_compile_options, compile_options, resolve_auto_bits, format_option, hw_option, load_calib, load_spec_and_bits,
    quiet_option, timesteps_list,
)
from snnc.compiler.cli.progress import progress

SWEEP_KEYS = ("bits",) + tuple(k for k in COMPILE_FIELDS if k != "calib_samples")  # from CompileOptions


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


@click.command("eval")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="Labelled test data (.npz with x/y or x_test/y_test [, x_scale]).")
@click.option("--timesteps", "-T", default="4,8,16,32", show_default=True, callback=timesteps_list,
              help="Comma-separated timesteps to simulate.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Score only the first N samples.")
@hw_option
@click.option("--bits", type=BitsType(), default=None, metavar="N|auto",
              help="Weight bits (required for a model), or auto: per-layer widths that fit the spec.")
@compile_options
@field_option(CompileOptions, "calibration")
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
@click.option("--device", default="auto", show_default=True, callback=lambda c, p, v: _device(v), metavar="auto|cpu|cuda|cuda:N",
              help="Where the SNN is simulated: auto (a CUDA GPU through torch when present, else the CPU), "
                   "cpu (numba, else numpy), cuda or cuda:N (torch on that GPU). Identical numbers on every device.")
@click.option("--ray", default=None, is_flag=False, flag_value="auto", metavar="[ADDRESS]",
              help="Distribute configurations and data shards over Ray (optional package): auto (the cluster "
                   "`ray start --head` started, or RAY_ADDRESS; the default value), local (a new single-machine "
                   "instance), or HOST:PORT. Identical numbers to the default single-process run (docs/scale.md).")
@format_option
@quiet_option
@handle_user_errors
def eval_cmd(target, data, timesteps, limit, hw, bits, sweep, e_mac, e_ac, float_model, report_dir, device, ray, fmt,
             quiet, **kw):
    """Accuracy, firing rates, SynOps and energy of MODEL (float, quantized, SNN) or ARTEFACT (SNN)."""
    from snnc import runtime
    from snnc.compiler.backend.build import file_sha256, prepare
    from snnc.compiler.data import load_dataset
    from snnc.compiler.eval_run import device_backend, eval_artefact, eval_model

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
    common = dict(data=data, limit=limit, e_mac=e_mac, e_ac=e_ac, report=bool(report_dir), progress=wrap,
                  command=command_line(), backend=device_backend(device), ray=ray)
    test = load_dataset(data, role="eval", scale=kw.get("data_scale"))
    if is_artefact:
        run = eval_artefact(runtime.load(target), test, timesteps, name=target,
                            float_graph=prepare(float_model) if float_model else None, **common)
    else:
        for b in {b for k, vals in sweep if k == "bits" for b in vals} | ({bits} if bits is not None else set()):
            load_spec_and_bits(hw, b)  # every bit width is allowed, before any work
        calib, _ = load_calib(kw)
        graph = prepare(target)
        if bits == "auto":
            if "bits" in dict(sweep):
                fail("--bits auto chooses the widths; do not sweep bits as well")
            bits, kw["layer_bits"] = resolve_auto_bits(graph, load_spec_and_bits(hw, bits), bits,
                                                       kw.get("layer_bits", ()), quiet=quiet)
        calibration = kw.pop("calibration")
        opts = build_compile_options(bits or 1, max(timesteps), kw).to_dict()
        options = {k: v for k, v in opts.items() if k not in ("bits", "timesteps", "batch_size")}
        options["calibration"] = calibration  # to_dict leaves out "off"
        run = eval_model(graph, hw, bits, options, calib, test, timesteps, sweep=sweep, name=target,
                         source_sha256=file_sha256(target), warn=None if quiet else warn, **common)
        if not sweep and not run.fits:
            click.echo(run.configs[0]["check"])
            fail(f"{target} does not fit {hw} at --bits {bits}", code=EXIT_FAILED)
    result = run.result
    path = None
    if report_dir:
        from snnc.compiler.report import write_report

        path = write_report(report_dir, result, run.extras)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        _print_text(result, run.configs, bits)
    if path is not None and not quiet:
        click.echo(f"wrote {path}", err=True)
    if not run.fits:
        sys.exit(EXIT_FAILED)


def _device(value: str) -> str:
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise click.BadParameter(f"{value!r}: expected auto, cpu, cuda or cuda:N")


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


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
    if c.get("quantized_ann_by_timesteps"):
        click.echo("quantized ANN    " + "  ".join(f"T={t}: {_pct(v)}" for t, v in c["quantized_ann_by_timesteps"].items())
                   + f"  ({bits}-bit weights, activations clipped at the calibration scale; automatic calibration: "
                     "one artefact compiled for each T)")
    elif c["quantized_ann"] is not None:
        click.echo(f"quantized ANN    {_pct(c['quantized_ann'])}  ({bits}-bit weights, activations clipped at the calibration scale)")
    for t in ts:
        line = f"SNN T={t:<4}       {_pct(c['snn'][t])}"
        if c["agreement_snn_vs_quantized_ann"]:
            line += f"  (agrees with the quantized ANN on {_pct(c['agreement_snn_vs_quantized_ann'][t])})"
        click.echo(line)
    if c.get("diagnosis"):
        click.echo(f"diagnosis: {c['diagnosis']['text']}")
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
                   + "".join(f"{layer['firing_rate'][t]:>8.4f}" if t in layer["firing_rate"] else f"{'-':>8}"
                             for t in ts) + f"  {ops:>14}  {macs:>10}  {r:>6}")  # '-': a synaptic conv (no neurons)
    em = result["energy_model"]
    click.echo("")
    click.echo(f"energy per image (E_MAC {em['e_mac_pj']} pJ, E_AC {em['e_ac_pj']} pJ; core layers, host excluded)")
    click.echo(f"{'T':<5} {'SynOps':>12} {'SNN MACs':>10} {'E_SNN nJ':>10} {'E_ANN nJ':>10} {'E_SNN/E_ANN':>12}")
    for t in ts:
        e = c["energy"][t]
        click.echo(f"{t:<5} {e['synops']:>12,.0f} {e['snn_macs']:>10,} {e['snn_pj'] / 1000:>10.1f} "
                   f"{e['ann_pj'] / 1000:>10.1f} {e['ratio']:>12.3f}")
    if c.get("host_macs") is not None:
        click.echo(f"host: {c['host_macs']:,} MACs per image (float layers on the host, not in the energy estimate)")


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
