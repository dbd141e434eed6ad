"""The short GPU check of the torch backend: CUDA results identical to the CPU backends, and its speed.

    python benchmarks/check_cuda.py [--batch 1000] [--timesteps 8,16,32] [--quick]

Where torch sees no CUDA GPU it prints why and exits 0 (nothing to check). Otherwise:
1. every golden artefact (tests/runtime/golden/*.snn): `simulate(backend=torch_backend("cuda"))`
   with traces equal to the reference backend (counts, spikes, membranes, counts after step 1,
   predictions) and to the stored golden counts;
2. the shipped example models (examples/models/lenet5_mnist.onnx, vgg_bn_mnist.onnx, compiled
   here with `snnc compile --bits 4 --norm max --per-channel`; when the compiler cannot run, the
   synthetic LeNet/VGG artefacts of bench_runtime.py), on `--batch` MNIST demo images (repeated to
   the batch size): counts of every layer and predictions on CUDA equal to the CPU backend's
   (numba, else numpy: both tested equal to the reference) at every T, and on 4 images equal to
   the reference (LeNet only; a VGG image takes the reference minutes);
3. images/s at batch `--batch` on CUDA (after one untimed warm-up; median of 3, synchronised) and
   on the CPU backend (one timed call), per model and T.
Exit status 1 when any result differs. Designed to fit a few minutes of a lent GPU machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def same(ref, res, what: str, trace: bool) -> list[str]:
    """The names of the fields where two SimResults differ (empty: identical)."""
    bad = []
    fields = ("counts", "spikes", "membranes") if trace else ("counts",)
    for field in fields:
        x, y = getattr(ref, field), getattr(res, field)
        if list(x) != list(y):
            bad.append(f"{what}: {field} layers differ")
            continue
        bad += [f"{what}: {field}[{k}]" for k in x if x[k].shape != y[k].shape or not np.array_equal(x[k], y[k])]
    if ref.predictions is not None and not np.array_equal(ref.predictions, res.predictions):
        bad.append(f"{what}: predictions")
    for t in ref.counts_at or {}:
        bad += [f"{what}: counts_at[{t}][{k}]" for k in ref.counts_at[t]
                if not np.array_equal(ref.counts_at[t][k], res.counts_at[t][k])]
    return bad


def compile_examples(out: Path) -> dict:
    """{name: Artefact} of the example models compiled with snnc, or the synthetic bench networks."""
    from snnc.runtime import load

    arts = {}
    data = ROOT / "examples" / "data" / "mnist_demo.npz"
    for name in ("lenet5_mnist", "vgg_bn_mnist"):
        model = ROOT / "examples" / "models" / f"{name}.onnx"
        path = out / f"{name}.snn"
        cmd = [sys.executable, "-m", "snnc.compiler.cli.main", "compile", str(model), "--hw", "hw_v1", "--bits", "4",
               "--norm", "max", "--per-channel", "--calib", str(data), "--timesteps", "32", "-o", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  could not compile {model.name} ({proc.stderr.strip().splitlines()[-1:]}); "
                  "using bench_runtime's synthetic networks")
            sys.path.insert(0, str(ROOT / "benchmarks"))
            import bench_runtime

            return {"lenet5 (synthetic)": bench_runtime.lenet5(), "vgg (synthetic)": bench_runtime.vgg()}
        arts[name] = load(path)
    return arts


def inputs_for(art, batch: int) -> np.ndarray:
    demo = np.load(ROOT / "examples" / "data" / "mnist_demo.npz")
    shape = art.input.external_shape
    if shape == (1, 28, 28):
        x = demo["x"].astype(np.float32) * demo["x_scale"]
        x = x.reshape(-1, 1, 28, 28)
    else:  # a synthetic network's input: random pixels
        x = np.random.default_rng(0).random((batch,) + shape, dtype=np.float32)
    reps = -(-batch // len(x))
    return np.concatenate([x] * reps)[:batch]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--timesteps", default="8,16,32")
    ap.add_argument("--quick", action="store_true", help="golden files and T=8 only")
    ap.add_argument("--device", default="cuda", help="the torch device checked (cpu: a dry run of this script here)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("no CUDA check: torch is not installed")
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA check: torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'}) sees no CUDA GPU; "
              "run this on a machine with one")
        return 0
    from snnc.runtime import load, simulate
    from snnc.runtime.backend import numba_available
    from snnc.runtime.torch_backend import torch_backend

    cuda = torch_backend(args.device)
    cpu_name = "numba" if numba_available() else "numpy"
    if cuda.device.type == "cuda":
        props = torch.cuda.get_device_properties(cuda.device)
        print(f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}, CUDA {torch.version.cuda}; "
              f"CPU: {os.cpu_count()} cores; CPU backend: {cpu_name}")
    else:
        print(f"dry run on torch device {cuda.device} (not a GPU check); CPU backend: {cpu_name}")

    def sync():
        if cuda.device.type == "cuda":
            torch.cuda.synchronize()
    bad: list[str] = []

    print("1. golden artefacts: CUDA == reference (traces) == stored counts")
    for path in sorted((ROOT / "tests" / "runtime" / "golden").glob("*.snn")):
        art = load(path)
        g = art.golden
        ref = simulate(art, g.inputs, g.timesteps, trace=True, counts_at=[1], backend="reference")
        res = simulate(art, g.inputs, g.timesteps, trace=True, counts_at=[1], backend=cuda)
        errs = same(ref, res, path.stem, trace=True)
        errs += [f"{path.stem}: golden counts[{k}]" for k, v in g.counts.items() if not np.array_equal(res.counts[k], v)]
        print(f"  {path.stem:<16} {'OK' if not errs else 'DIFFERENT: ' + ', '.join(errs)}")
        bad += errs
    if args.quick:
        ts = [8]
    else:
        ts = [int(t) for t in args.timesteps.split(",")]

    print(f"2./3. example models, batch {args.batch}: CUDA == {cpu_name} (counts of every layer, predictions); img/s")
    with tempfile.TemporaryDirectory() as tmp:
        arts = compile_examples(Path(tmp))
    print(f"  {'model':<20} {'T':>3}  {'equal':>5}  {cuda.device.type + ' img/s':>11}  {cpu_name + ' img/s':>11}  {'ratio':>6}")
    for name, art in arts.items():
        x = inputs_for(art, args.batch)
        if name.startswith("lenet5"):
            small = x[:4]
            errs = same(simulate(art, small, 8, trace=True, backend="reference"),
                        simulate(art, small, 8, trace=True, backend=cuda), f"{name} T=8 (4 images, reference)", trace=True)
            bad += errs
            print(f"  {name:<20} reference on 4 images, T=8: {'OK' if not errs else 'DIFFERENT: ' + ', '.join(errs)}")
        for t in ts:
            simulate(art, x[:8], t, backend=cuda)  # warm-up (kernels, allocator)
            times = []
            for _ in range(3):
                sync()
                t0 = time.perf_counter()
                res = simulate(art, x, t, batch_size=len(x), backend=cuda)
                sync()
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = simulate(art, x, t, backend=cpu_name)
            cpu_s = time.perf_counter() - t0
            errs = same(ref, res, f"{name} T={t}", trace=False)
            bad += errs
            gpu_s = statistics.median(times)
            print(f"  {name:<20} {t:>3}  {'yes' if not errs else 'NO':>5}  {len(x) / gpu_s:>11.1f}  {len(x) / cpu_s:>11.1f}  "
                  f"{cpu_s / gpu_s:>5.1f}x")
    if bad:
        print(f"FAILED: {len(bad)} difference(s): " + "; ".join(bad[:10]))
        return 1
    print("OK: CUDA results identical to the CPU backends and the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
