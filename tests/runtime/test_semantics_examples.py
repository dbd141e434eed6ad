"""docs/semantics.md section 6 worked examples (the fused residual layer, the spiking max pool), step by step on
every backend; and the loader's rules for synaptic convs and per-channel multipliers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc.runtime import Add, Artefact, Conv, InputSpec, Linear, Neuron, Target, simulate
from snnc.runtime.errors import ArtefactError
from sim_backends import over_backends

TARGET = Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=4,
                weight_encoding="symmetric", input_bits=2)


def example(**add_kw) -> Artefact:
    """s: the (rate-coded) 2-channel 1x1 input; r: a spiking layer; the add reads conv(s) with m = 5, r with m = [3]."""
    r = Conv("r", ["input"], (1, 1, 1), weight=np.array([[[[1]], [[0]]]]), bits=2,
             neuron=Neuron([1], [0], "zero", "zero"))  # r = s[0] (fires exactly when channel 0 spikes)
    syn = Conv("syn", ["input"], (1, 1, 1), weight=np.array([[[[2]], [[-1]]]]), bits=3, neuron=None)
    kw = dict(multipliers=[5, (3,)], neuron=Neuron([8], [1], "subtract", "zero"))
    kw.update(add_kw)
    add = Add("add", ["syn", "r"], (1, 1, 1), **kw)
    return Artefact(InputSpec((2, 1, 1), "rate", 0, 1), (r, syn, add), TARGET)


@over_backends
def test_worked_example(backend):
    # step 0: s = (1, 0) and r = 1; step 1: s = (1, 1) and r = 1 (r copies channel 0)
    x = np.array([[[[1]], [[0]]], [[[1]], [[1]]]])  # two samples, each its own constant rate input
    res = simulate(example(), x[:1], 1, trace=True, backend=backend)
    assert res.membranes["add"].reshape(-1).tolist() == [6]  # I = 5*2 + 3*1 = 13, U = 14 >= 8 -> V = 6
    assert res.spikes["add"].reshape(-1).tolist() == [1]
    two = simulate(example(), x[1:], 2, trace=True, backend=backend)
    # s = (1, 1), r = 1 every step: I = 5*(2 - 1) + 3 = 8; U = 0 + 8 + 1 = 9 -> V = 1; U = 1 + 8 + 1 = 10 -> V = 2
    assert two.membranes["add"].reshape(-1).tolist() == [1, 2]
    assert "syn" not in two.counts and "syn" not in two.membranes  # a synaptic conv carries current


def test_only_an_add_may_read_a_synaptic_conv():
    a = example()
    bad = Linear("lin", ["syn"], (1,), weight=np.array([[1]]), bits=2, neuron=Neuron([1], [0]))
    with pytest.raises(ArtefactError, match="synaptic conv"):
        Artefact(a.input, a.layers[:2] + (bad,), TARGET)
    with pytest.raises(ArtefactError, match="must be read by an add"):
        Artefact(a.input, (a.layers[0], a.layers[1]), TARGET)


def test_per_channel_multipliers_need_one_per_channel():
    with pytest.raises(ArtefactError, match=r"multipliers\[1\]"):
        example(multipliers=[5, (3, 4)])
    with pytest.raises(ArtefactError, match="32 bits"):
        example(multipliers=[1 << 31, 1])



@over_backends
def test_maxpool_worked_example(backend):
    """docs/semantics.md section 6 maxpool: one 1x2 window over a rate-coded input (hi 4, rate_init
    zero): position 0 (x = 2) spikes 0,1,0,1 and position 1 (x = 3) spikes 0,1,1,1; out 0,1,0,1."""
    from snnc.runtime import Flatten, MaxPool

    spec = InputSpec((1, 1, 2), "rate", 0, 4, rate_init="zero")
    a = Artefact(spec, (MaxPool("mp", ["input"], (1, 1, 1), kernel=(1, 2), stride=(1, 1)),
                        Flatten("f", ["mp"], (1,))), dataclasses.replace(TARGET, input_bits=4))
    res = simulate(a, np.array([[[[2, 3]]]]), 4, trace=True, backend=backend)
    assert res.spikes["mp"].reshape(-1).tolist() == [0, 1, 0, 1]
