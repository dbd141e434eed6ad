"""AveragePool -> avgpool, MaxPool -> maxpool, GlobalAveragePool and ReduceMean over (H, W) ->
globalavgpool (2-D only).

The IR's avgpool has no ceil_mode: AveragePool with ceil_mode=1 is imported only when rounding
up does not change the output size for the model's known input size.
"""
from __future__ import annotations

from snnc.compiler.frontends.onnx.common import padding, pair, window_problems
from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


def _kernel(node: OnnxNode) -> tuple:
    return tuple(int(k) for k in node.attr("kernel_shape", ()))


def _same(node: OnnxNode) -> bool:
    """auto_pad SAME_* fixes the output size at ceil(in / stride) whatever ceil_mode says; with
    VALID, onnxruntime still applies ceil_mode (to zero padding), and so does snnc."""
    return node.attr("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER")


def _ceil_changes_size(node: OnnxNode, ctx: ImportContext) -> str | None:
    """A reason when ceil_mode=1 gives another output size than floor, else None."""
    if not int(node.attr("ceil_mode", 0)):
        return None
    if _same(node):
        # The spec says SAME_* ignores ceil_mode; onnxruntime's AveragePool computes other values
        # (found by test_windows_property). Refuse rather than pick one reading silently.
        return "ceil_mode=1 with auto_pad SAME_* (onnxruntime and the ONNX spec disagree)"
    shape = ctx.shape(node.input(0))
    if shape is None or len(shape) != 4 or None in shape[2:]:
        return "ceil_mode=1 with an unknown input size"
    k, s, d = _kernel(node), pair(node, "strides", 1), pair(node, "dilations", 1)
    pads = padding(node, ctx, k, s, d)
    for i in range(2):
        room = shape[2 + i] + pads[i] + pads[i + 2] - ((k[i] - 1) * d[i] + 1)
        floor_out, ceil_out = room // s[i] + 1, -(-room // s[i]) + 1
        # as onnxruntime and torch: a last window that would start in the end padding is dropped
        if (ceil_out - 1) * s[i] >= shape[2 + i] + pads[i]:
            ceil_out -= 1
        if ceil_out != floor_out:
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
        "ceil_mode": 0 if _same(node) else int(node.attr("ceil_mode", 0)),
    }
    ctx.emit("maxpool", [node.input(0)], node.outputs[0], name=node.name, attrs=attrs)


def _check_global(node: OnnxNode, ctx: ImportContext) -> list[str]:
    r = ctx.rank(node.input(0))
    return [] if r in (None, 4) else [f"rank-{r} input (only NCHW is supported)"]


@converter("GlobalAveragePool", 11, check=_check_global)
def globalavgpool(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("globalavgpool", [node.input(0)], node.outputs[0], name=node.name)


# -- ReduceMean over H, W (the dynamo exporter's AdaptiveAvgPool2d(1) / x.mean((2, 3))) ------------
def _reduce_axes(node: OnnxNode, ctx: ImportContext) -> tuple[list[int] | None, str | None]:
    if node.input(1) and not ctx.is_const(node.input(1)):  # opset 18+: axes input
        return None, "axes is not a constant"
    axes = ctx.const(node.input(1)).reshape(-1).tolist() if node.input(1) else node.attr("axes")
    r = ctx.rank(node.input(0))
    if r != 4:
        return None, "input is not known to be NCHW"
    if not axes:
        if int(node.attr("noop_with_empty_axes", 0)):
            return None, "noop_with_empty_axes=1"
        return None, "mean over all axes (only the spatial axes 2, 3 are supported)"
    got = sorted(int(a) % r for a in axes) if all(-r <= int(a) < r for a in axes) else None
    if got not in ([2, 3], [1, 2]):
        return None, f"mean over axes {list(axes)} (only the spatial axes 2, 3 are supported, or 1, 2 of an NHWC map)"
    return got, None


def _check_reduce_mean(node: OnnxNode, ctx: ImportContext) -> list[str]:
    reason = _reduce_axes(node, ctx)[1]
    return [reason] if reason else []


@converter("ReduceMean", 11, check=_check_reduce_mean)
def reduce_mean(node: OnnxNode, ctx: ImportContext) -> None:
    """mean over (2, 3) is globalavgpool; without keepdims, a reshape (N, C, 1, 1) -> (N, C) follows.

    mean over (1, 2) of a rank-4 tensor (an NHWC map: tf2onnx's GlobalAveragePooling2D with its
    optimizers off) is the same mean of its transpose (0, 3, 1, 2), then transposed back
    (0, 2, 3, 1) with keepdims; canonicalize cancels the transpose with the one before it."""
    y = node.outputs[0]
    axes, _ = _reduce_axes(node, ctx)
    keep = int(node.attr("keepdims", 1))
    src = node.input(0)
    if axes == [1, 2]:
        src = ctx.fresh_value(f"{y}/nchw")
        ctx.emit("transpose", [node.input(0)], src, name=f"{node.name}/to_nchw", attrs={"perm": (0, 3, 1, 2)})
    pooled = y if keep and axes == [2, 3] else ctx.fresh_value(f"{y}/pooled")
    ctx.emit("globalavgpool", [src], pooled, name=node.name)
    if not keep:
        ctx.emit("reshape", [pooled], y, name=f"{node.name}/squeeze", attrs={"shape": (0, -1)})
    elif axes == [1, 2]:
        ctx.emit("transpose", [pooled], y, name=f"{node.name}/to_nhwc", attrs={"perm": (0, 2, 3, 1)})
