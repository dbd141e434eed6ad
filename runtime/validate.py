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
DIGEST_RE = re.compile(r"[0-9a-f]{64}")  # golden.digests: a SHA-256 in lowercase hex
MAX_POPULATION = 256  # input.population P
MAX_WINDOW = 1 << 31  # input.window T_w
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
    _check_enum(spec.encoding, ("current", "rate", "poisson", "population", "ttfs"), w, "encoding")
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
    if spec.spiking:
        _require(spec.lo == 0 and spec.hi >= 1, w, "lo/hi",
                 f"{spec.encoding} coding needs lo = 0 and hi >= 1, got [{spec.lo}, {spec.hi}]")
    _require(_is_int(spec.seed) and 0 <= spec.seed <= (1 << 63) - 1, w, "seed", f"{spec.seed!r} must be an integer in [0, 2^63 - 1]")
    _require(spec.seed == 0 or spec.encoding == "poisson", w, "seed", f"is for encoding \"poisson\" only, got {spec.seed}")
    _require(_is_int(spec.population) and 1 <= spec.population <= MAX_POPULATION, w, "population",
             f"{spec.population!r} must be an integer in [1, {MAX_POPULATION}]")
    _require(spec.population == 1 or spec.encoding == "population", w, "population",
             f"is for encoding \"population\" only, got {spec.population}")
    if spec.encoding == "population":
        _require(spec.population * spec.hi <= 1 << 62, w, "population", f"P * hi = {spec.population * spec.hi} must be <= 2^62")
        _check_shape(spec.encoded_shape, w, "population")
    _require(_is_int(spec.window) and 1 <= spec.window <= MAX_WINDOW, w, "window",
             f"{spec.window!r} must be an integer in [1, {MAX_WINDOW}]")
    _require(spec.window == 1 or spec.encoding == "ttfs", w, "window", f"is for encoding \"ttfs\" only, got {spec.window}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


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
    dil = tuple(layer.input_dilation)
    _require(len(dil) == 2 and min(dil) >= 1, where, "input_dilation", f"{list(dil)} must be 2 ints >= 1")
    top, left, bottom, right = layer.padding
    hd, wd = (s[1] - 1) * dil[0] + 1, (s[2] - 1) * dil[1] + 1  # the dilated input (semantics section 6)
    ho = _conv_out(hd, kh, layer.stride[0], top + bottom)
    wo = _conv_out(wd, kw, layer.stride[1], left + right)
    shown = list(s) if dil == (1, 1) else f"{list(s)} (dilated by {list(dil)}: {[s[0], hd, wd]})"
    _require(ho >= 1 and wo >= 1, where, "weight", f"kernel {kh}x{kw} does not fit the padded input {shown}")
    return (o, ho, wo)


def _shape_linear(layer, shapes, a, where):
    (s,) = shapes
    _require(len(s) == 1, where, "inputs", f"linear needs a flat (F,) input (use a flatten layer), got {list(s)}")
    w = layer.weight
    _require(w.ndim == 2 and w.shape[1] == s[0], where, "weight", f"shape {list(w.shape)} must be (O, {s[0]})")
    return (w.shape[0],)


def _shape_avgpool(layer, shapes, a, where):
    (s,) = shapes
    _require(len(s) == 3, where, "inputs", f"{layer.kind} needs a (C, H, W) input, got {list(s)}")
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


def _window_out(size: int, span: int, stride: int, before: int, after: int, ceil: bool = False) -> int:
    """Output size of a window op over one padded axis (ceil_mode: the last window must start
    inside the input or its leading padding, as ONNX and torch define it)."""
    full = size + before + after - span
    if not ceil:
        return full // stride + 1
    out = -(-full // stride) + 1
    return out - 1 if (out - 1) * stride >= size + before else out


def _shape_host_op(layer, shapes, a, where):
    """The output shape of a host op (docs/semantics.md section 7), checking its attributes and params."""
    from snnc.runtime.host_ops import HOST_OPS

    op, at, prm = layer.op, layer.attrs, layer.params
    _require(op in HOST_OPS, where, "op", f"{op!r} is not one of {', '.join(HOST_OPS)}")
    _, names, allowed = HOST_OPS[op]
    _require(set(at) == set(names), where, "attrs", f"has {sorted(at)}, expected exactly {sorted(names)}")
    _require(set(prm) <= set(allowed), where, "params", f"has {sorted(prm)}, allowed: {sorted(allowed)}")
    for k, v in prm.items():
        _require(bool(np.isfinite(v).all()), where, f"params.{k}", "must be finite")
    for k in at:
        _require(not isinstance(at[k], list) or len(at[k]) == (4 if k == "padding" else 2), where, f"attrs.{k}",
                 f"{at[k]} has the wrong length")
    n_in = 2 if op == "add" and "const" not in prm else None if op == "concat" else 1
    _require(n_in is None or len(shapes) == n_in, where, "inputs", f"{op} takes {n_in} input(s), got {len(shapes)}")
    x = shapes[0]
    if op in ("relu", "clip", "identity", "dropout"):
        return x
    if op == "softmax":
        _require(len(x) == 1 and at["axis"] in (1, -1), where, "attrs.axis", "softmax of a flat (F,) input over its features")
        return x
    if op == "add":
        if "const" in prm:
            try:
                _require(np.broadcast_shapes((1,) + x, prm["const"].shape) == (1,) + x, where, "params.const",
                         f"shape {list(prm['const'].shape)} does not broadcast to the input {list(x)}")
            except ValueError:
                _require(False, where, "params.const", f"shape {list(prm['const'].shape)} does not broadcast to {list(x)}")
            return x
        _require(shapes[0] == shapes[1], where, "inputs", f"shapes differ: {[list(s) for s in shapes]}")
        return x
    if op == "concat":
        _require(at["axis"] == 1, where, "attrs.axis", "host concat joins channels (axis 1)")
        _require(all(len(s) == len(x) and s[1:] == x[1:] for s in shapes), where, "inputs",
                 f"shapes must agree except on the channel axis: {[list(s) for s in shapes]}")
        return (sum(s[0] for s in shapes),) + x[1:]
    if op == "flatten":
        _require(at["axis"] == 1, where, "attrs.axis", "host flatten keeps the batch axis (axis 1)")
        return (math.prod(x),)
    if op == "linear":
        w = prm.get("weight")
        _require(w is not None and w.ndim == 2 and len(x) == 1 and w.shape[1] == x[0], where, "params.weight",
                 f"must be (O, {x[0] if len(x) == 1 else 'F'}) for the input {list(x)}")
        _require("bias" not in prm or prm["bias"].shape == (w.shape[0],), where, "params.bias", f"must be ({w.shape[0]},)")
        return (w.shape[0],)
    _require(len(x) == 3, where, "inputs", f"{op} needs a (C, H, W) input, got {list(x)}")
    c, h, wd = x
    if op == "globalavgpool":
        return (c, 1, 1)
    top, left, bottom, right = at["padding"]
    sh, sw = at["stride"]
    _require(min(top, left, bottom, right) >= 0 and min(sh, sw) >= 1, where, "attrs", "padding >= 0 and stride >= 1")
    if op == "conv":
        w, g = prm.get("weight"), at["groups"]
        dh, dw = at["dilation"]
        _require(w is not None and w.ndim == 4 and g >= 1 and c % g == 0 and w.shape[0] % g == 0
                 and w.shape[1] * g == c and min(dh, dw) >= 1, where, "params.weight",
                 f"must be (O, {c}/groups, kh, kw) with groups dividing O")
        _require("bias" not in prm or prm["bias"].shape == (w.shape[0],), where, "params.bias", f"must be ({w.shape[0]},)")
        spans, out_c = ((w.shape[2] - 1) * dh + 1, (w.shape[3] - 1) * dw + 1), w.shape[0]
        ho, wo = _window_out(h, spans[0], sh, top, bottom), _window_out(wd, spans[1], sw, left, right)
    else:
        kh, kw = at["kernel"]
        dh, dw = at.get("dilation", [1, 1])
        ceil = bool(at.get("ceil_mode", False))
        _require(min(kh, kw, dh, dw) >= 1, where, "attrs.kernel", "kernel and dilation must be >= 1")
        spans, out_c = ((kh - 1) * dh + 1, (kw - 1) * dw + 1), c
        ho, wo = _window_out(h, spans[0], sh, top, bottom, ceil), _window_out(wd, spans[1], sw, left, right, ceil)
    _require(ho >= 1 and wo >= 1, where, "attrs", f"the window does not fit the padded input {list(x)}")
    return (out_c, ho, wo)


SHAPE_RULES: dict[str, Callable] = {
    "conv": _shape_conv, "linear": _shape_linear, "avgpool": _shape_avgpool, "maxpool": _shape_avgpool, "add": _shape_add,
    "concat": _shape_concat, "flatten": _shape_flatten, "host_linear": _shape_host, "host_op": _shape_host_op,
}
N_INPUTS = {"conv": 1, "linear": 1, "avgpool": 1, "maxpool": 1, "flatten": 1, "host_linear": 1}


def carries_spikes(a: "Artefact") -> dict[str, bool]:
    """For every name ('input' and each layer): does it carry 0/1 spikes (else an integer current)?"""
    out = {"input": a.input.spiking}
    for layer in a.layers:
        out[layer.name] = layer.has_neurons or (layer.kind != "conv" and all(out[i] for i in layer.inputs))
    return out


def _check_host_inputs(layer, a: "Artefact", spikes: dict[str, bool], where: str) -> None:
    """A host op reads host layers (input_scales null) or spike-carrying core layers (their counts
    times input_scales[k] / T, a finite number)."""
    _require(len(layer.input_scales) == len(layer.inputs), where, "input_scales",
             f"has {len(layer.input_scales)} values for {len(layer.inputs)} inputs")
    host = {x.name for x in a.layers if x.placement == "host"}
    for k, (name, scale) in enumerate(zip(layer.inputs, layer.input_scales)):
        if name in host:
            _require(scale is None, where, f"input_scales[{k}]", f"must be null: {name!r} is a host layer")
        else:
            _require(name != "input" and spikes[name], where, "inputs",
                     f"{name!r}: a host op reads host layers or core layers that emit spikes")
            _require(scale is not None and math.isfinite(scale), where, f"input_scales[{k}]",
                     f"must be a finite number: {name!r} is a core layer")


def validate_layers(a: "Artefact") -> None:
    _require(len(a.layers) >= 1, "layers", "layers", "an artefact needs at least one layer")
    shapes: dict[str, tuple[int, ...]] = {"input": a.input.encoded_shape}
    spikes = {"input": a.input.spiking}
    synaptic: dict[str, bool] = {}  # synaptic conv (no neuron) -> read by an add yet
    host_seen = False
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
            if layer.kind == "host_linear":
                _require(idx == len(a.layers) - 1, where, "placement", "a host_linear layer must be the last layer")
                _require(layer.inputs[0] != "input" and spikes[layer.inputs[0]], where, "inputs",
                         "the host layer's input must be a core layer that emits spikes")
            else:
                _check_host_inputs(layer, a, spikes, where)
            host_seen = True
        else:
            _require(not host_seen, where, "placement", "a core layer after a host layer (the host part comes last)")
        if layer.kind in ("concat", "maxpool"):
            _require(all(spikes[i] for i in layer.inputs), where, "inputs",
                     f"{layer.kind} inputs must carry spikes, not a current")
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
    core = {layer.name for layer in a.core_layers}
    read = sorted({i for layer in a.layers if layer.placement == "host" for i in layer.inputs if i in core})
    _require(len(read) <= 1, "layers", "host", f"the host part reads {len(read)} core layers {read}; it must read one")
    last = a.layers[-1]
    if last.kind == "host_op":
        logits = next(x for x in a.layers if x.name == last.inputs[0]) if last.op == "softmax" else last
        _require(len(logits.output_shape) == 1, f"layer {logits.name!r}", "output_shape",
                 f"{list(logits.output_shape)}: the host's logits must be flat (classes,)")
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
    both = set(g.counts) & set(g.digests)
    _require(not both, "golden", "digests", f"layers {sorted(both)} are also in golden.counts (each layer is in one)")
    stored = set(g.counts) | set(g.digests)
    _require(stored == expected, "golden", "counts", f"has layers {sorted(stored)} (counts and digests), "
             f"expected {sorted(expected)}")
    for name, digest in g.digests.items():
        _require(isinstance(digest, str) and DIGEST_RE.fullmatch(digest) is not None, "golden", f"digests[{name!r}]",
                 f"{digest!r} must be 64 lowercase hex digits (a SHA-256)")
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
