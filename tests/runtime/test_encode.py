"""Float input quantization, numpy and compiled, against the reference's Python `round` (half to even)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.runtime import InputSpec
from snnc.runtime.encode import quantize_float, to_int_input
from snnc.runtime.errors import InputError

from snnc.runtime.reference import quantize_input
from sim_backends import over_backends


def quantizer(backend):
    if backend == "numpy":
        return quantize_float
    from snnc.runtime.jit_backend import quantize_input as compiled

    return compiled


def expected(spec, x):
    return np.array([quantize_input(spec, float(v)) for v in x.ravel()], np.int64).reshape(x.shape)


@over_backends
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ties_round_to_even_and_clip(backend, dtype):
    spec = InputSpec((2, 3), "current", -4, 5, 0.5)
    # x / 0.5 = -9 | -2.5 -1.5 -0.5 -0 | 0.5 1.5 2.5 3.5 4.5 | 5.5 1e4 (ties, clipped at both ends)
    x = np.array([-4.5, -1.25, -0.75, -0.25, -0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 5e3], dtype).reshape(2, 2, 3)
    got = to_int_input(spec, x, quantize=quantizer(backend))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.ravel(), [-4, -2, -2, 0, 0, 0, 2, 2, 4, 4, 5, 5])
    np.testing.assert_array_equal(got, expected(spec, x))


@over_backends
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=12, max_size=12), st.sampled_from([1 / 255, 0.1, 1.0, 3.0]),
       st.sampled_from([np.float32, np.float64]))
def test_random_floats_equal_reference(backend, values, scale, dtype):
    spec = InputSpec((3, 2), "current", -128, 127, scale)
    x = np.array(values, dtype).reshape(2, 3, 2)
    np.testing.assert_array_equal(to_int_input(spec, x, quantize=quantizer(backend)), expected(spec, x))


@over_backends
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_is_an_input_error(backend, bad, dtype):
    spec = InputSpec((4,), "current", 0, 255, 1 / 255)
    x = np.zeros((3, 4), dtype)
    x[2, 3] = bad
    with pytest.raises(InputError, match="NaN or infinity"):
        to_int_input(spec, x, quantize=quantizer(backend))


@over_backends
def test_non_contiguous_input(backend):
    spec = InputSpec((2, 2), "current", 0, 255, 1 / 255)
    x = np.random.default_rng(0).random((4, 2, 2, 3))[..., 1]  # a strided view
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(to_int_input(spec, x, quantize=quantizer(backend)), expected(spec, x))
