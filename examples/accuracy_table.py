"""Reproduce the accuracy table of docs/compile.md: SNN accuracy by weight bits and timesteps.

    python examples/accuracy_table.py --model examples/models/lenet5_mnist.onnx \
        --mnist ../shared/data/mnist.npz --bits 1,2,3,4 --timesteps 8,16,32,64

With --calibration auto (the default) every T gets its own artefact, calibrated for that T (the
compile's -T); --calibration off compiles one artefact for all T (the behaviour before issue 13).

Calibrates on the first --calib-samples training images, scores on the full test set with the
bit-exact runtime, and prints a Markdown table (float, quantized ANN, SNN at each T). `--score-on
holdout` scores on the last --holdout-samples training images instead (disjoint from the
calibration images; for choosing options without looking at the test set). Post-training
quantization only (no fine-tuning). Extra compile options (--norm, --reset, --per-channel, ...)
are passed through, so the lineage's comparisons use the same script.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snnc.compiler.backend.build import compile_graph, file_sha256, prepare
from snnc.compiler.data import Dataset
from snnc.compiler.evaluate import evaluate
from snnc.compiler.backend.options import CompileOptions
from snnc.hwspec import load_spec


def mnist_split(path: str, split: str, limit: int | None = None) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        x, y = z[f"x_{split}"], z[f"y_{split}"]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return Dataset(x=x, y=y, scale=1.0 / 255.0, source=path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--mnist", required=True, help="MNIST .npz with x_train/y_train/x_test/y_test (uint8)")
    ap.add_argument("--hw", default="hw_v1")
    ap.add_argument("--bits", default="1,2,3,4")
    ap.add_argument("--timesteps", default="8,16,32,64")
    ap.add_argument("--calib-samples", type=int, default=1000)
    ap.add_argument("--test-samples", type=int, default=None, help="default: the whole test set")
    ap.add_argument("--norm", default="percentile", choices=["max", "percentile", "spikenorm"])
    ap.add_argument("--percentile", type=float, default=99.99)
    ap.add_argument("--reset", default="subtract", choices=["subtract", "zero"])
    ap.add_argument("--v-init", default="half", choices=["half", "zero"])
    ap.add_argument("--per-channel", action="store_true")
    ap.add_argument("--calibration", default="auto", choices=["auto", "off"],
                    help="auto (the default): one artefact per T, calibrated for that T; off: one artefact for all T")
    ap.add_argument("--bias-correction", action="store_true")
    ap.add_argument("--rounding", default="auto", choices=["auto", "nearest", "gptq"])
    ap.add_argument("--score-on", default="test", choices=["test", "holdout"],
                    help="test: the test split; holdout: the last --holdout-samples training images")
    ap.add_argument("--holdout-samples", type=int, default=1000)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    spec = load_spec(args.hw)
    graph = prepare(args.model)
    calib = mnist_split(args.mnist, "train", args.calib_samples)
    if args.score_on == "holdout":
        full = mnist_split(args.mnist, "train")
        n = len(full)
        if args.calib_samples + args.holdout_samples > n:
            raise SystemExit(f"--calib-samples + --holdout-samples exceed the {n} training images")
        test = Dataset(x=full.x[n - args.holdout_samples:], y=full.y[n - args.holdout_samples:], scale=full.scale,
                       source=f"{args.mnist} (training images {n - args.holdout_samples}..{n - 1})")
    else:
        test = mnist_split(args.mnist, "test", args.test_samples)
    ts = [int(t) for t in args.timesteps.split(",")]
    rows = []
    float_acc = None
    for bits in [int(b) for b in args.bits.split(",")]:
        row = {"bits": bits, "snn": {}, "seconds": {}}
        # with --calibration auto each T gets its own artefact (the compile's -T is its target)
        for group in ([[t] for t in ts] if args.calibration == "auto" else [ts]):
            opts = CompileOptions(bits=bits, timesteps=max(group), norm=args.norm, percentile=args.percentile,
                                  reset=args.reset, v_init=args.v_init, per_channel=args.per_channel,
                                  calib_samples=args.calib_samples, calibration=args.calibration,
                                  bias_correction=args.bias_correction, rounding=args.rounding)
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as d:
                res = compile_graph(graph, spec, opts, calib, out=Path(d) / "m.snn", source_sha256=file_sha256(args.model))
            if res.exit_code != 0:
                print(f"bits={bits}: does not fit {spec.name}", file=sys.stderr)
                break
            row["seconds"][max(group)] = round(time.perf_counter() - t0, 1)
            acc = evaluate(res.artefact, test, group, graph=graph if float_acc is None else None, qann=res.lowered.qann)
            if float_acc is None:
                float_acc = acc.float_acc
            row["snn"].update(acc.snn_acc)
            row.setdefault("qann", {})[max(group)] = acc.qann_acc
            print(f"bits={bits} T={group}: qann {acc.qann_acc:.4f} snn {acc.snn_acc} "
                  f"(compile {row['seconds'][max(group)]} s)", file=sys.stderr, flush=True)
        else:
            rows.append(row)

    name = Path(args.model).name
    print(f"model {name}; float accuracy {float_acc * 100:.2f}% on {test.x.shape[0]} {args.score_on} images; "
          f"norm={args.norm}{' p' + str(args.percentile) if args.norm == 'percentile' else ''} reset={args.reset} "
          f"v_init={args.v_init}{' per-channel' if args.per_channel else ''} rounding={args.rounding}; machine: {platform.machine()} {platform.processor() or ''}")
    print()
    print("| model | bits | calibration | quantized ANN | " + " | ".join(f"SNN T={t}" for t in ts) + " |")
    print("|---|---|---|---|" + "---|" * len(ts))
    for r in rows:
        qann = " / ".join(f"{v * 100:.2f}%" for v in r["qann"].values())  # one per artefact
        print(f"| {name} | {r['bits']} | {args.calibration} | {qann} | "
              + " | ".join(f"{r['snn'][t] * 100:.2f}%" for t in ts) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": name, "float": float_acc, "rows": rows, "args": vars(args)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
