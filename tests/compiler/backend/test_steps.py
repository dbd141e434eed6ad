"""The agreement step's bounds (`steps.agreement_samples`, a work budget for large networks) and its
reuse of the golden vectors' predictions (`steps._snn_predictions`: the same as simulating)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend import steps
from snnc.runtime import model as rt
from tiny_models import tiny_artefact

ROOT = Path(__file__).resolve().parents[3]


def float_inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, 4)).astype(np.float32)


def test_dense_macs_counts_conv_windows_and_linear_weights():
    art, _, _ = tiny_artefact()
    assert steps.dense_macs(art) == 12  # linear 3x4
    target = art.target
    conv = rt.Artefact(
        input=rt.InputSpec(shape=(2, 5, 5), encoding="rate", lo=0, hi=7, scale=1 / 7),
        layers=(rt.Conv(name="c", inputs=["input"], output_shape=(3, 3, 3), weight=np.ones((3, 2, 3, 3), np.int8), bits=2,
                        stride=(1, 1), padding=(0, 0, 0, 0),
                        neuron=rt.Neuron(threshold=[7], bias=[0, 0, 0], reset="subtract", v_init="zero")),),
        target=target)
    assert steps.dense_macs(conv) == 3 * 2 * 3 * 3 * 3 * 3  # every weight at each of the 3x3 output positions


def test_small_networks_keep_agreement_samples():
    art, _, _ = tiny_artefact()
    assert steps.agreement_samples(art, 16, 10_000) == steps.AGREEMENT_SAMPLES == 256
    assert steps.agreement_samples(art, 4096, 10_000) == 256
    assert steps.agreement_samples(art, 16, 100) == 100  # never more than the calibration inputs


def test_large_networks_are_bounded_by_the_work_budget(monkeypatch):
    art, _, _ = tiny_artefact()  # 12 MACs per image
    monkeypatch.setattr(steps, "AGREEMENT_WORK", 12 * 4 * 40)
    assert steps.agreement_samples(art, 4, 10_000) == 40  # T x MACs x samples within the budget
    assert steps.agreement_samples(art, 40, 10_000) == steps.AGREEMENT_MIN_SAMPLES == 32  # the floor
    assert steps.agreement_samples(art, 40, 5) == 5


def test_resnet18_sized_work_is_bounded():
    # the scale benchmark's network: 481,854,208 dense MACs per image (docs/scale.md), at T=16
    per = 16 * 481_854_208
    assert max(steps.AGREEMENT_MIN_SAMPLES, steps.AGREEMENT_WORK // per) == 35


@pytest.mark.parametrize("n", [3, 8, 20])
def test_golden_predictions_reused_equal_simulation(n):
    art, _, _ = tiny_artefact()
    x = float_inputs(20)
    gart = runtime.make_golden(art, x[:8], 8)
    want = runtime.simulate(gart, x[:n], 8).predictions
    assert np.array_equal(steps._snn_predictions(gart, x[:n], 8), want)
    assert np.array_equal(steps._snn_predictions(gart, x[:n].astype(np.float64), 8), want)  # same values


def test_golden_predictions_are_the_ones_reused_only_when_inputs_match():
    art, _, _ = tiny_artefact()
    x = float_inputs(12)
    gart = runtime.make_golden(art, x[:8], 8)
    g = gart.golden
    marked = dataclasses.replace(gart, golden=dataclasses.replace(g, predictions=1 - g.predictions))
    got = steps._snn_predictions(marked, x, 8)
    assert np.array_equal(got[:8], 1 - g.predictions)  # taken from the golden vectors, not simulated
    other = float_inputs(12, seed=5)
    assert np.array_equal(steps._snn_predictions(marked, other, 8), runtime.simulate(gart, other, 8).predictions)
    assert np.array_equal(steps._snn_predictions(marked, x, 4), runtime.simulate(gart, x, 4).predictions)  # other T


def test_integer_golden_inputs_are_not_taken_for_float_inputs():
    art, xi, _ = tiny_artefact()  # uint8 inputs are taken as integers, float ones are quantized
    gart = runtime.make_golden(art, xi[:8], 8)
    x = xi[:12].astype(np.float32)  # the same values, another meaning
    assert np.array_equal(steps._snn_predictions(gart, x, 8), runtime.simulate(gart, x, 8).predictions)
