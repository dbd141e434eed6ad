"""numba kernels of the optional compiled backend (see jit_backend.py for how they are called).

Each kernel simulates one layer with neurons for all T steps, one sample per parallel iteration:
for every step it computes the synaptic currents of that sample into a per-sample buffer `cur`
and runs the integrate-and-fire update on it (`_if_step`), so currents of all T steps never sit
in memory. Conv and linear currents are event-driven: only non-zero inputs are visited, and
each adds its weight rows (times its value, for current input) to the outputs it reaches.

All arithmetic is integer. `cur` has a dtype proven to hold every partial sum (|partial| <=
bound, see exactness.py). Products x * w are formed in that dtype too, wrapping: arithmetic
modulo 2^bits is exact for a result known to lie in the dtype's range, so x may be truncated to
the dtype before multiplying (it lets the loops run on narrow vector lanes). The IF update computes in int64 (numba's integer arithmetic), where
V + I + bias + 2^(m-1) fits by exactness_plan's check, and stores V in a dtype that holds the
m-bit membrane. When a layer's input is the same at every step (current input, Tt = 1) its
currents are computed once and reused.

The IF update is written branch-free so that it vectorises; one formula covers every mode
(`prm` = [half, mask, lo, hi, rmask]):
    U = V + I + bias;  U = ((U + half) & mask) - half;  U = min(max(U, lo), hi)
    s = U >= thf;      V = s ? (U & rmask) - thr : U
wrap: half = 2^(m-1), mask = 2^m - 1 (two's complement wrap; the clamp is then the identity);
saturate: half = 0, mask = -1 (the wrap line is the identity); lo, hi = the membrane range.
thf = theta + 1 for fire "gt" (V > theta  <=>  V >= theta + 1 on integers), theta for "ge".
reset "subtract": rmask = -1, thr = theta; reset "zero": rmask = 0, thr = 0.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64


@njit(cache=True)
def _if_step(j, v, bias, thf, thr, prm, out, cnt, mem, trace):
    half, mask, lo, hi, rmask = prm[0], prm[1], prm[2], prm[3], prm[4]
    for n in range(v.shape[0]):
        u = np.int64(v[n]) + j[n] + bias[n]
        u = ((u + half) & mask) - half
        u = min(max(u, lo), hi)
        s = u >= thf[n]
        u = ((u & rmask) - thr[n]) if s else u
        v[n] = u
        out[n] = s
        cnt[n] += s
        if trace:
            mem[n] = u


@njit(cache=True)
def _record(t, k, at, cnt, cnt_at):
    """Copy the counts after step t (0-based) into cnt_at[k] when t + 1 is the next step in `at`."""
    if k < at.shape[0] and at[k] == t + 1:
        cnt_at[k, :] = cnt
        return k + 1
    return k


@njit(cache=True)
def _scatter_conv(x, wf, cur, idx, val, geom, yo_of, xo_of, spikes):
    """cur[(yo*Wo + xo)*O + q*Og + o] += x[y, x, c] * W[q*Og + o, c % Cg, i, j] for every non-zero input
    x[y, x, c] and every kernel tap (i, j) that maps it to an output (yo, xo) of the layer (q = c // Cg).

    wf is the weight as (kh, C, kw, Og), kw axis reversed (entry [i, c, kw-1-j] = tap j), flattened:
    with stride 1 in x and one group, the taps of kernel row i reach kw adjacent outputs, so they
    are one contiguous run of cur and of wf. yo_of[y, i] / xo_of[x, j]: the output row / column of
    tap (i, j), or -1. Indices are unsigned: numba then skips negative-index wraparound and the
    inner loops vectorise.
    """
    h, wd, c_in = x.shape
    kh, kw = yo_of.shape[1], xo_of.shape[1]
    sw, left, cg, og, wo = geom[1], geom[3], geom[4], geom[7], geom[6]
    o_all = og * (c_in // cg)
    runs = sw == 1 and cg == c_in
    for y in range(h):
        for xx in range(wd):
            ns = 0
            for c in range(c_in):  # compact the non-zero inputs, branch-free (spikes are random)
                xv = x[y, xx, c]
                idx[ns] = c
                val[ns] = xv
                ns += xv != 0
            if ns == 0:
                continue
            x_lo, x_hi = max(xx + left - kw + 1, 0), min(xx + left, wo - 1)  # output columns (stride 1)
            for i in range(kh):
                yo = yo_of[y, i]
                if yo < 0:
                    continue
                if runs:
                    if x_lo > x_hi:
                        continue
                    start = uint64((yo * wo + x_lo) * og)
                    n_run = uint64((x_hi - x_lo + 1) * og)
                    for k in range(ns):
                        wb = uint64(((i * c_in + idx[k]) * kw + kw - 1 - xx - left + x_lo) * og)
                        if spikes:
                            for o in range(n_run):
                                cur[start + o] += wf[wb + o]
                        else:
                            xv = val[k]
                            for o in range(n_run):
                                cur[start + o] += xv * wf[wb + o]
                    continue
                for j in range(kw):
                    xo = xo_of[xx, j]
                    if xo < 0:
                        continue
                    base = (yo * wo + xo) * o_all
                    for k in range(ns):
                        c = idx[k]
                        start = uint64(base + (c // cg) * og)
                        wb = uint64(((i * c_in + c) * kw + kw - 1 - j) * og)
                        if spikes:
                            for o in range(uint64(og)):
                                cur[start + o] += wf[wb + o]
                        else:
                            xv = val[k]
                            for o in range(uint64(og)):
                                cur[start + o] += xv * wf[wb + o]


@njit(cache=True)
def _dense_conv(x, w4, cur, xp, cp, geom):
    """cur = the convolution of a dense (current) input x (H, W, C), computed plane by plane.

    For each weight w4[o, c, i, j] != 0 and output row, one run over the output columns:
    cp[o, yo, :] += w * xp[c, yin, cols] (xp, cp: planar scratch). For input current, which is
    the same at every step, so this runs once per sample.
    """
    h, wd, c_in = x.shape
    o_all, cg, kh, kw = w4.shape
    sh, sw, top, left, ho, wo, og = geom[0], geom[1], geom[2], geom[3], geom[5], geom[6], geom[7]
    for y in range(h):
        for xx in range(wd):
            for c in range(c_in):
                xp[c, y, xx] = x[y, xx, c]
    xpf, cpf = xp.ravel(), cp.ravel()
    cpf[:] = 0
    for o in range(o_all):
        q = o // og
        for c in range(cg):
            for i in range(kh):
                for j in range(kw):
                    wv = w4[o, c, i, j]
                    x0 = max(0, (left - j + sw - 1) // sw)  # output columns whose input column is inside
                    x1 = min(wo - 1, (wd - 1 + left - j) // sw)
                    if wv == 0 or x0 > x1:
                        continue
                    n = uint64(x1 - x0 + 1)
                    for yo in range(ho):
                        yin = yo * sh + i - top
                        if yin < 0 or yin >= h:
                            continue
                        src = uint64(((q * cg + c) * h + yin) * wd + x0 * sw + j - left)
                        dst = uint64((o * ho + yo) * wo + x0)
                        if sw == 1:
                            for k in range(n):
                                cpf[dst + k] += wv * xpf[src + k]
                        else:
                            for k in range(n):
                                cpf[dst + k] += wv * xpf[src + k * sw]
    plane = ho * wo
    for o in range(o_all):
        for p in range(plane):
            cur[p * o_all + o] = cpf[o * plane + p]


@njit(parallel=True, cache=True)
def conv_if(x, spikes, w, w4, geom, yo_of, xo_of, bias, thf, thr, v0, prm, cur_dtype, out, cnt, mem, at, cnt_at,
            trace):
    """Conv (and linear as a 1x1 conv on a 1x1 image) + IF over T steps.

    x (Tt, B, H, W, C) input: uint8 spikes (spikes=True), event-driven (_scatter_conv), or int64
    current, dense (_dense_conv) when w4 (O, C/groups, kh, kw) is given (non-empty), else
    event-driven; w, yo_of, xo_of: see _scatter_conv; geom = [sh, sw, top, left, C/groups, Ho, Wo,
    O/groups]; cur_dtype: an empty array of the current's dtype; out (T, B, N) uint8 spikes;
    cnt (B, N) int32 (int64 for T >= 2^31); mem (T, B, N) int64 when trace; cnt_at (len(at), B, N) counts after at[k] steps.
    """
    tt, nb, h, wd, c_in = x.shape
    steps, size = out.shape[0], out.shape[2]
    dense = w4.shape[0] > 0
    wf = w.ravel()
    for b in prange(nb):
        idx = np.empty(c_in, np.int64)
        val = np.empty(c_in, cur_dtype.dtype)  # x mod 2^bits of cur: see the module docstring
        xp = np.empty((c_in if dense else 0, h, wd), cur_dtype.dtype)
        cp = np.empty(size if dense else 0, cur_dtype.dtype).reshape(w4.shape[0], -1)
        c_b, v = np.empty(size, cur_dtype.dtype), v0.copy()
        k = 0
        for t in range(steps):
            if t < tt:
                if dense:
                    _dense_conv(x[t, b], w4, c_b, xp, cp, geom)
                else:
                    c_b[:] = 0
                    _scatter_conv(x[t, b], wf, c_b, idx, val, geom, yo_of, xo_of, spikes)
            _if_step(c_b, v, bias, thf, thr, prm, out[t, b], cnt[b], mem[t, b] if trace else mem[0, 0], trace)
            k = _record(t, k, at, cnt[b], cnt_at[:, b])


@njit(cache=True)
def _window_sums(x, cur, kh, kw, sh, sw, ho, wo):
    """cur[(yo*wo + xo)*C + c] = sum over the kh x kw window at (yo*sh, xo*sw) of x[., ., c]."""
    c_n, w_in = uint64(x.shape[2]), x.shape[1]
    xf = x.ravel()
    for yo in range(ho):
        for xo in range(wo):
            base = uint64((yo * wo + xo) * c_n)
            for c in range(c_n):
                cur[base + c] = 0
            for i in range(kh):
                for j in range(kw):
                    src = uint64(((yo * sh + i) * w_in + xo * sw + j) * c_n)
                    for c in range(c_n):
                        cur[base + c] += xf[src + c]


@njit(parallel=True, cache=True)
def pool_if(x, geom, bias, thf, thr, v0, prm, cur_dtype, out, cnt, mem, at, cnt_at, trace):
    """Average pooling (window sums) + IF over T steps; geom = [kh, kw, sh, sw, Ho, Wo]."""
    tt, nb = x.shape[0], x.shape[1]
    steps, size = out.shape[0], out.shape[2]
    kh, kw, sh, sw, ho, wo = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    for b in prange(nb):
        c_b, v = np.empty(size, cur_dtype.dtype), v0.copy()
        k = 0
        for t in range(steps):
            if t < tt:
                _window_sums(x[t, b], c_b, kh, kw, sh, sw, ho, wo)
            _if_step(c_b, v, bias, thf, thr, prm, out[t, b], cnt[b], mem[t, b] if trace else mem[0, 0], trace)
            k = _record(t, k, at, cnt[b], cnt_at[:, b])


@njit(parallel=True, cache=True)
def currents_if(j, bias, thf, thr, v0, prm, out, cnt, mem, at, cnt_at, trace):
    """IF over T steps for currents computed elsewhere: j (Tt, B, N), Tt = T or 1."""
    tt, nb = j.shape[0], j.shape[1]
    steps = out.shape[0]
    for b in prange(nb):
        v = v0.copy()
        k = 0
        for t in range(steps):
            _if_step(j[t if tt > 1 else 0, b], v, bias, thf, thr, prm, out[t, b], cnt[b],
                     mem[t, b] if trace else mem[0, 0], trace)
            k = _record(t, k, at, cnt[b], cnt_at[:, b])
