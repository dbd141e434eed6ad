"""A tiny CNN (ONNX) and labelled synthetic 8x8 images, shared by the fine-tuning tests."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
            torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(24, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    def forward(self, x):
        return self.features(x)


def synthetic(n: int, seed: int = 0):
    """uint8 8x8 images; the label is the brightest of three horizontal bands."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 120, size=(n, 8, 8)).astype(np.uint8)
    y = rng.integers(0, 3, size=n)
    for i, c in enumerate(y):
        x[i, c * 3:c * 3 + 2] = rng.integers(150, 256, size=(2, 8))
    return x, y.astype(np.int64)


@pytest.fixture(scope="session")
def images():
    """The synthetic image generator, for tests that need their own data files."""
    return synthetic


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ft") / "tiny.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore")
        _export(path)
    return path


def _export(path):
    torch.onnx.export(Tiny().eval(), (torch.zeros(2, 1, 8, 8),), str(path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    x, y = synthetic(192)
    path = tmp_path_factory.mktemp("ftdata") / "train.npz"
    np.savez(path, x_train=x, y_train=y, x_scale=np.float32(1 / 255))
    return path
