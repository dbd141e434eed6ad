"""Gemm -> gemm (ONNX attrs kept) and MatMul -> matmul; the second operand (and C) must be constant.

canonicalize later turns gemm, and matmul followed by add, into linear.
"""
from __future__ import annotations

from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


def _check_gemm(node: OnnxNode, ctx: ImportContext) -> list[str]:
    out = []
    if ctx.is_const(node.input(0)):
        out.append("first operand A is a constant")
    if not ctx.is_const(node.input(1)):
        out.append("operand B is not a constant")
    if node.input(2) and not ctx.is_const(node.input(2)):
        out.append("operand C is not a constant")
    if out:
        return out
    b = ctx.const(node.input(1))
    if b.ndim != 2:
        return [f"operand B of rank {b.ndim} (Gemm multiplies by a 2-D matrix)"]
    a = ctx.shape(node.input(0))
    if a is not None and len(a) != 2:
        out.append(f"operand A of rank {len(a)} (Gemm reads a 2-D matrix; flatten first)")
    n = b.shape[0] if int(node.attr("transB", 0)) else b.shape[1]
    if node.input(2):
        c = ctx.const(node.input(2))
        if c.ndim > 2 or (c.ndim >= 1 and c.shape[-1] not in (1, n)):
            out.append(f"operand C of shape {list(c.shape)} does not broadcast to the {n} outputs")
    return out


@converter("Gemm", 11, check=_check_gemm)
def gemm(node: OnnxNode, ctx: ImportContext) -> None:
    params = {"weight": ctx.param(node.input(1))}
    if node.input(2):
        params["bias"] = ctx.param(node.input(2))
    attrs = {
        "alpha": float(node.attr("alpha", 1.0)),
        "beta": float(node.attr("beta", 1.0)),
        "transA": int(node.attr("transA", 0)),
        "transB": int(node.attr("transB", 0)),
    }
    ctx.emit("gemm", [node.input(0)], node.outputs[0], name=node.name, attrs=attrs, params=params)


def _check_matmul(node: OnnxNode, ctx: ImportContext) -> list[str]:
    if ctx.is_const(node.input(0)) or not ctx.is_const(node.input(1)):
        return ["only tensor @ constant matrix is supported"]
    if ctx.const(node.input(1)).ndim != 2:
        return [f"constant operand of rank {ctx.const(node.input(1)).ndim} (must be a 2-D matrix)"]
    return []


@converter("MatMul", 11, check=_check_matmul)
def matmul(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("matmul", [node.input(0)], node.outputs[0], name=node.name, params={"weight": ctx.param(node.input(1))})
