"""view / reshape / flatten / squeeze / unsqueeze / unflatten -> flatten or reshape; permute /
transpose -> transpose.

A reshape's target is read from the output shape torch.export recorded, not from its size
arguments (`x.view(x.size(0), -1)` computes on the symbolic batch): a dynamic batch kept at
axis 0 becomes 0 ("copy the input's dim", as in ONNX), every other dim is a number. A reshape
that moves or merges the batch axis is refused. `flatten(x, 1)` becomes `flatten` (axis 1).
"""
from __future__ import annotations

from snnc.compiler.frontends.torch.context import TorchContext, TorchNode
from snnc.compiler.frontends.torch.registry import converter

VIEWS = ("aten.view.default", "aten.reshape.default", "aten._unsafe_view.default", "aten.flatten.using_ints",
         "aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default", "aten.unsqueeze.default",
         "aten.unflatten.int")


def _source(node: TorchNode):
    return node.args.get("self", node.args.get("input"))


def _target(node: TorchNode, ctx: TorchContext) -> tuple[tuple | None, str | None]:
    x = _source(node)
    in_val, out_val = x.meta.get("val"), node.val
    if in_val is None or out_val is None:
        return None, "the shapes were not recorded"
    in_shape, out_shape = list(in_val.shape), list(out_val.shape)
    target = []
    for i, d in enumerate(out_shape):
        if isinstance(d, int):
            same_static_batch = (i == 0 and ctx.static_batch is not None and d == ctx.static_batch
                                 and in_shape and in_shape[0] == d)
            target.append(0 if same_static_batch else d)
        elif i == 0 and in_shape and not isinstance(in_shape[0], int) and str(d) == str(in_shape[0]):
            target.append(0)
        else:
            return None, f"a reshape to {tuple(str(s) for s in out_shape)} that moves or merges the batch axis"
    return tuple(target), None


def _check_view(node: TorchNode, ctx: TorchContext) -> list[str]:
    reason = _target(node, ctx)[1]
    return [reason] if reason else []


@converter(*VIEWS, check=_check_view)
def view(node: TorchNode, ctx: TorchContext) -> None:
    x = _source(node)
    r = ctx.rank(x)
    if node.key == "aten.flatten.using_ints" and int(node.args.get("start_dim", 0)) == 1 and r is not None \
            and int(node.args.get("end_dim", -1)) % r == r - 1:
        ctx.emit_for(node, "flatten", [ctx.ir(x)], attrs={"axis": 1})
        return
    target, _ = _target(node, ctx)
    ctx.emit_for(node, "reshape", [ctx.ir(x)], attrs={"shape": target})


def _perm(node: TorchNode, ctx: TorchContext) -> tuple | None:
    r = ctx.rank(node.args["self"])
    if r is None:
        return None
    if node.key == "aten.permute.default":
        return tuple(int(d) % r for d in node.args["dims"])
    perm = list(range(r))
    if node.key == "aten.t.default":
        perm = perm[::-1]
    else:
        a, b = int(node.args["dim0"]) % r, int(node.args["dim1"]) % r
        perm[a], perm[b] = perm[b], perm[a]
    return tuple(perm)


def _check_perm(node: TorchNode, ctx: TorchContext) -> list[str]:
    return [] if _perm(node, ctx) is not None else ["an input of unknown rank"]


@converter("aten.permute.default", "aten.transpose.int", "aten.t.default", check=_check_perm)
def permute(node: TorchNode, ctx: TorchContext) -> None:
    ctx.emit_for(node, "transpose", [ctx.ir(node.args["self"])], attrs={"perm": _perm(node, ctx)})
