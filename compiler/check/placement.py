"""Where each node runs: on the spiking core, or on the host.

Per `spec.host_layers`: `final_linear` puts the last linear layer of the graph on the host, and
`softmax` puts softmax there; a hybrid graph (--host-from) puts everything from its cut there. ReLU-like activations are the neuron's nonlinearity: they run
wherever the layer they follow runs. Everything else is on the core.
"""
from __future__ import annotations

from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import ACTIVATIONS
from snnc.hwspec import HardwareSpec

CORE, HOST = "core", "host"

# host_layers entry -> how to find its nodes
HOST_FINDERS = {
    "final_linear": lambda g: [n for n in g.nodes if n.op == "linear"][-1:],
    "softmax": lambda g: [n for n in g.nodes if n.op == "softmax"],
}


def place(graph: Graph, spec: HardwareSpec) -> dict[str, str]:
    """node name -> "core" | "host". A hybrid graph (`meta["host_from"]`, set by --host-from) runs
    that node and every node after it on the host, and nothing else."""
    cut = graph.meta.get("host_from")
    if cut is not None:
        names = [n.name for n in graph.nodes]
        if cut in names:
            at = names.index(cut)
            return {name: HOST if i >= at else CORE for i, name in enumerate(names)}
    host: set[str] = set()
    for entry in spec.host_layers:
        host.update(n.name for n in HOST_FINDERS[entry](graph))
    placement: dict[str, str] = {}
    for node in graph.nodes:
        where = HOST if node.name in host else CORE
        if node.op in ACTIVATIONS:
            src = graph.producer(node.input)
            if src is not None:
                where = placement[src.name]
        placement[node.name] = where
    return placement


def fused_activation(graph: Graph, node: Node) -> Node | None:
    """The ReLU-like node that is the only reader of `node`'s output, if any."""
    if node.output in graph.outputs:
        return None
    readers = graph.consumers(node.output)
    if len(readers) == 1 and readers[0].op in ACTIVATIONS:
        return readers[0]
    return None


def is_relu_like(node: Node) -> bool:
    """ReLU, or clip with min 0 (ReLU6 and friends): what the spiking neuron computes."""
    if node.op == "relu":
        return True
    return node.op == "clip" and float(node.attrs.get("min", -1.0)) == 0.0


def fused_add(graph: Graph, node: Node, spec: HardwareSpec) -> Node | None:
    """The residual add that a conv without a ReLU of its own fuses into, or None.

    A conv (BN already folded) fuses when the spec has `fused_residual`, its output is read only
    by an add of two tensors, and that add's output is read only by a ReLU (or Clip(0, c)): the
    add's neurons integrate the conv's synaptic current (docs/semantics.md section 6), so the ReLU
    after the add is the conv's ReLU too (HW003 is met)."""
    if not spec.fused_residual or node.op != "conv" or node.output in graph.outputs:
        return None
    readers = graph.consumers(node.output)
    if len(readers) != 1 or readers[0].op != "add" or len(readers[0].inputs) != 2:
        return None
    add = readers[0]
    after = graph.consumers(add.output)
    if add.output in graph.outputs or len(after) != 1 or not is_relu_like(after[0]):
        return None
    return add
