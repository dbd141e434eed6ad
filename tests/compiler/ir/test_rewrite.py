"""The graph-rewrite helpers (`snnc.compiler.ir.rewrite`) and the use-list index behind
`Graph.producer` / `consumers` / `node`."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.compiler.ir.rewrite import Rewriter, prune_values, rank_of, remove_nodes, replace_uses, unique_name
from snnc.compiler.ir.verify import verify


def chain(*ops: str) -> Graph:
    """x -> ops[0] -> v0 -> ops[1] -> v1 ... ; the last value is the graph output."""
    g = Graph("g", ["x"], [], values={"x": Value("x", (None, 4))})
    src = "x"
    for i, op in enumerate(ops):
        out = f"v{i}"
        g.nodes.append(Node(f"n{i}", op, [src], [out]))
        g.add_value(out, (None, 4))
        src = out
    g.outputs = [src]
    return g


def names(g: Graph) -> list[str]:
    return [n.name for n in g.nodes]


# -- names ---------------------------------------------------------------------------------------------
def test_unique_name_takes_the_first_free_suffix():
    assert unique_name("a", set()) == "a"
    assert unique_name("a", {"a", "a_1"}) == "a_2"
    assert unique_name("a", lambda n: n != "a_3" and n.startswith("a")) == "a_3"


# -- whole-graph edits ---------------------------------------------------------------------------------------
def test_replace_uses_rewires_nodes_and_graph_outputs():
    g = chain("relu", "relu")
    g.outputs = ["v0", "v1"]
    replace_uses(g, "v0", "x")
    assert g.nodes[1].inputs == ["x"] and g.outputs == ["x", "v1"]


def test_remove_nodes_and_prune_values():
    g = chain("relu", "identity", "relu")
    remove_nodes(g, [g.nodes[1]])
    replace_uses(g, "v1", "v0")
    prune_values(g)
    assert names(g) == ["n0", "n2"] and sorted(g.values) == ["v0", "v2", "x"]
    assert verify(g) == [] and rank_of(g, "v0") == 2 and rank_of(g, "nope") is None


# -- the index behind Graph's queries ----------------------------------------------------------------------
def test_graph_queries_follow_every_kind_of_edit():
    g = chain("relu", "relu", "relu")
    assert g.producer("v1").name == "n1" and names_of(g.consumers("v0")) == ["n1"]
    g.nodes[2].inputs[0] = "v0"                      # in-place edit of a node's inputs
    assert names_of(g.consumers("v0")) == ["n1", "n2"] and g.consumers("v1") == []
    g.nodes[1].outputs = ["w"]                       # assignment
    assert g.producer("w").name == "n1" and g.producer("v1") is None
    g.nodes.append(Node("n3", "relu", ["w"], ["v3"]))  # the node list itself
    assert names_of(g.consumers("w")) == ["n3"]
    del g.nodes[0]
    assert g.producer("v0") is None
    g.nodes[0].name = "renamed"
    assert g.node("renamed") is g.nodes[0]
    with pytest.raises(KeyError):
        g.node("n1")
    g.nodes = [g.nodes[-1]]
    assert names_of(g.consumers("w")) == ["n3"] and g.consumers("v0") == []


def test_a_node_reading_a_value_twice_is_one_consumer():
    g = Graph("g", ["x"], ["y"], [Node("a", "add", ["x", "x"], ["y"])])
    assert names_of(g.consumers("x")) == ["a"]


def test_copies_and_equality_ignore_the_index():
    g = chain("relu", "relu")
    g.consumers("v0")
    h = g.copy()
    assert "_index" not in h.__dict__ and h == g and h.nodes[1] is not g.nodes[1]
    assert names_of(h.consumers("v0")) == ["n1"] and h.consumers("v0")[0] is h.nodes[1]
    assert copy.deepcopy(g) == g


def names_of(nodes) -> list[str]:
    return [n.name for n in nodes]


# -- Rewriter ------------------------------------------------------------------------------------------------
def test_sole_reader():
    g = chain("relu", "relu")
    g.nodes.append(Node("twice", "add", ["v1", "v1"], ["z"]))
    g.nodes.append(Node("fan", "relu", ["v0"], ["f"]))
    rw = Rewriter(g)
    assert rw.sole_reader("x").name == "n0"
    assert rw.sole_reader("v0") is None            # two readers
    assert rw.sole_reader("v1") is None            # read twice by one node
    g.outputs = ["x"]
    assert rw.sole_reader("x") is None             # a graph output


def test_bypass_rewires_readers_and_keeps_graph_output_names():
    g = chain("relu", "identity", "relu", "identity")
    rw = Rewriter(g)
    rw.bypass(g.nodes[1])                          # inner: readers of v1 read v0
    rw.bypass(g.nodes[3])                          # last: n2 is renamed to write the output v3
    assert rw.producer("v3").name == "n2" and rw.readers("v0")[0].name == "n2"
    rw.commit()
    prune_values(g)
    assert names(g) == ["n0", "n2"] and g.nodes[1].inputs == ["v0"] and g.nodes[1].outputs == ["v3"]
    assert g.outputs == ["v3"] and "v2" not in g.values and verify(g) == []


def test_bypass_of_a_graph_output_read_from_the_graph_input():
    g = chain("identity")
    rw = Rewriter(g)
    rw.bypass(g.nodes[0])
    rw.commit()
    assert g.nodes == [] and g.outputs == ["x"]


def test_absorb_moves_the_shape_to_the_kept_name():
    g = chain("relu", "relu")
    g.values["v1"].shape = None
    rw = Rewriter(g)
    last = g.nodes[1]
    rw.remove(last)
    rw.absorb(g.nodes[0], "v1")
    rw.commit()
    assert names(g) == ["n0"] and g.nodes[0].outputs == ["v1"] and g.shape("v1") == (None, 4)
    assert "v0" not in g.values


def test_splice_keeps_order_and_names_stay_unique():
    g = chain("relu", "gemm", "relu")
    rw = Rewriter(g)
    gemm = g.nodes[1]
    assert rw.fresh_node_name("n0") == "n0_1"
    mid = rw.fresh_value("v1_mid", (None, 4))
    t = Node(rw.fresh_node_name("n1_pre"), "transpose", ["v0"], [mid], {"perm": (1, 0)})
    lin = Node("n1", "linear", [mid], ["v1"], params={"weight": np.eye(4)})
    rw.splice(gemm, [t, lin])
    assert rw.producer("v1") is lin and rw.readers("v0") == [t] and not rw.alive(gemm)
    assert rw.fresh_node_name("n1") == "n1_1"      # the new node holds the name now
    extra = Node("n1_post", "relu", ["v1"], ["v1b"])
    g.add_value("v1b", (None, 4))
    rw.splice(lin, [lin, extra])                   # a spliced node spliced again, keeping itself
    rw.set_inputs(g.nodes[2], ["v1b"])
    assert g.nodes[1] is gemm                      # nothing written back before commit
    rw.commit()
    assert names(g) == ["n0", "n1_pre", "n1", "n1_post", "n2"]
    assert rw.nodes() == g.nodes


def test_replace_uses_through_the_rewriter_updates_its_index():
    g = chain("relu", "relu", "relu")
    rw = Rewriter(g)
    rw.replace_uses("v0", "x")
    assert names_of(rw.readers("x")) == ["n0", "n1"] and rw.readers("v0") == []
    rw.set_outputs(g.nodes[2], ["out"])
    assert rw.producer("out").name == "n2" and rw.producer("v2") is None


def test_building_other_nodes_and_graphs_keeps_the_index():
    from snnc.compiler.ir import graph as graph_mod

    g = chain("relu", "relu")
    g.consumers("v0")
    index = g.__dict__["_index"]
    Node("other", "relu", ["a"], ["b"])
    Graph("h", ["a"], ["b"], [Node("o2", "relu", ["a"], ["b"])])
    g.consumers("v0")
    assert g.__dict__["_index"] is index
    g.nodes[0].name = "first"                          # an edit of a node in a graph does invalidate
    assert g.node("first") is g.nodes[0] and g.__dict__["_index"] is not index
    assert isinstance(index, graph_mod._Index)
