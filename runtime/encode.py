"""How the input enters the network: float -> integer quantization, and the input encodings."""
from __future__ import annotations

import numpy as np

from snnc.runtime.errors import InputError
from snnc.runtime.model import InputSpec


FLOAT_EXACT = 1 << 53  # every integer of magnitude <= 2^53 is a float64
CLIP_GUARD = float(1 << 62)  # |lo|, |hi| <= 2^62 (input_bits <= 62): a float64 and an int64


def quantize_float(spec: InputSpec, x: np.ndarray, empty=np.empty) -> np.ndarray | None:
    """clip(rint(float64(x) / scale), lo, hi) as int64 (rint = round half to even), or None when
    x holds a NaN or an infinity. empty(shape, dtype) allocates the result and the float64
    temporary (the numba backend reuses memory; jit_backend.quantize_input is its compiled twin).

    The clip is exact for every [lo, hi]: when |lo| and |hi| are at most 2^53 they are float64
    values and the clip is done in float64; otherwise float64(hi) may round to hi + 1 (and
    float64(lo) to lo - 1), so the value is first clipped to [-2^62, 2^62] in float64 (which
    contains [lo, hi], and where every integral float64 converts to int64 exactly), then to
    [lo, hi] in int64.
    """
    if not np.isfinite(x).all():  # float64(x) is finite exactly when x is
        return None
    xf = empty(x.shape, np.float64)
    np.copyto(xf, x)  # = x.astype(float64); then in place: the same values, fewer temporaries
    np.divide(xf, spec.scale, out=xf)
    np.rint(xf, out=xf)
    exact = max(abs(spec.lo), abs(spec.hi)) <= FLOAT_EXACT
    if exact:
        np.clip(xf, spec.lo, spec.hi, out=xf)
    else:
        np.clip(xf, -CLIP_GUARD, CLIP_GUARD, out=xf)
    x_int = empty(x.shape, np.int64)
    np.copyto(x_int, xf, casting="unsafe")  # = xf.astype(int64): every value is integral and in int64
    if not exact:
        np.clip(x_int, spec.lo, spec.hi, out=x_int)
    return x_int


def to_int_input(spec: InputSpec, x: np.ndarray, what: str = "input", quantize=quantize_float) -> np.ndarray:
    """Return x_int (B, *spec.shape) int64; raise InputError on a wrong shape, dtype, NaN or range.

    Float x: x_int = quantize(spec, x) (quantize_float or an equal implementation).
    Integer x: taken as x_int and must already lie in [lo, hi].
    """
    x = np.asarray(x)
    if x.dtype.kind not in "iuf" and x.dtype.kind != "b":
        raise InputError(f"{what}: dtype {x.dtype} is not numeric")
    if x.ndim != len(spec.shape) + 1 or tuple(x.shape[1:]) != spec.shape:
        raise InputError(f"{what}: shape {list(x.shape)} does not match (B, {', '.join(map(str, spec.shape))})")
    if x.shape[0] == 0:
        raise InputError(f"{what}: empty batch")
    if x.dtype.kind == "f":
        x_int = quantize(spec, x)
        if x_int is None:
            raise InputError(f"{what}: contains NaN or infinity")
        return x_int
    # min and max in x's own dtype, as Python ints: exact for every integer dtype (a uint64 value
    # >= 2^63 must be rejected, not wrapped to a negative int64 first)
    lo, hi = int(x.min()), int(x.max())
    if lo < spec.lo or hi > spec.hi:
        raise InputError(f"{what}: integer values span [{lo}, {hi}], outside the input range [{spec.lo}, {spec.hi}]")
    return x.astype(np.int64)  # every value lies in [lo, hi], inside int64: the cast is exact


def rate_spikes(spec: InputSpec, x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """Deterministic rate coding: (T, B, ...) uint8 spikes.

    a_0 = floor(hi/2) ("half") or 0; per step a <- a + x; spike and a <- a - hi when a >= hi.
    Since 0 <= a < hi after every step and x <= hi, the spike count after step t is exactly
    floor((a_0 + (t+1)*x) / hi), which is what is computed here.
    """
    a0 = spec.hi // 2 if spec.rate_init == "half" else 0
    t = np.arange(1, timesteps + 1, dtype=np.int64).reshape((timesteps,) + (1,) * x_int.ndim)
    cum = (a0 + t * x_int[None]) // spec.hi
    prev = np.concatenate([np.full((1,) + x_int.shape, a0 // spec.hi, dtype=np.int64), cum[:-1]])
    return (cum - prev).astype(np.uint8)
