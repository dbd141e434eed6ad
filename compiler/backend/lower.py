"""Lower a canonical float IR graph to the integer spiking network of docs/semantics.md.

For each spiking stage with float weights W, bias b, input scale λ_in and output scale λ_out
(calibration), the normalized layer is W' = W λ_in/λ_out, b' = b/λ_out (DESIGN §4). `quantize`
turns W' into integers q with an integer threshold θ (per tensor or per channel), and the bias
into rint(b' θ). The same numbers also build the *quantized ANN*: the float graph with weights
q/θ · λ_out/λ_in, biases bias_int/θ · λ_out and every ReLU clipped at λ_out, which is what the
SNN approximates and what compile's agreement check compares against.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Any

import re

import numpy as np

from snnc.compiler.calibrate import ActivationStats
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.ops import attr
from snnc.compiler.quantize import quantize_bias, quantize_weights
from snnc.compiler.stages import Stage, plan_stages
from snnc.hwspec import HardwareSpec
from snnc.runtime import model as rt


@dataclass(frozen=True)
class CompileOptions:
    bits: int
    timesteps: int = 32
    norm: str = "percentile"  # max | percentile | spikenorm
    percentile: float = 99.99
    reset: str = "subtract"
    v_init: str = "half"
    per_channel: bool = False
    input_encoding: str = "current"
    input_scale: float | None = None  # float value of one input integer step; None: from data
    calib_samples: int = 1000
    batch_size: int = 100

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LayerReport:
    name: str  # the model's layer name
    artefact_name: str  # the name in the artefact
    kind: str
    placement: str
    bits: int | None = None
    theta_min: int | None = None
    theta_max: int | None = None
    weight_bytes: int = 0
    fan_in: int | None = None
    row_bits: int | None = None  # fan_in * bits: the synapse row this layer needs
    row_budget: int | None = None
    scale: float | None = None  # λ_out
    weight_error: float | None = None
    bias_clipped: int = 0
    membrane_bound: int | None = None  # static bound on |V| over T steps
    saturation_possible: bool = False


@dataclass
class Lowered:
    artefact: rt.Artefact
    qann: Graph
    input_scale: float
    layers: list[LayerReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def activation_values(graph: Graph) -> list[str]:
    """IR values whose statistics normalization needs (outputs of spiking conv/linear/add stages)."""
    return [s.output for s in plan_stages(graph) if s.kind in ("conv", "linear", "add")]


def input_quantization(spec: HardwareSpec, opts: CompileOptions, data_min: float, data_max: float) -> tuple[int, int, float]:
    """(lo, hi, scale) of the integer input: unsigned when the data is non-negative."""
    b = spec.input_bits
    lo, hi = (0, 2**b - 1) if data_min >= 0 else (-(2 ** (b - 1)), 2 ** (b - 1) - 1)
    if opts.input_encoding == "rate" and lo < 0:
        raise SnncError("rate input encoding needs non-negative inputs; use --input-encoding current")
    if opts.input_scale is not None:
        return lo, hi, float(opts.input_scale)
    amax = max(abs(data_min), abs(data_max))
    return lo, hi, (amax / hi if amax > 0 else 1.0)


def _scale(stats: ActivationStats | None, opts: CompileOptions, act_max: float | None) -> float:
    if stats is None:
        lam = 1.0
    elif opts.norm == "max":
        lam = stats.maximum
    else:
        lam = stats.percentile(opts.percentile)
    if act_max is not None:
        lam = min(lam, act_max)
    return lam if lam > 0 else 1.0


def lower(graph: Graph, spec: HardwareSpec, opts: CompileOptions, stats: dict[str, ActivationStats] | None,
          input_range: tuple[int, int, float], scales: dict[str, float] | None = None) -> Lowered:
    """Build the artefact (no golden vectors yet) and the quantized ANN from a canonical graph.

    `scales` overrides λ_out per stage output (Spike-Norm computes them by simulation)."""
    stages = plan_stages(graph)
    lo, hi, s_in = input_range
    in_shape = tuple(graph.shape(graph.inputs[0])[1:])
    unit = s_in * (hi if opts.input_encoding == "rate" else 1)  # float value of one input unit per step
    lam: dict[str, float] = {graph.inputs[0]: unit}
    layer_of: dict[str, str] = {graph.inputs[0]: "input"}
    smax: dict[str, int] = {graph.inputs[0]: max(abs(lo), abs(hi)) if opts.input_encoding == "current" else 1}
    qann = graph.copy()
    qnodes = {n.name: n for n in qann.nodes}
    layers: list[Any] = []
    reports: list[LayerReport] = []
    warnings: list[str] = []
    theta_max = 2**spec.threshold_bits - 1
    mem_max = 2 ** (spec.membrane_bits - 1) - 1
    per_channel = opts.per_channel and spec.per_channel_threshold
    names = artefact_names(stages)

    for st in stages:
        out_shape = tuple(graph.shape(st.output)[1:])
        ins = [layer_of[v] for v in st.inputs]
        lam_in = [lam[v] for v in st.inputs]
        name = names[st.name]
        rep = LayerReport(name=st.name, artefact_name=name, kind=st.kind, placement="host" if st.kind == "host_linear" else "core")
        if st.kind in ("conv", "linear"):
            act_max = float(attr(st.act, "max")) if st.act.op == "clip" else None
            lam_out = scales[st.output] if scales and st.output in scales else _scale(stats.get(st.output) if stats else None, opts, act_max)
            w = np.asarray(st.node.params["weight"], dtype=np.float64)
            b = np.asarray(st.node.params.get("bias", np.zeros(w.shape[0])), dtype=np.float64)
            wn, bn = w * lam_in[0] / lam_out, b / lam_out
            qw = quantize_weights(wn, opts.bits, spec.weight_encoding, per_channel=per_channel, theta_max=theta_max)
            bias_int, clipped = quantize_bias(bn, qw.theta if per_channel else np.full(w.shape[0], qw.theta[0]), spec.bias_bits)
            neuron = rt.Neuron(threshold=qw.theta.tolist(), bias=bias_int.tolist(), reset=opts.reset, v_init=opts.v_init)
            if st.kind == "conv":
                layer = rt.Conv(name=name, inputs=ins, output_shape=out_shape, weight=qw.q.astype(np.int8), bits=opts.bits,
                                stride=tuple(attr(st.node, "stride")), padding=tuple(attr(st.node, "padding")),
                                groups=int(attr(st.node, "groups")), neuron=neuron)
                if tuple(attr(st.node, "dilation")) != (1, 1):
                    raise SnncError(f"layer {name}: dilated convolutions are not supported by the v1 artefact")
            else:
                layer = rt.Linear(name=name, inputs=ins, output_shape=out_shape, weight=qw.q.astype(np.int8),
                                  bits=opts.bits, neuron=neuron)
            theta_b = qw.theta.reshape((-1,) + (1,) * (w.ndim - 1)).astype(np.float64)
            qn = qnodes[st.name]
            qn.params["weight"] = (qw.q / theta_b * lam_out / lam_in[0]).astype(np.float64)
            qn.params["bias"] = (bias_int.reshape(-1) / qw.theta.astype(np.float64) * lam_out).astype(np.float64)
            _clip_activation(qnodes[st.act.name], lam_out)
            fan_in = int(np.prod(w.shape[1:]))
            i_max = int(np.abs(qw.q).reshape(w.shape[0], -1).sum(axis=1).max()) * smax[st.inputs[0]]
            rep.bits, rep.theta_min, rep.theta_max = opts.bits, int(qw.theta.min()), int(qw.theta.max())
            rep.weight_bytes = (w.size * opts.bits + 7) // 8
            rep.fan_in, rep.row_bits, rep.row_budget = fan_in, fan_in * opts.bits, spec.synapse_row_bits
            rep.scale, rep.weight_error, rep.bias_clipped = lam_out, qw.error, clipped
            bias_abs = int(np.abs(bias_int).max()) if bias_int.size else 0
            v0 = int(qw.theta.max()) // 2 if opts.v_init == "half" else 0
            rep.membrane_bound = v0 + int(qw.theta.max()) + opts.timesteps * (i_max + bias_abs)
            if clipped:
                warnings.append(f"layer {name}: {clipped} bias value(s) clipped to the {spec.bias_bits}-bit bias range")
        elif st.kind == "avgpool":
            if st.node.op == "globalavgpool":
                k = tuple(graph.shape(st.inputs[0])[2:])
                stride = k
            else:
                k, stride = tuple(attr(st.node, "kernel")), tuple(attr(st.node, "stride"))
                if any(attr(st.node, "padding")):
                    raise SnncError(f"layer {name}: padded average pooling is not supported on the core")
            theta = k[0] * k[1]
            if theta > theta_max:
                raise SnncError(f"layer {name}: pool window {k} needs threshold {theta} > {theta_max}")
            layer = rt.AvgPool(name=name, inputs=ins, output_shape=out_shape, kernel=k, stride=stride,
                               neuron=rt.Neuron(threshold=[theta], bias=[0] * out_shape[0], reset=opts.reset, v_init=opts.v_init))
            lam_out = lam_in[0]
            rep.theta_min = rep.theta_max = theta
            rep.scale = lam_out
            rep.membrane_bound = theta + opts.timesteps * theta
        elif st.kind == "add":
            act_max = float(attr(st.act, "max")) if st.act.op == "clip" else None
            lam_out = scales[st.output] if scales and st.output in scales else _scale(stats.get(st.output) if stats else None, opts, act_max)
            theta = add_threshold(theta_max)
            mult = [int(np.rint(theta * li / lam_out)) for li in lam_in]
            layer = rt.Add(name=name, inputs=ins, output_shape=out_shape, multipliers=mult,
                           neuron=rt.Neuron(threshold=[theta], bias=[0] * out_shape[0], reset=opts.reset, v_init=opts.v_init))
            _clip_activation(qnodes[st.act.name], lam_out)
            rep.theta_min = rep.theta_max = theta
            rep.scale = lam_out
            rep.membrane_bound = theta + opts.timesteps * sum(abs(m) for m in mult)
        elif st.kind == "flatten":
            layer = rt.Flatten(name=name, inputs=ins, output_shape=out_shape)
            lam_out = lam_in[0]
        elif st.kind == "concat":
            if len(set(lam_in)) != 1:
                raise SnncError(f"layer {name}: concat of branches with different scales {lam_in} is not supported yet")
            layer = rt.Concat(name=name, inputs=ins, output_shape=out_shape)
            lam_out = lam_in[0]
        else:  # host_linear
            w = np.asarray(st.node.params["weight"], dtype=np.float32)
            b = np.asarray(st.node.params.get("bias", np.zeros(w.shape[0])), dtype=np.float32)
            layer = rt.HostLinear(name=name, inputs=ins, output_shape=(w.shape[0],), weight=w, bias=b, input_scale=lam_in[0])
            lam_out = 1.0
        if rep.membrane_bound is not None:
            rep.saturation_possible = rep.membrane_bound > mem_max
            if rep.saturation_possible:
                warnings.append(f"layer {name}: the membrane can reach {rep.membrane_bound} within T={opts.timesteps}, "
                                f"beyond the {spec.membrane_bits}-bit range (it {spec.overflow}s)")
        layers.append(layer)
        reports.append(rep)
        lam[st.output] = lam_out
        layer_of[st.output] = name
        smax[st.output] = 1

    artefact = rt.Artefact(
        input=rt.InputSpec(shape=in_shape, encoding=opts.input_encoding, lo=lo, hi=hi, scale=s_in),
        layers=tuple(layers),
        target=rt.Target(**spec.target_block()),
        hardware_spec=spec.to_json_dict(),
        provenance={"layer_names": {v: k for k, v in names.items()}},
    )
    _quantize_qann_input(qann, lo, hi, s_in)
    return Lowered(artefact=artefact, qann=qann, input_scale=s_in, layers=reports, warnings=warnings)


def add_threshold(theta_max: int) -> int:
    """θ of a residual-add layer: its input multipliers are rint(θ·λ_i/λ_out), so 256 gives 8 bits of them."""
    return min(theta_max, 256)


def artefact_names(stages: list[Stage]) -> dict[str, str]:
    """Model layer name -> artefact layer name ([A-Za-z0-9_.-], unique): '/features/features.0/Conv'
    becomes 'features.features.0.Conv'. The mapping is kept in the artefact's provenance."""
    out: dict[str, str] = {}
    used: set[str] = {"input"}
    for st in stages:
        base = re.sub(r"[^A-Za-z0-9_.-]+", ".", st.name).strip(".")[:120] or st.kind
        name, i = base, 1
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        out[st.name] = name
    return out


def _clip_activation(node, lam_out: float) -> None:
    hi = lam_out if node.op == "relu" else min(lam_out, float(attr(node, "max")))
    node.op = "clip"
    node.attrs = {"min": 0.0, "max": hi}


def _quantize_qann_input(qann: Graph, lo: int, hi: int, s_in: float) -> None:
    """The quantized ANN sees the integer input the chip sees: x -> s_in * clip(rint(x / s_in), lo, hi)."""
    qann.meta["input_quantization"] = {"lo": lo, "hi": hi, "scale": s_in}


def quantize_input(x: np.ndarray, lo: int, hi: int, s_in: float) -> np.ndarray:
    return s_in * np.clip(np.rint(np.asarray(x, dtype=np.float64) / s_in), lo, hi)
