"""One emitter per stage kind: a planned stage -> its artefact layer, its report row, and the
matching changes to the quantized ANN (the float graph that the SNN approximates).

An emitter reads λ of its inputs (`ctx.lam`) and its λ_out (`ctx.scales`, from the normalizer)
and returns the runtime layer; `lower` walks the plan and calls the emitter of each stage's kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import Stage, StagePlan
from snnc.compiler.backend.quantize import quantize_bias, quantize_weights
from snnc.compiler.backend.layer_report import LayerReport
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import attr
from snnc.compiler.registry import Registry
from snnc.hwspec import HardwareSpec
from snnc.runtime import model as rt


@dataclass
class EmitContext:
    plan: StagePlan
    spec: HardwareSpec
    opts: CompileOptions
    scales: dict[str, float]  # λ_out of every spiking stage
    qnodes: dict[str, Node]  # the quantized ANN's nodes by name
    lam: dict[str, float]  # λ of every value emitted so far
    layer_of: dict[str, str]  # IR value -> artefact layer name
    smax: dict[str, int]  # IR value -> max |value| it carries (1 for spikes)
    warnings: list[str] = field(default_factory=list)

    @property
    def graph(self) -> Graph:
        return self.plan.graph

    @property
    def theta_max(self) -> int:
        return 2 ** self.spec.threshold_bits - 1

    def neuron(self, theta: list[int], bias: list[int]) -> rt.Neuron:
        return rt.Neuron(threshold=theta, bias=bias, reset=self.opts.reset, v_init=self.opts.v_init)


Emitter = Callable[[EmitContext, Stage, str, LayerReport], tuple[Any, float]]
EMITTERS = Registry("stage emitter")


def clip_activation(node: Node, lam_out: float) -> None:
    """The quantized ANN's activation: ReLU clipped at λ_out (what one spike per step stands for)."""
    hi = lam_out if node.op == "relu" else min(lam_out, float(attr(node, "max")))
    node.op = "clip"
    node.attrs = {"min": 0.0, "max": hi}


@EMITTERS.register("conv", "linear")
def emit_weighted(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    opts, spec = ctx.opts, ctx.spec
    bits = opts.bits_of(st.name)  # --bits-for, else --bits
    lam_in, lam_out = ctx.lam[st.inputs[0]], ctx.scales[st.output]
    per_channel = opts.per_channel and spec.per_channel_threshold
    w = np.asarray(st.node.params["weight"], dtype=np.float64)
    b = np.asarray(st.node.params.get("bias", np.zeros(w.shape[0])), dtype=np.float64)
    wn, bn = w * lam_in / lam_out, b / lam_out
    qw = quantize_weights(wn, bits, spec.weight_encoding, per_channel=per_channel, theta_max=ctx.theta_max)
    bias_int, clipped = quantize_bias(bn, qw.theta if per_channel else np.full(w.shape[0], qw.theta[0]), spec.bias_bits)
    neuron = ctx.neuron(qw.theta.tolist(), bias_int.tolist())
    ins = [ctx.layer_of[st.inputs[0]]]
    out_shape = tuple(ctx.graph.shape(st.output)[1:])
    if st.kind == "conv":
        layer = rt.Conv(name=name, inputs=ins, output_shape=out_shape, weight=qw.q.astype(np.int8), bits=bits,
                        stride=tuple(attr(st.node, "stride")), padding=tuple(attr(st.node, "padding")),
                        groups=int(attr(st.node, "groups")), neuron=neuron)
    else:
        layer = rt.Linear(name=name, inputs=ins, output_shape=out_shape, weight=qw.q.astype(np.int8),
                          bits=bits, neuron=neuron)
    theta_b = qw.theta.reshape((-1,) + (1,) * (w.ndim - 1)).astype(np.float64)
    qn = ctx.qnodes[st.name]
    qn.params["weight"] = (qw.q / theta_b * lam_out / lam_in).astype(np.float64)
    qn.params["bias"] = (bias_int.reshape(-1) / qw.theta.astype(np.float64) * lam_out).astype(np.float64)
    clip_activation(ctx.qnodes[st.act.name], lam_out)
    fan_in = int(np.prod(w.shape[1:]))
    i_max = int(np.abs(qw.q).reshape(w.shape[0], -1).sum(axis=1).max()) * ctx.smax[st.inputs[0]]
    rep.bits, rep.theta_min, rep.theta_max = bits, int(qw.theta.min()), int(qw.theta.max())
    rep.weight_bytes = (w.size * bits + 7) // 8
    rep.fan_in, rep.row_bits, rep.row_budget = fan_in, fan_in * bits, spec.synapse_row_bits
    rep.scale, rep.weight_error, rep.bias_clipped = lam_out, qw.error, clipped
    bias_abs = int(np.abs(bias_int).max()) if bias_int.size else 0
    v0 = int(qw.theta.max()) // 2 if opts.v_init == "half" else 0
    rep.membrane_bound = v0 + int(qw.theta.max()) + opts.timesteps * (i_max + bias_abs)
    if clipped:
        ctx.warnings.append(f"layer {name}: {clipped} bias value(s) clipped to the {spec.bias_bits}-bit bias range")
    ctx.warnings.extend(collapse_warnings(name, qw.q, qw.theta, bn, bias_int, spec.weight_encoding))
    return layer, lam_out


# A layer's integers "collapse" when they cannot carry the float layer any more: the compile then
# agrees with a broken quantized ANN, so compile says so (issue 18, item 2).
THETA_COLLAPSED = 2  # a threshold of 1 or 2: the membrane resolves at most 2 levels per spike
ZERO_WEIGHTS = 0.5  # more than half of the weights rounded to 0
BIAS_SIGNIFICANT = 0.05  # a normalized bias of 5% of the layer's output range (one spike per step) or more


def collapse_warnings(name: str, q: np.ndarray, theta: np.ndarray, bias_float: np.ndarray, bias_int: np.ndarray,
                      encoding: str) -> list[str]:
    """Warnings for a conv/linear layer whose integer parameters have collapsed."""
    out = []
    if int(theta.max()) <= THETA_COLLAPSED:
        out.append(f"layer {name}: threshold {int(theta.max())} (at its minimum): the integer layer resolves too few "
                   "levels (its normalized weights are large against one weight step); try --per-channel, more bits, "
                   "a lower --percentile or --input-encoding current")
    zero = float(np.mean(q == 0)) if q.size else 0.0
    if zero > ZERO_WEIGHTS:
        out.append(f"layer {name}: {zero:.0%} of its weights round to 0 ({encoding} encoding); the layer keeps "
                   "little of the float one: try --per-channel or more bits")
    bf = np.abs(np.asarray(bias_float, dtype=np.float64).reshape(-1))
    lost = (bf >= BIAS_SIGNIFICANT) & (np.asarray(bias_int).reshape(-1) == 0)
    if lost.any():
        out.append(f"layer {name}: {int(lost.sum())} of {bf.size} biases round to 0 although they are up to "
                   f"{bf[lost].max():.0%} of the layer's output range (threshold {int(theta.max())} is too small to "
                   "hold them)")
    return out


@EMITTERS.register("avgpool")
def emit_avgpool(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    if st.node.op == "globalavgpool":
        k = tuple(ctx.graph.shape(st.inputs[0])[2:])
        stride = k
    else:
        k, stride = tuple(attr(st.node, "kernel")), tuple(attr(st.node, "stride"))
    theta = k[0] * k[1]
    out_shape = tuple(ctx.graph.shape(st.output)[1:])
    layer = rt.AvgPool(name=name, inputs=[ctx.layer_of[st.inputs[0]]], output_shape=out_shape, kernel=k, stride=stride,
                       neuron=ctx.neuron([theta], [0] * out_shape[0]))
    rep.theta_min = rep.theta_max = theta
    rep.scale = ctx.lam[st.inputs[0]]
    rep.membrane_bound = theta + ctx.opts.timesteps * theta
    return layer, ctx.lam[st.inputs[0]]


def add_threshold(theta_max: int) -> int:
    """θ of a residual-add layer: its input multipliers are rint(θ·λ_i/λ_out), so 256 gives 8 bits of them."""
    return min(theta_max, 256)


@EMITTERS.register("add")
def emit_add(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    lam_out = ctx.scales[st.output]
    theta = add_threshold(ctx.theta_max)
    mult = [int(np.rint(theta * ctx.lam[v] / lam_out)) for v in st.inputs]
    out_shape = tuple(ctx.graph.shape(st.output)[1:])
    layer = rt.Add(name=name, inputs=[ctx.layer_of[v] for v in st.inputs], output_shape=out_shape, multipliers=mult,
                   neuron=ctx.neuron([theta], [0] * out_shape[0]))
    clip_activation(ctx.qnodes[st.act.name], lam_out)
    rep.theta_min = rep.theta_max = theta
    rep.scale = lam_out
    rep.membrane_bound = theta + ctx.opts.timesteps * sum(abs(m) for m in mult)
    return layer, lam_out


@EMITTERS.register("flatten")
def emit_flatten(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    layer = rt.Flatten(name=name, inputs=[ctx.layer_of[st.inputs[0]]], output_shape=tuple(ctx.graph.shape(st.output)[1:]))
    return layer, ctx.lam[st.inputs[0]]


@EMITTERS.register("concat")
def emit_concat(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    lam_in = [ctx.lam[v] for v in st.inputs]
    if len(set(lam_in)) != 1:
        from snnc.compiler.errors import SnncError

        raise SnncError(f"layer {name}: concat of branches with different scales {lam_in} is not supported yet")
    layer = rt.Concat(name=name, inputs=[ctx.layer_of[v] for v in st.inputs], output_shape=tuple(ctx.graph.shape(st.output)[1:]))
    return layer, lam_in[0]


@EMITTERS.register("host_linear")
def emit_host_linear(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    w = np.asarray(st.node.params["weight"], dtype=np.float32)
    b = np.asarray(st.node.params.get("bias", np.zeros(w.shape[0])), dtype=np.float32)
    layer = rt.HostLinear(name=name, inputs=[ctx.layer_of[st.inputs[0]]], output_shape=(w.shape[0],), weight=w, bias=b,
                          input_scale=ctx.lam[st.inputs[0]], softmax=any(n.op == "softmax" for n in st.extra))
    return layer, 1.0
