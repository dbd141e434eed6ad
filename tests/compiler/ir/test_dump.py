"""The text dump shows every node, with shapes, attributes, parameters and layer names."""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir.dump import dump
from snnc.compiler.ir.graph import Graph, Node, Value


def test_dump_shows_every_node():
    g = Graph("net", inputs=["x"], outputs=["y"])
    g.values = {n: Value(n) for n in ("x", "c", "r", "y")}
    g.values["x"].shape = (None, 1, 28, 28)
    g.values["c"].shape = (None, 6, 28, 28)
    g.nodes = [
        Node("/features/conv", "conv", ["x"], ["c"], {"padding": (2, 2, 2, 2)}, {"weight": np.zeros((6, 1, 5, 5), np.float32)}),
        Node("r", "relu", ["c"], ["r"]),
        Node("fc", "gemm", ["r"], ["y"], {"transB": 1}, {"weight": np.zeros((10, 4704), np.float32), "bias": np.zeros(10, np.float32)}),
    ]
    text = dump(g)
    lines = text.splitlines()
    assert lines[0] == "graph net(x: Nx1x28x28)"
    assert len(lines) == 2 + len(g.nodes)
    assert "c = conv(x) [Nx1x28x28 -> Nx6x28x28] padding=(2, 2, 2, 2) | weight 6x1x5x5  # /features/conv" in text
    assert "r = relu(c) [Nx6x28x28 -> ?]" in text and "# r" not in text
    assert "y = gemm(r)" in text and "bias 10 weight 10x4704" in text and "# fc" in text
    assert lines[-1] == "  return y"
