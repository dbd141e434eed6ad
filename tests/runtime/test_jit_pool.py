"""The numba backend's average pooling (jit_currents.window_sums) against the plain-Python reference,
exactly: windows that do not overlap (kw <= sw: each window summed straight from the row sums) and
windows that do (the shared column sums), over kernels, strides and channel counts."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.runtime import Artefact, AvgPool, Conv, InputSpec, Neuron, Target
from snnc.runtime.backend import numba_available

from test_fastsim import assert_identical

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba not installed")

TARGET = Target(membrane_bits=10, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=4,
                weight_encoding="symmetric", input_bits=2)


@pytest.mark.parametrize("kernel,stride,channels", [((2, 2), (2, 2), 3), ((3, 2), (1, 2), 1), ((2, 3), (2, 3), 5),
                                                    ((2, 3), (2, 1), 2), ((1, 2), (1, 4), 4), ((3, 3), (2, 2), 3)])
def test_avgpool_windows_equal_reference(kernel, stride, channels):
    rng = np.random.default_rng(sum(kernel) + 7 * sum(stride) + channels)
    c, h, w = channels, 7, 8
    conv = Conv("c", ["input"], (c, h, w), weight=rng.integers(-7, 8, size=(c, 2, 3, 3)).astype(np.int8), bits=4,
                padding=(1, 1, 1, 1), neuron=Neuron(tuple(int(t) for t in rng.integers(2, 9, c)), (0,) * c))
    out = (c, (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1)
    pool = AvgPool("p", ["c"], out, kernel=kernel, stride=stride,
                   neuron=Neuron(tuple(int(t) for t in rng.integers(1, 5, c)), (0,) * c))
    art = Artefact(InputSpec((2, h, w), "rate", 0, 3), (conv, pool), TARGET)
    x = rng.integers(0, 4, size=(2,) + art.input.shape)
    assert_identical(art, x, 5, backend="numba")


def _conv_pool(seed: int, encoding: str, channels: int, kernel, stride, reader_too: bool = False) -> Artefact:
    """input -> conv c (neurons) -> avgpool p (neurons) [-> conv r reading c too]."""
    rng = np.random.default_rng(seed)
    c, h, w = channels, 6, 7
    conv = Conv("c", ["input"], (c, h, w), weight=rng.integers(-7, 8, size=(c, 3, 3, 3)).astype(np.int8), bits=4,
                padding=(1, 1, 1, 1), neuron=Neuron(tuple(int(t) for t in rng.integers(2, 9, c)), (0,) * c))
    out = (c, (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1)
    layers = [conv, AvgPool("p", ["c"], out, kernel=kernel, stride=stride,
                            neuron=Neuron(tuple(int(t) for t in rng.integers(1, 5, c)), (0,) * c))]
    if reader_too:
        layers.append(Conv("r", ["c"], (2, h, w), weight=rng.integers(-7, 8, size=(2, c, 1, 1)).astype(np.int8),
                           bits=4, neuron=Neuron((3, 4), (0, 0))))
    return Artefact(InputSpec((3, h, w), encoding, 0, 3), tuple(layers), TARGET)


@pytest.mark.parametrize("encoding,channels,kernel,stride", [("current", 4, (2, 2), (2, 2)), ("rate", 5, (2, 2), (2, 2)),
                                                             ("rate", 3, (3, 2), (1, 1)), ("current", 2, (2, 3), (2, 1))])
def test_conv_fused_into_its_pool_equals_reference(encoding, channels, kernel, stride):
    from snnc.runtime import simulate
    from snnc.runtime.backend import _plans
    from snnc.runtime.jit_backend import JitTuning, NumbaBackend, prepare_all

    art = _conv_pool(channels, encoding, channels, kernel, stride)
    assert prepare_all(art, _plans(art))["c"].pool_fused
    assert not prepare_all(art, _plans(art), JitTuning(fuse_pool=False))["c"].pool_fused
    x = np.random.default_rng(channels).integers(0, 4, size=(3,) + art.input.shape)
    small = NumbaBackend(JitTuning(step_block_bytes=1, neuron_block=3, constant_block=5, pattern_table_budget=0))
    for backend in ("numba", small, NumbaBackend(JitTuning(fuse_pool=False))):
        assert_identical(art, x, 5, backend=backend)  # with trace: not fused
        fast = simulate(art, x, 5, backend=backend, counts_at=(1, 3))  # without trace: fused
        ref = simulate(art, x, 5, backend="numpy", counts_at=(1, 3))
        for name in ("c", "p"):
            np.testing.assert_array_equal(fast.counts[name], ref.counts[name])
            for t in (1, 3):
                np.testing.assert_array_equal(fast.counts_at[t][name], ref.counts_at[t][name])
        np.testing.assert_array_equal(fast.output_counts, ref.output_counts)


def test_a_conv_read_by_more_than_its_pool_is_not_fused():
    from snnc.runtime.backend import _plans
    from snnc.runtime.jit_backend import prepare_all

    art = _conv_pool(0, "rate", 3, (2, 2), (2, 2), reader_too=True)
    assert not prepare_all(art, _plans(art))["c"].pool_fused
    x = np.random.default_rng(0).integers(0, 4, size=(2,) + art.input.shape)
    assert_identical(art, x, 4, backend="numba")
