"""Unsupported layers and functions are never dropped: one error lists them all, each with its
module path (or, for a functional call, its name and source line) and what to do."""
from __future__ import annotations

import pytest

from snnc.compiler.errors import ImportErrorModel, UnsupportedOpsError
from snnc.compiler.frontends.torch import import_module, import_program

from .conftest import nn, torch


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, g):  # pragma: no cover - never called
        return g


class Everything(nn.Module):
    """A conv net with an LSTM, an attention layer and a custom autograd function in it."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        self.rnn = nn.LSTM(4, 4, batch_first=True)
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = Square.apply(self.features(x))
        y = y.flatten(2).transpose(1, 2)
        y, _ = self.rnn(y)
        y, _ = self.attn(y, y, y)
        return self.fc(y[:, -1])


@pytest.fixture(scope="module")
def error():
    with pytest.raises(UnsupportedOpsError) as info:
        import_module(Everything().eval(), torch.randn(2, 1, 6, 6))
    return info.value


@pytest.mark.slow
def test_one_error_lists_every_unsupported_layer(error):
    text = str(error)
    keys = " | ".join(error.ops)
    assert "nn.LSTM" in keys and "nn.MultiheadAttention" in keys
    assert ["rnn"] in error.ops.values() and ["attn"] in error.ops.values()
    # the custom autograd function is traced into x * x: named, with the line of its forward
    mul = [names for key, names in error.ops.items() if key.startswith("mul.Tensor")]
    assert mul and "test_errors.py:" in mul[0][0]
    assert "recurrent" in text and "attention" in text
    assert "Nothing above was dropped" in text and "docs/torch.md" in text


def test_training_mode_batchnorm_says_call_eval():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU()).train()
    ep = torch.export.export(m, (torch.randn(2, 1, 5, 5),))
    with pytest.raises(UnsupportedOpsError) as info:
        import_program(ep, "m")
    assert "model.eval()" in str(info.value)
    assert any("1" in names for names in info.value.ops.values())  # the module path of the BatchNorm


def test_import_module_restores_training_mode():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Dropout()).train()
    graph = import_module(m, torch.randn(1, 1, 5, 5))
    assert m.training and [n.op for n in graph.nodes] == ["conv", "batchnorm", "relu", "dropout"]


def test_product_of_activations_is_refused_by_name():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 2, 1), nn.Conv2d(1, 2, 1)

        def forward(self, x):
            return self.a(x) * torch.sigmoid(self.b(x))

    with pytest.raises(UnsupportedOpsError) as info:
        import_module(Gate(), torch.randn(2, 1, 4, 4))
    assert set(info.value.ops) == {"sigmoid.default", "mul.Tensor (a product of two activations (no spiking equivalent))"}


def test_two_inputs_and_untraceable_models_are_one_line_errors():
    class Two(nn.Module):
        def forward(self, x, y):
            return x + y

    ep = torch.export.export(Two(), (torch.randn(2, 3), torch.randn(2, 3)))
    with pytest.raises(ImportErrorModel, match="exactly one tensor input"):
        import_program(ep, "two")

    class DataDependent(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(ImportErrorModel, match="torch.export could not trace"):
        import_module(DataDependent(), torch.randn(2, 3))
    with pytest.raises(ImportErrorModel, match="nn.Module"):
        import_module(lambda x: x, torch.randn(2, 3))
