"""Data-aware weight rounding at few bits (`--rounding`, issue 13): GPTQ with a θ search.

Rounding each normalized weight to its nearest integer step (`quantize.quantize_weights`) keeps
accuracy at 4 bits, but at 2 bits (ternary weights) it loses plainly trained CNNs: on the VGG- and
ResNet-style MNIST models even the best real-valued per-channel step gives 27% and 52% (float
99.7%, 1,000 held-out training images). What matters is the error of the layer's *output*, not of
its weights. For one layer with input patches x (the float model's, on calibration inputs), a row's
output error after the bias correction below is e·(x − E[x]), of mean square eᵀ C e with
e = w − q/θ and C the covariance of x. GPTQ (Frantar et al., ICLR 2023, after Optimal Brain
Quantization) rounds the weights of a row one input column at a time and moves each column's
rounding error onto the columns not yet rounded, by C's inverse:

    U = chol(C⁻¹)ᵀ (upper), for j = 0 .. K−1:
        q_j = quantize(w_j · θ)                    (the b-bit range, round half to even; 1 bit: sign)
        w_{j+1..} −= (w_j − q_j/θ) / U_jj · U_{j, j+1..}

with C damped by `DAMP` × its mean diagonal. The mean output error goes into the bias (Nagel et
al. 2019's bias correction): b_c = b' + e·E[x]/λ_in. θ is searched too: for each row (per
channel) or for the tensor, the integers rint(θ*·f), f in `THETA_FACTORS`, around the
weight-error-optimal θ* of `quantize_weights`, each rounded by GPTQ; the one with the least
eᵀ C e/λ_in² + (rint(b_c θ)/θ − b_c)² wins (ties: the smaller θ). The second term is the integer
bias's rounding: at 2 bits θ is 4-12 in a hidden layer, so one bias step is 8-25% of the layer's
output range, and choosing θ for the weights alone left the accuracy at the mercy of how the
biases happened to round (issue 18, item 3: 74.7% at one percentile, 98.9% at the next).

Everything here is float64 numpy on the calibration inputs, deterministic for the same data, numpy
build and thread count (the artefact records the integers; the runtime's contract is unchanged:
GPTQ only chooses *which* integers). With `--rounding auto` (the default) it applies to the layers
of at most `AUTO_MAX_BITS` bits when automatic calibration runs (`--calibration auto` with data);
`--rounding gptq` applies it to every weight layer with data, `nearest` never.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.compiler.backend.quantize import QuantizedWeights, _best_theta, quantize_weights, weight_range
from snnc.compiler.ir.interpret import run as run_float
from snnc.compiler.ir.ops import attr

AUTO_MAX_BITS = 2  # --rounding auto: GPTQ at this width and below
SAMPLES = 128  # calibration inputs whose patches make the moments
MAX_ROWS = 1 << 17  # patches per layer at most (every k-th position beyond that, k fixed per layer)
DAMP = 0.01  # C += DAMP * mean(diag C) * I (C: the input covariance)
THETA_FACTORS = (1 / 1.5, 1 / 1.3, 1 / 1.15, 1.0, 1 / 0.9, 1 / 0.8, 1 / 0.7, 1 / 0.6)
WEIGHT_KINDS = ("conv", "linear", "synapse")


@dataclass(frozen=True)
class InputMoments:
    """E[x xᵀ] and E[x] over the input patches of one weight layer (the float model's)."""

    gram: np.ndarray  # (K, K) float64
    mean: np.ndarray  # (K,) float64
    rows: int  # patches averaged
    samples: int  # calibration inputs they came from


def uses_gptq(opts, has_calib: bool, bits: int) -> bool:
    """Whether a layer of `bits` bits is rounded by GPTQ under these options."""
    if not has_calib or opts.rounding == "nearest":
        return False
    if opts.rounding == "gptq":
        return True
    return opts.calibration == "auto" and bits <= AUTO_MAX_BITS


def gptq_stages(plan, opts, has_calib: bool) -> list:
    """The planned weight stages GPTQ rounds (groups > 1 keep nearest rounding)."""
    return [st for st in plan if st.kind in WEIGHT_KINDS and uses_gptq(opts, has_calib, opts.bits_of(st.name))
            and (st.kind == "linear" or int(attr(st.node, "groups")) == 1)]


def patches(x: np.ndarray, node) -> np.ndarray:
    """(positions, K) input patches of a conv node (IR attrs: stride, padding t/l/b/r, dilation,
    input_dilation), K = C·kh·kw in the weight's (C, kh, kw) order; a linear's input as it is."""
    if node.op != "conv":
        return x.reshape(x.shape[0], -1)
    kh, kw = node.params["weight"].shape[2:]
    dy, dx = attr(node, "input_dilation")
    if (dy, dx) != (1, 1):  # a ConvTranspose: zeros between the input pixels
        n, c, h, w = x.shape
        z = np.zeros((n, c, (h - 1) * dy + 1, (w - 1) * dx + 1), dtype=x.dtype)
        z[:, :, ::dy, ::dx] = x
        x = z
    t, l, b, r = attr(node, "padding")
    x = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    sy, sx = attr(node, "stride")
    ey, ex = attr(node, "dilation")
    win = np.lib.stride_tricks.sliding_window_view(x, ((kh - 1) * ey + 1, (kw - 1) * ex + 1), axis=(2, 3))
    win = win[:, :, ::sy, ::sx, ::ey, ::ex]  # (N, C, oh, ow, kh, kw)
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1] * kh * kw)


def collect_moments(graph, stages, calib, sample_shape, input_range, *, limit: int | None = None,
                    batch: int = 32) -> dict[str, InputMoments]:
    """The input moments of each stage's weight layer, from the float model on the first `SAMPLES`
    calibration inputs (quantized as the chip sees them)."""
    from snnc.compiler.backend.lower import quantize_input  # (lower -> emit -> this module)

    if not stages:
        return {}
    n = min(SAMPLES, len(calib), limit if limit is not None else SAMPLES)
    x_all = quantize_input(calib.take(n, sample_shape), *input_range)
    sums = {st.name: None for st in stages}
    count = {st.name: 0 for st in stages}
    steps = {}  # per layer: every k-th patch, k fixed by the first batch
    for i in range(0, n, batch):
        env = run_float(graph, x_all[i:i + batch], all_values=True)
        for st in stages:
            p = patches(np.asarray(env[st.inputs[0]], dtype=np.float64), st.node)
            per = p.shape[0] // max(1, min(batch, n - i))
            p = p[::steps.setdefault(st.name, max(1, -(-per * n // MAX_ROWS)))]
            g, m = p.T @ p, p.sum(axis=0)
            if sums[st.name] is None:
                sums[st.name] = [g, m]
            else:
                sums[st.name][0] += g
                sums[st.name][1] += m
            count[st.name] += p.shape[0]
    return {k: InputMoments(gram=v[0] / count[k], mean=v[1] / count[k], rows=count[k], samples=n)
            for k, v in sums.items()}


def _candidates(theta_star: int, theta_max: int) -> np.ndarray:
    c = np.rint(theta_star * np.asarray(THETA_FACTORS)).astype(np.int64)
    return np.unique(np.clip(c, 1, theta_max))


def _round_rows(w: np.ndarray, theta: np.ndarray, u: np.ndarray, rng) -> np.ndarray:
    """GPTQ rounding of rows `w` (R, K), row r on the grid 1/theta[r]; returns q (R, K) float (integers)."""
    w = w.copy()
    th = theta.astype(np.float64)
    q = np.empty_like(w)
    for j in range(w.shape[1]):
        qj = rng.quantize(w[:, j] * th).astype(np.float64)
        q[:, j] = qj
        if j + 1 < w.shape[1]:
            err = (w[:, j] - qj / th) / u[j, j]
            w[:, j + 1:] -= np.outer(err, u[j, j + 1:])
    return q


def gptq_weights(wn: np.ndarray, mom: InputMoments, lam_in: float, bits: int, encoding: str, *, per_channel: bool,
                 theta_max: int, bn: np.ndarray | None = None) -> tuple[QuantizedWeights, np.ndarray]:
    """(the quantized weights, the bias correction (O,) in normalized output units) of normalized
    weights `wn` (output channel on axis 0) that read x/λ_in, where x has moments `mom`. `bn`: the
    normalized bias, whose rounding at each θ candidate counts in the choice of θ (None: a synapse,
    whose bias the add rounds at its own, much finer, threshold)."""
    wn = np.asarray(wn, dtype=np.float64)
    rng = weight_range(bits, encoding)
    o = wn.shape[0]
    w = wn.reshape(o, -1)
    cov = mom.gram - np.outer(mom.mean, mom.mean)  # the bias correction removes the mean error
    h = cov.copy()
    damp = DAMP * float(np.mean(np.diag(h)))
    if not damp > 0:  # the layer's input never varies: nothing to fit
        return quantize_weights(wn, bits, encoding, per_channel=per_channel, theta_max=theta_max), np.zeros(o)
    h[np.diag_indices_from(h)] += damp
    # columns in weight order; GPTQ's "act order" (decreasing E[x_k²]) was tried (with H = E[x xᵀ]): on
    # 1,000 held-out training images at 2 bits, T=16, SNN 98.7 -> 97.5% (VGG), 96.5 -> 98.2% (ResNet)
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    if per_channel:
        cands = [_candidates(_best_theta(w[r], rng, theta_max), theta_max) for r in range(o)]
    else:
        cands = [_candidates(_best_theta(w, rng, theta_max), theta_max)] * o
    width = max(len(c) for c in cands)
    # each row once per candidate (padded with its last candidate: argmin takes the first minimum)
    table = np.stack([np.concatenate([c, np.full(width - len(c), c[-1])]) for c in cands])  # (O, F)
    rows = np.repeat(w, width, axis=0)
    theta_rows = table.reshape(-1)
    q = _round_rows(rows, theta_rows, u, rng)
    e = rows - q / theta_rows[:, None].astype(np.float64)
    # the output error left after the bias correction, in normalized output units: the weights'
    # e·(x − E[x])/λ_in, and the corrected bias's rounding to a multiple of 1/θ (θ is small at
    # 2 bits, so a step is 8-25% of the layer's range: it decides θ as much as the weights do)
    cost = np.einsum("ik,kl,il->i", e, cov, e) / lam_in ** 2
    if bn is not None:
        b_c = np.repeat(np.asarray(bn, dtype=np.float64), width) + e @ (mom.mean / lam_in)
        cost = cost + (np.rint(b_c * theta_rows) / theta_rows - b_c) ** 2
    cost = cost.reshape(o, width)
    if per_channel:
        pick = np.argmin(cost, axis=1)
    else:
        pick = np.full(o, int(np.argmin(cost.sum(axis=0))))
    q = q.reshape(o, width, -1)[np.arange(o), pick]
    theta = table[np.arange(o), pick]
    err_w = w - q / theta[:, None].astype(np.float64)
    norm = float(np.linalg.norm(w))
    qw = QuantizedWeights(q=np.rint(q).astype(np.int64).reshape(wn.shape),
                          theta=theta.astype(np.int64) if per_channel else theta[:1].astype(np.int64),
                          error=float(np.linalg.norm(err_w)) / norm if norm else 0.0)
    return qw, err_w @ (mom.mean / lam_in)
