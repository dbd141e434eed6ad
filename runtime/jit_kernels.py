"""numba kernels of the optional compiled backend (see jit_backend.py for how they are called).

Each kernel simulates one layer with neurons for all T steps, one sample per parallel iteration
(and `quantize` turns float input into the integer input, as encode.quantize_float does;
`conv_currents` computes a synaptic conv's currents from spikes, event-driven, without neurons).
Steps are processed in blocks: the synaptic currents of a block of steps are computed into a
per-sample buffer `cur` (jit_currents; a layer whose input is the same at every step, Tt = 1,
computes them once), then the integrate-and-fire update runs over the block (`_if_steps`)
neuron block by neuron block, all the block's steps for one neuron block at a time, so the
membranes, parameters and counters being updated stay in the L1 cache.

The IF update is one branch-free formula for every mode (`prm` = [half, mask, lo, hi, rmask, overflow]):
    U = V + I + bias;  U = ((U + half) & mask) - half;  U = min(max(U, lo), hi)
    s = U >= thf;      V = s ? (U & rmask) - thr : U
wrap: half = 2^(m-1), mask = 2^m - 1 (two's complement wrap; the clamp is then the identity);
saturate: half = 0, mask = -1 (the wrap line is the identity); lo, hi = the membrane range.
thf = theta + 1 for fire "gt" (V > theta  <=>  V >= theta + 1 on integers), theta for "ge".
reset "subtract": rmask = -1, thr = theta; reset "zero": rmask = 0, thr = 0.
overflow = 0 when exactness.scan_plan proves that V + I + bias stays in the membrane range for
the T steps simulated (the int32 loop then leaves out wrap and clamp, as the numpy scan does).
It computes in the dtype of the membrane arrays (v, bias, thf, thr): int32 where jit_backend
proves every intermediate value fits (int32 lanes: twice as many per vector), else int64.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from snnc.runtime.jit_currents import VECTOR_BYTES, compact_rows, dense_conv, scatter_conv, scatter_patterns, window_sums

@njit(cache=True)
def _if_run32(j, v, bias, thf, thr, prm, out, cnt, n0, n1):
    """One step of neurons n0..n1-1 in int32 arithmetic (every value proven to fit, see jit_backend),
    one loop per overflow mode: each leaves out the lines that are the identity in its mode."""
    half, mask, lo, hi, rmask = np.int32(prm[0]), np.int32(prm[1]), np.int32(prm[2]), np.int32(prm[3]), np.int32(prm[4])
    if prm[5] == 0:  # no overflow possible in these T steps (exactness.scan_plan): no wrap, no clamp
        for q in range(uint64(n1 - n0)):
            n = uint64(n0) + q
            u = np.int32(v[n] + np.int32(j[n]) + bias[n])
            s = u >= thf[n]
            r = np.int32((u & rmask) - thr[n])
            v[n] = r if s else u
            out[n] = s
            cnt[n] += s
        return
    if half == 0:  # saturate
        for q in range(uint64(n1 - n0)):  # unsigned index: no wraparound check, the loop vectorises
            n = uint64(n0) + q
            u = min(max(np.int32(v[n] + np.int32(j[n]) + bias[n]), lo), hi)
            s = u >= thf[n]
            r = np.int32((u & rmask) - thr[n])
            v[n] = r if s else u
            out[n] = s
            cnt[n] += s
        return
    for q in range(uint64(n1 - n0)):  # wrap
        n = uint64(n0) + q
        u = np.int32(v[n] + np.int32(j[n]) + bias[n])
        u = np.int32(np.int32((u + half) & mask) - half)
        s = u >= thf[n]
        r = np.int32((u & rmask) - thr[n])
        v[n] = r if s else u
        out[n] = s
        cnt[n] += s


@njit(cache=True)
def _if_run64(j, v, bias, thf, thr, prm, out, cnt, n0, n1):
    """One step of neurons n0..n1-1 in int64 arithmetic."""
    half, mask, lo, hi, rmask = prm[0], prm[1], prm[2], prm[3], prm[4]
    for q in range(uint64(n1 - n0)):
        n = uint64(n0) + q
        u = np.int64(v[n]) + j[n] + bias[n]
        u = ((u + half) & mask) - half
        u = min(max(u, lo), hi)
        s = u >= thf[n]
        v[n] = ((u & rmask) - thr[n]) if s else u
        out[n] = s
        cnt[n] += s


@njit(cache=True)
def _if_steps(cur, bi, b, t0, t1, nblk, v, bias, thf, thr, prm, out, cnt, mem, trace, at, k, cnt_at):
    """IF of sample b for steps t0..t1-1, nblk neurons at a time; the currents of step t are
    cur[t - t0, bi] (cur[0, bi] for every step when cur has one row), its spikes out[t, b]. Counts after step t are stored into cnt_at[kk, b] when
    t + 1 == at[kk]; returns the next k."""
    return _if_steps_into(cur, bi, b, t0, t1, nblk, v, bias, thf, thr, prm, out, b, 0, cnt, mem, trace, at, k, cnt_at)


@njit(cache=True)
def _if_steps_into(cur, bi, b, t0, t1, nblk, v, bias, thf, thr, prm, out, ob, ot, cnt, mem, trace, at, k, cnt_at):
    """_if_steps with the spikes of step t written to out[t - ot, ob] (a per-sample buffer of a
    block of steps: conv_pool_if)."""
    n_all = v.shape[0]
    arith32 = v.itemsize == 4  # int32 membranes: proven to hold every value (jit_backend.membrane_dtype)
    for n0 in range(0, n_all, nblk):
        n1 = min(n_all, n0 + nblk)
        kk = k
        for t in range(t0, t1):
            j = cur[t - t0 if cur.shape[0] > 1 else 0, bi]
            if arith32:
                _if_run32(j, v, bias, thf, thr, prm, out[t - ot, ob], cnt, n0, n1)
            else:
                _if_run64(j, v, bias, thf, thr, prm, out[t - ot, ob], cnt, n0, n1)
            if trace:
                m = mem[t, b]
                for n in range(n0, n1):
                    m[n] = v[n]
            if kk < at.shape[0] and at[kk] == t + 1:
                dst = cnt_at[kk, b]
                for n in range(n0, n1):
                    dst[n] = cnt[n]
                kk += 1
    while k < at.shape[0] and at[k] <= t1:
        k += 1
    return k


@njit(cache=True)
def _store(cnt, src, dst):
    """dst[e] = cnt[src[e]]: counts in external order (a gather from L1, sequential writes)."""
    for e in range(cnt.shape[0]):
        dst[e] = cnt[src[e]]


@njit(parallel=True, cache=True)
def quantize(x, scale, lo, hi, guard, out):
    """out = clip(rint(float64(x) / scale), lo, hi) as int64, x (B, N) float32 or float64, in IEEE
    double arithmetic as numpy computes it (no fast-math; rint rounds half to even); returns the
    number of non-finite values of x (out is then meaningless). lo, hi are int64 and the clip is
    integer, exact for every [lo, hi] (float64(hi) is hi + 1 for hi = 2^60 - 1): the float is
    first clipped to [-guard, guard] (guard = 2^62 >= |lo|, |hi|, so every clipped value converts
    to int64 exactly), then to [lo, hi] as an integer (encode.quantize_float)."""
    bad = 0
    for b in prange(x.shape[0]):
        nf = 0
        for i in range(x.shape[1]):
            v = np.float64(x[b, i])
            nf += not np.isfinite(v)
            q = min(max(np.rint(v / scale), -guard), guard)
            qi = np.int64(q) if np.isfinite(q) else np.int64(0)  # no undefined float -> int conversion
            out[b, i] = min(max(qi, lo), hi)
        bad += nf
    return bad


@njit(cache=True)
def _conv_setup(w, w4, tab, spikes, geom):
    """(dense, patterns, flat weights, O, Ho, Wo, Wq, padded input H, W) of a conv kernel's arguments."""
    dense = w4.shape[0] > 0
    patterns = spikes and tab.shape[0] > 0
    o_all, kh, kw = w4.shape[0], w4.shape[2], w4.shape[3]
    ho, wo, wq = geom[5], geom[6], geom[8]
    return dense, patterns, w.ravel(), o_all, ho, wo, wq, (ho - 1) * geom[0] + kh + 1, (wo - 1) * geom[1] + kw


@njit(cache=True)
def _conv_buffers(c_in, wd, dense, o_all, ho, wo, wq, hp, wp, size, cur_dtype):
    """One thread's scratch of `_conv_step`: idx (also scatter_patterns' list of non-zero groups),
    val (x mod 2^bits of cur: see jit_currents), the dense path's padded input and product, the
    scatter's row currents (+ slack for vector stores)."""
    idx = np.empty(c_in * wd, np.int64)
    val = np.empty(c_in, cur_dtype.dtype)
    xp = np.zeros((c_in, hp, wp) if dense else (0, 0, 0), cur_dtype.dtype)
    cp = np.empty((o_all, ho * wp) if dense else (0, 0), cur_dtype.dtype)
    pcur = np.empty(0 if dense else ho * wq * (size // (ho * wo)) + VECTOR_BYTES, cur_dtype.dtype)
    return idx, val, xp, cp, pcur


@njit(cache=True)
def _conv_step(xt, cur_row, dense, patterns, spikes, w4, wf, tab, g, geom, yo_of, xo_of, xp, cp, pcur, idx, val,
               ho, wq, wo):
    """One step's currents of a conv into cur_row: a dense conv of the input current, or the
    event-driven scatter of the input spikes (channel patterns or single weights) then compacted."""
    if dense:
        dense_conv(xt, w4, cur_row, xp, cp, geom)
    else:
        pcur[:] = 0
        if patterns:
            scatter_patterns(xt, tab, g, pcur, idx, geom, yo_of)
        else:
            scatter_conv(xt, wf, pcur, idx, val, geom, yo_of, xo_of, spikes)
        compact_rows(pcur, cur_row, ho, wq, wo, xo_of.shape[1] - 1)


@njit(parallel=True, cache=True)
def conv_if(x, spikes, w, w4, tab, g, geom, yo_of, xo_of, bias, thf, thr, v0, prm, cur_dtype, out, cnt_dtype, counts, src,
            mem, at, cnt_at, trace, sb, nblk):
    """Conv (and linear as a 1x1 conv on a 1x1 image) + IF over T steps.

    x (Tt, B, H, W, C) input: uint8 spikes (spikes=True), event-driven (scatter_conv, into a
    column-padded buffer, then compacted), or int64 current, dense (dense_conv) when w4
    (O, C/groups, kh, kw) is given (non-empty), else event-driven; w, yo_of, xo_of: see
    scatter_conv; geom = [sh, sw, top, left, C/groups, Ho, Wo, O/groups, Wq]; cur_dtype /
    cnt_dtype: empty arrays of the current's / the per-step counter's dtype; out (T, B, N) uint8
    spikes; counts (B, N) int64 in external order (counts[b, e] = count of neuron src[e]);
    cnt_at (len(at), B, N) int64: counts after at[k] steps, internal order; mem (T, B, N) int64 when trace; sb: steps per block
    (the rows of the current buffer, unless Tt = 1); nblk: neurons per IF block.
    """
    tt, nb, h, wd, c_in = x.shape
    steps, size = out.shape[0], out.shape[2]
    dense, patterns, wf, o_all, ho, wo, wq, hp, wp = _conv_setup(w, w4, tab, spikes, geom)
    for b in prange(nb):
        idx, val, xp, cp, pcur = _conv_buffers(c_in, wd, dense, o_all, ho, wo, wq, hp, wp, size, cur_dtype)
        cur = np.empty((sb if tt > 1 else 1, 1, size), cur_dtype.dtype)
        v, cnt = v0.copy(), np.zeros(size, cnt_dtype.dtype)
        k = 0
        for t0 in range(0, steps, sb):
            t1 = min(steps, t0 + sb)
            for t in range(t0, min(t1, tt)):
                _conv_step(x[t, b], cur[t - t0, 0], dense, patterns, spikes, w4, wf, tab, g, geom, yo_of, xo_of,
                           xp, cp, pcur, idx, val, ho, wq, wo)
            k = _if_steps(cur, 0, b, t0, t1, nblk, v, bias, thf, thr, prm, out, cnt, mem, trace, at, k, cnt_at)
        _store(cnt, src, counts[b])


@njit(parallel=True, cache=True)
def pool_if(x, geom, sel, bias, thf, thr, v0, prm, cur_dtype, out, cnt_dtype, counts, src, mem, at, cnt_at, trace,
            sb, nblk):
    """Average pooling (window_sums) + IF over T steps; geom = [kh, kw, sh, sw, Ho, Wo]; the rest as conv_if."""
    tt, nb, row = x.shape[0], x.shape[1], x.shape[3] * x.shape[4]
    steps, size = out.shape[0], out.shape[2]
    kh, kw, sh, sw, ho = geom[0], geom[1], geom[2], geom[3], geom[4]
    for b in prange(nb):
        acc, hs = np.empty(row, cur_dtype.dtype), np.empty(row, cur_dtype.dtype)
        cur = np.empty((sb if tt > 1 else 1, 1, size), cur_dtype.dtype)
        v, cnt = v0.copy(), np.zeros(size, cnt_dtype.dtype)
        k = 0
        for t0 in range(0, steps, sb):
            t1 = min(steps, t0 + sb)
            for t in range(t0, min(t1, tt)):
                window_sums(x[t, b], cur[t - t0, 0], acc, hs, sel, kh, kw, sh, sw, ho)
            k = _if_steps(cur, 0, b, t0, t1, nblk, v, bias, thf, thr, prm, out, cnt, mem, trace, at, k, cnt_at)
        _store(cnt, src, counts[b])


@njit(parallel=True, cache=True)
def currents_if(j, bias, thf, thr, v0, prm, out, cnt_dtype, counts, src, mem, at, cnt_at, trace, sb, nblk):
    """IF over T steps for currents computed elsewhere: j (Tt, B, N), Tt = T or 1; the rest as conv_if
    (sb is unused: j holds every step)."""
    nb, steps, size = j.shape[1], out.shape[0], out.shape[2]
    for b in prange(nb):
        v, cnt = v0.copy(), np.zeros(size, cnt_dtype.dtype)
        _if_steps(j, b, b, 0, steps, nblk, v, bias, thf, thr, prm, out, cnt, mem, trace, at, 0, cnt_at)
        _store(cnt, src, counts[b])


@njit(parallel=True, cache=True)
def conv_currents(x, w, tab, g, geom, yo_of, xo_of, cur):
    """The currents of a synaptic conv (no neurons, read by add layers) fed by spikes, event-driven:
    conv_if's current computation without the IF update. x (Tt, B, H, W, C) uint8 spikes; w, tab,
    g, geom, yo_of, xo_of as conv_if (tab empty: the per-channel scatter); cur (Tt, B, N) in the
    current dtype, every element written: cur[t, b] = the current of step t of sample b, internal
    order (the values fastsim._conv_currents computes, there in the matmul dtype).
    """
    tt, nb, c_in = x.shape[0], x.shape[1], x.shape[4]
    size = cur.shape[2]
    patterns = tab.shape[0] > 0
    wf = w.ravel()
    ho, wo, wq = geom[5], geom[6], geom[8]
    for b in prange(nb):
        idx = np.empty(c_in * x.shape[3], np.int64)  # also scatter_patterns' list
        val = np.empty(c_in, cur.dtype)
        pcur = np.empty(ho * wq * (size // (ho * wo)) + VECTOR_BYTES, cur.dtype)  # + slack, as conv_if
        for t in range(tt):
            pcur[:] = 0
            if patterns:
                scatter_patterns(x[t, b], tab, g, pcur, idx, geom, yo_of)
            else:
                scatter_conv(x[t, b], wf, pcur, idx, val, geom, yo_of, xo_of, True)
            compact_rows(pcur, cur[t, b], ho, wq, wo, xo_of.shape[1] - 1)


@njit(parallel=True, cache=True)
def add_terms(j, x, m, first):
    """j[t, b] = (first ? 0 : j[t, b]) + x[t, b] * m (x[0, b] at every step when x has one row), over
    one sample's N values: an add layer's term m_k * s_k, m (N,) the multiplier of every value,
    in j's dtype. Wrapping: the products and sums are exact modulo 2^bits, and the final sum
    lies in j's range (exactness.py bounds it), so they are exact (x and m may be truncated).
    """
    steps, nb, n = j.shape
    for b in prange(nb):
        for t in range(steps):
            xr = x[t if x.shape[0] > 1 else 0, b]
            jr = j[t, b]
            if first:
                for q in range(uint64(n)):
                    jr[q] = xr[q] * m[q]
            else:
                for q in range(uint64(n)):
                    jr[q] += xr[q] * m[q]


@njit(cache=True)
def _conv_term(c, t, b, pcur, idx, val, j, first):
    """j (N,) = (first ? 0 : j) + m * (the current of step t of sample b of the synaptic conv c):
    c = (x, w, tab, g, geom, yo_of, xo_of, m) as conv_currents' arguments plus m, the add's
    multiplier of every value (in j's dtype, wrapped: exact as in add_terms). The conv's current is
    scattered into pcur (column-padded, its own dtype) and multiplied straight out of the padding."""
    x, w, tab, g, geom, yo_of, xo_of, m = c
    ho, wo, wq = geom[5], geom[6], geom[8]
    pcur[:] = 0
    if tab.shape[0] > 0:
        scatter_patterns(x[t, b], tab, g, pcur, idx, geom, yo_of)
    else:
        scatter_conv(x[t, b], w.ravel(), pcur, idx, val, geom, yo_of, xo_of, True)
    o_all = uint64(j.shape[0] // (ho * wo))
    n = uint64(wo) * o_all
    pad = xo_of.shape[1] - 1
    for yo in range(ho):
        src = uint64(yo * wq + pad) * o_all
        dst = uint64(yo) * n
        if first:
            for q in range(n):
                j[dst + q] = pcur[src + q] * m[dst + q]
        else:
            for q in range(n):
                j[dst + q] += pcur[src + q] * m[dst + q]


@njit(cache=True)
def _direct_term(d, t, b, j, first):
    """j (N,) = (first ? 0 : j) + m * x[t, b] (x[0, b] when x has one row): d = (x, m), x (Tt, B, N)
    spikes (uint8) or integer current, m as in _conv_term."""
    x, m = d
    xr = x[t if x.shape[0] > 1 else 0, b]
    if first:
        for q in range(uint64(j.shape[0])):
            j[q] = xr[q] * m[q]
    else:
        for q in range(uint64(j.shape[0])):
            j[q] += xr[q] * m[q]


@njit(parallel=True, cache=True)
def add_if(c1, c2, n_conv, d1, d2, n_direct, cur_dtype, bias, thf, thr, v0, prm, out, cnt_dtype, counts, src, mem,
           at, cnt_at, trace, sb, nblk):
    """A residual add with its synaptic convs fused: j = sum_k m_k * x_k + IF over T steps, per sample
    and block of sb steps, without writing any current to memory outside a per-sample buffer.

    The terms: n_conv (1 or 2) synaptic convs fed by spikes, c1 and c2 (see _conv_term; c2 is c1
    again when n_conv = 1), computed event-driven at every step, and n_direct (0-2) terms d1, d2
    (see _direct_term: spikes, a current, or several terms summed beforehand with m = 1). The
    current is the same wrapping sum as add_terms' (the order of a wrapping sum does not change it);
    cur_dtype is the add's current dtype; the rest as conv_if.
    """
    nb, steps, size = out.shape[1], out.shape[0], out.shape[2]
    ci1, ci2 = c1[0].shape[4], c2[0].shape[4]
    g1, g2 = c1[4], c2[4]
    for b in prange(nb):
        pcur1 = np.empty(g1[5] * g1[8] * (c1[7].shape[0] // (g1[5] * g1[6])) + VECTOR_BYTES, c1[2].dtype)
        pcur2 = np.empty(g2[5] * g2[8] * (c2[7].shape[0] // (g2[5] * g2[6])) + VECTOR_BYTES, c2[2].dtype)
        idx1, val1 = np.empty(ci1 * c1[0].shape[3], np.int64), np.empty(ci1, c1[2].dtype)  # idx: scatter_patterns' list
        idx2, val2 = np.empty(ci2 * c2[0].shape[3], np.int64), np.empty(ci2, c2[2].dtype)
        jb = np.empty((sb, 1, size), cur_dtype.dtype)
        v, cnt = v0.copy(), np.zeros(size, cnt_dtype.dtype)
        k = 0
        for t0 in range(0, steps, sb):
            t1 = min(steps, t0 + sb)
            for t in range(t0, t1):
                j = jb[t - t0, 0]
                _conv_term(c1, t, b, pcur1, idx1, val1, j, True)
                if n_conv > 1:
                    _conv_term(c2, t, b, pcur2, idx2, val2, j, False)
                if n_direct > 0:
                    _direct_term(d1, t, b, j, False)
                if n_direct > 1:
                    _direct_term(d2, t, b, j, False)
            k = _if_steps(jb, 0, b, t0, t1, nblk, v, bias, thf, thr, prm, out, cnt, mem, trace, at, k, cnt_at)
        _store(cnt, src, counts[b])


@njit(parallel=True, cache=True)
def conv_pool_if(x, spikes, w, w4, tab, g, geom, yo_of, xo_of, bias, thf, thr, v0, prm, cur_dtype, cnt_dtype, counts,
                 src, cnt_at, pgeom, sel, pbias, pthf, pthr, pv0, pprm, pcur_dtype, pout, pcounts, psrc, pcnt_at, at,
                 sb, nblk, pnblk, shape):
    """A conv with neurons (conv_if) whose spikes only an average pooling with neurons reads
    (pool_if), fused: per sample and block of sb steps, the conv's spikes go to a per-sample buffer
    that the pooling reads at once, so they are never written to a (T, B, N) array (not with
    trace: their spikes are then returned). Arguments: conv_if's (without out, mem, trace, sb,
    nblk), then pool_if's with a `p` (pgeom, sel, ..., pout, pcounts, psrc, pcnt_at), the shared
    counts_at steps `at`, the step block sb, the neuron blocks of each and the conv's output
    shape (Ho, Wo, O) that the pooling reads. Same currents, IF and window sums as the two kernels.
    """
    tt, nb, h, wd, c_in = x.shape
    steps, size = pout.shape[0], shape[0] * shape[1] * shape[2]
    psize = pout.shape[2]
    dense, patterns, wf, o_all, ho, wo, wq, hp, wp = _conv_setup(w, w4, tab, spikes, geom)
    pkh, pkw, psh, psw, pho = pgeom[0], pgeom[1], pgeom[2], pgeom[3], pgeom[4]
    row = shape[1] * shape[2]
    mem = np.empty((1, 1, 1), np.int64)  # no trace
    for b in prange(nb):
        idx, val, xp, cp, pcur = _conv_buffers(c_in, wd, dense, o_all, ho, wo, wq, hp, wp, size, cur_dtype)
        cur = np.empty((sb if tt > 1 else 1, 1, size), cur_dtype.dtype)
        spk = np.empty((sb, 1, size), np.uint8)  # the conv's spikes of one block of steps
        acc, hs = np.empty(row, pcur_dtype.dtype), np.empty(row, pcur_dtype.dtype)
        pc = np.empty((sb, 1, psize), pcur_dtype.dtype)
        v, cnt = v0.copy(), np.zeros(size, cnt_dtype.dtype)
        pv, pcnt = pv0.copy(), np.zeros(psize, cnt_dtype.dtype)
        k = pk = 0
        for t0 in range(0, steps, sb):
            t1 = min(steps, t0 + sb)
            for t in range(t0, min(t1, tt)):
                _conv_step(x[t, b], cur[t - t0, 0], dense, patterns, spikes, w4, wf, tab, g, geom, yo_of, xo_of,
                           xp, cp, pcur, idx, val, ho, wq, wo)
            k = _if_steps_into(cur, 0, b, t0, t1, nblk, v, bias, thf, thr, prm, spk, 0, t0, cnt, mem, False, at, k,
                               cnt_at)
            for t in range(t0, t1):
                window_sums(spk[t - t0, 0].reshape((shape[0], shape[1], shape[2])), pc[t - t0, 0], acc, hs, sel, pkh,
                            pkw, psh, psw, pho)
            pk = _if_steps(pc, 0, b, t0, t1, pnblk, pv, pbias, pthf, pthr, pprm, pout, pcnt, mem, False, at, pk, pcnt_at)
        _store(cnt, src, counts[b])
        _store(pcnt, psrc, pcounts[b])
