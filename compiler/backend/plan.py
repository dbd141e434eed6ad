"""The stage plan: the back end's IR, planned once from a canonical graph and a hardware spec.

A stage is what becomes one artefact layer: a conv or linear with the ReLU/Clip that follows it
(a spiking layer), an average pool, a residual add with its ReLU, a *synapse* (a conv with no
ReLU of its own whose only reader is a residual add followed by a ReLU: a synaptic conv, whose
current the add's neurons integrate — the fused residual layer), a flatten, a concat, or the
final linear (+ softmax) that the host computes. Activations never stand alone on the core: the IF
neuron implements them.

Where each node runs comes from the check's placement rules (`check.placement.place`), and every
reason a graph cannot be planned is a `Violation` with a stable code and a hint: `snnc check`
reports the planner's findings among its own (`check.rules.stage_plan_rule`), so a model that
passes `check` always plans, and `compile` never refuses what `check` accepted.

Stage kinds are a registry (`STAGE_KINDS`, op -> planner); the emitters of `emit.py` are keyed by
the same kinds. To add a stage kind: a planner here, an emitter there, a runtime layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from snnc.compiler.check.placement import HOST, fused_add, is_relu_like, place
from snnc.compiler.check.violations import Violation
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import ACTIVATIONS, attr
from snnc.compiler.registry import Registry
from snnc.hwspec import HardwareSpec

# Stage kinds whose layer has IF neurons driven by weights (normalization gives them a λ_out).
SPIKING = ("conv", "linear", "add")


@dataclass
class Stage:
    kind: str  # conv | linear | synapse | avgpool | add | flatten | concat | host_linear | host_op
    node: Node
    inputs: list[str]  # IR values read
    output: str  # IR value written (after the activation, if any)
    act: Node | None = None
    extra: list[Node] = field(default_factory=list)  # nodes absorbed (softmax after host, no-op relu)
    # a synapse stage (a conv fused into a residual add): the add stage's output, whose λ_out scales it
    feeds: str | None = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def nodes(self) -> list[Node]:
        return [self.node] + ([self.act] if self.act is not None else []) + self.extra


class PlanError(SnncError):
    """The graph cannot be planned; `violations` says why (the same findings `snnc check` reports)."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        first = violations[0]
        more = f" (and {len(violations) - 1} more; run `snnc check` for the full report)" if len(violations) > 1 else ""
        super().__init__(f"layer {first.layer} ({first.op}): {first.message}; {first.hint}{more}")


@dataclass
class StagePlan:
    """The stages in order, with the artefact name of each. `verify()` checks the invariants."""

    graph: Graph
    stages: list[Stage]
    names: dict[str, str]  # model layer name -> artefact layer name
    # weight stage name -> its input moments, for GPTQ rounding (`rounding.py`; set by the calibrate step)
    moments: dict = field(default_factory=dict)

    def __iter__(self):
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    @property
    def spiking(self) -> list[Stage]:
        return [s for s in self.stages if s.kind in SPIKING]

    @property
    def host(self) -> Stage:
        return self.stages[-1]

    def verify(self) -> None:
        """Each stage reads the graph input or an earlier stage's output; every node belongs to
        exactly one stage; one host stage, last, writing the graph output."""
        g = self.graph
        written = {g.inputs[0]}
        seen: set[int] = set()
        for st in self.stages:
            missing = [v for v in st.inputs if v not in written]
            if missing:
                raise AssertionError(f"stage plan: {st.name} reads {missing} before they are written")
            if st.output in written:
                raise AssertionError(f"stage plan: {st.output} written twice")
            written.add(st.output)
            for n in st.nodes:
                if id(n) in seen:
                    raise AssertionError(f"stage plan: node {n.name} in two stages")
                seen.add(id(n))
        left = [n.name for n in g.nodes if id(n) not in seen]
        if left:
            raise AssertionError(f"stage plan: nodes in no stage: {left}")
        for st in self.stages:
            if st.kind == "synapse":
                fused = [s for s in self.stages if s.kind == "add" and s.output == st.feeds and st.output in s.inputs]
                if not fused:
                    raise AssertionError(f"stage plan: synapse {st.name} feeds no add stage")
        kinds = [s.kind for s in self.stages]
        if "host_op" in kinds:  # hybrid: the host ops are the tail, the last writes the graph output
            tail = kinds[kinds.index("host_op"):]
            if set(tail) != {"host_op"} or "host_linear" in kinds or self.host.output != g.outputs[0]:
                raise AssertionError(f"stage plan: expected the host ops last, writing the graph output, got {kinds}")
        elif kinds.count("host_linear") != 1 or kinds[-1] != "host_linear" or self.host.output != g.outputs[0]:
            raise AssertionError(f"stage plan: expected one host stage writing the graph output, got {kinds}")
        if sorted(self.names) != sorted(s.name for s in self.stages) or len(set(self.names.values())) != len(self.names):
            raise AssertionError("stage plan: artefact names are not one per stage")


# -- planning ------------------------------------------------------------------------------------------
@dataclass
class PlanContext:
    graph: Graph
    spec: HardwareSpec
    placement: dict[str, str]
    stages: list[Stage] = field(default_factory=list)
    absorbed: set[int] = field(default_factory=set)
    violations: list[Violation] = field(default_factory=list)
    written: set[str] = field(default_factory=set)  # values planned stages (or the graph input) provide
    spikes: dict[str, bool] = field(default_factory=dict)  # value -> carries spikes of a neuron layer (not input)
    from_input: dict[str, bool] = field(default_factory=dict)  # value -> its λ is the input's (through pools etc.)
    deferred: list[str] = field(default_factory=list)  # nodes left to another check rule (HW003, HW004, ...)

    def sole_reader(self, value: str) -> Node | None:
        users = self.graph.consumers(value)
        return users[0] if len(users) == 1 and value not in self.graph.outputs else None

    def refuse(self, code: str, node: Node | None, message: str, actual, limit, rule: str, hint: str) -> None:
        self.violations.append(Violation(code=code, layer=node.name if node else "-", op=node.op if node else "-",
                                         message=message, actual=actual, limit=limit, rule=rule, hint=hint))


Planner = Callable[[PlanContext, Node], None]
STAGE_KINDS = Registry("stage planner")


def _spiking(kind: str) -> Planner:
    def plan(ctx: PlanContext, node: Node) -> None:
        act = ctx.sole_reader(node.output)
        if act is None or not is_relu_like(act):
            add = fused_add(ctx.graph, node, ctx.spec) if kind == "conv" else None
            if add is not None and tuple(attr(node, "dilation")) == (1, 1):
                relu = ctx.graph.consumers(add.output)[0]
                ctx.stages.append(Stage("synapse", node, list(node.inputs), node.output, feeds=relu.output))
                return
            if kind == "conv" and ctx.spec.conv_requires_relu:
                return  # HW003 (check.rules.conv_followed_by_relu) reports it with its hints
            readers = ctx.graph.consumers(node.output)
            actual = ", ".join(f"{r.op} {r.name}" for r in readers) or "graph output"
            ctx.refuse("HW009", node, f"{node.op} output goes to {actual}, not to a ReLU alone", actual, "relu",
                       "a spiking layer's IF neuron computes ReLU: its output is read by one ReLU (or Clip(0, c))",
                       f"add a ReLU directly after {node.name} and retrain (or make {node.name} the final, host layer)")
            return
        if kind == "conv" and tuple(attr(node, "dilation")) != (1, 1):
            _not_in_artefact(ctx, node, f"dilation {tuple(attr(node, 'dilation'))}",
                             f"use an undilated conv (a larger kernel, or stacked convs) for {node.name}")
            return
        ctx.absorbed.add(id(act))
        ctx.stages.append(Stage(kind, node, list(node.inputs), act.output, act=act))
    return plan


for _op in ("conv", "linear"):
    STAGE_KINDS.register(_op)(_spiking(_op))


@STAGE_KINDS.register("add")
def _add(ctx: PlanContext, node: Node) -> None:
    if len(node.inputs) != 2:
        return  # an add of a constant: HW004 (add_const is no core layer type)
    _spiking("add")(ctx, node)


@STAGE_KINDS.register("avgpool")
def _avgpool(ctx: PlanContext, node: Node) -> None:
    if any(attr(node, "padding")):
        _not_in_artefact(ctx, node, "padding", f"remove the padding of {node.name} (pad the conv before it instead)")
        return
    k = tuple(attr(node, "kernel"))
    _pool(ctx, node, k)


@STAGE_KINDS.register("maxpool")
def _maxpool(ctx: PlanContext, node: Node) -> None:
    """The spiking max pool (docs/semantics.md section 6), where the spec's core runs max pooling."""
    if "maxpool" not in ctx.spec.core_layer_types:
        return  # HW004 reports it, with the replacement and the spec that would run it
    what = [w for w, bad in (("padding", any(attr(node, "padding"))), ("ceil_mode", bool(attr(node, "ceil_mode"))),
                             ("dilation", tuple(attr(node, "dilation")) != (1, 1))) if bad]
    if what:
        _not_in_artefact(ctx, node, " and ".join(what), f"use a MaxPool without {' or '.join(what)} at {node.name}")
        return
    if not ctx.spikes.get(node.input, False) and not ctx.from_input.get(node.input, False):
        _not_in_artefact(ctx, node, "an input that carries no spikes",
                         f"max-pool the output of a spiking layer at {node.name}")
        return
    ctx.stages.append(Stage("maxpool", node, list(node.inputs), node.output))


@STAGE_KINDS.register("globalavgpool")
def _globalavgpool(ctx: PlanContext, node: Node) -> None:
    shape = ctx.graph.shape(node.input)
    _pool(ctx, node, tuple(shape[2:]) if shape is not None and None not in shape[2:] else None)


def _pool(ctx: PlanContext, node: Node, k: tuple[int, ...] | None) -> None:
    """k None: the window is not known (shape inference stopped at an unsupported op before it)."""
    theta_max = 2 ** ctx.spec.threshold_bits - 1
    if k is not None and k[0] * k[1] > theta_max:
        ctx.refuse("HW010", node, f"a {k[0]}x{k[1]} pool window needs threshold {k[0] * k[1]} > {theta_max}",
                   k[0] * k[1], theta_max, f"kh * kw <= 2^threshold_bits - 1 = {theta_max}",
                   f"pool in smaller windows (e.g. two stacked pools) at {node.name}")
        return
    ctx.stages.append(Stage("avgpool", node, list(node.inputs), node.output))


@STAGE_KINDS.register("flatten")
def _flatten(ctx: PlanContext, node: Node) -> None:
    ctx.stages.append(Stage("flatten", node, list(node.inputs), node.output))


@STAGE_KINDS.register("concat")
def _concat(ctx: PlanContext, node: Node) -> None:
    if node.attrs.get("axis", 1) != 1:
        _not_in_artefact(ctx, node, f"axis {node.attrs.get('axis')}", "concatenate along the channel axis (1)")
        return
    fixed = [ctx.from_input.get(v, False) for v in node.inputs]
    if not all(ctx.spikes.get(v, False) for v in node.inputs) or (any(fixed) and not all(fixed)):
        _not_in_artefact(ctx, node, "the model input as a branch",
                         f"concatenate only outputs of spiking layers at {node.name} (the input carries currents, "
                         "on another scale)")
        return
    ctx.stages.append(Stage("concat", node, list(node.inputs), node.output))


@STAGE_KINDS.register("relu")
def _relu(ctx: PlanContext, node: Node) -> None:
    prev = ctx.stages[-1] if ctx.stages else None
    if prev is not None and prev.output == node.input and prev.kind != "host_linear":
        prev.extra.append(node)  # ReLU of non-negative spike rates (e.g. after a pool) is the identity
        prev.output = node.output
        return
    _not_in_artefact(ctx, node, "a ReLU of its own",
                     f"put {node.name} directly after a conv, linear or residual add (the neuron computes it)")


def _not_in_artefact(ctx: PlanContext, node: Node, what: str, hint: str) -> None:
    ctx.refuse("HW011", node, f"{node.op} with {what}: the v1 artefact has no such layer", what,
               "a layer kind of docs/artefact.md", "every core layer maps to an artefact layer kind", hint)


def _host(ctx: PlanContext) -> Node | None:
    """The final linear on the host, whose output (or that of its softmax) is the graph output."""
    g = ctx.graph
    host = [n for n in g.nodes if ctx.placement.get(n.name) == HOST and n.op == "linear"]
    if host:
        node = host[-1]
        out = node.output
        user = ctx.sole_reader(out)
        if out in g.outputs or (user is not None and user.op == "softmax" and user.output in g.outputs):
            return node
        after = ", ".join(f"{r.op} {r.name}" for r in g.consumers(out))
        ctx.refuse("HW012", node, f"the host layer's output goes to {after}, not to the model output",
                   after, "linear [+ softmax]", "the host computes the final linear (+ softmax) and hands back logits",
                   f"end the model at {node.name} (drop the ops after it, e.g. a final ReLU) and retrain")
        return None
    last = g.producer(g.outputs[0]) if g.outputs else None
    ctx.refuse("HW012", last, "the model does not end in a linear layer for the host", last.op if last else "-",
               "linear [+ softmax]", "the host computes the final linear (+ softmax) (spec: host_layers)",
               "end the model with a Linear (Gemm) layer, optionally followed by Softmax")
    return None


def plan_violations(graph: Graph, spec: HardwareSpec | None = None) -> tuple[StagePlan | None, list[Violation]]:
    """(the plan, []) or (None, every reason the graph cannot be planned). No spec: the shipped
    default (hw_v1), as for the CLI's `--hw`."""
    if spec is None:
        from snnc.hwspec import load_spec

        spec = load_spec("hw_v1")
    ctx = PlanContext(graph, spec, place(graph, spec))
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        ctx.refuse("HW012", None, f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs",
                   f"{len(graph.inputs)} in, {len(graph.outputs)} out", "1 in, 1 out",
                   "the artefact has one input and one output", "export a model with one input and one output")
        return None, ctx.violations
    hybrid = graph.meta.get("host_from") is not None
    host = None if hybrid else _host(ctx)
    ctx.written.add(graph.inputs[0])
    ctx.from_input[graph.inputs[0]] = True
    for node in graph.nodes:
        if id(node) in ctx.absorbed:
            continue
        if any(v not in ctx.written for v in node.inputs):
            ctx.deferred.append(node.name)  # downstream of a node that could not be planned: its cause is reported
            continue
        before = len(ctx.stages)
        if node is host:
            if not ctx.spikes.get(node.input, False):
                ctx.refuse("HW012", node, "the host layer reads the model input: no layer runs on the core", node.input,
                           "a spiking layer before the host", "the host computes from the core's spikes",
                           f"put at least one conv or linear layer (with its ReLU) before {node.name}")
                continue
            st = Stage("host_linear", node, list(node.inputs), node.output)
            user = ctx.sole_reader(node.output)
            if user is not None and user.op == "softmax":
                st.extra.append(user)
                st.output = user.output
                ctx.absorbed.add(id(user))
            ctx.stages.append(st)
            ctx.written.add(st.output)
            continue
        if ctx.placement.get(node.name) == HOST:
            if hybrid:
                _host_op(ctx, node)
                ctx.written.add(node.output)
            else:
                ctx.deferred.append(node.name)  # HW007 / HW012 report host nodes in the wrong place
            continue
        planner = STAGE_KINDS.get(node.op)
        if planner is None:
            if node.op not in ACTIVATIONS:
                _unknown(ctx, node)
                ctx.deferred.append(node.name)
            else:
                _not_in_artefact(ctx, node, "a ReLU of its own" if node.op == "relu" else "a clip of its own",
                                 f"put {node.name} directly after a conv, linear or residual add (the neuron computes it)")
            continue
        planner(ctx, node)
        if len(ctx.stages) == before and not ctx.violations and not any(n is node for st in ctx.stages for n in st.nodes):
            ctx.deferred.append(node.name)
        for st in ctx.stages[before:]:
            ctx.written.add(st.output)
            ctx.spikes[st.output] = st.kind in SPIKING + ("avgpool",) or (
                st.kind != "synapse" and all(ctx.spikes.get(v, False) for v in st.inputs))  # a synapse carries current
            ctx.from_input[st.output] = st.kind not in SPIKING + ("synapse",) and any(
                ctx.from_input.get(v, False) for v in st.inputs)
        if ctx.stages and ctx.stages[-1].extra and ctx.stages[-1].extra[-1] is node:
            ctx.written.add(node.output)
            ctx.spikes[node.output] = ctx.spikes.get(node.input, False)
            ctx.from_input[node.output] = ctx.from_input.get(node.input, False)
    if ctx.violations or ctx.deferred:
        return None, ctx.violations
    plan = StagePlan(graph, ctx.stages, artefact_names(ctx.stages))
    plan.verify()
    return plan, []


def _host_op(ctx: PlanContext, node: Node) -> None:
    """A node of a hybrid graph's host part: a float layer the host computes (runtime.host_ops).
    The host part reads one core value, which must carry spikes (its rates are what the host gets)."""
    from snnc.runtime.host_ops import HOST_OPS

    if node.op == "conv" and tuple(attr(node, "input_dilation")) != (1, 1):  # a ConvTranspose: no such host op
        ctx.refuse("HW012", node, "the host part cannot compute a transposed convolution (ConvTranspose)",
                   "conv_transpose", ", ".join(HOST_OPS), "a host op of docs/semantics.md section 7",
                   f"cut later (--host-from a layer after {node.name}), so that {node.name} runs on the core")
        return
    if node.op not in HOST_OPS:
        ctx.refuse("HW012", node, f"the host part cannot compute {node.op}", node.op, ", ".join(HOST_OPS),
                   "a host op of docs/semantics.md section 7", f"cut later (--host-from a layer after {node.name})")
        return
    host = {st.output for st in ctx.stages if st.kind == "host_op"}
    core = [v for v in node.inputs if v not in host]
    read = {v for st in ctx.stages if st.kind == "host_op" for v in st.inputs if v not in host} | set(core)
    if any(not ctx.spikes.get(v, False) for v in core) or len(read) > 1:
        cut = ctx.graph.meta.get("host_from")
        ctx.refuse("HW012", node, f"the host part (from {cut}) reads {', '.join(sorted(read))}", len(read),
                   "one spiking core layer", "the host receives the spike counts of one core layer",
                   f"cut at a layer that reads the output of one spiking layer (--host-from), not at {cut}")
        return
    ctx.stages.append(Stage("host_op", node, list(node.inputs), node.output))


def _unknown(ctx: PlanContext, node: Node) -> None:
    """An op no stage kind takes: HW004 reports it unless the spec lists its layer type."""
    from snnc.compiler.check.rules import layer_type

    if layer_type(node) in ctx.spec.core_layer_types:
        _not_in_artefact(ctx, node, f"op {node.op}", {
            "maxpool": f"replace MaxPool {node.name} with AvgPool (stride = kernel) and retrain, or pass "
                       "--maxpool avgpool (snnc replaces it, reported), or target a spec whose core_layer_types "
                       "include maxpool (the spiking max pool)",
        }.get(node.op, f"replace {node.op} {node.name} by a supported layer"))


def plan_stages(graph: Graph, spec: HardwareSpec | None = None) -> StagePlan:
    """The verified stage plan of `graph` on `spec`; `PlanError` (with the violations) if none exists."""
    plan, violations = plan_violations(graph, spec)
    if plan is None:
        if not violations:  # only findings of other check rules: compile runs the check first
            raise SnncError(f"{graph.name}: the model cannot be placed on the core; run `snnc check` for the report")
        raise PlanError(violations)
    return plan


def artefact_names(stages: list[Stage]) -> dict[str, str]:
    """Model layer name -> artefact layer name ([A-Za-z0-9_.-], unique): '/features/features.0/Conv'
    becomes 'features.features.0.Conv'. The mapping is kept in the artefact's provenance."""
    import re

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
