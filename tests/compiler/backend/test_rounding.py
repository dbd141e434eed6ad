"""GPTQ rounding (`compiler/backend/rounding.py`) against an independent reference: Optimal Brain
Quantization's row update with an explicitly eliminated inverse Hessian (Frantar & Alistarh 2022),
which GPTQ's Cholesky form computes in another order."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.backend import rounding
from snnc.compiler.backend.quantize import quantize_weights, weight_range


def obq_row(w: np.ndarray, theta: int, h: np.ndarray, bits: int) -> np.ndarray:
    """Reference: round w (K,) on the grid 1/θ column by column; after each column the remaining
    weights move by −err·H⁻¹[j, :]/H⁻¹[j, j] and column j is eliminated from H⁻¹."""
    rng = weight_range(bits, "symmetric")
    w = w.astype(np.float64).copy()
    hinv = np.linalg.inv(h)
    q = np.zeros_like(w)
    for j in range(len(w)):
        q[j] = float(rng.quantize(np.array([w[j] * theta]))[0])
        err = (w[j] - q[j] / theta) / hinv[j, j]
        w[j:] -= err * hinv[j, j:]
        hinv = hinv - np.outer(hinv[:, j], hinv[j, :]) / hinv[j, j]
    return q


@pytest.mark.parametrize("bits", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_rounding_equals_the_obq_reference(bits, seed):
    rs = np.random.default_rng(seed)
    k = int(rs.integers(5, 30))
    x = np.maximum(rs.normal(size=(400, k)) @ rs.normal(size=(k, k)), 0)  # correlated, ReLU-like inputs
    h = centered(x)
    w = rs.standard_t(4, size=(6, k)) * 0.2
    theta = rs.integers(2, 12, size=6)
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    got = rounding._round_rows(w, theta, u, weight_range(bits, "symmetric"))
    for r in range(6):
        np.testing.assert_array_equal(got[r], obq_row(w[r], int(theta[r]), h, bits))


def moments(x: np.ndarray) -> rounding.InputMoments:
    return rounding.InputMoments(gram=x.T @ x / len(x), mean=x.mean(axis=0), rows=len(x), samples=len(x))


def centered(x: np.ndarray) -> np.ndarray:
    c = np.cov(x.T, bias=True)
    return c + rounding.DAMP * np.mean(np.diag(c)) * np.eye(c.shape[0])


@pytest.mark.parametrize("per_channel", [True, False])
def test_gptq_lowers_the_output_error_of_nearest_rounding_at_2_bits(per_channel):
    """The quantity it minimises, the layer's output error on its inputs after the mean error is
    moved into the bias, against nearest rounding on the same weights (summed over 10 random
    layers: greedy rounding is not better on every row)."""
    rs = np.random.default_rng(7)
    ours, nearest = 0.0, 0.0
    for _ in range(10):
        x = np.maximum(rs.normal(size=(500, 36)) @ rs.normal(size=(36, 36)) * 0.3, 0)
        w = rs.standard_t(3, size=(8, 36)) * 0.05
        qw, _ = rounding.gptq_weights(w, moments(x), 1.0, 2, "symmetric", per_channel=per_channel, theta_max=65535)
        ref = quantize_weights(w, 2, "symmetric", per_channel=per_channel, theta_max=65535)
        xc = x - x.mean(axis=0)
        ours += float(((xc @ (w - qw.q / np.broadcast_to(qw.theta, (8,))[:, None]).T) ** 2).sum())
        nearest += float(((xc @ (w - ref.q / np.broadcast_to(ref.theta, (8,))[:, None]).T) ** 2).sum())
    assert ours < 0.85 * nearest  # measured: 0.75 per channel, 0.80 per tensor


def test_theta_minimises_the_weight_and_bias_rounding_error_over_its_candidates():
    """Per channel, the θ chosen is the first candidate with the least e·C·e/λ² + (bias rounding)²,
    each candidate rounded by the OBQ reference with the damped covariance."""
    rs = np.random.default_rng(11)
    x = np.maximum(rs.normal(size=(400, 12)) @ rs.normal(size=(12, 12)), 0) * 0.5
    w = rs.standard_t(4, size=(5, 12)) * 0.3
    bn = rs.normal(size=5) * 0.2
    lam_in = 0.7
    mom = moments(x)
    qw, shift = rounding.gptq_weights(w, mom, lam_in, 2, "symmetric", per_channel=True, theta_max=255, bn=bn)
    h = centered(x)
    c = mom.gram - np.outer(mom.mean, mom.mean)
    rng = weight_range(2, "symmetric")
    from snnc.compiler.backend.quantize import _best_theta

    for r in range(5):
        costs, qs = [], []
        for t in rounding._candidates(_best_theta(w[r], rng, 255), 255):
            q = obq_row(w[r], int(t), h, 2)
            e = w[r] - q / t
            b_c = bn[r] + e @ mom.mean / lam_in
            costs.append(e @ c @ e / lam_in ** 2 + (np.rint(b_c * t) / t - b_c) ** 2)
            qs.append((int(t), q))
        t_best, q_best = qs[int(np.argmin(costs))]
        assert int(qw.theta[r]) == t_best
        np.testing.assert_array_equal(qw.q[r], q_best)


def test_result_is_integer_in_range_with_the_bias_shift_of_the_mean_error():
    rs = np.random.default_rng(1)
    x = np.maximum(rs.normal(size=(300, 3, 6, 6)), 0)
    node_w = rs.normal(size=(5, 3, 3, 3)) * 0.1

    class Node:  # a stand-in IR conv node: what `patches` reads
        op = "conv"
        params = {"weight": node_w}
        attrs = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1, "input_dilation": (1, 1)}

    p = rounding.patches(x, Node)
    assert p.shape == (300 * 36, 27)
    # the patch of output (0, 0) of image 0 is the zero-padded top-left window, in (C, kh, kw) order
    win = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))[:, 0:3, 0:3]
    np.testing.assert_array_equal(p[0], win.reshape(-1))
    lam_in = 0.5
    qw, shift = rounding.gptq_weights(node_w, moments(p), lam_in, 2, "symmetric", per_channel=True, theta_max=255)
    assert qw.q.shape == node_w.shape and qw.q.dtype == np.int64
    assert set(np.unique(qw.q)) <= {-1, 0, 1}
    assert qw.theta.shape == (5,) and (qw.theta >= 1).all() and (qw.theta <= 255).all()
    err = node_w.reshape(5, -1) - qw.q.reshape(5, -1) / qw.theta[:, None]
    np.testing.assert_array_equal(shift, err @ (p.mean(axis=0) / lam_in))


def test_auto_applies_at_two_bits_under_automatic_calibration_only():
    from snnc.compiler.backend.options import CompileOptions

    auto = CompileOptions(bits=2)
    assert rounding.uses_gptq(auto, True, 2) and rounding.uses_gptq(auto, True, 1)
    assert not rounding.uses_gptq(auto, True, 4)
    assert not rounding.uses_gptq(auto, False, 2)  # no data
    assert not rounding.uses_gptq(CompileOptions(bits=2, calibration="off"), True, 2)
    assert rounding.uses_gptq(CompileOptions(bits=4, rounding="gptq", calibration="off"), True, 4)
    assert not rounding.uses_gptq(CompileOptions(bits=2, rounding="nearest"), True, 2)
