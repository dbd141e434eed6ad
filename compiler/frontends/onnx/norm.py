"""BatchNormalization (inference) -> batchnorm; scale, bias, mean and var must be constants."""
from __future__ import annotations

from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


def _check(node: OnnxNode, ctx: ImportContext) -> list[str]:
    out = []
    if int(node.attr("training_mode", 0)):  # opset 14+
        out.append("training_mode=1")
    if node.extra_outputs_used(ctx):
        out.append("running statistics outputs are used (training mode)")
    if not all(ctx.is_const(node.input(i)) for i in range(1, 5)):
        out.append("scale/bias/mean/var are not constants")
        return out
    shapes = {tuple(ctx.const(node.input(i)).shape) for i in range(1, 5)}
    x = ctx.shape(node.input(0))
    c = x[1] if x is not None and len(x) >= 2 else None
    if len(shapes) != 1 or len(next(iter(shapes))) != 1 or (c is not None and next(iter(shapes)) != (c,)):
        out.append(f"scale/bias/mean/var of shapes {sorted(map(list, shapes))} (each must be [{c if c is not None else 'C'}], one per channel)")
    return out


@converter("BatchNormalization", 11, check=_check)
def batchnorm(node: OnnxNode, ctx: ImportContext) -> None:
    params = {k: ctx.param(node.input(i)) for i, k in enumerate(("scale", "bias", "mean", "var"), start=1)}
    ctx.emit(
        "batchnorm", [node.input(0)], node.outputs[0], name=node.name,
        attrs={"eps": float(node.attr("epsilon", 1e-5))}, params=params,
    )
