"""conv2d / convolution -> conv; conv_transpose2d (a transposed convolution) -> conv with input_dilation. Weight (O, I/groups, kh, kw) and bias must be constants; 2-D only.

`padding='same'` (aten.conv2d.padding) is resolved like torch: the total padding is
dilation * (kernel - 1), the extra pixel of an odd total going to the bottom/right.
"""
from __future__ import annotations

from snnc.compiler.frontends.torch.context import TorchContext, TorchNode, pair
from snnc.compiler.frontends.torch.registry import converter


def _check(node: TorchNode, ctx: TorchContext) -> list[str]:
    out = []
    w, b = node.args.get("weight"), node.args.get("bias")
    if not ctx.is_const(w):
        return ["the weight is not a constant (a parameter)"]
    if b is not None and not ctx.is_const(b):
        out.append("the bias is not a constant")
    if ctx.ndim(w) != 4:
        out.append(f"{ctx.ndim(w) - 2}-D convolution (only 2-D is supported)")
    if _transposed(node):
        from snnc.compiler.frontends.conv_transpose import conv_transpose_problems

        if out or ctx.ndim(w) != 4:
            return out
        shape = tuple(ctx.array(w).shape[2:])
        ph, pw = pair(node.args.get("padding"), 0)
        return out + conv_transpose_problems(shape, pair(node.args.get("stride"), 1), (ph, pw, ph, pw),
                                             pair(node.args.get("output_padding"), 0),
                                             int(node.args.get("groups") or 1), pair(node.args.get("dilation"), 1))
    if any(int(p) != 0 for p in (node.args.get("output_padding") or [])):
        out.append("output_padding")
    pad = node.args.get("padding")
    if isinstance(pad, str):
        if pad not in ("same", "valid"):
            out.append(f"padding={pad!r}")
        elif pad == "same" and pair(node.args.get("stride"), 1) != (1, 1):
            out.append("padding='same' with a stride")
    return out


def _transposed(node: TorchNode) -> bool:
    """nn.ConvTranspose2d: aten.conv_transpose2d (torch.export) or a transposed aten.convolution (decomposed)."""
    return node.key == "aten.conv_transpose2d.input" or bool(node.args.get("transposed"))


@converter("aten.conv2d.default", "aten.conv2d.padding", "aten.convolution.default", "aten._convolution.default",
           "aten.conv_transpose2d.input", check=_check)
def conv(node: TorchNode, ctx: TorchContext) -> None:
    w = ctx.array(node.args["weight"])
    params = {"weight": w}
    if node.args.get("bias") is not None:
        params["bias"] = ctx.array(node.args["bias"])
    if _transposed(node):  # the conv of the zero-inserted input (compiler/frontends/conv_transpose.py)
        from snnc.compiler.frontends.conv_transpose import lower_conv_transpose

        ph, pw = pair(node.args.get("padding"), 0)
        lowered, attrs = lower_conv_transpose(w, pair(node.args.get("stride"), 1), (ph, pw, ph, pw),
                                              pair(node.args.get("output_padding"), 0))
        params["weight"] = lowered.astype(w.dtype)
        ctx.emit_for(node, "conv", [ctx.ir(node.args["input"])], attrs=attrs, params=params)
        return
    stride, dilation = pair(node.args.get("stride"), 1), pair(node.args.get("dilation"), 1)
    pad = node.args.get("padding")
    if pad == "same":
        total = [dilation[i] * (w.shape[2 + i] - 1) for i in range(2)]
        padding = (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    elif pad == "valid":
        padding = (0, 0, 0, 0)
    else:
        ph, pw = pair(pad, 0)
        padding = (ph, pw, ph, pw)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": int(node.args.get("groups") or 1)}
    ctx.emit_for(node, "conv", [ctx.ir(node.args["input"])], attrs=attrs, params=params)
