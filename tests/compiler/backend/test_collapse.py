"""Degenerate lowering is reported (issue 18, item 2): when a layer's integers collapse, compile
warns per layer, and reports the SNN's agreement with the float model next to the quantized ANN's."""
from __future__ import annotations

import pytest

from pathlib import Path

import numpy as np

from snnc.compiler.backend.build import compile_graph, prepare
from snnc.compiler.backend.emit import collapse_warnings
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.data import load_dataset
from snnc.hwspec import load_spec

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_vgg_2bit_rate_coding_warns_that_the_quantized_ann_is_broken():
    graph = prepare(ROOT / "examples" / "models" / "vgg_bn_mnist.onnx")
    data = load_dataset(ROOT / "examples" / "data" / "mnist_demo.npz", role="calib")
    # the pipeline of issue 18's report (the --norm scales): automatic calibration, the default now, is off
    opts = CompileOptions(bits=2, timesteps=16, input_encoding="rate", calib_samples=300, calibration="off")
    res = compile_graph(graph, load_spec("hw_v1"), opts, data)
    assert res.agreement > 0.9 and res.float_agreement < 0.5  # agrees with a broken quantized ANN
    assert any("biases round to 0" in w and "features.0" in w for w in res.warnings)
    assert any("float model on only" in w for w in res.warnings)


@pytest.mark.slow
def test_lenet_4bit_small_lost_biases_are_not_reported():
    graph = prepare(ROOT / "examples" / "models" / "lenet5_mnist.onnx")
    data = load_dataset(ROOT / "examples" / "data" / "mnist_demo.npz", role="calib")
    res = compile_graph(graph, load_spec("hw_v1"), CompileOptions(bits=4, timesteps=16, calib_samples=200), data)
    assert not [w for w in res.warnings if "round to 0" in w or "at its minimum" in w]
    assert res.float_agreement > 0.95


def test_healthy_layer_has_no_collapse_warning():
    q = np.array([[1, -1, 1], [1, 1, -1]])
    assert collapse_warnings("l", q, np.array([40]), np.array([0.5, -0.2]), np.array([20, -8]), "bipolar") == []


def test_each_collapse_is_named():
    w = collapse_warnings("l", np.array([[0, 0, 1], [0, 0, 0]]), np.array([2]), np.array([0.1, 0.2]),
                          np.array([0, 0]), "symmetric")
    assert len(w) == 3 and "threshold 2" in w[0] and "83% of its weights" in w[1] and "2 of 2 biases" in w[2]
    assert "up to 20%" in w[2]
