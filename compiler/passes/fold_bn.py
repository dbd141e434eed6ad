"""Fold BatchNorm into the preceding conv or linear layer.

With s = scale / sqrt(var + eps): W'[o] = W[o] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + bias[o].
Only when the layer's output has no other reader (else the unnormalized output is still needed).
A batchnorm that cannot be folded stays; `snnc check` reports it (HW008).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import attr
from snnc.compiler.ir.rewrite import Rewriter, prune_values, rank_of
from snnc.compiler.passes.manager import Pass

FOLDABLE_INTO = ("conv", "linear")


class FoldBatchNorm(Pass):
    name = "fold_bn"
    requires = ("canonical",)
    ensures = ("canonical",)

    def run(self, graph: Graph) -> Graph:
        return fold_batchnorm(graph)


def fold_batchnorm(graph: Graph) -> Graph:
    rw = Rewriter(graph)
    for bn in [n for n in graph.nodes if n.op == "batchnorm"]:
        layer = rw.producer(bn.input)
        if layer is None or layer.op not in FOLDABLE_INTO or rw.sole_reader(layer.output) is not bn:
            continue
        if layer.op == "linear" and rank_of(graph, layer.output) not in (None, 2):
            continue  # batchnorm's channel axis 1 is the feature axis only for (N, F)
        if not fold_into(layer, bn):
            continue
        rw.remove(bn)
        rw.absorb(layer, bn.output)
    rw.commit()
    prune_values(graph)
    return graph


def fold_into(layer: Node, bn: Node) -> bool:
    """Fold `bn`'s affine map into `layer`'s weight and bias; False if the channels disagree."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in bn.params.items()}
    s = p["scale"] / np.sqrt(p["var"] + float(attr(bn, "eps")))
    w = np.asarray(layer.params["weight"], dtype=np.float64)
    if w.shape[0] != s.shape[0]:
        return False
    layer.params["weight"] = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
    b = np.asarray(layer.params.get("bias", np.zeros(w.shape[0])), dtype=np.float64)
    layer.params["bias"] = (b - p["mean"]) * s + p["bias"]
    return True
