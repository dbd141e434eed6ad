"""The float interpreter's conv (runtime/host_ops.conv) against an explicit im2col + one GEMM.

    python benchmarks/bench_host_conv.py [--repeat 3]

host_ops.conv is np.einsum("ncijuv,ocuv->noij", windows, weight, optimize=True). With optimize,
numpy evaluates that two-operand contraction with np.tensordot: one copy of the strided windows
into an (N*OH*OW, C*kh*kw) matrix (im2col) and one float64 BLAS GEMM. This script checks that an
explicit im2col + GEMM gives the same bits (so replacing it would change nothing) and times both,
and the parts of the GEMM path, on the scale benchmark's layer shapes (docs/scale.md).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from snnc.runtime import host_ops as H


def im2col_gemm(x: np.ndarray, w: np.ndarray, pad: int, stride: int) -> tuple[np.ndarray, dict]:
    t0 = time.perf_counter()
    win = H.windows(H._pad_hw(x, (pad,) * 4, 0.0), w.shape[2:], (stride, stride), (1, 1))  # N C OH OW kh kw
    t1 = time.perf_counter()
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, w.shape[1] * w.shape[2] * w.shape[3])
    t2 = time.perf_counter()
    y = cols @ w.transpose(1, 2, 3, 0).reshape(-1, w.shape[0])
    t3 = time.perf_counter()
    y = np.ascontiguousarray(y.reshape(win.shape[0], win.shape[2], win.shape[3], -1).transpose(0, 3, 1, 2))
    t4 = time.perf_counter()
    return y, {"view": t1 - t0, "im2col": t2 - t1, "gemm": t3 - t2, "out": t4 - t3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many calls")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'N C->O HxW k s':<24} {'einsum s':>9} {'im2col+GEMM s':>14} {'GFLOP/s':>8}  parts (view/im2col/gemm/out s)  equal")
    for n, c, o, hw, k, s in [(16, 3, 64, 32, 3, 1), (16, 64, 64, 32, 3, 1), (16, 128, 256, 16, 3, 2),
                              (16, 256, 256, 8, 3, 1), (16, 512, 512, 4, 3, 1), (16, 128, 256, 16, 1, 2)]:
        x, w = rng.standard_normal((n, c, hw, hw)), rng.standard_normal((o, c, k, k))
        attrs = {"groups": 1, "padding": (k // 2,) * 4, "stride": (s, s), "dilation": (1, 1)}
        best_e = best_g = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            a = H.conv(attrs, {"weight": w}, [x])
            best_e = min(best_e, time.perf_counter() - t)
            t = time.perf_counter()
            b, parts = im2col_gemm(x, w, k // 2, s)
            best_g = min(best_g, time.perf_counter() - t)
        flops = 2 * a.size * c * k * k
        print(f"{f'{n} {c}->{o} {hw}x{hw} {k} {s}':<24} {best_e:>9.3f} {best_g:>14.3f} {flops / best_e / 1e9:>8.1f}  "
              + "/".join(f"{v:.3f}" for v in parts.values()) + f"  {np.array_equal(a, b)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
