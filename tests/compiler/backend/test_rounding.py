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


def damped(x: np.ndarray) -> np.ndarray:
    h = x.T @ x / len(x)
    return h + rounding.DAMP * np.mean(np.diag(h)) * np.eye(h.shape[0])


@pytest.mark.parametrize("bits", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_rounding_equals_the_obq_reference(bits, seed):
    rs = np.random.default_rng(seed)
    k = int(rs.integers(5, 30))
    x = np.maximum(rs.normal(size=(400, k)) @ rs.normal(size=(k, k)), 0)  # correlated, ReLU-like inputs
    h = damped(x)
    w = rs.standard_t(4, size=(6, k)) * 0.2
    theta = rs.integers(2, 12, size=6)
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    got = rounding._round_rows(w, theta, u, weight_range(bits, "symmetric"))
    for r in range(6):
        np.testing.assert_array_equal(got[r], obq_row(w[r], int(theta[r]), h, bits))


def moments(x: np.ndarray) -> rounding.InputMoments:
    return rounding.InputMoments(gram=x.T @ x / len(x), mean=x.mean(axis=0), rows=len(x))


@pytest.mark.parametrize("per_channel", [True, False])
def test_gptq_lowers_the_output_error_of_nearest_rounding_at_2_bits(per_channel):
    """The quantity it minimises, the layer's output error on its inputs, against nearest rounding
    on the same weights (summed over 10 random layers: greedy rounding is not better on every row)."""
    rs = np.random.default_rng(7)
    ours, nearest = 0.0, 0.0
    for _ in range(10):
        x = np.maximum(rs.normal(size=(500, 36)) @ rs.normal(size=(36, 36)) * 0.3, 0)
        w = rs.standard_t(3, size=(8, 36)) * 0.05
        mom = moments(x)
        qw, _ = rounding.gptq_weights(w, mom, 1.0, 2, "symmetric", per_channel=per_channel, theta_max=65535)
        ref = quantize_weights(w, 2, "symmetric", per_channel=per_channel, theta_max=65535)
        for q, th, acc in ((qw.q, qw.theta, "ours"), (ref.q, ref.theta, "nearest")):
            e = x @ (w - q / np.broadcast_to(th, (8,))[:, None]).T
            if acc == "ours":
                ours += float((e ** 2).sum())
            else:
                nearest += float((e ** 2).sum())
    assert ours < 0.7 * nearest


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
