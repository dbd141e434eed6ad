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
    if w.ndim != 4:
        return out + [f"weight of rank {w.ndim} (a 2-D convolution's weight is (out, in/group, kh, kw))"]
    out += window_problems(node, ctx, tuple(w.shape[2:]))
    g = int(node.attr("group", 1))
    if g < 1:
        return out + [f"group={g} (must be >= 1)"]
    if w.shape[0] % g:
        out.append(f"group={g} does not divide the weight's {w.shape[0]} output channels")
    x = ctx.shape(node.input(0))
    if x is not None and len(x) != 4:
        out.append(f"rank-{len(x)} input (a 2-D convolution reads N, C, H, W)")
    elif x is not None and x[1] is not None and x[1] != w.shape[1] * g:
        out.append(f"the input has {x[1]} channels, the weight expects {w.shape[1] * g} "
                   f"({w.shape[1]} per group x group={g})")
    if node.input(2) and ctx.is_const(node.input(2)) and tuple(ctx.const(node.input(2)).shape) != (w.shape[0],):
        out.append(f"bias of shape {list(ctx.const(node.input(2)).shape)} (expected [{w.shape[0]}])")
    return out


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
