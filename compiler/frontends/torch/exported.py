"""The torch route: an `ExportedProgram` (from `torch.export.export` or `torch.export.load`) as a
`program.Program`, and the evaluation of constant nodes with torch itself.

This is the reference the fast `.pt2` reader (`serialized.py`) is tested against: both give the
converters the same nodes, names, bound arguments, recorded shapes and constants.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.fx

from snnc.compiler.frontends.torch import registry
from snnc.compiler.frontends.torch.program import SYM, InputSpec, PNode, Program, TensorMeta


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _meta_val(val: Any) -> Any:
    if isinstance(val, torch.Tensor):
        shape = tuple(d if isinstance(d, int) else str(d) for d in val.shape)
        return TensorMeta(shape, _dtype_name(val.dtype))
    if isinstance(val, (list, tuple)):
        return tuple(_meta_val(v) for v in val)
    if isinstance(val, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return SYM
    return val


def _bind(fx: torch.fx.Node) -> dict[str, Any]:
    """The node's arguments by schema name, defaults filled in; Python builtins get arg0, arg1, ..."""
    schema = getattr(fx.target, "_schema", None)
    if schema is None:
        out = {f"arg{i}": a for i, a in enumerate(fx.args)}
        out.update(fx.kwargs)
        return out
    out = {}
    for i, a in enumerate(schema.arguments):
        if i < len(fx.args):
            out[a.name] = fx.args[i]
        elif a.name in fx.kwargs:
            out[a.name] = fx.kwargs[a.name]
        elif a.has_default_value():
            out[a.name] = a.default_value
        else:
            out[a.name] = None
    return out


def program_from_exported(ep: "torch.export.ExportedProgram") -> Program:
    nodes: dict[str, PNode] = {}

    def arg(a: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            return nodes[a.name]
        if isinstance(a, (list, tuple)):
            return [arg(x) for x in a] if isinstance(a, list) else tuple(arg(x) for x in a)
        if isinstance(a, dict):
            return {k: arg(v) for k, v in a.items()}
        if isinstance(a, (torch.dtype, torch.memory_format, torch.layout)):
            return _dtype_name(a)
        if isinstance(a, torch.device):
            return str(a)
        return a

    out: list[PNode] = []
    outputs: list[Any] = []
    for fx in ep.graph.nodes:
        key = registry.target_key(fx.target) if fx.op == "call_function" else str(fx.target)
        meta = {k: fx.meta[k] for k in ("nn_module_stack", "stack_trace") if k in fx.meta}
        if "val" in fx.meta:
            meta["val"] = _meta_val(fx.meta["val"])
        node = PNode(fx.name, fx.op, key, meta=meta, source=fx)
        if fx.op == "output":
            values = fx.args[0]
            outputs = [arg(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
        else:
            node.args = tuple(arg(a) for a in fx.args)
            node.kwargs = {k: arg(v) for k, v in fx.kwargs.items()}
            node.bound = {k: arg(v) for k, v in _bind(fx).items()} if fx.op == "call_function" else {}
        nodes[fx.name] = node
        out.append(node)
    specs = [InputSpec(s.kind.name, s.arg.name, s.target) for s in ep.graph_signature.input_specs]
    kinds = [s.kind.name for s in ep.graph_signature.output_specs]
    state: dict[str, Any] = dict(ep.constants)
    state.update(ep.state_dict)
    return Program(out, specs, kinds, outputs, state)


def evaluate(node: PNode, consts: dict[str, Any]) -> Any:
    """Run a node whose inputs are all constants with torch (raises if torch cannot)."""
    fx: torch.fx.Node = node.source

    def resolve(a):
        if isinstance(a, torch.fx.Node):
            return consts[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(resolve(x) for x in a)
        if isinstance(a, dict):
            return {k: resolve(v) for k, v in a.items()}
        return a

    with torch.no_grad():
        return fx.target(*resolve(fx.args), **resolve(dict(fx.kwargs)))


def detach(t: Any) -> Any:
    return t.detach() if isinstance(t, torch.Tensor) else t
