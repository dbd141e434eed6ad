"""The tf2onnx export of a Keras CNN (fixtures/keras_cnn.onnx, made by
examples/keras/make_keras_fixture.py with TensorFlow 2.21 + tf2onnx 1.17; TensorFlow is not
needed here): NHWC input + Transpose, Conv with BatchNorm fused in, Transpose back before the
Flatten (Shape/Gather/Slice/Concat/Cast -> Reshape), MatMul + Add, BatchNorm as Mul + Add.
It imports, computes what Keras computed (keras_cnn_io.npz; atol 1e-5), canonicalizes to
NCHW layers with no transpose, fits hw_v1 at 2 bits, and compiles from NHWC data (the layout the
model takes) into an artefact whose input.layout is NHWC, which `snnc run`/`eval` take as is."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dataclasses
import json

from snnc import runtime
from snnc.compiler.backend.build import compile_graph
from snnc.compiler.check import check_graph
from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError
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


def nhwc_calib(n: int = 64) -> np.ndarray:
    """Calibration images as Keras takes them: (N, H, W, C) = (n, 16, 16, 3)."""
    return np.random.default_rng(0).uniform(0, 1, (n, 16, 16, 3)).astype(np.float32)


@pytest.mark.slow
def test_checks_and_compiles_nhwc_data(keras, tmp_path):
    """The model takes NHWC, so the calibration data is NHWC (no transposing by hand): the artefact
    records input.layout NHWC and its golden inputs are the first calibration images as given."""
    _, canon, x, _ = keras
    spec = load_spec("hw_v1")
    report = check_graph(canon, spec, 2)
    assert report.exit_code == 0, report.to_text()
    calib = nhwc_calib()
    data = Dataset(x=calib, y=None, scale=1.0, source="<keras calib>")
    res = compile_graph(canon, spec, CompileOptions(bits=2, timesteps=8), data, out=tmp_path / "keras.snn")
    assert res.exit_code == 0 and (tmp_path / "keras.snn").is_file()
    assert res.agreement is not None and res.agreement > 0.5
    art = runtime.load(tmp_path / "keras.snn")
    assert art.input.layout == "NHWC" and art.input.shape == (3, 16, 16) and art.input.external_shape == (16, 16, 3)
    np.testing.assert_array_equal(art.golden.inputs, calib[:8])  # stored as given: (B, H, W, C)
    assert runtime.verify(art).ok
    # the artefact computes what the NCHW network computes on the transposed images
    nchw = dataclasses.replace(art, input=dataclasses.replace(art.input, layout="NCHW"), golden=None)
    a = runtime.simulate(art, calib[:16], 8)
    b = runtime.simulate(nchw, np.ascontiguousarray(calib[:16].transpose(0, 3, 1, 2)), 8)
    for name in b.counts:
        np.testing.assert_array_equal(a.counts[name], b.counts[name], err_msg=name)


def test_nchw_data_for_the_nhwc_model_is_refused(keras):
    _, canon, _, _ = keras
    calib = np.ascontiguousarray(nhwc_calib().transpose(0, 3, 1, 2))  # what the docs used to ask for
    data = Dataset(x=calib, y=None, scale=1.0, source="calib_nchw.npy")
    with pytest.raises(SnncError, match=r"calib_nchw\.npy: shape \[64, 3, 16, 16\] does not match \(B, 16, 16, 3\): "
                                        r"it looks like NCHW .*this model takes NHWC"):
        compile_graph(canon, load_spec("hw_v1"), CompileOptions(bits=2, timesteps=8), data)


@pytest.mark.slow
def test_cli_compile_run_eval_take_the_same_nhwc_arrays(tmp_path):
    """`snnc compile --calib` on NHWC data, then `snnc run` on the same NHWC array prints the
    compile's golden predictions, and `snnc eval` of the artefact scores NHWC test data."""
    calib = nhwc_calib()
    np.savez(tmp_path / "calib.npz", x=calib)
    out = tmp_path / "keras.snn"
    res = invoke("compile", FIXTURES / "keras_cnn.onnx", "--hw", "hw_v1", "--bits", "2", "-T", "8",
                 "--calib", tmp_path / "calib.npz", "-o", out)
    assert res.exit_code == 0, res.output
    art = runtime.load(out)
    assert art.input.layout == "NHWC"
    np.save(tmp_path / "x.npy", calib[:8])
    res = invoke("run", out, tmp_path / "x.npy")
    assert res.exit_code == 0, res.output
    preds = [int(line.split("prediction ")[1].split()[0]) for line in res.output.splitlines() if "prediction " in line]
    assert preds == art.golden.predictions.tolist()
    assert "warning" not in res.output
    np.save(tmp_path / "x_nchw.npy", np.ascontiguousarray(calib[:8].transpose(0, 3, 1, 2)))
    res = invoke("run", out, tmp_path / "x_nchw.npy")
    assert res.exit_code == 2 and "takes NHWC" in res.output and "Traceback" not in res.output
    labels = art.golden.predictions
    np.savez(tmp_path / "test.npz", x=calib[:8], y=labels)
    res = invoke("eval", out, "--data", tmp_path / "test.npz", "-T", "8", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["snn"] == {"8": 1.0}  # scored against the golden predictions: all agree


@pytest.mark.slow
def test_eval_warns_when_test_inputs_are_clipped(tmp_path):
    calib = nhwc_calib()
    out = tmp_path / "keras.snn"
    np.savez(tmp_path / "calib.npz", x=calib)
    assert invoke("compile", FIXTURES / "keras_cnn.onnx", "--bits", "2", "-T", "4", "--calib", tmp_path / "calib.npz",
                  "-o", out).exit_code == 0
    np.savez(tmp_path / "test.npz", x=calib[:8] * 255, y=np.zeros(8, np.int64))  # 0..255 data, 0..1 calibration
    res = invoke("eval", out, "--data", tmp_path / "test.npz", "-T", "4")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if "clipped" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "test.npz" in lines[0]


def invoke(*args):
    from click.testing import CliRunner

    from snnc.compiler.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


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


@pytest.mark.slow
def test_spikenorm_takes_nhwc_data_too(tmp_path):
    np.savez(tmp_path / "calib.npz", x=nhwc_calib())
    res = invoke("compile", FIXTURES / "keras_cnn.onnx", "--bits", "2", "-T", "4", "--norm", "spikenorm",
                 "--calib", tmp_path / "calib.npz", "-o", tmp_path / "k.snn", "-q")
    assert res.exit_code == 0, res.output
    assert runtime.verify(runtime.load(tmp_path / "k.snn")).ok
