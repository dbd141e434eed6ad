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
from snnc.compiler.ir.verify import check

MIN_OPSET = 11
# Never evaluated at import time even when their inputs are constant.
_NONDETERMINISTIC = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}


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
        ctx.consts[t.name] = numpy_helper.to_array(t)
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
    with open(source, "rb") as f:
        data = f.read()
    if not data:
        raise ImportErrorModel(f"{source}: empty file, not an ONNX model")
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:
        raise ImportErrorModel(f"{source}: not an ONNX model (protobuf parse failed: {_one_line(exc)})") from None
    if not proto.HasField("graph") or not proto.opset_import:
        raise ImportErrorModel(f"{source}: not an ONNX model (no graph or no opset_import)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        try:
            onnx.external_data_helper.load_external_data_for_model(proto, os.path.dirname(os.path.abspath(source)))
        except Exception as exc:
            raise ImportErrorModel(f"{source}: cannot load external tensor data: {_one_line(exc)}") from None
    return proto, source, hashlib.sha256(data).hexdigest()


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


# -- scan -----------------------------------------------------------------------------------------
def _named_nodes(graph_proto: onnx.GraphProto, ctx: ImportContext) -> list[OnnxNode]:
    """Keep each ONNX node's name; `<op_type>_<index>` when empty; suffix duplicates."""
    nodes = []
    for i, n in enumerate(graph_proto.node):
        base = n.name or f"{n.op_type}_{i}"
        name, k = base, 1
        while name in ctx.reserved:
            name, k = f"{base}_{k}", k + 1
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
        reasons = conv.check(node, ctx) if conv.check else []
        for reason in reasons:
            problems[f"{node.op_type} ({reason})"].append(node.name)
        if not reasons:
            todo.append((node, conv))
    if problems:
        raise UnsupportedOpsError(ctx.source, dict(problems))
    return todo


def _try_fold(node: OnnxNode, ctx: ImportContext) -> list | None:
    fold = registry.lookup_folder("", node.op_type, ctx.opset)
    if fold is not None:
        out = fold(node, ctx)
        if out is not None:
            return out
    present = [i for i in node.inputs if i]
    if (
        fold is None
        and present
        and node.op_type not in _NONDETERMINISTIC
        and all(ctx.is_const(i) for i in present)
        and not any(is_symbolic(ctx.consts[i]) for i in present)
    ):
        return _reference_fold(node, ctx)
    return None


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
