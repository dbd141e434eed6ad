"""A readable text dump of the IR, one line per node:

    conv1 = conv(input) [1x28x28 -> 6x28x28] stride=(1, 1) padding=(2, 2, 2, 2) | weight 6x1x5x5 bias 6
"""
from __future__ import annotations

from snnc.compiler.ir.graph import Graph, Shape


def fmt_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "x".join("N" if d is None else str(d) for d in shape)


def dump(graph: Graph) -> str:
    lines = [f"graph {graph.name}("
             + ", ".join(f"{i}: {fmt_shape(graph.shape(i))}" for i in graph.inputs) + ")"]
    for n in graph.nodes:
        ins = ", ".join(n.inputs)
        shapes = f"[{', '.join(fmt_shape(graph.shape(i)) for i in n.inputs)} -> {fmt_shape(graph.shape(n.output))}]"
        attrs = " ".join(f"{k}={v}" for k, v in sorted(n.attrs.items()))
        params = " ".join(f"{k} {'x'.join(map(str, v.shape)) or 'scalar'}" for k, v in sorted(n.params.items()))
        line = f"  {n.output} = {n.op}({ins}) {shapes}"
        if attrs:
            line += " " + attrs
        if params:
            line += " | " + params
        if n.output != n.name:
            line += f"  # {n.name}"
        lines.append(line)
    lines.append("  return " + ", ".join(graph.outputs))
    return "\n".join(lines)
