"""Conv -> conv. Weight (O, I/groups, kh, kw) and bias must be constants; 2-D only."""
from __future__ import annotations

from snnc.compiler.frontends.onnx.common import padding, pair, window_problems
from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


def _check(node: OnnxNode, ctx: ImportContext) -> list[str]:
    if not ctx.is_const(node.input(1)):
        return ["weight is not a constant"]
    out = []
    if node.input(2) and not ctx.is_const(node.input(2)):
        out.append("bias is not a constant")
    w = ctx.const(node.input(1))
    return out + window_problems(node, ctx, tuple(w.shape[2:]))


@converter("Conv", 11, check=_check)
def conv(node: OnnxNode, ctx: ImportContext) -> None:
    w = ctx.param(node.input(1))
    kernel = tuple(w.shape[2:])
    stride, dilation = pair(node, "strides", 1), pair(node, "dilations", 1)
    params = {"weight": w}
    if node.input(2):
        params["bias"] = ctx.param(node.input(2))
    attrs = {
        "stride": stride,
        "padding": padding(node, ctx, kernel, stride, dilation),
        "dilation": dilation,
        "groups": int(node.attr("group", 1)),
    }
    ctx.emit("conv", [node.input(0)], node.outputs[0], name=node.name, attrs=attrs, params=params)
