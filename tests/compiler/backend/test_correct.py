"""Bias correction (`--bias-correction`): only integer biases change, the artefact stays valid and
verifies, the result is deterministic, and each corrected layer's firing rates move toward the
quantized ANN's on the calibration inputs."""
from __future__ import annotations

import pytest

from pathlib import Path

import numpy as np

from snnc.compiler.backend.build import compile_graph, prepare
from snnc.compiler.backend.options import CompileOptions, compile_flags
from snnc.compiler.data import load_dataset
from snnc.hwspec import load_spec
from snnc import runtime

ROOT = Path(__file__).resolve().parents[3]


def build(correct: bool):
    graph = prepare(ROOT / "examples" / "models" / "lenet5_mnist.onnx")
    data = load_dataset(ROOT / "examples" / "data" / "mnist_demo.npz")
    opts = CompileOptions(bits=4, timesteps=4, calib_samples=128, bias_correction=correct, calibration="off")
    return compile_graph(graph, load_spec("hw_v1"), opts, data)


@pytest.mark.slow
def test_only_biases_change_and_the_rate_error_drops():
    plain, fixed = build(False), build(True)
    assert plain.artefact.provenance["options"].get("bias_correction") is None
    assert fixed.artefact.provenance["options"]["bias_correction"] is True
    changed = 0
    for a, b in zip(plain.artefact.layers, fixed.artefact.layers):
        if hasattr(a, "weight"):
            assert np.array_equal(a.weight, b.weight)
        if getattr(a, "neuron", None) is not None:
            assert a.neuron.threshold == b.neuron.threshold
            changed += a.neuron.bias != b.neuron.bias
    assert changed >= 1 and runtime.verify(fixed.artefact).ok
    assert fixed.agreement >= plain.agreement
    again = build(True)
    assert all(getattr(x, "neuron", None) == getattr(y, "neuron", None)
               for x, y in zip(fixed.artefact.layers, again.artefact.layers))


def test_flag_round_trips_through_the_printed_command():
    assert compile_flags(CompileOptions(bits=4, bias_correction=True)) == ["--bits", "4", "--bias-correction"]
