"""Explicit, reported substitutions a user asks for before the check (`--maxpool avgpool`,
`--host-from LAYER`).

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


def host_from(graph: Graph, name: str) -> tuple[Graph, list[str]]:
    """Mark the hybrid cut (`--host-from NAME`): node NAME and every node after it in the graph's
    (topological) order run on the host (`check.placement.place` reads `meta["host_from"]`)."""
    from snnc.compiler.errors import SnncError

    names = [n.name for n in graph.nodes]
    if name not in names:
        near = [n for n in names if name.lower() in n.lower()][:3]
        raise SnncError(f"--host-from {name!r}: no layer of that name in {graph.name}"
                        + (f" (did you mean {', '.join(near)}?)" if near else "; `snnc check` lists the layer names"))
    g = graph.copy()
    g.meta["host_from"] = name
    from snnc.compiler.ir.ops import ACTIVATIONS

    host = sum(1 for n in graph.nodes[names.index(name):] if n.op not in ACTIVATIONS)  # their ReLUs go along
    return g, [f"hybrid: {host} layer(s) from {name} on run on the host as float layers (--host-from), outside the "
               "bit-exact contract; the chip's rules apply to the layers before it"]


def substitute(graph: Graph, opts) -> tuple[Graph, list[str]]:
    """The substitutions `opts` asks for (a CompileOptions, or anything with `maxpool` / `host_from` /
    `input_encoding`, `input_population`); population coding records P in `meta["input_population"]`."""
    notes: list[str] = []
    if getattr(opts, "maxpool", "refuse") == "avgpool":
        graph, notes = maxpool_to_avgpool(graph)
    if getattr(opts, "host_from", None):
        graph, more = host_from(graph, opts.host_from)
        notes += more
    if getattr(opts, "input_encoding", None) == "population" and int(getattr(opts, "input_population", 1)) > 1:
        # the layers reading the input see C*P channels (docs/semantics.md section 5): check counts them
        graph = graph.copy()
        graph.meta["input_population"] = int(opts.input_population)
    return graph, notes
