"""Options shared by several commands, defined once."""
from __future__ import annotations

import click

hw_option = click.option(
    "--hw", "hw", default="hw_v1", show_default=True, metavar="SPEC",
    help="Hardware spec: a YAML file or the name of a shipped spec (hw_v1).",
)
class BitsType(click.ParamType):
    """An integer weight width, or "auto" (a per-layer plan that fits the spec: backend/fit.py)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not an integer or 'auto'", param, ctx)


bits_option = click.option(
    "--bits", type=BitsType(), required=True, metavar="N|auto",
    help="Weight bit width (the spec lists the allowed ones; hw_v1: 1-4), or auto: per-layer widths that fit the spec.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bars or notes.")


def _backend_option():
    from snnc.runtime.backend import BACKENDS

    return click.option(
        "--backend", type=click.Choice(list(BACKENDS)), default="auto", show_default=True,
        help="Simulator implementation (identical results): numba's compiled kernels when installed (auto), "
             "numpy, or the plain-Python reference of docs/semantics.md (slow; the executable specification).")


backend_option = _backend_option()


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


def load_spec_and_bits(hw: str, bits):
    """The spec, after checking that it allows `bits` (exit 2 otherwise); "auto" is always allowed."""
    from snnc.hwspec import load_spec

    spec = load_spec(hw)
    if bits != "auto":
        spec.check_bits(bits)
    return spec


def resolve_auto_bits(graph, spec, bits, layer_bits, quiet: bool = False):
    """(bits, layer_bits) with "auto" replaced by the fit plan, which is printed (stderr) unless quiet."""
    if bits != "auto":
        return bits, layer_bits
    from snnc.compiler.backend.fit import solve_bits

    if layer_bits:
        raise click.UsageError("--bits auto chooses every layer's width; drop --bits-for")
    plan = solve_bits(graph, spec)
    if not quiet:
        click.echo("--bits auto:\n" + plan.to_text(spec) + "\n", err=True)
    return plan.default, plan.layer_bits


def timesteps_list(ctx, param, value: str) -> list[int]:
    """A click callback: "4,8,16" -> [4, 8, 16] (sorted, distinct, each >= 1)."""
    try:
        ts = sorted({int(t) for t in value.split(",") if t.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not ts or ts[0] < 1:
        raise click.BadParameter("timesteps must be positive integers")
    return ts


def _layer_bits(ctx, param, values: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """A click callback: ("conv3=1", ...) -> (("conv3", 1), ...)."""
    out = []
    for item in values:
        name, sep, b = item.rpartition("=")
        try:
            out.append((name, int(b)))
        except ValueError:
            sep = ""
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: expected LAYER=N (a layer name from `snnc check` and a bit width)")
    return tuple(out)


bits_for_option = click.option(
    "--bits-for", "layer_bits", multiple=True, callback=_layer_bits, metavar="LAYER=N",
    help="This layer's weight bit width instead of --bits (repeatable; LAYER as `snnc check` names it).")


def field_option(cls, name: str, **overrides):
    """A click option generated from a dataclass field: its help, default, choices and range come
    from the field (`backend.options.option` metadata), so a default lives in one place."""
    import dataclasses

    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    meta = f.metadata
    kw = {"default": f.default, "show_default": f.default is not None, "help": meta.get("help")}
    kind = str(f.type).split("|")[0].strip()
    if kind == "bool":
        kw.update(is_flag=True, show_default=False)
    elif meta.get("choices"):
        kw["type"] = click.Choice(list(meta["choices"]))
    elif kind == "int":
        lo, hi = meta.get("min"), meta.get("max")
        kw["type"] = click.IntRange(lo, hi) if lo is not None or hi is not None else int
    elif kind == "float":
        lo, hi = meta.get("min"), meta.get("max")
        kw["type"] = click.FloatRange(lo, hi) if lo is not None or hi is not None else float
        if meta.get("positive"):
            kw["callback"] = positive_scale
    kw.update(overrides)
    return click.option("--" + name.replace("_", "-"), name, **kw)


# CompileOptions fields that are CLI options of compile and eval (bits and timesteps have their own).
COMPILE_FIELDS = ("calib_samples", "norm", "percentile", "reset", "v_init", "per_channel", "input_encoding",
                  "input_seed", "input_population", "input_window", "input_scale", "bias_correction", "maxpool", "host_from",
                  "rounding")


def _compile_options():
    from snnc.compiler.backend.options import CompileOptions

    return [
        click.option("--calib", type=click.Path(dir_okay=False),
                     help="Calibration inputs (.npz with calib_x / x_train / x [, x_scale], or .npy)."),
        click.option("--data-scale", type=float, default=None, callback=positive_scale,
                     help="Multiply stored data by this to get the model's input (default: the file's x_scale, else 1)."),
    ] + [field_option(CompileOptions, name) for name in COMPILE_FIELDS] + [bits_for_option]


def compile_options(func):
    """All options that shape a compilation, shared by `compile` and `eval`, generated from CompileOptions."""
    for opt in reversed(_compile_options()):
        func = opt(func)
    return func


def build_compile_options(bits: int, timesteps: int, kw: dict):
    """CompileOptions from the parsed `compile_options`; pops them from `kw`."""
    from snnc.compiler.backend.options import CompileOptions

    return CompileOptions(bits=bits, timesteps=timesteps, layer_bits=kw.pop("layer_bits", ()),
                          **{name: kw.pop(name) for name in COMPILE_FIELDS})


def load_calib(kw: dict):
    from snnc.compiler.data import load_dataset

    calib, scale = kw.pop("calib"), kw.pop("data_scale")
    return (load_dataset(calib, role="calib", scale=scale) if calib else None), scale
