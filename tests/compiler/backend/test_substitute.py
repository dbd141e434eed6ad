"""`--maxpool avgpool` (issue 14): an explicit, reported replacement of MaxPool by AvgPool of the
same window; check and compile agree on the substituted model, and the default still refuses."""
from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from snnc.compiler.backend.build import compile_graph
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.substitute import maxpool_to_avgpool
from snnc.compiler.check import check_graph
from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec

SPEC = load_spec("hw_v1")


def maxpool_net(**pool_attrs) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("mp", ["x"], ["y"], [
        Node("conv", "conv", ["x"], ["c"], {"padding": (1, 1, 1, 1)}, {"weight": rng.normal(size=(4, 1, 3, 3))}),
        Node("relu", "relu", ["c"], ["r"]),
        Node("pool", "maxpool", ["r"], ["p"], {"kernel": (2, 2), "stride": (2, 2), **pool_attrs}),
        Node("flat", "flatten", ["p"], ["f"]),
        Node("fc", "linear", ["f"], ["y"], {}, {"weight": rng.normal(size=(3, 64))}),
    ], {"x": Value("x", (None, 1, 8, 8))})
    for n in g.nodes:
        g.add_value(n.output)
    return frontend_pipeline(g)


def test_default_refuses_and_the_hint_names_the_option():
    r = check_graph(maxpool_net(), SPEC, 2)
    assert [v.code for v in r.violations] == ["HW004"] and "--maxpool avgpool" in r.violations[0].hint


def test_replacement_is_reported_and_compiles():
    g, notes = maxpool_to_avgpool(maxpool_net())
    assert [n.op for n in g.nodes] == ["conv", "relu", "avgpool", "flatten", "linear"] and len(notes) == 1
    assert check_graph(g, SPEC, 2).fits
    res = compile_graph(maxpool_net(), SPEC, CompileOptions(bits=2, timesteps=2, maxpool="avgpool"), None)
    assert res.exit_code == 0 and any("MaxPool 2x2 (stride 2) replaced by AvgPool" in w for w in res.warnings)
    assert res.artefact.provenance["options"]["maxpool"] == "avgpool"
    assert "maxpool" not in CompileOptions(bits=2).to_dict()


def test_a_maxpool_without_an_equal_avgpool_is_left_and_said():
    g, notes = maxpool_to_avgpool(maxpool_net(ceil_mode=1))
    assert [n.op for n in g.nodes][2] == "maxpool" and "left as it is" in notes[0]


def test_check_cli_takes_the_option(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from snnc.compiler.cli.main import cli

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "W2"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "mp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                          [numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "W"),
                           numpy_helper.from_array(rng.normal(size=(3, 64)).astype(np.float32), "W2")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "mp.onnx")
    assert CliRunner().invoke(cli, ["check", str(tmp_path / "mp.onnx"), "--bits", "2"]).exit_code == 1
    res = CliRunner().invoke(cli, ["check", str(tmp_path / "mp.onnx"), "--bits", "2", "--maxpool", "avgpool"])
    assert res.exit_code == 0 and "replaced by AvgPool" in res.stderr
