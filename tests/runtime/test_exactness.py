"""The per-layer exactness proof: dtype choice at the bounds 2^24 and 2^53, and exact sums near them."""
from __future__ import annotations

import numpy as np

from snnc.runtime import Artefact, InputSpec, Linear, Neuron, Target, exactness_plan, simulate
from snnc.runtime.exactness import matmul_dtype

from snnc.runtime.reference import reference_simulate
from sim_backends import over_backends


def test_dtype_choice_at_the_bounds():
    assert matmul_dtype(2**24 - 1) == np.float32
    assert matmul_dtype(2**24) == np.float64
    assert matmul_dtype(2**53 - 1) == np.float64
    assert matmul_dtype(2**53) == np.int64


def _wide(features: int, hi: int, input_bits: int, membrane_bits: int) -> Artefact:
    target = Target(membrane_bits=membrane_bits, overflow="saturate", fire="ge", threshold_bits=membrane_bits - 2,
                    bias_bits=8, weight_encoding="symmetric", input_bits=input_bits)
    theta = 2 ** (membrane_bits - 2) - 1  # never reached: V shows the exact current sum
    layer = Linear("wide", ["input"], (1,), weight=np.ones((1, features), np.int8), bits=2,
                   neuron=Neuron([theta], [0], "zero", "zero"))
    return Artefact(InputSpec((features,), "current", 0, hi), (layer,), target)


@over_backends
def test_bound_just_below_2_24_uses_float32_and_is_exact(backend):
    art = _wide(255, 65793, 17, 30)  # bound = 255 * 65793 = 2^24 - 1
    plan = exactness_plan(art)["wide"]
    assert plan.bound == 2**24 - 1 and plan.matmul_dtype == np.float32
    x = np.full((1, 255), 65793, np.int64)
    res = simulate(art, x, 2, trace=True, backend=backend)
    assert res.membranes["wide"][0, :, 0].tolist() == [2**24 - 1, 2 * (2**24 - 1)]


@over_backends
def test_sum_of_2_24_plus_1_switches_to_float64_and_stays_exact(backend):
    art = _wide(257, 65535, 16, 30)  # bound = 257 * 65535 >= 2^24
    assert exactness_plan(art)["wide"].matmul_dtype == np.float64
    x = np.full((1, 257), 65535, np.int64)
    x[0, -1] = 257  # sum = 256 * 65535 + 257 = 2^24 + 1, not representable in float32
    res = simulate(art, x, 3, trace=True, backend=backend)
    expected = reference_simulate(art, x, 3)["membranes"]["wide"]
    np.testing.assert_array_equal(res.membranes["wide"], expected)
    assert res.membranes["wide"][0, 0, 0] == 2**24 + 1
    # and float32 would indeed have been wrong, so the switch is necessary:
    assert int((x.astype(np.float32) @ np.ones((257, 1), np.float32))[0, 0]) != 2**24 + 1


@over_backends
def test_beyond_2_53_uses_int64(backend):
    art = _wide(32, 2**49, 50, 60)  # bound = 2^54
    assert exactness_plan(art)["wide"].matmul_dtype == np.int64
    x = np.full((1, 32), 2**49, np.int64)
    x[0, 0] = 2**49 - 1  # 2^54 - 1: float64 would round it
    res = simulate(art, x, 2, trace=True, backend=backend)
    assert res.membranes["wide"][0, 0, 0] == 2**54 - 1
    np.testing.assert_array_equal(res.membranes["wide"], reference_simulate(art, x, 2)["membranes"]["wide"])


def test_scan_plan_elides_overflow_only_when_proven_and_picks_narrow_dtypes():
    from snnc.runtime.exactness import scan_plan

    def plan_for(m, overflow, T, weight=1, hi=3):
        target = Target(membrane_bits=m, overflow=overflow, fire="ge", threshold_bits=4, bias_bits=4,
                        weight_encoding="full", input_bits=8)
        layer = Linear("l", ["input"], (1,), weight=[[weight] * 4], bits=4, neuron=Neuron([15], [0], "zero", "zero"))
        art = Artefact(InputSpec((4,), "current", 0, hi), (layer,), target)
        return scan_plan(layer, target, exactness_plan(art)["l"], T)

    # I in [0, 12]: 16-bit membrane cannot overflow in 100 steps -> no clamp, int16
    p = plan_for(16, "saturate", 100)
    assert (p.clamp_hi, p.clamp_lo, p.wrap, p.dtype) == (False, False, False, np.int16)
    # 6-bit membrane (max 31) with up to 12 per step overflows in 3 steps; I >= 0 -> no lower clamp
    p = plan_for(6, "saturate", 3)
    assert (p.clamp_hi, p.clamp_lo) == (True, False)
    p = plan_for(6, "wrap", 3)
    assert p.wrap and not p.clamp_hi
    p = plan_for(6, "saturate", 3, weight=-1)
    assert (p.clamp_hi, p.clamp_lo) == (False, True)
    # a 20-bit membrane needs int32
    assert plan_for(20, "saturate", 1).dtype == np.int32
