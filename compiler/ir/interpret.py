"""Float reference interpreter: the oracle every front end and pass is checked against.

Plain numpy, float64 throughout, written for clarity rather than speed. `run` evaluates a graph
on input arrays and returns its outputs (or every value, for per-layer comparisons).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import attr
from snnc.compiler.registry import Registry
from snnc.runtime import host_ops

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


# -- the ops a host computes: one implementation, shared with the runtime (runtime/host_ops.py) ------
def _host_kernel(op: str) -> Kernel:
    fn, names, _ = host_ops.HOST_OPS[op]

    def run_op(node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return fn({name: attr(node, name) for name in names}, node.params, xs)
    return run_op


for _op in host_ops.HOST_OPS:
    if _op != "conv":  # the IR conv has one attribute more (input_dilation), below
        KERNELS.register(_op)(_host_kernel(_op))
_host_conv = _host_kernel("conv")


def dilate_input(x: np.ndarray, input_dilation) -> np.ndarray:
    """(N, C, H, W) -> (N, C, (H-1)*ih + 1, (W-1)*iw + 1): ih-1 zero rows (iw-1 zero columns) between
    the rows (columns) of x, which sits at the positions divisible by (ih, iw); x itself for (1, 1)."""
    ih, iw = (int(v) for v in input_dilation)
    if (ih, iw) == (1, 1):
        return x
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - 1) * ih + 1, (w - 1) * iw + 1), dtype=np.float64)
    out[:, :, ::ih, ::iw] = x
    return out


@kernel("conv")
def _conv(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    """runtime.host_ops.conv of the input dilated by input_dilation (a transposed convolution
    lowered by the front ends: zero insertion, padding k-1-p (+ output_padding), flipped kernel)."""
    return _host_conv(node, [dilate_input(xs[0], attr(node, "input_dilation"))])


# -- other ops ---------------------------------------------------------------------------------
def reshape_target(in_shape: tuple, shape: tuple) -> tuple:
    """ONNX Reshape semantics: 0 copies the input dim (allowzero=0), -1 is inferred."""
    return tuple(in_shape[i] if s == 0 else s for i, s in enumerate(shape))


@kernel("mul")
def _mul(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0] * p(node, "const")


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

