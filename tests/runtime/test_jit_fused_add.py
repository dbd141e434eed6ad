"""The numba backend's fused residual add (jit_kernels.add_if) and the spike-mask channel patterns
(jit_currents.spike_bits) against the plain-Python reference, exactly.

An add computes the spike-fed synaptic convs that only it reads inside its own kernel (up to two
as conv terms, a third as synapse_currents would; up to two other inputs as direct terms, more
summed beforehand): every combination is compared with the reference, and with the unfused path
(JitTuning(fuse_residual=False)). The channel patterns come from one or two 32-byte masks for
C <= 64 (channel by channel near the end of the array) and per channel above 64."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.runtime import Add, Artefact, Conv, InputSpec, Neuron, Target
from snnc.runtime.backend import _plans, numba_available

from test_fastsim import assert_identical

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba not installed")

TARGET = Target(membrane_bits=12, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=4,
                weight_encoding="symmetric", input_bits=2)


def _neuron(rng, c: int, lo: int, hi: int) -> Neuron:
    return Neuron(tuple(int(t) for t in rng.integers(lo, hi, c)), (0,) * c)


def fused(seed: int, n_syn: int, n_direct: int, channels: int = 4, size: int = 5, current_term: bool = False,
          target: Target = TARGET) -> Artefact:
    """input (rate spikes, or current) -> spiking conv `a` (3x3 pad 1, `channels` outputs) -> n_syn
    synaptic convs of a (alternately 3x3 pad 1 and 1x1) and n_direct other terms (a's spikes, the
    spiking conv `b`'s; with current_term the first is the input current) -> one add."""
    rng = np.random.default_rng(seed)
    c = channels
    shape = (c, size, size)
    w = lambda o, i, k: rng.integers(-7, 8, size=(o, i, k, k)).astype(np.int8)  # noqa: E731
    enc = "current" if current_term else "rate"
    a = Conv("a", ["input"], shape, weight=w(c, c, 3), bits=4, padding=(1, 1, 1, 1), neuron=_neuron(rng, c, 3, 12))
    b = Conv("b", ["a"], shape, weight=w(c, c, 1), bits=4, neuron=_neuron(rng, c, 2, 9))
    layers, ins = [a, b], []
    for k in range(n_syn):
        kk = 3 if k % 2 == 0 else 1
        layers.append(Conv(f"s{k}", ["a" if k % 3 != 2 else "b"], shape, weight=w(c, c, kk), bits=4,
                           padding=(kk // 2,) * 4, neuron=None))
        ins.append(f"s{k}")
    ins += (["input"] if current_term else []) + ["a", "b", "a"][:n_direct - current_term]
    mults = tuple(tuple(int(m) for m in rng.integers(-3, 4, c)) if k % 2 == 0 else int(rng.integers(1, 4))
                  for k in range(len(ins)))
    layers.append(Add("add", ins, shape, multipliers=mults,
                      neuron=Neuron(tuple(int(t) for t in rng.integers(5, 40, c)), (1,) * c, "subtract")))
    return Artefact(InputSpec(shape, enc, 0, 3), tuple(layers), target)


def _backends():
    from snnc.runtime.jit_backend import JitTuning, NumbaBackend

    return ("numba", NumbaBackend(JitTuning(fuse_residual=False)),
            NumbaBackend(JitTuning(pattern_table_budget=0, output_pool_bytes=0, step_block_bytes=1)))


@pytest.mark.parametrize("n_syn,n_direct", [(1, 1), (2, 0), (2, 1), (2, 2), (1, 3), (3, 2)])
def test_fused_add_equals_reference(n_syn, n_direct):
    for seed in (0, 1):
        art = fused(seed, n_syn, n_direct)
        x = np.random.default_rng(seed).integers(0, 4, size=(2,) + art.input.shape)
        for backend in _backends():
            assert_identical(art, x, 5, backend=backend)


@pytest.mark.slow
def test_fused_add_with_a_current_term_and_wrapping_equals_reference():
    wrap = Target(membrane_bits=7, overflow="wrap", fire="gt", threshold_bits=6, bias_bits=4,
                  weight_encoding="symmetric", input_bits=2)
    for n_syn, n_direct in ((1, 1), (2, 2), (2, 3)):
        for target in (TARGET, wrap):
            art = fused(n_syn + n_direct, n_syn, n_direct, current_term=True, target=target)
            x = np.random.default_rng(n_direct).integers(0, 4, size=(3,) + art.input.shape)
            for backend in _backends():
                assert_identical(art, x, 4, batch_size=2, backend=backend)


@pytest.mark.slow
@pytest.mark.parametrize("channels", [16, 31, 33, 64, 70])  # one mask (runs of 3 and 6 vectors), two, two full, per channel
def test_channel_patterns_at_every_width_equal_reference(channels):
    art = fused(channels, 2, 1, channels=channels, size=2)
    x = np.random.default_rng(channels).integers(0, 4, size=(2,) + art.input.shape)
    for backend in _backends()[:2]:
        assert_identical(art, x, 3, backend=backend)


def test_only_convs_read_by_their_add_alone_are_fused():
    from snnc.runtime.jit_backend import JitTuning, prepare_all

    art = fused(0, 2, 1)
    prep = prepare_all(art, _plans(art))
    assert prep["s0"].fuse and prep["s1"].fuse
    assert not prepare_all(art, _plans(art), JitTuning(fuse_residual=False))["s0"].fuse
    assert not prepare_all(art, _plans(art), JitTuning(dense_synapses=True))["s0"].fuse  # matrices: computed apart
    # a synaptic conv read by two adds is computed once, by synapse_currents
    c = art.input.shape[0]
    two = Artefact(art.input, art.layers + (Add("add2", ["s0", "a"], art.input.shape, multipliers=(1, 1),
                                                    neuron=Neuron((5,) * c, (0,) * c)),), TARGET)
    assert not prepare_all(two, _plans(two))["s0"].fuse and prepare_all(two, _plans(two))["s1"].fuse
    x = np.random.default_rng(0).integers(0, 4, size=(2,) + art.input.shape)
    assert_identical(two, x, 4, backend="numba")
