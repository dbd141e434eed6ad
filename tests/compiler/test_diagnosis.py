"""When the SNN lags the quantized ANN, compile and eval say where it departs first and what to
try (issue 13): the first layer, in artefact order, whose firing rates differ from the quantized
ANN's activations / λ by more than RATE_ERROR on average."""
from __future__ import annotations

import pytest

from pathlib import Path

import numpy as np

from snnc.compiler.evaluate import RATE_ERROR, Correlation, diagnose

ROOT = Path(__file__).resolve().parents[2]


def corr(name, ann, snn):
    a, s = np.asarray(ann, float), np.asarray(snn, float)
    return Correlation(name, None, a.size, a, s, mae=float(np.abs(np.clip(a, 0, 1) - s).mean()),
                       clipped=float(np.mean(a > 1)))


def test_first_departing_layer_and_its_remedies():
    c = {"a": corr("a", [0.5, 0.2], [0.5, 0.2]), "b": corr("b", [1.5, 0.4, 0.3], [1.0, 0.1, 0.0]),
         "c": corr("c", [0.9], [0.0])}
    d = diagnose(c, ["a", "b", "c"], 8)
    assert d.layer == "b" and d.timesteps == 8 and d.mae > RATE_ERROR
    assert "a larger T" in d.to_text() and "higher clip point" in d.to_text() and "finetune -T 8" in d.to_text()
    assert diagnose({"a": c["a"]}, ["a"], 8) is None
    blocked = diagnose(c, ["a", "b", "c"], 8, finetune_blocked="fused residual layers").to_text()
    assert "snnc finetune -T" not in blocked and "does not train fused residual layers" in blocked


def test_finetune_is_suggested_only_where_it_can_train():
    from snnc.compiler.evaluate import finetune_blocker
    from snnc.runtime import load

    golden = ROOT / "tests" / "runtime" / "golden"
    assert finetune_blocker(load(golden / "lenet_host.snn")) is None
    assert finetune_blocker(load(golden / "fused_residual.snn")) == "fused residual layers"
    import dataclasses

    import snnc.runtime as rt

    art = load(golden / "lenet_host.snn")
    layers = list(art.layers)
    i = next(k for k, layer in enumerate(layers) if layer.name == "pool1")
    layers[i] = rt.MaxPool("pool1", ["conv1"], layers[i].output_shape, kernel=(2, 2), stride=(2, 2))
    assert finetune_blocker(dataclasses.replace(art, layers=tuple(layers), golden=None)) == "spiking max pools"


@pytest.mark.slow
def test_compile_and_eval_report_the_diagnosis():
    from click.testing import CliRunner

    from snnc.compiler.cli.main import cli

    model, data = ROOT / "examples" / "models" / "vgg_bn_mnist.onnx", ROOT / "examples" / "data" / "mnist_demo.npz"
    res = CliRunner().invoke(cli, ["eval", str(model), "--bits", "4", "--calib", str(data), "--calib-samples", "200",
                                   "--data", str(data), "--limit", "100", "-T", "4", "--calibration", "off"])
    assert res.exit_code == 0, res.output
    assert "diagnosis: the SNN departs from the quantized ANN first at layer" in res.stdout
