"""Weight quantization with integer thresholds (DESIGN §4).

A normalized layer computes clip(ReLU(W'x + b'), 0, 1) with an IF neuron of threshold 1. Writing
W' ≈ Δ·Q with Q in the b-bit range gives the integer neuron θ = 1/Δ, bias = b'/Δ. Here Δ is
chosen as 1/θ for an *integer* θ, so the integer network is exactly proportional to the quantized
one (no rounding of θ afterwards). θ is picked per tensor or per output channel by minimising the
squared weight error over integer candidates.

Ranges by bit width (`weight_range`): 1 bit is bipolar {-1, +1}; b >= 2 bits are two's complement,
`symmetric` [-(2^(b-1)-1), 2^(b-1)-1] or `full` [-2^(b-1), 2^(b-1)-1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.runtime.packing import WeightType

MAX_CANDIDATES = 512


WeightRange = WeightType  # the runtime's weight-type vocabulary (min, max, allowed, quantize, pack)


def weight_range(bits: int, encoding: str) -> WeightType:
    return WeightType(bits, encoding)


@dataclass(frozen=True)
class QuantizedWeights:
    q: np.ndarray  # int64 integer weights, same shape as the float weights
    theta: np.ndarray  # int64, shape (1,) per tensor or (O,) per channel
    error: float  # relative L2 error ||W' - Q/θ|| / ||W'||


def _candidates(w: np.ndarray, rng: WeightRange, theta_max: int) -> np.ndarray:
    a = np.abs(w)
    amax = float(a.max()) if a.size else 0.0
    if amax == 0.0:
        return np.array([1], dtype=np.int64)
    ref = 1.0 / float(a.mean()) if rng.bits == 1 else rng.max / amax
    # The error-optimal 2-bit (ternary) θ of heavy-tailed weights, about 1/(1.4 mean|W'|), lies beyond
    # this window once max/mean > 5.6. Widening the window to 4/mean|W'| finds it, but then the
    # weights `snnc finetune` exports no longer reproduce its frozen θ (export.export_row nudges
    # within this grid), so the window stays as it is until export handles the wider one.
    lo = min(theta_max, max(1, int(np.floor(ref * 0.25))))
    hi = min(theta_max, max(lo, int(np.ceil(ref * 4.0))))
    if hi - lo + 1 <= MAX_CANDIDATES:
        return np.arange(lo, hi + 1, dtype=np.int64)
    return np.unique(np.geomspace(lo, hi, MAX_CANDIDATES).round().astype(np.int64))


# candidates x weights evaluated at once by `_best_theta`: 512 KiB of float64, so that the seven
# passes over one block run in the cache (2^24 did them from memory: a 4,608-weight row's 390
# candidates took 2.5x as long on the dev VM; the blocks change no bit, see `_best_theta`)
BLOCK_ELEMENTS = 1 << 16


def _theta_errors(flat: np.ndarray, th: np.ndarray, rng: WeightRange) -> np.ndarray:
    """Σ (w − quantize(w θ)/θ)² for each candidate θ (a column), in place on one buffer: the same
    IEEE operations in the same order as `((w - rng.quantize(w * th) / th) ** 2).sum(axis=1)` (the
    integers it rounds to are exact in float64), so the same bits, without its temporaries."""
    buf = np.multiply(flat, th)
    if rng.bits == 1:
        buf = np.where(buf >= 0, 1.0, -1.0)
    else:
        np.rint(buf, out=buf)
        np.clip(buf, rng.min, rng.max, out=buf)
    buf /= th
    np.subtract(flat, buf, out=buf)
    buf *= buf
    return buf.sum(axis=1)


def _best_theta(w: np.ndarray, rng: WeightRange, theta_max: int, block: int = BLOCK_ELEMENTS,
                fast: bool = True) -> int:
    """The integer θ in [1, theta_max] minimising ||w - quantize(w θ)/θ||² as `_theta_errors`
    computes it (the first on ties). The candidates are evaluated in blocks of at most `block`
    elements, so memory stays bounded for a tensor of millions of weights (each candidate's sum is
    its own row: the blocks change no bit). With `fast`, `_error_bounds` first brackets every
    candidate's error from sorted weights, and only the candidates that can be the minimum are
    evaluated exactly: the same θ, in a fraction of the time (tested against fast=False)."""
    cands = _candidates(w, rng, theta_max)
    flat = np.ascontiguousarray(w, dtype=np.float64).reshape(1, -1)
    if fast and len(cands) > 1:
        bracket = _error_bounds(flat[0], cands.astype(np.float64), rng)
        if bracket is not None:
            est, slack = bracket
            m = int(np.argmin(est))
            cands = cands[est <= est[m] + slack[m] + slack]  # holds the exact minimum and its ties, in order
    step = max(1, block // max(1, flat.size))
    err = np.concatenate([_theta_errors(flat, cands[i:i + step].reshape(-1, 1).astype(np.float64), rng)
                          for i in range(0, len(cands), step)])
    return int(cands[int(np.argmin(err))])


def _error_bounds(w: np.ndarray, th: np.ndarray, rng: WeightRange) -> tuple[np.ndarray, np.ndarray] | None:
    """(estimate, slack) per candidate θ with |estimate − E(θ)| <= slack for E(θ) as `_theta_errors`
    computes it in floating point, or None (then every candidate is evaluated exactly).

    E(θ) = Σw² − 2·Σ q·w / θ + Σ q² / θ² with q = quantize(w·θ). The positive weights and the
    magnitudes of the negative ones are sorted; quantize(a·θ) is non-decreasing along a sorted
    array (IEEE multiplication and rint are monotone), so the weights at level >= k are a suffix,
    found by a binary search and then checked with the very products and rint that `_theta_errors`
    evaluates; Σ q·|w| is a sum of suffix sums, Σ q² an exact integer. The slack bounds the
    rounding of both computations: 4·(3n + K + 64)·ε·(Σw² + 2Σq|w|/θ + Σq²/θ²)."""
    n = w.size
    sq = float(np.dot(w, w))
    if not np.isfinite(sq):
        return None
    if rng.bits == 1:  # q = +1 for w >= 0, -1 below: Σ q·w = Σ|w|, Σ q² = n, whatever θ
        s_qw = np.full(th.shape, float(np.abs(w).sum()))
        s_qq = np.full(th.shape, float(n))
        levels = 1
    else:
        s_qw, s_qq = np.zeros(th.shape), np.zeros(th.shape)
        levels = max(rng.max, -rng.min)
        for a, cap in ((np.sort(w[w > 0]), rng.max), (np.sort(-w[w < 0]), -rng.min)):
            if a.size == 0:
                continue
            suffix = np.concatenate([np.cumsum(a[::-1])[::-1], [0.0]])  # suffix[i] = Σ_{j >= i} a_j
            k = np.arange(1, cap + 1, dtype=np.float64).reshape(-1, 1)
            idx = _first_at_level(a, th.reshape(1, -1), k)  # (levels, candidates)
            if idx is None:
                return None
            s_qw += suffix[idx].sum(axis=0)
            s_qq += ((2 * k - 1) * (a.size - idx)).sum(axis=0)  # q² = Σ_{k <= q} (2k - 1)
    magnitude = sq + 2.0 * s_qw / th + s_qq / (th * th)
    est = sq - 2.0 * s_qw / th + s_qq / (th * th)
    return est, 4.0 * (3 * n + levels + 64) * np.finfo(np.float64).eps * magnitude


def _first_at_level(a: np.ndarray, th: np.ndarray, k: np.ndarray, max_steps: int = 64) -> np.ndarray | None:
    """Per level k and θ (broadcast), the first index i of the sorted array a with rint(a[i]·θ) >= k
    (a.size if none), or None when the binary search's guess needs more than max_steps corrections."""
    n = a.size
    i = np.searchsorted(a, ((k - 0.5) / th).ravel()).reshape(np.broadcast_shapes(k.shape, th.shape))
    for _ in range(max_steps):
        before = np.rint(a[np.maximum(i - 1, 0)] * th) >= k  # the element before must be below level k
        at = np.rint(a[np.minimum(i, n - 1)] * th) >= k  # and the one at i at level k or above
        back = (i > 0) & before
        ahead = (i < n) & ~at
        if not (back.any() or ahead.any()):
            return i
        # step over a whole run of equal values at once (equal values are on the same side)
        i = np.where(back, np.searchsorted(a, a[np.maximum(i - 1, 0)], side="left"),
                     np.where(ahead, np.searchsorted(a, a[np.minimum(i, n - 1)], side="right"), i))
    return None


def quantize_weights(w: np.ndarray, bits: int, encoding: str, *, per_channel: bool, theta_max: int) -> QuantizedWeights:
    """Quantize normalized weights `w` (output channel on axis 0) to integers with integer θ."""
    w = np.asarray(w, dtype=np.float64)
    rng = weight_range(bits, encoding)
    if per_channel:
        theta = np.array([_best_theta(w[o], rng, theta_max) for o in range(w.shape[0])], dtype=np.int64)
        th_b = theta.reshape((-1,) + (1,) * (w.ndim - 1)).astype(np.float64)
    else:
        theta = np.array([_best_theta(w, rng, theta_max)], dtype=np.int64)
        th_b = float(theta[0])
    q = rng.quantize(w * th_b)
    norm = float(np.linalg.norm(w))
    err = float(np.linalg.norm(w - q / th_b)) / norm if norm else 0.0
    return QuantizedWeights(q=q, theta=theta, error=err)


def quantize_bias(b: np.ndarray, theta: np.ndarray, bias_bits: int) -> tuple[np.ndarray, int]:
    """bias_int = rint(b' θ), clipped to the signed bias width. Returns (bias_int, number clipped)."""
    raw = np.rint(np.asarray(b, dtype=np.float64) * theta.astype(np.float64))
    lo, hi = -(2 ** (bias_bits - 1)), 2 ** (bias_bits - 1) - 1
    clipped = int(np.count_nonzero((raw < lo) | (raw > hi)))
    return np.clip(raw, lo, hi).astype(np.int64), clipped
