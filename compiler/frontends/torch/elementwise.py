"""add (two activations: the residual add; or activation + constant) -> add; sub / mul / div
by a constant -> add / mul. Products and quotients of two activations have no spiking
equivalent and are refused (they are what a custom autograd function or an attention layer
usually computes)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.frontends.torch.context import TorchContext, TorchNode
from snnc.compiler.frontends.torch.registry import converter

ADD = ("aten.add.Tensor", "aten.add_.Tensor", "aten.add.Scalar")
SUB = ("aten.sub.Tensor", "aten.sub_.Tensor", "aten.sub.Scalar")
MUL = ("aten.mul.Tensor", "aten.mul_.Tensor", "aten.mul.Scalar")
DIV = ("aten.div.Tensor", "aten.div_.Tensor", "aten.div.Scalar")
WHAT = {"add": "sum", "sub": "difference", "mul": "product", "div": "quotient"}


def _kind(node: TorchNode) -> str:
    return node.key.split(".")[1].rstrip("_")


def _operands(node: TorchNode, ctx: TorchContext) -> tuple[list, list]:
    """(activation operands, constant operands), each an fx value."""
    ops = [node.args["self"], node.args["other"]]
    return [o for o in ops if ctx.is_tensor(o)], [o for o in ops if not ctx.is_tensor(o)]


def _check(node: TorchNode, ctx: TorchContext) -> list[str]:
    kind = _kind(node)
    tensors, consts = _operands(node, ctx)
    if any(not ctx.is_const(c) for c in consts):
        return ["an operand computed from the batch size"]
    if len(tensors) == 2 and kind != "add":
        return [f"a {WHAT[kind]} of two activations (no spiking equivalent)"]
    if kind in ("sub", "div") and not ctx.is_tensor(node.args["self"]):
        return [f"a constant {'minus' if kind == 'sub' else 'divided by'} an activation"]
    if float(node.args.get("alpha", 1) or 1) != 1.0 and len(tensors) == 2:
        return ["alpha != 1"]
    return []


def _const(node: TorchNode, ctx: TorchContext, c) -> np.ndarray:
    return np.asarray(ctx.array(c), dtype=np.float32)


@converter(*ADD, *SUB, *MUL, *DIV, check=_check)
def arith(node: TorchNode, ctx: TorchContext) -> None:
    kind = _kind(node)
    tensors, consts = _operands(node, ctx)
    ins = [ctx.ir(t) for t in tensors]
    if not consts:
        ctx.emit_for(node, "add", ins)
        return
    c = _const(node, ctx, consts[0])
    alpha = float(node.args.get("alpha", 1) or 1)
    # np.asarray: arithmetic on a 0-d array (a Python number's constant, `x - 0.5`) gives a numpy scalar
    if kind == "add":
        ctx.emit_for(node, "add", ins, params={"const": np.asarray(c * alpha, np.float32)})
    elif kind == "sub":
        ctx.emit_for(node, "add", ins, params={"const": np.asarray(-c * alpha, np.float32)})
    elif kind == "mul":
        ctx.emit_for(node, "mul", ins, params={"const": c})
    else:
        ctx.emit_for(node, "mul", ins, params={"const": np.asarray(1.0 / c.astype(np.float64), np.float32)})
