"""Graph, Node and Value: the whole IR.

A `Graph` is a list of `Node`s in topological order. Nodes read and write named `Value`s;
float parameters (weights, biases, BatchNorm statistics, constant operands) are numpy arrays
attached to the node that uses them, so there are no free-floating constants. Shapes include
the batch axis at position 0, which is `None` when the model leaves it dynamic.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

Shape = tuple  # tuple[int | None, ...]

# -- change tracking ------------------------------------------------------------------------------
# `Graph.producer`, `consumers` and `node` answer from an index built once and reused until the
# graph changes, so a pass or check that asks them for every node stays linear. Any change to
# what the index depends on (a graph's node list, a node's name, inputs or outputs, assigned or
# edited in place) bumps one global generation number, and an index built at an older
# generation is rebuilt on the next query.
_GENERATION = [0]


def _bump() -> None:
    _GENERATION[0] += 1


class _TrackedList(list):
    """A list that bumps the generation whenever it is modified in place."""

    def __setitem__(self, i, v):
        _bump()
        super().__setitem__(i, v)

    def __delitem__(self, i):
        _bump()
        super().__delitem__(i)

    def __iadd__(self, other):
        _bump()
        return super().__iadd__(other)

    def __imul__(self, n):
        _bump()
        return super().__imul__(n)

    def append(self, v):
        _bump()
        super().append(v)

    def extend(self, vs):
        _bump()
        super().extend(vs)

    def insert(self, i, v):
        _bump()
        super().insert(i, v)

    def pop(self, *i):
        _bump()
        return super().pop(*i)

    def remove(self, v):
        _bump()
        super().remove(v)

    def clear(self):
        _bump()
        super().clear()

    def sort(self, **kwargs):
        _bump()
        super().sort(**kwargs)

    def reverse(self):
        _bump()
        super().reverse()


def _tracked(items: Iterable, bump: bool = True) -> _TrackedList:
    if bump:
        _bump()
    return items if type(items) is _TrackedList else _TrackedList(items)


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

    def __setattr__(self, name: str, value: Any) -> None:
        # A node still being constructed (its last field unset) is in no graph: no index to invalidate.
        built = "params" in self.__dict__
        if name in _NODE_TRACKED:
            value = _tracked(value, bump=built)
        elif name == "name" and built:
            _bump()
        object.__setattr__(self, name, value)

    @property
    def output(self) -> str:
        return self.outputs[0]

    @property
    def input(self) -> str:
        return self.inputs[0]


_NODE_TRACKED = ("inputs", "outputs")


@dataclass
class Graph:
    name: str
    inputs: list[str]
    outputs: list[str]
    nodes: list[Node] = field(default_factory=list)
    values: dict[str, Value] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # source file, importer, ...

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "nodes":
            value = _tracked(value, bump="meta" in self.__dict__)  # (a graph being constructed has no index)
        object.__setattr__(self, name, value)

    def __getstate__(self) -> dict:  # copies and pickles leave the index behind
        state = dict(self.__dict__)
        state.pop("_index", None)
        return state

    # -- queries -------------------------------------------------------------------------
    def _uses(self) -> "_Index":
        index = self.__dict__.get("_index")
        if index is None or index.generation != _GENERATION[0]:
            index = _Index(self.nodes)
            object.__setattr__(self, "_index", index)
        return index

    def node(self, name: str) -> Node:
        n = self._uses().by_name.get(name)
        if n is None:
            raise KeyError(name)
        return n

    def producer(self, value: str) -> Node | None:
        """The first node writing `value` (None for a graph input or an unknown value)."""
        return self._uses().producer.get(value)

    def consumers(self, value: str) -> list[Node]:
        """The nodes reading `value`, in graph order (each once)."""
        return list(self._uses().readers.get(value, ()))

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

    # The graph-editing helpers live in `snnc.compiler.ir.rewrite`; these are its one-off forms
    # (each a whole-graph walk). A pass making many edits uses a `rewrite.Rewriter`.
    def fresh_value_name(self, base: str) -> str:
        from snnc.compiler.ir.rewrite import unique_name

        return unique_name(base, self.values)

    def replace_uses(self, old: str, new: str) -> None:
        """Make every reader of `old` (nodes and graph outputs) read `new` instead."""
        from snnc.compiler.ir.rewrite import replace_uses

        replace_uses(self, old, new)

    def remove_node(self, node: Node) -> None:
        from snnc.compiler.ir.rewrite import remove_nodes

        remove_nodes(self, [node])

    def prune_values(self) -> None:
        """Drop values nothing reads or writes any more."""
        from snnc.compiler.ir.rewrite import prune_values

        prune_values(self)


class _Index:
    """Use-lists of a node list at one generation: producer and readers of each value, nodes by name."""

    def __init__(self, nodes: list[Node]):
        self.generation = _GENERATION[0]
        self.producer: dict[str, Node] = {}
        self.readers: dict[str, list[Node]] = {}
        self.by_name: dict[str, Node] = {}
        for n in nodes:
            self.by_name.setdefault(n.name, n)
            for o in n.outputs:
                self.producer.setdefault(o, n)
            for i in dict.fromkeys(n.inputs):
                self.readers.setdefault(i, []).append(n)
