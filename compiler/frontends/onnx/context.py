"""What importers see: `OnnxNode` (one ONNX node, attributes decoded) and `ImportContext`
(the constants known so far, the shapes ONNX's shape inference gave, and the IR being built).

Shape arithmetic on a dynamic batch (the legacy exporter's `x.view(x.size(0), -1)` becomes
Shape -> Gather -> Unsqueeze -> Concat -> Reshape) is folded with the symbol `BATCH` standing
for the batch size: shape tensors are then numpy object arrays mixing ints and `BATCH`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import OPS
from snnc.compiler.ir.rewrite import unique_name


class _Batch:
    """The dynamic batch size, as an element of a folded shape tensor."""

    def __repr__(self) -> str:
        return "BATCH"

    def __reduce__(self):  # keep it a singleton under copy/pickle
        return "BATCH"


BATCH = _Batch()


def is_symbolic(a: np.ndarray) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == object


class FoldError(Exception):
    """A folder met a constant node it cannot evaluate; the message is the reason shown to the user."""


@dataclass
class OnnxNode:
    """One ONNX node. `name` is the unique IR name (the ONNX name, or `<op_type>_<index>`)."""

    name: str
    op_type: str
    domain: str
    inputs: list[str]  # '' marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    index: int = 0

    @classmethod
    def from_proto(cls, proto: onnx.NodeProto, name: str, index: int) -> "OnnxNode":
        attrs = {}
        for a in proto.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            elif isinstance(v, list) and v and isinstance(v[0], bytes):
                v = [x.decode("utf-8", "replace") for x in v]
            attrs[a.name] = v
        return cls(name, proto.op_type, proto.domain, list(proto.input), list(proto.output), attrs, index)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def input(self, i: int) -> str:
        """The i-th input's value name, '' when absent."""
        return self.inputs[i] if i < len(self.inputs) else ""

    def extra_outputs_used(self, ctx: "ImportContext") -> bool:
        """Whether anything reads an output after the first (MaxPool indices, Dropout mask)."""
        return any(o in ctx.read for o in self.outputs[1:] if o)


class ImportContext:
    def __init__(self, source: str, opset: int, graph: Graph, shapes: dict[str, tuple], batch_dim: Any):
        self.source = source
        self.opset = opset
        self.graph = graph
        self.consts: dict[str, np.ndarray] = {}
        self.onnx_shapes = shapes  # value -> tuple of int | str (dim_param) | None, from ONNX inference
        self.batch_dim = batch_dim  # the graph input's dim 0: a dim_param string, an int, or None
        self.read: set[str] = set()  # values some node or the graph output reads
        self._node_names: set[str] = set()  # IR node names given out
        self.reserved: set[str] = set()  # the ONNX nodes' names, each kept for its own node
        self.current: str | None = None  # name of the ONNX node being converted
        self.batch_aliases: set = set()  # other dim_params known to equal the batch size
        self.fold_budget: int = 0  # elements constant folding may still allocate (set by the loader)

    # -- constants --------------------------------------------------------------------------
    def is_const(self, name: str) -> bool:
        return bool(name) and name in self.consts

    def const(self, name: str) -> np.ndarray:
        if name not in self.consts:
            raise ImportErrorModel(f"{self.source}: value '{name}' must be a constant")
        return self.consts[name]

    def optional_const(self, name: str) -> np.ndarray | None:
        return self.const(name) if name else None

    def param(self, name: str) -> np.ndarray:
        """A constant as a float IR parameter."""
        from snnc.compiler.frontends.onnx.registry import as_float

        a = self.const(name)
        if is_symbolic(a):
            raise ImportErrorModel(f"{self.source}: value '{name}' depends on the batch size")
        return as_float(a)

    def dynamic_inputs(self, node: OnnxNode) -> list[str]:
        return [i for i in node.inputs if i and i not in self.consts]

    # -- shapes -----------------------------------------------------------------------------
    def onnx_shape(self, name: str) -> tuple | None:
        """Shape from ONNX inference: ints, dim_param strings, or None for unknown dims."""
        if name in self.consts:
            return tuple(np.shape(self.consts[name]))
        return self.onnx_shapes.get(name)

    def shape(self, name: str) -> tuple | None:
        """IR shape: known ints, None for dynamic dims; None when even the rank is unknown."""
        s = self.onnx_shape(name)
        return None if s is None else tuple(d if isinstance(d, int) else None for d in s)

    def rank(self, name: str) -> int | None:
        s = self.onnx_shape(name)
        return None if s is None else len(s)

    def is_batch_dim(self, d: Any) -> bool:
        """The input's batch dim, or a symbol ONNX inference gave a value proven to have the same
        size (a Reshape with -1 at axis 0 that keeps the per-sample size: see `shape.py`)."""
        if d is None:
            return False
        return (self.batch_dim is not None and d == self.batch_dim) or d in self.batch_aliases

    # -- building the IR ----------------------------------------------------------------------
    def unique_node_name(self, base: str) -> str:
        def taken(n: str) -> bool:
            return n in self._node_names or (n in self.reserved and n != self.current)

        name = unique_name(base, taken)
        self._node_names.add(name)
        return name

    def fresh_value(self, base: str) -> str:
        name = self.graph.fresh_value_name(base)
        self.graph.add_value(name)
        return name

    def emit(
        self,
        op: str,
        inputs: list[str],
        output: str,
        *,
        name: str,
        attrs: dict | None = None,
        params: dict | None = None,
    ) -> Node:
        """Append one IR node; `name` is made unique; the output's shape comes from ONNX inference."""
        assert op in OPS, op  # programming error in an importer, not user input
        node = Node(self.unique_node_name(name), op, list(inputs), [output], dict(attrs or {}), dict(params or {}))
        self.graph.nodes.append(node)
        for i in inputs:
            self.graph.add_value(i, self.shape(i))
        self.graph.add_value(output, self.shape(output))
        return node
