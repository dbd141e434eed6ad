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
