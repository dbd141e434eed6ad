"""Population coding (docs/semantics.md section 5) widens the first layer's input to C*P channels;
`snnc check --input-encoding population --input-population P` and compile count them against the
conv's in_channels limit (hw_v1, 3x3 at 2 bits: 56 channels)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from snnc.compiler.cli.main import cli  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """conv1 3 -> 8 (3x3) -> ReLU -> GlobalAveragePool -> Flatten -> Gemm 8 -> 3."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(8, np.float32), "b1"),
             numpy_helper.from_array(rng.normal(size=(3, 8)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(3, np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "pop", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], initializer=inits)
    path = tmp_path_factory.mktemp("pop") / "pop.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def _check(model, *extra):
    return CliRunner().invoke(cli, ["check", model, "--hw", "hw_v1", "--bits", "2", "--format", "json", *extra])


def test_population_channels_count_against_the_limit(model):
    assert _check(model).exit_code == 0  # 3 channels
    r = _check(model, "--input-encoding", "population", "--input-population", "18")  # 54 <= 56
    assert r.exit_code == 0, r.output
    assert [row["in_channels"] for row in json.loads(r.output)["layers"] if row["layer"] == "conv1"] == [54]
    r = _check(model, "--input-encoding", "population", "--input-population", "19")  # 57 > 56
    assert r.exit_code == 1, r.output
    (v,) = [v for v in json.loads(r.output)["violations"] if v["code"] == "HW001"]
    assert v["layer"] == "conv1" and v["actual"] == 57 and v["limit"] == 56
    assert "3 input channels x population 19" in v["message"] and "--input-population 18" in v["hint"]
    # another encoding ignores --input-population, as compile does
    assert _check(model, "--input-encoding", "rate", "--input-population", "19").exit_code == 0


def test_compile_runs_the_same_check(model, tmp_path):
    from snnc.compiler.backend.build import compile_graph, prepare
    from snnc.compiler.backend.options import CompileOptions
    from snnc.hwspec import load_spec

    spec = load_spec("hw_v1")
    opts = CompileOptions(bits=2, timesteps=4, input_encoding="population", input_population=19, calibration="off")
    res = compile_graph(prepare(model), spec, opts, None)
    assert res.exit_code == 1
    assert any(v.code == "HW001" and v.layer == "conv1" and v.actual == 57 for v in res.check.violations)
