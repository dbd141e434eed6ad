"""The verifier reports each invariant violation (one test each) and passes a valid graph."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.compiler.ir.verify import VerifyError, check, verify


def conv_relu_graph() -> Graph:
    g = Graph("g", inputs=["x"], outputs=["r"])
    g.values = {"x": Value("x", (None, 3, 8, 8)), "c": Value("c"), "r": Value("r")}
    g.nodes = [
        Node("conv1", "conv", ["x"], ["c"], {"padding": (1, 1, 1, 1)}, {"weight": np.ones((4, 3, 3, 3), np.float32), "bias": np.zeros(4, np.float32)}),
        Node("relu1", "relu", ["c"], ["r"]),
    ]
    return g


def problems_after(edit) -> list[str]:
    g = conv_relu_graph()
    edit(g)
    return verify(g)


def test_valid_graph_passes():
    assert verify(conv_relu_graph()) == []
    check(conv_relu_graph())


def test_duplicate_node_name():
    def edit(g):
        g.nodes[1].name = "conv1"
    assert any("duplicate node name" in p for p in problems_after(edit))


def test_read_before_write():
    def edit(g):
        g.nodes.reverse()
    assert any("reads 'c' before it is written" in p for p in problems_after(edit))


def test_unknown_op():
    def edit(g):
        g.nodes[1].op = "sigmoid"
    assert any("unknown op" in p for p in problems_after(edit))


def test_missing_required_attribute():
    def edit(g):
        g.nodes[1] = Node("clip1", "clip", ["c"], ["r"], {"min": 0.0})
    assert any("missing attribute 'max'" in p for p in problems_after(edit))


def test_missing_parameter():
    def edit(g):
        del g.nodes[0].params["weight"]
    assert any("missing parameter 'weight'" in p for p in problems_after(edit))


def test_non_finite_parameter():
    def edit(g):
        g.nodes[0].params["bias"] = np.array([0, np.nan, 0, 0], np.float32)
    assert any("NaN or inf" in p for p in problems_after(edit))


def test_integer_parameter():
    def edit(g):
        g.nodes[0].params["bias"] = np.zeros(4, np.int64)
    assert any("float numpy array" in p for p in problems_after(edit))


def test_conv_weight_channel_mismatch():
    def edit(g):
        g.nodes[0].params["weight"] = np.ones((4, 2, 3, 3), np.float32)
    assert any("input has 3 channels, weight expects 2" in p for p in problems_after(edit))


def test_unwritten_graph_output():
    def edit(g):
        g.outputs = ["r", "ghost"]
    assert any("graph output 'ghost' is never written" in p for p in problems_after(edit))


def test_value_written_twice():
    def edit(g):
        g.nodes[1].outputs = ["c"]
    assert any("already written" in p for p in problems_after(edit))


def test_check_raises_with_every_problem():
    g = conv_relu_graph()
    g.nodes[1].op = "sigmoid"
    g.outputs.append("ghost")
    with pytest.raises(VerifyError) as e:
        check(g)
    assert len(e.value.problems) == 2


def test_canonical_mode_rejects_precanonical_ops():
    g = conv_relu_graph()
    g.nodes[1] = Node("drop", "dropout", ["c"], ["r"])
    assert verify(g) == []
    assert any("not canonical" in p for p in verify(g, canonical=True))


def test_unknown_op_still_counts_as_writing_its_output():
    g = conv_relu_graph()
    g.nodes[0].op = "sigmoid"
    assert verify(g) == ["node conv1 (sigmoid): unknown op"]
