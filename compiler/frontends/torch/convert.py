"""Import a `torch.export.ExportedProgram` into the IR: scan every node first, then convert.

1. placeholders: parameters, buffers and lifted constants become constants; exactly one user
   input (a float tensor) becomes the graph input, with a dynamic batch when it was exported so;
2. scan, in graph order: size arithmetic (`x.size(0)`) is recorded, nodes whose inputs are all
   constants are evaluated with torch (`permute(fc.weight)`), every other node needs a
   converter whose check accepts it. Every problem is collected — nothing is dropped — and
   raised at once as `UnsupportedTorchOpsError`, grouped by torch.nn layer type (with the module
   paths) or, for functional calls, by aten op (with the layer name and source line);
3. only then convert, node by node, into pre-canonical IR ops named by module path.

`import_graph` works on a `program.Program`, whichever reader made it; it does not import torch.
`import_program` is the torch route (an `ExportedProgram`, constants evaluated with torch); the
fast `.pt2` reader passes its own program and a numpy evaluator (`serialized.py`).
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable

from snnc.compiler.errors import ImportErrorModel, SnncError, UnsupportedOpsError
from snnc.compiler.frontends.torch import registry
from snnc.compiler.frontends.torch.context import (
    SYM, TorchContext, TorchNode, dims, is_torch_leaf, layer_base_name, module_stack, user_frame,
)
from snnc.compiler.frontends.torch.program import NotUnderstood, PNode, Program, TensorMeta
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.verify import check

if TYPE_CHECKING:  # pragma: no cover
    import torch

# Never evaluated at import time even when their inputs are constant.
_RANDOM = ("rand", "randn", "randint", "bernoulli", "normal", "uniform", "multinomial", "dropout")

HINTS = {
    "torch.nn.modules.rnn.": "recurrent layers have no feed-forward spiking equivalent",
    "torch.nn.modules.activation.MultiheadAttention": "attention multiplies activations together, which a spiking core cannot do",
    "torch.nn.modules.transformer.": "attention multiplies activations together, which a spiking core cannot do",
}


class UnsupportedTorchOpsError(UnsupportedOpsError):
    """Every unsupported layer or function of a torch model, with module paths and what to do."""

    def __init__(self, source: str, ops: dict[str, list[str]]):
        super().__init__(source, ops)
        supported = "Conv2d, Linear, ReLU, ReLU6/Hardtanh, BatchNorm2d/1d (eval), AvgPool2d, AdaptiveAvgPool2d, " \
                    "MaxPool2d, Flatten/view/reshape, residual add, cat, Dropout and Identity (eval)"
        self.args = (str(self) + "\n"
                     f"snnc imports {supported} (see docs/torch.md). Nothing above was dropped: replace or remove "
                     "these layers and retrain, or export only the part of the model snnc supports and run the "
                     "rest on the host.",)


def import_program(ep: "torch.export.ExportedProgram", source: str = "<ExportedProgram>", *,
                   name: str = "model", meta: dict | None = None, static_batch: int | None = None) -> Graph:
    """Import an ExportedProgram into the IR (pre-canonical; run `frontend_pipeline` next)."""
    from snnc.compiler.frontends.torch import exported

    program = exported.program_from_exported(ep)
    return import_graph(program, source, name=name, meta=meta, static_batch=static_batch,
                        evaluate=exported.evaluate, detach=exported.detach, torch_values=True)


def import_graph(program: Program, source: str, *, name: str = "model", meta: dict | None = None,
                 static_batch: int | None = None, evaluate: Callable[[PNode, dict], Any],
                 detach: Callable[[Any], Any] = lambda t: t, torch_values: bool = False) -> Graph:
    """Import a program into the IR. `evaluate(node, consts)` computes a node whose inputs are all
    constants (raising if it cannot: the node is then imported as an op; `NotUnderstood` passes
    through); `torch_values`: the constants are torch tensors."""
    graph = Graph(name=name, inputs=[], outputs=[], meta={"source": source, "format": "torch.export", **(meta or {})})
    ctx = TorchContext(source, graph)
    ctx.static_batch = static_batch
    ctx.torch_values = torch_values
    ctx.used = {a.name for n in program.nodes for a in n.all_input_nodes}
    ctx.used.update(o.name for o in program.outputs if isinstance(o, PNode))
    _placeholders(program, ctx, detach)

    problems: dict[str, list[str]] = defaultdict(list)
    failed: set[str] = set()
    todo: list[tuple[TorchNode, registry.Converter]] = []
    for fx in program.nodes:
        if fx.op != "call_function":
            if fx.op not in ("placeholder", "output", "get_attr"):
                problems[f"{fx.op} {fx.key}"].append(fx.name)
            continue
        key = fx.key
        ctx.keys[fx.name] = key
        if _is_size(fx):
            val = fx.meta.get("val")
            ctx.consts[fx.name] = val if isinstance(val, (int, float, bool)) else SYM
            continue
        inputs = fx.all_input_nodes
        if key == "operator.getitem" and inputs and inputs[0].name in failed:
            failed.add(fx.name)
            ctx.tensors[fx.name] = fx.name
            continue
        if all(a.name in ctx.consts and ctx.consts[a.name] is not SYM for a in inputs) and not _random(key):
            try:
                ctx.consts[fx.name] = evaluate(fx, ctx.consts)
                continue
            except NotUnderstood:  # the fast reader hands the file to torch
                raise
            except Exception:  # not evaluable on constants: try it as an op
                pass
        node = TorchNode(fx, key, layer_base_name(fx), dict(fx.bound))
        conv = registry.lookup(key)
        reasons = [] if conv is not None else [None]
        if conv is not None and conv.check is not None:
            reasons = conv.check(node, ctx)
        if reasons:
            for reason in reasons:
                k, who = _problem(fx, key, reason)
                if who not in problems[k]:
                    problems[k].append(who)
            failed.add(fx.name)
            ctx.tensors[fx.name] = fx.name  # downstream nodes see an activation and are checked normally
            continue
        ctx.tensors[fx.name] = fx.name  # provisional: the converter records the real IR value
        todo.append((node, conv))

    outputs = _outputs(program, ctx, problems)
    if problems:
        raise UnsupportedTorchOpsError(source, dict(problems))

    ctx.tensors = {k: v for k, v in ctx.tensors.items() if k in graph.inputs}
    for node, conv in todo:
        try:
            conv.convert(node, ctx)
        except SnncError:
            raise
        except Exception as exc:  # an importer bug must still give one clear line
            raise ImportErrorModel(f"{source}: cannot import {node.name} ({node.key}): {exc}") from exc
    graph.outputs = [ctx.tensors[o.name] for o in outputs]
    for fx in outputs:
        graph.add_value(ctx.tensors[fx.name], dims(fx.meta.get("val")))
    check(graph)
    return graph


def _placeholders(program: Program, ctx: TorchContext, detach: Callable[[Any], Any]) -> None:
    specs = {s.name: s for s in program.input_specs}
    user = []
    for fx in program.nodes:
        if fx.op != "placeholder":
            continue
        spec = specs.get(fx.name)
        kind = spec.kind if spec is not None else "USER_INPUT"
        if kind == "USER_INPUT":
            user.append(fx)
        elif kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
            t = program.state.get(spec.target)
            if t is None:
                raise ImportErrorModel(f"{ctx.source}: no value stored for {spec.target}")
            ctx.consts[fx.name] = detach(t)
        else:
            raise ImportErrorModel(f"{ctx.source}: unsupported program input {fx.name} ({kind})")
    tensors = [u for u in user if isinstance(u.meta.get("val"), TensorMeta)]
    if len(user) != 1 or len(tensors) != 1:
        raise ImportErrorModel(
            f"{ctx.source}: snnc imports models with exactly one tensor input; this one has {len(user)}"
            + (f" ({', '.join(u.name for u in user)})" if user else "")
        )
    x = tensors[0]
    if not x.meta["val"].is_floating_point:
        raise ImportErrorModel(f"{ctx.source}: the input {x.name} is torch.{x.meta['val'].dtype}, not a float tensor")
    shape = dims(x.meta["val"])
    if ctx.static_batch is not None and shape and shape[0] == ctx.static_batch:
        shape = (None,) + shape[1:]
    ctx.graph.inputs = [x.name]
    ctx.graph.add_value(x.name, shape)
    ctx.tensors[x.name] = x.name


def _outputs(program: Program, ctx: TorchContext, problems: dict) -> list:
    user = []
    for v, kind in zip(program.outputs, program.output_kinds):
        if kind == "BUFFER_MUTATION":
            problems["buffer updates (a BatchNorm in training mode: call model.eval() before exporting)"].append(
                getattr(v, "name", str(v)))
        elif kind == "USER_OUTPUT":
            if not isinstance(v, PNode) or not ctx.is_tensor(v):
                problems["an output that is not computed from the input"].append(str(v))
            else:
                user.append(v)
        else:
            problems[f"program output kind {kind}"].append(getattr(v, "name", str(v)))
    return user


def _is_size(fx: PNode) -> bool:
    """Size arithmetic: the node's value is a (possibly symbolic) number, not a tensor."""
    val = fx.meta.get("val")
    return val is SYM or isinstance(val, (int, float, bool))


def _random(key: str) -> bool:
    op = key.split(".")[1] if key.startswith("aten.") else key
    return any(op.startswith(r) or op.startswith("native_" + r) for r in _RANDOM)


def _problem(fx: PNode, key: str, reason: str | None) -> tuple[str, str]:
    """(what is unsupported, where): grouped by torch.nn layer type, else by op."""
    stack = module_stack(fx)
    path, type_name = stack[-1] if stack else ("", "")
    op = key.removeprefix("aten.")
    if is_torch_leaf(type_name):
        path = path or "(the model itself)"
        short = "nn." + type_name.rsplit(".", 1)[-1]
        hint = next((h for prefix, h in HINTS.items() if type_name.startswith(prefix)), None)
        if hint:  # one entry per layer, whatever ops it traced into
            return f"{short} ({hint})", path
        return f"{short} ({op}{': ' + reason if reason else ''})", path
    what = f"{op} ({reason})" if reason else op
    where = layer_base_name(fx)
    frame = user_frame(fx)
    return what, f"{where} at {frame}" if frame else where
