"""Graph, Node and Value: the whole IR.

A `Graph` is a list of `Node`s in topological order. Nodes read and write named `Value`s;
float parameters (weights, biases, BatchNorm statistics, constant operands) are numpy arrays
attached to the node that uses them, so there are no free-floating constants. Shapes include
the batch axis at position 0, which is `None` when the model leaves it dynamic.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

Shape = tuple  # tuple[int | None, ...]


@dataclass
class Value:
    """A tensor flowing between nodes. `shape` is None until shape inference has run."""

    name: str
    shape: Shape | None = None


@dataclass
class Node:
    """One operation. `name` is the user's layer name (ONNX node name or torch module path).

    `op` is a key of `snnc.compiler.ir.ops.OPS`; `attrs` holds plain Python values (ints,
    floats, tuples), `params` holds float numpy arrays.
    """

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.outputs[0]

    @property
    def input(self) -> str:
        return self.inputs[0]


@dataclass
class Graph:
    name: str
    inputs: list[str]
    outputs: list[str]
    nodes: list[Node] = field(default_factory=list)
    values: dict[str, Value] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # source file, importer, ...

    # -- queries -------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def producer(self, value: str) -> Node | None:
        for n in self.nodes:
            if value in n.outputs:
                return n
        return None

    def consumers(self, value: str) -> list[Node]:
        return [n for n in self.nodes if value in n.inputs]

    def shape(self, value: str) -> Shape | None:
        v = self.values.get(value)
        return None if v is None else v.shape

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    # -- edits -----------------------------------------------------------------------------
    def copy(self) -> "Graph":
        return copy.deepcopy(self)

    def add_value(self, name: str, shape: Shape | None = None) -> Value:
        v = self.values.get(name)
        if v is None:
            v = self.values[name] = Value(name, shape)
        elif shape is not None:
            v.shape = shape
        return v

    def fresh_value_name(self, base: str) -> str:
        name, i = base, 1
        while name in self.values:
            name, i = f"{base}_{i}", i + 1
        return name

    def replace_uses(self, old: str, new: str) -> None:
        """Make every reader of `old` (nodes and graph outputs) read `new` instead."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def remove_node(self, node: Node) -> None:
        self.nodes = [n for n in self.nodes if n is not node]

    def prune_values(self) -> None:
        """Drop values nothing reads or writes any more."""
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(n.inputs)
            used.update(n.outputs)
        self.values = {k: v for k, v in self.values.items() if k in used}
