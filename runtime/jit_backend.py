"""The compiled backend of the fast simulator: one numba kernel per layer with neurons.

Imported only when `simulate(..., backend="numba")` runs (or "auto" finds numba), so the runtime
still imports with numpy alone. It reads and writes the same internal layout as fastsim.py
(channels last, (Tt, B, ...) values, (T, B, ...) spikes) and returns what the numpy path returns
for a layer: spikes, membranes (with trace), counts and counts after earlier steps.

Dtypes, all integer and all proven wide enough:
- currents (`cur`): int16 / int32 / int64, the narrowest holding `plan.bound`, the bound of every
  partial sum of I (exactness.py);
- membranes and neuron parameters: int32 when every value of the IF update provably fits it
  (`membrane_dtype`), else int64; the IF update computes in that dtype (int64 always suffices:
  exactness_plan rejects artefacts where V + I + bias + 2^(m-1) would not fit it).

The settings that choose between equivalent kernel paths (block sizes, pattern tables, the pool's
size, and two switches that force the general paths) are a frozen `JitTuning`; `NUMBA` is the
backend with the defaults, and `NumbaBackend(JitTuning(...))` one with others, usable as
`simulate(..., backend=NumbaBackend(JitTuning(neuron_block=1)))` (the tests force every path so).
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import weakref
from dataclasses import dataclass
from functools import partial

import numpy as np

from snnc.runtime import jit_kernels as kernels
from snnc.runtime.backend import ChunkResult
from snnc.runtime.encode import CLIP_GUARD, quantize_float
from snnc.runtime.exactness import LayerPlan, scan_plan
from snnc.runtime.fastsim import _conv_currents, _weight_mats as weight_mats, dilate, run_chunk
from snnc.runtime.jit_currents import VECTOR_BYTES
from snnc.runtime.model import Add, Artefact, AvgPool, Conv, Linear, dilated_shape
from snnc.runtime.validate import carries_spikes


@dataclass(frozen=True)
class JitTuning:
    """The numba backend's tuning knobs. Every value gives identical results (tested); they only
    choose between equivalent kernel paths and bound memory.

    neuron_block: neurons whose IF runs through a block of steps at a time (their state stays in L1).
    constant_block: the same for a layer whose current is the same at every step (fed by the input
      current: computed once, no block of steps to keep in cache): larger, fewer calls.
    step_block_bytes: one sample's currents for a block of steps (L2-sized); 1 gives one step per block.
    pattern_table_budget: bytes; channel groups of the pattern tables as large as fit (0: groups of 1,
      the plain per-channel scatter).
    output_pool_bytes: output arrays kept for reuse by later layers and calls.
    int64_membranes: IF in int64 even where int32 is proven to hold every value.
    keep_overflow: the wrap and clamp lines even where `scan_plan` proves no overflow can happen.
    dense_synapses: synaptic convs (no neurons) as the numpy backend computes them (im2col or
      unrolled matrix products over all T x B inputs) even where spikes feed them, instead of
      event-driven (jit_kernels.conv_currents).
    fuse_residual: an add computes the event-driven synaptic convs it alone reads inside its own
      kernel (jit_kernels.add_if: no (T, B, N) current array is written and read back); False:
      conv_currents, add_terms, then currents_if.
    fuse_pool: a conv with neurons whose spikes only an average pooling with neurons reads runs in
      one kernel with it (jit_kernels.conv_pool_if: the spikes stay in a per-sample buffer), except
      with trace; False: conv_if, then pool_if.
    """

    neuron_block: int = 512
    constant_block: int = 1 << 20
    step_block_bytes: int = 1 << 17
    pattern_table_budget: int = 256 << 10
    output_pool_bytes: int = 256 << 20
    int64_membranes: bool = False
    keep_overflow: bool = False
    dense_synapses: bool = False
    fuse_residual: bool = True
    fuse_pool: bool = True

    def __post_init__(self):
        for name in ("neuron_block", "constant_block", "step_block_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"JitTuning.{name} must be >= 1")
        for name in ("pattern_table_budget", "output_pool_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"JitTuning.{name} must be >= 0")


DEFAULT_TUNING = JitTuning()


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
    prm: np.ndarray  # [half, mask, lo, hi, rmask, overflow], see jit_kernels
    weight: np.ndarray | None = None  # (kh, C, kw, O/groups) int8, see jit_kernels._scatter_conv
    geom: np.ndarray | None = None
    yo_of: np.ndarray | None = None
    xo_of: np.ndarray | None = None
    sel: np.ndarray | None = None  # avgpool: see jit_currents.window_sums
    table: np.ndarray | None = None  # conv/linear with stride 1 in x and one group: see pattern_table
    group: int = 1
    w4: np.ndarray | None = None  # conv: the weight (O, C/groups, kh, kw), for dense_conv
    mults: tuple[np.ndarray, ...] = ()  # add: multipliers[k] of every neuron (flat), in cur_dtype (wrapped)
    src: np.ndarray | None = None  # src[e] = internal index of the neuron at external position e
    pool_fused: bool = False  # conv: its only reader, an avgpool, runs it (DeferredSpikes, conv_pool_if)

    def __post_init__(self):
        object.__setattr__(self, "src", _external_order(self.shape))


@dataclass(frozen=True, eq=False)
class JitSynapse:
    """A synaptic conv's prepared arrays: the event-driven kernel's (conv_currents, for spike input)
    or, for current input or with JitTuning.dense_synapses, the numpy path's matrices `mats`."""

    shape: tuple[int, ...]  # internal output shape of one sample, (Ho, Wo, O)
    cur_dtype: np.dtype | None = None
    weight: np.ndarray | None = None
    geom: np.ndarray | None = None
    yo_of: np.ndarray | None = None
    xo_of: np.ndarray | None = None
    table: np.ndarray | None = None
    group: int = 1
    mats: object = None  # fastsim._weight_mats
    fuse: bool = False  # computed inside the one add that reads it (jit_kernels.add_if), see synapse_currents


@dataclass(frozen=True, eq=False)
class DeferredCurrent:
    """What synapse_currents returns for a synaptic conv that its add computes itself (JitSynapse.fuse):
    the conv and its (undilated) spike input; `compute` gives the current synapse_currents would."""

    layer: Conv
    x: np.ndarray
    plan: LayerPlan
    prep: JitSynapse

    @property
    def shape(self) -> tuple[int, ...]:
        """The current's shape (T, B, Ho, Wo, O), as synapse_currents would return it."""
        return self.x.shape[:2] + self.prep.shape

    def compute(self, pool) -> np.ndarray:
        return synapse_currents(self.layer, self.x, self.plan, dataclasses.replace(self.prep, fuse=False), pool)

    def kernel_term(self, mult: np.ndarray) -> tuple:
        """The conv's arguments of jit_kernels._conv_term (the input dilated, as synapse_currents has it)."""
        p = self.prep
        xk, spikes = _as_kernel_input(dilate(self.layer, self.x))
        assert spikes
        use = p.table is not None and p.group > 1  # as synapse_currents
        table = p.table if use else np.empty((0, 0, 0, 0), p.cur_dtype)
        return (xk, p.weight, table, p.group, p.geom, p.yo_of, p.xo_of, mult)


def prepare_synapse(layer: Conv, plan: LayerPlan, in_shape: tuple[int, ...], spikes: bool,
                    tuning: JitTuning = DEFAULT_TUNING) -> JitSynapse:
    """A synaptic conv reading in_shape (C, H, W, undilated), spikes when `spikes`."""
    out = layer.output_shape
    shape = (out[1], out[2], out[0])
    if not spikes or tuning.dense_synapses:
        return JitSynapse(shape, mats=weight_mats(layer, plan.matmul_dtype, in_shape))
    cur_dt = _narrowest(plan.bound)
    return JitSynapse(shape, cur_dt, **_conv_arrays(layer, cur_dt, _read_shape(layer, in_shape), tuning))


def _narrowest(limit: int, choices=(np.int16, np.int32, np.int64)) -> np.dtype:
    for dt in choices:
        if limit <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(limit)  # excluded by exactness_plan


def membrane_dtype(m: int, bound: int, theta, bias) -> np.dtype:
    """int32 when every value of the IF update fits it, else int64 (the IF computes in this dtype).

    With |V| <= max(2^(m-1), max|theta|) (V0 is 0 or theta // 2), |I| <= bound: |V + I + bias| <= U =
    max(2^(m-1), max|theta|) + bound + max|bias|; the wrap line adds 2^(m-1); the reset subtracts
    at most max|theta|; thf = theta + 1. All of it is at most 2^m + bound + max|bias| + 2*max|theta| + 1.
    """
    th = max(abs(int(t)) for t in np.ravel(theta))
    total = (1 << m) + bound + max(abs(int(b)) for b in bias) + 2 * th + 1
    return np.dtype(np.int32 if total <= np.iinfo(np.int32).max else np.int64)


def pattern_table(w: np.ndarray, dtype: np.dtype, budget: int = DEFAULT_TUNING.pattern_table_budget
                  ) -> tuple[np.ndarray, int]:
    """(table, g) for jit_currents.scatter_patterns: table[i, q, p] = sum of the weight runs
    w[i, c] (w: (kh, C, kw, Og), run = kw*Og) of the channels c = q*g + bit for the bits set in p,
    zero-padded to whole vectors.

    g is the largest group size <= 8 whose table fits `budget` bytes (1 when none does: the
    table is then the weights themselves, plus an unused zero pattern).
    """
    kh, c, kw, og = w.shape
    run = kw * og
    g = 1
    for cand in range(2, min(c, 8) + 1):
        if kh * -(-c // cand) * (1 << cand) * run * dtype.itemsize <= budget:
            g = cand
    groups = -(-c // g)
    wg = np.zeros((kh, groups * g, run), np.int64)
    wg[:, :c] = w.reshape(kh, c, run)
    bits = (np.arange(1 << g)[:, None] >> np.arange(g)[None, :]) & 1  # (2^g, g)
    lanes = VECTOR_BYTES // dtype.itemsize
    table = np.zeros((kh, groups, 1 << g, -(-run // lanes) * lanes), dtype)  # runs padded to whole vectors
    table[..., :run] = np.einsum("pc,iqcr->iqpr", bits, wg.reshape(kh, groups, g, run))
    return table, g


def _tap_targets(size: int, k: int, stride: int, pad: int, out: int) -> np.ndarray:
    """[p, i] = the output index that input position p reaches through kernel tap i, or -1."""
    num = np.arange(size)[:, None] + pad - np.arange(k)[None, :]
    ok = (num >= 0) & (num % stride == 0) & (num // stride < out)
    return np.where(ok, num // stride, -1).astype(np.int64)


def _conv_arrays(layer: Conv, cur_dt: np.dtype, in_shape: tuple[int, ...], tuning: JitTuning) -> dict:
    """The arrays of scatter_conv / scatter_patterns for a conv reading in_shape (C, H, W): weight,
    geom, yo_of, xo_of, table, group (see jit_kernels.conv_if)."""
    out = layer.output_shape
    o, cg, kh, kw = layer.weight.shape
    og = o // layer.groups
    # w2[i, q*cg + c, kw-1-j, o'] = W[q*og + o', c, i, j]
    w = layer.weight.astype(np.int8).reshape(layer.groups, og, cg, kh, kw)[..., ::-1].transpose(3, 0, 2, 4, 1)
    (sh, sw), (top, left, _, _) = layer.stride, layer.padding
    wq = max(in_shape[2] + left, out[2]) + kw - 1  # padded row of scatter_conv's buffer
    geom = np.array([sh, sw, top, left, cg, out[1], out[2], og, wq], np.int64)
    w = np.ascontiguousarray(w.reshape(kh, layer.groups * cg, kw, og))
    table, g = pattern_table(w, cur_dt, tuning.pattern_table_budget) if sw == 1 and layer.groups == 1 else (None, 1)
    return dict(weight=w, geom=geom, table=table, group=g, yo_of=_tap_targets(in_shape[1], kh, sh, top, out[1]),
                xo_of=_tap_targets(in_shape[2], kw, sw, left, out[2]))


def prepare(layer, plan: LayerPlan, target, in_shape: tuple[int, ...], tuning: JitTuning = DEFAULT_TUNING) -> JitLayer:
    n = layer.neuron
    out = layer.output_shape
    shape = (out[1], out[2], out[0]) if len(out) == 3 else out
    m = target.membrane_bits
    vmin, vmax = -(1 << (m - 1)), (1 << (m - 1)) - 1
    theta = np.asarray(n.threshold, np.int64)
    gt = 1 if target.fire == "gt" else 0
    mem_dt = np.dtype(np.int64) if tuning.int64_membranes else membrane_dtype(m, plan.bound, theta, n.bias)

    def full(values) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(values, np.int64), shape).ravel().astype(mem_dt))

    subtract = n.reset == "subtract"
    wrap = target.overflow == "wrap"
    prm = np.array([1 << (m - 1) if wrap else 0, (1 << m) - 1 if wrap else -1, vmin, vmax, -1 if subtract else 0, 1],
                   np.int64)  # the last entry is set per call, see neuron_layer
    cur_dt = _narrowest(plan.bound)
    common = dict(shape=shape, cur_dtype=cur_dt, bias=full(n.bias), thf=full(theta + gt),
                  thr=full(theta if subtract else 0), v0=full(theta // 2 if n.v_init == "half" else 0), prm=prm)
    if isinstance(layer, Conv):
        return JitLayer(w4=np.ascontiguousarray(layer.weight), **_conv_arrays(layer, cur_dt, in_shape, tuning), **common)
    if isinstance(layer, Linear):  # a 1x1 convolution of a 1x1 image with F channels
        f = layer.weight.shape[1]
        w = np.ascontiguousarray(layer.weight.astype(np.int8).T.reshape(1, f, 1, -1))
        zero = np.zeros((1, 1), np.int64)
        table, g = pattern_table(w, cur_dt, tuning.pattern_table_budget)
        return JitLayer(weight=w, geom=np.array([1, 1, 0, 0, f, 1, 1, layer.weight.shape[0], 1], np.int64),
                        yo_of=zero, xo_of=zero, table=table, group=g, **common)
    if isinstance(layer, AvgPool):
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        c = out[0]
        sel = (np.arange(out[2])[:, None] * sw * c + np.arange(c)[None, :]).ravel().astype(np.uint64)
        return JitLayer(geom=np.array([kh, kw, sh, sw, out[1], out[2]], np.int64), sel=sel, **common)
    assert isinstance(layer, Add)
    # per-channel multipliers along the last (channel) axis; astype wraps them modulo 2^bits, exact
    # for add_terms' wrapping arithmetic
    mults = tuple(np.ascontiguousarray(np.broadcast_to(np.asarray(m, np.int64), shape).ravel().astype(cur_dt))
                  for m in layer.multipliers)
    return JitLayer(mults=mults, **common)


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prepare_all(a, plans: dict[str, LayerPlan], tuning: JitTuning = DEFAULT_TUNING) -> dict[str, JitLayer]:
    """prepare() of every layer with neurons (and the weight matrices of every synaptic conv), cached per artefact (artefacts are immutable; the
    cache key also holds the settings prepare depends on)."""
    key = (tuning.pattern_table_budget, tuning.int64_membranes, tuning.dense_synapses, tuning.fuse_residual,
           tuning.fuse_pool)
    hit = _PREPARED.get(a)
    if hit is not None and hit[0] == key:
        return hit[1]
    shapes = {"input": a.input.encoded_shape, **{layer.name: layer.output_shape for layer in a.layers}}
    # a dilated conv's kernel reads the dilated input (neuron_layer inserts the zeros): its shape
    prepared = {layer.name: prepare(layer, plans[layer.name], a.target, _read_shape(layer, shapes[layer.inputs[0]]),
                                    tuning)
                for layer in a.core_layers if layer.has_neurons}
    spiking = carries_spikes(a)
    readers: dict[str, list] = {}
    for layer in a.layers:
        for i in layer.inputs:
            readers.setdefault(i, []).append(layer)
    for layer in a.core_layers:  # a synaptic conv's current (synapse_currents)
        if isinstance(layer, Conv) and not layer.has_neurons:
            syn = prepare_synapse(layer, plans[layer.name], shapes[layer.inputs[0]], spiking[layer.inputs[0]], tuning)
            read = readers.get(layer.name, [])
            if (tuning.fuse_residual and syn.mats is None and layer.name != a.output_layer and len(read) == 1
                    and isinstance(read[0], Add) and read[0].has_neurons):
                syn = dataclasses.replace(syn, fuse=True)  # only its add reads it: computed there
            prepared[layer.name] = syn
    for layer in a.core_layers:  # a conv whose spikes only an avgpool reads: computed by the pool's kernel
        read = readers.get(layer.name, [])
        if (tuning.fuse_pool and isinstance(layer, Conv) and layer.has_neurons and layer.name != a.output_layer
                and len(read) == 1 and isinstance(read[0], AvgPool) and read[0].has_neurons):
            prepared[layer.name] = dataclasses.replace(prepared[layer.name], pool_fused=True)
    _PREPARED[a] = (key, prepared)
    return prepared


def _read_shape(layer, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of what the layer's kernel reads: the dilated input of a dilated conv."""
    return dilated_shape(layer, in_shape) if isinstance(layer, Conv) and layer.dilated else in_shape


def _as_kernel_input(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """uint8 spikes or int64 current, C-contiguous."""
    if x.dtype == bool:
        return np.ascontiguousarray(x).view(np.uint8), True
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x), True
    return np.ascontiguousarray(x, dtype=np.int64), False


def _external_order(shape: tuple[int, ...]) -> np.ndarray:
    """src[e] = the internal (H, W, C) index of the neuron at position e in external (C, H, W) order."""
    size = int(np.prod(shape))
    if len(shape) != 3:
        return np.arange(size, dtype=np.int64)
    h, w, c = shape
    return np.ascontiguousarray(np.arange(size, dtype=np.int64).reshape(h, w, c).transpose(2, 0, 1).ravel())


def _internal_view(counts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(..., N) counts in external order as an internal-layout (..., H, W, C) view (no copy)."""
    if len(shape) != 3:
        return counts.reshape(counts.shape[:-1] + shape)
    h, w, c = shape
    return np.moveaxis(counts.reshape(counts.shape[:-1] + (c, h, w)), -3, -1)


class _OutputPool:
    """Output arrays (spikes, counts), reused once nothing references them any more.

    Writing fresh memory costs page faults and zeroing (about a third of a small layer's time in
    the benchmark). A layer's spikes die as soon as the next layers have read them, and a result's
    counts when the caller drops the result, so their memory can serve the next layer, chunk or
    call. A buffer is free when the pool holds the only reference to it: numpy views keep their
    base array alive, so then no view of it exists anywhere. Every element of a taken array is
    written before it is read. Spikes are not pooled with trace, where they are returned as views
    (the counts may be: a returned view keeps its buffer busy for as long as it lives). At most
    `max_bytes` (JitTuning.output_pool_bytes) are kept; free buffers are dropped to make room.
    """

    def __init__(self, max_bytes: int = DEFAULT_TUNING.output_pool_bytes):
        self.max_bytes = max_bytes
        self.buffers: list[np.ndarray] = []
        self.lock = threading.Lock()
        # What getrefcount reports for a buffer that only the pool holds, measured through the same
        # chain of calls as every later check (the list, a loop variable, _free's and _refs'
        # parameters, getrefcount's argument): which of those count differs between Python
        # versions (3.14 borrows references on the stack), so the threshold is measured, not assumed.
        probe = [np.empty(1, np.uint8)]
        for buf in probe:
            self.free_refs = self._free(buf, measure=True)

    @staticmethod
    def _refs(buf: np.ndarray) -> int:
        return sys.getrefcount(buf)

    def _free(self, buf: np.ndarray, measure: bool = False):
        """True when only the pool holds `buf` (with measure: the reference count itself)."""
        refs = self._refs(buf)
        return refs if measure else refs <= self.free_refs

    def take(self, shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        with self.lock:  # the view is made before the lock is released: no one else can take it
            for buf in self.buffers:
                if n <= buf.size <= 2 * n and self._free(buf):
                    return buf[:n].view(dtype).reshape(shape)
            buf = np.empty(n, np.uint8)
            if sum(b.size for b in self.buffers) + n > self.max_bytes:
                self.buffers = [b for b in self.buffers if not self._free(b)]
            if sum(b.size for b in self.buffers) + n <= self.max_bytes:
                self.buffers.append(buf)
            return buf.view(dtype).reshape(shape)


def quantize_input(spec, x: np.ndarray, pool: _OutputPool | None = None) -> np.ndarray | None:
    """encode.quantize_float, compiled (one pass, in parallel over the batch) for float32 and
    float64 input; other float dtypes take quantize_float. The result comes from `pool` (default:
    the default backend's)."""
    pool = pool or NUMBA.pool
    if x.dtype not in (np.float32, np.float64):
        return quantize_float(spec, x, empty=lambda shape, dtype: pool.take(tuple(shape), dtype))
    x_int = pool.take(x.shape, np.int64)
    nb = x.shape[0]
    bad = kernels.quantize(np.ascontiguousarray(x).reshape(nb, -1), float(spec.scale), np.int64(spec.lo),
                           np.int64(spec.hi), CLIP_GUARD, x_int.reshape(nb, -1))
    return None if bad else x_int


def neuron_layer(layer, xs: list[np.ndarray], plan: LayerPlan, target, timesteps: int, trace: bool,
                 counts_at: tuple[int, ...], prep: JitLayer, tuning: JitTuning = DEFAULT_TUNING,
                 pool: _OutputPool | None = None):
    """Spikes (T, B, *s) bool, membranes (T, B, *s) int64 or None, counts (B, *s) int64 and
    {t: counts after t steps} of one layer with neurons, internal layout (the counts are views of
    arrays in external order, so turning them external again copies nothing)."""
    pool = pool or NUMBA.pool
    nb = xs[0].shape[1]
    size = int(np.prod(prep.shape))
    defer = prep.pool_fused and not trace  # the avgpool reading it computes it (conv_pool_if)
    out = np.empty((timesteps, nb, size), np.uint8) if trace else None if defer else pool.take((timesteps, nb, size))
    cnt_dtype = np.empty(0, np.int32 if timesteps < (1 << 31) else np.int64)  # int32 lanes: a faster IF loop
    counts = pool.take((nb, size), np.int64)
    mem = np.empty((timesteps, nb, size) if trace else (1, 1, 1), np.int64)
    at = np.asarray(counts_at, np.int64)
    cnt_at = np.empty((len(at), nb, size), np.int64)
    sp = scan_plan(layer, target, plan, timesteps)
    prm = prep.prm.copy()
    prm[5] = tuning.keep_overflow or sp.wrap or sp.clamp_lo or sp.clamp_hi  # 0: no overflow possible in T steps
    neuron = (prep.bias, prep.thf, prep.thr, prep.v0, prm)
    tt = xs[0].shape[0] if not isinstance(layer, Add) else max(x.shape[0] for x in xs)
    sb = timesteps if tt == 1 else max(1, min(timesteps, tuning.step_block_bytes // (size * prep.cur_dtype.itemsize)))
    nblk = tuning.constant_block if tt == 1 else tuning.neuron_block
    results = (out, cnt_dtype, counts, prep.src, mem, at, cnt_at, trace, sb, nblk)
    cur_dtype = np.empty(0, prep.cur_dtype)
    if isinstance(layer, (Conv, Linear)):
        x, spikes = _as_kernel_input(dilate(layer, xs[0]) if isinstance(layer, Conv) else xs[0])
        if isinstance(layer, Linear):
            x = x.reshape(x.shape[0], nb, 1, 1, -1)
        w4 = prep.w4 if isinstance(layer, Conv) and not spikes else np.empty((0, 1, 1, 1), np.int8)
        use = prep.table is not None and prep.group > 1  # g = 1: the plain weights (int8) are smaller
        table = prep.table if use else np.empty((0, 0, 0, 0), prep.cur_dtype)
        conv = (x, spikes, prep.weight, w4, table, prep.group, prep.geom, prep.yo_of, prep.xo_of, *neuron, cur_dtype)
        if defer:
            spikes_later = DeferredSpikes((timesteps, nb) + prep.shape, conv + (cnt_dtype, counts, prep.src, cnt_at),
                                          nblk, size * (1 + (prep.cur_dtype.itemsize if tt > 1 else 0)))
            prefix = {int(t): cnt_at[k].reshape((nb,) + prep.shape) for k, t in enumerate(at)}
            return spikes_later, None, _internal_view(counts, prep.shape), prefix  # counts filled by conv_pool_if
        kernels.conv_if(*conv, *results)
    elif isinstance(layer, AvgPool) and isinstance(xs[0], DeferredSpikes):  # with the conv it reads, fused
        d = xs[0]
        sb = max(1, min(timesteps, tuning.step_block_bytes // (d.step_bytes + size * prep.cur_dtype.itemsize)))
        kernels.conv_pool_if(*d.args, prep.geom, prep.sel, *neuron, cur_dtype, out, counts, prep.src, cnt_at, at, sb,
                             d.nblk, nblk, d.shape[2:])
    elif isinstance(layer, AvgPool):
        x, _ = _as_kernel_input(xs[0])
        kernels.pool_if(x, prep.geom, prep.sel, *neuron, cur_dtype, *results)
    elif any(isinstance(x, DeferredCurrent) for x in xs):  # add with its synaptic convs fused
        _fused_add(xs, prep, nb, size, neuron, cur_dtype, results, pool)
    else:  # add: sum_k m_k * x_k (x_k spikes, or a synaptic conv's or the input's current), compiled
        j = pool.take((tt, nb, size), prep.cur_dtype)
        for k, x in enumerate(xs):
            kernels.add_terms(j, _add_input(x, nb, size), prep.mults[k], k == 0)
        kernels.currents_if(j, *neuron, *results)
    full = (timesteps, nb) + prep.shape
    prefix = {int(t): cnt_at[k].reshape((nb,) + prep.shape) for k, t in enumerate(at)}
    return (out.view(bool).reshape(full), mem.reshape(full) if trace else None, _internal_view(counts, prep.shape),
            prefix)


@dataclass(frozen=True, eq=False)
class DeferredSpikes:
    """What neuron_layer returns, without trace, for a conv whose spikes only an average pooling
    reads (JitLayer.pool_fused): conv_if's arguments but the spikes (`args`, its counts arrays
    included: conv_pool_if fills them when the pooling runs), its neuron block and the bytes per
    sample of one step of its buffers (spikes, and currents unless computed once)."""

    shape: tuple[int, ...]  # of its spikes, (T, B, Ho, Wo, O)
    args: tuple
    nblk: int
    step_bytes: int


def _add_input(x: np.ndarray, nb: int, size: int) -> np.ndarray:
    """An add's input as add_terms / add_if read it: (Tt, B, N), uint8 spikes or an integer current."""
    xk = np.ascontiguousarray(x).reshape(x.shape[0], nb, size)
    if xk.dtype.kind == "f":  # a dense synaptic conv's current (integer-valued, exact): no float -> int16 casts
        xk = xk.astype(np.int64)
    return xk.view(np.uint8) if xk.dtype == bool else xk


def _fused_add(xs: list, prep: JitLayer, nb: int, size: int, neuron: tuple, cur_dtype: np.ndarray, results: tuple,
               pool: _OutputPool) -> None:
    """jit_kernels.add_if for an add that reads synaptic convs it computes itself (DeferredCurrent):
    the first two as conv terms, the other inputs as direct terms (two at most; more are summed by
    add_terms into one, with multiplier 1); a third deferred conv is computed as synapse_currents does."""
    convs = [k for k, x in enumerate(xs) if isinstance(x, DeferredCurrent)][:2]
    terms = [xs[k].kernel_term(prep.mults[k]) for k in convs]
    rest = [(x.compute(pool) if isinstance(x, DeferredCurrent) else x, prep.mults[k])
            for k, x in enumerate(xs) if k not in convs]
    direct = [(_add_input(x, nb, size), m) for x, m in rest]
    if len(direct) > 2:
        tt = max(x.shape[0] for x, _ in direct)
        j = pool.take((tt, nb, size), prep.cur_dtype)
        for k, (x, m) in enumerate(direct):
            kernels.add_terms(j, x, m, k == 0)
        direct = [(j, np.ones(size, prep.cur_dtype))]
    unused = (np.empty((1, nb, size), np.uint8), np.empty(size, prep.cur_dtype))  # a direct term's types
    c1 = terms[0]
    c2 = terms[1] if len(terms) > 1 else c1
    d1 = direct[0] if direct else unused
    d2 = direct[1] if len(direct) > 1 else d1
    kernels.add_if(c1, c2, len(terms), d1, d2, len(direct), cur_dtype, *neuron, *results)


def synapse_currents(layer: Conv, x: np.ndarray, plan: LayerPlan, prep: JitSynapse,
                     pool: _OutputPool | None = None):
    """A synaptic conv's integer current (Tt, B, Ho, Wo, O), internal layout, the values of
    fastsim._conv_currents (which computes them where prep has matrices): event-driven from spikes
    (jit_kernels.conv_currents), in the narrowest integer dtype holding plan.bound. The add layers
    that read it (jit_kernels.add_terms) take it modulo their own proven dtype. For a conv whose
    only reader, an add, computes it itself (prep.fuse): a DeferredCurrent (nothing computed here)."""
    if prep.fuse:
        return DeferredCurrent(layer, x, plan, prep)
    if prep.mats is not None:
        return _conv_currents(layer, x, plan, prep.mats)
    pool = pool or NUMBA.pool
    tt, nb = x.shape[:2]
    size = int(np.prod(prep.shape))
    xk, spikes = _as_kernel_input(dilate(layer, x))
    assert spikes  # prepare_synapse gives matrices for current input
    cur = pool.take((tt, nb, size), prep.cur_dtype)
    use = prep.table is not None and prep.group > 1  # g = 1: the plain weights (int8) are smaller
    table = prep.table if use else np.empty((0, 0, 0, 0), prep.cur_dtype)
    kernels.conv_currents(xk, prep.weight, table, prep.group, prep.geom, prep.yo_of, prep.xo_of, cur)
    return cur.reshape((tt, nb) + prep.shape)


class NumbaBackend:
    """backend "numba": the numpy backend's layer loop (fastsim.run_chunk) with the layers with
    neurons computed by the compiled kernels, and a compiled input quantizer (see backend.Backend).
    Each instance has its tuning and its own output pool."""

    name = "numba"

    def __init__(self, tuning: JitTuning = DEFAULT_TUNING):
        self.tuning = tuning
        self.pool = _OutputPool(tuning.output_pool_bytes)

    def quantize(self, spec, x: np.ndarray) -> np.ndarray | None:
        return quantize_input(spec, x, self.pool)

    def prepare(self, a: Artefact, plans: dict[str, LayerPlan]) -> dict[str, JitLayer]:
        return prepare_all(a, plans, self.tuning)

    def run(self, a: Artefact, x_int: np.ndarray, timesteps: int, trace: bool, counts_at: tuple[int, ...],
            plans: dict[str, LayerPlan], prepared: dict[str, JitLayer]) -> ChunkResult:
        # neuron_layer is looked up here, at call time, so that benchmarks/profile_layers.py can wrap it
        layer_fn = partial(neuron_layer, tuning=self.tuning, pool=self.pool)
        return run_chunk(a, x_int, timesteps, trace, counts_at, plans, prepared, layer_fn,
                         partial(synapse_currents, pool=self.pool))


NUMBA = NumbaBackend()
