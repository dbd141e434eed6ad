"""Unsqueeze of a data tensor (not a constant): a batch-keeping reshape, which canonicalize removes
where a Flatten or Squeeze undoes it; what stays is a reshape the check reports; an Unsqueeze that
moves the batch axis is refused at import, naming the node."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from snnc.compiler.check import check_graph  # noqa: E402
from snnc.compiler.errors import SnncError  # noqa: E402
from snnc.compiler.frontends import load_model  # noqa: E402
from snnc.compiler.ir.interpret import run  # noqa: E402
from snnc.compiler.passes import frontend_pipeline  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name, shape):
    return numpy_helper.from_array(RNG.normal(size=shape).astype(np.float32), name)


def _save(tmp_path, nodes, inits, x_shape, y_shape, opset=13, extra=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
                              initializer=list(inits) + list(extra))
    path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def _axes(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _same_function(raw, x):
    canon = frontend_pipeline(raw)
    np.testing.assert_allclose(run(canon, x)[canon.outputs[0]], run(raw, x)[raw.outputs[0]], rtol=1e-12, atol=1e-12)
    return canon


@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze_before_flatten_vanishes(tmp_path, opset):
    unsq = (helper.make_node("Unsqueeze", ["r"], ["u"], name="unsq", axes=[4]) if opset == 11 else
            helper.make_node("Unsqueeze", ["r", "ax"], ["u"], name="unsq"))
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"), unsq,
             helper.make_node("Flatten", ["u"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w2"], ["y"], name="fc", transB=1)]
    path = _save(tmp_path, nodes, [_init("w1", (4, 1, 3, 3)), _init("w2", (3, 64))], ["N", 1, 4, 4], ["N", 3],
                 opset=opset, extra=[] if opset == 11 else [_axes("ax", [4])])
    raw = load_model(path)
    assert [n.op for n in raw.nodes if n.name == "unsq"] == ["reshape"]
    canon = _same_function(raw, RNG.normal(size=(2, 1, 4, 4)))
    assert "reshape" not in [n.op for n in canon.nodes]
    assert check_graph(canon, "hw_v1", 4).fits


def test_squeeze_unsqueeze_pair_vanishes(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Squeeze", ["g", "ax"], ["s"], name="sq"),
             helper.make_node("Unsqueeze", ["s", "ax"], ["u"], name="unsq"),
             helper.make_node("Conv", ["u", "w2"], ["c2"], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3"], ["y"], name="fc", transB=1)]
    path = _save(tmp_path, nodes, [_init("w1", (4, 1, 3, 3)), _init("w2", (5, 4, 1, 1)), _init("w3", (3, 5))],
                 ["N", 1, 4, 4], ["N", 3], extra=[_axes("ax", [2, 3])])
    canon = _same_function(load_model(path), RNG.normal(size=(2, 1, 4, 4)))
    assert "reshape" not in [n.op for n in canon.nodes] and "flatten" in [n.op for n in canon.nodes]
    assert check_graph(canon, "hw_v1", 4).fits


def test_a_reshape_that_stays_is_reported_by_check(tmp_path):
    """(N, F) -> (N, F, 1, 1) before a conv: a real reshape on the core, HW004 names it."""
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("Unsqueeze", ["r", "ax"], ["u"], name="unsq"),
             helper.make_node("Conv", ["u", "w2"], ["c2"], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["f2"], name="flat2"),
             helper.make_node("Gemm", ["f2", "w3"], ["y"], name="fc", transB=1)]
    path = _save(tmp_path, nodes, [_init("w1", (6, 16)), _init("w2", (5, 6, 1, 1)), _init("w3", (3, 5))],
                 ["N", 1, 4, 4], ["N", 3], extra=[_axes("ax", [2, 3])])
    canon = _same_function(load_model(path), RNG.normal(size=(2, 1, 4, 4)))
    report = check_graph(canon, "hw_v1", 4)
    assert any(v.code == "HW004" and v.layer == "unsq" for v in report.violations)


@pytest.mark.parametrize("axes, what", [([0], "before the batch axis"), ([7], "out of range")])
def test_unsqueeze_refusals_name_the_node(tmp_path, axes, what):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu1"),
             helper.make_node("Unsqueeze", ["r", "ax"], ["y"], name="unsq_bad")]
    path = _save(tmp_path, nodes, [], ["N", 4], ["a", "b", "c"], extra=[_axes("ax", axes)])
    with pytest.raises(SnncError, match=what) as err:
        load_model(path)
    assert "unsq_bad" in str(err.value) and "Unsqueeze" in str(err.value)
