"""linear -> linear; addmm / mm / matmul with a constant matrix -> linear (decomposed graphs
write `nn.Linear` as addmm(bias, x, permute(W)))."""
from __future__ import annotations

import numpy as np

from snnc.compiler.frontends.torch.context import TorchContext, TorchNode
from snnc.compiler.frontends.torch.registry import converter


def _check_linear(node: TorchNode, ctx: TorchContext) -> list[str]:
    out = []
    if not ctx.is_const(node.args.get("weight")):
        out.append("the weight is not a constant (a product of two activations)")
    elif ctx.ndim(node.args["weight"]) != 2:
        out.append("the weight is not a matrix")
    if node.args.get("bias") is not None and not ctx.is_const(node.args["bias"]):
        out.append("the bias is not a constant")
    return out


@converter("aten.linear.default", check=_check_linear)
def linear(node: TorchNode, ctx: TorchContext) -> None:
    params = {"weight": ctx.array(node.args["weight"])}
    if node.args.get("bias") is not None:
        params["bias"] = ctx.array(node.args["bias"])
    ctx.emit_for(node, "linear", [ctx.ir(node.args["input"])], params=params)


def _operands(node: TorchNode) -> tuple[str, str, str | None]:
    """(activation, constant matrix, bias) argument names: addmm(self=bias, mat1, mat2),
    mm(self, mat2), matmul(self, other)."""
    if node.key == "aten.addmm.default":
        return "mat1", "mat2", "self"
    return "self", ("mat2" if node.key == "aten.mm.default" else "other"), None


def _check_mm(node: TorchNode, ctx: TorchContext) -> list[str]:
    x, m, b = _operands(node)
    if not ctx.is_tensor(node.args[x]) or not ctx.is_const(node.args[m]):
        return ["only activation @ constant matrix is supported (a product of two activations is not)"]
    if ctx.ndim(node.args[m]) != 2:
        return ["the constant operand is not a matrix"]
    if b is not None:
        if not ctx.is_const(node.args[b]):
            return ["the bias is not a constant"]
        if ctx.ndim(node.args[b]) > 1:
            return ["the bias is not a vector"]
    return []


@converter("aten.addmm.default", "aten.mm.default", "aten.matmul.default", check=_check_mm)
def mm(node: TorchNode, ctx: TorchContext) -> None:
    x, m, b = _operands(node)
    alpha = float(node.args.get("alpha", 1) if b is not None else 1)
    weight = np.ascontiguousarray(ctx.array(node.args[m]).T) * alpha  # (out, in)
    params = {"weight": weight.astype(np.float32)}
    if b is not None:
        beta = float(node.args.get("beta", 1))
        bias = np.broadcast_to(ctx.array(node.args[b]).reshape(-1), (weight.shape[0],)) * beta
        params["bias"] = bias.astype(np.float32)
    ctx.emit_for(node, "linear", [ctx.ir(node.args[x])], params=params)
