"""The artefact as Python objects: frozen dataclasses whose docstrings give the integer maths.

Every number the runtime uses lives here; nothing is implied. `docs/semantics.md` is the
normative description; these docstrings summarise it. Constructing an `Artefact` validates it
(`snnc.runtime.validate`), so an invalid artefact cannot exist in memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Mapping, Union

import numpy as np

from snnc.runtime.errors import ArtefactError

FORMAT_NAME = "snnc-artefact"
FORMAT_VERSION = 1


def _frozen_array(value: Any, dtype: Any, what: str) -> np.ndarray:
    """A read-only copy of `value` as `dtype`; integer targets require integer-valued input."""
    arr = np.asarray(value)
    if np.dtype(dtype).kind == "i":
        if arr.dtype.kind not in "iub":
            raise ArtefactError(f"{what}: expected an integer array, got dtype {arr.dtype}")
        info = np.iinfo(dtype)
        if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
            raise ArtefactError(f"{what}: values outside {np.dtype(dtype).name}")
    elif arr.dtype.kind not in "iuf":
        raise ArtefactError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    out = np.array(arr, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def _ints(value: Any, what: str) -> tuple[int, ...]:
    try:
        out = tuple(value)
    except TypeError:
        raise ArtefactError(f"{what}: expected a list of integers, got {value!r}") from None
    for v in out:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ArtefactError(f"{what}: expected integers, got {v!r}")
    return tuple(int(v) for v in out)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Target:
    """The chip parameters the integer semantics depend on (copied from the hardware spec).

    membrane_bits m: V is an m-bit signed two's complement integer, range [-2^(m-1), 2^(m-1)-1].
    overflow: "saturate" clips V + I + bias to that range; "wrap" reduces it modulo 2^m.
    fire: "ge" fires when V >= theta, "gt" when V > theta.
    threshold_bits: theta is unsigned, 1 <= theta <= 2^tb - 1.
    bias_bits: bias is signed, in [-2^(bb-1), 2^(bb-1)-1].
    weight_encoding: "symmetric" ([-(2^(b-1)-1), 2^(b-1)-1]) or "full" ([-2^(b-1), 2^(b-1)-1])
      for b >= 2; 1-bit weights are always bipolar {-1, +1}.
    input_bits: width of the integer input (current or rate value).
    """

    membrane_bits: int
    overflow: str
    fire: str
    threshold_bits: int
    bias_bits: int
    weight_encoding: str
    input_bits: int


@dataclass(frozen=True)
class InputSpec:
    """The network input. Shape excludes the batch axis: (C, H, W) or (F,).

    A float input x becomes x_int = clip(rint(float64(x) / scale), lo, hi) (rint: round half to
    even; the clip compares exact integers, not float64(lo), float64(hi)); an integer input is
    x_int itself (each value as the integer its dtype denotes) and must lie in [lo, hi].
    encoding "current": every timestep, the consuming layers receive s = x_int.
    encoding "rate": each element is an accumulator a (a_0 = floor(hi/2) for rate_init "half",
    0 for "zero"); each step a <- a + x_int, and if a >= hi it emits 1 and a <- a - hi.
    encoding "poisson": element i spikes at step t iff (h(seed, i, t) mod hi) < x_int, h the
    SplitMix64 output of docs/semantics.md section 5 (the same trains for equal inputs).
    encoding "population": element (c, ...) becomes `population` = P neurons, encoded channel
    c*P + p, neuron p a rate encoder of min(max(P*x_int - p*hi, 0), hi).
    encoding "ttfs": element spikes once, at step floor((hi - x_int)*(window - 1)/hi), never for 0.
    layout: the order of the arrays handed to simulate/run/verify (and of the golden inputs).
    "NCHW" (default): (B, *shape). "NHWC" (rank-3 shape (C, H, W) only): (B, H, W, C), which the
    runtime transposes to (B, C, H, W) before anything else; the semantics see only `shape`.
    """

    shape: tuple[int, ...]
    encoding: str
    lo: int
    hi: int
    scale: float = 1.0
    rate_init: str = "half"
    layout: str = "NCHW"
    seed: int = 0  # "poisson": the PRNG seed, in [0, 2^63 - 1] (a JSON int64)
    population: int = 1  # "population": neurons per input element P
    window: int = 1  # "ttfs": the window T_w of first-spike times [0, T_w - 1]

    def __post_init__(self) -> None:
        _set(self, "shape", _ints(self.shape, "input.shape"))
        _set(self, "scale", float(self.scale))

    @property
    def spiking(self) -> bool:
        """Does the input carry 0/1 spikes (every encoding but "current")?"""
        return self.encoding != "current"

    @property
    def encoded_shape(self) -> tuple[int, ...]:
        """The per-sample shape of what the layers reading "input" receive: `shape`, except for
        "population": (C*P, H, W) or (F*P,), element (c, ...) copy p at channel c*P + p."""
        if self.encoding != "population":
            return self.shape
        return (self.shape[0] * self.population,) + self.shape[1:]

    @property
    def external_shape(self) -> tuple[int, ...]:
        """The per-sample shape of the arrays the artefact takes: (H, W, C) for layout "NHWC",
        else `shape`."""
        if self.layout == "NHWC" and len(self.shape) == 3:
            c, h, w = self.shape
            return (h, w, c)
        return self.shape


@dataclass(frozen=True)
class Neuron:
    """Integrate-and-fire parameters of a spiking layer (per output channel or feature).

    Per step: V <- ovf(V + I + bias); s = V >= theta (or >); where s: V <- 0 ("zero") or
    V <- V - theta ("subtract"). threshold has length 1 (per tensor) or O (per channel);
    bias has length O. v_init "zero": V_0 = 0; "half": V_0 = floor(theta / 2), which must fit:
    floor(max theta / 2) <= 2^(m-1) - 1. A theta above the membrane range never fires.
    """

    threshold: tuple[int, ...]
    bias: tuple[int, ...]
    reset: str = "subtract"
    v_init: str = "zero"

    def __post_init__(self) -> None:
        _set(self, "threshold", _ints(self.threshold, "neuron.threshold"))
        _set(self, "bias", _ints(self.bias, "neuron.bias"))


@dataclass(frozen=True, eq=False)
class _Layer:
    name: str
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...]

    kind: ClassVar[str] = ""
    placement: ClassVar[str] = "core"
    has_neurons: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if isinstance(self.inputs, str):
            raise ArtefactError(f"layer {self.name!r}: inputs must be a list of names")
        _set(self, "inputs", tuple(str(i) for i in self.inputs))
        _set(self, "output_shape", _ints(self.output_shape, f"layer {self.name!r}: output_shape"))


@dataclass(frozen=True, eq=False)
class Conv(_Layer):
    """2-D convolution of spikes (or input current), zero padded, then IF neurons.

    With `neuron` None the conv is *synaptic*: it has no neurons and emits its integer current I
    at every step (it carries current, read only by `add` layers that integrate it: the fused
    residual layer, docs/semantics.md section 6).

    I[o, y, x] = sum_{c, i, j} w[o, c, i, j] * s[g*Ci + c, y*sh + i - top, x*sw + j - left]
    where g = o // (O / groups), Ci = C_in / groups; out-of-range input positions are 0 (also for
    an input current whose range [lo, hi] excludes 0).
    weight: int8 array (O, C_in/groups, kh, kw) of the true integer values, `bits` wide.
    padding: (top, left, bottom, right). Output H = (H' + top + bottom - kh) // sh + 1.
    input_dilation: (dh, dw), default (1, 1): s above is the input with dh - 1 zero rows (dw - 1
    zero columns) inserted between consecutive rows (columns), H' = (H - 1) * dh + 1 rows (H' = H
    without dilation); a transposed convolution is this conv (docs/semantics.md section 6).
    """

    weight: np.ndarray = None  # type: ignore[assignment]
    bits: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1
    neuron: Neuron | None = None
    input_dilation: tuple[int, int] = (1, 1)

    kind: ClassVar[str] = "conv"

    @property
    def has_neurons(self) -> bool:  # type: ignore[override]
        return self.neuron is not None

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "weight", _frozen_array(self.weight, np.int8, f"layer {self.name!r}: weight"))
        _set(self, "stride", _ints(self.stride, f"layer {self.name!r}: stride"))
        _set(self, "padding", _ints(self.padding, f"layer {self.name!r}: padding"))
        _set(self, "input_dilation", _ints(self.input_dilation, f"layer {self.name!r}: input_dilation"))

    @property
    def dilated(self) -> bool:
        """Does the conv insert zeros between its input's pixels (input_dilation other than (1, 1))?"""
        return tuple(self.input_dilation) != (1, 1)


def dilated_shape(layer: "Conv", in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """(C, H', W') = (C, (H - 1) * dh + 1, (W - 1) * dw + 1): the input a conv's windows read
    (docs/semantics.md section 6, input_dilation); the input shape itself without dilation."""
    c, h, w = in_shape
    dh, dw = layer.input_dilation
    return (c, (h - 1) * dh + 1, (w - 1) * dw + 1)


@dataclass(frozen=True, eq=False)
class Linear(_Layer):
    """Fully connected: I[o] = sum_i w[o, i] * s[i]; weight int8 (O, I), `bits` wide; IF neurons."""

    weight: np.ndarray = None  # type: ignore[assignment]
    bits: int = 0
    neuron: Neuron = None  # type: ignore[assignment]

    kind: ClassVar[str] = "linear"
    has_neurons: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "weight", _frozen_array(self.weight, np.int8, f"layer {self.name!r}: weight"))


@dataclass(frozen=True, eq=False)
class AvgPool(_Layer):
    """Sum-pool through IF neurons: I[c, y, x] = sum_{i<kh, j<kw} s[c, y*sh + i, x*sw + j].

    No padding; output H = (H - kh) // sh + 1. The compiler sets theta = kh*kw and bias 0, which
    makes the output rate the window's mean rate.
    """

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    neuron: Neuron = None  # type: ignore[assignment]

    kind: ClassVar[str] = "avgpool"
    has_neurons: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "kernel", _ints(self.kernel, f"layer {self.name!r}: kernel"))
        _set(self, "stride", _ints(self.stride, f"layer {self.name!r}: stride"))


@dataclass(frozen=True, eq=False)
class MaxPool(_Layer):
    """Spiking max pooling, no neurons: at step t, window (c, y, x) passes on the spike s(t) of the
    input position whose spike count over steps 0..t-1 is the largest (the first such in the
    window's row-major order). Its input must carry spikes. No padding; H_out = (H - kh)//sh + 1."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)

    kind: ClassVar[str] = "maxpool"

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "kernel", _ints(self.kernel, f"layer {self.name!r}: kernel"))
        _set(self, "stride", _ints(self.stride, f"layer {self.name!r}: stride"))


@dataclass(frozen=True, eq=False)
class Add(_Layer):
    """Residual add through IF neurons: I = sum_k m_k * s_k (inputs of equal shape), where m_k =
    multipliers[k] is one integer, or a tuple of one integer per output channel (m_k[c] then
    multiplies the channel-c elements). An input may be a synaptic conv (neuron None): s_k is then
    its integer current at that step (the fused residual layer)."""

    multipliers: tuple[int | tuple[int, ...], ...] = ()
    neuron: Neuron = None  # type: ignore[assignment]

    kind: ClassVar[str] = "add"
    has_neurons: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            entries = tuple(self.multipliers)
        except TypeError:
            raise ArtefactError(f"layer {self.name!r}: multipliers: expected a list, got {self.multipliers!r}") from None
        _set(self, "multipliers", tuple(
            _ints(m, f"layer {self.name!r}: multipliers[{k}]") if isinstance(m, (list, tuple, np.ndarray))
            else _ints([m], f"layer {self.name!r}: multipliers")[0] for k, m in enumerate(entries)))

    def multiplier_of(self, k: int, channel: int) -> int:
        """m_k for the elements of output channel `channel`."""
        m = self.multipliers[k]
        return m[channel] if isinstance(m, tuple) else m


@dataclass(frozen=True, eq=False)
class Concat(_Layer):
    """Channel concatenation (axis 0 without batch) of its inputs' spikes; no neurons."""

    kind: ClassVar[str] = "concat"


@dataclass(frozen=True, eq=False)
class Flatten(_Layer):
    """(C, H, W) -> (C*H*W,) in C order; no neurons."""

    kind: ClassVar[str] = "flatten"


@dataclass(frozen=True, eq=False)
class HostLinear(_Layer):
    """The host's final layer (float, NOT part of the bit-exact contract except the argmax input).

    logits = (counts * (input_scale / T)) @ weight.T + bias, in float64, where counts are the
    spike counts over T steps of its input layer; prediction = first index of the maximum. With
    `softmax` (the model ended in a Softmax), the host also reports probabilities =
    softmax(logits); the prediction is the same.
    """

    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray = None  # type: ignore[assignment]
    input_scale: float = 1.0
    softmax: bool = False

    kind: ClassVar[str] = "host_linear"
    placement: ClassVar[str] = "host"

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "weight", _frozen_array(self.weight, np.float32, f"layer {self.name!r}: weight"))
        _set(self, "bias", _frozen_array(self.bias, np.float32, f"layer {self.name!r}: bias"))
        _set(self, "input_scale", float(self.input_scale))
        if not isinstance(self.softmax, (bool, np.bool_)):
            raise ArtefactError(f"layer {self.name!r}: softmax: {self.softmax!r} is not true or false")
        _set(self, "softmax", bool(self.softmax))


def _attr_value(value: Any, what: str) -> Any:
    """A host op attribute as plain JSON data: an int, a finite float, a bool, or a list of ints."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise ArtefactError(f"{what}: {value} is not finite")
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(_ints(value, what))
    raise ArtefactError(f"{what}: {value!r} is not an integer, number, boolean or list of integers")


@dataclass(frozen=True, eq=False)
class HostOp(_Layer):
    """One float layer of a hybrid network's host part (after `--host-from`; docs/semantics.md
    section 7), NOT part of the bit-exact contract: the host computes `op` (snnc.runtime.host_ops)
    with `attrs` and the float32 `params`, in float64. An input that is a core layer reads that
    layer's spike counts times input_scales[k] / T; an input that is a host layer reads its output
    (input_scales[k] is None)."""

    op: str = ""
    attrs: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    input_scales: tuple[float | None, ...] = ()

    kind: ClassVar[str] = "host_op"
    placement: ClassVar[str] = "host"

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"layer {self.name!r}"
        if not isinstance(self.attrs, Mapping) or not isinstance(self.params, Mapping):
            raise ArtefactError(f"{where}: attrs and params must be mappings")
        _set(self, "attrs", MappingProxyType({str(k): _attr_value(v, f"{where}: attrs.{k}") for k, v in self.attrs.items()}))
        _set(self, "params", MappingProxyType({str(k): _frozen_array(v, np.float32, f"{where}: params.{k}")
                                               for k, v in self.params.items()}))
        scales = []
        for k, v in enumerate(tuple(self.input_scales)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.number))):
                raise ArtefactError(f"{where}: input_scales[{k}]: {v!r} is not a number or null")
            scales.append(None if v is None else float(v))
        _set(self, "input_scales", tuple(scales))

    @property
    def softmax(self) -> bool:
        return self.op == "softmax"


Layer = Union[Conv, Linear, AvgPool, MaxPool, Add, Concat, Flatten, HostLinear, HostOp]
LAYER_TYPES: dict[str, type] = {cls.kind: cls for cls in (Conv, Linear, AvgPool, MaxPool, Add, Concat, Flatten,
                                                          HostLinear, HostOp)}
WEIGHTED = (Conv, Linear)


@dataclass(frozen=True, eq=False)
class Golden:
    """Golden vectors: inputs, T, and the exact expected results.

    counts: spike counts over T, shape (B, *output_shape), of every layer that carries spikes.
    predictions: (B,) argmax of the host logits (None without a host layer).
    spikes: optional full spike trains (B, T, *output_shape) uint8 per spike-carrying layer.
    digests: the layers whose counts are stored as a SHA-256 digest instead (`golden.counts_digest`):
    every spike-carrying layer is in exactly one of `counts` and `digests`.
    """

    inputs: np.ndarray
    timesteps: int
    counts: Mapping[str, np.ndarray]
    predictions: np.ndarray | None = None
    spikes: Mapping[str, np.ndarray] | None = None
    digests: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _set(self, "inputs", _frozen_array(self.inputs, np.asarray(self.inputs).dtype, "golden.inputs"))
        _set(self, "counts", MappingProxyType({k: _frozen_array(v, np.int64, f"golden.counts[{k!r}]")
                                               for k, v in self.counts.items()}))
        if self.predictions is not None:
            _set(self, "predictions", _frozen_array(self.predictions, np.int64, "golden.predictions"))
        if self.spikes is not None:
            _set(self, "spikes", MappingProxyType({k: _frozen_array(v, np.uint8, f"golden.spikes[{k!r}]")
                                                   for k, v in self.spikes.items()}))
        _set(self, "digests", MappingProxyType(dict(self.digests)))


@dataclass(frozen=True, eq=False)
class Artefact:
    """A compiled spiking network: input spec, layers in topological order, target, spec, golden.

    `hardware_spec` is the full spec the artefact was built for (opaque to the runtime; its
    sha256 is stored and checked). `provenance` is free-form (snnc version, options, source hash).
    """

    input: InputSpec
    layers: tuple[Layer, ...]
    target: Target
    hardware_spec: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    golden: Golden | None = None

    def __post_init__(self) -> None:
        from snnc.runtime.validate import validate_artefact

        _set(self, "layers", tuple(self.layers))
        validate_artefact(self)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def host(self) -> HostLinear | HostOp | None:
        """The last host layer (the one whose output is the logits, or their softmax), if any."""
        last = self.layers[-1]
        return last if last.placement == "host" else None

    @property
    def host_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.placement == "host")

    @property
    def output_layer(self) -> str:
        """Name of the core layer whose spike counts are handed to the host (the one core layer
        the host part reads), else the last layer."""
        core = {layer.name for layer in self.core_layers}
        for layer in self.host_layers:
            for name in layer.inputs:
                if name in core:
                    return name
        return self.layers[-1].name

    @property
    def core_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.placement == "core")
