#!/usr/bin/env python3
"""Quantization-aware fine-tuning of the example LeNet-5 for 1-, 2- and 4-bit weights.

    python examples/finetune_mnist.py --bits 1,2,4 --out examples/models

For each bit width: fine-tunes `--model` on the MNIST training set with snnc's QAT
(`snnc.compiler.finetune`, the same as `snnc finetune`), writes `lenet5_mnist_qat{b}.onnx` and a
JSON record (command, options, training history, the quantized ANN's test accuracy in torch,
whether `snnc compile --norm max --per-channel` reproduces the trained integers), and, with
--eval-samples, the bit-exact SNN accuracy on that many test images. The full accuracy table:

    python examples/accuracy_table.py --model examples/models/lenet5_mnist_qat2.onnx \
        --mnist ../shared/data/mnist.npz --bits 2 --timesteps 4,8,16,32 --norm max --per-channel
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "mnist.npz"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(REPO_ROOT / "examples" / "models" / "lenet5_mnist.onnx"))
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="MNIST .npz (uint8 x_train, y_train, x_test, y_test)")
    ap.add_argument("--bits", default="1,2,4")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--act-levels", type=int, default=0, help="round activations to L levels in training (0: clip only)")
    ap.add_argument("--timesteps", default="0",
                    help="train the SNN itself over this many steps (BPTT; a list: one drawn per batch; 0: the quantized ANN)")
    ap.add_argument("--percentile", type=float, default=99.99)
    ap.add_argument("--max-shift", type=int, default=2)
    ap.add_argument("--per-tensor", action="store_true", help="one threshold per layer (default: per channel)")
    ap.add_argument("--calib-samples", type=int, default=1000)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--recalibrate", default="epoch", choices=["epoch", "start"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--eval-samples", type=int, default=0, help="also compile and score the SNN on this many test images")
    ap.add_argument("--eval-timesteps", default="16,32")
    ap.add_argument("--out", default=str(REPO_ROOT / "examples" / "models"))
    ap.add_argument("--suffix", default="", help="appended to the output names (experiments)")
    ap.add_argument("--stem", default=None, help="output name stem (default: the input model's)")
    args = ap.parse_args(argv)

    import torch

    from snnc.compiler.backend.build import prepare
    from snnc.compiler.data import Dataset
    from snnc.compiler.finetune import FinetuneOptions, accuracy, compile_matches, finetune, save_onnx
    from snnc.compiler.backend.options import CompileOptions
    from snnc.hwspec import load_spec

    torch.set_num_threads(args.threads)
    spec = load_spec("hw_v1")
    graph = prepare(args.model)
    with np.load(args.data, allow_pickle=False) as z:
        train = Dataset(x=z["x_train"], y=z["y_train"], scale=1.0 / 255.0, source=args.data)
        test = Dataset(x=z["x_test"], y=z["y_test"], scale=1.0 / 255.0, source=args.data)
    calib = Dataset(x=train.x[:args.calib_samples], y=train.y[:args.calib_samples], scale=train.scale, source=args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or Path(args.model).stem
    for bits in [int(b) for b in args.bits.split(",")]:
        opts = FinetuneOptions(bits=bits, epochs=args.epochs, lr=args.lr, per_channel=not args.per_tensor,
                               percentile=args.percentile, act_levels=args.act_levels, calib_samples=args.calib_samples,
                               max_shift=args.max_shift, max_steps=args.max_steps, recalibrate=args.recalibrate, device=args.device, seed=args.seed,
                               timesteps=tuple(int(t) for t in args.timesteps.split(",")) if "," in args.timesteps else int(args.timesteps))
        res = finetune(graph, spec, train, opts, progress=sys.stderr.isatty(), log=lambda s: print(f"[{bits}-bit] {s}", flush=True))
        path = save_onnx(res.graph, out / f"{stem}_qat{bits}{args.suffix}.onnx")
        qann_acc = accuracy(res.model, test)
        print(f"[{bits}-bit] quantized ANN (torch) test accuracy {qann_acc * 100:.2f}%; wrote {path}", flush=True)
        copts = CompileOptions(bits=bits, timesteps=32, norm="max", per_channel=not args.per_tensor,
                               calib_samples=args.calib_samples)
        match = compile_matches(prepare(path), res.final, spec, copts, calib)
        print(f"[{bits}-bit] snnc compile --norm max reproduces the trained integers: {match.ok} {match.problems or ''}", flush=True)
        record = {
            "model": path.name, "source_model": Path(args.model).name, "bits": bits,
            "command": shlex.join(["python", "examples/finetune_mnist.py", *argv]),
            "compile_command": (f"snnc compile {path.name} --bits {bits} --norm max{'' if args.per_tensor else ' --per-channel'}"
                                f" --calib {os.path.relpath(args.data)} --data-scale {1 / 255!r} --calib-samples {args.calib_samples}"),
            "options": opts.to_dict(), "device": res.device, "seconds": res.seconds, "history": res.history,
            "quantized_ann_test_accuracy": qann_acc, "test_images": len(test),
            "compile_reproduces_integers": match.ok, "compile_problems": match.problems + res.final.problems,
            "layers": [{"node": l.node, "theta_min": int(l.theta.min()), "theta_max": int(l.theta.max()),
                        "lam_in": l.lam_in, "lam_out": l.lam_out, "reduced": l.reduced, "nudged": l.nudged,
                        "max_nudge": l.max_nudge} for l in res.final.layers],
            "onnx_sha256": sha256(path), "torch_version": torch.__version__,
        }
        if args.eval_samples:
            from snnc.compiler.backend.build import compile_graph
            from snnc.compiler.evaluate import evaluate

            ts = [int(t) for t in args.eval_timesteps.split(",")]
            t0 = time.time()
            r = compile_graph(prepare(path), spec, copts, calib)
            acc = evaluate(r.artefact, test, ts, qann=r.lowered.qann, limit=args.eval_samples)
            record["snn_quick"] = {"samples": acc.samples, "qann": acc.qann_acc, "snn": acc.snn_acc}
            print(f"[{bits}-bit] {acc.samples} test images: quantized ANN {acc.qann_acc * 100:.2f}%, SNN "
                  + ", ".join(f"T={t} {a * 100:.2f}%" for t, a in acc.snn_acc.items()) + f" ({time.time() - t0:.0f} s)", flush=True)
        path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
