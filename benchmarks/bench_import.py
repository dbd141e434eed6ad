"""`snnc check` of the shipped models as ONNX and as .pt2, side by side: median wall time of
each, as a fresh process (what a user waits for), and the machine.

    .venv/bin/python benchmarks/bench_import.py [--runs 5] [--bits 4]

Rows: `onnx` (the ONNX front end), `pt2` (the default route: the fast reader, no torch),
`pt2 torch` (SNNC_PT2_READER=torch: torch.export.load, the route before the fast reader), and
the cost of `import torch` alone. Runs are interleaved so that load on the machine hits all rows alike.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("vgg_bn_mnist", "lenet5_mnist")


def snnc() -> list[str]:
    exe = Path(sys.executable).with_name("snnc")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snnc.compiler.cli.main"]


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if res.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()[-300:]}")
    return dt


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    try:
        import importlib.metadata as md

        torch_version = md.version("torch")
    except Exception:
        torch_version = "not installed"
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, load {load:.2f}; "
            f"Python {platform.python_version()}, torch {torch_version}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bits", default="4")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "SNNC_PT2_READER"}
    rows: dict[str, list[str] | None] = {}
    envs: dict[str, dict] = {}
    for m in MODELS:
        base = snnc() + ["check"]
        tail = ["--hw", "hw_v1", "--bits", args.bits]
        rows[f"{m}.onnx"] = base + [f"examples/models/{m}.onnx"] + tail
        rows[f"{m}.pt2"] = base + [f"examples/models/{m}.pt2"] + tail
        rows[f"{m}.pt2 torch"] = base + [f"examples/models/{m}.pt2"] + tail
        envs[f"{m}.pt2 torch"] = {**env, "SNNC_PT2_READER": "torch"}
    rows["import torch"] = [sys.executable, "-c", "import torch"]
    times: dict[str, list[float]] = {k: [] for k in rows}
    for _ in range(args.runs):
        for name, cmd in rows.items():
            times[name].append(timed(cmd, envs.get(name, env)))
    print(f"machine: {machine()}")
    print(f"snnc check --hw hw_v1 --bits {args.bits}, median of {args.runs} runs (fresh process each)")
    print(f"{'':24s} {'median s':>9s} {'min s':>7s} {'max s':>7s}")
    for name, ts in times.items():
        print(f"{name:24s} {statistics.median(ts):9.2f} {min(ts):7.2f} {max(ts):7.2f}")
    for m in MODELS:
        onnx, fast, slow = (statistics.median(times[f"{m}{s}"]) for s in (".onnx", ".pt2", ".pt2 torch"))
        print(f"{m}: pt2/onnx {fast / onnx:.2f}x (torch route {slow / onnx:.2f}x)")


if __name__ == "__main__":
    main()
