"""Shape inference: fill every Value.shape from the graph input shapes.

One shape function per op (a registry keyed by op name, like the interpreter's kernels). The
batch axis stays `None` when the input leaves it dynamic. A mismatch (wrong channel count,
incompatible broadcast, a window larger than its input, ...) raises `ShapeError` naming the node.
"""
from __future__ import annotations

import math
from typing import Callable

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node, Shape
from snnc.compiler.ir.ops import OPS, attr
from snnc.compiler.passes.manager import Pass
from snnc.compiler.registry import Registry


class ShapeError(SnncError):
    """Shapes do not agree at a node. The message names the node and its op."""

    def __init__(self, node: Node, message: str):
        self.node = node.name
        super().__init__(f"node {node.name} ({node.op}): {message}")


ShapeFn = Callable[[Node, list[Shape]], Shape]
SHAPE_FNS = Registry("shape function")
shape_fn = SHAPE_FNS.register


def infer_shapes(graph: Graph, input_shapes: dict[str, Shape] | None = None) -> Graph:
    """Fill the shapes of every value of `graph` in place (and return it)."""
    for name, shp in (input_shapes or {}).items():
        graph.add_value(name, tuple(shp))
    env: dict[str, Shape] = {}
    for name in graph.inputs:
        shp = graph.shape(name)
        if shp is None:
            raise SnncError(f"graph input '{name}' has no shape; shape inference needs it")
        env[name] = tuple(shp)
    for node in graph.nodes:
        fn = SHAPE_FNS.get(node.op)
        if fn is None:
            raise ShapeError(node, "no shape function for this op")
        out = tuple(fn(node, [env[i] for i in node.inputs]))
        env[node.output] = out
        graph.add_value(node.output, out)
    return graph


class ShapeInference(Pass):
    name = "shape_inference"
    requires = ()
    ensures = ("shapes",)

    def run(self, graph: Graph) -> Graph:
        return infer_shapes(graph)


# -- helpers --------------------------------------------------------------------------------------
def _rank(node: Node, shp: Shape, rank: int) -> None:
    if len(shp) != rank:
        raise ShapeError(node, f"expects a rank-{rank} input, got shape {_fmt(shp)}")


def _fmt(shp: Shape) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shp) + ")"


def _window_out(node: Node, size: int | None, k: int, s: int, pad: int, dil: int = 1) -> int | None:
    if size is None:
        return None
    span = (k - 1) * dil + 1
    full = size + pad
    if full < span:
        raise ShapeError(node, f"window {span} is larger than the padded input {full}")
    return (full - span) // s + 1


def broadcast(node: Node, a: Shape, b: Shape) -> Shape:
    """numpy broadcasting with unknown (None) dims."""
    out = []
    for x, y in zip((1,) * (len(b) - len(a)) + tuple(a), (1,) * (len(a) - len(b)) + tuple(b)):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        else:
            raise ShapeError(node, f"cannot broadcast {_fmt(a)} with {_fmt(b)}")
    return tuple(out)


def _prod(dims) -> int | None:
    if any(d is None for d in dims):
        return None
    return int(math.prod(dims))


# -- shape functions ------------------------------------------------------------------------------
@shape_fn("identity", "dropout", "relu", "clip", "softmax")
def _same(node: Node, s: list[Shape]) -> Shape:
    return s[0]


@shape_fn("batchnorm")
def _bn(node: Node, s: list[Shape]) -> Shape:
    x = s[0]
    c = node.params["scale"].shape[0]
    if len(x) < 2 or (x[1] is not None and x[1] != c):
        raise ShapeError(node, f"input {_fmt(x)} has not {c} channels at axis 1")
    return x


@shape_fn("conv")
def _conv(node: Node, s: list[Shape]) -> Shape:
    x = s[0]
    _rank(node, x, 4)
    w = node.params["weight"]
    groups = attr(node, "groups")
    if x[1] is not None and x[1] != w.shape[1] * groups:
        raise ShapeError(node, f"input has {x[1]} channels, weight {w.shape} with groups={groups} expects {w.shape[1] * groups}")
    st, pad, dil = attr(node, "stride"), attr(node, "padding"), attr(node, "dilation")
    ih, iw = attr(node, "input_dilation")  # the windows read the input with zeros inserted (a ConvTranspose)
    h, w_ = (None if d is None else (d - 1) * k + 1 for d, k in ((x[2], ih), (x[3], iw)))
    oh = _window_out(node, h, w.shape[2], st[0], pad[0] + pad[2], dil[0])
    ow = _window_out(node, w_, w.shape[3], st[1], pad[1] + pad[3], dil[1])
    return (x[0], w.shape[0], oh, ow)


@shape_fn("avgpool")
def _avgpool(node: Node, s: list[Shape]) -> Shape:
    x = s[0]
    _rank(node, x, 4)
    k, st, pad = attr(node, "kernel"), attr(node, "stride"), attr(node, "padding")
    return (x[0], x[1], _window_out(node, x[2], k[0], st[0], pad[0] + pad[2]),
            _window_out(node, x[3], k[1], st[1], pad[1] + pad[3]))


@shape_fn("maxpool")
def _maxpool(node: Node, s: list[Shape]) -> Shape:
    x = s[0]
    _rank(node, x, 4)
    k, st, pad, dil = attr(node, "kernel"), attr(node, "stride"), attr(node, "padding"), attr(node, "dilation")
    out = [x[0], x[1]]
    for a in (0, 1):
        size = x[2 + a]
        if size is None:
            out.append(None)
            continue
        span = (k[a] - 1) * dil[a] + 1
        full = size + pad[a] + pad[a + 2]
        if full < span:
            raise ShapeError(node, f"window {span} is larger than the padded input {full}")
        if attr(node, "ceil_mode"):
            o = -(-(full - span) // st[a]) + 1
            if (o - 1) * st[a] >= size + pad[a]:  # the last window must start inside the input
                o -= 1
        else:
            o = (full - span) // st[a] + 1
        out.append(o)
    return tuple(out)


@shape_fn("globalavgpool")
def _gap(node: Node, s: list[Shape]) -> Shape:
    _rank(node, s[0], 4)
    return (s[0][0], s[0][1], 1, 1)


@shape_fn("linear")
def _linear(node: Node, s: list[Shape]) -> Shape:
    x, w = s[0], node.params["weight"]
    if not x or (x[-1] is not None and x[-1] != w.shape[1]):
        raise ShapeError(node, f"input {_fmt(x)} has not {w.shape[1]} features in its last axis (weight {w.shape})")
    return tuple(x[:-1]) + (w.shape[0],)


@shape_fn("matmul")
def _matmul(node: Node, s: list[Shape]) -> Shape:
    x, w = s[0], node.params["weight"]
    if not x or (x[-1] is not None and x[-1] != w.shape[0]):
        raise ShapeError(node, f"input {_fmt(x)} does not match weight {w.shape} (in, out)")
    return tuple(x[:-1]) + (w.shape[1],)


@shape_fn("gemm")
def _gemm(node: Node, s: list[Shape]) -> Shape:
    x = s[0]
    _rank(node, x, 2)
    w = node.params["weight"]
    m, k = (x[1], x[0]) if attr(node, "transA") else (x[0], x[1])
    kw, n = (w.shape[1], w.shape[0]) if attr(node, "transB") else (w.shape[0], w.shape[1])
    if k is not None and k != kw:
        raise ShapeError(node, f"input {_fmt(x)} does not match weight {w.shape}")
    out = (m, n)
    if "bias" in node.params:
        broadcast(node, out, node.params["bias"].shape)
    return out


@shape_fn("flatten")
def _flatten(node: Node, s: list[Shape]) -> Shape:
    x = s[0]
    axis = attr(node, "axis")
    axis = axis % len(x) if x else 0
    return (_prod(x[:axis]), _prod(x[axis:]))


@shape_fn("reshape")
def _reshape(node: Node, s: list[Shape]) -> Shape:
    x, target = s[0], [int(t) for t in attr(node, "shape")]
    if sum(1 for t in target if t == -1) > 1:
        raise ShapeError(node, f"target shape {tuple(target)} has more than one -1")
    if any(t == 0 for t in target[len(x):]):
        raise ShapeError(node, f"target shape {tuple(target)} copies a dim the input {_fmt(x)} lacks")
    out = [x[i] if t == 0 else t for i, t in enumerate(target)]
    # Dims copied with 0 cancel out, so a dynamic batch copied this way does not block inference.
    copied = {i for i, t in enumerate(target) if t == 0}
    in_rest = _prod([d for i, d in enumerate(x) if i not in copied])
    out_rest = _prod([t for t in target if t not in (0, -1)])
    if in_rest is None:
        return tuple(None if d == -1 else d for d in out)
    if -1 in target:
        if out_rest == 0 or in_rest % out_rest:
            raise ShapeError(node, f"cannot reshape {_fmt(x)} to {tuple(target)}")
        out[target.index(-1)] = in_rest // out_rest
    elif in_rest != out_rest:
        raise ShapeError(node, f"cannot reshape {_fmt(x)} to {tuple(target)}: element counts differ")
    return tuple(out)


@shape_fn("transpose")
def _transpose(node: Node, s: list[Shape]) -> Shape:
    perm = attr(node, "perm")
    if sorted(perm) != list(range(len(s[0]))):
        raise ShapeError(node, f"perm {perm} does not match input rank {len(s[0])}")
    return tuple(s[0][p] for p in perm)


@shape_fn("add")
def _add(node: Node, s: list[Shape]) -> Shape:
    other = s[1] if len(s) == 2 else node.params["const"].shape
    return broadcast(node, s[0], other)


@shape_fn("mul")
def _mul(node: Node, s: list[Shape]) -> Shape:
    return broadcast(node, s[0], node.params["const"].shape)


@shape_fn("concat")
def _concat(node: Node, s: list[Shape]) -> Shape:
    rank = len(s[0])
    axis = attr(node, "axis") % rank
    out = list(s[0])
    for other in s[1:]:
        if len(other) != rank:
            raise ShapeError(node, f"inputs have different ranks: {', '.join(map(_fmt, s))}")
        for d in range(rank):
            if d == axis:
                continue
            a, b = out[d], other[d]
            if a is not None and b is not None and a != b:
                raise ShapeError(node, f"inputs differ outside axis {axis}: {', '.join(map(_fmt, s))}")
            out[d] = a if a is not None else b
    out[axis] = None if any(x[axis] is None for x in s) else sum(x[axis] for x in s)
    return tuple(out)


@shape_fn("pad")
def _pad(node: Node, s: list[Shape]) -> Shape:
    x, pads = s[0], list(attr(node, "pads"))
    r = len(x)
    if len(pads) != 2 * r:
        raise ShapeError(node, f"pads {tuple(pads)} do not match input rank {r}")
    return tuple(None if d is None else d + pads[i] + pads[i + r] for i, d in enumerate(x))


missing = sorted(set(OPS) - set(SHAPE_FNS))
if missing:  # pragma: no cover - caught by the import in tests
    raise ImportError(f"shape inference has no function for ops: {', '.join(missing)}")
del missing
