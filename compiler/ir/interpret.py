"""Float reference interpreter: the oracle every front end and pass is checked against.

Plain numpy, float64 throughout, written for clarity rather than speed. `run` evaluates a graph
on input arrays and returns its outputs (or every value, for per-layer comparisons).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import attr
from snnc.compiler.registry import Registry

Kernel = Callable[[Node, list[np.ndarray]], np.ndarray]
KERNELS = Registry("interpreter kernel")
kernel = KERNELS.register


def run(graph: Graph, inputs: np.ndarray | dict[str, np.ndarray], *, all_values: bool = False) -> dict[str, np.ndarray]:
    """Evaluate `graph`. `inputs` is one array (single-input graphs) or a name -> array dict."""
    if not isinstance(inputs, dict):
        if len(graph.inputs) != 1:
            raise SnncError(f"graph {graph.name} has {len(graph.inputs)} inputs; pass a dict")
        inputs = {graph.inputs[0]: inputs}
    env: dict[str, np.ndarray] = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    for node in graph.nodes:
        fn = KERNELS.get(node.op)
        if fn is None:
            raise SnncError(f"node {node.name}: the interpreter has no kernel for op '{node.op}'")
        out = fn(node, [env[i] for i in node.inputs])
        env[node.outputs[0]] = out
    if all_values:
        return env
    return {o: env[o] for o in graph.outputs}


def p(node: Node, name: str) -> np.ndarray:
    return np.asarray(node.params[name], dtype=np.float64)


# -- elementwise and shape ops ------------------------------------------------------------------
@kernel("identity", "dropout")
def _identity(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0]


@kernel("relu")
def _relu(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return np.maximum(xs[0], 0.0)


@kernel("clip")
def _clip(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return np.clip(xs[0], attr(node, "min"), attr(node, "max"))


@kernel("add")
def _add(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    if len(xs) == 2:
        return xs[0] + xs[1]
    return xs[0] + p(node, "const")


@kernel("mul")
def _mul(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0] * p(node, "const")


@kernel("concat")
def _concat(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(xs, axis=attr(node, "axis"))


@kernel("softmax")
def _softmax(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    axis = attr(node, "axis")
    e = np.exp(xs[0] - xs[0].max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@kernel("flatten")
def _flatten(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    x, axis = xs[0], attr(node, "axis")
    axis = axis + x.ndim if axis < 0 else axis  # ONNX allows axis in [-r, r]; axis == r gives (N, 1)
    return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)


def reshape_target(in_shape: tuple, shape: tuple) -> tuple:
    """ONNX Reshape semantics: 0 copies the input dim (allowzero=0), -1 is inferred."""
    return tuple(in_shape[i] if s == 0 else s for i, s in enumerate(shape))


@kernel("reshape")
def _reshape(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0].reshape(reshape_target(xs[0].shape, tuple(attr(node, "shape"))))


@kernel("transpose")
def _transpose(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return np.transpose(xs[0], attr(node, "perm"))


@kernel("pad")
def _pad(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    x, pads = xs[0], list(attr(node, "pads"))
    r = x.ndim
    width = [(pads[i], pads[i + r]) for i in range(r)]
    if any(a < 0 or b < 0 for a, b in width):
        raise SnncError(f"node {node.name}: negative pads are not supported")
    return np.pad(x, width, mode="constant", constant_values=attr(node, "value"))


# -- linear algebra ------------------------------------------------------------------------------
@kernel("linear")
def _linear(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    y = xs[0] @ p(node, "weight").T
    return y + p(node, "bias") if "bias" in node.params else y


@kernel("matmul")
def _matmul(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0] @ p(node, "weight")


@kernel("gemm")
def _gemm(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    a = xs[0].T if attr(node, "transA") else xs[0]
    w = p(node, "weight")
    w = w.T if attr(node, "transB") else w
    y = attr(node, "alpha") * (a @ w)
    if "bias" in node.params:
        y = y + attr(node, "beta") * p(node, "bias")
    return y


@kernel("batchnorm")
def _batchnorm(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    x = xs[0]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = p(node, "scale") / np.sqrt(p(node, "var") + attr(node, "eps"))
    return (x - p(node, "mean").reshape(shape)) * inv.reshape(shape) + p(node, "bias").reshape(shape)


def _pad_hw(x: np.ndarray, padding: tuple, value: float) -> np.ndarray:
    t, l, b, r = padding
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), mode="constant", constant_values=value)


def windows(x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple = (1, 1)) -> np.ndarray:
    """(N, C, H, W) -> (N, C, OH, OW, kh, kw) views of every (dilated, strided) window."""
    kh, kw = kernel
    dh, dw = dilation
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    v = sliding_window_view(x, span, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    return v[..., ::dh, ::dw]


@kernel("conv")
def _conv(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    w = p(node, "weight")
    groups = attr(node, "groups")
    x = _pad_hw(xs[0], attr(node, "padding"), 0.0)
    win = windows(x, w.shape[2:], attr(node, "stride"), attr(node, "dilation"))  # N C OH OW kh kw
    n, c, oh, ow = win.shape[:4]
    o, cg = w.shape[0], w.shape[1]
    og = o // groups
    outs = []
    for g in range(groups):
        wg = w[g * og : (g + 1) * og]  # og cg kh kw
        xg = win[:, g * cg : (g + 1) * cg]  # N cg OH OW kh kw
        outs.append(np.einsum("ncijuv,ocuv->noij", xg, wg, optimize=True))
    y = np.concatenate(outs, axis=1)
    if "bias" in node.params:
        y = y + p(node, "bias").reshape(1, -1, 1, 1)
    return y


@kernel("avgpool")
def _avgpool(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    k, s, pad = attr(node, "kernel"), attr(node, "stride"), attr(node, "padding")
    x = _pad_hw(xs[0], pad, 0.0)
    total = windows(x, k, s).sum(axis=(-1, -2))
    if attr(node, "count_include_pad") or not any(pad):
        return total / (k[0] * k[1])
    ones = _pad_hw(np.ones((1, 1) + xs[0].shape[2:]), pad, 0.0)
    counts = windows(ones, k, s).sum(axis=(-1, -2))
    return total / counts


@kernel("globalavgpool")
def _globalavgpool(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0].mean(axis=(2, 3), keepdims=True)


@kernel("maxpool")
def _maxpool(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    k, s, pad = attr(node, "kernel"), attr(node, "stride"), attr(node, "padding")
    dil = attr(node, "dilation")
    x = _pad_hw(xs[0], pad, -np.inf)
    if attr(node, "ceil_mode"):
        extra = []
        for axis in (0, 1):
            size = x.shape[2 + axis]
            span = (k[axis] - 1) * dil[axis] + 1
            out = -(-(size - span) // s[axis]) + 1
            # ONNX/torch: the last window must start inside the (left-padded) input.
            if (out - 1) * s[axis] >= xs[0].shape[2 + axis] + pad[axis]:
                out -= 1
            extra.append(max(0, (out - 1) * s[axis] + span - size))
        x = np.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])), constant_values=-np.inf)
    return windows(x, k, s, dil).max(axis=(-1, -2))
