"""The numba backend's alternative code paths, each forced in turn against the plain-Python reference.

Small random networks take the default paths (int32 membranes, one neuron block, all steps in one
block, channel-pattern tables); here the settings that choose the paths (a `JitTuning`, passed as
`backend=NumbaBackend(tuning)`) are changed so that the others run too: int64 membranes, neuron
and step blocks of 1-3, the plain per-channel scatter (pattern tables off) and tables with the
largest groups, the overflow lines kept where they are provably the identity, no output pool,
synaptic convs as the numpy path's matrix products.
And the int32 / int64 choice at its bound, and the output pool.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.runtime import Artefact, InputSpec, Linear, Neuron, Target, load, simulate
from snnc.runtime.backend import numba_available

from snnc.runtime.reference import reference_simulate
from test_fastsim import assert_identical, cases

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba not installed")

KNOBS = st.fixed_dictionaries({  # JitTuning fields
    "neuron_block": st.sampled_from([1, 3, 512]),
    "constant_block": st.sampled_from([1, 3, 1 << 20]),  # the same for layers fed by the input current
    "step_block_bytes": st.sampled_from([1, 40, 1 << 17]),  # 1: one step per block
    "pattern_table_budget": st.sampled_from([0, 1 << 30]),  # 0: groups of 1 = per-channel scatter
    "fuse_residual": st.booleans(),  # False: synaptic convs into (T, B, N) arrays, then add_terms
    "fuse_pool": st.booleans(),  # False: a conv read only by an avgpool writes its spikes, then pool_if
    "output_pool_bytes": st.sampled_from([0, 256 << 20]),  # 0: nothing is pooled, every array is fresh
    "int64_membranes": st.booleans(),
    "keep_overflow": st.booleans(),  # True: the int32 loops never leave out wrap and clamp
    "dense_synapses": st.booleans(),  # True: synaptic convs as numpy's matrix products, not event-driven
})


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), KNOBS, st.sampled_from([None, 1]))
def test_every_kernel_path_equals_reference(case, knobs, batch_size):
    from snnc.runtime.jit_backend import JitTuning, NumbaBackend

    art, x, T = case
    assert_identical(art, x, T, batch_size=batch_size, backend=NumbaBackend(JitTuning(**knobs)))


def test_tuning_is_validated_and_frozen():
    import dataclasses

    from snnc.runtime.jit_backend import DEFAULT_TUNING, NUMBA, JitTuning

    assert NUMBA.tuning == DEFAULT_TUNING == JitTuning()
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_TUNING.neuron_block = 1
    with pytest.raises(ValueError, match="neuron_block"):
        JitTuning(neuron_block=0)


def test_membrane_dtype_at_the_int32_bound():
    from snnc.runtime.jit_backend import membrane_dtype

    # 2^m + bound + max|bias| + 2*max|theta| + 1 <= 2^31 - 1
    assert membrane_dtype(30, 2**29, [2**28 - 1], [0]) == np.int32
    assert membrane_dtype(30, 2**29 + 1, [2**28 - 1], [0]) == np.int64
    assert membrane_dtype(30, 2**29 - 10, [2**28 - 1], [-10]) == np.int32
    assert membrane_dtype(30, 2**29 - 10, [2**28 - 1], [-11]) == np.int64
    assert membrane_dtype(30, 2**29, [-(2**28 - 1), 5], [0]) == np.int32


def _at_bound(features: int, hi: int, overflow: str, reset: str) -> Artefact:
    """One neuron, 30-bit membrane, theta 2^28 - 1, bound = features * hi (all weights 1)."""
    target = Target(membrane_bits=30, overflow=overflow, fire="ge", threshold_bits=28, bias_bits=8,
                    weight_encoding="symmetric", input_bits=int(hi).bit_length())
    layer = Linear("l", ["input"], (1,), weight=np.ones((1, features), np.int8), bits=2,
                   neuron=Neuron([2**28 - 1], [0], reset, "half"))
    return Artefact(InputSpec((features,), "current", 0, hi), (layer,), target)


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("features, hi, dtype", [(32, 2**24, np.int32), (3, 178956971, np.int64)])
def test_both_sides_of_the_int32_bound_equal_reference(features, hi, dtype, overflow, reset):
    """bound = 2^29 (int32, the largest allowed) and 2^29 + 1 (int64): inputs at and near the maximum
    drive the membrane to saturation or wrap-around at every step."""
    from snnc.runtime import jit_backend
    from snnc.runtime.exactness import exactness_plan

    art = _at_bound(features, hi, overflow, reset)
    plan = exactness_plan(art)["l"]
    assert features * hi == plan.bound
    assert jit_backend.NUMBA.prepare(art, exactness_plan(art))["l"].v0.dtype == dtype
    rng = np.random.default_rng(features)
    x = np.concatenate([np.full((1, features), hi), rng.integers(hi - 3, hi + 1, (3, features)),
                        rng.integers(0, hi + 1, (4, features))]).astype(np.int64)
    res = simulate(art, x, 7, trace=True, backend="numba")
    ref = reference_simulate(art, x, 7)
    np.testing.assert_array_equal(res.membranes["l"], ref["membranes"]["l"])
    np.testing.assert_array_equal(res.counts["l"], ref["counts"]["l"])


def test_output_pool_reuses_only_unreferenced_buffers():
    from snnc.runtime.jit_backend import _OutputPool

    pool = _OutputPool()
    a = pool.take((2, 3, 4))
    first = id(a.base)  # the pool keeps its buffers, so ids stay unique
    held = a.view(bool)[0]  # a view derived from it keeps the buffer busy
    del a
    b = pool.take((2, 3, 4))
    second = id(b.base)
    assert second != first
    del held
    c = pool.take((4, 6))  # same size, free now: reused (b's buffer is still busy)
    assert id(c.base) == first and c.shape == (4, 6)
    d = pool.take((100,))  # no free buffer that large
    assert id(d.base) not in (first, second) and len(pool.buffers) == 3
    del b, c, d
    assert {id(pool.take((24,)).base) for _ in range(3)} <= {first, second}


@pytest.mark.parametrize("name", ["rate_mlp.snn", "wrap_residual.snn"])
def test_output_pool_never_hands_out_what_simulate_returned(name):
    """Results the caller holds (counts, and with trace spikes and membranes) survive later calls."""
    art = load(Path(__file__).parent / "golden" / name)
    x = art.golden.inputs
    first = simulate(art, x, 5, trace=True, backend="numba")
    plain = simulate(art, x, 5, backend="numba")
    held = plain.counts[plain.output_layer][:1]  # a slice alone keeps its buffer busy
    kept = [(first.spikes, {k: v.copy() for k, v in first.spikes.items()}),
            (first.counts, {k: v.copy() for k, v in first.counts.items()}),
            (plain.counts, {k: v.copy() for k, v in plain.counts.items()})]
    expected_held = held.copy()
    del plain
    for _ in range(3):
        simulate(art, x[::-1].copy(), 5, backend="numba")
        simulate(art, x[::-1].copy(), 5, trace=True, backend="numba")
    for now, before in kept:
        for k, v in before.items():
            np.testing.assert_array_equal(now[k], v)
    np.testing.assert_array_equal(held, expected_held)
