"""A final Softmax is recorded in the artefact (host_linear `softmax`) and computed by the host
(issue 14: it used to be compiled and silently dropped)."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from snnc import runtime
from snnc.runtime import model as rt
from snnc.runtime.errors import ArtefactError


def artefact(softmax: bool) -> rt.Artefact:
    rng = np.random.default_rng(0)
    neuron = rt.Neuron(threshold=[3], bias=[0] * 6, reset="subtract", v_init="zero")
    return rt.Artefact(
        input=rt.InputSpec(shape=(4,), encoding="current", lo=0, hi=7, scale=1.0),
        layers=(rt.Linear("h", ["input"], (6,), weight=rng.integers(-1, 2, (6, 4)).astype(np.int8), bits=2, neuron=neuron),
                rt.HostLinear("head", ["h"], (3,), weight=rng.normal(size=(3, 6)).astype(np.float32),
                              bias=np.zeros(3, np.float32), input_scale=1.0, softmax=softmax)),
        target=rt.Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=8,
                         weight_encoding="symmetric", input_bits=3),
        hardware_spec={}, provenance={})


@pytest.mark.parametrize("backend", ["numpy", "reference"])
def test_probabilities_are_the_softmax_of_the_logits(tmp_path, backend):
    x = np.random.default_rng(1).integers(0, 8, (5, 4))
    res = runtime.simulate(artefact(True), x, 8, backend=backend)
    z = np.exp(res.logits - res.logits.max(axis=1, keepdims=True))
    assert np.array_equal(res.probabilities, z / z.sum(axis=1, keepdims=True))
    assert np.array_equal(res.predictions, res.probabilities.argmax(axis=1))
    assert runtime.simulate(artefact(False), x, 8, backend=backend).probabilities is None


def test_softmax_survives_save_and_load_and_is_written_only_when_set(tmp_path):
    for flag in (True, False):
        art = runtime.make_golden(artefact(flag), np.zeros((1, 4), np.int64), 4)
        runtime.save(art, tmp_path / "a.snn")
        assert runtime.load(tmp_path / "a.snn").host.softmax is flag
        head = json.loads(zipfile.ZipFile(tmp_path / "a.snn").read("manifest.json"))["layers"][-1]
        assert ("softmax" in head) is flag


def test_softmax_must_be_a_boolean():
    with pytest.raises(ArtefactError, match="softmax"):
        rt.HostLinear("head", ["h"], (3,), weight=np.zeros((3, 6), np.float32), bias=np.zeros(3, np.float32),
                      softmax="yes")
