"""The tf2onnx export of a Keras CNN (fixtures/keras_cnn.onnx, made by
examples/keras/make_keras_fixture.py with TensorFlow 2.21 + tf2onnx 1.17; TensorFlow is not
needed here): NHWC input + Transpose, Conv with BatchNorm fused in, Transpose back before the
Flatten (Shape/Gather/Slice/Concat/Cast -> Reshape), MatMul + Add, BatchNorm as Mul + Add.
It imports, computes what Keras computed (keras_cnn_io.npz; atol 1e-5), canonicalizes to
NCHW layers with no transpose, fits hw_v1 at 2 bits, and compiles."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.compiler.backend.build import compile_graph
from snnc.compiler.check import check_graph
from snnc.compiler.data import Dataset
from snnc.compiler.frontends import load_model
from snnc.compiler.ir.interpret import run
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.passes import frontend_pipeline
from snnc.hwspec import load_spec

FIXTURES = Path(__file__).parent / "fixtures"
KERAS_TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def keras():
    io = np.load(FIXTURES / "keras_cnn_io.npz")
    graph = load_model(FIXTURES / "keras_cnn.onnx")
    return graph, frontend_pipeline(graph), io["x"], io["y"]


def test_imports_and_computes_what_keras_computed(keras):
    graph, _, x, y = keras
    assert graph.meta["producer_name"] == "tf2onnx"
    assert {"transpose", "matmul", "mul", "add"} <= {n.op for n in graph.nodes}
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], y, **KERAS_TOL)


def test_canonical_form_is_nchw_without_transposes(keras):
    _, canon, x, y = keras
    assert [n.op for n in canon.nodes] == ["conv", "relu", "avgpool", "conv", "relu", "avgpool", "flatten",
                                           "linear", "relu", "linear"]
    assert canon.shape(canon.inputs[0]) == (None, 3, 16, 16)
    assert canon.meta["input_transpose"] == (0, 3, 1, 2)
    np.testing.assert_allclose(run(canon, x.transpose(0, 3, 1, 2))[canon.outputs[0]], y, **KERAS_TOL)


def test_checks_and_compiles(keras, tmp_path):
    _, canon, x, _ = keras
    spec = load_spec("hw_v1")
    report = check_graph(canon, spec, 2)
    assert report.exit_code == 0, report.to_text()
    calib = np.random.default_rng(0).uniform(0, 1, (64, 3, 16, 16)).astype(np.float32)
    data = Dataset(x=calib, y=None, scale=1.0, source="<keras calib>")
    res = compile_graph(canon, spec, CompileOptions(bits=2, timesteps=8), data, out=tmp_path / "keras.snn")
    assert res.exit_code == 0 and (tmp_path / "keras.snn").is_file()
    assert res.agreement is not None and res.agreement > 0.5


def test_one_channel_reshape_keeps_the_batch_symbol(build_model, ort_run):
    """tf2onnx writes NHWC -> NCHW of a one-channel image as Reshape(-1, 1, H, W): the batch dim
    gets a fresh symbol, which must still count as the batch so Keras's Flatten arithmetic folds."""
    from onnx import helper

    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Reshape", ["x", "nchw"], ["r"]),
        helper.make_node("Conv", ["r", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["c"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Concat", ["n", "minus1"], ["flat"], axis=0),
        helper.make_node("Reshape", ["c", "flat"], ["y"]),
    ]
    inits = {"nchw": np.array([-1, 1, 5, 6], np.int64), "w": rng.normal(size=(2, 1, 3, 3)).astype(np.float32),
             "zero": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    model = build_model(nodes, ["N", 5, 6, 1], opset=17, inits=inits)
    graph = load_model_proto(model)
    x = rng.normal(size=(3, 5, 6, 1)).astype(np.float32)
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], ort_run(model, x)[0], atol=1e-5, rtol=1e-5)
    canon = frontend_pipeline(graph)
    assert [n.op for n in canon.nodes] == ["conv", "flatten"] and canon.meta["input_transpose"] == (0, 3, 1, 2)


def load_model_proto(model):
    from snnc.compiler.frontends.onnx import load_onnx

    return load_onnx(model)
