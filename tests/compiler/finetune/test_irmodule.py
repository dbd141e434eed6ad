"""The IR as a torch module computes what snnc's interpreter computes; the ONNX writer round-trips."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snnc.compiler.backend.build import prepare  # noqa: E402
from snnc.compiler.errors import UnsupportedOpsError  # noqa: E402
from snnc.compiler.finetune.irmodule import IRModule  # noqa: E402
from snnc.compiler.finetune.onnx_writer import save_onnx  # noqa: E402
from snnc.compiler.ir.graph import Graph, Node, Value  # noqa: E402
from snnc.compiler.ir.interpret import run  # noqa: E402


def test_module_matches_interpreter(tiny_onnx):
    g = prepare(tiny_onnx)
    x = np.random.default_rng(0).random((5, 1, 8, 8))
    ref = run(g, x, all_values=True)
    out64 = IRModule(g, torch.float64)(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(out64, ref[g.outputs[0]], rtol=0, atol=1e-12)  # float64: rounding only
    out32 = IRModule(g)(torch.from_numpy(x.astype(np.float32))).detach().numpy()
    assert np.allclose(out32, ref[g.outputs[0]], rtol=0, atol=1e-5)  # float32 weights and maths


def test_padded_pool_softmax_concat_and_add_kernels():
    g = Graph("k", ["x"], ["y"])
    g.values = {v: Value(v) for v in ("x", "a", "b", "c", "d", "e", "f", "y")}
    g.nodes = [
        Node("p", "avgpool", ["x"], ["a"], {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1), "count_include_pad": 0}),
        Node("q", "avgpool", ["x"], ["b"], {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1), "count_include_pad": 1}),
        Node("c", "concat", ["a", "b"], ["c"], {"axis": 1}),
        Node("add", "add", ["c", "c"], ["d"]),
        Node("g", "globalavgpool", ["d"], ["e"]),
        Node("f", "flatten", ["e"], ["f"], {"axis": 1}),
        Node("s", "softmax", ["f"], ["y"], {"axis": -1}),
    ]
    x = np.random.default_rng(1).random((2, 2, 5, 5))
    m = IRModule(g, torch.float64)
    assert np.allclose(m(torch.from_numpy(x)).numpy(), run(g, x)["y"], atol=1e-12)
    # for training, `logits=True` stops before the final softmax
    assert np.allclose(m(torch.from_numpy(x), logits=True).numpy(), run(g, x, all_values=True)["f"], atol=1e-12)


def test_unsupported_ops_listed_at_once():
    g = Graph("u", ["x"], ["z"])
    g.nodes = [Node("a", "frobnicate", ["x"], ["y"]), Node("b", "gemm", ["y"], ["z"], params={"weight": np.ones((2, 2))})]
    with pytest.raises(UnsupportedOpsError) as e:
        IRModule(g)
    assert "frobnicate" in str(e.value) and "gemm" in str(e.value)


def test_onnx_writer_round_trip(tiny_onnx, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    g = prepare(tiny_onnx)
    path = save_onnx(g, tmp_path / "w.onnx")
    x = np.random.default_rng(2).random((3, 1, 8, 8)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.allclose(sess.run(None, {"input": x})[0], run(g, x)[g.outputs[0]], atol=1e-5)
    g2 = prepare(path)
    assert [(n.name, n.op) for n in g2.nodes] == [(n.name, n.op) for n in g.nodes]
