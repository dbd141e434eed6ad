"""Options shared by several commands, defined once."""
from __future__ import annotations

import click

hw_option = click.option(
    "--hw", "hw", default="hw_v1", show_default=True, metavar="SPEC",
    help="Hardware spec: a YAML file or the name of a shipped spec (hw_v1).",
)
bits_option = click.option(
    "--bits", type=int, required=True, metavar="N",
    help="Weight bit width (the spec lists the allowed ones; hw_v1: 1-4).",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bars or notes.")
backend_option = click.option(
    "--backend", type=click.Choice(["auto", "numpy", "numba"]), default="auto", show_default=True,
    help="Simulator implementation (identical results): numba's compiled kernels when installed (auto), or numpy.")


class OutputFile(click.Path):
    """A file the command will write: refused at parse time, before any work, when its directory
    is missing or not writable or when it names a directory (`-o missing/dir/model.snn`)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value, param, ctx):
        from snnc.compiler.atomic import check_writable
        from snnc.compiler.errors import SnncError

        value = super().convert(value, param, ctx)
        try:
            check_writable(value, "file")
        except SnncError as exc:
            self.fail(str(exc).removeprefix("file "), param, ctx)
        return value


class OutputDir(click.Path):
    """A directory the command will write into (created if missing): its parent must exist."""

    def __init__(self) -> None:
        super().__init__(file_okay=False)

    def convert(self, value, param, ctx):
        import os
        from pathlib import Path

        value = super().convert(value, param, ctx)
        p = Path(value)
        parent = p.parent if str(p.parent) else Path(".")
        if p.exists() and not p.is_dir():
            self.fail(f"{p}: exists and is not a directory", param, ctx)
        if not p.exists() and not parent.is_dir():
            self.fail(f"{p}: the directory {parent} does not exist", param, ctx)
        if not os.access(p if p.exists() else parent, os.W_OK | os.X_OK):
            self.fail(f"{p}: not writable", param, ctx)
        return value


def positive_scale(ctx, param, value):
    """A click callback: None, or a positive finite float (a data scale)."""
    import math

    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise click.BadParameter(f"{value} must be a positive, finite number")
    return value


def load_spec_and_bits(hw: str, bits: int):
    """The spec, after checking that it allows `bits` (exit 2 otherwise)."""
    from snnc.compiler.cli.common import fail
    from snnc.hwspec import load_spec

    spec = load_spec(hw)
    if bits not in spec.weight_bits:
        fail(f"--bits {bits}: the spec {spec.name} allows {', '.join(map(str, spec.weight_bits))}")
    return spec


def timesteps_list(ctx, param, value: str) -> list[int]:
    """A click callback: "4,8,16" -> [4, 8, 16] (sorted, distinct, each >= 1)."""
    try:
        ts = sorted({int(t) for t in value.split(",") if t.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not ts or ts[0] < 1:
        raise click.BadParameter("timesteps must be positive integers")
    return ts


_COMPILE_OPTIONS = [
    click.option("--calib", type=click.Path(dir_okay=False),
                 help="Calibration inputs (.npz with calib_x / x_train / x [, x_scale], or .npy)."),
    click.option("--data-scale", type=float, default=None, callback=positive_scale,
                 help="Multiply stored data by this to get the model's input (default: the file's x_scale, else 1)."),
    click.option("--calib-samples", type=click.IntRange(1), default=1000, show_default=True,
                 help="Use at most this many calibration inputs."),
    click.option("--norm", type=click.Choice(["max", "percentile", "spikenorm"]), default="percentile", show_default=True,
                 help="Threshold normalization: activation max, a percentile of activations (Rueckauer 2017), "
                      "or Spike-Norm (Sengupta 2019)."),
    click.option("--percentile", type=click.FloatRange(50, 100), default=99.99, show_default=True,
                 help="Percentile for --norm percentile."),
    click.option("--reset", type=click.Choice(["subtract", "zero"]), default="subtract", show_default=True,
                 help="Reset by subtracting the threshold, or to zero."),
    click.option("--v-init", type=click.Choice(["half", "zero"]), default="half", show_default=True,
                 help="Initial membrane: floor(threshold/2) or 0."),
    click.option("--per-channel", is_flag=True, help="One threshold per output channel (where the spec allows)."),
    click.option("--input-encoding", type=click.Choice(["current", "rate"]), default="current", show_default=True,
                 help="Integer current every timestep, or deterministic rate-coded spikes."),
    click.option("--input-scale", type=float, default=None,
                 help="Float value of one integer input step (default: from the calibration data range)."),
]


def compile_options(func):
    """All options that shape a compilation, shared by `compile` and `eval`."""
    for opt in reversed(_COMPILE_OPTIONS):
        func = opt(func)
    return func


def build_compile_options(bits: int, timesteps: int, kw: dict):
    """CompileOptions from the parsed `compile_options`; pops them from `kw`."""
    from snnc.compiler.backend.options import CompileOptions

    return CompileOptions(
        bits=bits, timesteps=timesteps, norm=kw.pop("norm"), percentile=kw.pop("percentile"), reset=kw.pop("reset"),
        v_init=kw.pop("v_init"), per_channel=kw.pop("per_channel"), input_encoding=kw.pop("input_encoding"),
        input_scale=kw.pop("input_scale"), calib_samples=kw.pop("calib_samples"),
    )


def load_calib(kw: dict):
    from snnc.compiler.data import load_dataset

    calib, scale = kw.pop("calib"), kw.pop("data_scale")
    return (load_dataset(calib, role="calib", scale=scale) if calib else None), scale
