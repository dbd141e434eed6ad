"""Load an ONNX file into the IR: validate, infer shapes, scan every node, then import.

1. read and validate: missing file, not a protobuf, `onnx.checker` failure, opset < 11,
   more than one (non-initializer) input -> `ImportErrorModel` naming the file;
2. ONNX shape inference (best effort) gives the shapes importers need (auto_pad SAME, Softmax-11
   on N-D inputs, folding `x.view(x.size(0), -1)`);
3. scan: walk all nodes, fold the constant ones, and collect every op without a converter and
   every node its converter's check rejects -> one `UnsupportedOpsError` listing them all;
4. only then convert, node by node, into pre-canonical IR ops.
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

from snnc.compiler.errors import ImportErrorModel, SnncError, UnsupportedOpsError
from snnc.compiler.frontends.onnx import registry
from snnc.compiler.frontends.onnx.context import FoldError, ImportContext, OnnxNode, is_symbolic
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.rewrite import unique_name
from snnc.compiler.ir.verify import check

MIN_OPSET = 11
# Never evaluated at import time even when their inputs are constant: random ops, and control
# flow (a Loop's trip count is the model's to choose: folding it could run for ever).
_NONDETERMINISTIC = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}
_NEVER_FOLD = _NONDETERMINISTIC | {"If", "Loop", "Scan", "SequenceMap"}
# Limits on constants computed at import time (folding), checked before they are allocated: one
# folded constant holds at most MAX_FOLDED_ELEMENTS elements, and all of them together at most
# MAX_FOLDED_TOTAL more elements than the model's initializers hold (a model's folded constants
# are shapes and rearranged weights; a 27 KB file whose ConstantOfShape asks for 2^29 floats is
# refused before anything is allocated).
MAX_FOLDED_ELEMENTS = 1 << 24
MAX_FOLDED_TOTAL = 1 << 25
# Inputs small enough to hand to ONNX shape inference as values (a Reshape's shape, Resize's scales).
_SMALL = 4096
_NUMERIC_KINDS = "biuf"


def load_onnx(model: str | os.PathLike | onnx.ModelProto) -> Graph:
    """Import an ONNX model (a file path or a ModelProto) into the IR.

    Raises `ImportErrorModel` naming the file when it cannot be read or validated, and
    `UnsupportedOpsError` (a subclass) listing every unsupported op / attribute with its nodes.
    """
    proto, source, digest = _read(model)
    opset = _check_model(proto, source)
    graph_proto = proto.graph
    inits = {t.name for t in graph_proto.initializer}
    inputs = [i for i in graph_proto.input if i.name not in inits]
    if len(inputs) != 1:
        raise ImportErrorModel(
            f"{source}: snnc imports models with exactly one input; this one has {len(inputs)}"
            + (f" ({', '.join(i.name for i in inputs)})" if inputs else "")
        )
    shapes = _infer_shapes(proto)
    for vi in list(graph_proto.input) + list(graph_proto.output):
        shapes.setdefault(vi.name, _shape_of(vi))
    in_shape = shapes.get(inputs[0].name)
    batch_dim = in_shape[0] if in_shape else None

    graph = Graph(
        name=graph_proto.name or os.path.splitext(os.path.basename(source))[0] or "model",
        inputs=[inputs[0].name],
        outputs=[o.name for o in graph_proto.output],
        meta={
            "source": source,
            "sha256": digest,
            "format": "onnx",
            "producer_name": proto.producer_name,
            "producer_version": proto.producer_version,
            "opset": opset,
            "ir_version": proto.ir_version,
        },
    )
    graph.add_value(inputs[0].name, _ir_shape(in_shape))
    ctx = ImportContext(source, opset, graph, shapes, batch_dim)
    for t in graph_proto.initializer:
        ctx.consts[t.name] = _initializer(t, source)
    ctx.fold_budget = MAX_FOLDED_TOTAL + sum(int(a.size) for a in ctx.consts.values())
    nodes = _named_nodes(graph_proto, ctx)
    ctx.read = {i for n in graph_proto.node for i in n.input if i} | set(graph.outputs)

    todo = _scan(nodes, ctx)
    for node, conv in todo:
        ctx.current = node.name
        try:
            conv.convert(node, ctx)
        except SnncError:
            raise
        except Exception as exc:  # an importer bug must still give one clear line
            raise ImportErrorModel(f"{source}: cannot import node {node.name} ({node.op_type}): {exc}") from exc
    ctx.current = None

    written = set(graph.inputs) | {o for n in graph.nodes for o in n.outputs}
    for o in graph.outputs:
        if o not in written:
            why = "a constant" if o in ctx.consts else "not computed by any imported node"
            raise ImportErrorModel(f"{source}: graph output '{o}' is {why}")
        graph.add_value(o, ctx.shape(o))
    check(graph)
    return graph


# -- reading and validation ---------------------------------------------------------------------
def _read(model) -> tuple[onnx.ModelProto, str, str]:
    if isinstance(model, onnx.ModelProto):
        data = model.SerializeToString()
        return model, "<ModelProto>", hashlib.sha256(data).hexdigest()
    source = os.fspath(model)
    if not os.path.exists(source):
        raise ImportErrorModel(f"{source}: no such file")
    if not os.path.isfile(source):
        raise ImportErrorModel(f"{source}: not a file")
    if os.path.getsize(source) > MAX_MODEL_BYTES:
        raise ImportErrorModel(f"{source}: larger than {MAX_MODEL_BYTES:,} bytes (protobuf's limit for an ONNX file)")
    with open(source, "rb") as f:
        data = f.read(MAX_MODEL_BYTES + 1)
    if not data:
        raise ImportErrorModel(f"{source}: empty file, not an ONNX model")
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:
        raise ImportErrorModel(f"{source}: not an ONNX model (protobuf parse failed: {_one_line(exc)})") from None
    if not proto.HasField("graph") or not proto.opset_import:
        raise ImportErrorModel(f"{source}: not an ONNX model (no graph or no opset_import)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        _check_external(proto, source)
        try:
            onnx.external_data_helper.load_external_data_for_model(proto, os.path.dirname(os.path.abspath(source)))
        except Exception as exc:
            raise ImportErrorModel(f"{source}: cannot load external tensor data: {_one_line(exc)}") from None
    return proto, source, hashlib.sha256(data).hexdigest()


MAX_MODEL_BYTES = 2 << 30  # protobuf's own limit; external tensor data counts towards it


def _check_external(proto: onnx.ModelProto, source: str) -> None:
    """External tensor data may only name regular files in the model's directory (or below it),
    with offsets and lengths inside them; all of it together at most MAX_MODEL_BYTES."""
    base = os.path.realpath(os.path.dirname(os.path.abspath(source)))
    total = 0
    for t in proto.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        where = f"{source}: initializer '{t.name}': external data"
        if not loc or os.path.isabs(loc) or ".." in loc.replace("\\", "/").split("/"):
            raise ImportErrorModel(f"{where} location {loc!r} must be a relative path inside the model's directory")
        path = os.path.realpath(os.path.join(base, loc))
        if os.path.commonpath([base, path]) != base or not os.path.isfile(path):
            raise ImportErrorModel(f"{where} {loc!r} is not a regular file inside the model's directory")
        try:
            offset, size = int(info.get("offset", 0)), os.path.getsize(path)
            length = int(info["length"]) if "length" in info else size - offset
        except ValueError:
            raise ImportErrorModel(f"{where}: offset/length are not integers") from None
        if offset < 0 or length < 0 or offset + length > size:
            raise ImportErrorModel(f"{where}: offset {offset} + length {length} is outside {loc!r} ({size} bytes)")
        total += length
        if total > MAX_MODEL_BYTES:
            raise ImportErrorModel(f"{source}: external tensor data over {MAX_MODEL_BYTES:,} bytes")


def _check_model(proto: onnx.ModelProto, source: str) -> int:
    opsets = {o.domain or "": o.version for o in proto.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx"))
    if opset is None:
        raise ImportErrorModel(f"{source}: the model imports no version of the default ONNX domain")
    if opset < MIN_OPSET:
        raise ImportErrorModel(
            f"{source}: opset {opset} is too old; snnc imports opset {MIN_OPSET} and newer "
            "(re-export, or convert with onnx.version_converter)"
        )
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise ImportErrorModel(f"{source}: invalid ONNX model: {_one_line(exc)}") from None
    return opset


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "") or type(exc).__name__


# -- shapes -------------------------------------------------------------------------------------
def _shape_of(vi: onnx.ValueInfoProto) -> tuple | None:
    t = vi.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


def _ir_shape(shape: tuple | None) -> tuple | None:
    return None if shape is None else tuple(d if isinstance(d, int) else None for d in shape)


def _infer_shapes(proto: onnx.ModelProto) -> dict[str, tuple]:
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    except Exception:  # best effort: importers that need a shape report its absence
        return {}
    g = inferred.graph
    out = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        s = _shape_of(vi)
        if s is not None:
            out[vi.name] = s
    return out


def _initializer(t: onnx.TensorProto, source: str) -> np.ndarray:
    """An initializer as an array, or an error naming it (data and dims disagree, not numeric)."""
    if t.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        kind = onnx.TensorProto.DataType.Name(t.data_type)
        raise ImportErrorModel(f"{source}: initializer '{t.name}' has type {kind}; snnc imports numeric tensors only")
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise ImportErrorModel(f"{source}: initializer '{t.name}' has negative dims {dims}")
    try:
        a = numpy_helper.to_array(t)
    except Exception as exc:  # data and dims disagree, unknown type, ...
        raise ImportErrorModel(f"{source}: initializer '{t.name}' (dims {dims}) cannot be read: {_one_line(exc)}") from None
    if a.dtype.kind not in _NUMERIC_KINDS or tuple(a.shape) != tuple(dims):
        raise ImportErrorModel(f"{source}: initializer '{t.name}' (dims {dims}) is not a numeric tensor of its declared dims")
    return a


# -- scan -----------------------------------------------------------------------------------------
def _named_nodes(graph_proto: onnx.GraphProto, ctx: ImportContext) -> list[OnnxNode]:
    """Keep each ONNX node's name; `<op_type>_<index>` when empty; suffix duplicates."""
    nodes = []
    for i, n in enumerate(graph_proto.node):
        name = unique_name(n.name or f"{n.op_type}_{i}", ctx.reserved)
        ctx.reserved.add(name)
        nodes.append(OnnxNode.from_proto(n, name, i))
    return nodes


def _scan(nodes: list[OnnxNode], ctx: ImportContext) -> list:
    """Fold constant nodes; return the (node, converter) pairs to import, or raise listing all
    unsupported ops and attribute values."""
    problems: dict[str, list[str]] = defaultdict(list)
    todo = []
    for node in nodes:
        domain = "" if node.domain == "ai.onnx" else node.domain
        if domain:
            problems[f"{domain}::{node.op_type} (not in the default ONNX domain)"].append(node.name)
            continue
        try:
            folded = _try_fold(node, ctx)
        except FoldError as exc:
            problems[f"{node.op_type} ({exc})"].append(node.name)
            continue
        except SnncError:
            raise
        except Exception as exc:  # a folder met values it does not expect (an axis out of range, ...)
            problems[f"{node.op_type} (cannot evaluate on constant inputs: {_one_line(exc)})"].append(node.name)
            continue
        if folded is not None:
            for name, value in zip(node.outputs, folded):
                if name:
                    ctx.consts[name] = value
            continue
        conv = registry.lookup_converter(domain, node.op_type, ctx.opset)
        if conv is None:
            problems[node.op_type].append(node.name)
            continue
        if not conv.batch_symbols and any(is_symbolic(ctx.consts[i]) for i in node.inputs if ctx.is_const(i)):
            problems[f"{node.op_type} (computes on the dynamic batch size)"].append(node.name)
            continue
        try:
            reasons = conv.check(node, ctx) if conv.check else []
        except SnncError:
            raise
        except Exception as exc:  # a check met values it does not expect: still one clear line
            reasons = [f"cannot be checked: {_one_line(exc)}"]
        for reason in reasons:
            problems[f"{node.op_type} ({reason})"].append(node.name)
        if not reasons:
            todo.append((node, conv))
    if problems:
        raise UnsupportedOpsError(ctx.source, dict(problems))
    return todo


def _try_fold(node: OnnxNode, ctx: ImportContext) -> list | None:
    fold = registry.lookup_folder("", node.op_type, ctx.opset)
    present = [i for i in node.inputs if i]
    numeric = bool(present) and all(ctx.is_const(i) for i in present) and not any(is_symbolic(ctx.consts[i]) for i in present)
    if fold is not None:
        if numeric:
            _check_fold_size(node, ctx)
        out = fold(node, ctx)
        if out is not None:
            return _count_folded(node, ctx, out)
    if fold is None and numeric and node.op_type not in _NEVER_FOLD:
        _check_fold_size(node, ctx)
        return _count_folded(node, ctx, _reference_fold(node, ctx))
    return None


def _fold_output_shapes(node: OnnxNode, ctx: ImportContext) -> list[tuple | None]:
    """The shapes of a constant node's outputs from ONNX shape inference on that node alone, with
    the real shapes of its inputs (and the values of small ones): known before evaluating it."""
    present = [i for i in node.inputs if i]
    proto = onnx.helper.make_node(node.op_type, node.inputs, node.outputs, name=node.name)
    for k, v in node.attrs.items():
        proto.attribute.append(onnx.helper.make_attribute(k, v))
    inits, ins = [], []
    for i in dict.fromkeys(present):
        a = ctx.consts[i]
        if a.size <= _SMALL:
            inits.append(numpy_helper.from_array(np.asarray(a), i))
        ins.append(onnx.helper.make_tensor_value_info(i, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape))
    outs = [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.outputs if o]
    model = onnx.helper.make_model(
        onnx.helper.make_graph([proto], "fold", ins, outs, initializer=inits),
        opset_imports=[onnx.helper.make_opsetid("", ctx.opset)],
    )
    try:
        g = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True).graph
    except Exception:
        return [None for o in node.outputs if o]
    known = {vi.name: _shape_of(vi) for vi in list(g.value_info) + list(g.output)}
    return [known.get(o) for o in node.outputs if o]


def _check_fold_size(node: OnnxNode, ctx: ImportContext) -> None:
    """Refuse to fold a node whose outputs would exceed the folded-constant limits, before
    evaluating it; an output whose size shape inference cannot tell is refused too unless the
    node cannot grow data (its output is at most as large as its largest input)."""
    total = 0
    for shape in _fold_output_shapes(node, ctx):
        if shape is None or any(not isinstance(d, int) or d < 0 for d in shape):
            biggest = max(int(ctx.consts[i].size) for i in node.inputs if i)
            if node.op_type in _NON_GROWING:
                total += biggest
                continue
            raise FoldError("a constant whose size cannot be known before computing it")
        n = int(np.prod(shape, dtype=object))
        if n > MAX_FOLDED_ELEMENTS:
            raise FoldError(f"folds to a constant of {n:,} elements (limit {MAX_FOLDED_ELEMENTS:,})")
        total += n
    if total > ctx.fold_budget:
        raise FoldError(f"folded constants would exceed {MAX_FOLDED_TOTAL:,} elements in all")


def _count_folded(node: OnnxNode, ctx: ImportContext, out: list) -> list:
    """Charge the folded outputs to the budget (and check what shape inference promised)."""
    n = sum(int(np.size(a)) for a in out if a is not None)
    if any(a is not None and np.size(a) > MAX_FOLDED_ELEMENTS for a in out):
        raise FoldError(f"folds to a constant of more than {MAX_FOLDED_ELEMENTS:,} elements")
    ctx.fold_budget -= n
    if ctx.fold_budget < 0:
        raise FoldError(f"folded constants would exceed {MAX_FOLDED_TOTAL:,} elements in all")
    return out


# Ops whose output never has more elements than their largest input (used only when ONNX shape
# inference cannot tell a folded node's output size).
_NON_GROWING = {
    "Identity", "Cast", "CastLike", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Slice",
    "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Floor", "Ceil", "Round", "Sign", "Relu", "Sigmoid",
    "Tanh", "Clip", "Not", "DequantizeLinear", "QuantizeLinear", "Unique", "Compress",
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ArgMax", "ArgMin", "Shape", "Size",
}


def _reference_fold(node: OnnxNode, ctx: ImportContext) -> list:
    """Evaluate a node whose inputs are all numeric constants with ONNX's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    present = [i for i in node.inputs if i]
    proto = onnx.helper.make_node(node.op_type, node.inputs, node.outputs, name=node.name)
    for k, v in node.attrs.items():
        proto.attribute.append(onnx.helper.make_attribute(k, v))
    ins = [onnx.helper.make_tensor_value_info(i, onnx.helper.np_dtype_to_tensor_dtype(ctx.consts[i].dtype), ctx.consts[i].shape) for i in present]
    outs = [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.outputs if o]
    model = onnx.helper.make_model(
        onnx.helper.make_graph([proto], "fold", ins, outs), opset_imports=[onnx.helper.make_opsetid("", ctx.opset)]
    )
    try:
        result = ReferenceEvaluator(model).run(None, {i: ctx.consts[i] for i in present})
    except Exception as exc:
        raise FoldError(f"cannot evaluate on constant inputs: {_one_line(exc)}") from None
    it = iter(np.asarray(r) for r in result)
    return [next(it) if o else None for o in node.outputs]
