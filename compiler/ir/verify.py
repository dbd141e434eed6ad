"""The IR verifier: the invariants every graph satisfies after every pass.

- node names unique, op known, arity and attributes/parameters match the op's schema;
- values are written once, read only after they are written (topological order);
- graph inputs are not written by nodes, graph outputs are produced;
- parameters are finite float arrays; conv/linear weight shapes agree with the shapes present;
- after canonicalize (`canonical=True`) only canonical ops remain.

`verify` returns the list of problems; `check` raises with all of them.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.ops import OPS, REQUIRED


class VerifyError(SnncError):
    def __init__(self, graph: Graph, problems: list[str]):
        self.problems = problems
        super().__init__(f"IR of {graph.name} is invalid:\n  " + "\n  ".join(problems))


def verify(graph: Graph, *, canonical: bool = False) -> list[str]:
    problems: list[str] = []
    names: set[str] = set()
    written: set[str] = set(graph.inputs)
    for v in graph.inputs:
        if v not in graph.values:
            problems.append(f"graph input '{v}' has no Value entry")
    for node in graph.nodes:
        where = f"node {node.name} ({node.op})"
        if node.name in names:
            problems.append(f"{where}: duplicate node name")
        names.add(node.name)
        schema = OPS.get(node.op)
        if schema is None:
            problems.append(f"{where}: unknown op")
            written.update(node.outputs)  # still written: report no follow-on "never written" errors
            continue
        if canonical and not schema.canonical:
            problems.append(f"{where}: op is not canonical (canonicalize should have removed it)")
        lo, hi = schema.n_inputs
        if not lo <= len(node.inputs) <= hi:
            problems.append(f"{where}: expects {lo}..{hi} inputs, has {len(node.inputs)}")
        if len(node.outputs) != 1:
            problems.append(f"{where}: must have exactly one output, has {len(node.outputs)}")
        for i in node.inputs:
            if i not in written:
                problems.append(f"{where}: reads '{i}' before it is written")
        for o in node.outputs:
            if o in written:
                problems.append(f"{where}: writes '{o}', which is already written")
            written.add(o)
            if o not in graph.values:
                problems.append(f"{where}: output '{o}' has no Value entry")
        for a, default in schema.attrs.items():
            if default is REQUIRED and a not in node.attrs:
                problems.append(f"{where}: missing attribute '{a}'")
        for a in node.attrs:
            if a not in schema.attrs:
                problems.append(f"{where}: unknown attribute '{a}'")
        for prm in schema.params:
            if prm not in node.params:
                problems.append(f"{where}: missing parameter '{prm}'")
        for prm, arr in node.params.items():
            if prm not in schema.params + schema.optional_params:
                problems.append(f"{where}: unknown parameter '{prm}'")
            elif not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
                problems.append(f"{where}: parameter '{prm}' must be a float numpy array")
            elif not np.all(np.isfinite(arr)):
                problems.append(f"{where}: parameter '{prm}' has NaN or inf")
        problems.extend(_shape_problems(graph, node, where))
    for o in graph.outputs:
        if o not in written:
            problems.append(f"graph output '{o}' is never written")
    return problems


def _shape_problems(graph: Graph, node, where: str) -> list[str]:
    out: list[str] = []
    if node.op == "conv" and "weight" in node.params:
        w = node.params["weight"]
        groups = node.attrs.get("groups", 1)
        if w.ndim != 4:
            return [f"{where}: conv weight must be 4-D (O, I/groups, kh, kw), is {w.shape}"]
        if w.shape[0] % groups:
            out.append(f"{where}: out_channels {w.shape[0]} not divisible by groups {groups}")
        shp = graph.shape(node.inputs[0]) if node.inputs else None
        if shp is not None and len(shp) == 4 and shp[1] is not None and shp[1] != w.shape[1] * groups:
            out.append(f"{where}: input has {shp[1]} channels, weight expects {w.shape[1] * groups}")
        if "bias" in node.params and node.params["bias"].shape != (w.shape[0],):
            out.append(f"{where}: bias shape {node.params['bias'].shape} != ({w.shape[0]},)")
    if node.op == "linear" and "weight" in node.params:
        w = node.params["weight"]
        if w.ndim != 2:
            return [f"{where}: linear weight must be 2-D (out, in), is {w.shape}"]
        shp = graph.shape(node.inputs[0]) if node.inputs else None
        if shp is not None and len(shp) >= 1 and shp[-1] is not None and shp[-1] != w.shape[1]:
            out.append(f"{where}: input has {shp[-1]} features, weight expects {w.shape[1]}")
        if "bias" in node.params and node.params["bias"].shape != (w.shape[0],):
            out.append(f"{where}: bias shape {node.params['bias'].shape} != ({w.shape[0]},)")
    return out


def check(graph: Graph, *, canonical: bool = False) -> None:
    problems = verify(graph, canonical=canonical)
    if problems:
        raise VerifyError(graph, problems)
