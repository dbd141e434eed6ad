"""Export the small ONNX models that docs/check.md and the README use with `snnc check`.

    python examples/make_check_examples.py [--out examples/models]

- lenet5_fits.onnx: LeNet-5 (ReLU after every conv, average pooling; fully connected layers
  narrowed to 400-64-32-10 to keep the file small): fits hw_v1 at 1-4 bits.
- wide_conv.onnx:  conv1 (3->57, 3x3) then conv2 with 57 input channels (3x3): fails hw_v1 at
  --bits 2 (limit 56); `snnc check` suggests --bits 1 (limit 113).

Random weights (seeded): these models show the constraint check, not accuracy.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.AvgPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 64)
        self.fc2 = nn.Linear(64, 32)
        self.fc3 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class WideConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 57, 3, padding=1)
        self.conv2 = nn.Conv2d(57, 32, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


MODELS = {
    "lenet5_fits.onnx": (LeNet5, (1, 1, 28, 28)),
    "wide_conv.onnx": (WideConv, (1, 3, 16, 16)),
}


def export(name: str, out_dir: Path) -> Path:
    cls, shape = MODELS[name]
    torch.manual_seed(0)
    model = cls().eval()
    path = out_dir / name
    with warnings.catch_warnings():  # the legacy exporter (no onnxscript needed) warns that it is legacy
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, torch.zeros(shape), str(path), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "models")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        p = export(name, args.out)
        print(f"wrote {p} ({p.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
