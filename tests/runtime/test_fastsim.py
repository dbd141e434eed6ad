"""The fast simulator against the plain-Python reference: identical spikes, membranes, counts, outputs."""
from __future__ import annotations

import pytest

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.runtime import simulate
from snnc.runtime.validate import carries_spikes

from snnc.runtime.reference import reference_simulate
from runtime_strategies import artefacts, batches
from sim_backends import over_backends

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_identical(art, x, T, batch_size=None, backend="numpy"):
    fast = simulate(art, x, T, trace=True, batch_size=batch_size, backend=backend)
    assert fast.backend == getattr(backend, "name", backend)  # a name, or a backend object
    ref = reference_simulate(art, x, T)
    spiking = carries_spikes(art)
    for layer in art.core_layers:
        if spiking[layer.name]:
            np.testing.assert_array_equal(fast.spikes[layer.name], ref["spikes"][layer.name], err_msg=layer.name)
            np.testing.assert_array_equal(fast.counts[layer.name], ref["counts"][layer.name], err_msg=layer.name)
        if layer.has_neurons:
            np.testing.assert_array_equal(fast.membranes[layer.name], ref["membranes"][layer.name], err_msg=layer.name)
    assert fast.output_layer == ref["output_layer"]
    np.testing.assert_array_equal(fast.output_counts, ref["counts"][ref["output_layer"]])
    if art.host is not None:
        np.testing.assert_allclose(fast.logits, ref["logits"], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(fast.predictions, ref["predictions"])
    return fast


@st.composite
def cases(draw):
    art = draw(artefacts())
    return art, draw(batches(art.input)), draw(st.integers(1, 6))


@pytest.mark.slow
@over_backends
@SETTINGS
@given(cases())
def test_fast_equals_reference(backend, case):
    art, x, T = case
    assert_identical(art, x, T, backend=backend)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(cases())
def test_both_conv_strategies_equal_reference(case):
    """Convolutions run as im2col + matmul or as one unrolled matrix; force each in turn."""
    import snnc.runtime.fastsim as fastsim

    art, x, T = case
    saved = fastsim.UNROLL_MAX_ENTRIES, fastsim.UNROLL_MAX_WASTE
    try:
        for limits in ((0, 0), (1 << 30, 1 << 30)):  # never unroll, always unroll
            fastsim.UNROLL_MAX_ENTRIES, fastsim.UNROLL_MAX_WASTE = limits
            assert_identical(art, x, T)
    finally:
        fastsim.UNROLL_MAX_ENTRIES, fastsim.UNROLL_MAX_WASTE = saved


@pytest.mark.slow
@over_backends
@settings(max_examples=30, deadline=None)
@given(cases())
def test_batch_chunking_and_trace_do_not_change_results(backend, case):
    art, x, T = case
    whole = simulate(art, x, T, backend=backend)
    chunked = simulate(art, x, T, trace=True, batch_size=1, backend=backend)
    for name, counts in whole.counts.items():
        np.testing.assert_array_equal(counts, chunked.counts[name])
        np.testing.assert_array_equal(chunked.spikes[name].sum(axis=1), counts)


@pytest.mark.slow
@over_backends
@settings(max_examples=40, deadline=None)
@given(cases(), st.data())
def test_counts_at_equal_shorter_runs(backend, case, data):
    """counts_at (recorded inside the numba kernels, summed in numpy) equals t-step simulations."""
    art, x, T = case
    steps = sorted(set(data.draw(st.lists(st.integers(1, T), min_size=1, max_size=3))))
    res = simulate(art, x, T, counts_at=steps, batch_size=data.draw(st.sampled_from([None, 1])), backend=backend)
    for t in steps:
        ref = reference_simulate(art, x, t)
        for name, counts in res.counts_at[t].items():
            np.testing.assert_array_equal(counts, ref["counts"][name], err_msg=f"{name} t={t}")
        if art.host is not None:
            np.testing.assert_array_equal(res.predictions_at[t], ref["predictions"])


def _one_neuron(overflow, x, weight, m=4, theta=15, reset="zero", fire="ge", bias=0, backend="numpy"):
    from snnc.runtime import Artefact, InputSpec, Linear, Neuron, Target

    target = Target(membrane_bits=m, overflow=overflow, fire=fire, threshold_bits=4, bias_bits=4,
                    weight_encoding="full", input_bits=8)
    layer = Linear("l", ["input"], (1,), weight=[[weight]], bits=4, neuron=Neuron([theta], [bias], reset, "zero"))
    art = Artefact(InputSpec((1,), "current", -128, 127), (layer,), target)
    return simulate(art, np.array([[x]]), 6, trace=True, backend=backend).membranes["l"][0, :, 0].tolist()


@over_backends
def test_saturation_clips_at_both_ends_of_the_membrane(backend):
    # m = 4: V in [-8, 7]; theta = 15 can never be reached, so V sits at the rail.
    assert _one_neuron("saturate", 3, 1, backend=backend) == [3, 6, 7, 7, 7, 7]
    assert _one_neuron("saturate", 3, -1, backend=backend) == [-3, -6, -8, -8, -8, -8]


@over_backends
def test_wrap_is_twos_complement_at_the_membrane_width(backend):
    # 5, 10 -> -6, -1, 4, 9 -> -7, -2
    assert _one_neuron("wrap", 5, 1, backend=backend) == [5, -6, -1, 4, -7, -2]
    assert _one_neuron("wrap", 3, -1, backend=backend) == [-3, -6, 7, 4, 1, -2]


@over_backends
def test_fire_ge_vs_gt_and_reset_modes(backend):
    # theta = 4, input 2 per step
    assert _one_neuron("saturate", 2, 1, theta=4, fire="ge", reset="zero", backend=backend) == [2, 0, 2, 0, 2, 0]
    assert _one_neuron("saturate", 2, 1, theta=4, fire="gt", reset="zero", backend=backend) == [2, 4, 0, 2, 4, 0]
    assert _one_neuron("saturate", 3, 1, theta=4, fire="ge", reset="subtract", backend=backend) == [3, 2, 1, 0, 3, 2]
