"""More real tf2onnx exports (fixtures made by examples/keras/make_keras_breadth.py with
TensorFlow 2.21 + tf2onnx 1.17; TensorFlow is not needed here), issue 14:

- keras_resnet: Conv2D-BN-ReLU-Conv2D-BN-Add-ReLU blocks, one with a 1x1 Conv2D+BN projection,
  GlobalAveragePooling2D, Dense: compiles as fused residual layers;
- keras_gap: GlobalAveragePooling2D as tf2onnx writes it (GlobalAveragePool + Squeeze);
- keras_cnn_noopt (and keras_resnet_noopt, keras_gap_noopt): the same models exported with every
  tf2onnx optimizer off. Their NCHW<->NHWC Transpose pairs around Conv/BN/pooling cancel, and
  `check` reports exactly what it reports for the optimised export.

Each imports and computes what Keras computed (its _io.npz, atol 1e-5), checks, compiles from
NHWC calibration data and verifies."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from snnc import runtime
from snnc.compiler.backend.build import compile_graph
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.check import check_graph
from snnc.compiler.data import Dataset
from snnc.compiler.frontends import load_model
from snnc.compiler.ir.interpret import run
from snnc.compiler.passes import frontend_pipeline
from snnc.hwspec import load_spec

FIXTURES = Path(__file__).parent / "fixtures"
KERAS_TOL = dict(atol=1e-5, rtol=1e-5)
NAMES = ["keras_resnet", "keras_gap", "keras_cnn_noopt", "keras_resnet_noopt", "keras_gap_noopt"]
OPTIMISED = {"keras_cnn_noopt": "keras_cnn", "keras_resnet_noopt": "keras_resnet", "keras_gap_noopt": "keras_gap"}
RESNET_OPS = ["conv", "relu", "conv", "relu", "conv", "add", "relu", "conv", "conv", "relu", "conv", "add", "relu",
              "globalavgpool", "flatten", "linear"]


def _load(name):
    graph = load_model(FIXTURES / f"{name}.onnx")
    return graph, frontend_pipeline(load_model(FIXTURES / f"{name}.onnx"))


@pytest.fixture(scope="module")
def models():
    return {name: _load(name) for name in NAMES + ["keras_cnn"]}


@pytest.mark.parametrize("name", NAMES)
def test_import_computes_what_keras_computed(models, name):
    graph, canon = models[name]
    io = np.load(FIXTURES / f"{name}_io.npz")
    assert graph.meta["producer_name"] == "tf2onnx"
    np.testing.assert_allclose(run(graph, io["x"])[graph.outputs[0]], io["y"], **KERAS_TOL)
    # the canonical graph is NCHW without a transpose, the NHWC input moved to the host
    assert "transpose" not in [n.op for n in canon.nodes]
    assert canon.meta["input_transpose"] == (0, 3, 1, 2)
    np.testing.assert_allclose(run(canon, io["x"].transpose(0, 3, 1, 2))[canon.outputs[0]], io["y"], **KERAS_TOL)


def test_noopt_exports_keep_their_transposes(models):
    for name in OPTIMISED:
        raw = [n.op for n in models[name][0].nodes]
        assert raw.count("transpose") >= 5, (name, raw)


def test_residual_blocks_become_fused_residual_layers(models):
    for name in ("keras_resnet", "keras_resnet_noopt"):
        canon = models[name][1]
        assert sorted(n.op for n in canon.nodes) == sorted(RESNET_OPS), name
        kernels = sorted(n.params["weight"].shape[2] for n in canon.nodes if n.op == "conv")
        assert kernels == [1, 3, 3, 3, 3, 3]  # the 1x1 projection (runs as a centred 3x3 on hw_v1)


def test_gap_is_globalavgpool_and_flatten(models):
    for name in ("keras_gap", "keras_gap_noopt"):
        assert [n.op for n in models[name][1].nodes] == ["conv", "relu", "conv", "relu", "globalavgpool", "flatten",
                                                         "linear"], name


def _shape_of_report(report):
    """The check report without the layer names (tf2onnx names nodes differently with optimizers off)
    and their order (a residual block's projection may be written before or after its main branch)."""
    import json

    d = report.to_dict()
    rows = [{k: v for k, v in r.items() if k != "layer"} for r in d["layers"]]
    viol = [{k: v for k, v in v.items() if k not in ("layer", "message", "hint")} for v in d["violations"]]
    return d["fits"], d["summary"], sorted(map(json.dumps, rows)), sorted(map(json.dumps, viol))


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("name", sorted(OPTIMISED))
def test_noopt_checks_exactly_as_the_optimised_export(models, name, bits):
    spec = load_spec("hw_v1")
    a = check_graph(models[name][1], spec, bits)
    b = check_graph(models[OPTIMISED[name]][1], spec, bits)
    assert _shape_of_report(a) == _shape_of_report(b)
    if bits == 1 and "resnet" in name:  # the 1x1 projection cannot be centred in a 3x3 of bipolar weights
        assert [(v.code, v.actual) for v in a.violations] == [("HW002", "1x1 at 1 bit")]
    else:
        assert a.fits, a.to_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_compiles_and_verifies_from_nhwc_data(models, name, tmp_path):
    canon = models[name][1]
    calib = np.random.default_rng(0).uniform(0, 1, (48, 16, 16, 3)).astype(np.float32)  # examples/data-like: [0, 1]
    data = Dataset(x=calib, y=None, scale=1.0, source="<keras calib>")
    res = compile_graph(canon, load_spec("hw_v1"), CompileOptions(bits=2, timesteps=8), data, out=tmp_path / "m.snn")
    assert res.exit_code == 0
    art = runtime.load(tmp_path / "m.snn")
    assert art.input.layout == "NHWC"
    assert runtime.verify(art).ok
    kinds = [layer.kind for layer in art.layers]
    if "resnet" in name:
        assert kinds.count("add") == 2
        synaptic = [layer for layer in art.layers if layer.kind == "conv" and layer.neuron is None]
        assert len(synaptic) == 3 and {lay.weight.shape[2] for lay in synaptic} == {3}  # 1x1 runs as 3x3
