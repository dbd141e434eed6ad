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
    elif ctx.value(node.args["weight"]).dim() != 2:
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


def _matrix_operand(node: TorchNode) -> tuple[str, str]:
    """(activation arg, constant matrix arg) names of mm/matmul/addmm."""
    return ("mat1", "mat2") if "mat1" in node.args else ("self", "other")


def _check_mm(node: TorchNode, ctx: TorchContext) -> list[str]:
    x, m = _matrix_operand(node)
    if not ctx.is_tensor(node.args[x]) or not ctx.is_const(node.args[m]):
        return ["only activation @ constant matrix is supported (a product of two activations is not)"]
    if ctx.value(node.args[m]).dim() != 2:
        return ["the constant operand is not a matrix"]
    if "input" in node.args:  # addmm
        if not ctx.is_const(node.args["input"]):
            return ["the bias is not a constant"]
        if ctx.value(node.args["input"]).dim() > 1:
            return ["the bias is not a vector"]
    return []


@converter("aten.addmm.default", "aten.mm.default", "aten.matmul.default", check=_check_mm)
def mm(node: TorchNode, ctx: TorchContext) -> None:
    x, m = _matrix_operand(node)
    alpha = float(node.args.get("alpha", 1) if "alpha" in node.args else 1)
    weight = np.ascontiguousarray(ctx.array(node.args[m]).T) * alpha  # (out, in)
    params = {"weight": weight.astype(np.float32)}
    if "input" in node.args:
        beta = float(node.args.get("beta", 1))
        n_out = weight.shape[0]
        params["bias"] = np.broadcast_to(ctx.array(node.args["input"]).reshape(-1), (n_out,)).astype(np.float32) * beta
    ctx.emit_for(node, "linear", [ctx.ir(node.args[x])], params=params)
