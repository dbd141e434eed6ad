"""Semantic validation of an `Artefact`: every rule that makes the integer semantics well defined.

Runs on construction (so `load`, `make_golden` and the compiler all go through it). Errors are
`ArtefactError`s naming the layer and the field.
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Callable

import numpy as np

from snnc.runtime.errors import ArtefactError
from snnc.runtime.packing import ENCODINGS, MAX_WEIGHT_BITS, check_values

if TYPE_CHECKING:
    from snnc.runtime.model import Artefact, InputSpec, Neuron, Target

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_BITS = 62  # every width must leave int64 headroom for exact V + I + bias
MAX_TIMESTEPS = 4096  # T of golden vectors (docs/artefact.md, "Limits")
MAX_DIM = 1 << 24  # any one size of a shape
LAYOUTS = ("NCHW", "NHWC")  # input.layout: the order of the arrays the artefact takes
MAX_ELEMENTS = 1 << 31  # values in any one shape (input, a layer's output, a weight)


def _require(cond: bool, where: str, field: str, message: str) -> None:
    if not cond:
        raise ArtefactError(f"{where}: {field}: {message}")


def _check_enum(value: str, allowed: tuple[str, ...], where: str, field: str) -> None:
    _require(value in allowed, where, field, f"{value!r} is not one of {', '.join(allowed)}")


def _check_width(value: int, where: str, field: str, lo: int = 1) -> None:
    _require(isinstance(value, int) and lo <= value <= MAX_BITS, where, field, f"{value!r} is not in [{lo}, {MAX_BITS}]")


def _check_shape(shape: tuple[int, ...], where: str, field: str) -> None:
    _require(all(1 <= d <= MAX_DIM for d in shape) and math.prod(shape) <= MAX_ELEMENTS, where, field,
             f"{list(shape)}: every size must be in [1, {MAX_DIM}] and the product at most {MAX_ELEMENTS}")


def validate_target(t: "Target") -> None:
    _check_width(t.membrane_bits, "target", "membrane_bits", lo=2)
    _check_width(t.threshold_bits, "target", "threshold_bits")
    _check_width(t.bias_bits, "target", "bias_bits")
    _check_width(t.input_bits, "target", "input_bits")
    _check_enum(t.overflow, ("saturate", "wrap"), "target", "overflow")
    _check_enum(t.fire, ("ge", "gt"), "target", "fire")
    _check_enum(t.weight_encoding, ENCODINGS, "target", "weight_encoding")


def validate_input(spec: "InputSpec", target: "Target") -> None:
    w = "input"
    _require(len(spec.shape) in (1, 3) and all(d >= 1 for d in spec.shape), w, "shape",
             f"{list(spec.shape)} must be (C, H, W) or (F,) with positive sizes")
    _check_shape(spec.shape, w, "shape")
    _check_enum(spec.encoding, ("current", "rate"), w, "encoding")
    _check_enum(spec.rate_init, ("zero", "half"), w, "rate_init")
    _check_enum(spec.layout, LAYOUTS, w, "layout")
    _require(spec.layout == "NCHW" or len(spec.shape) == 3, w, "layout",
             f"{spec.layout!r} needs a (C, H, W) input, got shape {list(spec.shape)}")
    _require(math.isfinite(spec.scale) and spec.scale > 0, w, "scale", f"{spec.scale} must be finite and > 0")
    ib = target.input_bits
    lo_min = -(1 << (ib - 1)) if spec.lo < 0 else 0
    hi_max = (1 << (ib - 1)) - 1 if spec.lo < 0 else (1 << ib) - 1
    _require(lo_min <= spec.lo <= spec.hi <= hi_max, w, "lo/hi",
             f"[{spec.lo}, {spec.hi}] must be a non-empty range inside the {ib}-bit "
             f"{'signed' if spec.lo < 0 else 'unsigned'} range [{lo_min}, {hi_max}]")
    if spec.encoding == "rate":
        _require(spec.lo == 0 and spec.hi >= 1, w, "lo/hi", f"rate coding needs lo = 0 and hi >= 1, got [{spec.lo}, {spec.hi}]")


def validate_neuron(n: "Neuron", channels: int, target: "Target", where: str) -> None:
    tmax = (1 << target.threshold_bits) - 1
    _require(len(n.threshold) in (1, channels), where, "threshold",
             f"has {len(n.threshold)} values, expected 1 or {channels} (one per output channel)")
    for th in n.threshold:
        _require(1 <= th <= tmax, where, "threshold", f"{th} is outside [1, {tmax}] ({target.threshold_bits}-bit unsigned)")
    _require(len(n.bias) == channels, where, "bias", f"has {len(n.bias)} values, expected {channels} (one per output channel)")
    bmax = (1 << (target.bias_bits - 1)) - 1
    for b in n.bias:
        _require(-bmax - 1 <= b <= bmax, where, "bias", f"{b} is outside [{-bmax - 1}, {bmax}] ({target.bias_bits}-bit signed)")
    _check_enum(n.reset, ("zero", "subtract"), where, "reset")
    _check_enum(n.v_init, ("zero", "half"), where, "v_init")
    if n.v_init == "half":
        vmax = (1 << (target.membrane_bits - 1)) - 1
        _require(max(n.threshold) // 2 <= vmax, where, "v_init",
                 f"floor(threshold/2) = {max(n.threshold) // 2} does not fit the {target.membrane_bits}-bit membrane")


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + pad - k) // stride + 1


def _shape_conv(layer, shapes: list[tuple[int, ...]], a: "Artefact", where: str) -> tuple[int, ...]:
    (s,) = shapes
    _require(len(s) == 3, where, "inputs", f"conv needs a (C, H, W) input, got {list(s)}")
    _require(len(layer.stride) == 2 and min(layer.stride) >= 1, where, "stride", f"{list(layer.stride)} must be 2 positive ints")
    _require(len(layer.padding) == 4 and min(layer.padding) >= 0, where, "padding",
             f"{list(layer.padding)} must be [top, left, bottom, right] >= 0")
    _require(isinstance(layer.groups, int) and layer.groups >= 1, where, "groups", f"{layer.groups!r} must be >= 1")
    w = layer.weight
    _require(w.ndim == 4, where, "weight", f"shape {list(w.shape)} must be (O, C/groups, kh, kw)")
    o, ci, kh, kw = w.shape
    g = layer.groups
    _require(s[0] % g == 0 and o % g == 0, where, "groups", f"{g} must divide input channels {s[0]} and output channels {o}")
    _require(ci * g == s[0], where, "weight", f"shape {list(w.shape)}: C/groups = {ci} but the input has {s[0]} channels / {g} groups")
    top, left, bottom, right = layer.padding
    ho = _conv_out(s[1], kh, layer.stride[0], top + bottom)
    wo = _conv_out(s[2], kw, layer.stride[1], left + right)
    _require(ho >= 1 and wo >= 1, where, "weight", f"kernel {kh}x{kw} does not fit the padded input {list(s)}")
    return (o, ho, wo)


def _shape_linear(layer, shapes, a, where):
    (s,) = shapes
    _require(len(s) == 1, where, "inputs", f"linear needs a flat (F,) input (use a flatten layer), got {list(s)}")
    w = layer.weight
    _require(w.ndim == 2 and w.shape[1] == s[0], where, "weight", f"shape {list(w.shape)} must be (O, {s[0]})")
    return (w.shape[0],)


def _shape_avgpool(layer, shapes, a, where):
    (s,) = shapes
    _require(len(s) == 3, where, "inputs", f"avgpool needs a (C, H, W) input, got {list(s)}")
    _require(len(layer.kernel) == 2 and min(layer.kernel) >= 1, where, "kernel", f"{list(layer.kernel)} must be 2 positive ints")
    _require(len(layer.stride) == 2 and min(layer.stride) >= 1, where, "stride", f"{list(layer.stride)} must be 2 positive ints")
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    _require(kh <= s[1] and kw <= s[2], where, "kernel", f"{[kh, kw]} is larger than the input {list(s)}")
    return (s[0], _conv_out(s[1], kh, sh, 0), _conv_out(s[2], kw, sw, 0))


def _shape_add(layer, shapes, a, where):
    _require(len(shapes) >= 2, where, "inputs", "add needs two or more inputs")
    _require(all(s == shapes[0] for s in shapes), where, "inputs", f"shapes differ: {[list(s) for s in shapes]}")
    _require(len(layer.multipliers) == len(shapes), where, "multipliers",
             f"has {len(layer.multipliers)} values for {len(shapes)} inputs")
    channels = shapes[0][0]
    for k, m in enumerate(layer.multipliers):
        values = m if isinstance(m, tuple) else (m,)
        _require(not isinstance(m, tuple) or len(m) == channels, where, f"multipliers[{k}]",
                 f"has {len(values)} values, expected one integer or {channels} (one per output channel)")
        _require(all(abs(v) < (1 << 31) for v in values), where, f"multipliers[{k}]", "must fit in 32 bits")
    return shapes[0]


def _shape_concat(layer, shapes, a, where):
    _require(all(len(s) == len(shapes[0]) and s[1:] == shapes[0][1:] for s in shapes), where, "inputs",
             f"shapes must agree except on the channel axis: {[list(s) for s in shapes]}")
    return (sum(s[0] for s in shapes),) + shapes[0][1:]


def _shape_flatten(layer, shapes, a, where):
    (s,) = shapes
    return (math.prod(s),)


def _shape_host(layer, shapes, a, where):
    (s,) = shapes
    _require(len(s) == 1, where, "inputs", f"host_linear needs a flat (F,) input, got {list(s)}")
    w, b = layer.weight, layer.bias
    _require(w.ndim == 2 and w.shape[1] == s[0], where, "weight", f"shape {list(w.shape)} must be (classes, {s[0]})")
    _require(b.shape == (w.shape[0],), where, "bias", f"shape {list(b.shape)} must be ({w.shape[0]},)")
    _require(bool(np.isfinite(w).all() and np.isfinite(b).all()), where, "weight/bias", "must be finite")
    _require(math.isfinite(layer.input_scale), where, "input_scale", "must be finite")
    return (w.shape[0],)


SHAPE_RULES: dict[str, Callable] = {
    "conv": _shape_conv, "linear": _shape_linear, "avgpool": _shape_avgpool, "add": _shape_add,
    "concat": _shape_concat, "flatten": _shape_flatten, "host_linear": _shape_host,
}
N_INPUTS = {"conv": 1, "linear": 1, "avgpool": 1, "flatten": 1, "host_linear": 1}


def carries_spikes(a: "Artefact") -> dict[str, bool]:
    """For every name ('input' and each layer): does it carry 0/1 spikes (else an integer current)?"""
    out = {"input": a.input.encoding == "rate"}
    for layer in a.layers:
        out[layer.name] = layer.has_neurons or (layer.kind != "conv" and all(out[i] for i in layer.inputs))
    return out


def validate_layers(a: "Artefact") -> None:
    _require(len(a.layers) >= 1, "layers", "layers", "an artefact needs at least one layer")
    shapes: dict[str, tuple[int, ...]] = {"input": a.input.shape}
    spikes = {"input": a.input.encoding == "rate"}
    synaptic: dict[str, bool] = {}  # synaptic conv (no neuron) -> read by an add yet
    for idx, layer in enumerate(a.layers):
        where = f"layer {layer.name!r}"
        _require(isinstance(layer.name, str) and bool(NAME_RE.match(layer.name)) and layer.name != "input",
                 f"layer #{idx}", "name", f"{layer.name!r} must match {NAME_RE.pattern} and not be 'input'")
        _require(layer.name not in shapes, where, "name", "is used twice")
        _require(layer.kind in SHAPE_RULES, where, "kind", f"unknown kind {layer.kind!r}")
        n = N_INPUTS.get(layer.kind)
        _require(len(layer.inputs) >= 1 and (n is None or len(layer.inputs) == n), where, "inputs",
                 f"{list(layer.inputs)}: {layer.kind} takes {n if n else 'one or more'} input(s)")
        for name in layer.inputs:
            _require(name in shapes, where, "inputs", f"{name!r} is not 'input' or an earlier layer")
            if name in synaptic:
                _require(layer.kind == "add", where, "inputs",
                         f"{name!r} is a synaptic conv (no neuron): only an add layer may read its current")
                synaptic[name] = True
        if layer.placement == "host":
            _require(idx == len(a.layers) - 1, where, "placement", "a host layer must be the last layer")
            _require(layer.inputs[0] != "input" and spikes[layer.inputs[0]], where, "inputs",
                     "the host layer's input must be a core layer that emits spikes")
        if layer.kind == "concat":
            _require(all(spikes[i] for i in layer.inputs), where, "inputs", "concat inputs must carry spikes, not input current")
        if hasattr(layer, "weight"):
            _check_shape(layer.weight.shape, where, "weight")
        shape = SHAPE_RULES[layer.kind](layer, [shapes[i] for i in layer.inputs], a, where)
        _check_shape(tuple(shape), where, "output_shape")
        _require(tuple(shape) == layer.output_shape, where, "output_shape",
                 f"{list(layer.output_shape)} does not match the computed shape {list(shape)}")
        if hasattr(layer, "bits"):
            _require(isinstance(layer.bits, int) and 1 <= layer.bits <= MAX_WEIGHT_BITS, where, "bits",
                     f"{layer.bits!r} is not in [1, {MAX_WEIGHT_BITS}]")
            check_values(layer.weight, layer.bits, a.target.weight_encoding, f"{where}: weight")
        if layer.has_neurons:
            validate_neuron(layer.neuron, layer.output_shape[0], a.target, where)
        shapes[layer.name] = layer.output_shape
        spikes[layer.name] = layer.has_neurons or (layer.kind != "conv" and all(spikes[i] for i in layer.inputs))
        if layer.kind == "conv" and not layer.has_neurons:
            synaptic[layer.name] = False
    for name, read in synaptic.items():
        _require(read, f"layer {name!r}", "neuron", "a synaptic conv (no neuron) must be read by an add layer")
    out = a.output_layer
    _require(spikes[out], f"layer {out!r}", "output", "the output layer must emit spikes (end with a spiking layer)")


def validate_golden(a: "Artefact") -> None:
    g = a.golden
    if g is None:
        return
    _require(isinstance(g.timesteps, int) and 1 <= g.timesteps <= MAX_TIMESTEPS, "golden", "timesteps",
             f"{g.timesteps!r} must be in [1, {MAX_TIMESTEPS}]")
    x = g.inputs
    _require(x.dtype.kind in "iuf", "golden", "inputs", f"dtype {x.dtype} is not numeric")
    ext = a.input.external_shape  # golden inputs are stored in the layout the artefact takes
    _require(x.ndim == len(ext) + 1 and x.shape[1:] == ext, "golden", "inputs",
             f"shape {list(x.shape)} must be (B, {', '.join(map(str, ext))})"
             + (f" (input.layout {a.input.layout})" if a.input.layout != "NCHW" else ""))
    batch = x.shape[0]
    _require(batch >= 1, "golden", "inputs", "has no samples (B = 0)")
    spiking = carries_spikes(a)
    expected = {layer.name for layer in a.core_layers if spiking[layer.name]}
    _require(set(g.counts) == expected, "golden", "counts", f"has layers {sorted(g.counts)}, expected {sorted(expected)}")
    for name, arr in g.counts.items():
        shape = (batch,) + a.layer(name).output_shape
        _require(arr.shape == shape, "golden", f"counts[{name!r}]", f"shape {list(arr.shape)} must be {list(shape)}")
    if a.host is not None:
        _require(g.predictions is not None and g.predictions.shape == (batch,), "golden", "predictions",
                 f"must be a ({batch},) array when the artefact has a host layer")
    else:
        _require(g.predictions is None, "golden", "predictions", "given but the artefact has no host layer")
    for name, arr in (g.spikes or {}).items():
        _require(name in expected, "golden", f"spikes[{name!r}]", "is not a spike-carrying layer")
        shape = (batch, g.timesteps) + a.layer(name).output_shape
        _require(arr.shape == shape, "golden", f"spikes[{name!r}]", f"shape {list(arr.shape)} must be {list(shape)}")


def validate_artefact(a: "Artefact") -> None:
    validate_target(a.target)
    validate_input(a.input, a.target)
    validate_layers(a)
    validate_golden(a)
