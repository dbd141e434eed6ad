"""The model zoo of the torch front-end tests, and helpers comparing IRs.

Each model is small (a few ms per forward) and deterministic (seeded weights, BatchNorm
statistics set to non-trivial values). Exports go to pytest's tmp_path; nothing is downloaded.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

# The interpreter computes in float64, torch in float32: whole networks agree to ~1e-6;
# TOL leaves room for a few layers of float32 rounding.
TOL = dict(atol=1e-4, rtol=1e-4)
# Parameters of the two routes: BatchNorm is folded by the ONNX exporter in float32 and by
# snnc's fold_bn in float64, so folded weights differ by float32 rounding.
PARAM_TOL = dict(atol=1e-5, rtol=1e-4)


class LeNet5(nn.Module):
    in_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                        nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class VGGish(nn.Module):
    """Conv (no bias) + BN + ReLU blocks, max pooling, a strided and a rectangular-padded conv."""

    in_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()

        def block(i, o, **kw):
            return [nn.Conv2d(i, o, 3, bias=False, **kw), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*block(3, 8, padding=1), *block(8, 8, padding=(1, 2), stride=(1, 2)),
                                      nn.MaxPool2d(2), *block(8, 16, padding=1), nn.MaxPool2d(2, ceil_mode=True))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * 4 * 2, 32), nn.ReLU(),
                                        nn.Dropout(0.5), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.relu = nn.ReLU(inplace=True)  # one module called twice, as in torchvision
        self.downsample = None
        if stride != 1 or i != o:
            self.downsample = nn.Sequential(nn.Conv2d(i, o, 1, stride=stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNetish(nn.Module):
    in_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Functional(nn.Module):
    """Weights in modules, everything else functional: F.relu, F.relu6, F.hardtanh, F.max_pool2d,
    F.avg_pool2d, x + y, torch.cat, x.view(x.size(0), -1), torch.flatten, a grouped conv."""

    in_shape = (4, 12, 12)

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.b = nn.Conv2d(4, 8, 1)
        self.c = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(8 * 3 * 3, 24)
        self.fc2 = nn.Linear(24, 10)

    def forward(self, x):
        a = F.relu(self.a(x))
        b = F.relu6(self.b(x))
        y = torch.cat([a, b], dim=1)
        y = F.hardtanh(self.c(y), 0.0, 4.0)
        y = F.avg_pool2d(y, 2) + F.max_pool2d(y, 2)
        y = y.view(y.size(0), -1)
        y = F.relu(self.fc1(y))
        return self.fc2(torch.flatten(y, 1))


class AdaptiveDropout(nn.Module):
    in_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.drop2d = nn.Dropout2d(0.2)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.keep = nn.Identity()
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        y = self.pool(self.drop2d(torch.relu(self.conv1(x))))
        y = self.gap(torch.relu(self.conv2(y)))
        return self.fc(self.keep(self.drop(torch.flatten(y, 1))))


ZOO = [LeNet5, VGGish, ResNetish, Functional, AdaptiveDropout]


def make(cls):
    """A seeded instance in eval mode with non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    m = cls()
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.weight.data = torch.rand(c, generator=g) + 0.5
            mod.bias.data = torch.randn(c, generator=g) * 0.1
            mod.running_mean = torch.randn(c, generator=g) * 0.1
            mod.running_var = torch.rand(c, generator=g) + 0.5
    return m.eval()


def example(cls, n=2, seed=0):
    return torch.randn((n,) + cls.in_shape, generator=torch.Generator().manual_seed(seed))


def export_onnx(model, x, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, opset_version=17)


def layers(graph):
    """(op, attrs, params) per node of a canonical graph: what must agree between the routes."""
    out = []
    for n in graph.nodes:
        attrs = dict(n.attrs)
        if n.op == "avgpool" and not any(attrs.get("padding", (0, 0, 0, 0))):
            attrs.pop("count_include_pad", None)  # no padding: the flag cannot matter
        out.append((n.op, attrs, {k: np.asarray(v, np.float64) for k, v in n.params.items()}))
    return out


def assert_same_layers(a, b):
    la, lb = layers(a), layers(b)
    assert [x[0] for x in la] == [x[0] for x in lb]
    for (op, attrs_a, pa), (_, attrs_b, pb) in zip(la, lb):
        assert {k: tuple(v) if isinstance(v, list) else v for k, v in attrs_a.items()} == \
               {k: tuple(v) if isinstance(v, list) else v for k, v in attrs_b.items()}, op
        assert sorted(pa) == sorted(pb), op
        for k in pa:
            np.testing.assert_allclose(pa[k], pb[k], **PARAM_TOL, err_msg=f"{op} {k}")
