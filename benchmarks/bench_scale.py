"""Scale benchmark: check, compile and simulate a ResNet-18-sized network on one machine.

    python benchmarks/bench_scale.py [--spec benchmarks/specs/big.yaml] [--bits 4] [--calib 512]
                                     [--timesteps 16] [--batch 16] [--backend auto] [--threads 2]
                                     [--workdir DIR] [--step-times] [--profile]

The network is the CIFAR form of ResNet-18 (He et al. 2016; 11.2 M parameters): a 3x3 stem
conv(3->64)-BN-ReLU, four stages of two BasicBlocks (64, 128, 256, 512 channels; the first block
of stages 2-4 with stride 2 and a 1x1 conv + BN projection), a 4x4 average pool, flatten and the
final Linear(512, 10) on the host. Its weights are synthetic (torch's default initialisation,
seed 0, and random BatchNorm statistics); it is exported to ONNX with torch into the work
directory. The calibration and simulation inputs are synthetic too: uniform [0, 1) images of
shape (3, 32, 32), seed 1.

Each phase runs in its own process, so that its wall time and peak resident memory (ru_maxrss of
that process, from os.wait4) are its own:
  export    torch builds the model and writes model.onnx and the synthetic inputs (not timed as snnc)
  check     snnc check model.onnx --hw SPEC --bits N
  compile   snnc compile model.onnx --hw SPEC --bits N --calib calib.npz --calib-samples 512 -T T
            --calibration auto|off (`--calibration`; default auto, as snnc compile's)
  simulate  runtime.simulate(artefact, x[:batch], T, backend=...) in a fresh process (the time of
            the simulate call alone, and of the whole process with loading the artefact)
Then the artefact's size against its packed weight bits (the sum over core layers of weights x
bits, what `snnc inspect` reports as weight memory). Not a test: run it by hand and record its
output in docs/scale.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "big.yaml"
GIB = 1 << 30

EXPORT = r'''
import sys, numpy as np, torch, torch.nn as nn
out, n_calib, n_sim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)

def cbr(cin, cout, stride=1, relu=True):
    mods = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
    return mods + [nn.ReLU()] if relu else mods

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*cbr(cin, cout, stride), *cbr(cout, cout, 1, relu=False))
        self.proj = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else None)
        self.relu = nn.ReLU()
    def forward(self, x):
        return self.relu(self.body(x) + (x if self.proj is None else self.proj(x)))

class ResNet18(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        layers, cin = [*cbr(3, 64)], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.features = nn.Sequential(*layers, nn.AvgPool2d(4), nn.Flatten())
        self.fc = nn.Linear(512, classes)
    def forward(self, x):
        return self.fc(self.features(x))

m = ResNet18()
for mod in m.modules():  # random BN statistics, so that folding BatchNorm is not the identity
    if isinstance(mod, nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)
        mod.weight.data.uniform_(0.5, 1.5); mod.bias.data.uniform_(-0.1, 0.1)
m.eval()
params = sum(p.numel() for p in m.parameters())
torch.onnx.export(m, torch.zeros(1, 3, 32, 32), f"{out}/model.onnx", input_names=["x"], output_names=["logits"],
                  dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False, opset_version=17)
rng = np.random.default_rng(1)
np.savez(f"{out}/calib.npz", calib_x=rng.random((n_calib, 3, 32, 32), dtype=np.float32))
np.save(f"{out}/sim_x.npy", rng.random((n_sim, 3, 32, 32), dtype=np.float32))
print(params)
'''

SIMULATE = r'''
import sys, time, json
t0 = time.perf_counter()
import numpy as np
from snnc import runtime
art = runtime.load(sys.argv[1])
x = np.load(sys.argv[2])[: int(sys.argv[4])]
t1 = time.perf_counter()
res = runtime.simulate(art, x, int(sys.argv[3]), backend=sys.argv[5])
t2 = time.perf_counter()
warm = None
if sys.argv[6] == "1":  # a second call: numba compiled its kernels in the first
    t3 = time.perf_counter(); runtime.simulate(art, x, int(sys.argv[3]), backend=sys.argv[5]); warm = time.perf_counter() - t3
print(json.dumps({"load_s": t1 - t0, "simulate_s": t2 - t1, "warm_s": warm,
                  "backend": runtime.backend.resolve_backend(sys.argv[5]),
                  "predictions": np.bincount(res.predictions, minlength=10).tolist()}))
'''


STEP_TIMES = r'''
import sys, time, json
from snnc.compiler.backend.build import compile_graph, prepare
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.data import load_dataset
from snnc.hwspec import load_spec
model, spec, bits, calib, n, T, calibration, per_channel = sys.argv[1:9]
t0 = time.perf_counter()
graph = prepare(model)
times, last = {"import + prepare": time.perf_counter() - t0}, [time.perf_counter()]
def hook(name, state):
    now = time.perf_counter(); times[name] = now - last[0]; last[0] = now
opts = CompileOptions(bits=int(bits), timesteps=int(T), calib_samples=int(n), calibration=calibration,
                      per_channel=per_channel == "1")
compile_graph(graph, load_spec(spec), opts, load_dataset(calib), hooks=[hook])
print(json.dumps(times))
'''

MEM_LIMIT = [None]  # bytes, RLIMIT_AS of every phase


def _limit_memory() -> None:
    import resource

    if MEM_LIMIT[0]:
        resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT[0], MEM_LIMIT[0]))


def run_phase(name: str, argv: list[str], env: dict) -> dict:
    """Run argv as a child; its wall time, peak RSS (os.wait4's ru_maxrss, KiB on Linux) and output."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT, preexec_fn=_limit_memory)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in (0,):
        sys.stdout.write(stdout[-4000:] + stderr[-4000:])
        print(f"{name}: wall {wall:.1f} s, cpu {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS "
              f"{usage.ru_maxrss * 1024 / GIB:.2f} GiB")
        raise SystemExit(f"error: phase {name} exited {proc.returncode}: {' '.join(argv)}")
    return {"phase": name, "wall_s": wall, "peak_rss_gib": usage.ru_maxrss * 1024 / GIB,
            "cpu_s": usage.ru_utime + usage.ru_stime, "stdout": stdout, "stderr": stderr}


def packed_weight_bits(artefact: Path) -> int:
    from snnc import runtime

    art = runtime.load(str(artefact))
    total = 0
    for layer in art.core_layers:
        w = getattr(layer, "weight", None)
        if w is not None:
            total += int(w.size) * int(layer.bits)
    return total


def sections(artefact: Path) -> dict[str, int]:
    """Bytes stored per top-level artefact section (weights/, golden/, host/, manifest)."""
    out: dict[str, int] = {}
    with zipfile.ZipFile(artefact) as z:
        for info in z.infolist():
            key = info.filename.split("/", 1)[0] if "/" in info.filename else "manifest"
            out[key] = out.get(key, 0) + info.compress_size
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), platform.machine())
    except OSError:
        return platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=str(SPEC))
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--calib", type=int, default=512, help="calibration images")
    ap.add_argument("--timesteps", "-T", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16, help="images simulated")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--calibration", default="auto", choices=("auto", "off"),
                    help="snnc compile --calibration (default auto, as snnc compile's; see docs/scale.md)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-channel", action="store_true", help="snnc compile --per-channel (one θ per channel)")
    ap.add_argument("--mem-limit-gib", type=float, default=12.0,
                    help="address-space limit of every phase (a phase over it fails with MemoryError instead of "
                         "the machine's OOM killer ending it, or its neighbours)")
    ap.add_argument("--workdir", default=None, help="keep the model and artefact here (default: a temp dir)")
    ap.add_argument("--profile", action="store_true", help="also run compile under cProfile (compile.prof)")
    ap.add_argument("--step-times", action="store_true",
                    help="also compile once more in a process that times each build step (no artefact written)")
    args = ap.parse_args()

    MEM_LIMIT[0] = int(args.mem_limit_gib * GIB) if args.mem_limit_gib else None
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="snnc-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads), "NUMBA_NUM_THREADS": str(args.threads)}
    py, snnc = sys.executable, str(Path(sys.executable).with_name("snnc"))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}")
    print(f"threads: {args.threads}; spec: {Path(args.spec).relative_to(ROOT) if Path(args.spec).is_relative_to(ROOT) else args.spec}; "
          f"bits {args.bits}{' --per-channel' if args.per_channel else ''}; calib {args.calib} synthetic images; "
          f"--calibration {args.calibration}; T={args.timesteps}; memory limit {args.mem_limit_gib} GiB per phase; "
          f"simulation batch {args.batch} synthetic images; workdir {work}")

    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows = []
    ex = run_phase("export (torch)", [py, "-c", EXPORT, str(work), str(args.calib), str(args.batch)], env)
    params = int(ex["stdout"].split()[-1])
    print(f"model: CIFAR ResNet-18, {params:,} parameters, input (3, 32, 32), synthetic weights")
    rows.append(ex)
    model, art = work / "model.onnx", work / "model.snn"
    rows.append(run_phase("snnc check", [snnc, "check", str(model), "--hw", args.spec, "--bits", str(args.bits)], env))
    compile_argv = ["compile", str(model), "--hw", args.spec, "--bits", str(args.bits), "--calib",
                    str(work / "calib.npz"), "--calib-samples", str(args.calib), "-T", str(args.timesteps),
                    "--calibration", args.calibration, "-o", str(art)] + (["--per-channel"] if args.per_channel else [])
    rows.append(run_phase("snnc compile", [snnc, *compile_argv], env))
    sim = run_phase(f"simulate T={args.timesteps} batch {args.batch}",
                    [py, "-c", SIMULATE, str(art), str(work / "sim_x.npy"), str(args.timesteps), str(args.batch),
                     args.backend, "1"], env)
    rows.append(sim)
    s = json.loads(sim["stdout"].strip().splitlines()[-1])

    print()
    print(f"{'phase':<28} {'wall s':>8} {'cpu s':>8} {'peak RSS GiB':>13}")
    for r in rows:
        print(f"{r['phase']:<28} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_rss_gib']:>13.2f}")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"simulate call ({s['backend']}): first {s['simulate_s']:.2f} s, second {s['warm_s']:.2f} s "
          f"= {args.batch * args.timesteps / s['warm_s']:.0f} image-steps/s; artefact load {s['load_s']:.2f} s")
    comp = rows[2]
    print("\ncompile output:")
    print("".join("  " + ln + "\n" for ln in (comp["stdout"] + comp["stderr"]).strip().splitlines()))

    bits = packed_weight_bits(art)
    size = art.stat().st_size
    sec = sections(art)
    packed = bits / 8
    print(f"packed weight bits: {bits:,} ({packed / 2**20:.2f} MiB)")
    print(f"artefact: {size:,} bytes ({size / 2**20:.2f} MiB) = {size / packed:.3f} x packed weights; sections: "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(sec.items())))
    without_golden = size - sec.get("golden", 0)
    print(f"artefact without golden vectors: {without_golden:,} bytes = {without_golden / packed:.4f} x packed "
          f"({(without_golden / packed - 1) * 100:+.2f}%); weights/ alone: {sec.get('weights', 0) / packed:.4f} x packed")
    c = comp
    ok = c["wall_s"] < 60 and max(r["peak_rss_gib"] for r in rows[1:]) < 4
    print(f"\ntargets (compile < 60 s, peak < 4 GiB): compile {c['wall_s']:.1f} s, peak "
          f"{max(r['peak_rss_gib'] for r in rows[1:]):.2f} GiB -> {'met' if ok else 'NOT met'}")
    if args.step_times:
        st = run_phase("compile (step times)", [py, "-c", STEP_TIMES, str(model), args.spec, str(args.bits),
                                                 str(work / "calib.npz"), str(args.calib), str(args.timesteps),
                                                 args.calibration, "1" if args.per_channel else "0"], env)
        times = json.loads(st["stdout"].strip().splitlines()[-1])
        print(f"\ncompile steps (a second compile, wall {st['wall_s']:.1f} s, cpu {st['cpu_s']:.1f} s, peak RSS "
              f"{st['peak_rss_gib']:.2f} GiB): " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    if args.profile:
        prof = work / "compile.prof"
        run_phase("compile (cProfile)", [py, "-m", "cProfile", "-o", str(prof), snnc, *compile_argv], env)
        import pstats

        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(35)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
