"""load_model dispatches on the file extension."""
from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.frontends import LOADERS, load_model


def test_onnx_by_extension(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "Model.ONNX"
    onnx.save(model, str(path))
    g = load_model(path)
    assert [n.name for n in g.nodes] == ["r"] and g.meta["source"] == str(path)


@pytest.mark.parametrize("name", ["model.h5", "model.pb", "model"])
def test_unknown_extension(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(ImportErrorModel) as e:
        load_model(path)
    assert str(path) in str(e.value) and ".onnx" in str(e.value)


def test_missing_onnx_file(tmp_path):
    with pytest.raises(ImportErrorModel, match="no such file"):
        load_model(tmp_path / "missing.onnx")


def test_pt2_hook_is_the_registry():
    assert ".onnx" in LOADERS  # the torch front end adds ".pt2" with register_loader
