"""numba functions that compute one sample's synaptic currents for one step (jit_kernels calls them).

All arithmetic is integer in the current dtype `cur.dtype`, proven to hold every partial sum
(|partial| <= bound, see exactness.py). Products x * w are formed in that dtype, wrapping:
arithmetic modulo 2^bits is exact for a result known to lie in the dtype's range, so x may be
truncated to the dtype before multiplying (the loops then run on narrow vector lanes). Offsets
are unsigned so that numba skips negative-index wraparound and the inner loops vectorise.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.extending import intrinsic

VECTOR_BYTES = 32  # one AVX2 register: the unit of _vadd


@intrinsic
def _vadd(typingctx, dst, i, src, k, v):
    """dst[i + v*L : i + v*L + L] += src[k + v*L : k + v*L + L] (same dtype, L = VECTOR_BYTES /
    itemsize, a compile-time constant; wrapping): one
    unaligned vector load, add and store. No bounds check: callers guarantee the ranges. (The
    loop vectoriser handles short runs of unknown length with a 4-vector main loop, an epilogue
    and aliasing checks per run; whole vectors are much cheaper for the ~80-value runs here.)"""
    if dst != src or not isinstance(dst.dtype, types.Integer):
        return None
    lanes = VECTOR_BYTES // (dst.dtype.bitwidth // 8)

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        b = context.make_array(sig.args[2])(context, builder, args[2])
        vec = ir.VectorType(context.get_data_type(sig.args[0].dtype), lanes).as_pointer()
        off = builder.mul(args[4], ir.Constant(args[4].type, lanes))
        pa = builder.bitcast(builder.gep(a.data, [builder.add(args[1], off)]), vec)
        pb = builder.bitcast(builder.gep(b.data, [builder.add(args[3], off)]), vec)
        builder.store(builder.add(builder.load(pa, align=1), builder.load(pb, align=1)), pa, align=1)
        return context.get_dummy_value()

    return types.void(dst, types.int64, src, types.int64, types.int64), codegen


@njit(cache=True)
def scatter_conv(x, wf, cur, idx, val, geom, yo_of, xo_of, spikes):
    """cur[(yo*Wq + xo + kw-1)*O + q*Og + o] += x[y, x, c] * W[q*Og + o, c % Cg, i, j] for every non-zero
    input x[y, x, c] and every kernel tap (i, j) that maps it to an output (yo, xo) of the layer
    (q = c // Cg). cur is column-padded: kw - 1 columns before the Wo outputs of a row, Wq per row
    (compact_rows drops the padding).

    wf is the weight as (kh, C, kw, Og), kw axis reversed (entry [i, c, kw-1-j] = tap j), flattened.
    With stride 1 in x and one group, the kw taps of kernel row i reach the kw adjacent columns
    x + left - kw + 1 .. x + left, padded columns x + left .. x + left + kw - 1: always one whole run
    of kw*Og values of cur and of wf (taps that reach outputs outside the layer land in the
    padding). yo_of[y, i] / xo_of[x, j]: the output row / column of tap (i, j), or -1.
    """
    h, wd, c_in = x.shape
    kh, kw = yo_of.shape[1], xo_of.shape[1]
    sw, left, cg, og, wq = geom[1], geom[3], geom[4], geom[7], geom[8]
    o_all = og * (c_in // cg)
    runs = sw == 1 and cg == c_in
    n_run = uint64(kw * og)
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
            for i in range(kh):
                yo = yo_of[y, i]
                if yo < 0:
                    continue
                if runs:
                    start = uint64((yo * wq + xx + left) * og)
                    for k in range(ns):
                        wb = uint64((i * c_in + idx[k]) * kw) * uint64(og)
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
                    base = (yo * wq + xo + kw - 1) * o_all
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


@intrinsic
def _nonzero_bits(typingctx, x, i):
    """Bit k (k < 32) set where x[i + k] != 0, x an integer array (uint8 spikes: one unaligned
    32-byte load, a compare and a movemask). No bounds check: callers guarantee i + 32 <= x.size."""
    if not isinstance(x, types.Array) or not isinstance(x.dtype, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        vec = ir.VectorType(context.get_data_type(sig.args[0].dtype), 32)
        v = builder.load(builder.bitcast(builder.gep(a.data, [args[1]]), vec.as_pointer()), align=1)
        bits = builder.bitcast(builder.icmp_unsigned("!=", v, ir.Constant(vec, None)), ir.IntType(32))
        return builder.zext(bits, ir.IntType(64))

    return types.uint64(x, types.int64), codegen


@njit(cache=True)
def spike_bits(xf, base, c_in, n_all):
    """Bit c set where channel c of the pixel at xf[base : base + c_in] spiked (c_in <= 64): one or
    two 32-byte movemasks where they stay inside xf (n_all values), else channel by channel; the
    bits of the bytes past the pixel are cleared."""
    if base + (32 if c_in <= 32 else 64) <= n_all:
        m = _nonzero_bits(xf, base)
        if c_in > 32:
            m |= _nonzero_bits(xf, base + 32) << uint64(32)
    else:
        m = uint64(0)
        for c in range(c_in):
            m |= uint64(xf[base + c] != 0) << uint64(c)
    return m & (~uint64(0) >> uint64(64 - c_in))


@njit(cache=True)
def _listed_runs(cur, row, tf, tb, n_run, pat, ne, n_vec):
    """For each listed (column offset, table entry) pair pat[e] (see scatter_patterns):
    cur[row + offset :][: n_vec vectors] += tf[(tb + entry) * n_run :][: n_vec vectors]."""
    for e in range(ne):
        start = row + (pat[e] >> 32)
        wb = (tb + (pat[e] & 0xFFFFFFFF)) * n_run
        for o in range(n_vec):
            _vadd(cur, start, tf, wb, o)


@njit(cache=True)
def scatter_patterns(x, tab, g, cur, pat, geom, yo_of):
    """scatter_conv for spike input with stride 1 in x and one group, by channel patterns.

    The C channels are split into groups of g; tab[i, q, p] (kh, groups, 2^g, R) is the sum of the
    weight runs (wf[i, c], as in scatter_conv) of the channels of group q whose bit is set in p,
    zero-padded to R, a multiple of the vector length (so cur needs R - kw*Og values of slack at
    the end; the padding adds zeros). A pixel then costs one run per kernel row and non-zero
    group instead of one per spike. Every table entry and partial sum is a sum of a subset of the
    terms of some current, so it is bounded by `bound` too (exact in cur's dtype).
    With C <= 64 a pixel's patterns are bit fields of its spike mask (spike_bits: a vector compare
    and movemask instead of a load, shift and or per channel), and the non-zero (pixel, group)
    pairs of a whole input row are listed first (branch-free), then added row of kernel by row:
    one data-dependent loop per input row instead of one per pixel. pat: W * C int64 (a list).
    Spikes are 0 or 1.
    """
    h, wd, c_in = x.shape
    kh, groups, npat, n_run = tab.shape
    tf = tab.ravel()
    xf = x.ravel()
    n_all = xf.shape[0]
    left, og, wq = geom[3], geom[7], geom[8]
    n_vec = n_run * tf.itemsize // VECTOR_BYTES
    if c_in <= 64:
        gmask = uint64(npat - 1)
        for y in range(h):
            ne = 0
            for xx in range(wd):
                m = spike_bits(xf, (y * wd + xx) * c_in, c_in, n_all)
                for q in range(groups):
                    p = np.int64((m >> uint64(q * g)) & gmask)
                    pat[ne] = ((xx * og) << 32) | (q * npat + p)  # offset in the row of cur, table entry (< 2^32)
                    ne += p != 0
            if ne == 0:
                continue
            for i in range(kh):
                yo = yo_of[y, i]
                if yo < 0:
                    continue
                row = (yo * wq + left) * og
                tb = i * groups * npat
                if n_vec == 3:  # a constant run length: the vector loop unrolled (16 int16 outputs x kw = 3)
                    _listed_runs(cur, row, tf, tb, n_run, pat, ne, 3)
                elif n_vec == 6:  # (28 int16 outputs x kw = 3)
                    _listed_runs(cur, row, tf, tb, n_run, pat, ne, 6)
                else:
                    _listed_runs(cur, row, tf, tb, n_run, pat, ne, n_vec)
        return
    for y in range(h):
        for xx in range(wd):
            ng = 0
            for q in range(groups):
                p = 0
                c0 = q * g
                for c in range(min(g, c_in - c0)):
                    p |= np.int64(x[y, xx, c0 + c]) << c  # spikes are 0 or 1
                pat[ng] = q * npat + p
                ng += p != 0
            if ng == 0:
                continue
            for i in range(kh):
                yo = yo_of[y, i]
                if yo < 0:
                    continue
                start = (yo * wq + xx + left) * og
                for k in range(ng):
                    wb = (i * groups * npat + pat[k]) * n_run
                    for o in range(n_vec):
                        _vadd(cur, start, tf, wb, o)


@njit(cache=True)
def compact_rows(padded, cur, ho, wq, wo, pad):
    """cur[(yo*Wo + xo)*O + o] = padded[(yo*Wq + xo + pad)*O + o]: drop scatter_conv's padding columns."""
    o_all = uint64(cur.shape[0] // (ho * wo))
    n = uint64(wo) * o_all
    for yo in range(ho):
        src = uint64(yo * wq + pad) * o_all
        dst = uint64(yo) * n
        for q in range(n):
            cur[dst + q] = padded[src + q]


@njit(cache=True)
def dense_conv(x, w4, cur, xp, cp, geom):
    """cur = the convolution of a dense (current) input x (H, W, C), for input that is the same at
    every step (so this runs once per sample).

    xp (C, Hp + 1, Wp): zero-padded planar copy of x, Hp = (Ho-1)*sh + kh and Wp = (Wo-1)*sw + kw
    (the rows and columns the windows read; the extra row is slack for the runs below); its
    padding must be zero on entry and stays zero. cp (O, Ho*Wp): planar result, column xo of
    output row yo at yo*Wp + xo. For each weight w4[o, c, i, j] != 0: with stride 1 one run over
    all output rows at once (positions past Wo in a row are computed and dropped), else one
    strided run per output row.
    """
    h, wd, c_in = x.shape
    o_all, cg, kh, kw = w4.shape
    sh, sw, top, left, ho, wo, og = geom[0], geom[1], geom[2], geom[3], geom[5], geom[6], geom[7]
    hp, wp = xp.shape[1], xp.shape[2]
    for c in range(c_in):
        for y in range(max(0, -top), min(h, hp - 1 - top)):
            for xx in range(max(0, -left), min(wd, wp - left)):
                xp[c, y + top, xx + left] = x[y, xx, c]
    xpf, cpf = xp.ravel(), cp.ravel()
    cpf[:] = 0
    flat = sh == 1 and sw == 1
    plane = uint64(ho * wp)
    for o in range(o_all):
        dst = uint64(o * ho * wp)
        for c in range(cg):
            chan = ((o // og) * cg + c) * hp * wp
            for i in range(kh):
                for j in range(kw):
                    wv = w4[o, c, i, j]
                    if wv == 0:
                        continue
                    if flat:
                        src = uint64(chan + i * wp + j)
                        for p in range(plane):
                            cpf[dst + p] += wv * xpf[src + p]
                        continue
                    for yo in range(ho):
                        src = uint64(chan + (yo * sh + i) * wp + j)
                        row = dst + uint64(yo * wp)
                        for k in range(uint64(wo)):
                            cpf[row + k] += wv * xpf[src + k * uint64(sw)]
    for yo in range(ho):
        for xo in range(wo):
            base = (yo * wo + xo) * o_all
            for o in range(o_all):
                cur[base + o] = cp[o, yo * wp + xo]


@njit(cache=True)
def window_sums(x, cur, acc, hs, sel, kh, kw, sh, sw, ho):
    """cur[(yo*Wo + xo)*C + c] = sum over the kh x kw window at (yo*sh, xo*sw) of x[., ., c].

    Output row by output row, in runs that vectorise whatever C is: acc (W*C) = the sum of the
    window's kh input rows; then, for windows that do not overlap (kw <= sw), each window's C
    sums straight from acc (kw runs of C); else hs (W*C - (kw-1)*C) = sum_j acc[q + j*C] (the
    window sum of every input column, shared by the overlapping windows), and cur's row picks
    hs[sel[q]], sel[xo*C + c] = xo*sw*C + c.
    """
    c_n = uint64(x.shape[2])
    row = uint64(x.shape[1]) * c_n
    n_hs = row - uint64(kw - 1) * c_n
    n_out = uint64(sel.shape[0])
    wo = n_out // c_n
    xf = x.ravel()
    for yo in range(ho):
        base = uint64(yo * sh) * row
        for q in range(row):
            acc[q] = xf[base + q]
        for i in range(1, kh):
            b = base + uint64(i) * row
            for q in range(row):
                acc[q] += xf[b + q]
        o = uint64(yo) * n_out
        if kw <= sw:
            for xo in range(wo):
                dst = o + xo * c_n
                src = xo * uint64(sw) * c_n
                for c in range(c_n):
                    cur[dst + c] = acc[src + c]
                for j in range(1, kw):
                    sj = src + uint64(j) * c_n
                    for c in range(c_n):
                        cur[dst + c] += acc[sj + c]
            continue
        for q in range(n_hs):
            hs[q] = acc[q]
        for j in range(1, kw):
            b = uint64(j) * c_n
            for q in range(n_hs):
                hs[q] += acc[b + q]
        for q in range(n_out):
            cur[o + q] = hs[sel[q]]
