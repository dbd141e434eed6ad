"""An snnc IR graph as a trainable torch module.

`IRModule(graph)` runs the graph's nodes in order with torch kernels (one small function per op,
in a registry), so anything snnc can import (ONNX, .pt2, after `frontend_pipeline`) can be
fine-tuned. The weights and biases of conv/linear nodes become `nn.Parameter`s; every other
array a node carries becomes a buffer. Hooks let the QAT wrapper replace a node's weights
(`weight_hooks`) or its activation (`act_hooks`) without another copy of the graph walker.

`to_graph()` writes the current parameters back into a copy of the IR graph (float64).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snnc.compiler.errors import UnsupportedOpsError
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.interpret import reshape_target
from snnc.compiler.ir.ops import attr
from snnc.compiler.registry import Registry

TRAINABLE = {"conv": ("weight", "bias"), "linear": ("weight", "bias")}

Kernel = Callable[["IRModule", Node, list[torch.Tensor]], torch.Tensor]
KERNELS = Registry("torch kernel")
kernel = KERNELS.register


class IRModule(nn.Module):
    def __init__(self, graph: Graph, dtype: torch.dtype = torch.float32):
        super().__init__()
        missing: dict[str, list[str]] = {}
        for n in graph.nodes:
            if n.op not in KERNELS:
                missing.setdefault(n.op, []).append(n.name)
        if missing:
            raise UnsupportedOpsError(f"{graph.name} (fine-tuning)", missing)
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            from snnc.compiler.errors import SnncError

            raise SnncError(f"{graph.name}: fine-tuning supports one input and one output")
        self.graph = graph.copy()
        self.keys = {n.name: f"n{i}" for i, n in enumerate(self.graph.nodes)}
        self.params = nn.ParameterDict()
        for n in self.graph.nodes:
            for pname, arr in n.params.items():
                t = torch.as_tensor(np.asarray(arr, dtype=np.float64)).to(dtype)
                key = f"{self.keys[n.name]}_{pname}"
                if pname in TRAINABLE.get(n.op, ()):
                    self.params[key] = nn.Parameter(t)
                else:
                    self.register_buffer(key, t)
        self.weight_hooks = nn.ModuleDict()  # node key -> module(node, weight, bias) -> (weight, bias)
        self.act_hooks = nn.ModuleDict()  # node key -> module(x) replacing the activation (or a pool's output)
        self.input_hook: nn.Module | None = None

    # -- access --------------------------------------------------------------------------------
    def tensor(self, node: Node, pname: str) -> torch.Tensor | None:
        key = f"{self.keys[node.name]}_{pname}"
        if key in self.params:
            return self.params[key]
        return getattr(self, key, None) if pname in node.params else None

    def weights(self, node: Node) -> tuple[torch.Tensor, torch.Tensor | None]:
        w, b = self.tensor(node, "weight"), self.tensor(node, "bias")
        hook = self.weight_hooks[self.keys[node.name]] if self.keys[node.name] in self.weight_hooks else None
        return hook(w, b) if hook is not None else (w, b)

    def activation(self, node: Node, x: torch.Tensor, default: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        key = self.keys[node.name]
        return self.act_hooks[key](x) if key in self.act_hooks else default(x)

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        """The graph's output; with `logits`, the input of a final softmax instead (for training)."""
        if self.input_hook is not None:
            x = self.input_hook(x)
        env = {self.graph.inputs[0]: x}
        nodes = self.graph.nodes
        if logits and nodes and nodes[-1].op == "softmax" and nodes[-1].output == self.graph.outputs[0]:
            nodes = nodes[:-1]
            out = self.graph.nodes[-1].input
        else:
            out = self.graph.outputs[0]
        for node in nodes:
            env[node.outputs[0]] = KERNELS[node.op](self, node, [env[i] for i in node.inputs])
        return env[out]

    def to_graph(self) -> Graph:
        """A copy of the IR graph holding the current parameters (float64), hooks not applied."""
        g = self.graph.copy()
        for n in g.nodes:
            for pname in list(n.params):
                t = self.tensor(n, pname)
                n.params[pname] = t.detach().cpu().to(torch.float64).numpy()
        return g


# -- kernels (same maths as snnc.compiler.ir.interpret) --------------------------------------------
def _pad4(x: torch.Tensor, padding, value: float = 0.0) -> torch.Tensor:
    t, l, b, r = padding
    return F.pad(x, (l, r, t, b), value=value) if any(padding) else x


@kernel("identity", "dropout")
def _identity(m, node, xs):
    return xs[0]


@kernel("relu")
def _relu(m, node, xs):
    return m.activation(node, xs[0], torch.relu)


@kernel("clip")
def _clip(m, node, xs):
    lo, hi = float(attr(node, "min")), float(attr(node, "max"))
    return m.activation(node, xs[0], lambda x: torch.clamp(x, lo, hi))


@kernel("conv")
def _conv(m, node, xs):
    w, b = m.weights(node)
    x = xs[0]
    ih, iw = attr(node, "input_dilation")
    if (ih, iw) != (1, 1):  # a ConvTranspose lowered by the front ends: zeros between the input's pixels
        n, c, h, wd = x.shape
        xd = x.new_zeros((n, c, (h - 1) * ih + 1, (wd - 1) * iw + 1))
        xd[:, :, ::ih, ::iw] = x  # differentiable: the gradient flows to x's positions
        x = xd
    x = _pad4(x, attr(node, "padding"))
    return F.conv2d(x, w, b, stride=tuple(attr(node, "stride")), dilation=tuple(attr(node, "dilation")),
                    groups=int(attr(node, "groups")))


@kernel("linear")
def _linear(m, node, xs):
    w, b = m.weights(node)
    return F.linear(xs[0], w, b)


@kernel("avgpool")
def _avgpool(m, node, xs):
    k, s, pad = tuple(attr(node, "kernel")), tuple(attr(node, "stride")), tuple(attr(node, "padding"))
    x = _pad4(xs[0], pad)
    total = F.avg_pool2d(x, k, s) * (k[0] * k[1])
    if attr(node, "count_include_pad") or not any(pad):
        return m.activation(node, total / (k[0] * k[1]), _same)
    ones = _pad4(torch.ones((1, 1) + tuple(xs[0].shape[2:]), dtype=x.dtype, device=x.device), pad)
    return m.activation(node, total / (F.avg_pool2d(ones, k, s) * (k[0] * k[1])), _same)


@kernel("globalavgpool")
def _gap(m, node, xs):
    return m.activation(node, xs[0].mean(dim=(2, 3), keepdim=True), _same)


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


@kernel("maxpool")
def _maxpool(m, node, xs):
    k, s, pad = tuple(attr(node, "kernel")), tuple(attr(node, "stride")), tuple(attr(node, "padding"))
    x = _pad4(xs[0], pad, float("-inf"))
    return F.max_pool2d(x, k, s, dilation=tuple(attr(node, "dilation")), ceil_mode=bool(attr(node, "ceil_mode")))


@kernel("flatten")
def _flatten(m, node, xs):
    x, axis = xs[0], int(attr(node, "axis"))
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)


@kernel("reshape")
def _reshape(m, node, xs):
    return xs[0].reshape(reshape_target(tuple(xs[0].shape), tuple(attr(node, "shape"))))


@kernel("transpose")
def _transpose(m, node, xs):
    return xs[0].permute(*attr(node, "perm"))


@kernel("add")
def _add(m, node, xs):
    return xs[0] + xs[1] if len(xs) == 2 else xs[0] + m.tensor(node, "const")


@kernel("mul")
def _mul(m, node, xs):
    return xs[0] * m.tensor(node, "const")


@kernel("concat")
def _concat(m, node, xs):
    return torch.cat(xs, dim=int(attr(node, "axis")))


@kernel("softmax")
def _softmax(m, node, xs):
    return torch.softmax(xs[0], dim=int(attr(node, "axis")))


@kernel("batchnorm")
def _batchnorm(m, node, xs):
    x = xs[0]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = m.tensor(node, "scale") / torch.sqrt(m.tensor(node, "var") + attr(node, "eps"))
    return (x - m.tensor(node, "mean").reshape(shape)) * inv.reshape(shape) + m.tensor(node, "bias").reshape(shape)


@kernel("pad")
def _pad(m, node, xs):
    x, pads = xs[0], list(attr(node, "pads"))
    r = x.ndim
    flat: list[int] = []
    for i in reversed(range(r)):
        flat += [pads[i], pads[i + r]]
    return F.pad(x, flat, value=float(attr(node, "value")))
