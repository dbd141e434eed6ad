"""Flatten, Reshape, Transpose -> flatten, reshape, transpose; and the folders of shape arithmetic.

Shape, Gather, Slice and Cast are only ever folded into constants (Unsqueeze and Squeeze too, when
their input is a constant; of a data tensor, Unsqueeze is a batch-keeping reshape, Squeeze that of a
pooled map, both below): the
legacy exporter writes `x.view(x.size(0), -1)` as Shape -> Gather -> Unsqueeze -> Concat ->
Reshape, and these fold to the Reshape shape `[BATCH, -1]` whenever the non-batch dims are
known. Reshape then writes BATCH as 0 (ONNX: copy the input dim) so the IR keeps a dynamic batch.
"""
from __future__ import annotations

import numpy as np
import onnx

from snnc.compiler.frontends.onnx.context import BATCH, FoldError, ImportContext, OnnxNode, is_symbolic
from snnc.compiler.frontends.onnx.registry import converter, folder


# -- converters -----------------------------------------------------------------------------------
def axis_problem(node: OnnxNode, ctx: ImportContext, axis: int, *, inclusive: bool = False) -> str | None:
    """A reason when `axis` is outside [-rank, rank) (or [-rank, rank] with `inclusive`, as
    Flatten allows), for an input of known rank; None otherwise."""
    r = ctx.rank(node.input(0))
    if r is None:
        return None
    hi = r if inclusive else r - 1
    if not -r <= axis <= hi:
        return f"axis={axis} is out of range for a rank-{r} input (allowed {-r}..{hi})"
    return None


def _check_flatten(node: OnnxNode, ctx: ImportContext) -> list[str]:
    reason = axis_problem(node, ctx, int(node.attr("axis", 1)), inclusive=True)
    return [reason] if reason else []


@converter("Flatten", 11, check=_check_flatten)
def flatten(node: OnnxNode, ctx: ImportContext) -> None:
    ctx.emit("flatten", [node.input(0)], node.outputs[0], name=node.name, attrs={"axis": int(node.attr("axis", 1))})


def _reshape_target(node: OnnxNode, ctx: ImportContext) -> tuple[tuple | None, str | None]:
    """The IR reshape shape (ONNX 0/-1 semantics), or a reason it cannot be imported."""
    if not ctx.is_const(node.input(1)):
        return None, "the target shape is not a constant"
    target = list(ctx.const(node.input(1)).reshape(-1))
    in_shape = ctx.onnx_shape(node.input(0))
    if int(node.attr("allowzero", 0)) and any(d is not BATCH and int(d) == 0 for d in target):
        return None, "allowzero=1 with a 0 in the target shape"
    for i, d in enumerate(target):
        if d is not BATCH:
            continue
        if in_shape is not None and i < len(in_shape) and ctx.is_batch_dim(in_shape[i]):
            target[i] = 0  # same position as the input's batch dim: copy it
        elif all(t is BATCH or int(t) != -1 for t in target) and sum(t is BATCH for t in target) == 1:
            target[i] = -1
        else:
            return None, "the target shape depends on the batch size in a way snnc cannot fold"
    target = [int(d) for d in target]
    if sum(d == -1 for d in target) > 1 or any(d < -1 for d in target):
        return None, f"target shape {target} (at most one -1, no other negative sizes)"
    # A static batch baked into the shape by the exporter (x.view(x.size(0), -1) traced at batch B):
    # copy the input's dim 0 instead, which is the same for the model's declared input and lets
    # the IR run other batch sizes.
    b = ctx.batch_dim
    if isinstance(b, int) and target and target[0] == b and in_shape and in_shape[0] == b:
        target[0] = 0
    return tuple(target), None


def _check_reshape(node: OnnxNode, ctx: ImportContext) -> list[str]:
    target, reason = _reshape_target(node, ctx)
    if target is not None:
        _alias_batch(node, ctx, target)
    return [reason] if reason else []


def _alias_batch(node: OnnxNode, ctx: ImportContext, target: tuple) -> None:
    """Reshape(-1, rest) of a batch-first input with the same per-sample size keeps the batch at
    axis 0; ONNX inference names that dim with a fresh symbol (tf2onnx writes NHWC -> NCHW of a
    one-channel image so). Record the symbol as the batch, so `Shape` of later values folds."""
    in_shape, out_shape = ctx.onnx_shape(node.input(0)), ctx.onnx_shape(node.outputs[0])
    if not in_shape or not out_shape or not target or target[0] not in (-1, 0) or not ctx.is_batch_dim(in_shape[0]):
        return
    rest_in, rest_t = in_shape[1:], target[1:]
    if any(not isinstance(d, int) for d in rest_in) or any(t in (0, -1) for t in rest_t):
        return
    if int(np.prod(rest_in)) == int(np.prod(rest_t)) and isinstance(out_shape[0], str):
        ctx.batch_aliases.add(out_shape[0])


@converter("Reshape", 11, check=_check_reshape, batch_symbols=True)
def reshape(node: OnnxNode, ctx: ImportContext) -> None:
    target, _ = _reshape_target(node, ctx)
    ctx.emit("reshape", [node.input(0)], node.outputs[0], name=node.name, attrs={"shape": target})


def _check_transpose(node: OnnxNode, ctx: ImportContext) -> list[str]:
    perm, r = node.attr("perm"), ctx.rank(node.input(0))
    if perm is None and r is None:
        return ["no perm and an input of unknown rank"]
    if perm is not None and (sorted(int(p) for p in perm) != list(range(len(perm))) or (r is not None and len(perm) != r)):
        return [f"perm={list(perm)} is not a permutation of the {r if r is not None else len(perm)} input axes"]
    return []


@converter("Transpose", 11, check=_check_transpose)
def transpose(node: OnnxNode, ctx: ImportContext) -> None:
    perm = node.attr("perm")
    perm = tuple(range(ctx.rank(node.input(0)))[::-1]) if perm is None else tuple(int(p) for p in perm)
    ctx.emit("transpose", [node.input(0)], node.outputs[0], name=node.name, attrs={"perm": perm})


# -- folders ----------------------------------------------------------------------------------------
def _consts(node: OnnxNode, ctx: ImportContext, *idx: int) -> list | None:
    """The constant inputs at `idx` (None for omitted ones), or None if one present is not constant."""
    out = []
    for i in idx:
        name = node.input(i)
        if name and not ctx.is_const(name):
            return None
        out.append(ctx.consts[name] if name else None)
    return out


def finish(a) -> np.ndarray:
    """Object arrays without BATCH become int64 again."""
    a = np.asarray(a)
    if is_symbolic(a) and not any(x is BATCH for x in a.reshape(-1)):
        return a.astype(np.int64)
    return a


@folder("Shape", 11)
def fold_shape(node: OnnxNode, ctx: ImportContext) -> list | None:
    shape = ctx.onnx_shape(node.input(0))
    if shape is None:
        raise FoldError("of a tensor whose shape is not known")
    dims = []
    for d in shape:
        if isinstance(d, int):
            dims.append(d)
        elif ctx.is_batch_dim(d):
            dims.append(BATCH)
        else:
            raise FoldError("of a tensor with a dynamic non-batch dimension")
    start, end = node.attr("start", 0), node.attr("end")  # opset 15+
    dims = dims[start:end]
    return [finish(np.array(dims, dtype=object))]


@folder("Gather", 11)
def fold_gather(node: OnnxNode, ctx: ImportContext) -> list | None:
    c = _consts(node, ctx, 0, 1)
    if c is None:
        return None
    return [finish(np.take(c[0], np.asarray(c[1], dtype=np.int64), axis=int(node.attr("axis", 0))))]


def _unsqueeze(data: np.ndarray, axes) -> np.ndarray:
    rank = data.ndim + len(axes)
    out = data
    for a in sorted(int(a) % rank for a in axes):
        out = np.expand_dims(out, a)
    return out


@folder("Unsqueeze", 11)
def fold_unsqueeze_11(node: OnnxNode, ctx: ImportContext) -> list | None:
    c = _consts(node, ctx, 0)
    return None if c is None else [_unsqueeze(np.asarray(c[0]), node.attr("axes", []))]


@folder("Unsqueeze", 13)
def fold_unsqueeze_13(node: OnnxNode, ctx: ImportContext) -> list | None:
    c = _consts(node, ctx, 0, 1)
    return None if c is None else [_unsqueeze(np.asarray(c[0]), np.asarray(c[1]).reshape(-1).tolist())]


def _squeeze(data: np.ndarray, axes) -> np.ndarray:
    if axes is None or len(axes) == 0:
        return np.squeeze(data)
    return np.squeeze(data, axis=tuple(int(a) % data.ndim for a in axes))


@folder("Squeeze", 11)
def fold_squeeze_11(node: OnnxNode, ctx: ImportContext) -> list | None:
    c = _consts(node, ctx, 0)
    return None if c is None else [_squeeze(np.asarray(c[0]), node.attr("axes"))]


@folder("Squeeze", 13)
def fold_squeeze_13(node: OnnxNode, ctx: ImportContext) -> list | None:
    c = _consts(node, ctx, 0, 1)
    if c is None:
        return None
    return [_squeeze(np.asarray(c[0]), None if c[1] is None else np.asarray(c[1]).reshape(-1).tolist())]


@folder("Slice", 11)
def fold_slice(node: OnnxNode, ctx: ImportContext) -> list | None:
    c = _consts(node, ctx, 0, 1, 2, 3, 4)
    if c is None:
        return None
    data, starts, ends, axes, steps = c
    data = np.asarray(data)
    starts, ends = np.asarray(starts).reshape(-1).tolist(), np.asarray(ends).reshape(-1).tolist()
    axes = list(range(len(starts))) if axes is None else np.asarray(axes).reshape(-1).tolist()
    steps = [1] * len(starts) if steps is None else np.asarray(steps).reshape(-1).tolist()
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a) % data.ndim] = slice(int(s), int(e), int(st))  # numpy clamps like ONNX
    return [finish(data[tuple(index)])]


@folder("Cast", 11)
def fold_cast(node: OnnxNode, ctx: ImportContext) -> list | None:
    c = _consts(node, ctx, 0)
    if c is None:
        return None
    to = onnx.helper.tensor_dtype_to_np_dtype(int(node.attr("to")))
    data = np.asarray(c[0])
    if is_symbolic(data):
        if to.kind not in "iu":
            raise FoldError("casts the batch size to a non-integer type")
        return [data]
    return [data.astype(to)]


# -- Squeeze of a pooled map (tf2onnx's GlobalAveragePooling2D: ReduceMean(keepdims=1) -> Squeeze) --
def _squeeze_axes(node: OnnxNode, ctx: ImportContext) -> tuple[list[int] | None, str | None]:
    if node.op_type == "Squeeze" and node.input(1) and not ctx.is_const(node.input(1)):
        return None, "axes is not a constant"
    axes = (ctx.const(node.input(1)).reshape(-1).tolist() if node.input(1) else node.attr("axes"))
    shape = ctx.shape(node.input(0))
    if shape is None or len(shape) != 4:
        return None, "input is not known to be a (N, C, H, W) map"
    if not axes:
        return None, "no axes (that would squeeze the batch axis too when it is 1)"
    axes = sorted(int(a) % 4 for a in axes)
    if axes != [2, 3] or shape[2] != 1 or shape[3] != 1:
        return None, f"squeeze of axes {axes} of shape {list(shape)} (only the 1x1 spatial axes of a pooled map)"
    return axes, None


def _check_squeeze(node: OnnxNode, ctx: ImportContext) -> list[str]:
    reason = _squeeze_axes(node, ctx)[1]
    return [reason] if reason else []


@converter("Squeeze", 11, 13, check=_check_squeeze)
def squeeze(node: OnnxNode, ctx: ImportContext) -> None:
    """(N, C, 1, 1) -> (N, C): a reshape, which canonicalize turns into flatten."""
    ctx.emit("reshape", [node.input(0)], node.outputs[0], name=node.name, attrs={"shape": (0, -1)})


# -- Unsqueeze of a data tensor (not a constant): a reshape that keeps the batch axis first -------------
def _unsqueeze_target(node: OnnxNode, ctx: ImportContext) -> tuple[tuple | None, str | None]:
    """The IR reshape shape (0 = the batch, copied; then the output's per-sample dims), or a reason.

    The values keep their row-major order (an inserted axis has size 1), so this is a reshape;
    canonicalize removes it where a flatten or squeeze undoes it (Unsqueeze -> Flatten, a
    Squeeze/Unsqueeze pair), otherwise the check reports the reshape it is."""
    if node.op_type == "Unsqueeze" and len(node.inputs) > 1 and node.input(1):
        if not ctx.is_const(node.input(1)):
            return None, "axes is not a constant"
        axes = np.asarray(ctx.const(node.input(1))).reshape(-1).tolist()
    else:
        axes = node.attr("axes") or []
    if not axes:
        return None, "no axes"
    shape = ctx.onnx_shape(node.input(0))
    if shape is None:
        return None, "of a tensor whose shape is not known"
    rank = len(shape) + len(axes)
    norm = sorted(int(a) % rank for a in axes)
    if any(not -rank <= int(a) < rank for a in axes) or len(set(norm)) != len(norm):
        return None, f"axes {list(axes)} out of range or repeated for a rank-{len(shape)} input"
    if not shape or not ctx.is_batch_dim(shape[0]):
        return None, "of a tensor whose axis 0 is not the batch"
    if 0 in norm:
        return None, "a new axis 0 before the batch axis (the batch must stay first)"
    if any(not isinstance(d, int) for d in shape[1:]):
        return None, f"of a tensor with a dynamic non-batch dimension ({list(shape)})"
    out, rest = [], iter(shape[1:])
    for i in range(1, rank):
        out.append(1 if i in norm else int(next(rest)))
    return (0, *out), None


def _check_unsqueeze(node: OnnxNode, ctx: ImportContext) -> list[str]:
    reason = _unsqueeze_target(node, ctx)[1]
    return [reason] if reason else []


@converter("Unsqueeze", 11, 13, check=_check_unsqueeze)
def unsqueeze(node: OnnxNode, ctx: ImportContext) -> None:
    """(N, ...) -> (N, ... with size-1 axes inserted): a reshape (only constants fold, above)."""
    target, _ = _unsqueeze_target(node, ctx)
    ctx.emit("reshape", [node.input(0)], node.outputs[0], name=node.name, attrs={"shape": target})
