"""The float operations a host computes (docs/semantics.md section 7), numpy only, float64.

One implementation serves twice: the runtime evaluates an artefact's `host_op` layers (the part
of a hybrid network after `--host-from`) with it, and the compiler's float interpreter
(`snnc.compiler.ir.interpret`) uses the same functions for these ops, so the host part of an
artefact computes what the compiler's float model computes. Tensors are (B, C, H, W) or (B, F).
Each function takes the op's attributes (every one given: an artefact stores them resolved),
its float parameters and its inputs.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Attrs = Mapping[str, object]
Params = Mapping[str, np.ndarray]
HostOp = Callable[[Attrs, Params, list], np.ndarray]


def _pad_hw(x: np.ndarray, padding, value: float) -> np.ndarray:
    t, l, b, r = (int(v) for v in padding)
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), mode="constant", constant_values=value)


def windows(x: np.ndarray, kernel, stride, dilation=(1, 1)) -> np.ndarray:
    """(N, C, H, W) -> (N, C, OH, OW, kh, kw) views of every (dilated, strided) window."""
    kh, kw = (int(v) for v in kernel)
    dh, dw = (int(v) for v in dilation)
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    v = sliding_window_view(x, span, axis=(2, 3))[:, :, :: int(stride[0]), :: int(stride[1])]
    return v[..., ::dh, ::dw]


def relu(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    return np.maximum(xs[0], 0.0)


def clip(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    return np.clip(xs[0], float(attrs["min"]), float(attrs["max"]))


def add(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    """The sum of two tensors, or of one and the constant `const` (broadcast as numpy does)."""
    if len(xs) == 2:
        return xs[0] + xs[1]
    return xs[0] + np.asarray(params["const"], dtype=np.float64)


def concat(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    return np.concatenate(xs, axis=int(attrs["axis"]))


def softmax(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    axis = int(attrs["axis"])
    e = np.exp(xs[0] - xs[0].max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def flatten(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    x, axis = xs[0], int(attrs["axis"])
    axis = axis + x.ndim if axis < 0 else axis  # ONNX allows axis in [-r, r]; axis == r gives (N, 1)
    return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)


def linear(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    y = xs[0] @ np.asarray(params["weight"], dtype=np.float64).T
    return y + np.asarray(params["bias"], dtype=np.float64) if "bias" in params else y


def conv(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    """Cross-correlation with zero padding [top, left, bottom, right], stride, dilation, groups."""
    w = np.asarray(params["weight"], dtype=np.float64)
    groups = int(attrs["groups"])
    x = _pad_hw(xs[0], attrs["padding"], 0.0)
    win = windows(x, w.shape[2:], attrs["stride"], attrs["dilation"])  # N C OH OW kh kw
    o, cg = w.shape[0], w.shape[1]
    og = o // groups
    outs = []
    for g in range(groups):
        wg = w[g * og: (g + 1) * og]  # og cg kh kw
        xg = win[:, g * cg: (g + 1) * cg]  # N cg OH OW kh kw
        outs.append(np.einsum("ncijuv,ocuv->noij", xg, wg, optimize=True))
    y = np.concatenate(outs, axis=1)
    if "bias" in params:
        y = y + np.asarray(params["bias"], dtype=np.float64).reshape(1, -1, 1, 1)
    return y


def avgpool(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    k, s, pad = attrs["kernel"], attrs["stride"], attrs["padding"]
    x = _pad_hw(xs[0], pad, 0.0)
    total = windows(x, k, s).sum(axis=(-1, -2))
    if attrs["count_include_pad"] or not any(pad):
        return total / (int(k[0]) * int(k[1]))
    ones = _pad_hw(np.ones((1, 1) + xs[0].shape[2:]), pad, 0.0)
    counts = windows(ones, k, s).sum(axis=(-1, -2))
    return total / counts


def globalavgpool(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    return xs[0].mean(axis=(2, 3), keepdims=True)


def maxpool(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    k, s, pad, dil = attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"]
    x = _pad_hw(xs[0], pad, -np.inf)
    if attrs["ceil_mode"]:
        extra = []
        for axis in (0, 1):
            size = x.shape[2 + axis]
            span = (int(k[axis]) - 1) * int(dil[axis]) + 1
            out = -(-(size - span) // int(s[axis])) + 1
            # ONNX/torch: the last window must start inside the (left-padded) input.
            if (out - 1) * int(s[axis]) >= xs[0].shape[2 + axis] + int(pad[axis]):
                out -= 1
            extra.append(max(0, (out - 1) * int(s[axis]) + span - size))
        x = np.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])), constant_values=-np.inf)
    return windows(x, k, s, dil).max(axis=(-1, -2))


def identity(attrs: Attrs, params: Params, xs: list) -> np.ndarray:
    return xs[0]


# op -> (function, attributes it reads, parameters it may have): the closed set of host ops
HOST_OPS: dict[str, tuple[HostOp, tuple[str, ...], tuple[str, ...]]] = {
    "relu": (relu, (), ()),
    "clip": (clip, ("min", "max"), ()),
    "add": (add, (), ("const",)),
    "concat": (concat, ("axis",), ()),
    "softmax": (softmax, ("axis",), ()),
    "flatten": (flatten, ("axis",), ()),
    "linear": (linear, (), ("weight", "bias")),
    "conv": (conv, ("stride", "padding", "dilation", "groups"), ("weight", "bias")),
    "avgpool": (avgpool, ("kernel", "stride", "padding", "count_include_pad"), ()),
    "globalavgpool": (globalavgpool, (), ()),
    "maxpool": (maxpool, ("kernel", "stride", "padding", "dilation", "ceil_mode"), ()),
    "identity": (identity, (), ()),
    "dropout": (identity, (), ()),
}
