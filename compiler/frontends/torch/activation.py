"""relu -> relu; hardtanh / relu6 / clamp -> clip (ReLU6 is clip 0..6; clamp(min=0) is relu);
softmax -> softmax. In-place variants (`nn.ReLU(inplace=True)`) import like the others."""
from __future__ import annotations

import math

from snnc.compiler.frontends.torch.context import TorchContext, TorchNode
from snnc.compiler.frontends.torch.registry import converter


@converter("aten.relu.default", "aten.relu_.default")
def relu(node: TorchNode, ctx: TorchContext) -> None:
    ctx.emit_for(node, "relu", [ctx.ir(node.args["self"])])


def _clip(node: TorchNode, ctx: TorchContext, lo, hi) -> None:
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if lo == 0.0 and hi == math.inf:
        ctx.emit_for(node, "relu", [ctx.ir(node.args["self"])])
    else:
        ctx.emit_for(node, "clip", [ctx.ir(node.args["self"])], attrs={"min": lo, "max": hi})


@converter("aten.hardtanh.default", "aten.hardtanh_.default")
def hardtanh(node: TorchNode, ctx: TorchContext) -> None:
    _clip(node, ctx, node.args.get("min_val", -1.0), node.args.get("max_val", 1.0))


@converter("aten.relu6.default", "aten.relu6_.default")
def relu6(node: TorchNode, ctx: TorchContext) -> None:
    _clip(node, ctx, 0.0, 6.0)


def _check_clamp(node: TorchNode, ctx: TorchContext) -> list[str]:
    bounds = [node.args.get(k) for k in ("min", "max")]
    return [] if all(b is None or isinstance(b, (int, float)) for b in bounds) else ["bounds that are not numbers"]


@converter("aten.clamp.default", "aten.clamp_.default", check=_check_clamp)
def clamp(node: TorchNode, ctx: TorchContext) -> None:
    _clip(node, ctx, node.args.get("min"), node.args.get("max"))


@converter("aten.clamp_min.default", "aten.clamp_min_.default", check=_check_clamp)
def clamp_min(node: TorchNode, ctx: TorchContext) -> None:
    _clip(node, ctx, node.args.get("min"), None)


def _axis(node: TorchNode, ctx: TorchContext) -> int:
    dim, r = int(node.args["dim"]), ctx.rank(node.args["self"])
    return dim + r if dim < 0 and r is not None else dim


@converter("aten.softmax.int", "aten._softmax.default")
def softmax(node: TorchNode, ctx: TorchContext) -> None:
    ctx.emit_for(node, "softmax", [ctx.ir(node.args["self"])], attrs={"axis": _axis(node, ctx)})
