"""The compiled backend of the fast simulator: one numba kernel per layer with neurons.

Imported only when `simulate(..., backend="numba")` runs (or "auto" finds numba), so the runtime
still imports with numpy alone. It reads and writes the same internal layout as fastsim.py
(channels last, (Tt, B, ...) values, (T, B, ...) spikes) and returns what the numpy path returns
for a layer: spikes, membranes (with trace), counts and counts after earlier steps.

Dtypes, all integer and all proven wide enough:
- currents (`cur`): int16 / int32 / int64, the narrowest holding `plan.bound`, the bound of every
  partial sum of I (exactness.py);
- membrane storage: int32 when the m-bit membrane, theta + 1 and the biases fit it, else int64;
- the IF update itself computes in int64, where V + I + bias + 2^(m-1) fits (exactness_plan
  rejects artefacts where it would not).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.runtime import jit_kernels as kernels
from snnc.runtime.exactness import LayerPlan
from snnc.runtime.model import Add, AvgPool, Conv, Linear


@dataclass(frozen=True, eq=False)
class JitLayer:
    """Arrays a kernel needs for one layer, prepared once per `simulate` call.

    Per-neuron arrays are flat over one sample's neurons in internal order ((H, W, C) or (F,)).
    """

    shape: tuple[int, ...]  # internal output shape of one sample
    cur_dtype: np.dtype
    bias: np.ndarray
    thf: np.ndarray  # fire when V >= thf
    thr: np.ndarray  # subtracted on a spike (0 for reset "zero", with rmask 0)
    v0: np.ndarray
    prm: np.ndarray  # [half, mask, lo, hi, rmask], see jit_kernels
    weight: np.ndarray | None = None  # (kh, C, kw, O/groups) int8, see jit_kernels._scatter_conv
    geom: np.ndarray | None = None
    yo_of: np.ndarray | None = None
    xo_of: np.ndarray | None = None


def _narrowest(limit: int, choices=(np.int16, np.int32, np.int64)) -> np.dtype:
    for dt in choices:
        if limit <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(limit)  # excluded by exactness_plan


def _tap_targets(size: int, k: int, stride: int, pad: int, out: int) -> np.ndarray:
    """[p, i] = the output index that input position p reaches through kernel tap i, or -1."""
    num = np.arange(size)[:, None] + pad - np.arange(k)[None, :]
    ok = (num >= 0) & (num % stride == 0) & (num // stride < out)
    return np.where(ok, num // stride, -1).astype(np.int64)


def prepare(layer, plan: LayerPlan, target, in_shape: tuple[int, ...]) -> JitLayer:
    n = layer.neuron
    out = layer.output_shape
    shape = (out[1], out[2], out[0]) if len(out) == 3 else out
    m = target.membrane_bits
    vmin, vmax = -(1 << (m - 1)), (1 << (m - 1)) - 1
    theta = np.asarray(n.threshold, np.int64)
    gt = 1 if target.fire == "gt" else 0
    mem_dt = _narrowest(max(vmax + 1, int(theta.max()) + gt, max(abs(b) for b in n.bias)), (np.int32, np.int64))

    def full(values) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(values, np.int64), shape).ravel().astype(mem_dt))

    subtract = n.reset == "subtract"
    wrap = target.overflow == "wrap"
    prm = np.array([1 << (m - 1) if wrap else 0, (1 << m) - 1 if wrap else -1, vmin, vmax, -1 if subtract else 0],
                   np.int64)
    common = dict(shape=shape, cur_dtype=_narrowest(plan.bound), bias=full(n.bias), thf=full(theta + gt),
                  thr=full(theta if subtract else 0), v0=full(theta // 2 if n.v_init == "half" else 0), prm=prm)
    if isinstance(layer, Conv):
        o, cg, kh, kw = layer.weight.shape
        og = o // layer.groups
        # w2[i, q*cg + c, kw-1-j, o'] = W[q*og + o', c, i, j]
        w = layer.weight.astype(np.int8).reshape(layer.groups, og, cg, kh, kw)[..., ::-1].transpose(3, 0, 2, 4, 1)
        (sh, sw), (top, left, _, _) = layer.stride, layer.padding
        geom = np.array([sh, sw, top, left, cg, out[1], out[2], og], np.int64)
        return JitLayer(weight=np.ascontiguousarray(w.reshape(kh, layer.groups * cg, kw, og)), geom=geom,
                        yo_of=_tap_targets(in_shape[1], kh, sh, top, out[1]),
                        xo_of=_tap_targets(in_shape[2], kw, sw, left, out[2]), **common)
    if isinstance(layer, Linear):  # a 1x1 convolution of a 1x1 image with F channels
        f = layer.weight.shape[1]
        w = np.ascontiguousarray(layer.weight.astype(np.int8).T.reshape(1, f, 1, -1))
        zero = np.zeros((1, 1), np.int64)
        return JitLayer(weight=w, geom=np.array([1, 1, 0, 0, f, 1, 1, layer.weight.shape[0]], np.int64), yo_of=zero, xo_of=zero, **common)
    if isinstance(layer, AvgPool):
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        return JitLayer(geom=np.array([kh, kw, sh, sw, out[1], out[2]], np.int64), **common)
    assert isinstance(layer, Add)
    return JitLayer(**common)


def _as_kernel_input(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """uint8 spikes or int64 current, C-contiguous."""
    if x.dtype == bool:
        return np.ascontiguousarray(x).view(np.uint8), True
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x), True
    return np.ascontiguousarray(x, dtype=np.int64), False


def neuron_layer(layer, xs: list[np.ndarray], plan: LayerPlan, target, timesteps: int, trace: bool,
                 counts_at: tuple[int, ...], prep: JitLayer, add_currents):
    """Spikes (T, B, *s) bool, membranes (T, B, *s) int64 or None, counts (B, *s) int64 and
    {t: counts after t steps} of one layer with neurons, internal layout."""
    nb = xs[0].shape[1]
    size = int(np.prod(prep.shape))
    out = np.empty((timesteps, nb, size), np.uint8)
    cnt_dt = np.int32 if timesteps < (1 << 31) else np.int64  # int32 lanes: a faster IF loop
    cnt = np.zeros((nb, size), cnt_dt)
    mem = np.empty((timesteps, nb, size) if trace else (1, 1, 1), np.int64)
    at = np.asarray(counts_at, np.int64)
    cnt_at = np.empty((len(at), nb, size), cnt_dt)
    neuron = (prep.bias, prep.thf, prep.thr, prep.v0, prep.prm)
    results = (out, cnt, mem, at, cnt_at, trace)
    cur_dtype = np.empty(0, prep.cur_dtype)
    if isinstance(layer, (Conv, Linear)):
        x, spikes = _as_kernel_input(xs[0])
        if isinstance(layer, Linear):
            x = x.reshape(x.shape[0], nb, 1, 1, -1)
        w4 = np.array(layer.weight) if isinstance(layer, Conv) and not spikes else np.empty((0, 1, 1, 1), np.int8)
        kernels.conv_if(x, spikes, prep.weight, w4, prep.geom, prep.yo_of, prep.xo_of, *neuron, cur_dtype, *results)
    elif isinstance(layer, AvgPool):
        x, _ = _as_kernel_input(xs[0])
        kernels.pool_if(x, prep.geom, *neuron, cur_dtype, *results)
    else:
        j = add_currents(layer, xs, plan)
        j = np.ascontiguousarray(j.reshape(j.shape[0], nb, size), dtype=prep.cur_dtype)
        kernels.currents_if(j, *neuron, *results)
    full = (timesteps, nb) + prep.shape
    counts = cnt.astype(np.int64).reshape((nb,) + prep.shape)
    prefix = {int(t): cnt_at[k].astype(np.int64).reshape((nb,) + prep.shape) for k, t in enumerate(at)}
    return out.view(bool).reshape(full), mem.reshape(full) if trace else None, counts, prefix
