"""Whole models exported by both torch exporters (TorchScript `dynamo=False` and torch.export
`dynamo=True`), imported and run by the IR interpreter, compared with onnxruntime and torch.
Tolerance: atol=1e-4, rtol=1e-4 (float32 torch/onnxruntime vs float64 interpreter through a few
layers). Exports go to tmp_path; nothing is downloaded."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from snnc.compiler.frontends import load_model  # noqa: E402
from snnc.compiler.ir.interpret import run  # noqa: E402

TOL = dict(atol=1e-4, rtol=1e-4)


class LeNet5(nn.Module):
    in_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class VGGish(nn.Module):
    in_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        self.features = nn.Sequential(*block(3, 8), *block(8, 8), nn.MaxPool2d(2), *block(8, 16), nn.MaxPool2d(2, ceil_mode=True))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class ResBlockConcat(nn.Module):
    in_shape = (8, 8, 8)

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.branch = nn.Conv2d(8, 4, 1)
        self.head = nn.Linear(12, 5)

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = torch.relu(self.b2(self.c2(y)) + x)  # residual add
        y = torch.cat([y, torch.relu(self.branch(y))], dim=1)  # concat
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class AdaptivePools(nn.Module):
    in_shape = (3, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.pool2 = nn.AdaptiveAvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        y = self.gap(self.pool2(torch.relu(self.conv(x))))
        return torch.softmax(self.fc(y.flatten(1)), dim=1)


class ReLU6Net(nn.Module):
    in_shape = (3, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.act = nn.ReLU6()
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        y = self.act(self.dw(self.act(self.conv(x) * 4.0)))
        return self.fc(y.reshape(y.shape[0], -1))


class ViewBatch(nn.Module):
    in_shape = (2, 6, 6)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(48, 4)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


MODELS = [LeNet5, VGGish, ResBlockConcat, AdaptivePools, ReLU6Net, ViewBatch]


def export(model, path, *, dynamo: bool, dynamic_batch: bool, batch: int = 2):
    x = torch.randn(batch, *model.in_shape)
    kwargs = {}
    if dynamic_batch and dynamo:
        kwargs["dynamic_shapes"] = {"x": {0: torch.export.Dim("batch", min=1, max=64)}}
    elif dynamic_batch:
        kwargs["dynamic_axes"] = {"x": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not dynamo:
            kwargs["do_constant_folding"] = False  # keep BatchNormalization nodes for the importer
        torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=dynamo, verbose=False, **kwargs)
    return path


def check(model, path, batches):
    import onnxruntime as ort

    graph = load_model(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b in batches:
        x = torch.randn(b, *model.in_shape)
        with torch.no_grad():
            ref = model(x).numpy()
        ours = run(graph, x.numpy())[graph.outputs[0]]
        np.testing.assert_allclose(ours, ref, err_msg=f"vs torch, batch {b}", **TOL)
        if b == 2 or sess.get_inputs()[0].shape[0] != 2:  # onnxruntime only runs the exported batch if static
            got = sess.run(None, {"x": x.numpy()})[0]
            np.testing.assert_allclose(ours, got, err_msg=f"vs onnxruntime, batch {b}", **TOL)
    return graph


@pytest.mark.slow
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_exported_model_matches(cls, dynamo, tmp_path):
    torch.manual_seed(0)
    model = cls().eval()
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    path = export(model, tmp_path / f"{cls.__name__}.onnx", dynamo=dynamo, dynamic_batch=False)
    # batch 3 too: a batch baked into a Reshape by the exporter is imported as "copy dim 0"
    graph = check(model, path, batches=(2, 3))
    assert graph.meta["producer_name"] == "pytorch"
    names = [n.name for n in graph.nodes]
    assert len(set(names)) == len(names)
    if not dynamo:  # the TorchScript exporter names nodes after module paths
        assert any(n.startswith("/") for n in names)


@pytest.mark.slow
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_view_with_dynamic_batch(dynamo, tmp_path):
    """x.view(x.size(0), -1) with a dynamic batch: the legacy exporter's Shape/Gather/Unsqueeze/
    Concat chain is folded; the IR keeps the batch dynamic."""
    torch.manual_seed(0)
    model = ViewBatch().eval()
    path = export(model, tmp_path / "view.onnx", dynamo=dynamo, dynamic_batch=True)
    graph = check(model, path, batches=(1, 2, 5))
    assert graph.values["x"].shape == (None, 2, 6, 6)
    assert [n.op for n in graph.nodes] == ["conv", "relu", "reshape", "gemm"]


def test_vgg_keeps_batchnorm_and_dropout(tmp_path):
    model = VGGish().eval()
    graph = load_model(export(model, tmp_path / "vgg.onnx", dynamo=False, dynamic_batch=False))
    ops = [n.op for n in graph.nodes]
    assert ops.count("batchnorm") == 3
    assert "maxpool" in ops
