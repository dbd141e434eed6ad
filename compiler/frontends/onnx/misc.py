"""Concat, Identity, Dropout, Softmax, Pad -> concat, identity, dropout, softmax, pad; Constant
(and Concat/Identity of constants) folded into the constants their users read.

Softmax before opset 13 flattens the input to 2-D at `axis` and normalises over the whole tail;
from 13 it normalises along `axis` only (and the default axis moves from 1 to -1). Pad takes
its pads (and constant value) as inputs from opset 11, and an `axes` input from 18.
"""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from snnc.compiler.frontends.onnx.context import FoldError, ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter, folder
from snnc.compiler.frontends.onnx.shape import axis_problem, finish


# -- Constant ---------------------------------------------------------------------------------------
_SCALARS = {
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}


@folder("Constant", 11)
def fold_constant(node: OnnxNode, ctx: ImportContext) -> list:
    if "value" in node.attrs:
        return [numpy_helper.to_array(node.attrs["value"])]
    for key, dtype in _SCALARS.items():
        if key in node.attrs:
            return [np.asarray(node.attrs[key], dtype=dtype)]
    kinds = ", ".join(sorted(node.attrs)) or "no value"
    raise FoldError(f"constant given as {kinds}")


# -- Concat ------------------------------------------------------------------------------------------
@folder("Concat", 11)
def fold_concat(node: OnnxNode, ctx: ImportContext) -> list | None:
    if not all(ctx.is_const(i) for i in node.inputs if i):
        return None
    arrays = [np.asarray(ctx.consts[i]) for i in node.inputs if i]
    return [finish(np.concatenate(arrays, axis=int(node.attr("axis"))))]


def _check_concat(node: OnnxNode, ctx: ImportContext) -> list[str]:
    if any(ctx.is_const(i) for i in node.inputs):
        return ["concatenates constants with tensors"]
    reason = axis_problem(node, ctx, int(node.attr("axis")))
    return [reason] if reason else []


@converter("Concat", 11, check=_check_concat)
def concat(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("concat", [i for i in node.inputs if i], node.outputs[0], name=node.name,
             attrs={"axis": int(node.attr("axis"))})


# -- Identity, Dropout -----------------------------------------------------------------------------
@folder("Identity", 11)
def fold_identity(node: OnnxNode, ctx: ImportContext) -> list | None:
    return [ctx.consts[node.input(0)]] if ctx.is_const(node.input(0)) else None


@converter("Identity", 11)
def identity(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("identity", [node.input(0)], node.outputs[0], name=node.name)


def _check_dropout(node: OnnxNode, ctx: ImportContext) -> list[str]:
    out = []
    if node.extra_outputs_used(ctx):
        out.append("the mask output is used")
    mode = node.input(2)  # opset 12+: training_mode input
    if mode and not ctx.is_const(mode):
        out.append("training_mode is not a constant")
    elif mode and bool(np.asarray(ctx.const(mode)).reshape(-1)[0]):
        out.append("training_mode=true")
    return out


@converter("Dropout", 11, check=_check_dropout)
def dropout(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("dropout", [node.input(0)], node.outputs[0], name=node.name)


# -- Softmax ----------------------------------------------------------------------------------------
def _softmax11_plan(node: OnnxNode, ctx: ImportContext) -> tuple[int | None, tuple | None, str | None]:
    """(normalised axis, tail dims to restore or None when no reshape is needed, reason)."""
    r = ctx.rank(node.input(0))
    axis = int(node.attr("axis", 1))
    if r is None:
        return None, None, "opset<13 Softmax on an input of unknown rank"
    reason = axis_problem(node, ctx, axis)
    if reason:
        return None, None, reason
    axis = axis + r if axis < 0 else axis
    if axis >= r - 1:
        return axis, None, None
    tail = ctx.shape(node.input(0))[axis:]
    if None in tail:
        return None, None, "opset<13 Softmax over several axes of unknown size"
    return axis, tuple(tail), None


def _check_softmax11(node: OnnxNode, ctx: ImportContext) -> list[str]:
    reason = _softmax11_plan(node, ctx)[2]
    return [reason] if reason else []


@converter("Softmax", 11, check=_check_softmax11)
def softmax_11(node: OnnxNode, ctx: ImportContext) -> None:
    axis, tail, _ = _softmax11_plan(node, ctx)
    x, y = node.input(0), node.outputs[0]
    if tail is None:
        ctx.emit("softmax", [x], y, name=node.name, attrs={"axis": -1})
        return
    # softmax over the flattened tail: reshape to (..., prod(tail)), softmax, reshape back
    flat = ctx.fresh_value(f"{y}/flat")
    soft = ctx.fresh_value(f"{y}/softmax")
    ctx.emit("reshape", [x], flat, name=f"{node.name}/flatten", attrs={"shape": (0,) * axis + (-1,)})
    ctx.emit("softmax", [flat], soft, name=node.name, attrs={"axis": -1})
    ctx.emit("reshape", [soft], y, name=f"{node.name}/unflatten", attrs={"shape": (0,) * axis + tail})


def _check_softmax13(node: OnnxNode, ctx: ImportContext) -> list[str]:
    reason = axis_problem(node, ctx, int(node.attr("axis", -1)))
    return [reason] if reason else []


@converter("Softmax", 13, check=_check_softmax13)
def softmax_13(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("softmax", [node.input(0)], node.outputs[0], name=node.name, attrs={"axis": int(node.attr("axis", -1))})


# -- Pad ----------------------------------------------------------------------------------------------
def _pad_plan(node: OnnxNode, ctx: ImportContext) -> tuple[tuple | None, float, str | None]:
    """(full ONNX-order pads, constant value, reason)"""
    mode = node.attr("mode", "constant")
    if mode != "constant":
        return None, 0.0, f"mode={mode} (only constant padding is supported)"
    for i, what in ((1, "pads"), (2, "constant_value"), (3, "axes")):
        if node.input(i) and not ctx.is_const(node.input(i)):
            return None, 0.0, f"{what} is not a constant"
    pads = [int(p) for p in np.asarray(ctx.const(node.input(1))).reshape(-1)]
    value = ctx.optional_const(node.input(2))
    value = 0.0 if value is None or np.asarray(value).size == 0 else float(np.asarray(value).reshape(-1)[0])
    if any(p < 0 for p in pads):
        return None, 0.0, "negative pads (cropping)"
    r = ctx.rank(node.input(0))
    if node.input(3):  # opset 18+: pads only for these axes
        if r is None:
            return None, 0.0, "axes given for an input of unknown rank"
        axes = [int(a) for a in np.asarray(ctx.const(node.input(3))).reshape(-1)]
        if any(not -r <= a < r for a in axes) or len(set(a % r for a in axes)) != len(axes):
            return None, 0.0, f"axes {axes} (distinct axes of the rank-{r} input)"
        if len(pads) != 2 * len(axes):
            return None, 0.0, f"{len(pads)} pads for {len(axes)} axes (need {2 * len(axes)})"
        axes = [a % r for a in axes]
        full = [0] * (2 * r)
        for j, a in enumerate(axes):
            full[a], full[a + r] = pads[j], pads[j + len(axes)]
        pads = full
    elif r is not None and len(pads) != 2 * r:
        return None, 0.0, f"{len(pads)} pads for a rank-{r} input (need {2 * r})"
    return tuple(pads), value, None


def _check_pad(node: OnnxNode, ctx: ImportContext) -> list[str]:
    reason = _pad_plan(node, ctx)[2]
    return [reason] if reason else []


@converter("Pad", 11, check=_check_pad)
def pad(node: OnnxNode, ctx: ImportContext) -> None:
    pads, value, _ = _pad_plan(node, ctx)
    ctx.emit("pad", [node.input(0)], node.outputs[0], name=node.name, attrs={"pads": pads, "value": value})
