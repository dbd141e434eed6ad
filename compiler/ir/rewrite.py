"""Graph-rewrite helpers: the one place that rewires values, removes and splices nodes, and
makes up fresh names. Passes (canonicalize, fold_bn) and front ends use these instead of
editing `graph.nodes` by hand.

Two forms:

- whole-graph functions (`replace_uses`, `remove_nodes`, `prune_values`, `unique_name`,
  `rank_of`): one walk over the graph each, for a one-off edit;
- a `Rewriter`, for a pass that makes many edits: it builds the use-lists (producer and readers
  of every value) once and keeps them up to date through its own edits, so each query and edit
  costs what the values involved have readers, not what the graph has nodes. Removed and spliced
  nodes leave `graph.nodes` only at `commit()` (one walk), which a pass calls before it reads
  `graph.nodes` again and when it is done. While a `Rewriter` has uncommitted edits, edit the
  graph only through it.

Naming: a fresh name is `base`, else `base_1`, `base_2`, ... (the first not taken).
"""
from __future__ import annotations

from collections import Counter
from typing import Callable, Container, Iterable

from snnc.compiler.ir.graph import Graph, Node


# -- names ----------------------------------------------------------------------------------------------
def unique_name(base: str, taken: Container[str] | Callable[[str], bool]) -> str:
    """`base`, or `base_1`, `base_2`, ...: the first name not `taken` (a container or a predicate)."""
    is_taken = taken if callable(taken) else taken.__contains__
    name, i = base, 1
    while is_taken(name):
        name, i = f"{base}_{i}", i + 1
    return name


# -- whole-graph edits -------------------------------------------------------------------------------------
def replace_uses(graph: Graph, old: str, new: str) -> None:
    """Make every reader of `old` (nodes and graph outputs) read `new` instead."""
    for n in graph.nodes:
        if old in n.inputs:
            n.inputs = [new if i == old else i for i in n.inputs]
    if old in graph.outputs:
        graph.outputs = [new if o == old else o for o in graph.outputs]


def remove_nodes(graph: Graph, nodes: Iterable[Node]) -> None:
    """Drop these nodes (by identity) from the graph; their values stay until `prune_values`."""
    gone = {id(n) for n in nodes}
    graph.nodes = [n for n in graph.nodes if id(n) not in gone]


def prune_values(graph: Graph) -> None:
    """Drop values nothing reads or writes any more."""
    used = set(graph.inputs) | set(graph.outputs)
    for n in graph.nodes:
        used.update(n.inputs)
        used.update(n.outputs)
    graph.values = {k: v for k, v in graph.values.items() if k in used}


def rank_of(graph: Graph, value: str) -> int | None:
    """The rank of `value`'s shape, None when its shape is unknown."""
    shp = graph.shape(value)
    return None if shp is None else len(shp)


# -- many edits ---------------------------------------------------------------------------------------------
class Rewriter:
    """Edits `graph` with its use-lists kept up to date (see the module docstring).

    Queries: `producer`, `readers`, `sole_reader`, `alive`. Edits: `set_inputs`, `set_outputs`,
    `replace_uses`, `remove`, `splice`, `bypass`, `absorb`; names: `fresh_node_name`,
    `fresh_value`. `commit()` writes the node list back to `graph.nodes`; `nodes()` commits and
    returns a snapshot of it.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self._producer: dict[str, Node] = {}
        self._readers: dict[str, dict[int, Node]] = {}
        self._names: Counter[str] = Counter()
        self._live: set[int] = set()
        self._splices: dict[int, list[Node]] = {}
        self._dirty = False
        for n in graph.nodes:
            self._add(n)

    # -- index upkeep ---------------------------------------------------------------------------------
    def _add(self, node: Node) -> None:
        self._live.add(id(node))
        self._names[node.name] += 1
        for o in node.outputs:
            self._producer.setdefault(o, node)
        for i in node.inputs:
            self._readers.setdefault(i, {})[id(node)] = node

    def _drop(self, node: Node) -> None:
        self._live.discard(id(node))
        self._names[node.name] -= 1
        for o in node.outputs:
            if self._producer.get(o) is node:
                del self._producer[o]
        for i in node.inputs:
            readers = self._readers.get(i)
            if readers is not None:
                readers.pop(id(node), None)
                if not readers:
                    del self._readers[i]

    # -- queries --------------------------------------------------------------------------------------
    def alive(self, node: Node) -> bool:
        """Whether `node` is (still) part of the graph."""
        return id(node) in self._live

    def producer(self, value: str) -> Node | None:
        return self._producer.get(value)

    def readers(self, value: str) -> list[Node]:
        """The nodes reading `value` (each once)."""
        return list(self._readers.get(value, {}).values())

    def sole_reader(self, value: str) -> Node | None:
        """The only node reading `value`, if exactly one does (once) and it is not a graph output."""
        if value in self.graph.outputs:
            return None
        readers = self._readers.get(value)
        if not readers or len(readers) != 1:
            return None
        (node,) = readers.values()
        return node if node.inputs.count(value) == 1 else None

    # -- edits ----------------------------------------------------------------------------------------
    def set_inputs(self, node: Node, inputs: list[str]) -> None:
        live = self.alive(node)
        if live:
            self._drop(node)
        node.inputs = list(inputs)
        if live:
            self._add(node)

    def set_outputs(self, node: Node, outputs: list[str]) -> None:
        live = self.alive(node)
        if live:
            self._drop(node)
        node.outputs = list(outputs)
        if live:
            self._add(node)

    def replace_uses(self, old: str, new: str) -> None:
        """Make every reader of `old` (nodes and graph outputs) read `new` instead."""
        for n in self.readers(old):
            self.set_inputs(n, [new if i == old else i for i in n.inputs])
        if old in self.graph.outputs:
            self.graph.outputs = [new if o == old else o for o in self.graph.outputs]

    def remove(self, node: Node) -> None:
        """Take `node` out of the graph (its values stay until `prune_values`)."""
        if self.alive(node):
            self._drop(node)
            self._dirty = True

    def splice(self, node: Node, new_nodes: list[Node]) -> None:
        """Put `new_nodes` (in order) where `node` is; `node` itself may be one of them."""
        self._drop(node)
        for n in new_nodes:
            self._add(n)
        self._splices[id(node)] = list(new_nodes)
        self._dirty = True

    def bypass(self, node: Node) -> None:
        """Remove a one-input node, making its readers read its input. A graph output keeps its
        name: the producer of the input is renamed to write it (when nothing else needs the old name)."""
        self.remove(node)
        src = self.producer(node.input)
        if node.output in self.graph.outputs and src is not None and node.input not in self.graph.outputs:
            self.absorb(src, node.output)
        else:
            self.replace_uses(node.output, node.input)

    def absorb(self, keep: Node, value: str) -> None:
        """Make `keep` write `value` (the output of a node just removed) instead of its own output,
        so downstream names, graph output names included, are unchanged."""
        g = self.graph
        old = keep.output
        self.replace_uses(old, value)
        self.set_outputs(keep, [value])
        shp = g.shape(old)
        g.values.pop(old, None)
        if g.shape(value) is None and shp is not None:
            g.add_value(value, shp)

    # -- names ----------------------------------------------------------------------------------------
    def fresh_node_name(self, base: str) -> str:
        """A node name no node of the graph has."""
        return unique_name(base, lambda n: self._names[n] > 0)

    def fresh_value(self, base: str, shape=None) -> str:
        """A new value (registered in `graph.values`) named after `base`."""
        name = unique_name(base, self.graph.values)
        self.graph.add_value(name, shape)
        return name

    # -- the node list --------------------------------------------------------------------------------
    def commit(self) -> None:
        """Write removals and splices back to `graph.nodes`, keeping the order."""
        if not self._dirty:
            return
        out: list[Node] = []

        def place(n: Node, seen: frozenset) -> None:
            parts = self._splices.get(id(n))
            if parts is not None and id(n) not in seen:
                for p in parts:
                    place(p, seen | {id(n)})
            elif self.alive(n):
                out.append(n)

        for n in self.graph.nodes:
            place(n, frozenset())
        self.graph.nodes = out
        self._splices.clear()
        self._dirty = False

    def nodes(self) -> list[Node]:
        """Commit, then a snapshot of the graph's nodes in order."""
        self.commit()
        return list(self.graph.nodes)
