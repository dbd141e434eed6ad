"""The constraint rules of `snnc check`.

Every limit comes from the `HardwareSpec` (no number lives here). Rules never stop at the first
problem: each returns all the violations it finds, and `run_rules` runs every rule.

Node rules are registered per op (`@node_rule("conv")`); graph rules see the whole graph.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from snnc.compiler.check.placement import CORE, HOST, fused_add, is_relu_like, place
from snnc.compiler.check.violations import Violation
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import ACTIVATIONS, attr
from snnc.compiler.registry import Registry
from snnc.hwspec import HardwareSpec


@dataclass
class Context:
    graph: Graph
    spec: HardwareSpec
    bits: int
    placement: dict[str, str]
    layer_bits: dict[str, int] = field(default_factory=dict)  # --bits-for: layer -> width

    def on_core(self, node: Node) -> bool:
        return self.placement.get(node.name) == CORE

    def bits_of(self, node: Node) -> int:
        return self.layer_bits.get(node.name, self.bits)


NodeRule = Callable[[Context, Node], Iterable[Violation]]
GraphRule = Callable[[Context], Iterable[Violation]]
RULES = Registry("check rule", multi=True)  # op -> node rules; ANY: rules for every node; GRAPH: graph rules
ANY, GRAPH = "*", "graph"


def node_rule(*ops: str) -> Callable[[NodeRule], NodeRule]:
    """Register a rule for nodes of the given ops (all nodes if none are given)."""
    return RULES.register(*(ops or (ANY,)))


graph_rule = RULES.register(GRAPH)


def run_rules(graph: Graph, spec: HardwareSpec, bits: int,
              layer_bits: dict[str, int] | None = None) -> tuple[Context, list[Violation]]:
    ctx = Context(graph, spec, bits, place(graph, spec), dict(layer_bits or {}))
    found: list[Violation] = []
    for fn in RULES.get(GRAPH, []):
        found.extend(fn(ctx))
    for node in graph.nodes:
        for fn in RULES.get(ANY, []) + RULES.get(node.op, []):
            found.extend(fn(ctx, node))
    return ctx, found


# -- layer types --------------------------------------------------------------------------------------
# IR op -> the core layer type of hw specs (`core_layer_types`). Activations are the neuron itself.
LAYER_TYPE = {
    "conv": "conv", "linear": "linear", "avgpool": "avgpool", "globalavgpool": "avgpool",
    "concat": "concat", "flatten": "flatten", "maxpool": "maxpool",
}

# Ops with a dedicated rule of their own (not reported as HW004 as well).
DEDICATED = {"batchnorm"}

UNSUPPORTED_HINTS = {
    "maxpool": "replace MaxPool with AvgPool (stride = kernel) and retrain, or pass --maxpool avgpool "
               "(snnc replaces it by an AvgPool of the same window, reported; accuracy may drop), or target a spec "
               "whose core_layer_types include maxpool (snnc's exact spiking max pool, docs/semantics.md section 6; "
               "e.g. examples/hw_v1_maxpool.yaml)",
    "add_const": "fold the constant into the bias of the layer before it, or remove it and retrain",
    "mul": "fold the scale into the weights of the layer before it (or make it a BatchNorm after a conv/linear)",
    "pad": "use the padding of the convolution that follows instead of a separate Pad",
    "reshape": "use Flatten (axis 1) before the linear layers; other reshapes are not supported on the core",
    "transpose": "remove the transpose (the core works in NCHW order)",
    "softmax": "softmax is only computed by the host, at the output",
}


def layer_type(node: Node) -> str:
    if node.op == "add":
        return "add" if len(node.inputs) == 2 else "add_const"
    return LAYER_TYPE.get(node.op, node.op)


def input_widening(graph: Graph, node: Node) -> int:
    """P for a conv / linear reading the graph input under the population encoding (docs/semantics.md
    section 5: the layers reading "input" see C*P channels, each weight repeated for its P neurons, so
    its synapse row holds P times the model's input channels); 1 otherwise. `graph.meta
    ["input_population"]` is set by `backend.substitute` from --input-encoding population --input-population P."""
    p = int(graph.meta.get("input_population", 1) or 1)
    return p if p > 1 and node.inputs and node.inputs[0] in graph.inputs else 1


def _population_note(p: int, model_channels: int, what: str = "input channels") -> str:
    return f" ({model_channels} {what} x population {p})" if p > 1 else ""


def kernel_of(node: Node) -> tuple[int, int]:
    w = node.params["weight"]
    return int(w.shape[2]), int(w.shape[3])


def _kernels(spec: HardwareSpec) -> str:
    return ", ".join(f"{k}x{k}" for k in spec.kernel_sizes)


def _bits_list(spec: HardwareSpec) -> str:
    return ", ".join(map(str, spec.weight_bits))


def V(code: str, ctx: Context, node: Node | None, message: str, actual, limit, rule: str, hint: str) -> Violation:
    return Violation(code=code, layer=node.name if node else "-", op=node.op if node else "-", message=message,
                     actual=actual, limit=limit, rule=rule, hint=hint)


# -- HW005: the bit width -------------------------------------------------------------------------------
@graph_rule
def bits_allowed(ctx: Context) -> list[Violation]:
    out = []
    if ctx.bits not in ctx.spec.weight_bits:
        out.append(V("HW005", ctx, None, f"{ctx.bits}-bit weights are not supported by {ctx.spec.name}",
                     ctx.bits, list(ctx.spec.weight_bits), "bits in weight_bits",
                     f"use --bits one of {_bits_list(ctx.spec)}"))
    for name, b in sorted(ctx.layer_bits.items()):
        if b not in ctx.spec.weight_bits:
            node = ctx.graph.node(name)
            out.append(V("HW005", ctx, node, f"{b}-bit weights (--bits-for) are not supported by {ctx.spec.name}",
                         b, list(ctx.spec.weight_bits), "bits in weight_bits",
                         f"use --bits-for {name}=N with N one of {_bits_list(ctx.spec)}"))
    return out


# -- convolutions -----------------------------------------------------------------------------------------
@node_rule("conv")
def conv_kernel(ctx: Context, node: Node) -> list[Violation]:
    """HW006 non-square kernel, HW002 kernel size not in the table."""
    if not ctx.on_core(node):
        return []
    kh, kw = kernel_of(node)
    if kh != kw:
        return [V("HW006", ctx, node, f"{kh}x{kw} kernel is not square", f"{kh}x{kw}", _kernels(ctx.spec),
                  "kh == kw (conv_in_channels_limit is indexed by square kernel size)",
                  f"use a square kernel ({_kernels(ctx.spec)}) for layer {node.name} and retrain")]
    if ctx.spec.embedded_kernel(kh, ctx.bits_of(node)) is not None:
        return []  # in the table, or embedded in a larger size of it (exact: emit.embed_kernel)
    sizes = ctx.spec.kernel_sizes
    if ctx.spec.embedded_kernel(kh) is not None:  # embeddable, but not at 1 bit: bipolar weights have no 0
        k = ctx.spec.embedded_kernel(kh)
        return [V("HW002", ctx, node, f"a {kh}x{kh} kernel runs as a centred {k}x{k} on {ctx.spec.name}, which needs "
                  "zero weights: 1-bit weights are bipolar (-1, +1)", f"{kh}x{kh} at 1 bit", _kernels(ctx.spec),
                  f"kernel size in conv_in_channels_limit ({_kernels(ctx.spec)}), or >= 2 bits to embed it",
                  f"use --bits-for {node.name}=2 (or more), or a {k}x{k} conv")]
    if kh > max(sizes):
        small = min(sizes)
        n = math.ceil((kh - 1) / (small - 1)) if small > 1 else None
        how = (f"replace the {kh}x{kh} conv {node.name} by {n} stacked {small}x{small} convs (same receptive field)"
               if n else f"replace the {kh}x{kh} conv {node.name} by a supported kernel size")
    else:
        k = min(s for s in sizes if s > kh)
        how = f"replace the {kh}x{kh} conv {node.name} by a {k}x{k} conv (padding {(k - 1) // 2}) or fold it into a neighbouring layer"
    return [V("HW002", ctx, node, f"{kh}x{kh} kernels are not supported by {ctx.spec.name}", f"{kh}x{kh}",
              _kernels(ctx.spec), f"kernel size in conv_in_channels_limit ({_kernels(ctx.spec)})",
              f"{how}, and retrain")]


@node_rule("conv")
def conv_in_channels(ctx: Context, node: Node) -> list[Violation]:
    """HW001: in_channels/groups * k * k * bits <= synapse_row_bits, via the spec's table."""
    if not ctx.on_core(node) or ctx.bits_of(node) not in ctx.spec.weight_bits:
        return []
    kh, kw = kernel_of(node)
    if kh != kw or ctx.spec.embedded_kernel(kh, ctx.bits_of(node)) is None:
        return []  # HW006 / HW002
    k, spec, bits = ctx.spec.embedded_kernel(kh), ctx.spec, ctx.bits_of(node)  # a 1x1 runs as a 3x3 on hw_v1
    groups = int(attr(node, "groups"))
    widen = input_widening(ctx.graph, node)  # population coding: C*P encoded input channels
    per_row = int(node.params["weight"].shape[1]) * widen  # input channels per synapse row
    limit = spec.conv_limit(k, bits)
    if limit is None:
        cols = sorted(spec.conv_in_channels_limit[k])
        ok = [b for b in cols if spec.fits_conv(k, per_row, b)]
        return [V("HW005", ctx, node, f"the spec gives no {k}x{k} limit at {bits} bits", bits, cols,
                  f"conv_in_channels_limit[{k}] has a column for the bit width",
                  f"use --bits-for {node.name}={max(ok)}" if ok else f"use a bit width with a {k}x{k} limit: {', '.join(map(str, cols))}")]
    if per_row <= limit:
        return []
    what = "in_channels" if groups == 1 else "in_channels/groups"
    rule = f"{what} * k * k * bits <= {spec.synapse_row_bits}"
    chans = f"{per_row} input channels" if groups == 1 else f"{per_row} input channels per group ({per_row * groups}/{groups})"
    chans += _population_note(widen, per_row // widen)
    shown = f"{kh}x{kh} conv (run as {k}x{k})" if kh != k else f"{k}x{k} conv"
    message = (f"{shown} with {chans} needs {per_row}*{k}*{k}*{bits} = {per_row * k * k * bits} "
               f"synapse-row bits > {spec.synapse_row_bits}; limit at {bits} bits is {limit}")
    hints = []
    fit = spec.largest_fitting_bits(k, per_row)
    if fit is not None and fit < bits:
        hints.append(f"use --bits-for {node.name}={fit}: limit {spec.conv_limit(k, fit)} >= {per_row}")
    parts = math.ceil(per_row / limit)
    if widen > 1:
        fewer = limit // (per_row // widen)
        if fewer >= 1:
            hints.append(f"use --input-population {fewer} (or fewer): {per_row // widen} x {fewer} <= {limit}")
    hints.append(f"split the {per_row} input channels of {node.name} into {parts} groups of <= {limit} "
                 f"(groups={parts * groups} if the model allows, or {parts} partial convolutions whose outputs are added)")
    return [V("HW001", ctx, node, message, per_row, limit, rule, "; or ".join(hints))]


@node_rule("conv")
def conv_followed_by_relu(ctx: Context, node: Node) -> list[Violation]:
    """HW003: the conv's output must go to a ReLU and nowhere else."""
    if not ctx.spec.conv_requires_relu or not ctx.on_core(node):
        return []
    g = ctx.graph
    readers = g.consumers(node.output)
    if len(readers) == 1 and is_relu_like(readers[0]) and node.output not in g.outputs:
        return []
    if fused_add(g, node, ctx.spec) is not None:
        return []  # conv -> add -> ReLU: the add's neurons integrate it (the fused residual layer)
    if node.output in g.outputs and not readers:
        actual = "graph output"
    else:
        actual = ", ".join(f"{r.op} {r.name}" for r in readers) + (" and the graph output" if node.output in g.outputs else "")
    hint = f"add a ReLU directly after {node.name} and retrain (the spiking neuron computes ReLU)"
    if len(readers) == 1 and readers[0].op == "add" and not ctx.spec.fused_residual:
        hint = (f"the spec {ctx.spec.name} has no fused residual layer (fused_residual): add a ReLU after {node.name}, "
                "or use a spec that has one")
    if len(readers) == 1 and readers[0].op == "maxpool":
        hint = f"move the ReLU after the MaxPool to directly after {node.name} (ReLU and max pooling commute)"
    elif len(readers) == 1 and readers[0].op == "transpose":
        hint = (f"the ReLU of {node.name} sits behind a layout transpose ({readers[0].name}) that snnc could not "
                "cancel: export with the converter's graph optimisers on, so the transpose pair disappears")
    elif len(readers) > 1 or (readers and node.output in g.outputs):
        hint = f"read {node.name}'s output only through one ReLU (the core exposes only the neuron's output)"
    return [V("HW003", ctx, node, f"conv output goes to {actual}, not to a ReLU alone", actual, "relu",
              "each convolution is followed by a ReLU (conv_requires_relu)", hint)]


# -- other layers ----------------------------------------------------------------------------------------
@node_rule()
def core_layer_type(ctx: Context, node: Node) -> list[Violation]:
    """HW004: every core layer's type must be in spec.core_layer_types."""
    if not ctx.on_core(node) or node.op in ACTIVATIONS or node.op in DEDICATED:
        return []
    t = layer_type(node)
    if t in ctx.spec.core_layer_types:
        return []
    allowed = ", ".join(ctx.spec.core_layer_types)
    hint = UNSUPPORTED_HINTS.get(t, f"replace {node.op} {node.name} by a supported layer type ({allowed})")
    if t == "transpose":
        src = ctx.graph.producer(node.input)
        readers = ", ".join(f"{r.op} {r.name}" for r in ctx.graph.consumers(node.output)) or "the model output"
        hint = (f"{node.name} is a layout transpose (perm {list(attr(node, 'perm'))}) between "
                f"{f'{src.op} {src.name}' if src else 'the model input'} and {readers} that snnc could not cancel "
                "against its inverse (only ReLU, Clip, Add, Mul and BatchNorm may lie between the two): export with "
                "the converter's graph optimisers on (tf2onnx's default), or keep the model in one layout")
    shown = "add of a constant" if t == "add_const" else t
    return [V("HW004", ctx, node, f"{shown} layers are not supported on the {ctx.spec.name} core", shown,
              list(ctx.spec.core_layer_types), "layer type in core_layer_types", hint)]


@node_rule("batchnorm")
def unfolded_batchnorm(ctx: Context, node: Node) -> list[Violation]:
    """HW008: a batchnorm that fold_bn could not fold."""
    src = ctx.graph.producer(node.input)
    after = f"{src.op} {src.name}" if src else "the graph input"
    return [V("HW008", ctx, node, f"BatchNorm after {after} could not be folded", f"after {after}",
              "directly after a conv/linear whose output has no other reader",
              "a BatchNorm must be folded into the conv/linear before it",
              f"move {node.name} directly after a conv or linear layer (whose output nothing else reads), "
              "or fold it into the weights by hand, and re-export")]


@node_rule()
def host_feeds_core(ctx: Context, node: Node) -> list[Violation]:
    """HW007: the host computes the network's last layers; nothing on the core may read them."""
    if not ctx.on_core(node):
        return []
    out = []
    for i in node.inputs:
        src = ctx.graph.producer(i)
        if src is not None and ctx.placement.get(src.name) == HOST:
            out.append(V("HW007", ctx, node, f"reads the output of host layer {src.name} ({src.op})",
                         f"{src.op} {src.name}", ", ".join(ctx.spec.host_layers),
                         "host layers (" + ", ".join(ctx.spec.host_layers) + ") come last",
                         f"make {src.name} the last layer: move {node.name} before it, or remove {node.name}"))
    return out


@node_rule("linear")
def linear_synapse_row(ctx: Context, node: Node) -> list[Violation]:
    """HW101 (warning): a core linear layer's neuron holds in_features * bits weight bits too."""
    bits = ctx.bits_of(node)
    if not ctx.on_core(node) or bits not in ctx.spec.weight_bits:
        return []
    widen = input_widening(ctx.graph, node)  # population coding: F*P encoded input features
    n_in = int(node.params["weight"].shape[1]) * widen
    row = ctx.spec.synapse_row_bits
    if n_in * bits <= row:
        return []
    limit = row // bits
    fit = [b for b in ctx.spec.weight_bits if n_in * b <= row]
    hint = f"use --bits-for {node.name}={max(fit)}: limit {row // max(fit)} >= {n_in}" if fit else (
        f"reduce the input features of {node.name} to <= {limit}")
    return [V("HW101", ctx, node,
              f"{n_in} input features{_population_note(widen, n_in // widen, 'features')} need {n_in}*{bits} = "
              f"{n_in * bits} synapse-row bits > {row} "
              "(the published limits cover convolutions; snnc assumes a linear neuron has the same row)",
              n_in, limit, f"in_features * bits <= {row}", hint)]


# -- resource budgets ------------------------------------------------------------------------------------
NEURON_OPS = ("conv", "linear", "add", "avgpool", "globalavgpool")  # core layers with IF neurons


def _weights(ctx: Context, node: Node) -> int:
    """Weights the core stores for a conv/linear: a kernel the spec's table lacks counts as the
    table size it runs as (emit.embed_kernel: a 1x1 is stored as a centred 3x3 on hw_v1)."""
    w = node.params["weight"]
    widen = input_widening(ctx.graph, node)  # population coding: the first layer stores C*P input channels
    if node.op != "conv":
        return int(w.size) * widen
    k = ctx.spec.embedded_kernel(int(w.shape[2])) if w.shape[2] == w.shape[3] else None
    return int(w.shape[0] * w.shape[1]) * widen * (k * k if k else int(w.shape[2] * w.shape[3]))


@graph_rule
def resource_budgets(ctx: Context) -> list[Violation]:
    """HW013 / HW014: the whole network's neurons and packed weight bits against the spec's budgets
    (optional spec parameters; no limit when a spec leaves them out), counted as the artefact
    stores them (`compiler.budgets`, shared with `snnc inspect`): a synaptic conv of a fused
    residual layer has no neurons of its own."""
    from snnc.compiler import budgets

    core = [n for n in ctx.graph.nodes if ctx.on_core(n)]
    neurons = [(n.name, budgets.neuron_count((ctx.graph.shape(n.output) or (None,))[1:])) for n in core
               if n.op in NEURON_OPS and (n.op != "add" or len(n.inputs) == 2)
               and not (n.op == "conv" and fused_add(ctx.graph, n, ctx.spec) is not None)]
    weights = [(n.name, budgets.weight_memory_bits(_weights(ctx, n), ctx.bits_of(n))) for n in core
               if n.op in ("conv", "linear")]
    return budgets.budget_violations(ctx.spec, neurons, weights)


# -- the stage plan ----------------------------------------------------------------------------------------
@graph_rule
def stage_plan_rule(ctx: Context) -> list[Violation]:
    """HW009-HW012: what the back end's stage planner cannot place (one rulebook: compile plans with
    the same code, so a model that passes check always compiles)."""
    from snnc.compiler.backend.plan import plan_violations

    return plan_violations(ctx.graph, ctx.spec)[1]
