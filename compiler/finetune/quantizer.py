"""Torch versions of snnc's weight quantizer, with straight-through gradients.

`quantize_weights_torch` applies exactly the rule of `snnc.compiler.backend.quantize.quantize_weights` —
per tensor or per output channel, the integer θ in the candidate set of `_candidates` (reused
from that module, so the candidate sets are the same integers) that minimises
Σ (w − clip(rint(w·θ))/θ)², ties to the smallest θ — but evaluates all candidates of all channels
at once in float64 torch tensors (on the training device). The tests check that it returns the
same q and θ as the numpy function on random tensors.

`ste_weight` / `ste_bias` / `ActQuant` are the fake-quantization steps of the QAT forward pass:
the forward value is the quantized one, the gradient is the identity (straight-through).
"""
from __future__ import annotations

import numpy as np
import torch

from snnc.compiler.backend.quantize import _candidates, weight_range

CHUNK_ELEMENTS = 1 << 22  # bound on channels x candidates x fan-in evaluated at once


def _round_clip(scaled: torch.Tensor, bits: int, qmin: int, qmax: int) -> torch.Tensor:
    """`WeightRange.quantize` in torch: 1 bit -> sign (0 -> +1); else round half to even and clip."""
    if bits == 1:
        return torch.where(scaled >= 0, 1.0, -1.0).to(scaled.dtype)
    return torch.clamp(torch.round(scaled), qmin, qmax)  # torch.round is half-to-even, like np.rint


def _theta_rows(rows: torch.Tensor, bits: int, encoding: str, theta_max: int) -> torch.Tensor:
    """Best integer θ for each row of `rows` (float64, shape (R, n)); returns int64 (R,)."""
    rng = weight_range(bits, encoding)
    host = rows.detach().cpu().numpy()
    cands = [_candidates(host[r], rng, theta_max) for r in range(host.shape[0])]
    width = max(len(c) for c in cands)
    # pad each row's candidates with copies of its last one: argmin returns the first minimum,
    # so a repeated candidate never wins over its first occurrence.
    table = np.stack([np.concatenate([c, np.full(width - len(c), c[-1], dtype=np.int64)]) for c in cands])
    cand = torch.from_numpy(table).to(rows.device)
    out = torch.empty(rows.shape[0], dtype=torch.int64, device=rows.device)
    n = rows.shape[1]
    step_r = max(1, CHUNK_ELEMENTS // max(1, width * n))
    for r0 in range(0, rows.shape[0], step_r):
        w = rows[r0:r0 + step_r]  # (r, n)
        c = cand[r0:r0 + step_r].to(torch.float64)  # (r, K)
        if w.shape[0] == 1 and width * n > CHUNK_ELEMENTS:  # one huge row (per tensor): chunk the candidates
            errs = []
            step_k = max(1, CHUNK_ELEMENTS // n)
            for k0 in range(0, width, step_k):
                th = c[:, k0:k0 + step_k, None]
                q = _round_clip(w[:, None, :] * th, bits, rng.min, rng.max)
                errs.append(((w[:, None, :] - q / th) ** 2).sum(dim=2))
            err = torch.cat(errs, dim=1)
        else:
            th = c[:, :, None]
            q = _round_clip(w[:, None, :] * th, bits, rng.min, rng.max)
            err = ((w[:, None, :] - q / th) ** 2).sum(dim=2)  # (r, K)
        idx = torch.argmin(err, dim=1)  # first minimum, like np.argmin
        out[r0:r0 + step_r] = cand[r0:r0 + step_r].gather(1, idx[:, None])[:, 0]
    return out


def quantize_weights_torch(w: torch.Tensor, bits: int, encoding: str, *, per_channel: bool,
                           theta_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, θ) of normalized weights `w` (output channel on axis 0), as `quantize_weights` gives them.

    q is float64 holding integers (same shape as w); θ is int64, shape (O,) per channel or (1,)."""
    rng = weight_range(bits, encoding)
    w = w.detach().to(torch.float64)
    rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    theta = _theta_rows(rows, bits, encoding, theta_max)
    th_b = theta.to(torch.float64).reshape((-1,) + (1,) * (w.ndim - 1)) if per_channel else theta.to(torch.float64)[0]
    q = _round_clip(w * th_b, bits, rng.min, rng.max)
    return q, theta


def theta_per_row(theta: torch.Tensor, out_channels: int) -> torch.Tensor:
    """θ as one value per output channel (float64), whether it is per tensor or per channel."""
    t = theta.to(torch.float64)
    return t.expand(out_channels) if t.numel() == 1 else t


def straight_through(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """`value` in the forward pass, the gradient of `x` in the backward pass."""
    return x + (value.to(x.dtype) - x).detach()


def dequantize_weight(q: torch.Tensor, theta: torch.Tensor, lam_in: float, lam_out: float) -> torch.Tensor:
    """Float weight in the model's own units that the integers stand for: q/θ · λ_out/λ_in."""
    th = theta_per_row(theta, q.shape[0]).reshape((-1,) + (1,) * (q.ndim - 1))
    return q.to(torch.float64) / th * lam_out / lam_in


def quantize_bias_torch(b: torch.Tensor, theta: torch.Tensor, lam_out: float, bias_bits: int) -> torch.Tensor:
    """rint(b/λ_out · θ) clipped to the bias width, as `quantize_bias` (float64 integers)."""
    th = theta_per_row(theta, b.shape[0])
    lo, hi = -(2 ** (bias_bits - 1)), 2 ** (bias_bits - 1) - 1
    return torch.clamp(torch.round(b.detach().to(torch.float64) / lam_out * th), lo, hi)


def dequantize_bias(bias_int: torch.Tensor, theta: torch.Tensor, lam_out: float) -> torch.Tensor:
    return bias_int.to(torch.float64) / theta_per_row(theta, bias_int.shape[0]) * lam_out


class ActQuant(torch.nn.Module):
    """The spiking neuron's activation: clip(x, 0, λ); with `levels` L > 0 also rounded to L levels
    with a half-step shift, λ/L · floor(x·L/λ + 1/2) (QCFS, Bu et al. 2022), straight-through.

    The rounding applies in training mode only; in eval mode the module is the plain clip that
    compile's quantized ANN has (the SNN's own time discretization plays the role of the levels).
    λ is fixed (a buffer holding the float32-representable calibration scale), so the exported
    ONNX Clip(0, λ) carries exactly the value the fine-tuning used."""

    def __init__(self, lam: float, levels: int = 0):
        super().__init__()
        self.register_buffer("lam", torch.tensor(float(lam), dtype=torch.float64))
        self.levels = int(levels)
        self.record = False  # keep the last input (for recalibration)
        self.recorded: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.record:
            self.recorded = x.detach()
        lam = self.lam.to(x.dtype)
        y = torch.minimum(torch.relu(x), lam)
        if self.levels > 0 and self.training:  # eval mode: clip only, as compile's quantized ANN
            L = self.levels
            yq = torch.floor(y * (L / lam) + 0.5) * (lam / L)
            y = straight_through(y, yq)
        return y

    def extra_repr(self) -> str:
        return f"lam={float(self.lam):.6g}, levels={self.levels}"
