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
from snnc.compiler.backend.rounding import gptq_weights
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
    synapses: dict[str, "Synapse"] = field(default_factory=dict)  # synapse stage output -> its integers
    quantize: Callable = quantize_weights  # lower's QuantizeCache when it memoizes (the same results)

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
    qw, bn = quantize_layer(ctx, st, wn, bn, lam_in, bits, per_channel)
    bias_int, clipped = quantize_bias(bn, qw.theta if per_channel else np.full(w.shape[0], qw.theta[0]), spec.bias_bits)
    neuron = ctx.neuron(qw.theta.tolist(), bias_int.tolist())
    ins = [ctx.layer_of[st.inputs[0]]]
    out_shape = tuple(ctx.graph.shape(st.output)[1:])
    q_core = encoded_input_weight(ctx, st, qw.q)  # = qw.q except on a population-coded input
    if st.kind == "conv":
        q, padding = embed_kernel(q_core, tuple(attr(st.node, "padding")), spec)
        layer = rt.Conv(name=name, inputs=ins, output_shape=out_shape, weight=q.astype(np.int8), bits=bits,
                        stride=tuple(attr(st.node, "stride")), padding=padding,
                        groups=int(attr(st.node, "groups")), neuron=neuron,
                        input_dilation=tuple(attr(st.node, "input_dilation")))  # a ConvTranspose: (stride, stride)
    else:
        layer = rt.Linear(name=name, inputs=ins, output_shape=out_shape, weight=q_core.astype(np.int8),
                          bits=bits, neuron=neuron)
    theta_b = qw.theta.reshape((-1,) + (1,) * (w.ndim - 1)).astype(np.float64)
    qn = ctx.qnodes[st.name]
    qn.params["weight"] = (qw.q / theta_b * lam_out / lam_in).astype(np.float64)
    qn.params["bias"] = (bias_int.reshape(-1) / qw.theta.astype(np.float64) * lam_out).astype(np.float64)
    clip_activation(ctx.qnodes[st.act.name], lam_out)
    fan_in = int(np.prod(layer.weight.shape[1:]))  # of the kernel the core runs (embed_kernel)
    i_max = int(np.abs(q_core).reshape(w.shape[0], -1).sum(axis=1).max()) * ctx.smax[st.inputs[0]]
    rep.bits, rep.theta_min, rep.theta_max = bits, int(qw.theta.min()), int(qw.theta.max())
    rep.weight_bytes = (layer.weight.size * bits + 7) // 8
    rep.fan_in, rep.row_bits, rep.row_budget = fan_in, fan_in * bits, spec.synapse_row_bits
    rep.scale, rep.weight_error, rep.bias_clipped = lam_out, qw.error, clipped
    bias_abs = int(np.abs(bias_int).max()) if bias_int.size else 0
    v0 = int(qw.theta.max()) // 2 if opts.v_init == "half" else 0
    rep.membrane_bound = v0 + int(qw.theta.max()) + opts.timesteps * (i_max + bias_abs)
    if clipped:
        ctx.warnings.append(f"layer {name}: {clipped} bias value(s) clipped to the {spec.bias_bits}-bit bias range")
    ctx.warnings.extend(collapse_warnings(name, qw.q, qw.theta, bn, bias_int, spec.weight_encoding, bits))
    return layer, lam_out


def quantize_layer(ctx: EmitContext, st: Stage, wn: np.ndarray, bn: np.ndarray, lam_in: float, bits: int,
                   per_channel: bool):
    """(integer weights with θ, normalized bias) of a weight stage: GPTQ rounding with its bias
    correction where the calibration step measured the stage's input moments (`rounding.py`),
    else nearest rounding and the bias as it is."""
    mom = ctx.plan.moments.get(st.name)
    if mom is None:
        return ctx.quantize(wn, bits, ctx.spec.weight_encoding, per_channel=per_channel, theta_max=ctx.theta_max), bn
    qw, shift = gptq_weights(wn, mom, lam_in, bits, ctx.spec.weight_encoding, per_channel=per_channel,
                             theta_max=ctx.theta_max, bn=bn if st.kind != "synapse" else None)
    return qw, bn + shift


def encoded_input_weight(ctx: EmitContext, st: Stage, q: np.ndarray) -> np.ndarray:
    """The integer weights a conv / linear reading "input" applies to the encoded input: with the
    population encoding (docs/semantics.md section 5: element channel c's P neurons are channels
    c*P + p) each input channel's (or feature's) weights repeated for its P neurons, unscaled (λ of
    the input, hi·s/P, carries the 1/P); else q itself."""
    if ctx.opts.input_encoding != "population" or ctx.layer_of[st.inputs[0]] != "input":
        return q
    return np.repeat(q, ctx.opts.input_population, axis=1)


def embed_kernel(q: np.ndarray, padding: tuple[int, ...], spec: HardwareSpec) -> tuple[np.ndarray, tuple[int, ...]]:
    """A k x k kernel the spec's table lacks, as the table's k' x k' (spec.embedded_kernel): centred,
    zero elsewhere, the padding grown by d = (k' - k)/2 per side. Output (y, x) then reads
    q'[i + d, j + d] at input y·s + i + d − (top + d) = y·s + i − top: the same taps, the same sums."""
    k = q.shape[2]
    kk = spec.embedded_kernel(k)
    if kk is None or kk == k or q.shape[2] != q.shape[3]:
        return q, tuple(padding)
    d = (kk - k) // 2
    out = np.zeros(q.shape[:2] + (kk, kk), dtype=q.dtype)
    out[:, :, d:d + k, d:d + k] = q
    return out, tuple(p + d for p in padding)


# A layer's integers "collapse" when they cannot carry the float layer any more: the compile then
# agrees with a broken quantized ANN, so compile says so (issue 18, item 2).
THETA_COLLAPSED = 2  # a threshold of 1 or 2: the membrane resolves at most 2 levels per spike
ZERO_WEIGHTS = 0.5  # more than half of the weights rounded to 0
# ternary (2-bit symmetric) weights: the output-error-optimal rounding of a plainly trained layer
# keeps about half of them at 0 (--rounding gptq: 52-61% in LeNet-5's layers), so only more is a collapse
ZERO_WEIGHTS_TERNARY = 0.75
BIAS_SIGNIFICANT = 0.05  # a normalized bias of 5% of the layer's output range (one spike per step) or more


def zero_limit(bits: int, encoding: str) -> float:
    return ZERO_WEIGHTS_TERNARY if bits == 2 and encoding == "symmetric" else ZERO_WEIGHTS


def collapse_warnings(name: str, q: np.ndarray, theta: np.ndarray, bias_float: np.ndarray, bias_int: np.ndarray,
                      encoding: str, bits: int = 4) -> list[str]:
    """Warnings for a conv/linear layer whose integer parameters have collapsed."""
    out = []
    if int(theta.max()) <= THETA_COLLAPSED:
        out.append(f"layer {name}: threshold {int(theta.max())} (at its minimum): the integer layer resolves too few "
                   "levels (its normalized weights are large against one weight step); try --per-channel, more bits, "
                   "a lower --percentile or --input-encoding current")
    zero = float(np.mean(q == 0)) if q.size else 0.0
    if zero > zero_limit(bits, encoding):
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


@EMITTERS.register("maxpool")
def emit_maxpool(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    """The spiking max pool: no neurons, no parameters; what one spike stands for passes through."""
    k, stride = tuple(attr(st.node, "kernel")), tuple(attr(st.node, "stride"))
    layer = rt.MaxPool(name=name, inputs=[ctx.layer_of[st.inputs[0]]], output_shape=tuple(ctx.graph.shape(st.output)[1:]),
                       kernel=k, stride=stride)
    rep.scale = ctx.lam[st.inputs[0]]
    return layer, ctx.lam[st.inputs[0]]


def add_threshold(theta_max: int) -> int:
    """θ of a residual-add layer: its input multipliers are rint(θ·λ_i/λ_out), so 256 gives 8 bits of them."""
    return min(theta_max, 256)


# θ of a fused residual add is θ_main·M, the largest multiple of the main synapse's θ up to this:
# the other inputs' multipliers rint(θ/θ_k) and rint(θ·λ_k/λ_out) are then within 1/8192 of exact
# (while the normalized bias, up to about 4 at 16 bias bits, keeps its range)
FUSED_THETA = 4096


@dataclass
class Synapse:
    """A synapse stage's integers, normalized to its add's λ_out: w·λ_in/λ_out ≈ q/θ (θ per channel)."""

    name: str  # model layer (the conv)
    q: np.ndarray  # (O, C/g, kh, kw) integer weights
    theta: np.ndarray  # (O,) the quantizer's θ, per output channel (equal values when per tensor)
    bias: np.ndarray  # (O,) normalized float bias b/λ_out
    lam_in: float
    i_max: int  # max_o Σ|q| · max |input value|: the largest |current| (before its multiplier)


@EMITTERS.register("synapse")
def emit_synapse(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    """A conv fused into a residual add: a conv layer without neurons (its current feeds the add),
    quantized on the add's λ_out; the add (emitted next) chooses the multipliers and the bias."""
    opts, spec = ctx.opts, ctx.spec
    bits = opts.bits_of(st.name)
    lam_in, lam_out = ctx.lam[st.inputs[0]], ctx.scales[st.feeds]
    per_channel = opts.per_channel and spec.per_channel_threshold
    w = np.asarray(st.node.params["weight"], dtype=np.float64)
    b = np.asarray(st.node.params.get("bias", np.zeros(w.shape[0])), dtype=np.float64)
    qw, bn = quantize_layer(ctx, st, w * lam_in / lam_out, b / lam_out, lam_in, bits, per_channel)
    theta = np.broadcast_to(qw.theta, (w.shape[0],)).astype(np.int64)
    i_max = int(np.abs(qw.q).reshape(w.shape[0], -1).sum(axis=1).max()) * ctx.smax[st.inputs[0]]
    ctx.synapses[st.output] = Synapse(st.name, qw.q, theta, bn, lam_in, i_max)
    q, padding = embed_kernel(qw.q, tuple(attr(st.node, "padding")), spec)
    layer = rt.Conv(name=name, inputs=[ctx.layer_of[st.inputs[0]]], output_shape=tuple(ctx.graph.shape(st.output)[1:]),
                    weight=q.astype(np.int8), bits=bits, stride=tuple(attr(st.node, "stride")),
                    padding=padding, groups=int(attr(st.node, "groups")), neuron=None,
                    input_dilation=tuple(attr(st.node, "input_dilation")))
    fan_in = int(np.prod(q.shape[1:]))
    rep.bits, rep.weight_bytes = bits, (q.size * bits + 7) // 8
    rep.fan_in, rep.row_bits, rep.row_budget = fan_in, fan_in * bits, spec.synapse_row_bits
    rep.scale, rep.weight_error = lam_out, qw.error
    zero = float(np.mean(qw.q == 0)) if qw.q.size else 0.0
    if zero > zero_limit(bits, spec.weight_encoding):
        ctx.warnings.append(f"layer {name}: {zero:.0%} of its weights round to 0 ({spec.weight_encoding} encoding); "
                            "the layer keeps little of the float one: try --per-channel or more bits")
    return layer, lam_out


def _channel_ints(values: np.ndarray) -> int | tuple[int, ...]:
    """An add multiplier: one integer when every channel has the same, else one per channel."""
    v = [int(x) for x in np.asarray(values).reshape(-1)]
    return v[0] if len(set(v)) == 1 else tuple(v)


def _emit_fused_add(ctx: EmitContext, st: Stage, name: str, rep: LayerReport, lam_out: float, out_shape):
    """The fused residual layer's neurons: θ_c = θ_main,c · M_c, synapse k's multiplier rint(θ_c/θ_k,c)
    (exactly M_c for the main one), a spiking input's rint(θ_c · λ_k/λ_out); the synapses' biases summed."""
    syn = {v: ctx.synapses[v] for v in st.inputs if v in ctx.synapses}
    main = max(syn.values(), key=lambda s: s.q.size)  # the block's main branch (not the 1x1 projection)
    per_channel = len(set(main.theta.tolist())) > 1 or (ctx.opts.per_channel and ctx.spec.per_channel_threshold)
    cap = min(ctx.theta_max, FUSED_THETA)
    theta = main.theta * np.maximum(1, cap // main.theta)
    mults, bound = [], 0
    for v in st.inputs:
        if v in syn:
            m = np.rint(theta / syn[v].theta).astype(np.int64)
            if (m == 0).any():
                m = np.maximum(m, 1)
                ctx.warnings.append(f"layer {name}: the weights of {syn[v].name} are {int(syn[v].theta.max())}x finer "
                                    f"than the add's threshold allows; their multiplier is rounded up to 1")
            bound += int(m.max()) * syn[v].i_max
        else:
            m = np.rint(theta * ctx.lam[v] / lam_out).astype(np.int64)
            bound += int(np.abs(m).max()) * ctx.smax[v]
        mults.append(_channel_ints(m))
    bias_norm = sum(s.bias for s in syn.values())
    bias_int, clipped = quantize_bias(bias_norm, theta, ctx.spec.bias_bits)
    th = [int(t) for t in theta] if per_channel else [int(theta[0])]
    layer = rt.Add(name=name, inputs=[ctx.layer_of[v] for v in st.inputs], output_shape=out_shape, multipliers=mults,
                   neuron=ctx.neuron(th, bias_int.tolist()))
    theta_f = theta.astype(np.float64)
    for k, v in enumerate(st.inputs):  # the quantized ANN: each synapse conv as the integers scale it
        if v not in syn:
            continue
        s = syn[v]
        m = np.broadcast_to(np.asarray(mults[k], dtype=np.float64), theta.shape)
        qn = ctx.qnodes[s.name]
        scale = (m / theta_f * lam_out / s.lam_in).reshape((-1,) + (1,) * (s.q.ndim - 1))
        qn.params["weight"] = (s.q * scale).astype(np.float64)
        qn.params["bias"] = (bias_int / theta_f * lam_out if s is main else np.zeros(theta.shape)).astype(np.float64)
    clip_activation(ctx.qnodes[st.act.name], lam_out)
    rep.theta_min, rep.theta_max = int(theta.min()), int(theta.max())
    rep.scale, rep.bias_clipped = lam_out, clipped
    bias_abs = int(np.abs(bias_int).max()) if bias_int.size else 0
    v0 = int(theta.max()) // 2 if ctx.opts.v_init == "half" else 0
    rep.membrane_bound = v0 + int(theta.max()) + ctx.opts.timesteps * (bound + bias_abs)
    if clipped:
        ctx.warnings.append(f"layer {name}: {clipped} bias value(s) clipped to the {ctx.spec.bias_bits}-bit bias range")
    return layer, lam_out


@EMITTERS.register("add")
def emit_add(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    lam_out = ctx.scales[st.output]
    out_shape = tuple(ctx.graph.shape(st.output)[1:])
    if any(v in ctx.synapses for v in st.inputs):
        return _emit_fused_add(ctx, st, name, rep, lam_out, out_shape)
    theta = add_threshold(ctx.theta_max)
    mult = [int(np.rint(theta * ctx.lam[v] / lam_out)) for v in st.inputs]
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


@EMITTERS.register("host_op")
def emit_host_op(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    """A layer of a hybrid network's host part: the float op as the model has it (float32
    parameters, every attribute resolved); a core input is read as its spike rates times λ."""
    from snnc.runtime.host_ops import HOST_OPS

    _, names, allowed = HOST_OPS[st.node.op]
    attrs = {}
    for n in names:
        v = attr(st.node, n)
        attrs[n] = [int(x) for x in v] if isinstance(v, (list, tuple)) else v
    params = {k: np.asarray(v, dtype=np.float32) for k, v in st.node.params.items() if k in allowed}
    host = {s.output for s in ctx.plan if s.kind == "host_op"}
    scales = [None if v in host else ctx.lam[v] for v in st.inputs]
    layer = rt.HostOp(name=name, inputs=[ctx.layer_of[v] for v in st.inputs], output_shape=tuple(ctx.graph.shape(st.output)[1:]),
                      op=st.node.op, attrs=attrs, params=params, input_scales=scales)
    return layer, 1.0


@EMITTERS.register("host_linear")
def emit_host_linear(ctx: EmitContext, st: Stage, name: str, rep: LayerReport):
    w = np.asarray(st.node.params["weight"], dtype=np.float32)
    b = np.asarray(st.node.params.get("bias", np.zeros(w.shape[0])), dtype=np.float32)
    layer = rt.HostLinear(name=name, inputs=[ctx.layer_of[st.inputs[0]]], output_shape=(w.shape[0],), weight=w, bias=b,
                          input_scale=ctx.lam[st.inputs[0]], softmax=any(n.op == "softmax" for n in st.extra))
    return layer, 1.0
