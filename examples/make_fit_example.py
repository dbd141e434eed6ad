#!/usr/bin/env python3
"""Train and export `wide_cnn_mnist`: a small plain CNN that does NOT fit hw_v1 at 4 bits
everywhere (docs/fit.md, issue 15's "make it fit").

  conv3x3(1->16, pad 1) ReLU AvgPool2  conv3x3(16->48, pad 1) ReLU  conv3x3(48->48, pad 1) ReLU
  AvgPool2  flatten (48*7*7)  Linear(2352->64) ReLU  Linear(64->10)

The third convolution reads 48 channels: hw_v1's synapse row (1024 bits) takes a 3x3 conv of at
most 28 input channels at 4 bits, 37 at 3 bits and 56 at 2 bits, so that layer fits at 2 bits or
1 only, and `--bits 4` (and 3) fail `snnc check` with HW001; `--bits 2` fits every layer.
No BatchNorm, no dropout: plain convolutions and ReLUs, as the compiler takes them directly.

Trained with Adam (one-cycle schedule, random shifts of up to 2 px) for 3 epochs on the MNIST
training set, seed 0, with the helpers of examples/train_mnist.py; inputs are pixels / 255.

Usage (from the repository root):

  python examples/make_fit_example.py --epochs 3 --seed 0 --out examples/models

writes examples/models/wide_cnn_mnist.onnx and wide_cnn_mnist.json (the record: command, test
accuracy of the float model, sha256). `--write-spec` (no training) writes hw_v1_500kbit.yaml:
hw_v1 with max_weight_memory_bits = 500,000 (an assumed budget, stated as such), under which
`--bits auto` must trade layers against each other (docs/fit.md). `--data` is an MNIST .npz with uint8 x_train, y_train,
x_test, y_test (default: ../shared/data/mnist.npz, which exists only on developer machines).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_mnist as tm  # noqa: E402  (the shared training and export helpers)

NAME = "wide_cnn_mnist"
BUDGET_SPEC = "hw_v1_500kbit.yaml"
BUDGET_BITS = 500_000


def write_budget_spec(out: Path) -> Path:
    """hw_v1.yaml with its name, description and max_weight_memory_bits replaced (text edits, so
    every other parameter and its provenance note stay as shipped)."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "hwspec" / "hw_v1.yaml").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("name: "):
            lines[i] = "name: hw_v1_500kbit\n"
        elif line.startswith("description: "):
            lines[i] = ("description: hw_v1 with an assumed weight-memory budget of 500,000 bits "
                        "(examples/make_fit_example.py; docs/fit.md)\n")
        elif line.strip() == "max_weight_memory_bits:":
            assert lines[i + 1].strip().startswith("value:"), "hw_v1.yaml changed: update write_budget_spec"
            lines[i + 1] = lines[i + 1].split("value:")[0] + f"value: {BUDGET_BITS}\n"
    path = out / BUDGET_SPEC
    path.write_text("".join(lines), encoding="utf-8")
    return path


class WideCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.pool1 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(16, 48, 3, padding=1)
        self.conv3 = nn.Conv2d(48, 48, 3, padding=1)  # 48 input channels: > 28 (4 bits), > 37 (3 bits)
        self.pool2 = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(48 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = self.pool2(torch.relu(self.conv3(x)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=str(tm.DEFAULT_DATA))
    p.add_argument("--out", default="examples/models")
    p.add_argument("--max-batches", type=int, default=None, help="stop after this many batches (for a quick try)")
    p.add_argument("--write-spec", action="store_true", help=f"only write {BUDGET_SPEC} (no training)")
    args = p.parse_args(argv)
    if args.write_spec:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        print(f"wrote {write_budget_spec(Path(args.out))}")
        return 0
    if not Path(args.data).is_file():
        print(f"error: {args.data}: no such file (an MNIST .npz with x_train, y_train, x_test, y_test)", file=sys.stderr)
        return 2
    tm.set_determinism(args.seed)
    d = np.load(args.data)
    x = torch.from_numpy((d["x_train"].astype(np.float32) * tm.X_SCALE)[:, None])
    y = torch.from_numpy(d["y_train"].astype(np.int64))
    xt = torch.from_numpy((d["x_test"].astype(np.float32) * tm.X_SCALE)[:, None])
    t0 = time.time()
    model = tm.train(WideCNN(), x, y, epochs=args.epochs, seed=args.seed, max_batches=args.max_batches)
    acc = tm.accuracy(tm.predict(model, xt).numpy(), d["y_test"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = tm.export_onnx(model, out / f"{NAME}.onnx")
    record = {
        "model": NAME, "architecture": "conv3x3(1->16) ReLU AvgPool2 conv3x3(16->48) ReLU conv3x3(48->48) ReLU "
                                      "AvgPool2 Linear(2352->64) ReLU Linear(64->10)",
        "command": shlex.join(["python", "examples/make_fit_example.py", *(sys.argv[1:] if argv is None else argv)]),
        "epochs": args.epochs, "seed": args.seed, "optimizer": "Adam, one-cycle lr 2e-3, batch 128, shifts <= 2 px",
        "float_test_accuracy": acc, "test_samples": int(len(d["y_test"])),
        "train_seconds": round(time.time() - t0, 1), "onnx_sha256": tm.sha256_file(onnx_path),
        "onnx_ops": tm.onnx_op_types(onnx_path), "torch": torch.__version__,
    }
    (out / f"{NAME}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"float test accuracy {acc:.4f}; wrote {onnx_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
