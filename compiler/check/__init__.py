"""`snnc check`: does a model fit a hardware spec? Every violation, each with a concrete fix.

    check_graph(graph, spec, bits) -> CheckReport     # a canonical IR graph (after the pipeline)
    check_model(path, spec, bits)  -> CheckReport     # load_model -> frontend_pipeline -> check_graph
"""
from __future__ import annotations

import os
from pathlib import Path

from snnc.compiler.check.placement import fused_activation
from snnc.compiler.check.report import OK, VIOLATION, WARN, CheckReport, LayerRow
from snnc.compiler.check.rules import kernel_of, run_rules
from snnc.compiler.check.violations import CODES, ERROR, Violation
from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.ops import ACTIVATIONS, attr
from snnc.hwspec import HardwareSpec, load_spec

__all__ = ["CODES", "CheckReport", "LayerRow", "Violation", "check_graph", "check_model"]

WEIGHT_OPS = ("conv", "linear")


def check_graph(graph: Graph, spec: HardwareSpec | str | Path, bits: int, *, model: str | None = None) -> CheckReport:
    """Check a graph (already through `frontend_pipeline`) against `spec` at `bits`-bit weights."""
    if not isinstance(spec, HardwareSpec):
        spec = load_spec(spec)
    ctx, violations = run_rules(graph, spec, bits)
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    violations.sort(key=lambda v: (order.get(v.layer, -1), v.code))
    report = CheckReport(model=model or graph.meta.get("source", graph.name), spec_name=spec.name,
                         spec_revision=spec.revision, spec_source=spec.source, bits=bits, violations=violations)
    report.layers = _rows(graph, spec, bits, ctx.placement, violations)
    return report


def check_model(path: str | os.PathLike, spec: HardwareSpec | str | Path, bits: int) -> CheckReport:
    """Import the model at `path`, run the front-end pipeline, and check it."""
    from snnc.compiler.frontends import load_model
    from snnc.compiler.passes import frontend_pipeline

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImportErrorModel(f"{path}: model file not found")
    if not isinstance(spec, HardwareSpec):
        spec = load_spec(spec)
    graph = frontend_pipeline(load_model(path))
    return check_graph(graph, spec, bits, model=path)


def _rows(graph: Graph, spec: HardwareSpec, bits: int, placement: dict[str, str], violations: list[Violation]) -> list[LayerRow]:
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
        row_bits = bits if node.op in WEIGHT_OPS and placement[node.name] == "core" else None
        if node.op == "conv":
            kh, kw = kernel_of(node)
            kernel = f"{kh}x{kw}"
            groups = int(attr(node, "groups"))
            in_ch = int(node.params["weight"].shape[1]) * groups
            limit = spec.conv_limit(kh, bits) if kh == kw else None
        elif node.op == "linear":
            in_ch = int(node.params["weight"].shape[1])
        rows.append(LayerRow(node.name, op, kernel, in_ch, groups, row_bits, limit if row_bits else None,
                             placement[node.name], status.get(node.name, OK)))
    return rows
