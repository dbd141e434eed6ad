"""The numba backend's event-driven synaptic conv (jit_kernels.conv_currents): a conv without
neurons fed by spikes, whose integer current an add integrates with per-channel multipliers.

Its currents must equal the numpy path's dense matrix products (fastsim._conv_currents) exactly,
and the whole fused residual layer the plain-Python reference, over strides, paddings, input
dilations, kernel sizes, groups and both scatter paths (channel-pattern tables, per-channel)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.runtime import Add, Artefact, Conv, InputSpec, Neuron, Target
from snnc.runtime.backend import numba_available
from snnc.runtime.exactness import exactness_plan

from test_fastsim import assert_identical

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba not installed")

TARGET = Target(membrane_bits=12, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=4,
                weight_encoding="symmetric", input_bits=2)

GEOMETRIES = [  # (kernel, stride, padding (top, left, bottom, right), input_dilation, groups)
    ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    ((3, 2), (1, 2), (0, 1, 2, 0), (1, 1), 1),
    ((2, 3), (2, 1), (2, 0, 1, 1), (1, 1), 2),
    ((3, 3), (1, 1), (1, 1, 1, 1), (2, 2), 1),
    ((3, 3), (2, 1), (0, 2, 1, 0), (2, 1), 1),
    ((1, 1), (2, 2), (0, 0, 0, 0), (1, 3), 2),
    ((2, 2), (1, 1), (1, 1, 1, 1), (2, 2), 2),
]


def residual(geom, seed: int, channels: int = 4, out_channels: int = 6, size: int = 7) -> Artefact:
    """input spikes (rate) -> [synaptic conv `syn` + spiking conv `r` of the same geometry] -> add,
    multipliers: per channel for syn, one integer for r."""
    (kh, kw), stride, pad, dil, groups = geom
    rng = np.random.default_rng(seed)
    h = (size - 1) * dil[0] + 1
    w = (size - 1) * dil[1] + 1
    out = (out_channels, (h + pad[0] + pad[2] - kh) // stride[0] + 1, (w + pad[1] + pad[3] - kw) // stride[1] + 1)

    def conv(name, neuron):
        weight = rng.integers(-7, 8, size=(out_channels, channels // groups, kh, kw)).astype(np.int8)
        return Conv(name, ["input"], out, weight=weight, bits=4, stride=stride, padding=pad, groups=groups,
                    neuron=neuron, input_dilation=dil)

    syn = conv("syn", None)
    r = conv("r", Neuron(tuple(int(t) for t in rng.integers(3, 12, out_channels)), (0,) * out_channels))
    mults = (tuple(int(m) for m in rng.integers(-3, 4, out_channels)), int(rng.integers(1, 4)))
    add = Add("add", ["syn", "r"], out, multipliers=mults,
              neuron=Neuron(tuple(int(t) for t in rng.integers(5, 40, out_channels)), (1,) * out_channels, "subtract"))
    return Artefact(InputSpec((channels, size, size), "rate", 0, 3), (syn, r, add), TARGET)


@pytest.mark.parametrize("budget", [0, 64 << 10])  # 0: the per-channel scatter; else pattern tables
@pytest.mark.parametrize("geom", GEOMETRIES, ids=[f"g{k}" for k in range(len(GEOMETRIES))])
def test_synapse_currents_equal_the_dense_products(geom, budget):
    from snnc.runtime.fastsim import _conv_currents, _to_internal, _weight_mats
    from snnc.runtime.jit_backend import JitTuning, _OutputPool, prepare_synapse, synapse_currents

    art = residual(geom, seed=len(geom[0]) * 7 + budget % 5)
    syn = art.layers[0]
    plan = exactness_plan(art)["syn"]
    rng = np.random.default_rng(1)
    for density in (0.0, 0.3, 1.0):  # no spike, some, every input spiking
        x = _to_internal(rng.random((5, 3) + art.input.shape) < density, 3)  # (T, B, H, W, C) bool
        prep = prepare_synapse(syn, plan, art.input.shape, True, JitTuning(pattern_table_budget=budget))
        assert prep.mats is None  # the event-driven kernel
        got = synapse_currents(syn, x, plan, prep, pool=_OutputPool(0))
        want = _conv_currents(syn, x, plan, _weight_mats(syn, plan.matmul_dtype, art.input.shape))
        assert got.shape == want.shape
        assert np.issubdtype(got.dtype, np.integer)
        np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64))


@pytest.mark.parametrize("geom", GEOMETRIES, ids=[f"g{k}" for k in range(len(GEOMETRIES))])
def test_fused_residual_layer_equals_reference(geom):
    from snnc.runtime.jit_backend import JitTuning, NumbaBackend

    for seed, budget in ((3, 0), (4, 64 << 10)):  # the per-channel scatter, pattern tables
        art = residual(geom, seed, size=5)
        x = np.random.default_rng(seed).integers(0, 4, size=(2,) + art.input.shape)
        for backend in ("numba", NumbaBackend(JitTuning(pattern_table_budget=budget, output_pool_bytes=0))):
            assert_identical(art, x, 6, backend=backend)


def test_dense_synapses_switch_keeps_the_numpy_products():
    from snnc.runtime.jit_backend import JitTuning, NumbaBackend, prepare_all
    from snnc.runtime.backend import _plans

    art = residual(GEOMETRIES[0], 0)
    assert prepare_all(art, _plans(art))["syn"].mats is None
    assert prepare_all(art, _plans(art), JitTuning(dense_synapses=True))["syn"].mats is not None
    x = np.random.default_rng(0).integers(0, 4, size=(2,) + art.input.shape)
    assert_identical(art, x, 4, backend=NumbaBackend(JitTuning(dense_synapses=True)))
