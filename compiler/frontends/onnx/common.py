"""Helpers shared by the conv and pool importers: 2-D window attributes and auto_pad."""
from __future__ import annotations

import math

from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def pair(node: OnnxNode, name: str, default: int) -> tuple[int, int]:
    v = node.attr(name)
    return (default, default) if v is None else tuple(int(x) for x in v)


def window_problems(node: OnnxNode, ctx: ImportContext, kernel: tuple | None) -> list[str]:
    """Reasons a conv/pool node's window attributes cannot be imported: 2-D only; kernel, strides
    and dilations >= 1 with 2 values, pads with 4 values >= 0; a known auto_pad; a window that
    fits the padded input when the input size is known."""
    out = []
    if kernel is not None and len(kernel) != 2:
        out.append(f"{len(kernel)}-D windows (only 2-D is supported)")
        return out
    if kernel is not None and any(int(k) < 1 for k in kernel):
        out.append(f"kernel {list(kernel)} (sizes must be >= 1)")
    for name in ("strides", "dilations"):
        v = node.attr(name)
        if v is None:
            continue
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            out.append(f"{name}={_show(v)} (2-D windows need 2 values)")
        elif any(int(x) < 1 for x in v):
            out.append(f"{name}={_show(v)} (must be >= 1)")
    pads = node.attr("pads")
    if pads is not None and (not isinstance(pads, (list, tuple)) or len(pads) != 4):
        out.append(f"pads={_show(pads)} (2-D windows need 4 values: top, left, bottom, right)")
        return out
    if out:
        return out
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        out.append(f"auto_pad={auto_pad}")
    elif auto_pad.startswith("SAME"):
        shape = ctx.shape(node.input(0))
        if shape is None or len(shape) != 4 or None in shape[2:]:
            out.append(f"auto_pad={auto_pad} with an unknown input size")
    if pads is not None and any(p < 0 for p in pads):
        out.append("negative pads")
    if out or kernel is None:
        return out
    shape = ctx.shape(node.input(0))
    if auto_pad in ("NOTSET", "VALID") and shape is not None and len(shape) == 4 and None not in shape[2:]:
        stride, dilation = pair(node, "strides", 1), pair(node, "dilations", 1)
        p = padding(node, ctx, kernel, stride, dilation)
        for i, axis in enumerate(("height", "width")):
            span = (int(kernel[i]) - 1) * dilation[i] + 1
            if shape[2 + i] + p[i] + p[i + 2] < span:
                out.append(f"a window of {span} is larger than the padded input {axis} {shape[2 + i] + p[i] + p[i + 2]}")
    return out


def _show(v) -> str:
    return str(list(v)) if isinstance(v, (list, tuple)) else repr(v)


def padding(node: OnnxNode, ctx: ImportContext, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """(top, left, bottom, right), from `pads` or resolved from auto_pad with the known input size."""
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        size = ctx.shape(node.input(0))[2:]
        begin, end = [], []
        for i in range(2):
            out = math.ceil(size[i] / stride[i])
            total = max(0, (out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1 - size[i])
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        return (begin[0], begin[1], end[0], end[1])
    pads = node.attr("pads")
    return (0, 0, 0, 0) if pads is None else tuple(int(p) for p in pads)
