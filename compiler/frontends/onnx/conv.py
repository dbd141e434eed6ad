"""Conv -> conv. Weight (O, I/groups, kh, kw) and bias must be constants; 2-D only."""
from __future__ import annotations

from snnc.compiler.frontends.onnx.common import padding, pair, window_problems
from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


def _weight_problems(node: OnnxNode, ctx: ImportContext, layout: str):
    """(the 4-D constant weight or None, problems): weight and bias must be constants."""
    if not ctx.is_const(node.input(1)):
        return None, ["weight is not a constant"]
    out = []
    if node.input(2) and not ctx.is_const(node.input(2)):
        out.append("bias is not a constant")
    w = ctx.const(node.input(1))
    if w.ndim != 4:
        return None, out + [f"weight of rank {w.ndim} ({layout})"]
    return w, out


def _check(node: OnnxNode, ctx: ImportContext) -> list[str]:
    w, out = _weight_problems(node, ctx, "a 2-D convolution's weight is (out, in/group, kh, kw)")
    if w is None:
        return out
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


# -- ConvTranspose: the IR conv of the zero-inserted input (compiler/frontends/conv_transpose.py) -------
def _transpose_attrs(node: OnnxNode, kernel: tuple) -> tuple[tuple, tuple, tuple]:
    stride, op = pair(node, "strides", 1), pair(node, "output_padding", 0)
    pads = node.attr("pads")
    if node.attr("auto_pad", "NOTSET") == "VALID":
        pads = None
    return stride, (0, 0, 0, 0) if pads is None else tuple(int(p) for p in pads), op


def _check_transpose(node: OnnxNode, ctx: ImportContext) -> list[str]:
    from snnc.compiler.frontends.conv_transpose import conv_transpose_problems

    w, out = _weight_problems(node, ctx, "a 2-D transposed convolution's weight is (in, out/group, kh, kw)")
    if w is None:
        return out
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        out.append(f"auto_pad={auto_pad} (give explicit pads)")
    if node.attr("output_shape") is not None:
        out.append("output_shape (give pads and output_padding instead)")
    for name, n in (("strides", 2), ("dilations", 2), ("output_padding", 2), ("pads", 4)):
        v = node.attr(name)
        if v is not None and len(v) != n:
            out.append(f"{name}={list(v)} (a 2-D transposed convolution needs {n} values)")
    if out:
        return out
    stride, pads, op = _transpose_attrs(node, tuple(w.shape[2:]))
    if min(stride) < 1:
        return [f"strides={list(stride)} (must be >= 1)"]
    out += conv_transpose_problems(tuple(int(k) for k in w.shape[2:]), stride, pads, op, int(node.attr("group", 1)),
                                   pair(node, "dilations", 1))
    x = ctx.shape(node.input(0))
    if x is not None and len(x) != 4:
        out.append(f"rank-{len(x)} input (a 2-D transposed convolution reads N, C, H, W)")
    elif x is not None and x[1] is not None and x[1] != w.shape[0]:
        out.append(f"the input has {x[1]} channels, the weight expects {w.shape[0]}")
    if node.input(2) and ctx.is_const(node.input(2)) and tuple(ctx.const(node.input(2)).shape) != (w.shape[1],):
        out.append(f"bias of shape {list(ctx.const(node.input(2)).shape)} (expected [{w.shape[1]}])")
    return out


@converter("ConvTranspose", 11, check=_check_transpose)
def conv_transpose(node: OnnxNode, ctx: ImportContext) -> None:
    """A conv with input_dilation = strides, padding k-1-p (+ output_padding at the end), the
    flipped, in/out-swapped kernel (docs/semantics.md section 6)."""
    from snnc.compiler.frontends.conv_transpose import lower_conv_transpose

    w_t = ctx.param(node.input(1))
    stride, pads, op = _transpose_attrs(node, tuple(w_t.shape[2:]))
    w, attrs = lower_conv_transpose(w_t, stride, pads, op)
    params = {"weight": w.astype(w_t.dtype)}
    if node.input(2):
        params["bias"] = ctx.param(node.input(2))
    ctx.emit("conv", [node.input(0)], node.outputs[0], name=node.name, attrs=attrs, params=params)
