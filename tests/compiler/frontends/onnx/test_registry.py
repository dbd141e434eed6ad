"""The importer registry: lookup by (domain, op_type, opset), and the folding of shape arithmetic."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from snnc.compiler.errors import UnsupportedOpsError
from snnc.compiler.frontends.onnx import load_onnx, misc, registry

node = helper.make_node


@pytest.mark.parametrize("opset,expected", [(11, misc.softmax_11), (12, misc.softmax_11), (13, misc.softmax_13), (21, misc.softmax_13)])
def test_lookup_picks_the_handler_for_the_models_opset(opset, expected):
    assert registry.lookup_converter("", "Softmax", opset).convert is expected
    assert registry.lookup_converter("ai.onnx", "Softmax", opset).convert is expected


def test_lookup_misses():
    assert registry.lookup_converter("", "Sigmoid", 13) is None  # not supported
    assert registry.lookup_converter("com.microsoft", "Softmax", 13) is None  # other domain
    assert registry.lookup_converter("", "NoSuchOp", 13) is None  # not an ONNX op


def test_every_converter_is_registered_from_opset_11_on():
    assert all(since >= 11 for versions in registry.supported_ops().values() for since in versions)


def test_double_registration_is_refused():
    with pytest.raises(RuntimeError, match="two ONNX converters"):
        registry.converter("Relu", 11)(lambda node, ctx: None)


def model(nodes, in_shape, inits=None, opset=13):
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[helper.make_tensor(k, TensorProto.INT64, v.shape, v.reshape(-1).tolist()) for k, v in (inits or {}).items()],
    )
    graph.output[0].type.tensor_type.shape.dim.add().dim_param = "N"
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def test_shape_of_dynamic_non_batch_dim_is_reported():
    m = model([node("Shape", ["x"], ["s"], name="shape"), node("Reshape", ["x", "s"], ["y"])], ["N", 3, "H", 4])
    with pytest.raises(UnsupportedOpsError) as e:
        load_onnx(m)
    assert e.value.ops == {
        "Shape (of a tensor with a dynamic non-batch dimension)": ["shape"],
        "Reshape (the target shape is not a constant)": ["Reshape_1"],  # its consequence, reported too
    }


def test_arithmetic_on_the_batch_size_is_reported():
    nodes = [node("Shape", ["x"], ["s"]), node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT, name="cast"),
             node("Reshape", ["x", "s"], ["y"])]
    with pytest.raises(UnsupportedOpsError) as e:
        load_onnx(model(nodes, ["N", 3]))
    assert list(e.value.ops) == ["Cast (casts the batch size to a non-integer type)"]


def test_static_shape_chain_folds_to_a_constant_reshape():
    """With a static input the whole shape chain folds; dim 0 becomes 'copy' so other batches run."""
    nodes = [node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["b"], axis=0),
             node("Unsqueeze", ["b", "zero1"], ["b1"]), node("Concat", ["b1", "m1"], ["shp"], axis=0),
             node("Reshape", ["x", "shp"], ["y"], name="view")]
    inits = {"zero": np.array(0), "zero1": np.array([0]), "m1": np.array([-1])}
    g = load_onnx(model(nodes, [2, 3, 4], inits))
    assert [(n.name, n.op, n.attrs) for n in g.nodes] == [("view", "reshape", {"shape": (0, -1)})]
