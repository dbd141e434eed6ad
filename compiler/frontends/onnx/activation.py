"""Relu -> relu; Clip (min/max as constant inputs since opset 11) -> clip (ReLU6 is clip 0..6)."""
from __future__ import annotations

from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


@converter("Relu", 11)
def relu(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("relu", [node.input(0)], node.outputs[0], name=node.name)


def _check_clip(node: OnnxNode, ctx: ImportContext) -> list[str]:
    out = []
    for i, what in ((1, "min"), (2, "max")):
        name = node.input(i)
        if name and not ctx.is_const(name):
            out.append(f"{what} is not a constant")
        elif name and ctx.const(name).size != 1:
            out.append(f"{what} is not a scalar")
    return out


@converter("Clip", 11, check=_check_clip)
def clip(node: OnnxNode, ctx: ImportContext) -> None:
    lo, hi = ctx.optional_const(node.input(1)), ctx.optional_const(node.input(2))
    attrs = {
        "min": float("-inf") if lo is None else float(lo.reshape(())),
        "max": float("inf") if hi is None else float(hi.reshape(())),
    }
    ctx.emit("clip", [node.input(0)], node.outputs[0], name=node.name, attrs=attrs)
