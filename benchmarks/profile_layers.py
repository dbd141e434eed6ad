"""Per-layer time of the numba backend on the benchmark artefacts (where the time goes).

    python benchmarks/profile_layers.py [lenet5|vgg] [--T 8] [--batch 256] [--threads N]

Times every call of jit_backend.neuron_layer (one per layer with neurons and batch chunk: the whole
layer over all T steps, kernel plus the array set-up around it), summed over chunks, and the whole `simulate` call; medians of
repeated runs after an untimed warm-up. Not a test; the numbers help decide what to optimise.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np

from snnc.runtime import jit_backend, simulate

from bench_runtime import lenet5, vgg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", nargs="?", default="lenet5", choices=("lenet5", "vgg"))
    ap.add_argument("--T", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="numba threads (0: numba's default)")
    args = ap.parse_args()
    if args.threads:
        import numba

        numba.set_num_threads(args.threads)
    art = lenet5() if args.network == "lenet5" else vgg()
    x = np.random.default_rng(0).random((args.batch,) + art.input.shape).astype(np.float32)
    times: dict[str, list[float]] = defaultdict(list)
    rates: dict[str, float] = {}
    original = jit_backend.neuron_layer

    def timed(layer, xs, *rest, **kw):
        t0 = time.perf_counter()
        result = original(layer, xs, *rest, **kw)
        times[layer.name].append(time.perf_counter() - t0)
        x0 = xs[0]
        if x0.dtype in (np.bool_, np.uint8):
            rates[layer.name] = float(x0.view(np.uint8).mean())
        return result

    jit_backend.neuron_layer = timed
    simulate(art, x, args.T, backend="numba")  # compile / load the cache
    per_run: dict[str, list[float]] = defaultdict(list)
    total = []
    for _ in range(args.repeats):
        times.clear()
        t0 = time.perf_counter()
        simulate(art, x, args.T, backend="numba")
        total.append(time.perf_counter() - t0)
        for name, ts in times.items():  # summed over batch chunks
            per_run[name].append(sum(ts))
    whole = statistics.median(total)
    print(f"{args.network} T={args.T} batch={args.batch}: simulate {whole * 1e3:.2f} ms "
          f"({args.batch / whole:.0f} img/s)")
    layers = 0.0
    for name, ts in per_run.items():
        med = statistics.median(ts)
        layers += med
        rate = f"input spike rate {rates[name]:.3f}" if name in rates else "current input"
        print(f"  {name:10} {med * 1e3:8.2f} ms  {med / whole:5.1%}  {rate}")
    print(f"  {'other':10} {(whole - layers) * 1e3:8.2f} ms  {(whole - layers) / whole:5.1%}")


if __name__ == "__main__":
    main()
