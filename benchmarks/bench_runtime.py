"""Benchmark of the runtime's backends against each other and the dense bound.

    python benchmarks/bench_runtime.py [--quick] [--networks lenet5,vgg]

For a LeNet-5-sized and a VGG-sized artefact and T = 8, 16, 32 it prints images/s of
  reference  simulate(backend="reference") (plain Python, semantics.md step by step; LeNet only)
  numpy      simulate(backend="numpy") (layer by layer, all T in one matmul per layer)
  numba      simulate(backend="numba") (compiled event-driven kernels; if numba is installed)
  dense      the lower bound T * MACs * 2 / (this machine's float32 matmul rate, measured here)
and "vs numpy" = numba img/s / numpy img/s. Before timing it asserts that the backends give
identical spike counts in every layer (bit-exact): numpy and numba equal to the reference on a
few LeNet images, and to each other on every batch (the reference would take about a minute per
step of one VGG image, so VGG is checked numpy against numba only; the test suite checks both
against the reference on small networks). The numba kernels are compiled (or loaded from numba's
cache) by a warm-up call that is not timed. Numbers are medians of repeated runs, the backends and the
float32 probe measured alternately so that they share the machine's load, each timed as a loop
of back-to-back calls (at least 3 and at least 0.25 s: a loop over batches) after a short pause,
so that no measurement competes with the previous one's still-spinning worker threads. For
T = 8 it also prints the latency of a single call after that pause (waking idle worker threads).
Not a test: run it by hand, record the output in docs/runtime.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from snnc.runtime import (
    Artefact, AvgPool, Conv, Flatten, HostLinear, InputSpec, Linear, Neuron, Target, simulate,
)
from snnc.runtime.backend import numba_available

TARGET = Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=12, bias_bits=8,
                weight_encoding="symmetric", input_bits=8)


# ------------------------------------------------------------------------------ the two networks

def _conv(rng, name, src, c_in, c_out, hw, k, pad, theta):
    w = rng.integers(-1, 2, size=(c_out, c_in, k, k))
    ho = hw + 2 * pad - k + 1
    return Conv(name, [src], (c_out, ho, ho), weight=w, bits=2, stride=(1, 1), padding=(pad,) * 4, groups=1,
                neuron=Neuron([theta], [0] * c_out, "subtract", "half")), ho


def _pool(name, src, c, hw):
    return AvgPool(name, [src], (c, hw // 2, hw // 2), kernel=(2, 2), stride=(2, 2),
                   neuron=Neuron([4], [0] * c, "subtract", "zero")), hw // 2


def lenet5() -> Artefact:
    rng = np.random.default_rng(5)
    layers = []
    c1, hw = _conv(rng, "conv1", "input", 1, 6, 28, 5, 2, 600)
    p1, hw = _pool("pool1", "conv1", 6, hw)
    c2, hw = _conv(rng, "conv2", "pool1", 6, 16, hw, 5, 0, 4)
    p2, hw = _pool("pool2", "conv2", 16, hw)
    layers = [c1, p1, c2, p2, Flatten("flat", ["pool2"], (400,))]
    layers.append(Linear("fc1", ["flat"], (120,), weight=rng.integers(-1, 2, (120, 400)), bits=2,
                         neuron=Neuron([4], [0] * 120, "subtract", "half")))
    layers.append(Linear("fc2", ["fc1"], (84,), weight=rng.integers(-1, 2, (84, 120)), bits=2,
                         neuron=Neuron([3], [0] * 84, "subtract", "half")))
    layers.append(HostLinear("head", ["fc2"], (10,), weight=rng.normal(size=(10, 84)), bias=np.zeros(10)))
    return Artefact(InputSpec((1, 28, 28), "current", 0, 255, 1 / 255), tuple(layers), TARGET, {"name": "bench"})


def vgg() -> Artefact:
    rng = np.random.default_rng(7)
    layers, src, c, hw = [], "input", 3, 32
    for stage, (width, n) in enumerate([(64, 2), (128, 2), (256, 2)]):
        for i in range(n):
            theta = 1200 if src == "input" else 6
            layer, hw = _conv(rng, f"conv{stage}_{i}", src, c, width, hw, 3, 1, theta)
            layers.append(layer)
            src, c = layer.name, width
        pool, hw = _pool(f"pool{stage}", src, c, hw)
        layers.append(pool)
        src = pool.name
    layers.append(Flatten("flat", [src], (c * hw * hw,)))
    layers.append(Linear("fc1", ["flat"], (256,), weight=rng.integers(-1, 2, (256, c * hw * hw)), bits=2,
                         neuron=Neuron([8], [0] * 256, "subtract", "half")))
    layers.append(HostLinear("head", ["fc1"], (10,), weight=rng.normal(size=(10, 256)), bias=np.zeros(10)))
    return Artefact(InputSpec((3, 32, 32), "current", 0, 255, 1 / 255), tuple(layers), TARGET, {"name": "bench"})


def macs_per_step(a: Artefact) -> int:
    total = 0
    for layer in a.core_layers:
        if isinstance(layer, (Conv, Linear)):
            total += int(np.prod(layer.output_shape)) * int(np.prod(layer.weight.shape[1:]))
    return total


# ------------------------------------------------------------------------------ measurement

class MatmulProbe:
    """The machine's float32 matmul rate: a 2048^3 product, timed next to each measurement."""

    def __init__(self, n: int = 2048):
        rng = np.random.default_rng(0)
        self.n = n
        self.a = rng.random((n, n), dtype=np.float32)
        self.b = rng.random((n, n), dtype=np.float32)
        self.a @ self.b

    def run(self) -> None:
        self.a @ self.b

    def rate(self, seconds: float) -> float:
        return 2 * self.n**3 / seconds


# Pause before every timed call. Worker threads keep spinning for a while after a parallel call
# (OpenBLAS ~0.1 s after a matmul, numba's OpenMP workers after a parallel loop); on 2 cores a
# measurement that starts while the previous one's threads still spin gets one core, not two
# (measured: LeNet, T = 8, numba backend right after the 2048^3 probe 7,757 img/s, alone 17,874).
SETTLE_SECONDS = 0.3


CALLS = 3  # at least this many consecutive calls per timed measurement ...
LOOP_SECONDS = 0.25  # ... and at least this long: the throughput of a loop over batches
# After a pause, the first parallel call pays for waking the idle worker threads: on this 2-vCPU
# virtual machine up to ~7 ms (the hypervisor wakes a halted vCPU), measured by `wake_seconds`.
# A loop over batches pays it once, so each measurement runs long enough to amortise it.


def loop_seconds(fn, calls: int = CALLS, min_seconds: float = LOOP_SECONDS) -> float:
    """Seconds per call of back-to-back calls (at least `calls`, and at least `min_seconds` in
    all), after a pause of SETTLE_SECONDS."""
    time.sleep(SETTLE_SECONDS)
    n = 0
    t0 = time.perf_counter()
    while n < calls or time.perf_counter() - t0 < min_seconds:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


def wake_seconds(fn, repeats: int) -> tuple[float, float]:
    """(median seconds of a single call after a pause of SETTLE_SECONDS, median seconds of the
    next call right after it): the latency a sporadic caller sees, next to the loop's."""
    first, second = [], []
    for _ in range(repeats):
        time.sleep(SETTLE_SECONDS)
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        fn()
        first.append(t1 - t0)
        second.append(time.perf_counter() - t1)
    return statistics.median(first), statistics.median(second)


def paired(fns: dict, probe: MatmulProbe, repeats: int) -> tuple[dict, float]:
    """Median seconds per call of each fn and median float32 matmul rate, measured alternately
    (same load), each as `loop_seconds`."""
    times: dict = {k: [] for k in fns}
    t_mm = []
    for _ in range(repeats):
        t_mm.append(loop_seconds(probe.run))
        for k, fn in fns.items():
            times[k].append(loop_seconds(fn))
    return {k: statistics.median(v) for k, v in times.items()}, probe.rate(statistics.median(t_mm))


def assert_same_counts(a: dict, b: dict, what: str) -> None:
    for layer, counts in b.items():
        assert np.array_equal(a[layer], counts), (what, layer)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    ap.add_argument("--networks", default="lenet5,vgg", help="comma-separated subset of lenet5,vgg")
    args = ap.parse_args()
    reps = 3 if args.quick else 5
    backends = ["numpy"] + (["numba"] if numba_available() else [])
    probe = MatmulProbe()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    versions = f"numpy {np.__version__}"
    if "numba" in backends:
        import numba

        versions += f", numba {numba.__version__} ({numba.get_num_threads()} threads)"
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {versions}, load average at start {load:.1f}")
    print("dense = T * MACs * 2 / float32 rate; the rate (2048^3 matmul) is measured alternately with the backends,")
    print(f"each timed as >= {CALLS} back-to-back calls and >= {LOOP_SECONDS} s after a {SETTLE_SECONDS} s pause "
          "(the previous measurement's threads idle);")
    print("img/s are medians; numba's JIT compilation happens in an untimed warm-up call")
    head = f"{'network':8} {'T':>3} {'MACs/step':>11} {'reference img/s':>15} {'dense img/s':>12}"
    head += f" {'numpy img/s':>12} {'vs dense':>9}"
    if "numba" in backends:
        head += f" {'numba img/s':>12} {'vs numpy':>9} {'vs dense':>9}"
    print(head)
    # (name, builder, images per timed call, images the reference simulates: 0 = none, too slow)
    nets = (("lenet5", lenet5, 256, 1 if args.quick else 2), ("vgg", vgg, 16, 0))
    wake, checked = [], []
    for name, build, batch, ref_batch in (n for n in nets if n[0] in args.networks.split(",")):
        art = build()
        macs = macs_per_step(art)
        rng = np.random.default_rng(0)
        x_all = rng.random((batch,) + art.input.shape).astype(np.float32)
        for T in (8, 16, 32):
            ref_rate = None
            if ref_batch:  # bit-exact: every backend == the reference, every layer
                t0 = time.perf_counter()
                ref = simulate(art, x_all[:ref_batch], T, backend="reference").counts
                ref_rate = ref_batch / (time.perf_counter() - t0)
                for b in backends:
                    assert_same_counts(simulate(art, x_all[:ref_batch], T, backend=b).counts, ref, (name, T, b))
            full = {}
            for b in backends:  # the backends equal on the whole batch; also the warm-up
                full[b] = simulate(art, x_all, T, backend=b)
                assert full[b].output_counts.sum() > 0, "silent network"
                assert_same_counts(full[b].counts, full["numpy"].counts, (name, T, b, "whole batch"))
                assert np.array_equal(full[b].predictions, full["numpy"].predictions)
            fns = {b: (lambda b=b: simulate(art, x_all, T, backend=b)) for b in backends}
            t_fast, rate = paired(fns, probe, reps)
            dense = rate / (T * macs * 2)
            ref_col = f"{ref_rate:.2f}" if ref_rate else "-"
            numpy_rate = batch / t_fast["numpy"]
            line = f"{name:8} {T:>3} {macs:>11,} {ref_col:>15} {dense:>12.1f} {numpy_rate:>12.1f} {dense / numpy_rate:>8.2f}x"
            if "numba" in backends:
                fast = batch / t_fast["numba"]
                line += f" {fast:>12.1f} {fast / numpy_rate:>8.1f}x {dense / fast:>8.2f}x"
            print(line, flush=True)
            if T == 8:
                wake.append((name, {b: wake_seconds(fns[b], reps) for b in backends}, t_fast))
        checked.append(f"{name}: {' and '.join(backends)} == reference spike counts in every layer ({ref_batch} "
                       f"image{'s' * (ref_batch > 1)})" if ref_batch else f"{name}: not run on the reference (too slow)")
    for name, lat, t_loop in wake:
        print(f"{name}, T=8, one call after a {SETTLE_SECONDS} s pause (median): " + ", ".join(
            f"{b} {lat[b][0] * 1e3:.1f} ms, the next call {lat[b][1] * 1e3:.1f} ms, in the loop {t_loop[b] * 1e3:.1f} ms"
            for b in backends))
    print("; ".join(checked) + f"; {' and '.join(backends)} equal on every batch: OK")
    if hasattr(os, "getloadavg"):
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    if "numba" in backends:
        import numba

        print(f"numba threading layer: {numba.threading_layer()}")


if __name__ == "__main__":
    main()
