"""cat -> concat; dropout (eval) -> dropout; clone / contiguous / alias / detach / float casts ->
identity (canonicalize drops both); constant_pad_nd -> pad; getitem of a multi-output op
(max_pool2d_with_indices, the decomposed BatchNorm) maps to its first output, the only one
snnc computes."""
from __future__ import annotations

from snnc.compiler.frontends.torch.context import PNode, TorchContext, TorchNode
from snnc.compiler.frontends.torch.registry import converter

# Multi-output ops whose output 0 snnc imports (the others are indices or batch statistics).
TUPLE_OPS = {"aten.max_pool2d_with_indices.default": "the indices of max_pool2d",
             "aten._native_batch_norm_legit_no_training.default": "the batch statistics of batch_norm",
             "aten.native_dropout.default": "the dropout mask"}


def _axis(dim: int, rank: int | None) -> int:
    return dim + rank if dim < 0 and rank is not None else dim


def _check_cat(node: TorchNode, ctx: TorchContext) -> list[str]:
    if not all(ctx.is_tensor(t) for t in node.args["tensors"]):
        return ["concatenates constants with activations"]
    return []


@converter("aten.cat.default", "aten.concat.default", check=_check_cat)
def cat(node: TorchNode, ctx: TorchContext) -> None:
    tensors = node.args["tensors"]
    axis = _axis(int(node.args.get("dim", 0)), ctx.rank(tensors[0]))
    ctx.emit_for(node, "concat", [ctx.ir(t) for t in tensors], attrs={"axis": axis})


def _check_dropout(node: TorchNode, ctx: TorchContext) -> list[str]:
    return ["dropout in training mode: call model.eval() before exporting"] if node.args.get("train") else []


@converter("aten.dropout.default", "aten.dropout_.default", "aten.feature_dropout.default", "aten.alpha_dropout.default",
           "aten.feature_alpha_dropout.default", "aten.native_dropout.default", check=_check_dropout)
def dropout(node: TorchNode, ctx: TorchContext) -> None:
    ctx.emit_for(node, "dropout", [ctx.ir(node.args["input"])])


IDENTITY = ("aten.clone.default", "aten.contiguous.default", "aten.alias.default", "aten.detach.default",
            "aten.detach_.default", "aten.lift_fresh_copy.default", "aten._to_copy.default", "aten.to.dtype")


def _check_identity(node: TorchNode, ctx: TorchContext) -> list[str]:
    dtype = node.args.get("dtype")
    if dtype is not None and dtype not in ("float32", "float64"):
        return [f"a cast to torch.{dtype}"]
    return []


@converter(*IDENTITY, check=_check_identity)
def identity(node: TorchNode, ctx: TorchContext) -> None:
    ctx.emit_for(node, "identity", [ctx.ir(node.args["self"])])


def _check_pad(node: TorchNode, ctx: TorchContext) -> list[str]:
    pad, r = node.args.get("pad") or [], ctx.rank(node.args["self"])
    if r is None or len(pad) % 2 or len(pad) // 2 > r:
        return ["pads that do not match the input rank"]
    if any(int(p) < 0 for p in pad):
        return ["negative pads (cropping)"]
    return []


@converter("aten.constant_pad_nd.default", check=_check_pad)
def constant_pad(node: TorchNode, ctx: TorchContext) -> None:
    """torch lists (begin, end) from the last axis backwards; ONNX all begins, then all ends."""
    pad, r = [int(p) for p in node.args["pad"]], ctx.rank(node.args["self"])
    begin, end = [0] * r, [0] * r
    for j in range(len(pad) // 2):
        begin[r - 1 - j], end[r - 1 - j] = pad[2 * j], pad[2 * j + 1]
    ctx.emit_for(node, "pad", [ctx.ir(node.args["self"])],
                 attrs={"pads": tuple(begin + end), "value": float(node.args.get("value", 0) or 0)})


def _check_getitem(node: TorchNode, ctx: TorchContext) -> list[str]:
    src, idx = node.args["arg0"], node.args["arg1"]
    key = ctx.keys.get(src.name) if isinstance(src, PNode) else None
    if key not in TUPLE_OPS:
        return [f"indexing the output of {key or src}"]
    if idx != 0 and node.output in ctx.used:  # torch.export.load makes a getitem of every output
        return [f"uses {TUPLE_OPS[key]}"]
    return []


@converter("operator.getitem", check=_check_getitem)
def getitem(node: TorchNode, ctx: TorchContext) -> None:
    ctx.tensors[node.output] = ctx.tensors[node.args["arg0"].name]
