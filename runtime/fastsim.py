"""The numpy backend (`backend="numpy"`, DESIGN §6): layer by layer, all timesteps at once.

A feed-forward SNN without synaptic delay can be simulated one layer at a time: the currents of
all T steps of a layer are one matrix product over (T * batch) rows, then an integrate-and-fire
scan over T, vectorised over neurons, turns them into that layer's spikes for every step. The
result is identical to stepping the whole network through time (see docs/semantics.md); the
dtypes come from `exactness.exactness_plan`, which proves each layer's arithmetic exact.

Internal layout: (Tt, B, H, W, C) or (Tt, B, F), channels last; Tt is T, or 1 for a value that is
the same at every step (input current). Results are returned as (B, [T,] C, H, W).
`run_chunk`, the layer loop, is shared with the numba backend (jit_backend.py), which replaces
only the computation of the layers with neurons. `simulate` itself is in backend.py.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

# SimResult and simulate live in backend.py (shared by every backend); re-exported here for the
# modules that import them from fastsim
from snnc.runtime.backend import ChunkResult, SimResult, host_logits, simulate  # noqa: F401
from snnc.runtime.encode import input_spikes, quantize_float
from snnc.runtime.exactness import LayerPlan, scan_plan
from snnc.runtime.model import Add, Artefact, AvgPool, Concat, Conv, Flatten, Linear, MaxPool
from snnc.runtime.validate import carries_spikes

IM2COL_BUDGET = 32 << 20  # bytes of one im2col block


def _to_internal(x: np.ndarray, ndim: int) -> np.ndarray:
    """(..., C, H, W) -> (..., H, W, C)."""
    return np.moveaxis(x, -3, -1) if ndim == 3 else x


def _to_external(x: np.ndarray, ndim: int) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, -3)) if ndim == 3 else x


def dilate(layer: Conv, x: np.ndarray) -> np.ndarray:
    """The conv's input with its input_dilation's zeros inserted: x (..., H, W, C) internal layout
    -> (..., H', W', C), H' = (H - 1)*dh + 1 (docs/semantics.md section 6); x itself when undilated."""
    if not layer.dilated:
        return x
    (dh, dw), (h, w) = layer.input_dilation, x.shape[-3:-1]
    out = np.zeros(x.shape[:-3] + ((h - 1) * dh + 1, (w - 1) * dw + 1, x.shape[-1]), x.dtype)
    out[..., ::dh, ::dw, :] = x
    return out


def _conv_currents(layer: Conv, x: np.ndarray, plan: LayerPlan, wts) -> np.ndarray:
    """im2col with columns ordered (kh, kw, C), so each window row is kw*C contiguous values.

    The input is cast to the matmul dtype *before* the im2col (the cast is the slow part and
    the input is kh*kw times smaller than the columns); the product is written in place.
    """
    tt, b, h, w, c = x.shape
    o, cg, kh, kw = layer.weight.shape
    (sh, sw), (top, left, bottom, right) = layer.stride, layer.padding
    _, ho, wo = layer.output_shape
    n = tt * b
    dt = plan.matmul_dtype
    if isinstance(wts, Unrolled):
        return (x.reshape(n, h * w * c).astype(dt) @ wts.matrix).reshape(tt, b, ho, wo, o)
    x = dilate(layer, x)  # input_dilation: the windows read the dilated input
    h, w = x.shape[2:4]
    x = x.reshape(n, h, w, c)
    if x.dtype == bool:
        x = x.view(np.uint8)
    xf = np.zeros((n, h + top + bottom, w + left + right, c), dt)
    xf[:, top:top + h, left:left + w] = x
    out = np.empty((n, ho, wo, o), dt)
    og, k = o // layer.groups, cg * kh * kw
    step = max(1, IM2COL_BUDGET // (ho * wo * k * dt.itemsize))
    s0, s1, s2, s3 = xf.strides
    for g in range(layer.groups):
        xg = xf[..., g * cg:(g + 1) * cg]
        for n0 in range(0, n, step):
            n1 = min(n, n0 + step)
            win = as_strided(xg[n0:n1], (n1 - n0, ho, wo, kh, kw, cg), (s0, s1 * sh, s2 * sw, s1, s2, s3), writeable=False)
            cols = np.ascontiguousarray(win).reshape(-1, k)
            if layer.groups == 1:
                np.matmul(cols, wts[g], out=out[n0:n1].reshape(-1, o))
            else:
                out[n0:n1, :, :, g * og:(g + 1) * og] = (cols @ wts[g]).reshape(n1 - n0, ho, wo, og)
    return out.reshape(tt, b, ho, wo, o)


def _linear_currents(layer: Linear, x: np.ndarray, plan: LayerPlan, wts: list[np.ndarray]) -> np.ndarray:
    tt, b, f = x.shape
    return (x.reshape(tt * b, f).astype(plan.matmul_dtype) @ wts[0]).reshape(tt, b, -1)


def _avgpool_currents(layer: AvgPool, x: np.ndarray, plan: LayerPlan, wts) -> np.ndarray:
    """Window sums as kh*kw strided-slice additions (much faster than a reshape-sum)."""
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    _, ho, wo = layer.output_shape
    if x.dtype == bool:
        x = x.view(np.uint8)
    acc = None
    for i in range(kh):
        for j in range(kw):
            part = x[:, :, i: i + (ho - 1) * sh + 1: sh, j: j + (wo - 1) * sw + 1: sw]
            if acc is None:
                acc = part.astype(_int_dtype(plan, nonnegative=x.dtype == np.uint8))
            else:
                np.add(acc, part, out=acc)
    return acc


def _add_currents(layer: Add, xs: list[np.ndarray], plan: LayerPlan) -> np.ndarray:
    """sum_k m_k * x_k; a per-channel m_k multiplies along the last (channel, internal layout) axis.
    An x_k may be a synaptic conv's current (in its exact matmul dtype: integer-valued)."""
    total = None
    dt = _int_dtype(plan)
    for m, x in zip(layer.multipliers, xs):
        term = x.astype(dt) * (np.asarray(m, dtype=dt) if isinstance(m, tuple) else m)
        total = term if total is None else total + term
    return total


def _int_dtype(plan: LayerPlan, nonnegative: bool = False) -> np.dtype:
    """The narrowest integer dtype holding every partial sum of I (avgpool windows, add terms)."""
    if nonnegative and plan.bound <= 255:
        return np.dtype(np.uint8)
    for dt in (np.int16, np.int32):
        if plan.bound <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


UNROLL_MAX_ENTRIES = 4 << 20  # an unrolled conv matrix of at most this many entries (16 MB float32)
UNROLL_MAX_WASTE = 8  # ... and at most this many times the MACs of the direct convolution


class Unrolled:
    """A small convolution as one dense (H*W*C, Ho*Wo*O) matrix (channels-last flattening).

    For layers with few channels, im2col plus a thin matmul is dominated by copies; one
    BLAS-sized product over the whole (zero-padded) connectivity matrix is faster, and exact
    under the same bound (the extra entries are zeros).
    """

    def __init__(self, layer: Conv, in_shape: tuple[int, ...], dtype: np.dtype):
        c, h, w = in_shape
        o, cg, kh, kw = layer.weight.shape
        _, ho, wo = layer.output_shape
        (sh, sw), (top, left, _, _) = layer.stride, layer.padding
        dh, dw = layer.input_dilation
        oo, ci, ii, jj, yy, xx = np.meshgrid(np.arange(o), np.arange(cg), np.arange(kh), np.arange(kw),
                                             np.arange(ho), np.arange(wo), indexing="ij")
        row, col = yy * sh + ii - top, xx * sw + jj - left  # positions of the dilated input
        valid = (row >= 0) & (row < (h - 1) * dh + 1) & (col >= 0) & (col < (w - 1) * dw + 1)
        valid &= (row % dh == 0) & (col % dw == 0)  # the inserted zeros contribute nothing
        row, col = row // dh, col // dw
        chan = (oo // (o // layer.groups)) * cg + ci
        src = ((row * w + col) * c + chan)[valid]
        dst = ((yy * wo + xx) * o + oo)[valid]
        self.matrix = np.zeros((h * w * c, ho * wo * o), dtype)
        self.matrix[src, dst] = np.broadcast_to(layer.weight[:, :, :, :, None, None], oo.shape)[valid]

    @staticmethod
    def worthwhile(layer: Conv, in_shape: tuple[int, ...]) -> bool:
        entries = int(np.prod(in_shape)) * int(np.prod(layer.output_shape))
        direct = int(np.prod(layer.output_shape)) * int(np.prod(layer.weight.shape[1:]))
        return entries <= UNROLL_MAX_ENTRIES and entries <= UNROLL_MAX_WASTE * direct


def _weight_mats(layer, dtype: np.dtype, in_shape: tuple[int, ...]) -> "list[np.ndarray] | Unrolled":
    if isinstance(layer, Conv) and Unrolled.worthwhile(layer, in_shape):
        return Unrolled(layer, in_shape, dtype)
    w = layer.weight.astype(np.int64)
    if w.ndim == 4:  # (O, Cg, kh, kw) -> (O, kh, kw, Cg), matching the im2col column order
        w = w.transpose(0, 2, 3, 1)
    groups = getattr(layer, "groups", 1)
    og = w.shape[0] // groups
    return [np.ascontiguousarray(w[g * og:(g + 1) * og].reshape(og, -1).T.astype(dtype)) for g in range(groups)]


def if_scan(j: np.ndarray, timesteps: int, layer, target, plan: LayerPlan, trace: bool):
    """Integrate-and-fire over T for currents j (Tt, B, *s); returns (spikes bool (T, B, *s), membranes or None)."""
    n = layer.neuron
    sp = scan_plan(layer, target, plan, timesteps)
    dt = sp.dtype
    shape = j.shape[1:]
    # per-channel parameters expanded to one sample's full shape: contiguous inner loops
    theta = np.ascontiguousarray(np.broadcast_to(np.asarray(n.threshold, dt), shape[1:]))
    bias = np.ascontiguousarray(np.broadcast_to(np.asarray(n.bias, dt), shape[1:]))
    jb = j.astype(dt)
    jb += bias
    v = np.zeros(shape, dt)
    if n.v_init == "half":
        v[...] = theta // 2
    spikes = np.empty((timesteps,) + shape, bool)
    mem = np.empty((timesteps,) + shape, np.int64) if trace else None
    m = target.membrane_bits
    vmin, vmax = -(1 << (m - 1)), (1 << (m - 1)) - 1
    fire = np.greater_equal if target.fire == "ge" else np.greater
    if sp.wrap:
        half, mask = dt.type(1 << (m - 1)), dt.type((1 << m) - 1)
    tmp = np.empty(shape, dt)  # masked ufuncs (where=) are ~15x slower than these unmasked passes
    keep = np.empty(shape, bool)
    for t in range(timesteps):
        np.add(v, jb[t if jb.shape[0] > 1 else 0], out=v)
        if sp.wrap:
            v += half
            v &= mask
            v -= half
        if sp.clamp_hi:
            np.minimum(v, vmax, out=v)
        if sp.clamp_lo:
            np.maximum(v, vmin, out=v)
        s = spikes[t]
        fire(v, theta, out=s)
        if n.reset == "zero":  # V <- V * (1 - s)
            np.logical_not(s, out=keep)
            np.multiply(v, keep, out=v)
        else:  # V <- V - s * theta
            np.multiply(s, theta, out=tmp)
            np.subtract(v, tmp, out=v)
        if trace:
            mem[t] = v
    return spikes, mem


CURRENTS: dict[type, Callable] = {Conv: _conv_currents, Linear: _linear_currents, AvgPool: _avgpool_currents}


def _numpy_neuron_layer(layer, xs: list[np.ndarray], plan: LayerPlan, target, timesteps: int, trace: bool,
                        counts_at: tuple[int, ...], mats):
    """The numpy backend for one layer with neurons: (spikes, membranes or None, counts, {t: counts})."""
    if isinstance(layer, Add):
        j = _add_currents(layer, xs, plan)
    else:
        j = CURRENTS[type(layer)](layer, xs[0], plan, mats)
    out, mem = if_scan(j, timesteps, layer, target, plan, trace)
    o8 = out.view(np.uint8)
    counts = o8.sum(axis=0, dtype=np.int32).astype(np.int64)
    return out, mem, counts, {t: o8[:t].sum(axis=0, dtype=np.int32).astype(np.int64) for t in counts_at}


def maxpool_spikes(layer: MaxPool, x: np.ndarray) -> np.ndarray:
    """semantics.md section 6 maxpool, all T steps at once: x (T, B, H, W, C) spikes; the count of
    every input position before step t is cumsum - s; per window the first (row-major) position
    with the largest count passes its spike on (a strict > keeps the earlier position on ties)."""
    s = x.view(np.uint8) if x.dtype == bool else x.astype(np.uint8)
    before = np.cumsum(s, axis=0, dtype=np.int32 if s.shape[0] < (1 << 31) else np.int64) - s
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    _, ho, wo = layer.output_shape
    best = out = None
    for i in range(kh):
        for j in range(kw):
            cut = (slice(None), slice(None), slice(i, i + (ho - 1) * sh + 1, sh), slice(j, j + (wo - 1) * sw + 1, sw))
            c, v = before[cut], s[cut]
            if best is None:
                best, out = c.copy(), v.copy()
            else:
                larger = c > best
                np.copyto(best, c, where=larger)
                np.copyto(out, v, where=larger)
    return out.astype(bool)


def _passthrough(layer, xs: list[np.ndarray]) -> np.ndarray:
    if isinstance(layer, MaxPool):
        return maxpool_spikes(layer, xs[0])
    if isinstance(layer, Flatten):
        (x,) = xs
        if x.ndim == 5:
            x = np.moveaxis(x, -1, 2)
        return x.reshape(x.shape[0], x.shape[1], -1)
    assert isinstance(layer, Concat)
    tt = max(x.shape[0] for x in xs)
    return np.concatenate([np.broadcast_to(x, (tt,) + x.shape[1:]) for x in xs], axis=-1)


def run_chunk(a: Artefact, x_int: np.ndarray, timesteps: int, trace: bool, counts_at: tuple[int, ...], plans,
              prepared, neuron_layer: Callable, synapse_currents: Callable | None = None) -> ChunkResult:
    """The layer loop the numpy and numba backends share: each layer over all T steps in turn,
    `neuron_layer` computing the layers with neurons (`_numpy_neuron_layer` or jit_backend's) and
    `synapse_currents` the synaptic convs' integer currents (default `_conv_currents`; the numba
    backend's is event-driven)."""
    spec = a.input
    spiking = carries_spikes(a)
    x0 = input_spikes(spec, x_int, timesteps)  # (T, B, ...) spikes, or (1, B, ...) the current
    if spec.spiking:
        x0 = x0.astype(bool)
    values = {"input": _to_internal(x0, len(spec.shape))}
    uses = {name: 0 for name in values}
    for layer in a.core_layers:
        uses[layer.name] = 0
        for i in layer.inputs:
            uses[i] += 1
    counts, spikes_out, mems = {}, {}, {}
    prefix: dict[int, dict[str, np.ndarray]] = {t: {} for t in counts_at}
    for layer in a.core_layers:
        xs = [values[i] for i in layer.inputs]
        if layer.has_neurons:
            out, mem, counts[layer.name], pre = neuron_layer(layer, xs, plans[layer.name], a.target, timesteps,
                                                             trace, counts_at, prepared.get(layer.name))
            for t in counts_at:
                prefix[t][layer.name] = pre[t]
            if trace:
                mems[layer.name] = mem
        elif isinstance(layer, Conv):  # a synaptic conv: its current, read by add layers
            out = (synapse_currents or _conv_currents)(layer, xs[0], plans[layer.name], prepared[layer.name])
        else:
            out = _passthrough(layer, xs)
            if spiking[layer.name]:
                o8 = out.view(np.uint8) if out.dtype == bool else out
                counts[layer.name] = o8.sum(axis=0, dtype=np.int32).astype(np.int64)
                for t in counts_at:
                    prefix[t][layer.name] = o8[:t].sum(axis=0, dtype=np.int32).astype(np.int64)
        values[layer.name] = out
        if spiking[layer.name] and trace:
            spikes_out[layer.name] = out
        for i in layer.inputs:  # free what no later layer reads
            uses[i] -= 1
            if uses[i] == 0 and i != a.output_layer:
                values.pop(i, None)
    nd = {layer.name: len(layer.output_shape) for layer in a.core_layers}
    counts = {k: _to_external(v, nd[k]) for k, v in counts.items()}
    for t in counts_at:
        prefix[t] = {k: _to_external(v, nd[k]) for k, v in prefix[t].items()}
    if trace:
        spikes_out = {k: _to_external(np.swapaxes(v, 0, 1), nd[k]).view(np.uint8) for k, v in spikes_out.items()}
        mems = {k: _to_external(np.swapaxes(v, 0, 1), nd[k]) for k, v in mems.items()}
    return ChunkResult(counts, spikes_out, mems, prefix)


class NumpyBackend:
    """backend "numpy": the fast path above, numpy only (see backend.Backend)."""

    name = "numpy"

    def quantize(self, spec, x: np.ndarray) -> np.ndarray | None:
        return quantize_float(spec, x)

    def prepare(self, a: Artefact, plans: dict[str, LayerPlan]) -> dict:
        """The weight matrices of every conv and linear layer, in their proven matmul dtype."""
        shapes = {"input": a.input.encoded_shape, **{layer.name: layer.output_shape for layer in a.layers}}
        return {layer.name: _weight_mats(layer, plans[layer.name].matmul_dtype, shapes[layer.inputs[0]])
                for layer in a.core_layers if isinstance(layer, (Conv, Linear))}

    def run(self, a: Artefact, x_int: np.ndarray, timesteps: int, trace: bool, counts_at: tuple[int, ...],
            plans: dict[str, LayerPlan], prepared: dict) -> ChunkResult:
        return run_chunk(a, x_int, timesteps, trace, counts_at, plans, prepared, _numpy_neuron_layer)


NUMPY = NumpyBackend()
