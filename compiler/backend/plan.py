"""Group a canonical IR graph into the stages of a spiking network.

A stage is what becomes one artefact layer: a conv or linear with the ReLU/Clip that follows it
(a spiking layer), an average pool, a residual add with its ReLU, a flatten, a concat, or the
final linear (+ softmax) that the host computes. Activations never stand alone on the core: the IF
neuron implements them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node

WEIGHTED = ("conv", "linear")
ACTS = ("relu", "clip")


@dataclass
class Stage:
    kind: str  # conv | linear | avgpool | add | flatten | concat | host_linear
    node: Node
    inputs: list[str]  # IR values read
    output: str  # IR value written (after the activation, if any)
    act: Node | None = None
    extra: list[Node] = field(default_factory=list)  # nodes absorbed (softmax after host, no-op relu)

    @property
    def name(self) -> str:
        return self.node.name


def _sole_consumer(graph: Graph, value: str) -> Node | None:
    users = graph.consumers(value)
    return users[0] if len(users) == 1 and value not in graph.outputs else None


def host_node(graph: Graph) -> Node | None:
    """The final linear layer: a linear without activation whose output (or its softmax) is the graph output."""
    for node in reversed(graph.nodes):
        if node.op == "linear":
            out = node.output
            user = _sole_consumer(graph, out)
            if out in graph.outputs or (user is not None and user.op == "softmax" and user.output in graph.outputs):
                return node
            return None
    return None


def plan_stages(graph: Graph) -> list[Stage]:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise SnncError(f"{graph.name}: compile supports one input and one output")
    host = host_node(graph)
    stages: list[Stage] = []
    absorbed: set[int] = set()
    for node in graph.nodes:
        if id(node) in absorbed:
            continue
        if node is host:
            st = Stage("host_linear", node, list(node.inputs), node.output)
            user = _sole_consumer(graph, node.output)
            if user is not None and user.op == "softmax":
                st.extra.append(user)
                st.output = user.output
                absorbed.add(id(user))
            stages.append(st)
            continue
        if node.op in WEIGHTED or (node.op == "add" and len(node.inputs) == 2):
            act = _sole_consumer(graph, node.output)
            if act is None or act.op not in ACTS:
                raise SnncError(
                    f"layer {node.name} ({node.op}): must be followed by a ReLU to run on the spiking core "
                    "(run `snnc check` for the full report)"
                )
            absorbed.add(id(act))
            stages.append(Stage(node.op, node, list(node.inputs), act.output, act=act))
            continue
        if node.op in ("avgpool", "globalavgpool"):
            stages.append(Stage("avgpool", node, list(node.inputs), node.output))
            continue
        if node.op == "flatten":
            stages.append(Stage("flatten", node, list(node.inputs), node.output))
            continue
        if node.op == "concat" and node.attrs.get("axis", 1) == 1:
            stages.append(Stage("concat", node, list(node.inputs), node.output))
            continue
        if node.op == "relu" and stages and stages[-1].output == node.input:
            # ReLU of non-negative spike rates (e.g. after a pool) is the identity.
            stages[-1].extra.append(node)
            stages[-1].output = node.output
            continue
        raise SnncError(
            f"layer {node.name}: op '{node.op}' cannot be placed on the spiking core "
            "(run `snnc check` for the full report)"
        )
    if host is None:
        raise SnncError(f"{graph.name}: no final linear layer for the host (the model must end in Linear/Gemm, optionally + Softmax)")
    return stages
