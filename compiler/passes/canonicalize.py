"""Canonicalize: rewrite what the front ends produce into the small canonical op set.

Rewrites (each preserves the function; tests compare the float interpreter before and after):
- `identity`, `dropout` are dropped;
- `gemm` -> `linear`: alpha, beta, transB fold into the weight (out, in) and bias; transA=1
  becomes a `transpose` before it; a bias that is not one value per output stays an `add`;
- `matmul` (constant weight (in, out)) -> `linear` with weight W.T;
- a `conv`/`linear` followed by `add` of a per-output-channel constant -> the constant moves into
  the layer's bias;
- `mul` by a per-channel constant -> `batchnorm` (scale = const); a following per-channel `add`
  constant moves into its bias (the tf2onnx BatchNorm form; `fold_bn` then folds it);
- `pad` (constant 0, spatial axes only) -> the following conv's padding, or the following
  avgpool's padding with count_include_pad=1;
- `reshape` that only flattens ((0|N, -1), or (anything, prod(rest))) -> `flatten` axis=1;
- a `reshape` that keeps the rank and only moves axes of size 1 (tf2onnx's NHWC -> NCHW of a
  one-channel image) -> the equivalent `transpose`;
- `flatten` (axis 1) of a rank-2 tensor is the identity and is dropped (torch's decompositions
  drop it too, so both routes give one IR);
- layout transposes as tf2onnx writes them for a Keras (NHWC) model: two transposes in a row
  compose (and vanish when they cancel), also when the first has other readers; an elementwise op
  (ReLU, Clip, Add, Mul; of a constant, permuted, or of two tensors transposed alike) after
  transposes moves before them when a transpose reads its result, so the pairs meet (tf2onnx
  without its optimizers); a transpose that keeps the batch axis, read only by a
  flatten read only by a linear, moves into the linear's weight columns (the NHWC flatten order
  of `Transpose(0,2,3,1) -> Reshape -> MatMul`);
- a transpose (batch axis kept) that is the only reader of the graph input moves to the host:
  the graph input is re-declared in the transposed layout (NHWC -> NCHW) and
  `graph.meta["input_transpose"]` records the perm. This is the one rule that changes the
  graph's interface: the canonical graph computes f(x.transpose(perm)) == original f(x).

Rules are a registry keyed by op; the pass applies them until none fires.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import attr
from snnc.compiler.ir.rewrite import Rewriter, prune_values, rank_of
from snnc.compiler.passes.manager import Pass
from snnc.compiler.passes.shape_inference import infer_shapes
from snnc.compiler.registry import Registry

Rule = Callable[[Rewriter, Node], bool]  # True when it rewrote the graph
RULES = Registry("canonicalization rule", multi=True)
rule = RULES.register


class Canonicalize(Pass):
    name = "canonicalize"
    requires = ()
    ensures = ("canonical",)

    def run(self, graph: Graph) -> Graph:
        return canonicalize(graph)


def canonicalize(graph: Graph) -> Graph:
    """Apply the rewrite rules in place until none fires; returns the graph.

    Each sweep visits the nodes in order (those a rule removes during the sweep are skipped) and
    applies the first rule of a node's op that fires; sweeps repeat until one changes nothing.
    The edits go through a `Rewriter`, so a sweep costs time linear in the graph's size; the
    number of sweeps depends on how rewrites enable each other, not on the size."""
    try:  # shapes help some rules (reshape -> flatten, per-channel constants); optional here
        infer_shapes(graph)
    except SnncError:
        pass
    rw = Rewriter(graph)
    changed = True
    while changed:
        changed = False
        for node in rw.nodes():
            if not rw.alive(node):
                continue
            for fn in RULES.get(node.op, ()):
                if fn(rw, node):
                    changed = True
                    break
    rw.commit()
    prune_values(graph)
    return graph


# -- helpers ----------------------------------------------------------------------------------------
def per_channel(const: np.ndarray, rank: int | None, axis: int, channels: int) -> np.ndarray | None:
    """`const` as a (channels,) vector if broadcasting it against a rank-`rank` tensor adds one
    value per index of `axis` (or one value everywhere); else None."""
    if rank is None or const.ndim > rank:
        return None
    full = (1,) * (rank - const.ndim) + const.shape
    if any(d != 1 for i, d in enumerate(full) if i != axis) or full[axis] not in (1, channels):
        return None
    return np.broadcast_to(const.reshape(-1), (channels,)).astype(np.float64).copy()


# -- rules --------------------------------------------------------------------------------------------
@rule("identity", "dropout")
def drop_identity(rw: Rewriter, node: Node) -> bool:
    rw.bypass(node)
    return True


@rule("gemm")
def gemm_to_linear(rw: Rewriter, node: Node) -> bool:
    alpha, beta = float(attr(node, "alpha")), float(attr(node, "beta"))
    w = np.asarray(node.params["weight"], dtype=np.float64)
    if w.ndim != 2:
        return False
    weight = alpha * (w if attr(node, "transB") else w.T)  # (out, in)
    out = weight.shape[0]
    src = node.input
    new_nodes: list[Node] = []
    if attr(node, "transA"):
        t_out = rw.fresh_value(f"{node.output}_transA")
        new_nodes.append(Node(rw.fresh_node_name(f"{node.name}_transA"), "transpose", [src], [t_out], {"perm": (1, 0)}))
        src = t_out
    linear = Node(node.name, "linear", [src], [node.output], params={"weight": weight})
    new_nodes.append(linear)
    if "bias" in node.params:
        c = beta * np.asarray(node.params["bias"], dtype=np.float64)
        vec = per_channel(c, 2, 1, out)
        if vec is not None:
            linear.params["bias"] = vec
        else:  # a bias per row (M, N): keep it as an add of a constant
            mid = rw.fresh_value(f"{node.output}_nobias")
            linear.outputs = [mid]
            new_nodes.append(Node(rw.fresh_node_name(f"{node.name}_bias"), "add", [mid], [node.output], params={"const": c}))
    rw.splice(node, new_nodes)
    return True


@rule("matmul")
def matmul_to_linear(rw: Rewriter, node: Node) -> bool:
    w = np.asarray(node.params["weight"], dtype=np.float64)
    if w.ndim != 2:
        return False
    node.op = "linear"
    node.params = {"weight": np.ascontiguousarray(w.T)}
    node.attrs = {}
    return True


@rule("conv", "linear", "batchnorm")
def add_into_bias(rw: Rewriter, node: Node) -> bool:
    """conv/linear/batchnorm followed by an add of a per-output-channel constant."""
    nxt = rw.sole_reader(node.output)
    if nxt is None or nxt.op != "add" or len(nxt.inputs) != 1:
        return False
    if node.op == "conv":
        channels, rank, axis = node.params["weight"].shape[0], 4, 1
    elif node.op == "linear":
        channels = node.params["weight"].shape[0]
        rank = rank_of(rw.graph, node.output) or 2
        axis = rank - 1
    else:
        channels, rank, axis = node.params["scale"].shape[0], rank_of(rw.graph, node.output), 1
    vec = per_channel(np.asarray(nxt.params["const"]), rank, axis, channels)
    if vec is None:
        return False
    bias = node.params.get("bias")
    node.params["bias"] = vec if bias is None else np.asarray(bias, dtype=np.float64) + vec
    rw.remove(nxt)
    rw.absorb(node, nxt.output)
    return True


@rule("mul")
def mul_to_batchnorm(rw: Rewriter, node: Node) -> bool:
    """x * per-channel constant (axis 1) -> batchnorm with mean 0, var 1, eps 0."""
    shp = rw.graph.shape(node.input)
    if shp is None or len(shp) < 2 or shp[1] is None:
        return False
    vec = per_channel(np.asarray(node.params["const"]), len(shp), 1, shp[1])
    if vec is None:
        return False
    c = shp[1]
    node.op = "batchnorm"
    node.attrs = {"eps": 0.0}
    node.params = {"scale": vec, "bias": np.zeros(c), "mean": np.zeros(c), "var": np.ones(c)}
    return True


def _spatial_pads(node: Node) -> tuple[int, int, int, int] | None:
    pads = [int(x) for x in attr(node, "pads")]
    if len(pads) != 8 or float(attr(node, "value")) != 0.0 or any(x < 0 for x in pads):
        return None
    if pads[0] or pads[1] or pads[4] or pads[5]:
        return None
    return (pads[2], pads[3], pads[6], pads[7])  # top, left, bottom, right


@rule("pad")
def fold_pad(rw: Rewriter, node: Node) -> bool:
    extra = _spatial_pads(node)
    nxt = rw.sole_reader(node.output)
    if extra is None or nxt is None:
        return False
    own = tuple(attr(nxt, "padding")) if nxt.op in ("conv", "avgpool") else None
    if nxt.op == "conv" and tuple(attr(nxt, "input_dilation")) != (1, 1):
        return False  # its padding pads the zero-inserted input, not this one (a ConvTranspose)
    if nxt.op == "conv":
        pass
    elif nxt.op == "avgpool" and (attr(nxt, "count_include_pad") or not any(own)):
        nxt.attrs["count_include_pad"] = 1
    else:
        return False
    nxt.attrs["padding"] = tuple(a + b for a, b in zip(own, extra))
    rw.bypass(node)
    return True


@rule("reshape")
def reshape_to_flatten(rw: Rewriter, node: Node) -> bool:
    target = [int(t) for t in attr(node, "shape")]
    shp = rw.graph.shape(node.input)
    if len(target) != 2 or shp is None or len(shp) < 2:
        return False
    a, b = target
    rest = None if any(d is None for d in shp[1:]) else math.prod(shp[1:])
    # (0, -1) or (N, -1) with N the known batch; or (anything, prod(rest)): any valid input of
    # the original reshape then has batch N, so the result is the flatten.
    flattens = (b == -1 and (a == 0 or (shp[0] is not None and a == shp[0]))) or (rest is not None and b == rest)
    if not flattens:
        return False
    node.op = "flatten"
    node.attrs = {"axis": 1}
    return True


# -- layout transposes (tf2onnx / Keras NHWC) --------------------------------------------------------
def _perm(node: Node) -> tuple[int, ...]:
    return tuple(int(p) for p in attr(node, "perm"))


@rule("transpose")
def compose_transposes(rw: Rewriter, node: Node) -> bool:
    """transpose(p) then transpose(q) is transpose(p[q]); the identity perm is dropped."""
    p = _perm(node)
    if p == tuple(range(len(p))):
        rw.bypass(node)
        return True
    nxt = rw.sole_reader(node.output)
    if nxt is None or nxt.op != "transpose" or len(_perm(nxt)) != len(p):
        return False
    nxt.attrs["perm"] = tuple(p[i] for i in _perm(nxt))
    rw.set_inputs(nxt, [node.input])
    rw.remove(node)
    return True


@rule("transpose")
def compose_with_producer(rw: Rewriter, node: Node) -> bool:
    """A transpose reading a transpose that has other readers too: it reads the first one's input
    with the composed perm (the first one goes when nothing reads it any more). Not at the graph
    input, which `input_transpose_to_host` handles."""
    src = rw.producer(node.input)
    if src is None or src.op != "transpose" or len(_perm(src)) != len(_perm(node)) or src.input in rw.graph.inputs:
        return False
    p = _perm(src)
    node.attrs["perm"] = tuple(p[i] for i in _perm(node))
    rw.set_inputs(node, [src.input])
    if not rw.readers(src.output) and src.output not in rw.graph.outputs:
        rw.remove(src)
    return True


LAYOUT_FREE = ("relu", "clip", "add", "mul")  # elementwise: commute with a permutation of the axes


def _meets_transpose(rw: Rewriter, value: str, depth: int = 32) -> bool:
    """Whether a transpose reads `value`, directly or through elementwise ops."""
    todo, seen = [value], set()
    while todo and depth > 0:
        depth -= 1
        for r in rw.readers(todo.pop()):
            if r.op == "transpose":
                return True
            if r.op in LAYOUT_FREE and r.output not in seen:
                seen.add(r.output)
                todo.append(r.output)
    return False


@rule(*LAYOUT_FREE)
def transpose_after_elementwise(rw: Rewriter, node: Node) -> bool:
    """relu/clip/add/mul (of a constant, or of two tensors) whose every input is the output of a
    transpose with the same perm p, read by nothing else: the op runs before the transposes, its
    constant permuted by p's inverse, and one transpose(p) follows it. The NCHW <-> NHWC pairs
    tf2onnx writes around Conv, BatchNormalization and pooling when its optimizers are off (with
    the BN's Add, the ReLU and the residual Add in NHWC between them) then meet and compose.
    Only when a transpose reads the result, directly or through more such ops (otherwise
    transposes stay where they are)."""
    graph = rw.graph
    ts = [rw.producer(i) for i in node.inputs]
    if not ts or any(t is None or t.op != "transpose" for t in ts):
        return False
    p = _perm(ts[0])
    if any(_perm(t) != p or t.input in graph.inputs or t.output in graph.outputs for t in ts):
        return False
    if any(r is not node for t in ts for r in rw.readers(t.output)):
        return False
    if "const" in node.params:
        c = np.asarray(node.params["const"])
        if c.ndim > len(p):
            return False
        c = c.reshape((1,) * (len(p) - c.ndim) + c.shape).transpose(np.argsort(p))
    if not _meets_transpose(rw, node.output):
        return False
    if "const" in node.params:
        node.params["const"] = np.ascontiguousarray(c)
    out = node.output
    mid = rw.fresh_value(f"{out}_untransposed", graph.shape(ts[0].input))
    for t in {id(t): t for t in ts}.values():
        rw.remove(t)
    rw.set_inputs(node, [t.input for t in ts])
    rw.set_outputs(node, [mid])
    after = Node(rw.fresh_node_name(f"{node.name}_transpose"), "transpose", [mid], [out], {"perm": p})
    rw.splice(node, [node, after])
    return True


@rule("transpose")
def transpose_into_linear(rw: Rewriter, node: Node) -> bool:
    """transpose(p, p[0] = 0) -> flatten(axis 1) -> linear: permute the linear's weight columns."""
    p = _perm(node)
    shp = rw.graph.shape(node.input)
    flat = rw.sole_reader(node.output)
    if p[0] != 0 or shp is None or len(shp) != len(p) or any(d is None for d in shp[1:]):
        return False
    if flat is None or flat.op != "flatten" or int(attr(flat, "axis")) != 1:
        return False
    lin = rw.sole_reader(flat.output)
    if lin is None or lin.op != "linear":
        return False
    w = np.asarray(lin.params["weight"])
    t_dims = [shp[i] for i in p[1:]]
    if w.ndim != 2 or w.shape[1] != math.prod(t_dims):
        return False
    inv = np.argsort(p[1:])  # original axis j (0-based after the batch) sits at axis inv[j] of the transposed
    lin.params["weight"] = np.ascontiguousarray(
        w.reshape((w.shape[0], *t_dims)).transpose([0] + [int(i) + 1 for i in inv]).reshape(w.shape[0], -1))
    rw.set_inputs(flat, [node.input])
    rw.remove(node)
    return True


@rule("transpose")
def input_transpose_to_host(rw: Rewriter, node: Node) -> bool:
    """The graph input read only by a transpose that keeps the batch axis: re-declare the input in
    the transposed layout and record the perm in graph.meta["input_transpose"]."""
    graph = rw.graph
    p = _perm(node)
    x = node.input
    if x not in graph.inputs or p[0] != 0 or rw.sole_reader(x) is not node or node.output in graph.outputs:
        return False
    shp = graph.shape(x)
    if shp is None or len(shp) != len(p):
        return False
    before = graph.meta.get("input_transpose")
    graph.meta["input_transpose"] = p if before is None else tuple(before[i] for i in p)
    rw.remove(node)
    rw.replace_uses(node.output, x)
    graph.values[x].shape = tuple(shp[i] for i in p)
    return True


@rule("flatten")
def drop_noop_flatten(rw: Rewriter, node: Node) -> bool:
    """flatten(axis=1) of a rank-2 input changes nothing."""
    shp = rw.graph.shape(node.input)
    if shp is None or len(shp) != 2 or int(attr(node, "axis")) != 1:
        return False
    rw.bypass(node)
    return True


@rule("reshape")
def reshape_to_transpose(rw: Rewriter, node: Node) -> bool:
    """A same-rank reshape that keeps the batch axis first and the other axes of size > 1 in order
    is a transpose moving the size-1 axes: (N, H, W, 1) -> (N, 1, H, W) is perm (0, 3, 1, 2)."""
    shp = rw.graph.shape(node.input)
    target = [int(t) for t in attr(node, "shape")]
    if shp is None or len(target) != len(shp) or any(d is None for d in shp[1:]) or target[0] not in (0, -1) and target[0] != shp[0]:
        return False
    out = list(shp[:1]) + [shp[i] if t == 0 else t for i, t in enumerate(target) if i > 0]
    if -1 in out[1:] or list(out[1:]) == list(shp[1:]):
        return False
    big_in = [i for i in range(1, len(shp)) if shp[i] != 1]
    big_out = [i for i in range(1, len(out)) if out[i] != 1]
    if [shp[i] for i in big_in] != [out[i] for i in big_out]:
        return False
    ones_in = [i for i in range(1, len(shp)) if shp[i] == 1]
    perm = [0] * len(shp)
    src_big, src_one = iter(big_in), iter(ones_in)
    for j in range(1, len(out)):
        perm[j] = next(src_big) if out[j] != 1 else next(src_one)
    node.op = "transpose"
    node.attrs = {"perm": tuple(perm)}
    return True


# -- reshape chains: a data Unsqueeze (or Squeeze) imports as a reshape that keeps the batch axis ------
def _keeps_batch(node: Node | None) -> bool:
    """A flatten(axis 1), or a reshape copying the batch dim (target[0] = 0): the batch stays axis 0
    and each sample's values keep their row-major order."""
    if node is None:
        return False
    if node.op == "flatten":
        return int(attr(node, "axis")) == 1
    return node.op == "reshape" and int(attr(node, "shape")[0]) == 0


@rule("reshape", "flatten")
def compose_reshapes(rw: Rewriter, node: Node) -> bool:
    """A reshape (no 0 after position 0) or flatten(axis 1) of a batch-keeping reshape/flatten
    computes the same from that op's input (both only regroup the row-major values); the inner op
    goes when nothing else reads it. Unsqueeze -> Flatten becomes one flatten."""
    if node.op == "flatten" and int(attr(node, "axis")) != 1:
        return False
    if node.op == "reshape" and any(int(t) == 0 for t in attr(node, "shape")[1:]):
        return False  # a 0 there copies a dim of the inner op's output, not of its input
    inner = rw.producer(node.input)
    if not _keeps_batch(inner):
        return False
    rw.set_inputs(node, [inner.input])
    if not rw.readers(inner.output) and inner.output not in rw.graph.outputs:
        rw.remove(inner)
    return True


@rule("reshape")
def drop_noop_reshape(rw: Rewriter, node: Node) -> bool:
    """A reshape to its input's own shape (batch copied, every other dim known) changes nothing:
    a Squeeze/Unsqueeze pair, once composed."""
    shp, target = rw.graph.shape(node.input), [int(t) for t in attr(node, "shape")]
    if shp is None or not target or target[0] != 0 or len(target) != len(shp) or any(d is None for d in shp[1:]):
        return False
    rest = [shp[i] if t == 0 else t for i, t in enumerate(target)][1:]
    if rest.count(-1) == 1:
        known = math.prod(d for d in rest if d != -1)
        rest = [math.prod(shp[1:]) // known if d == -1 else d for d in rest] if known else rest
    if list(rest) != list(shp[1:]):
        return False
    rw.bypass(node)
    return True
