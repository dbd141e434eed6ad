"""The snnc IR: one node dataclass, one value dataclass, a graph, an op vocabulary, a verifier,
a text dump and a float reference interpreter (the oracle every pass is checked against)."""
from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.compiler.ir.ops import OPS, OpSchema

__all__ = ["Graph", "Node", "Value", "OPS", "OpSchema"]
