#!/usr/bin/env python
"""The long fuzz run: the same targets and mutators as test_fuzz_loaders.py, driven by `random`
(no hypothesis bookkeeping), so hundreds of thousands of cases fit in minutes.

    .venv/bin/python tests/fuzz/run_fuzz.py --cases 25000 --seed 1        # per target
    .venv/bin/python tests/fuzz/run_fuzz.py --cases 2000 --only onnx spec

Prints, per target, the cases run, project errors, clean loads, findings (non-project
exceptions, grouped by type and the innermost snnc frame) and the time; exit 1 on any finding.
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import targets as T  # noqa: E402


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/snnc" in f.filename or "/work/" in f.filename]
    f = (frames or traceback.extract_tb(exc.__traceback__))[-1]
    return f"{os.path.relpath(f.filename)}:{f.lineno} ({f.name})"


def cases(name: str, rng: random.Random):
    di = lambda lo, hi: rng.randint(lo, hi)  # noqa: E731
    dc = lambda seq: rng.choice(list(seq))  # noqa: E731
    if name == "onnx":
        if rng.random() < 0.6:
            return T.target_onnx, T.mutate_onnx(di, dc, T.seed("onnx")), {"pipeline": True}
        return T.target_onnx, T.byte_mutations(T.seed("onnx"), di, dc), {}
    if name == "spec":
        blob = T.mutate_yaml(di, dc) if rng.random() < 0.5 else T.byte_mutations(T.seed("spec"), di, dc)
        return T.target_spec, blob, {}
    if name == "data":
        k = di(0, 3)
        if k == 0:
            return T.target_data, T.mutate_npz(di, dc), {"name": "calib.npz"}
        key, fname = {1: ("npz", "calib.npz"), 2: ("npzc", "calib.npz"), 3: ("npy", "calib.npy")}[k]
        return T.target_data, T.byte_mutations(T.seed(key), di, dc), {"name": fname}
    if name == "artefact":
        return T.target_artefact, T.byte_mutations(T.seed("artefact"), di, dc), {}
    raise ValueError(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=2000, help="cases per target")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=["onnx", "spec", "data", "artefact"])
    args = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")  # careless-data warnings are expected here; findings are exceptions
    findings_total = 0
    for name in args.only:
        rng = random.Random(f"{args.seed}:{name}")
        found: dict[str, list] = collections.defaultdict(list)
        clean = errors = 0
        t0 = time.perf_counter()
        for i in range(args.cases):
            target, blob, kw = cases(name, rng)
            try:
                target(blob, **kw)
                clean += 1
            except T.project_errors():
                errors += 1
            except Exception as exc:  # noqa: BLE001 - a finding
                found[f"{type(exc).__name__} at {_where(exc)}"].append((i, " ".join(str(exc).split())[:160]))
        dt = time.perf_counter() - t0
        n = sum(len(v) for v in found.values())
        findings_total += n
        print(f"{name}: {args.cases} cases in {dt:.1f} s ({args.cases / dt:.0f}/s): {clean} loaded, "
              f"{errors} project errors, {n} findings in {len(found)} places", flush=True)
        for where, hits in sorted(found.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(hits):6d}  {where}: e.g. case {hits[0][0]}: {hits[0][1]}")
    T.cleanup()
    return 1 if findings_total else 0


if __name__ == "__main__":
    sys.exit(main())
