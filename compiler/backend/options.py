"""`CompileOptions`: every option that shapes a compilation, defined once.

Each field carries its help text and, where it has them, its choices or range (`OPTION_META`);
`validate()` applies them, so the Python API refuses what the CLI refuses, with the same words.
`to_dict()` is what the artefact's provenance records.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from snnc.compiler.errors import SnncError
from snnc.runtime.packing import MAX_WEIGHT_BITS


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
           minimum: float | None = None, maximum: float | None = None, positive: bool = False) -> Any:
    """A dataclass field with what its CLI option needs (the option is generated from it)."""
    return field(default=default, metadata={"help": help, "choices": choices, "min": minimum, "max": maximum,
                                            "positive": positive})


@dataclass(frozen=True)
class CompileOptions:
    bits: int = field(metadata={"help": "Weight bit width (the spec lists the allowed ones; hw_v1: 1-4).",
                                "choices": None, "min": 1, "max": MAX_WEIGHT_BITS})
    timesteps: int = option(32, "Timesteps T of the golden vectors and the agreement check.", minimum=1)
    norm: str = option("percentile", "Threshold normalization: activation max, a percentile of activations "
                       "(Rueckauer 2017), or Spike-Norm (Sengupta 2019).", choices=("max", "percentile", "spikenorm"))
    percentile: float = option(99.99, "Percentile for --norm percentile.", minimum=50, maximum=100)
    reset: str = option("subtract", "Reset by subtracting the threshold, or to zero.", choices=("subtract", "zero"))
    v_init: str = option("half", "Initial membrane: floor(threshold/2) or 0.", choices=("half", "zero"))
    per_channel: bool = option(False, "One threshold per output channel (where the spec allows).")
    input_encoding: str = option("current", "Integer current every timestep, deterministic rate-coded spikes, Poisson "
                                 "spikes (seeded integer PRNG), population coding (P rate-coded neurons per input), or "
                                 "one time-to-first-spike per input (docs/semantics.md section 5).",
                                 choices=("current", "rate", "poisson", "population", "ttfs"))
    input_seed: int = option(0, "Seed of the Poisson input encoding's PRNG (input.seed).", minimum=0, maximum=2**63 - 1)
    input_population: int = option(4, "Neurons per input element P of the population encoding (input.population).",
                                   minimum=1, maximum=256)
    input_window: int | None = option(None, "Window T_w of the ttfs input encoding's first-spike times (input.window; "
                                      "default: the timesteps T).", minimum=1, maximum=2**31)
    input_scale: float | None = option(None, "Float value of one integer input step (default: from the "
                                       "calibration data range).", positive=True)
    maxpool: str = option("refuse", "MaxPool layers: refuse them (the artefact has no max pooling), or replace each by "
                          "an average pool of the same window (reported; accuracy may drop: retraining with AvgPool "
                          "is better).", choices=("refuse", "avgpool"))
    host_from: str | None = option(None, "Hybrid SNN-ANN: the model layer (node name, as `snnc check` lists it) from "
                                   "which on every layer runs on the host as a float layer, outside the bit-exact "
                                   "contract; the chip's rules apply to the layers before it only.")
    bias_correction: bool = option(False, "Correct each layer's integer bias, layer by layer, by its mean firing-rate "
                                   "error at the target T on calibration inputs (Li et al. 2021).")
    calibration: str = option("auto", "With calibration data, choose each spiking layer's output scale and integer bias for "
                              "the target T (-T) by simulating candidates on the calibration inputs, with one threshold "
                              "per channel where the spec allows "
                              "(docs/compile.md, 'Automatic calibration'); off: the --norm scale as it is (the "
                              "behaviour before issue 13). Without calibration data both are off.",
                              choices=("auto", "off"))
    rounding: str = option("auto", "Weight rounding: nearest (each weight to its nearest integer step), gptq (data-aware: "
                           "each layer's rounding minimises its output error on calibration inputs, with a threshold "
                           "search and bias correction; docs/compile.md), or auto: gptq at 1-2 bits under "
                           "--calibration auto, else nearest.", choices=("auto", "nearest", "gptq"))
    golden_counts: str = option("auto", "Golden spike counts: every layer's in full, or auto: in full when the golden "
                                "vectors take at most 1 MiB, else (a large network) 1-8 golden inputs and the counts "
                                "that fit in 1% of the packed weights in full, the other layers' as SHA-256 digests "
                                "(verify checks every value either way; docs/artefact.md).", choices=("auto", "full"))
    calib_samples: int = option(1000, "Use at most this many calibration inputs.", minimum=1)
    batch_size: int = option(100, "Inputs per batch during calibration.", minimum=1)
    # per-layer weight widths: ((model layer name, bits), ...); every other layer takes `bits`
    layer_bits: tuple[tuple[str, int], ...] = field(default=(), metadata={})

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_bits", normalize_layer_bits(self.layer_bits))
        self.validate()

    def bits_of(self, layer: str) -> int:
        """The weight width of the layer (node) named `layer`."""
        return dict(self.layer_bits).get(layer, self.bits)

    def validate(self) -> None:
        validate_fields(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name, default in (("bias_correction", False), ("maxpool", "refuse"), ("host_from", None),
                              ("calibration", "off"), ("rounding", "auto"), ("input_seed", 0), ("input_population", 4), ("input_window", None)):
            if d[name] == default:  # recorded only when used, so existing artefacts keep their bytes
                del d[name]
        if not self.layer_bits:  # recorded only when used: uniform-width artefacts keep their bytes
            del d["layer_bits"]
        else:
            d["layer_bits"] = {name: b for name, b in self.layer_bits}
        return d


def normalize_layer_bits(value) -> tuple[tuple[str, int], ...]:
    """((name, bits), ...) sorted by name, from a mapping or pairs; each bits an integer 1..8."""
    items = value.items() if isinstance(value, Mapping) else value
    out: dict[str, int] = {}
    for item in items or ():
        try:
            name, b = item
        except (TypeError, ValueError):
            raise SnncError(f"bits-for: expected (layer, bits) pairs, got {item!r}") from None
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= MAX_WEIGHT_BITS:
            raise SnncError(f"bits-for {name}: {b!r} must be an integer in 1..{MAX_WEIGHT_BITS}")
        if name in out and out[name] != b:
            raise SnncError(f"bits-for {name}: given twice ({out[name]} and {b})")
        out[str(name)] = b
    return tuple(sorted(out.items()))


def validate_fields(obj) -> None:
    """Apply each field's choices and range (from `option`) to an options dataclass: the Python
    API refuses what the CLI refuses, with the option's CLI name."""
    for f in fields(obj):
        v, meta = getattr(obj, f.name), f.metadata
        shown = f.name.replace("_", "-")
        if meta.get("choices") and v not in meta["choices"]:
            raise SnncError(f"{shown}: {v!r} is not one of {', '.join(meta['choices'])}")
        if v is None or isinstance(v, (str, tuple)) or not meta:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if str(f.type) != "bool":
                raise SnncError(f"{shown}: expected a number, got {type(v).__name__}")
            continue
        if not math.isfinite(v):
            raise SnncError(f"{shown}: {v} is not a finite number")
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and v < lo or hi is not None and v > hi:
            want = f"in [{lo}, {hi}]" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
            raise SnncError(f"{shown}: {v} must be {want}")
        if meta.get("positive") and not v > 0:
            raise SnncError(f"{shown}: {v} must be a positive number")


OPTION_META = {f.name: f.metadata for f in fields(CompileOptions)}
NOT_FLAGS = ("batch_size",)  # library-only: changes no integer of the artefact


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def compile_flags(opts: CompileOptions, *, always: tuple[str, ...] = ("bits",)) -> list[str]:
    """The `snnc compile` flags that reproduce `opts` (every field that differs from its default,
    and those in `always`), so a printed command cannot drop an option."""
    out: list[str] = []
    for f in fields(opts):
        v = getattr(opts, f.name)
        if f.name in NOT_FLAGS or (f.name not in always and v == f.default):
            continue
        if f.name == "layer_bits":
            for name, b in v:
                out += ["--bits-for", f"{name}={b}"]
        elif isinstance(v, bool):
            out += [flag(f.name)] if v else []
        elif v is not None:
            out += [flag(f.name), repr(v) if isinstance(v, float) else str(v)]
    return out
