"""Models the ONNX front end must refuse, each with one clear ImportErrorModel naming the file;
unsupported ops are all collected first and reported in one UnsupportedOpsError."""
from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from snnc.compiler.errors import ImportErrorModel, UnsupportedOpsError
from snnc.compiler.frontends.onnx import load_onnx

node = helper.make_node


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


def raw_model(nodes, inputs=(("x", [1, 3, 8, 8]),), opset=13, inits=None, out="y", domains=()):
    """A model built without running it (for models onnxruntime would refuse too)."""
    graph = helper.make_graph(
        nodes, "t",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(v, k) for k, v in (inits or {}).items()],
    )
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=ops)
    model.ir_version = 8
    return model


def test_all_unsupported_ops_listed_in_one_error(tmp_path):
    nodes = [
        node("Sigmoid", ["x"], ["a"], name="gate1"),
        node("Relu", ["a"], ["b"], name="relu"),
        node("Tanh", ["b"], ["c"], name="squash"),
        node("Sigmoid", ["c"], ["y"], name="gate2"),
    ]
    path = save(raw_model(nodes), tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOpsError) as e:
        load_onnx(path)
    assert e.value.ops == {"Sigmoid": ["gate1", "gate2"], "Tanh": ["squash"]}
    msg = str(e.value)
    assert path in msg and "Sigmoid: gate1, gate2" in msg and "Tanh: squash" in msg


def test_unsupported_attribute_values_and_domains_join_the_same_report(tmp_path):
    nodes = [
        node("AveragePool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, name="pool_ceil"),
        node("Pad", ["p", "pads"], ["q"], mode="reflect", name="pad_reflect"),
        node("Mul", ["q", "q"], ["r"], name="square"),
        node("FusedThing", ["r"], ["s"], domain="com.example", name="fused"),
        node("Conv", ["s", "W"], ["t"], auto_pad="SAME_UPPER", name="conv_unknown_size"),
        node("Elu", ["t"], ["y"], name="elu"),
    ]
    pads = np.zeros(8, np.int64)
    model = raw_model(nodes, inits={"pads": pads, "W": np.ones((2, 3, 3, 3), np.float32)}, domains=("com.example",))
    with pytest.raises(UnsupportedOpsError) as e:
        load_onnx(save(model, tmp_path / "m.onnx"))
    ops = e.value.ops
    assert ops["AveragePool (ceil_mode=1 changes the output size)"] == ["pool_ceil"]
    assert ops["Pad (mode=reflect (only constant padding is supported))"] == ["pad_reflect"]
    assert any(k.startswith("Mul (product of two tensors") for k in ops)
    assert ops["com.example::FusedThing (not in the default ONNX domain)"] == ["fused"]
    assert ops["Conv (auto_pad=SAME_UPPER with an unknown input size)"] == ["conv_unknown_size"]
    assert ops["Elu"] == ["elu"]
    assert isinstance(e.value, ImportErrorModel)


def test_nonconstant_weight_is_reported(tmp_path):
    model = raw_model([node("MatMul", ["x", "x"], ["y"], name="mm")], inputs=(("x", [4, 4]),))
    with pytest.raises(UnsupportedOpsError, match="mm"):
        load_onnx(save(model, tmp_path / "m.onnx"))


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.onnx")
    with pytest.raises(ImportErrorModel, match="no such file") as e:
        load_onnx(path)
    assert path in str(e.value)


@pytest.mark.parametrize("content", [b"", b"this is not a model\n", b"\x08\x07garbage\xff\xff\xff\x01", b"PK\x03\x04zip"])
def test_not_onnx_or_malformed(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ImportErrorModel) as e:
        load_onnx(str(path))
    assert str(path) in str(e.value)
    assert "Traceback" not in str(e.value) and "\n" not in str(e.value)


def test_truncated_protobuf(tmp_path):
    good = raw_model([node("Relu", ["x"], ["y"])]).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ImportErrorModel, match="cut.onnx"):
        load_onnx(str(path))


def test_checker_failure(tmp_path):
    model = raw_model([node("Relu", ["undefined_value"], ["y"])])
    with pytest.raises(ImportErrorModel, match="invalid ONNX model") as e:
        load_onnx(save(model, tmp_path / "m.onnx"))
    assert "m.onnx" in str(e.value)


def test_opset_too_old(tmp_path):
    model = raw_model([node("Relu", ["x"], ["y"])], opset=10)
    with pytest.raises(ImportErrorModel, match="opset 10 is too old"):
        load_onnx(save(model, tmp_path / "m.onnx"))


def test_more_than_one_input(tmp_path):
    model = raw_model([node("Add", ["a", "b"], ["y"])], inputs=(("a", [1, 4]), ("b", [1, 4])))
    with pytest.raises(ImportErrorModel, match="exactly one input; this one has 2 \\(a, b\\)"):
        load_onnx(save(model, tmp_path / "m.onnx"))


def test_initializers_listed_as_inputs_do_not_count(tmp_path):
    """IR version 3 models list initializers among the graph inputs."""
    w = np.ones((4, 3), np.float32)
    model = raw_model([node("MatMul", ["x", "W"], ["y"])], inputs=(("x", [2, 4]), ("W", [4, 3])), inits={"W": w.T.copy()})
    model.graph.input[1].type.tensor_type.shape.dim[0].dim_value = 4
    g = load_onnx(save(model, tmp_path / "m.onnx"))
    assert g.inputs == ["x"]


def test_names_meta_and_shapes(tmp_path):
    nodes = [node("Relu", ["x"], ["a"]), node("Relu", ["a"], ["b"], name="same"), node("Relu", ["b"], ["y"], name="same")]
    path = save(raw_model(nodes, inputs=(("x", ["batch", 3, 8, 8]),)), tmp_path / "m.onnx")
    g = load_onnx(path)
    assert [n.name for n in g.nodes] == ["Relu_0", "same", "same_1"]
    assert g.meta["source"] == path
    assert g.meta["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert g.meta["opset"] == 13 and g.meta["producer_name"] == ""
    assert g.values["x"].shape == (None, 3, 8, 8)
    assert g.values["a"].shape == (None, 3, 8, 8)


def test_model_proto_accepted():
    g = load_onnx(raw_model([node("Relu", ["x"], ["y"], name="r")]))
    assert g.meta["source"] == "<ModelProto>" and [n.op for n in g.nodes] == ["relu"]


def test_constant_output_is_refused(tmp_path):
    model = raw_model([node("Relu", ["x"], ["r"]), node("Identity", ["c"], ["y"])], inits={"c": np.ones(1, np.float32)})
    model.graph.output.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, 3, 8, 8]))
    with pytest.raises(ImportErrorModel, match="graph output 'y' is a constant"):
        load_onnx(save(model, tmp_path / "m.onnx"))
