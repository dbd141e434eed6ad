#!/usr/bin/env python3
"""Train the example MNIST CNNs and export them for snnc (ONNX + torch.export .pt2 + a JSON record).

Two architectures, both convertible to a spiking network for hardware v1.0 (every conv is 3x3 or
5x5 and followed by ReLU, average pooling only, every hidden linear followed by ReLU, a plain final
Linear(..., 10) that runs on the host, no softmax, conv in_channels within the 4-bit limit
floor(1024 / (k*k*4)): <= 10 for 5x5, <= 28 for 3x3):

  lenet5  conv5x5(1->6, pad 2) ReLU AvgPool2 conv5x5(6->16) ReLU AvgPool2 flatten
          Linear(400->120) ReLU Linear(120->84) ReLU Linear(84->10)
  vgg     [conv3x3 -> BN -> ReLU] x 1->16, 16->16, AvgPool2, 16->28, 28->28, AvgPool2, 28->28,
          flatten (28*7*7) Dropout(0.25) Linear(1372->10)
          (vgg_bn_mnist was trained for 6 epochs, more than issue 13's "Adam, <= 3 epochs")
  resnet  conv3x3(1->16)-BN-ReLU AvgPool2, BasicBlock(16->16) AvgPool2, BasicBlock(16->28) with a
          1x1 conv + BN projection on the skip, BasicBlock(28->28), flatten (28*7*7) Linear(1372->10);
          BasicBlock = conv3x3-BN-ReLU-conv3x3-BN, + skip, ReLU (torchvision's, without stride)

Input convention: the model takes float pixels x/255 in [0, 1] with NO mean/std normalization
(the chip receives the raw uint8 pixel as an integer current; the compiler maps the scale 1/255).

Usage (from the repository root):

  python examples/train_mnist.py --arch lenet5 --epochs 10 --seed 0 --out examples/models
  python examples/train_mnist.py --arch vgg    --epochs 6  --seed 0 --out examples/models
  python examples/train_mnist.py --arch resnet --epochs 3  --seed 0 --out examples/models
  python examples/train_mnist.py --write-demo-data --out examples/data

`--data` is the path of an MNIST .npz with uint8 x_train, y_train, x_test, y_test (default:
../shared/data/mnist.npz relative to the repository root, which exists only on developer machines).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import shlex
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "mnist.npz"
ARCH_NAMES = {"lenet5": "lenet5_mnist", "vgg": "vgg_bn_mnist", "resnet": "resnet_mnist"}
X_SCALE = np.float32(1.0 / 255.0)  # model input = uint8 pixel * X_SCALE
N_DEMO_CALIB = 256
N_DEMO_TEST = 1000
ONNX_OPSET = 17


# --------------------------------------------------------------------------- models


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and average pooling (no MaxPool, no softmax)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),   # 6x14x14
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),             # 16x5x5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10),  # host layer: plain linear, no activation
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    # conv bias is redundant in front of BN; the compiler's BN fold produces the bias.
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class VGGBN(nn.Module):
    """Small VGG-style CNN with BatchNorm; 3x3 convs with in_channels <= 28 everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(1, 16), *_conv_bn_relu(16, 16), nn.AvgPool2d(2),    # 16x14x14
            *_conv_bn_relu(16, 28), *_conv_bn_relu(28, 28), nn.AvgPool2d(2),   # 28x7x7
            *_conv_bn_relu(28, 28),                                            # 28x7x7
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(28 * 7 * 7, 10),  # host layer
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock without stride: conv-BN-ReLU-conv-BN, + skip, ReLU. The skip is the
    identity, or a 1x1 conv + BN projection when the channel count changes."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.proj is None else self.proj(x)
        return self.relu2(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))) + skip)


class ResNetMNIST(nn.Module):
    """Small ResNet: stem conv3x3(1->16)-BN-ReLU, AvgPool2, BasicBlock(16->16) (identity skip),
    AvgPool2, BasicBlock(16->28) (1x1 conv + BN projection), BasicBlock(28->28), flatten, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(1, 16), nn.AvgPool2d(2),            # 16x14x14
            BasicBlock(16, 16), nn.AvgPool2d(2),               # 16x7x7
            BasicBlock(16, 28), BasicBlock(28, 28),            # 28x7x7
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(28 * 7 * 7, 10))  # host layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_model(arch: str) -> nn.Module:
    if arch == "lenet5":
        return LeNet5()
    if arch == "vgg":
        return VGGBN()
    if arch == "resnet":
        return ResNetMNIST()
    raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(ARCH_NAMES)}")


def check_hw_v1_constraints(model: nn.Module, max_bits: int = 4, row_bits: int = 1024) -> list[str]:
    """Return every violation of the v1.0 structural rules this script promises (empty = ok).

    A self-check for the example models only; the real checker is `snnc check`.
    """
    problems = []
    # a residual block's second conv and its 1x1 projection feed the add, whose ReLU their neurons share
    fused = {id(b.conv2) for b in model.modules() if isinstance(b, BasicBlock)}
    fused |= {id(b.proj[0]) for b in model.modules() if isinstance(b, BasicBlock) and b.proj is not None}
    mods = [m for m in model.modules() if not isinstance(m, nn.Sequential) and m is not model
            and not isinstance(m, (LeNet5, VGGBN, ResNetMNIST, BasicBlock))]
    for i, m in enumerate(mods):
        if isinstance(m, nn.MaxPool2d):
            problems.append(f"module {i}: MaxPool2d is not allowed (average pooling only)")
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0]
            if m.kernel_size not in ((3, 3), (5, 5)) and not (id(m) in fused and m.kernel_size == (1, 1)):
                problems.append(f"module {i}: conv kernel {m.kernel_size} is not 3x3 or 5x5")
            limit = row_bits // (k * k * max_bits)
            if m.in_channels > limit:
                problems.append(f"module {i}: conv in_channels {m.in_channels} > {limit} ({k}x{k} at {max_bits} bits)")
            if id(m) in fused:
                continue
            nxt = [n for n in mods[i + 1:i + 3] if not isinstance(n, nn.BatchNorm2d)]
            if not nxt or not isinstance(nxt[0], nn.ReLU):
                problems.append(f"module {i}: conv is not followed by ReLU")
    linears = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
    for i in linears[:-1]:
        if not isinstance(mods[i + 1], nn.ReLU):
            problems.append(f"module {i}: hidden linear is not followed by ReLU")
    if not linears or mods[linears[-1]].out_features != 10 or linears[-1] != len(mods) - 1:
        problems.append("the last module must be a plain Linear(..., 10)")
    return problems


# --------------------------------------------------------------------------- data


def load_mnist(path: str | Path) -> dict[str, np.ndarray]:
    """Load an MNIST .npz (uint8 x_train, y_train, x_test, y_test) without pickle."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: MNIST file not found: {path} (pass --data PATH to an .npz with "
                         "uint8 x_train, y_train, x_test, y_test)")
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for k, v in data.items():
        if v.dtype != np.uint8:
            raise SystemExit(f"error: {path}: {k} has dtype {v.dtype}, expected uint8")
    return data


def to_input(x_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]: the models' input convention."""
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).to(torch.float32) * float(X_SCALE)
    return x.unsqueeze(1)


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]^2, zero fill."""
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    xp = nn.functional.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (torch.arange(h)[None, :] + dy[:, None])[:, None, :, None]   # (n,1,h,1)
    cols = (torch.arange(w)[None, :] + dx[:, None])[:, None, None, :]   # (n,1,1,w)
    bidx = torch.arange(n)[:, None, None, None]
    cidx = torch.arange(c)[None, :, None, None]
    return xp[bidx, cidx, rows, cols]


def _write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed zip timestamps so the bytes (and sha256) are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def write_demo_data(data: dict[str, np.ndarray], out_dir: str | Path) -> Path:
    """Write mnist_demo.npz: calib_x = first 256 x_train, x/y = first 1000 test images, x_scale = 1/255."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "mnist_demo.npz"
    _write_npz_deterministic(path, {
        "calib_x": data["x_train"][:N_DEMO_CALIB].astype(np.uint8),
        "x": data["x_test"][:N_DEMO_TEST].astype(np.uint8),
        "y": data["y_test"][:N_DEMO_TEST].astype(np.uint8),
        "x_scale": np.array(X_SCALE, dtype=np.float32),
    })
    return path


# --------------------------------------------------------------------------- training


def set_determinism(seed: int, threads: int = 2) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int,
          batch_size: int = 128, lr: float = 2e-3, max_shift: int = 2,
          max_batches: int | None = None, log=print) -> nn.Module:
    """Adam + one-cycle LR schedule; light augmentation by random shifts of up to `max_shift` px.

    `max_batches` stops after that many batches in total (for tests).
    """
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch if max_batches is None else min(max_batches, epochs * steps_per_epoch)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1), pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    step = 0
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        t0, run_loss, run_n = time.time(), 0.0, 0
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb = random_shift(x[idx], max_shift, gen)
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            run_loss += loss.item() * len(idx)
            run_n += len(idx)
        log(f"epoch {epoch + 1}/{epochs}: loss {run_loss / max(run_n, 1):.4f} ({time.time() - t0:.0f} s)")
        if step >= total:
            break
    model.eval()
    return model


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def accuracy(logits: torch.Tensor | np.ndarray, y) -> float:
    pred = np.asarray(logits).argmax(axis=1)
    return float((pred == np.asarray(y)).mean())


# --------------------------------------------------------------------------- export


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export_onnx(model: nn.Module, path: str | Path) -> Path:
    """ONNX opset 17, input `input` (N,1,28,28) float32, output `logits` (N,10), dynamic batch.

    Exported with TrainingMode.PRESERVE on an eval-mode model so BatchNormalization nodes stay in
    the graph (the default EVAL mode fuses them into the convs); the compiler folds BN itself.
    """
    path = Path(path)
    model.eval()
    torch.onnx.export(
        model, (torch.zeros(2, 1, 28, 28),), str(path),
        dynamo=False, opset_version=ONNX_OPSET,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,  # nothing to fold; avoids mutating params in PRESERVE mode
    )
    return path


def export_pt2(model: nn.Module, path: str | Path) -> tuple[Path, bool]:
    """torch.export .pt2 with a dynamic batch dim; falls back to a fixed batch of 1 if that fails.

    Returns (path, batch_is_dynamic).
    """
    path = Path(path)
    model.eval()
    example = (torch.zeros(2, 1, 28, 28),)
    try:
        batch = torch.export.Dim("batch", min=1, max=65536)
        ep = torch.export.export(model, example, dynamic_shapes={"x": {0: batch}})
        dynamic = True
    except Exception as e:  # pragma: no cover - depends on the torch version
        print(f"warning: dynamic batch export failed ({type(e).__name__}: {e}); exporting batch 1",
              file=sys.stderr)
        ep = torch.export.export(model, (torch.zeros(1, 1, 28, 28),))
        dynamic = False
    torch.export.save(ep, str(path))
    return path, dynamic


def onnx_op_types(path: str | Path) -> list[str]:
    import onnx

    return sorted({n.op_type for n in onnx.load(str(path)).graph.node})


# --------------------------------------------------------------------------- CLI


def _command_line(argv: list[str]) -> str:
    script = Path(__file__).resolve()
    try:
        script_s = str(script.relative_to(Path.cwd()))
    except ValueError:
        script_s = str(script)
    return shlex.join(["python", script_s, *argv])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(ARCH_NAMES), help="model to train")
    p.add_argument("--data", default=str(DEFAULT_DATA),
                   help="MNIST .npz with uint8 x_train, y_train, x_test, y_test "
                        "(default: ../shared/data/mnist.npz relative to the repo root)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--max-shift", type=int, default=2, help="random-shift augmentation in pixels (0 = off)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", default=None,
                   help="output folder (default: examples/models, or examples/data with --write-demo-data)")
    p.add_argument("--write-demo-data", action="store_true",
                   help="write mnist_demo.npz (256 calibration + 1000 test images) to --out and exit")
    args = p.parse_args(argv)
    if not args.write_demo_data and args.arch is None:
        p.error("--arch is required unless --write-demo-data is given")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    data = load_mnist(args.data)
    torch.set_num_threads(args.threads)

    if args.write_demo_data:
        out = Path(args.out) if args.out else REPO_ROOT / "examples" / "data"
        path = write_demo_data(data, out)
        print(f"wrote {path} ({path.stat().st_size} bytes) sha256 {sha256_file(path)}")
        return 0

    out = Path(args.out) if args.out else REPO_ROOT / "examples" / "models"
    out.mkdir(parents=True, exist_ok=True)
    set_determinism(args.seed, args.threads)
    model = build_model(args.arch)
    problems = check_hw_v1_constraints(model)
    if problems:
        raise SystemExit("error: model violates hw v1.0 rules:\n  " + "\n  ".join(problems))

    x_train, y_train = to_input(data["x_train"]), torch.from_numpy(data["y_train"].astype(np.int64))
    x_test, y_test = to_input(data["x_test"]), data["y_test"]
    t0 = time.time()
    train(model, x_train, y_train, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size,
          lr=args.lr, max_shift=args.max_shift)
    train_s = time.time() - t0
    acc = accuracy(predict(model, x_test), y_test)
    print(f"{args.arch}: float test accuracy {acc:.4f} on {len(y_test)} images ({train_s:.0f} s training)")

    name = ARCH_NAMES[args.arch]
    onnx_path = export_onnx(model, out / f"{name}.onnx")
    pt2_path, dynamic = export_pt2(model, out / f"{name}.pt2")

    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_logits = np.concatenate([sess.run(None, {"input": x_test[i:i + 1000].numpy()})[0]
                                  for i in range(0, len(y_test), 1000)])
    onnx_acc = accuracy(onnx_logits, y_test)

    record = {
        "model": name,
        "arch": args.arch,
        "float_test_accuracy": acc,
        "onnx_test_accuracy": onnx_acc,
        "test_images": int(len(y_test)),
        "command": _command_line(argv),
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "max_shift": args.max_shift,
        "threads": args.threads,
        "train_seconds": round(train_s, 1),
        "input": {"name": "input", "shape": ["N", 1, 28, 28], "dtype": "float32",
                  "convention": "uint8 pixel * (1/255), no mean/std normalization"},
        "output": {"name": "logits", "shape": ["N", 10], "note": "raw logits, no softmax"},
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "onnx": {"file": onnx_path.name, "sha256": sha256_file(onnx_path), "opset": ONNX_OPSET,
                 "op_types": onnx_op_types(onnx_path)},
        "pt2": {"file": pt2_path.name, "sha256": sha256_file(pt2_path), "dynamic_batch": dynamic},
        "data_sha256": sha256_file(args.data),
        "torch_version": torch.__version__,
    }
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {onnx_path}, {pt2_path}, {json_path} (onnx accuracy {onnx_acc:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
