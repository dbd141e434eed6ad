"""Global average pooling in the forms exporters write it — GlobalAveragePool, ReduceMean over
(H, W) without keepdims, and tf2onnx's ReduceMean(keepdims=1) + Squeeze — all become
globalavgpool + flatten, so a model with any of them fits hw_v1 (issue 14)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from snnc.compiler.check import check_graph
from snnc.compiler.frontends.onnx import load_onnx
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec


def model(tail, opset=13):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "W1"),
             numpy_helper.from_array(rng.normal(size=(8, 10)).astype(np.float32), "W2"),
             numpy_helper.from_array(np.array([2, 3], np.int64), "ax")]
    nodes = [helper.make_node("Conv", ["x", "W1"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"])]
    nodes += tail + [helper.make_node("MatMul", ["s", "W2"], ["y"])]
    g = helper.make_graph(nodes, "gap", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


FORMS = {
    "global": [helper.make_node("GlobalAveragePool", ["r"], ["m"]), helper.make_node("Flatten", ["m"], ["s"])],
    "reducemean_no_keepdims": [helper.make_node("ReduceMean", ["r"], ["s"], axes=[2, 3], keepdims=0)],
    "reducemean_squeeze": [helper.make_node("ReduceMean", ["r"], ["m"], axes=[2, 3], keepdims=1),
                           helper.make_node("Squeeze", ["m", "ax"], ["s"])],
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_global_pool_forms_fit(tmp_path, form):
    import onnx

    path = tmp_path / f"{form}.onnx"
    onnx.save(model(FORMS[form]), path)
    graph = frontend_pipeline(load_onnx(path))
    assert [n.op for n in graph.nodes] == ["conv", "relu", "globalavgpool", "flatten", "linear"]
    assert check_graph(graph, load_spec("hw_v1"), 2).fits


def test_squeeze_of_a_map_that_is_not_pooled_says_why(tmp_path):
    import onnx
    from snnc.compiler.errors import SnncError

    path = tmp_path / "sq.onnx"
    onnx.save(model([helper.make_node("Squeeze", ["r", "ax"], ["s"])]), path)
    with pytest.raises(SnncError, match="only the 1x1 spatial axes of a pooled map"):
        load_onnx(path)


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reducemean_over_nhwc_axes_after_the_back_transpose(tmp_path, keepdims):
    """tf2onnx without its optimizers: GlobalAveragePooling2D is ReduceMean over axes (1, 2) of the
    NHWC map after Transpose(0, 2, 3, 1); it pools the NCHW map, and the transposes cancel."""
    import onnx
    from snnc.compiler.ir.interpret import run

    tail = [helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 3, 1]),
            helper.make_node("ReduceMean", ["t"], ["m"], axes=[1, 2], keepdims=keepdims)]
    if keepdims:
        tail.append(helper.make_node("Reshape", ["m", "flat"], ["s"]))
    else:
        tail[-1].output[0] = "s"
    m = model(tail)
    m.graph.initializer.append(numpy_helper.from_array(np.array([-1, 8], np.int64), "flat"))
    path = tmp_path / "nhwc_mean.onnx"
    onnx.save(m, path)
    raw = load_onnx(path)
    graph = frontend_pipeline(load_onnx(path))
    assert [n.op for n in graph.nodes] == ["conv", "relu", "globalavgpool", "flatten", "linear"]
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16))
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], run(raw, x)[raw.outputs[0]], rtol=1e-9, atol=1e-9)
    assert check_graph(graph, load_spec("hw_v1"), 2).fits
