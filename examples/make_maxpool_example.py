"""Train the MaxPool CNN of docs/maxpool.md: a LeNet-style network with MaxPool2d, trained plainly
(Adam, 2 epochs, nn.ReLU, no clipping), exported to examples/models/maxpool_mnist.onnx.

    python examples/make_maxpool_example.py --data ../shared/data/mnist.npz --out examples/models

It measures how snnc's two answers to max pooling convert it post-training: replacing each MaxPool
by an AvgPool of the same window (`--maxpool avgpool`, on hw_v1), and the exact spiking max pool
(a spec whose core has max pooling, examples/hw_v1_maxpool.yaml).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_mnist import accuracy, export_onnx, load_mnist, predict, set_determinism, sha256_file, to_input, train  # noqa: E402


def build() -> nn.Module:
    """conv5x5(1->6) ReLU MaxPool2 conv5x5(6->16) ReLU MaxPool2 Flatten Linear(256->64) ReLU Linear(64->10)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/mnist.npz")
    p.add_argument("--out", default="examples/models")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    set_determinism(args.seed)
    data = load_mnist(args.data)
    model = build()
    t0 = time.time()
    train(model, to_input(data["x_train"]), torch.from_numpy(data["y_train"].astype("int64")), epochs=args.epochs,
          seed=args.seed)
    acc = accuracy(predict(model, to_input(data["x_test"])), data["y_test"])
    print(f"maxpool CNN: float test accuracy {acc:.4f} ({time.time() - t0:.0f} s training)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = export_onnx(model, out / "maxpool_mnist.onnx")
    (out / "maxpool_mnist.json").write_text(json.dumps({
        "arch": "maxpool_lenet", "epochs": args.epochs, "seed": args.seed, "optimizer": "Adam",
        "float_test_accuracy": acc, "onnx_sha256": sha256_file(path),
        "command": "python examples/make_maxpool_example.py " + " ".join(argv or sys.argv[1:]),
    }, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
