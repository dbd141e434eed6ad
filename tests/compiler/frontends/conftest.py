"""Fixtures for the front-end tests: build tiny ONNX models and compare the imported IR with
onnxruntime. Nothing here downloads anything; exported files go to pytest's tmp_path."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ort = pytest.importorskip("onnxruntime")

# The interpreter computes in float64 and onnxruntime in float32: single ops agree to
# float32 rounding; whole networks accumulate a little more.
OP_TOL = dict(atol=1e-5, rtol=1e-5)
MODEL_TOL = dict(atol=1e-4, rtol=1e-4)


def make_model(nodes, in_shape, *, opset, inits=None, out="y", in_name="x", extra_outputs=()):
    """A one-input float model. Output shapes are taken from onnxruntime (the checker wants them)."""
    inits = inits or {}
    outs = [out, *extra_outputs]

    def build(out_shapes):
        graph = helper.make_graph(
            nodes,
            "t",
            [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, s) for o, s in zip(outs, out_shapes)],
            initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="snnc-tests")
        model.ir_version = 8 if opset < 21 else 10
        return model

    probe = build([None] * len(outs))
    x = np.zeros([1 if not isinstance(d, int) else d for d in in_shape], np.float32)
    results = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"]).run(outs, {in_name: x})
    shapes = [["N" if (i == 0 and not isinstance(in_shape[0], int)) else d for i, d in enumerate(r.shape)] for r in results]
    model = build(shapes)
    onnx.checker.check_model(model)
    return model


def run_ort(model, x: np.ndarray, outputs=None) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model),
                                providers=["CPUExecutionProvider"])
    return sess.run(outputs, {sess.get_inputs()[0].name: x})


@pytest.fixture
def build_model():
    return make_model


@pytest.fixture
def ort_run():
    return run_ort


@pytest.fixture
def assert_matches_ort():
    """Import `model`, run the IR interpreter and onnxruntime on `x`, compare every graph output."""
    from snnc.compiler.frontends.onnx import load_onnx
    from snnc.compiler.ir.interpret import run

    def check(model, x: np.ndarray, tol=OP_TOL):
        graph = load_onnx(model)
        ours = run(graph, x)
        names = [o.name for o in (model.graph.output if isinstance(model, onnx.ModelProto) else onnx.load(str(model)).graph.output)]
        theirs = run_ort(model, x.astype(np.float32), names)
        for name, ref in zip(names, theirs):
            got = ours[name]
            assert got.shape == ref.shape, f"{name}: shape {got.shape} != onnxruntime {ref.shape}"
            np.testing.assert_allclose(got, ref, err_msg=f"output {name}", **tol)
        return graph

    return check
