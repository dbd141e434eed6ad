"""Regressions of issue 17 on every backend, against the plain-Python reference.

1. A conv's zero padding reads 0 even when the input range [lo, hi] excludes 0: the exactness
   plan must not prove "no overflow" from [lo, hi] alone (numpy gave V = 49, 98, 147 in a 4-bit
   membrane).
2. input_bits >= 54: float64(hi) may be hi + 1, so the clip to [lo, hi] must be integer.
3. uint64 input >= 2^63 must be rejected with its true value, not wrapped negative.
Plus a property test: input ranges excluding 0, padded convs, avgpool and add on input current,
wrap and saturate at small membrane widths; every backend equals the reference exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.runtime import (
    Add, Artefact, AvgPool, Concat, Conv, Flatten, InputSpec, Linear, Neuron, Target, exactness_plan, simulate,
)
from snnc.runtime.encode import quantize_float, to_int_input
from snnc.runtime.errors import ArtefactError, InputError
from snnc.runtime.exactness import reads_padding, scan_plan
from snnc.runtime.validate import carries_spikes

from snnc.runtime import reference as reference_sim
from snnc.runtime.reference import reference_simulate
from sim_backends import over_backends


def assert_equal_to_reference(art, x, T, backend):
    """Spikes, membranes and counts of every layer identical to the reference (np.array_equal)."""
    fast = simulate(art, x, T, trace=True, backend=backend)
    assert fast.backend == backend
    ref = reference_simulate(art, x, T)
    spiking = carries_spikes(art)
    for layer in art.core_layers:
        if layer.has_neurons:
            assert np.array_equal(fast.membranes[layer.name], ref["membranes"][layer.name]), layer.name
        if spiking[layer.name]:
            assert np.array_equal(fast.spikes[layer.name], ref["spikes"][layer.name]), layer.name
            assert np.array_equal(fast.counts[layer.name], ref["counts"][layer.name]), layer.name
    assert np.array_equal(fast.output_counts, ref["counts"][ref["output_layer"]])
    return fast


def _target(m, overflow="saturate", tb=1, ib=8, bb=1):
    return Target(membrane_bits=m, overflow=overflow, fire="ge", threshold_bits=tb, bias_bits=bb,
                  weight_encoding="full", input_bits=ib)


def _row_conv(weights, padding, lo, hi, m, overflow="saturate", theta=1, tb=1, width=7):
    """Input (1, 1, width) current in [lo, hi]; conv 1 x len(weights); IF neurons with reset subtract."""
    kw = len(weights)
    wo = width + padding[1] + padding[3] - kw + 1
    conv = Conv("c", ["input"], (1, 1, wo), weight=np.array(weights).reshape(1, 1, 1, kw), bits=4,
                padding=padding, neuron=Neuron([theta], [0], "subtract", "zero"))
    ib = max(abs(lo), abs(hi)).bit_length() + 1
    return Artefact(InputSpec((1, 1, width), "current", lo, hi), (conv,), _target(m, overflow, tb, ib))


# -- 1. padding reads 0 -------------------------------------------------------------------------

@over_backends
def test_issue_minimal_case_right_padding(backend):
    """Issue 17: [lo, hi] = [42, 60], x = 50, weights [1, -4], right padding 1, 4-bit saturate, theta 1.
    Inside, I = 50 - 200 = -150; at the padded edge I = 50, which saturates at 7 and fires: V = 6."""
    art = _row_conv([1, -4], (0, 0, 0, 1), 42, 60, m=4)
    x = np.full((1, 1, 1, 7), 50)
    res = assert_equal_to_reference(art, x, 3, backend)
    assert res.membranes["c"][0, :, 0, 0, -1].tolist() == [6, 6, 6]
    assert res.membranes["c"][0, :, 0, 0, 0].tolist() == [-8, -8, -8]


@over_backends
def test_mirror_negative_range_lower_clip(backend):
    """hi < 0: [-60, -42], x = -50. Inside I = -50 + 200 = 150 > 0, so the interval over [lo, hi]
    says I >= 108 and "never below the range"; the padded edge reads I = -50 and must saturate at -8."""
    art = _row_conv([1, -4], (0, 0, 0, 1), -60, -42, m=4)
    x = np.full((1, 1, 1, 7), -50)
    res = assert_equal_to_reference(art, x, 3, backend)
    assert res.membranes["c"][0, :, 0, 0, -1].tolist() == [-8, -8, -8]


@over_backends
def test_mirror_positive_range_lower_clip_left_padding(backend):
    """[42, 60] with weights [4, -1] and left padding: inside I = 200 - 50 > 0, the padded edge
    reads 0 * 4 - 50 = -50 and must saturate at -8 (the lower clip)."""
    art = _row_conv([4, -1], (0, 1, 0, 0), 42, 60, m=4)
    x = np.full((1, 1, 1, 7), 50)
    res = assert_equal_to_reference(art, x, 3, backend)
    assert res.membranes["c"][0, :, 0, 0, 0].tolist() == [-8, -8, -8]


@over_backends
@pytest.mark.parametrize("overflow, expected", [("saturate", [50, 100, 127, 127]), ("wrap", [50, 100, -106, -56])])
def test_padding_where_the_plan_would_elide_every_overflow_step(backend, overflow, expected):
    """weights [1, -1] over [42, 60]: inside |I| <= 18, which an 8-bit membrane holds for 4 steps,
    so an interval over [lo, hi] skips both clamps (and wrap) on both backends; the padded edge
    reads 50 per step. theta 200 > 127 never fires, so V shows the bounded sum."""
    art = _row_conv([1, -1], (0, 0, 0, 1), 42, 60, m=8, overflow=overflow, theta=200, tb=8)
    x = np.full((1, 1, 1, 7), 50)
    res = assert_equal_to_reference(art, x, 4, backend)
    assert res.membranes["c"][0, :, 0, 0, -1].tolist() == expected
    sp = scan_plan(art.layers[0], art.target, exactness_plan(art)["c"], 4)
    assert sp.wrap if overflow == "wrap" else sp.clamp_hi


def test_plan_range_includes_zero_only_when_padding_is_read():
    art = _row_conv([1, -4], (0, 0, 0, 1), 42, 60, m=4)
    plan = exactness_plan(art)["c"]
    assert (plan.j_lo, plan.j_hi) == (-4 * 60, 60)  # P = 1, N = -4 over [0, 60]
    unpadded = _row_conv([1, -4], (0, 0, 0, 0), 42, 60, m=4)
    plan = exactness_plan(unpadded)["c"]
    assert (plan.j_lo, plan.j_hi) == (42 - 4 * 60, 60 - 4 * 42)  # every synapse reads [42, 60]


@pytest.mark.parametrize("h, kh, sh, pad, reads", [
    (4, 2, 2, (0, 0, 1, 0), False),  # the last window (rows 2..3) stops before the bottom padding
    (5, 2, 2, (0, 0, 1, 0), True),  # ... rows 4..5: row 5 is padding
    (4, 2, 1, (1, 0, 0, 0), True),  # top padding is always read by the first window
    (4, 3, 1, (0, 0, 0, 0), False),
])
def test_reads_padding(h, kh, sh, pad, reads):
    ho = (h + pad[0] + pad[2] - kh) // sh + 1
    conv = Conv("c", ["input"], (1, ho, 1), weight=np.ones((1, 1, kh, 1), np.int8), bits=2, stride=(sh, 1), padding=pad,
                neuron=Neuron([1], [0]))
    assert reads_padding(conv, (1, h, 1)) is reads


# -- 2. input_bits >= 54 ------------------------------------------------------------------------

def _quantizers():
    out = [pytest.param(quantize_float, id="numpy")]
    from snnc.runtime.backend import numba_available

    if numba_available():
        from snnc.runtime.jit_backend import quantize_input

        out.append(pytest.param(quantize_input, id="numba"))
    return out


@pytest.mark.parametrize("quantize", _quantizers())
@pytest.mark.parametrize("lo, hi", [(0, 2**60 - 1), (-(2**60) + 1, 2**60 - 1), (2**53 + 1, 2**62 - 1),
                                    (-(2**61), -(2**53) - 3)])
def test_wide_input_clip_is_integer(quantize, lo, hi):
    """float64(2^60 - 1) = 2^60: a float clip would give hi + 1 (and lo - 1 at the other end)."""
    spec = InputSpec((6,), "current", lo, hi, 1.0)
    x = np.array([[2.0**62, 1e300, -1e300, float(hi), float(lo), -(2.0**62)]])
    got = to_int_input(spec, x, quantize=quantize)
    want = [reference_sim.quantize_input(spec, float(v)) for v in x[0]]
    assert got[0].tolist() == want
    assert all(lo <= v <= hi for v in got[0].tolist())


def _wide_artefact(lo, hi, ib):
    target = Target(membrane_bits=62, overflow="saturate", fire="ge", threshold_bits=62, bias_bits=8,
                    weight_encoding="symmetric", input_bits=ib)
    layer = Linear("l", ["input"], (1,), weight=[[1]], bits=2, neuron=Neuron([2**62 - 1], [0], "zero", "zero"))
    return Artefact(InputSpec((1,), "current", lo, hi), (layer,), target)


@over_backends
@pytest.mark.parametrize("lo, hi, ib, value, expect", [
    (0, 2**60 - 1, 60, 2.0**61, 2**60 - 1),
    (-(2**60) + 1, 2**60 - 1, 61, -(2.0**61), -(2**60) + 1),
])
def test_wide_input_simulates_exactly(backend, lo, hi, ib, value, expect):
    art = _wide_artefact(lo, hi, ib)
    x = np.array([[value]])
    res = assert_equal_to_reference(art, x, 2, backend)
    assert res.membranes["l"][0, :, 0].tolist() == [expect, 2 * expect]  # |2 * expect| < 2^61: no saturation


# -- 3. uint64 >= 2^63 --------------------------------------------------------------------------

@over_backends
@pytest.mark.parametrize("lo, hi, ib", [(0, 255, 8), (-128, 127, 8), (0, 2**62 - 1, 62)])
@pytest.mark.parametrize("big", [2**63, 2**64 - 1])
def test_uint64_beyond_int64_is_rejected_with_its_value(backend, lo, hi, ib, big):
    art = _wide_artefact(lo, hi, ib)
    x = np.array([[1], [big]], np.uint64)
    with pytest.raises(InputError, match=rf"span \[1, {big}\], outside the input range \[{lo}, {hi}\]"):
        simulate(art, x, 1, backend=backend)


@over_backends
def test_uint64_in_range_is_exact(backend):
    art = _wide_artefact(0, 2**62 - 1, 62)
    x = np.array([[2**62 - 1], [2**53 + 1]], np.uint64)
    res = assert_equal_to_reference(art, x, 1, backend)
    assert res.membranes["l"][:, 0, 0].tolist() == [2**61 - 1, 2**53 + 1]  # saturated at 2^61 - 1


# -- what docs/semantics.md states about add and concat ---------------------------------------

@over_backends
def test_add_may_list_an_input_twice_and_concat_may_have_one_input(backend):
    target = _target(4, "wrap", tb=3, ib=4, bb=2)
    spec = InputSpec((1, 2, 3), "current", -8, 7)
    conv = Conv("c", ["input"], (2, 2, 3), weight=np.array([1, -1]).reshape(2, 1, 1, 1), bits=2,
                neuron=Neuron([3], [0, 1]))
    layers = (conv, Add("a", ["c", "c"], (2, 2, 3), multipliers=[1, 2], neuron=Neuron([2], [0, 0])),
              Concat("k", ["a"], (2, 2, 3)), Flatten("f", ["k"], (12,)))
    art = Artefact(spec, layers, target)
    x = np.random.default_rng(0).integers(-8, 8, size=(3, 1, 2, 3))
    assert_equal_to_reference(art, x, 5, backend)


# -- property: ranges excluding 0 ---------------------------------------------------------------

@st.composite
def zero_free_cases(draw):
    """A current-coded input whose [lo, hi] excludes 0, a conv that reads its padding, and one
    optional second layer (a padded conv of the spikes, avgpool or add of the input current)."""
    m = draw(st.integers(2, 8))
    ib = draw(st.integers(2, 7))
    if draw(st.booleans()):  # unsigned range [lo, hi] with lo >= 1
        lo = draw(st.integers(1, (1 << ib) - 1))
        hi = draw(st.integers(lo, (1 << ib) - 1))
    else:  # signed, hi <= -1
        hi = draw(st.integers(-(1 << (ib - 1)), -1))
        lo = draw(st.integers(-(1 << (ib - 1)), hi))
    tb = draw(st.integers(1, m + 1))
    target = Target(membrane_bits=m, overflow=draw(st.sampled_from(["saturate", "wrap"])),
                    fire=draw(st.sampled_from(["ge", "gt"])), threshold_bits=tb, bias_bits=draw(st.integers(1, m)),
                    weight_encoding="full", input_bits=ib)
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    spec = InputSpec((c, h, w), "current", lo, hi, draw(st.sampled_from([1.0, 0.5, 3.0])))

    def neuron(channels):
        vmax = (1 << (m - 1)) - 1
        v_init = draw(st.sampled_from(["zero", "half"]))
        tmax = (1 << tb) - 1
        if v_init == "half":
            tmax = min(tmax, 2 * vmax + 1)
        bmax = (1 << (target.bias_bits - 1)) - 1
        n_th = draw(st.sampled_from([1, channels]))
        return Neuron(draw(st.lists(st.integers(1, tmax), min_size=n_th, max_size=n_th)),
                      draw(st.lists(st.integers(-bmax - 1, bmax), min_size=channels, max_size=channels)),
                      draw(st.sampled_from(["zero", "subtract"])), v_init)

    def conv(name, src, shape):
        ci, hh, ww = shape
        pad = draw(st.lists(st.integers(0, 2), min_size=4, max_size=4).filter(any))
        kh = draw(st.integers(1, min(3, hh + pad[0] + pad[2])))
        kw = draw(st.integers(1, min(3, ww + pad[1] + pad[3])))
        stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        groups = draw(st.sampled_from([g for g in (1, 2) if ci % g == 0]))
        o = groups * draw(st.integers(1, 2))
        bits = draw(st.integers(2, 4))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        wmax = (1 << (bits - 1)) - 1
        weight = rng.integers(-wmax - 1, wmax + 1, size=(o, ci // groups, kh, kw))
        ho = (hh + pad[0] + pad[2] - kh) // stride[0] + 1
        wo = (ww + pad[1] + pad[3] - kw) // stride[1] + 1
        return Conv(name, [src], (o, ho, wo), weight=weight, bits=bits, stride=stride, padding=pad, groups=groups,
                    neuron=neuron(o))

    layers = [conv("c0", "input", spec.shape)]
    second = draw(st.sampled_from(["none", "conv", "avgpool", "add"]))
    if second == "conv":
        layers.append(conv("c1", "c0", layers[0].output_shape))
    elif second == "avgpool":  # avgpool has no padding (semantics section 6): every tap reads [lo, hi]
        kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
        sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        layers.append(AvgPool("p", ["input"], (c, (h - kh) // sh + 1, (w - kw) // sw + 1), kernel=(kh, kw),
                              stride=(sh, sw), neuron=neuron(c)))
    elif second == "add":
        mults = draw(st.lists(st.integers(-3, 3), min_size=2, max_size=2))
        layers.append(Add("a", ["input", "input"], spec.shape, multipliers=mults, neuron=neuron(c)))
    art = Artefact(spec, tuple(layers), target)
    b = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        x = rng.integers(lo, hi + 1, size=(b, c, h, w))
    else:
        x = rng.uniform((lo - 2) * spec.scale, (hi + 2) * spec.scale, size=(b, c, h, w))
    return art, x, draw(st.integers(1, 8))


def _input_currents(art, x_int):
    """The exact current I (before bias) of each layer reading the input, per sample (reference code)."""
    shape = art.input.shape
    out = {}
    for layer in art.core_layers:
        if layer.inputs[0] != "input":
            continue
        rows = []
        for sample in x_int:
            flat = sample.reshape(-1).tolist()
            if layer.kind == "conv":
                rows.append(reference_sim.conv_current(layer, flat, shape))
            elif layer.kind == "avgpool":
                rows.append(reference_sim.avgpool_current(layer, flat, shape))
            else:
                rows.append(reference_sim.add_current(layer, [flat] * len(layer.inputs)))
        out[layer.name] = np.array(rows, dtype=np.int64)
    return out


@pytest.mark.slow
@over_backends
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zero_free_cases())
def test_zero_free_input_ranges_equal_reference(backend, case):
    art, x, T = case
    # the proof itself: every current I + bias of a layer reading the input lies in the plan's range
    plans = exactness_plan(art)
    x_int = to_int_input(art.input, x)
    for name, cur in _input_currents(art, x_int).items():
        layer, plan = art.layer(name), plans[name]
        per_channel = int(np.prod(layer.output_shape[1:]))
        bias = np.repeat(np.asarray(layer.neuron.bias, np.int64), per_channel)
        assert plan.j_lo <= int((cur + bias).min()) and int((cur + bias).max()) <= plan.j_hi, name
        assert int(np.abs(cur).max()) <= plan.bound, name
    assert_equal_to_reference(art, x, T, backend)


# -- the covered range (docs/semantics.md section 8) --------------------------------------------

def _edge_artefact(bias):
    target = Target(membrane_bits=62, overflow="wrap", fire="ge", threshold_bits=62, bias_bits=2,
                    weight_encoding="symmetric", input_bits=62)
    layer = Linear("l", ["input"], (1,), weight=[[1]], bits=2, neuron=Neuron([2**62 - 1], [bias], "zero", "zero"))
    return Artefact(InputSpec((1,), "current", 0, 2**62 - 1), (layer,), target)


@over_backends
def test_covered_range_edge_simulates_exactly(backend):
    """2^62 + (2^62 - 1) + 0 = 2^63 - 1: covered; wrap at 62 bits with the largest values."""
    art = _edge_artefact(0)
    x = np.array([[2**62 - 1], [2**61]], np.int64)
    assert_equal_to_reference(art, x, 3, backend)


@over_backends
def test_beyond_the_covered_range_is_refused_with_its_numbers(backend):
    art = _edge_artefact(1)  # 2^62 + (2^62 - 1) + 1 = 2^63
    msg = (r"layer 'l': outside the covered range \(docs/semantics.md section 8\): 2\^membrane_bits \+ bound \+ "
           rf"max\|bias\| = 2\^62 \+ {2**62 - 1} \+ 1 = {2**63} > 2\^63 - 1 \(bound: ")
    with pytest.raises(ArtefactError, match=msg):
        simulate(art, np.zeros((1, 1), np.int64), 1, backend=backend)


@over_backends
def test_scan_dtype_holds_the_current_before_the_bias(backend):
    """I in [0, 40000] with bias -20000: I + bias fits int16 and no overflow is possible in one
    step, but the scan casts I itself to its dtype before adding the bias, so int16 is too narrow."""
    target = Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=15, bias_bits=16,
                    weight_encoding="symmetric", input_bits=16)
    layer = Linear("l", ["input"], (1,), weight=[[1]], bits=2, neuron=Neuron([30000], [-20000], "zero", "zero"))
    art = Artefact(InputSpec((1,), "current", 0, 40000), (layer,), target)
    sp = scan_plan(layer, target, exactness_plan(art)["l"], 1)
    assert not (sp.clamp_lo or sp.clamp_hi or sp.wrap)
    assert sp.dtype == np.int32
    assert_equal_to_reference(art, np.array([[40000], [0], [12345]]), 1, backend)
