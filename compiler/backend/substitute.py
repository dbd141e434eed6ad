"""Explicit, reported substitutions a user asks for before the check (`--maxpool avgpool`).

Each returns a new graph and one line per substituted layer; compile, eval and check print
those lines as warnings, and the artefact's provenance records the option.
"""
from __future__ import annotations

from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.ops import attr


def maxpool_to_avgpool(graph: Graph) -> tuple[Graph, list[str]]:
    """Every MaxPool becomes an AvgPool of the same kernel, stride and padding."""
    g = graph.copy()
    notes = []
    for node in g.nodes:
        if node.op != "maxpool":
            continue
        k, s = tuple(attr(node, "kernel")), tuple(attr(node, "stride"))
        if int(attr(node, "ceil_mode")) or tuple(attr(node, "dilation")) != (1, 1) or any(attr(node, "padding")):
            notes.append(f"layer {node.name}: MaxPool with ceil_mode, dilation or padding has no AvgPool of the same "
                         "output; left as it is")
            continue
        node.op = "avgpool"
        node.attrs = {"kernel": k, "stride": s}
        notes.append(f"layer {node.name}: MaxPool {k[0]}x{k[1]} (stride {s[0]}) replaced by AvgPool of the same "
                     "window (--maxpool avgpool); retraining with AvgPool usually loses less")
    return g, notes


def substitute(graph: Graph, opts) -> tuple[Graph, list[str]]:
    """The substitutions `opts` asks for (a CompileOptions, or anything with a `maxpool` field)."""
    if getattr(opts, "maxpool", "refuse") == "avgpool":
        return maxpool_to_avgpool(graph)
    return graph, []
