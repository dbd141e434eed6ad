"""max_pool2d -> maxpool; avg_pool2d -> avgpool; adaptive_avg_pool2d -> globalavgpool (output
1x1) or avgpool (input size a multiple of the output size, as the ONNX exporter writes it);
mean over (H, W) -> globalavgpool (+ a reshape to (N, C) without keepdim).

The IR's avgpool has no ceil_mode: avg_pool2d with ceil_mode=True is imported only when
rounding up does not change the output size, and divisor_override is refused.
"""
from __future__ import annotations

from snnc.compiler.frontends.torch.context import TorchContext, TorchNode, dims, pair
from snnc.compiler.frontends.torch.registry import converter


def _window(node: TorchNode):
    k = pair(node.args["kernel_size"], 1)
    s = node.args.get("stride")
    s = k if not s else pair(s, 1)
    ph, pw = pair(node.args.get("padding"), 0)
    return k, s, (ph, pw, ph, pw)


def _rank4(node: TorchNode, ctx: TorchContext) -> list[str]:
    r = ctx.rank(node.args["self"])
    return [] if r == 4 else [f"a rank-{r} input (only 2-D pooling of NCHW tensors is supported)"]


@converter("aten.max_pool2d.default", "aten.max_pool2d_with_indices.default", check=_rank4)
def max_pool(node: TorchNode, ctx: TorchContext) -> None:
    k, s, p = _window(node)
    attrs = {"kernel": k, "stride": s, "padding": p, "dilation": pair(node.args.get("dilation"), 1),
             "ceil_mode": int(bool(node.args.get("ceil_mode")))}
    ctx.emit_for(node, "maxpool", [ctx.ir(node.args["self"])], attrs=attrs)


def _check_avg(node: TorchNode, ctx: TorchContext) -> list[str]:
    out = _rank4(node, ctx)
    if out:
        return out
    if node.args.get("divisor_override") is not None:
        out.append("divisor_override")
    if node.args.get("ceil_mode"):
        k, s, p = _window(node)
        shape, got = ctx.shape(node.args["self"]), dims(node.val)
        for i in range(2):
            if shape[2 + i] is None or got is None or got[2 + i] is None:
                out.append("ceil_mode=True with an unknown input size")
                break
            if got[2 + i] != (shape[2 + i] + p[i] + p[i + 2] - k[i]) // s[i] + 1:
                out.append("ceil_mode=True changes the output size")
                break
    return out


@converter("aten.avg_pool2d.default", check=_check_avg)
def avg_pool(node: TorchNode, ctx: TorchContext) -> None:
    k, s, p = _window(node)
    include = bool(node.args.get("count_include_pad", True)) and any(p)
    attrs = {"kernel": k, "stride": s, "padding": p, "count_include_pad": int(include)}
    ctx.emit_for(node, "avgpool", [ctx.ir(node.args["self"])], attrs=attrs)


def _adaptive_plan(node: TorchNode, ctx: TorchContext) -> tuple[tuple | None, str | None]:
    """(kernel, None) for a plain pool; ((1, 1)... ) ; or (None, reason)."""
    shape = ctx.shape(node.args["self"])
    if shape is None or len(shape) != 4:
        return None, "input is not known to be NCHW"
    out = [shape[2 + i] if o is None else int(o) for i, o in enumerate(pair(node.args["output_size"], 1))]
    if out == [1, 1]:
        return (), None
    if None in shape[2:]:
        return None, "adaptive pooling of an input of unknown size"
    if shape[2] % out[0] or shape[3] % out[1]:
        return None, f"adaptive pooling {shape[2]}x{shape[3]} -> {out[0]}x{out[1]} (the input size must be a multiple of the output size)"
    return (shape[2] // out[0], shape[3] // out[1]), None


def _check_adaptive(node: TorchNode, ctx: TorchContext) -> list[str]:
    reason = _adaptive_plan(node, ctx)[1]
    return [reason] if reason else []


@converter("aten.adaptive_avg_pool2d.default", "aten._adaptive_avg_pool2d.default", check=_check_adaptive)
def adaptive_avg_pool(node: TorchNode, ctx: TorchContext) -> None:
    k, _ = _adaptive_plan(node, ctx)
    x = ctx.ir(node.args["self"])
    if k == ():
        ctx.emit_for(node, "globalavgpool", [x])
    else:
        ctx.emit_for(node, "avgpool", [x], attrs={"kernel": k, "stride": k, "padding": (0, 0, 0, 0), "count_include_pad": 0})


def _check_mean(node: TorchNode, ctx: TorchContext) -> list[str]:
    r = ctx.rank(node.args["self"])
    axes = node.args.get("dim") or []
    if r != 4 or sorted(int(a) % 4 for a in axes) != [2, 3]:
        return [f"mean over axes {list(axes)} of a rank-{r} input (only the spatial axes 2, 3 of NCHW are supported)"]
    if node.args.get("dtype") is not None:
        return ["mean with a dtype"]
    return []


@converter("aten.mean.dim", check=_check_mean)
def mean(node: TorchNode, ctx: TorchContext) -> None:
    x = ctx.ir(node.args["self"])
    if node.args.get("keepdim"):
        ctx.emit_for(node, "globalavgpool", [x])
        return
    pooled = ctx.fresh_value(f"{node.output}/pooled")
    shape = ctx.shape(node.args["self"])
    ctx.emit("globalavgpool", [x], pooled, name=node.name, shape=shape[:2] + (1, 1))
    ctx.emit(
        "reshape", [pooled], node.output, name=f"{node.name}/squeeze", attrs={"shape": (0, -1)},  # a flatten
        shape=dims(node.val),
    )
    ctx.tensors[node.output] = node.output
