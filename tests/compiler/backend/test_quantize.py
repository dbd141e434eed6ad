"""Properties of integer-threshold weight quantization (compiler/quantize.py)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from snnc.compiler.backend.quantize import quantize_bias, quantize_weights, weight_range

weights = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 12)),
                 elements=st.floats(-4, 4, allow_nan=False, width=32))


@settings(max_examples=150, deadline=None)
@given(w=weights, bits=st.integers(1, 4), encoding=st.sampled_from(["symmetric", "full"]),
       per_channel=st.booleans(), theta_max=st.sampled_from([7, 255, 65535]))
@pytest.mark.slow
def test_quantized_values_in_range_and_theta_integer(w, bits, encoding, per_channel, theta_max):
    r = quantize_weights(w, bits, encoding, per_channel=per_channel, theta_max=theta_max)
    rng = weight_range(bits, encoding)
    assert r.q.dtype.kind == "i" and r.theta.dtype.kind == "i"
    assert rng.allowed(r.q)
    assert np.all(r.theta >= 1) and np.all(r.theta <= theta_max)
    assert r.theta.shape == ((w.shape[0],) if per_channel else (1,))


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(w=weights, bits=st.integers(2, 4), per_channel=st.booleans())
def test_dequantization_error_at_most_half_a_step_inside_range(w, bits, per_channel):
    """|w - q/θ| <= Δ/2 = 1/(2θ) for every weight that is not clipped to the range ends."""
    r = quantize_weights(w, bits, "symmetric", per_channel=per_channel, theta_max=65535)
    rng = weight_range(bits, "symmetric")
    theta = (r.theta.reshape(-1, 1) if per_channel else r.theta[0]).astype(np.float64)
    err = np.abs(w - r.q / theta)
    inside = np.abs(w * theta) <= rng.max
    assert np.all(err[inside] <= 0.5 / np.broadcast_to(theta, w.shape)[inside] + 1e-12)


def test_one_bit_is_bipolar_sign():
    w = np.array([[0.3, -0.2, 0.0, -1e-9]])
    r = quantize_weights(w, 1, "symmetric", per_channel=False, theta_max=255)
    assert r.q.tolist() == [[1, -1, 1, -1]]


@pytest.mark.parametrize("bits,encoding,lo,hi", [(1, "symmetric", -1, 1), (2, "symmetric", -1, 1), (2, "full", -2, 1),
                                                  (3, "symmetric", -3, 3), (4, "symmetric", -7, 7), (4, "full", -8, 7)])
def test_ranges(bits, encoding, lo, hi):
    rng = weight_range(bits, encoding)
    assert (rng.min, rng.max) == (lo, hi)


def test_theta_minimises_error_among_integers():
    rng_ = np.random.default_rng(1)
    w = rng_.normal(0, 0.1, (1, 200))
    r = quantize_weights(w, 4, "symmetric", per_channel=False, theta_max=65535)
    wr = weight_range(4, "symmetric")

    def err(t):
        return float(((w - wr.quantize(w * t) / t) ** 2).sum())

    best = err(int(r.theta[0]))
    assert all(best <= err(t) + 1e-15 for t in range(1, 400))


def test_bias_clipped_to_width_and_counted():
    b, clipped = quantize_bias(np.array([0.5, 100.0, -100.0]), np.array([3, 3, 3]), bias_bits=8)
    assert b.tolist() == [2, 127, -128]  # rint(1.5) = 2 (half to even), then clipping
    assert clipped == 2


@pytest.mark.parametrize("scale", [0.02, 0.1, 0.5, 2.0])
def test_two_bit_theta_is_the_integer_optimum_for_heavy_tailed_weights(scale):
    """Issue 18 item 3: the 2-bit (ternary) θ search is not what makes post-training accuracy swing
    with the percentile. For heavy-tailed weights (max|w| / mean|w| ≈ 5, as in the BN-folded VGG) the
    chosen θ is the exact integer optimum over every θ the spec allows, not an artefact of the
    candidate window around qmax/max|w|."""
    rng_ = np.random.default_rng(7)
    w = rng_.standard_t(3, (1, 3 * 3 * 16)) * scale
    r = quantize_weights(w, 2, "symmetric", per_channel=False, theta_max=65535)
    wr = weight_range(2, "symmetric")

    def err(t):
        return float(((w - wr.quantize(w * t) / t) ** 2).sum())

    ts = np.arange(1, int(64 / np.abs(w).mean()) + 1)
    assert err(int(r.theta[0])) <= min(err(int(t)) for t in ts) + 1e-15


@pytest.mark.xfail(strict=True, reason="the θ window is kept narrow so that fine-tuning's exported weights "
                   "reproduce their frozen θ (compiler/backend/quantize.py _candidates); issue 18 item 3 follow-up")
def test_geometric_candidates_stay_within_a_tenth_of_a_percent_of_the_optimum():
    """A window of more than MAX_CANDIDATES integers (a first layer fed by 8-bit input current) is
    sampled geometrically; the θ found is within 0.1% of the exhaustive optimum's error."""
    rng_ = np.random.default_rng(3)
    w = rng_.standard_t(3, (1, 144)) * 0.002
    r = quantize_weights(w, 2, "symmetric", per_channel=False, theta_max=65535)
    wr = weight_range(2, "symmetric")

    def err(t):
        return float(((w - wr.quantize(w * t) / t) ** 2).sum())

    best = min(err(int(t)) for t in range(1, int(8 / np.abs(w).max()) + 1))
    assert err(int(r.theta[0])) <= best * 1.001


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_blocked_in_place_theta_search_is_bit_identical_to_the_plain_expression(bits):
    """`_best_theta` evaluates its candidates in blocks on one buffer (bounded memory for ResNet-18's
    2.4 M-weight tensors, issue 16); its errors and θ equal the plain expression's, bit for bit,
    whatever the block size."""
    from snnc.compiler.backend.quantize import _best_theta, _candidates, _theta_errors

    rs = np.random.default_rng(bits)
    wr = weight_range(bits, "symmetric")
    for _ in range(20):
        n = int(rs.integers(10, 3000))
        w = rs.standard_t(3, n) * float(rs.uniform(0.001, 0.5))
        cands = _candidates(w, wr, 65535)
        flat = w.reshape(1, -1)
        th = cands.reshape(-1, 1).astype(np.float64)
        plain = ((flat - wr.quantize(flat * th) / th) ** 2).sum(axis=1)
        np.testing.assert_array_equal(_theta_errors(flat, th, wr), plain)
        expect = int(cands[int(np.argmin(plain))])
        for block in (1, n, 7 * n + 3, 1 << 24):
            assert _best_theta(w, wr, 65535, block=block) == expect


def _theta_rows(rs, count, max_n):
    """Weight rows of the shapes the θ search meets: heavy tails, many duplicates and exact halves
    (x.5 products, where rint's ties decide), many zeros, a few exact values."""
    for i in range(count):
        n = int(rs.integers(1, max_n))
        kind = i % 5
        if kind == 0:
            yield rs.standard_t(3, n) * float(rs.uniform(0.001, 0.5))
        elif kind == 1:
            yield rs.normal(size=n) * 0.02
        elif kind == 2:
            yield np.round(rs.normal(size=n) * 8) / 16
        elif kind == 3:
            yield np.where(rs.random(n) < 0.5, 0.0, rs.normal(size=n))
        else:
            yield rs.choice([-0.25, 0.25, 0.125, -0.375, 0.5], size=n)


@pytest.mark.parametrize("encoding", ["symmetric", "full"])
@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_the_bracketed_theta_search_picks_the_exhaustive_searchs_theta(bits, encoding):
    """_best_theta's fast path (errors bracketed from sorted weights, only the candidates that can
    be the minimum evaluated exactly) returns the θ of evaluating every candidate (fast=False)."""
    from snnc.compiler.backend.quantize import _best_theta

    wr = weight_range(bits, encoding)
    rs = np.random.default_rng(100 + bits)
    for w in _theta_rows(rs, 10, 400):
        assert _best_theta(w, wr, 4095) == _best_theta(w, wr, 4095, fast=False)


def test_the_error_bracket_holds_the_exact_errors():
    """|estimate - E| <= slack for every candidate, E as _theta_errors computes it."""
    from snnc.compiler.backend.quantize import _candidates, _error_bounds, _theta_errors

    rs = np.random.default_rng(7)
    for bits, encoding in ((1, "symmetric"), (2, "full"), (4, "symmetric"), (4, "full")):
        wr = weight_range(bits, encoding)
        for w in _theta_rows(rs, 10, 600):
            th = _candidates(w, wr, 4095).astype(np.float64)
            est, slack = _error_bounds(w, th, wr)
            exact = _theta_errors(w.reshape(1, -1), th.reshape(-1, 1), wr)
            assert np.all(np.abs(est - exact) <= slack)
    assert _error_bounds(np.array([1.0, np.nan]), np.array([1.0, 2.0]), weight_range(4, "symmetric")) is None


@pytest.mark.slow
def test_the_bracketed_theta_search_on_many_rows():
    from snnc.compiler.backend.quantize import _best_theta

    rs = np.random.default_rng(2026)
    for bits, encoding in ((1, "symmetric"), (2, "symmetric"), (3, "full"), (4, "symmetric"), (4, "full")):
        wr = weight_range(bits, encoding)
        for w in _theta_rows(rs, 120, 5000):
            assert _best_theta(w, wr, 65535) == _best_theta(w, wr, 65535, fast=False)
