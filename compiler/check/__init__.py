"""`snnc check`: does a model fit a hardware spec? Every violation, each with a concrete fix.

    check_graph(graph, spec, bits) -> CheckReport     # a canonical IR graph (after the pipeline)
    check_model(path, spec, bits)  -> CheckReport     # load_model -> frontend_pipeline -> check_graph
"""
from __future__ import annotations

import os
from pathlib import Path

from snnc.compiler.check.placement import fused_activation
from snnc.compiler.check.report import OK, VIOLATION, WARN, CheckReport, LayerRow
from snnc.compiler.check.rules import input_widening, kernel_of, run_rules
from snnc.compiler.check.violations import CODES, ERROR, Violation
from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.ops import ACTIVATIONS, attr
from snnc.hwspec import HardwareSpec, load_spec

__all__ = ["CODES", "CheckReport", "LayerRow", "Violation", "check_graph", "check_model"]

WEIGHT_OPS = ("conv", "linear")


def check_graph(graph: Graph, spec: HardwareSpec | str | Path, bits: int, *, model: str | None = None,
                layer_bits=()) -> CheckReport:
    """Check a graph (already through `frontend_pipeline`) against `spec` at `bits`-bit weights;
    `layer_bits` ((layer, bits) pairs or a mapping, `--bits-for`) gives some layers their own."""
    if not isinstance(spec, HardwareSpec):
        spec = load_spec(spec)
    per_layer = resolve_layer_bits(graph, layer_bits)
    ctx, violations = run_rules(graph, spec, bits, per_layer)
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    violations.sort(key=lambda v: (order.get(v.layer, -1), v.code))
    report = CheckReport(model=model or graph.meta.get("source", graph.name), spec_name=spec.name,
                         spec_revision=spec.revision, spec_source=spec.source, bits=bits, violations=violations,
                         layer_bits=per_layer)
    report.layers = _rows(graph, spec, ctx, violations)
    return report


def resolve_layer_bits(graph: Graph, layer_bits) -> dict[str, int]:
    """`--bits-for` names -> widths, each name a conv or linear layer of `graph` (its node name, or
    the artefact's form of it); an unknown name is an error that lists the layers."""
    from snnc.compiler.backend.options import normalize_layer_bits
    from snnc.compiler.errors import SnncError

    pairs = normalize_layer_bits(layer_bits)
    if not pairs:
        return {}
    weighted = [n.name for n in graph.nodes if n.op in WEIGHT_OPS]
    by_artefact = {_artefact_form(n): n for n in weighted}
    out = {}
    for name, b in pairs:
        node = name if name in weighted else by_artefact.get(name)
        if node is None:
            raise SnncError(f"--bits-for {name}={b}: no conv or linear layer named {name!r}; the layers are: "
                            f"{', '.join(weighted)}")
        out[node] = b
    return out


def _artefact_form(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", ".", name).strip(".")[:120]


def check_model(path: str | os.PathLike, spec: HardwareSpec | str | Path, bits: int, *, layer_bits=()) -> CheckReport:
    """Import the model at `path`, run the front-end pipeline, and check it."""
    from snnc.compiler.frontends import load_model
    from snnc.compiler.passes import frontend_pipeline

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImportErrorModel(f"{path}: model file not found")
    if not isinstance(spec, HardwareSpec):
        spec = load_spec(spec)
    graph = frontend_pipeline(load_model(path))
    return check_graph(graph, spec, bits, model=path, layer_bits=layer_bits)


def _rows(graph: Graph, spec: HardwareSpec, ctx, violations: list[Violation]) -> list[LayerRow]:
    placement = ctx.placement
    fused = {}
    for node in graph.nodes:
        act = fused_activation(graph, node) if node.op not in ACTIVATIONS else None
        if act is not None:
            fused[act.name] = node.name
    status: dict[str, str] = {}
    for v in violations:
        layer = fused.get(v.layer, v.layer)
        if CODES[v.code].severity == ERROR:
            status[layer] = VIOLATION
        else:
            status.setdefault(layer, WARN)
    rows = []
    for node in graph.nodes:
        if node.name in fused:
            continue
        act = fused_activation(graph, node) if node.op not in ACTIVATIONS else None
        op = node.op + (f"+{act.op}" if act is not None else "")
        kernel = in_ch = groups = limit = None
        bits = ctx.bits_of(node)
        row_bits = bits if node.op in WEIGHT_OPS and placement[node.name] == "core" else None
        if node.op == "conv":
            kh, kw = kernel_of(node)
            kernel = f"{kh}x{kw}"
            groups = int(attr(node, "groups"))
            in_ch = int(node.params["weight"].shape[1]) * groups * input_widening(graph, node)  # population: C*P
            limit = spec.conv_limit(kh, bits) if kh == kw else None
        elif node.op == "linear":
            in_ch = int(node.params["weight"].shape[1]) * input_widening(graph, node)
        rows.append(LayerRow(node.name, op, kernel, in_ch, groups, row_bits, limit if row_bits else None,
                             placement[node.name], status.get(node.name, OK)))
    return rows
