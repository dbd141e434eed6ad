"""Canonicalize's layout rules for tf2onnx (Keras, NHWC) graphs: transpose pairs compose,
a transpose before flatten -> linear moves into the weight, and the input transpose moves to
the host (the one rule that changes the graph's interface: compared on transposed inputs)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir.interpret import run
from snnc.compiler.passes.canonicalize import canonicalize

TOL = dict(rtol=1e-9, atol=1e-9)


def ops(g):
    return [n.op for n in g.nodes]


def _pair_graph(B, perms):
    b = B((None, 3, 4, 5))
    b.add("relu")
    for p in perms:
        b.add("transpose", attrs={"perm": p})
    b.add("relu")
    return b.build()


def test_transpose_pairs_compose_or_vanish(B, same):
    g = _pair_graph(B, [(0, 2, 3, 1), (0, 3, 1, 2)])
    out = canonicalize(g.copy())
    assert ops(out) == ["relu", "relu"]
    same(g, out, (2, 3, 4, 5))
    g = _pair_graph(B, [(0, 2, 3, 1), (0, 2, 1, 3)])
    out = canonicalize(g.copy())
    assert ops(out) == ["relu", "transpose", "relu"] and out.nodes[1].attrs["perm"] == (0, 3, 2, 1)
    same(g, out, (2, 3, 4, 5))


def test_nhwc_flatten_moves_into_the_linear_weight(B, same, rng):
    b = B((None, 3, 4, 5))
    b.add("relu")
    b.add("transpose", attrs={"perm": (0, 2, 3, 1)})
    b.add("flatten", attrs={"axis": 1})
    b.add("linear", weight=rng.normal(size=(7, 60)), bias=rng.normal(size=7))
    g = b.build()
    out = canonicalize(g.copy())
    assert ops(out) == ["relu", "flatten", "linear"]
    same(g, out, (2, 3, 4, 5))


def test_transpose_with_another_reader_stays(B, rng):
    b = B((None, 3, 4, 5))
    b.add("relu")
    t = b.add("transpose", attrs={"perm": (0, 2, 3, 1)})
    b.add("flatten", attrs={"axis": 1})
    b.add("linear", weight=rng.normal(size=(7, 60)))
    g = b.build(outputs=[b.last, t])
    assert "transpose" in ops(canonicalize(g))


def test_input_transpose_moves_to_the_host(B, rng):
    b = B((None, 6, 5, 3))
    b.add("transpose", attrs={"perm": (0, 3, 1, 2)})
    b.add("conv", attrs={"padding": (1, 1, 1, 1)}, weight=rng.normal(size=(4, 3, 3, 3)))
    b.add("relu")
    g = b.build()
    out = canonicalize(g.copy())
    assert ops(out) == ["conv", "relu"]
    assert out.shape("x") == (None, 3, 6, 5) and out.meta["input_transpose"] == (0, 3, 1, 2)
    x = rng.normal(size=(2, 6, 5, 3))
    np.testing.assert_allclose(run(out, x.transpose(0, 3, 1, 2))[out.outputs[0]], run(g, x)[g.outputs[0]], **TOL)


def test_input_transpose_of_a_matrix_stays(B, rng):
    b = B((6, 3))
    b.add("transpose", attrs={"perm": (1, 0)})
    b.add("relu")
    assert ops(canonicalize(b.build())) == ["transpose", "relu"]


def test_flatten_of_a_matrix_is_dropped(B, same, rng):
    b = B((None, 6))
    b.add("relu")
    b.add("flatten", attrs={"axis": 1})
    b.add("linear", weight=rng.normal(size=(3, 6)))
    g = b.build()
    out = canonicalize(g.copy())
    assert ops(out) == ["relu", "linear"]
    same(g, out, (2, 6))


def test_one_channel_nhwc_reshape_is_an_input_transpose(B, rng):
    b = B((None, 5, 6, 1))
    b.add("reshape", attrs={"shape": (0, 1, 5, 6)})
    b.add("conv", weight=rng.normal(size=(2, 1, 3, 3)))
    g = b.build()
    out = canonicalize(g.copy())
    assert ops(out) == ["conv"] and out.shape("x") == (None, 1, 5, 6) and out.meta["input_transpose"] == (0, 3, 1, 2)
    x = rng.normal(size=(2, 5, 6, 1))
    np.testing.assert_allclose(run(out, x.transpose(0, 3, 1, 2))[out.outputs[0]], run(g, x)[g.outputs[0]], **TOL)


def test_reshape_moving_big_axes_stays(B):
    b = B((None, 2, 3, 4))
    b.add("relu")
    b.add("reshape", attrs={"shape": (0, 3, 2, 4)})
    assert ops(canonicalize(b.build())) == ["relu", "reshape"]
