"""Peer benchmark: snnc's bit-exact simulation against SpikingJelly's converted SNN and the float ANN.

    python benchmarks/bench_peer.py [--models lenet5,vgg,resnet] [--timesteps 8,16,32] [--batch 100]
                                    [--rounds 3] [--threads 2] [--workdir /tmp/snnc-bench-peer]

Runs in the peer's own environment (docs/runtime.md, "Peer benchmark": SpikingJelly is never a
dependency of snnc, nor installed in CI). Without spikingjelly it still runs and says so.

For each example model (examples/models/<name>.onnx, compiled here, at every run, with snnc's
default options: `snnc compile --bits 4 --calib examples/data/mnist_demo.npz -T <T>`, i.e. the
automatic calibration, which tunes the artefact for the T it compiles at, so once per T unless
`--compile-at T0` compiles one artefact at T0 for every T; its torch definition from
examples/train_mnist.py with the weights of <name>.pt2) and each T, on one batch of `--batch`
MNIST demo test images, it times:
  snnc-<backend>  simulate(artefact, x, T, backend=...) for every installed backend but the
                  reference (numpy, numba, torch on the CPU): integer, bit-exact
  sj-single       SpikingJelly's ann2snn.Converter (RateCodingRecipe, mode "max", calibrated on the
                  demo's 256 calibration images): reset_net, then T forward passes (its tutorial)
  sj-multi        the same converted network in multi-step mode (functional.set_step_mode "m"):
                  one forward of the (T, B, ...) input
  ann             the float torch model, one forward pass (independent of T)
All in one process, with torch and numba at `--threads` threads; after an untimed warm-up call of
each (numba's compilation), each round times every system once
(a 0.3 s pause before each, so that no measurement meets the previous one's spinning worker
threads), the systems in turn, for `--rounds` rounds; the table gives medians. "vs sj" = img/s of the
row / img/s of sj-single at the same T. "acc" is the accuracy on the timed batch (a sanity check
that each system computes a working network, not an accuracy measurement).

Bounds per model and T, from the snnc artefact:
  dense  T * MACs/step * 2 / (this machine's float32 GEMM rate, torch, a 1024^3 product timed in
         the rounds): the time of a dense float32 simulation that wastes nothing
  event  synaptic operations actually performed (spikes x fan-out of every spiking input, plus the
         MACs of current-fed layers once: the current is the same at every step) x the measured cost
         of one (a numba kernel adding int8 weight rows into int32 accumulators at random rows,
         on `--threads` threads): the time of an event-driven simulation that does only those adds
Not a test: run it by hand and record its output (the machine is printed first).
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"lenet5": ("lenet5_mnist", "LeNet5"), "vgg": ("vgg_bn_mnist", "VGGBN"), "resnet": ("resnet_mnist", "ResNetMNIST")}
SETTLE_SECONDS = 0.3


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runtime import cpu_model


def compile_command(name: str, out: Path, T: int) -> list[str]:
    """snnc's default compile (automatic calibration for the target T), 4-bit weights."""
    return [sys.executable, "-m", "snnc.compiler.cli.main", "compile", str(ROOT / "examples" / "models" / f"{name}.onnx"),
            "--hw", "hw_v1", "--bits", "4", "--calib", str(ROOT / "examples" / "data" / "mnist_demo.npz"),
            "-T", str(T), "-o", str(out)]


def compile_artefact(name: str, workdir: Path, T: int) -> tuple[Path, str]:
    """Compile afresh (never a stale artefact from an older compiler); returns the artefact and the
    compiler's agreement line."""
    out = workdir / f"{name}_4bit_T{T}.snn"
    out.unlink(missing_ok=True)
    done = subprocess.run(compile_command(name, out, T), check=True, capture_output=True, text=True)
    agree = [line.strip() for line in done.stdout.splitlines() if line.startswith("agreement")]
    return out, (agree[0] if agree else "")


def macs_per_step(art) -> dict[str, int]:
    """MACs per step of every conv / linear layer (what a dense simulation computes every step)."""
    import numpy as np
    from snnc.runtime import Conv, Linear

    return {layer.name: int(np.prod(layer.output_shape)) * int(np.prod(layer.weight.shape[1:]))
            for layer in art.core_layers if isinstance(layer, (Conv, Linear))}


def synops_per_image(art, res, T: int) -> float:
    """Synaptic operations an event-driven simulation performs per image: for each layer with
    synapses, every spike of its inputs times that input's fan-out into the layer, and for a layer
    fed by a current (the same every step) its MACs, once."""
    import numpy as np
    from snnc.runtime import Add, AvgPool, Conv, Linear
    from snnc.runtime.validate import carries_spikes

    spiking = carries_spikes(art)
    shapes = {"input": art.input.shape, **{layer.name: layer.output_shape for layer in art.layers}}
    macs = macs_per_step(art)
    batch = len(res.output_counts)
    total = 0.0
    for layer in art.core_layers:
        if not isinstance(layer, (Conv, Linear, AvgPool, Add)):
            continue
        for src in dict.fromkeys(layer.inputs):
            if not spiking[src]:
                if src in res.counts or src in macs and src != layer.name:  # a synaptic conv's current: every step
                    total += int(np.prod(layer.output_shape)) * T * batch
                else:  # the input current (or a flatten of it): the same every step, integrated once
                    total += macs.get(layer.name, int(np.prod(layer.output_shape))) * batch
                continue
            if src not in res.counts:  # rate-coded input spikes: not counted
                continue
            counts = res.counts[src]
            spikes = float(counts.sum())
            if isinstance(layer, (Conv, Linear)):
                fan_out = macs[layer.name] / int(np.prod(shapes[src]))  # mean over the input's neurons
            elif isinstance(layer, AvgPool):
                fan_out = int(np.prod(layer.output_shape)) * layer.kernel[0] * layer.kernel[1] / int(np.prod(shapes[src]))
            else:
                fan_out = layer.inputs.count(src)
            total += spikes * fan_out
    return total / batch


def synop_seconds(threads: int) -> float | None:
    """Measured seconds of one synaptic operation (int8 weight added into an int32 accumulator,
    rows of 64 at random row offsets, like an event-driven conv's fan-out), on `threads` threads."""
    try:
        import numba
        import numpy as np
    except ImportError:
        return None

    @numba.njit(parallel=True, cache=False)
    def scatter(acc, w, rows, width):
        parts = acc.shape[0]
        per = rows.shape[0] // parts
        for p in numba.prange(parts):
            a = acc[p]
            for e in range(p * per, (p + 1) * per):
                base = rows[e]
                for k in range(width):
                    a[base + k] += w[k]
        return per * parts * width

    rng = np.random.default_rng(0)
    width = 64
    acc = np.zeros((threads, 1 << 16), np.int32)
    w = rng.integers(-7, 8, width).astype(np.int8)
    rows = rng.integers(0, (1 << 16) - width, 1 << 18).astype(np.int64)
    scatter(acc, w, rows, width)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        ops = scatter(acc, w, rows, width)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / ops


class Torch:
    def __init__(self, name: str, cls_name: str, calib, threads: int):
        import torch

        sys.path.insert(0, str(ROOT / "examples"))
        import train_mnist

        self.ann = getattr(train_mnist, cls_name)()
        import logging

        logging.getLogger("torch._library.triton").setLevel(logging.ERROR)  # "Triton not available" (CPU build)
        state = torch.export.load(str(ROOT / "examples" / "models" / f"{name}.pt2")).state_dict
        self.ann.load_state_dict(dict(state))
        self.ann.eval()
        self.sj = self.sj_multi = None
        self.sj_error = None
        try:
            from spikingjelly.activation_based import ann2snn, functional
        except ImportError as exc:
            self.sj_error = f"spikingjelly not importable ({exc}); see docs/runtime.md, Peer benchmark"
            return
        import spikingjelly

        self.sj_version = getattr(spikingjelly, "__version__", None) or _dist_version("spikingjelly")
        self.functional = functional
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(calib, torch.zeros(len(calib), dtype=torch.long)), batch_size=128)
        import contextlib
        import io

        try:
            with contextlib.redirect_stderr(io.StringIO()):  # its calibration progress bar
                converter = ann2snn.Converter(recipe=ann2snn.RateCodingRecipe(dataloader=loader, mode="max"), device="cpu")
                self.sj = converter.convert(copy.deepcopy(self.ann)).eval()
        except Exception as exc:  # noqa: BLE001  (reported verbatim; snnc and the ANN are still timed)
            self.sj = None
            self.sj_error = f"SpikingJelly's Converter failed: {type(exc).__name__}: {exc}"
            return
        self.sj_multi = copy.deepcopy(self.sj)
        functional.set_step_mode(self.sj_multi, "m")

    def ann_logits(self, x):
        import torch

        with torch.inference_mode():
            return self.ann(x)

    def sj_single(self, x, T: int):
        import torch

        with torch.inference_mode():
            self.functional.reset_net(self.sj)
            out = self.sj(x)
            for _ in range(T - 1):
                out = out + self.sj(x)
        return out

    def sj_multistep(self, x, T: int):
        import torch

        with torch.inference_mode():
            self.functional.reset_net(self.sj_multi)
            return self.sj_multi(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).sum(0)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def timed(fn) -> tuple[float, object]:
    time.sleep(SETTLE_SECONDS)
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet5,vgg,resnet")
    ap.add_argument("--timesteps", default="8,16,32")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/snnc-bench-peer")
    ap.add_argument("--compile-at", type=int, default=None, metavar="T0",
                    help="compile one artefact per model at T0 for every T (default: one per T, at that T)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from snnc.runtime import load, simulate
    from snnc.runtime.backend import numba_available
    from snnc.runtime.torch_backend import torch_backend

    backends = {"snnc-numpy": "numpy"}
    if numba_available():
        import numba

        numba.set_num_threads(args.threads)
        backends["snnc-numba"] = "numba"
    backends["snnc-torch"] = torch_backend("cpu")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ts = [int(t) for t in args.timesteps.split(",")]
    demo = np.load(ROOT / "examples" / "data" / "mnist_demo.npz")
    scale = np.float32(demo["x_scale"])
    x = (demo["x"][:args.batch].astype(np.float32) * scale).reshape(-1, 1, 28, 28)
    y = demo["y"][:args.batch].astype(np.int64)
    calib = torch.from_numpy((demo["calib_x"].astype(np.float32) * scale).reshape(-1, 1, 28, 28))
    xt = torch.from_numpy(x)
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    versions = f"torch {torch.__version__}, numpy {np.__version__}"
    if numba_available():
        versions += f", numba {numba.__version__} ({numba.get_num_threads()} threads)"
    versions += f", spikingjelly {_dist_version('spikingjelly')}"
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; "
          f"{versions}; torch threads {torch.get_num_threads()}; load average at start {load_avg:.1f}")
    a = torch.rand(1024, 1024)
    b = torch.rand(1024, 1024)
    a @ b
    t_op = synop_seconds(args.threads)
    print(f"one synaptic operation (int8 row add, numba, {args.threads} threads): "
          + (f"{t_op * 1e9:.3f} ns" if t_op else "n/a (numba not installed)"))
    shown = " ".join(compile_command("MODEL", Path("OUT"), 0)[4:-4]).replace(str(ROOT) + "/", "")
    print(f"snnc artefacts: snnc compile {shown} -T {args.compile_at or '<T>'} (default options: automatic calibration for that T)")
    print(f"batch {args.batch} MNIST demo test images, {args.rounds} alternating rounds, medians; "
          "vs sj = img/s / sj-single img/s at the same T; acc on the timed batch")
    print(f"{'model':<7} {'T':>3}  {'system':<11} {'img/s':>9} {'ms/batch':>9} {'vs sj':>7} {'acc':>6}")
    rows = []
    for key in args.models.split(","):
        name, cls_name = MODELS[key]
        if not (ROOT / "examples" / "models" / f"{name}.onnx").exists() or not (ROOT / "examples" / "models" / f"{name}.pt2").exists():
            print(f"{key}: examples/models/{name}.onnx / .pt2 not present: skipped")
            continue
        arts = {}
        try:
            for T in sorted({args.compile_at} if args.compile_at else set(ts)):
                path, agree = compile_artefact(name, workdir, T)
                arts[T] = load(path)
                print(f"{key}: compiled at T={T}: {agree}", flush=True)
        except subprocess.CalledProcessError as exc:
            print(f"{key}: snnc compile failed ({(exc.stderr or '').strip().splitlines()[-1:]}): skipped")
            continue
        peers = Torch(name, cls_name, calib, args.threads)
        if peers.sj_error:
            print(f"{key}: {peers.sj_error}")
        for T in ts:
            art = arts[args.compile_at or T]
            macs = sum(macs_per_step(art).values())
            systems = {label: (lambda be=be, T=T, art=art: simulate(art, x, T, backend=be)) for label, be in backends.items()}
            if peers.sj is not None:
                systems["sj-single"] = lambda T=T, peers=peers: peers.sj_single(xt, T)
                systems["sj-multi"] = lambda T=T, peers=peers: peers.sj_multistep(xt, T)
            systems["ann"] = lambda peers=peers: peers.ann_logits(xt)
            # untimed warm-up, at every T (a new artefact): numba's compilation (or cache load), torch's first calls
            for be in backends.values():
                simulate(art, x[:8], T, backend=be)
            if peers.sj is not None:
                peers.sj_single(xt[:8], T)
                peers.sj_multistep(xt[:8], T)
            peers.ann_logits(xt[:8])
            times: dict[str, list[float]] = {k: [] for k in systems}
            probe: list[float] = []
            acc: dict[str, float] = {}
            first = None
            for r in range(args.rounds):
                for label, fn in systems.items():
                    s, out = timed(fn)
                    times[label].append(s)
                    if r == 0:
                        if label.startswith("snnc"):
                            pred = out.predictions
                            if first is None:
                                first = out
                            else:  # bit-exact: every backend's counts equal
                                for k in first.counts:
                                    assert np.array_equal(first.counts[k], out.counts[k]), (label, k)
                        else:
                            pred = out.argmax(1).numpy()
                        acc[label] = float((pred == y).mean())
                s, _ = timed(lambda: a @ b)
                probe.append(s)
            rate = 2 * 1024**3 / statistics.median(probe)
            sj = statistics.median(times["sj-single"]) if "sj-single" in times else None
            for label, ts_ in times.items():
                med = statistics.median(ts_)
                vs = f"{sj / med:.1f}x" if sj else "-"
                rows.append(f"{key:<7} {T:>3}  {label:<11} {args.batch / med:>9.1f} {med * 1e3:>9.1f} {vs:>7} {acc[label]:>6.3f}")
            ops = synops_per_image(art, first, T)
            dense = rate / (2 * macs * T)
            event = f"{1 / (ops * t_op):.1f}" if t_op else "n/a"
            rows.append(f"{key:<7} {T:>3}  bounds: MACs/step {macs:,}, dense fp32 {dense:.1f} img/s "
                        f"(GEMM {rate / 1e9:.0f} GFLOP/s); SynOps/img {ops:,.0f}, event-driven {event} img/s")
            print("\n".join(rows[-(len(systems) + 1):]), flush=True)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"snnc backends: identical spike counts in every layer (checked on every model and T); load average at end {load_end:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
