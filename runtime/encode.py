"""How the input enters the network: float -> integer quantization, and the input encodings."""
from __future__ import annotations

import math

import numpy as np

from snnc.runtime.errors import InputError
from snnc.runtime.model import InputSpec


# input.layout -> the permutation from the external (B, ...) array to (B, *input.shape)
TO_INTERNAL = {"NCHW": None, "NHWC": (0, 3, 1, 2)}
TO_EXTERNAL = {"NCHW": None, "NHWC": (0, 2, 3, 1)}
CLIP_WARN_FRACTION = 0.01  # clip_warning: more than 1% of the values ...
CLIP_WARN_STEPS = 1  # ... beyond [lo, hi] by more than this many input steps

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


SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_M1 = 0xBF58476D1CE4E5B9
SPLITMIX_M2 = 0x94D049BB133111EB
ENCODINGS = ("current", "rate", "poisson", "population", "ttfs")


def splitmix64(state: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 states (all arithmetic modulo 2^64):
    z ^= z >> 30; z *= M1; z ^= z >> 27; z *= M2; z ^= z >> 31."""
    z = np.array(state, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(SPLITMIX_M1)
        z ^= z >> np.uint64(27)
        z *= np.uint64(SPLITMIX_M2)
        z ^= z >> np.uint64(31)
    return z


def poisson_hash(seed: int, size: int, timesteps: int) -> np.ndarray:
    """(T, size) uint64: h(i, t) = splitmix64(seed + k*GAMMA mod 2^64), k = i*2^32 + t + 1 — the
    k-th output of the SplitMix64 generator started at state `seed` (semantics.md section 5)."""
    i = np.arange(size, dtype=np.uint64)[None, :]
    t = np.arange(timesteps, dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        k = (i << np.uint64(32)) + t + np.uint64(1)
        state = np.uint64(seed) + k * np.uint64(SPLITMIX_GAMMA)
    return splitmix64(state)


def poisson_spikes(spec: InputSpec, x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """Poisson (Bernoulli per step) coding: (T, B, ...) uint8, spike iff (h(i, t) mod hi) < x_int,
    i the element's C-order index within one sample (so a sample's train does not depend on the
    batch it is in, and equal inputs give equal trains)."""
    per = x_int.shape[1:]
    size = int(np.prod(per, dtype=np.int64))
    r = (poisson_hash(spec.seed, size, timesteps) % np.uint64(spec.hi)).astype(np.int64)  # < hi <= 2^62
    r = r.reshape((timesteps, 1) + per)
    return (r < x_int[None]).astype(np.uint8)


def population_values(spec: InputSpec, x_int: np.ndarray) -> np.ndarray:
    """(B, C*P, ...) int64: neuron p of element (c, ...) at channel c*P + p is driven by
    v_p = min(max(P*x_int - p*hi, 0), hi); sum over p of v_p = P*x_int."""
    pp = spec.population
    p = np.arange(pp, dtype=np.int64).reshape((1, 1, pp) + (1,) * (x_int.ndim - 2))
    v = np.clip(pp * x_int[:, :, None] - p * spec.hi, 0, spec.hi)  # (B, C, P, ...)
    return v.reshape((x_int.shape[0], x_int.shape[1] * pp) + x_int.shape[2:])


def population_spikes(spec: InputSpec, x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """Population coding: (T, B, C*P, ...) uint8, each neuron a deterministic rate encoder
    (`rate_spikes`, rate_init as for "rate") of its value v_p (`population_values`)."""
    return rate_spikes(spec, population_values(spec, x_int), timesteps)


def ttfs_spikes(spec: InputSpec, x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """Time-to-first-spike coding: (T, B, ...) uint8; an element with x_int > 0 spikes once, at step
    t_s = floor((hi - x_int)*(window - 1)/hi) (not at all when t_s >= T); x_int = 0 never."""
    ts = ((spec.hi - x_int) * (spec.window - 1)) // spec.hi
    ts = np.where(x_int > 0, ts, -1)
    t = np.arange(timesteps, dtype=np.int64).reshape((timesteps,) + (1,) * x_int.ndim)
    return (t == ts[None]).astype(np.uint8)


SPIKE_ENCODERS = {"rate": rate_spikes, "poisson": poisson_spikes, "population": population_spikes, "ttfs": ttfs_spikes}


def input_spikes(spec: InputSpec, x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """What the layers reading "input" receive: (T, B, *spec.encoded_shape) uint8 spikes for a
    spiking encoding; for "current", x_int itself as (1, B, *shape) int64 (the same every step).
    The one encoder every backend calls (the reference implements section 5 on its own)."""
    if spec.encoding == "current":
        return x_int[None]
    return SPIKE_ENCODERS[spec.encoding](spec, x_int, timesteps)


# ------------------------------------------------------------------------------ the input layout

def _dims(shape) -> str:
    return ", ".join(map(str, shape))


def conform_input(x: np.ndarray, shape: tuple[int, ...], layout: str = "NCHW", what: str = "input", *,
                  single: bool = False, exact: bool = False) -> np.ndarray:
    """The one shape rule for input arrays (simulate, `snnc run`, and the compiler's data loading).

    `shape` is the input's (C, H, W) or (F,); the external per-sample shape is (H, W, C) for
    layout "NHWC", else `shape`. Accepted, and returned as (B, *external shape):
    - exactly (B, *external shape);
    - one sample of the external shape, without batch axis (only with single=True);
    - for a one-channel (1, H, W) input: (B, H, W), and (B, 1, H, W) / (B, H, W, 1) whatever the
      layout (moving a size-1 axis moves no value);
    - for a flat (F,) input: samples (B, ...) of F values each, flattened in C order.
    With exact=True (what `simulate` applies) only the first form is accepted.
    Anything else raises InputError naming `what`, the shapes and the fix; in particular an array
    in the other layout ((B, H, W, C) for an NCHW input, (B, C, H, W) for an NHWC one, C > 1) is
    never reshaped.
    """
    x = np.asarray(x)
    shape = tuple(shape)
    ext = (shape[1], shape[2], shape[0]) if layout == "NHWC" and len(shape) == 3 else shape
    got = tuple(x.shape)
    if got[1:] == ext and x.ndim == len(ext) + 1:
        return x
    if exact:
        pass
    elif single and got == ext:
        return x[None]
    elif len(shape) == 1 and x.ndim >= 2 and math.prod(got[1:]) == shape[0]:
        return x.reshape((got[0], shape[0]))
    elif len(shape) == 3 and shape[0] == 1 and x.ndim >= 3 and (
            got[1:] == shape[1:] or (x.ndim == 4 and got[1:] in ((1,) + shape[1:], shape[1:] + (1,)))):
        return x.reshape((got[0],) + ext)
    elif single and len(shape) == 3 and shape[0] == 1 and got in (shape[1:], (1,) + shape[1:], shape[1:] + (1,)):
        return x.reshape((1,) + ext)
    expected = f"(B, {_dims(ext)})" + (" or one sample " + str(list(ext)) if single else "")
    head = f"{what}: shape {list(got)} does not match {expected}"
    batched = x.ndim == 4
    if len(shape) == 3 and shape[0] > 1 and (batched or (single and x.ndim == 3)):
        c, h, w = shape
        sample = got[1:] if batched else got
        if layout == "NCHW" and sample == (h, w, c):
            fix = "np.transpose(x, (0, 3, 1, 2))" if batched else "np.transpose(x, (2, 0, 1))"
            return _refuse(f"{head}: it looks like NHWC (H, W, C) data, and this model takes NCHW "
                           f"(B, C, H, W) = (B, {_dims(shape)}); transpose it: {fix}")
        if layout == "NHWC" and sample == (c, h, w):
            fix = "np.transpose(x, (0, 2, 3, 1))" if batched else "np.transpose(x, (1, 2, 0))"
            return _refuse(f"{head}: it looks like NCHW (C, H, W) data, but this model takes NHWC "
                           f"(B, H, W, C) = (B, {_dims(ext)}) (input.layout NHWC): pass the images "
                           f"in their NHWC order, untransposed, or transpose them back: {fix}")
    return _refuse(f"{head}" + (f" (input.layout {layout})" if layout != "NCHW" else ""))


def _refuse(message: str):
    raise InputError(message)


def to_internal(spec: InputSpec, x: np.ndarray) -> np.ndarray:
    """(B, *spec.external_shape) -> (B, *spec.shape): the NHWC -> NCHW transpose (a view)."""
    perm = TO_INTERNAL[spec.layout]
    return x if perm is None else np.transpose(x, perm)


def to_external(spec: InputSpec, x: np.ndarray) -> np.ndarray:
    """(B, *spec.shape) -> (B, *spec.external_shape): what `simulate` takes for data the compiler
    holds in (B, C, H, W) order (a view)."""
    perm = TO_EXTERNAL[spec.layout]
    return np.asarray(x) if perm is None else np.transpose(x, perm)


def clipped_count(spec: InputSpec, x: np.ndarray) -> tuple[int, int]:
    """(values beyond the input range by more than CLIP_WARN_STEPS steps, all values) of a float
    array: x / scale below lo - CLIP_WARN_STEPS or above hi + CLIP_WARN_STEPS. The quantization
    clips them to lo or hi (semantics.md section 5); an integer array has none (it must lie in
    [lo, hi]). Layout-independent (elementwise)."""
    x = np.asarray(x)
    if x.dtype.kind != "f" or x.size == 0 or x.ndim == 0:
        return 0, int(x.size)
    n = 0
    step = max(1, (1 << 20) // max(1, x[0].size))  # bounded temporaries: about 2^20 values at a time
    for i in range(0, x.shape[0], step):
        q = np.asarray(x[i:i + step], dtype=np.float64) / spec.scale
        n += int(np.count_nonzero((q < spec.lo - CLIP_WARN_STEPS) | (q > spec.hi + CLIP_WARN_STEPS)))
    return n, int(x.size)


def clip_warning(spec: InputSpec, clipped: int, total: int, what: str = "input") -> str | None:
    """One warning line when more than CLIP_WARN_FRACTION of the values were clipped (see
    `clipped_count`), else None."""
    if total <= 0 or clipped <= CLIP_WARN_FRACTION * total:
        return None
    lo, hi = spec.lo * spec.scale, spec.hi * spec.scale
    return (f"{what}: {clipped} of {total} input values ({clipped / total:.1%}) lie outside the calibrated input "
            f"range [{lo:.6g}, {hi:.6g}] (input.scale {spec.scale:.6g}, integers [{spec.lo}, {spec.hi}]) by more "
            f"than {CLIP_WARN_STEPS} step and are clipped to it; check that the data is scaled as the "
            "calibration data was")


def input_clip_warning(spec: InputSpec, x: np.ndarray, what: str = "input") -> str | None:
    """`clip_warning` for the float array x (what `snnc run` prints as a warning line)."""
    return clip_warning(spec, *clipped_count(spec, x), what=what)
