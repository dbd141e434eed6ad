"""AveragePool -> avgpool, MaxPool -> maxpool, GlobalAveragePool -> globalavgpool (2-D only).

The IR's avgpool has no ceil_mode: AveragePool with ceil_mode=1 is imported only when rounding
up does not change the output size for the model's known input size.
"""
from __future__ import annotations

from snnc.compiler.frontends.onnx.common import padding, pair, window_problems
from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


def _kernel(node: OnnxNode) -> tuple:
    return tuple(int(k) for k in node.attr("kernel_shape", ()))


def _ceil_changes_size(node: OnnxNode, ctx: ImportContext) -> str | None:
    """A reason when ceil_mode=1 gives another output size than floor, else None."""
    if not int(node.attr("ceil_mode", 0)) or node.attr("auto_pad", "NOTSET") != "NOTSET":
        return None  # with auto_pad the output size does not depend on ceil_mode
    shape = ctx.shape(node.input(0))
    if shape is None or len(shape) != 4 or None in shape[2:]:
        return "ceil_mode=1 with an unknown input size"
    k, s, d = _kernel(node), pair(node, "strides", 1), pair(node, "dilations", 1)
    pads = padding(node, ctx, k, s, d)
    for i in range(2):
        room = shape[2 + i] + pads[i] + pads[i + 2] - ((k[i] - 1) * d[i] + 1)
        if room % s[i]:
            return "ceil_mode=1 changes the output size"
    return None


def _check_avgpool(node: OnnxNode, ctx: ImportContext) -> list[str]:
    out = window_problems(node, ctx, _kernel(node))
    if out:
        return out
    if pair(node, "dilations", 1) != (1, 1):  # opset 19+
        out.append("dilations other than 1")
    reason = _ceil_changes_size(node, ctx)
    return out + ([reason] if reason else [])


@converter("AveragePool", 11, check=_check_avgpool)
def avgpool(node: OnnxNode, ctx: ImportContext) -> None:
    k, s = _kernel(node), pair(node, "strides", 1)
    attrs = {
        "kernel": k,
        "stride": s,
        "padding": padding(node, ctx, k, s, (1, 1)),
        "count_include_pad": int(node.attr("count_include_pad", 0)),
    }
    ctx.emit("avgpool", [node.input(0)], node.outputs[0], name=node.name, attrs=attrs)


def _check_maxpool(node: OnnxNode, ctx: ImportContext) -> list[str]:
    out = window_problems(node, ctx, _kernel(node))
    if node.extra_outputs_used(ctx):
        out.append("the Indices output is used")
    return out


@converter("MaxPool", 11, check=_check_maxpool)
def maxpool(node: OnnxNode, ctx: ImportContext) -> None:
    k, s, d = _kernel(node), pair(node, "strides", 1), pair(node, "dilations", 1)
    attrs = {
        "kernel": k,
        "stride": s,
        "padding": padding(node, ctx, k, s, d),
        "dilation": d,
        "ceil_mode": int(node.attr("ceil_mode", 0)) if node.attr("auto_pad", "NOTSET") == "NOTSET" else 0,
    }
    ctx.emit("maxpool", [node.input(0)], node.outputs[0], name=node.name, attrs=attrs)


def _check_global(node: OnnxNode, ctx: ImportContext) -> list[str]:
    r = ctx.rank(node.input(0))
    return [] if r in (None, 4) else [f"rank-{r} input (only NCHW is supported)"]


@converter("GlobalAveragePool", 11, check=_check_global)
def globalavgpool(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("globalavgpool", [node.input(0)], node.outputs[0], name=node.name)
