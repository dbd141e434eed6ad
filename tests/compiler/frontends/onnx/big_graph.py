"""A long, cheap ONNX graph for the front end's scaling tests and measurements (issue 11).

`chain_model(n)` is an input (N, 2, 4, 4) followed by blocks of four nodes — a 3x3 Conv (padding 1), an Add
of a per-channel constant (folded into the conv's bias by canonicalize), a Relu and an Identity
(dropped by canonicalize) — then Flatten and Gemm, and Identity nodes to make exactly `n` nodes. Built with
onnx.helper only (no torch).

    .venv/bin/python tests/compiler/frontends/onnx/big_graph.py 10000 /tmp/chain10k.onnx
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

C, H, W = 2, 4, 4


def chain_model(n_nodes: int, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    blocks = max(1, (n_nodes - 2) // 4)
    nodes, inits = [], []
    x = "input"
    for b in range(blocks):
        k = np.zeros((C, C, 3, 3))
        k[:, :, 1, 1] = np.eye(C)
        w = numpy_helper.from_array((k + 0.01 * rng.standard_normal(k.shape)).astype(np.float32), f"w{b}")
        c = numpy_helper.from_array(rng.uniform(0.0, 0.01, (1, C, 1, 1)).astype(np.float32), f"c{b}")
        inits += [w, c]
        nodes += [
            helper.make_node("Conv", [x, f"w{b}"], [f"conv{b}"], name=f"conv{b}", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Add", [f"conv{b}", f"c{b}"], [f"add{b}"], name=f"add{b}"),
            helper.make_node("Relu", [f"add{b}"], [f"relu{b}"], name=f"relu{b}"),
            helper.make_node("Identity", [f"relu{b}"], [f"id{b}"], name=f"id{b}"),
        ]
        x = f"id{b}"
    for r in range(max(0, n_nodes - 2 - 4 * blocks)):  # exactly n_nodes: the rest as Identity nodes
        nodes.append(helper.make_node("Identity", [x], [f"pad{r}"], name=f"pad{r}"))
        x = f"pad{r}"
    inits.append(numpy_helper.from_array(rng.standard_normal((C * H * W, 10)).astype(np.float32), "fc_w"))
    nodes += [
        helper.make_node("Flatten", [x], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc_w"], ["logits"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes, f"chain{n_nodes}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", C, H, W])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


if __name__ == "__main__":
    n, path = int(sys.argv[1]), sys.argv[2]
    onnx.save(chain_model(n), path)
    print(f"wrote {path}: {len(onnx.load(path).graph.node)} nodes")
