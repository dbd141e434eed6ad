"""`--bits auto`: a per-layer bit-width plan that fits the spec, as accurate as the budgets allow.

1. Each core conv/linear layer may take the widths of the spec's `weight_bits` at which its
   synapse row fits (`in_channels/groups * k * k * bits <= synapse_row_bits` for a conv, through
   the spec's table; `in_features * bits` for a linear, whose row is an assumption: if no width
   fits, all are allowed and check warns HW101 as usual).
2. Every layer starts at its widest allowed width.
3. While the weights exceed the spec's `max_weight_memory_bits`, the layer whose next narrower
   width costs the least accuracy per bit saved is narrowed (a greedy knapsack). The accuracy
   cost is measured on the layer's own weights: the increase of its relative weight-quantization
   error ||W - Q/θ|| / ||W|| (the quantity compile reports per layer), times its share of the
   network's weights.

The plan is reported with its predicted cost (weight bits, synapse rows) before compiling
(`snnc compile --bits auto --dry-run`). It does not simulate; it is a fit-first choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.backend.quantize import quantize_weights
from snnc.compiler.check.placement import CORE, place
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.hwspec import HardwareSpec


@dataclass
class LayerChoice:
    layer: str
    op: str
    allowed: list[int]
    bits: int
    weights: int
    row_bits: int  # fan-in * bits at the chosen width
    errors: dict[int, float] = field(default_factory=dict)  # width -> relative weight error


@dataclass
class BitPlan:
    layers: list[LayerChoice]
    default: int  # the width most layers take (compile's --bits); the others are --bits-for
    budget: int | None

    @property
    def weight_bits(self) -> int:
        return sum(c.weights * c.bits for c in self.layers)

    @property
    def layer_bits(self) -> tuple[tuple[str, int], ...]:
        return tuple((c.layer, c.bits) for c in self.layers if c.bits != self.default)

    def flags(self) -> str:
        return " ".join([f"--bits {self.default}"] + [f"--bits-for {n}={b}" for n, b in self.layer_bits])

    def to_text(self, spec: HardwareSpec) -> str:
        rows = [("layer", "op", "allowed", "bits", "weights", "row bits", "weight error")]
        for c in self.layers:
            rows.append((c.layer, c.op, ",".join(map(str, c.allowed)), str(c.bits), f"{c.weights:,}",
                         f"{c.row_bits}/{spec.synapse_row_bits}", f"{c.errors.get(c.bits, 0.0):.3f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        budget = "no budget" if self.budget is None else f"budget {self.budget:,}"
        out += ["", f"weights: {self.weight_bits:,} bits ({budget}); compile with: {self.flags()}"]
        return "\n".join(out)


def _fan_in(node: Node) -> int:
    return int(np.prod(node.params["weight"].shape[1:]))


def _allowed(node: Node, spec: HardwareSpec) -> list[int]:
    w = node.params["weight"]
    if node.op == "conv":
        kh, kw = int(w.shape[2]), int(w.shape[3])
        return [b for b in spec.weight_bits if kh == kw and spec.fits_conv(kh, int(w.shape[1]), b)]
    fit = [b for b in spec.weight_bits if int(w.shape[1]) * b <= spec.synapse_row_bits]
    return fit or list(spec.weight_bits)


def solve_bits(graph: Graph, spec: HardwareSpec) -> BitPlan:
    """The per-layer widths of `--bits auto` (see the module doc); SnncError when no width fits a
    layer or the budget cannot be met even at the narrowest widths."""
    placement = place(graph, spec)
    layers = [n for n in graph.nodes if n.op in ("conv", "linear") and placement.get(n.name) == CORE]
    if not layers:
        raise SnncError(f"{graph.name}: no conv or linear layer on the core to choose widths for")
    theta_max = 2 ** spec.threshold_bits - 1
    choices: list[LayerChoice] = []
    for n in layers:
        allowed = _allowed(n, spec)
        if not allowed:
            raise SnncError(f"--bits auto: layer {n.name} fits no width of {spec.name} "
                            f"({_fan_in(n)} synapses per row); run `snnc check` for the fixes")
        w = np.asarray(n.params["weight"], dtype=np.float64)
        errors = {b: quantize_weights(w, b, spec.weight_encoding, per_channel=False, theta_max=theta_max).error
                  for b in allowed}
        choices.append(LayerChoice(n.name, n.op, allowed, max(allowed), int(w.size), 0, errors))
    total_weights = sum(c.weights for c in choices)
    budget = spec.max_weight_memory_bits
    plan = BitPlan(choices, 0, budget)
    while budget is not None and plan.weight_bits > budget:
        best, best_cost = None, None
        for c in choices:
            narrower = [b for b in c.allowed if b < c.bits]
            if not narrower:
                continue
            b = max(narrower)
            cost = (c.errors[b] - c.errors[c.bits]) * c.weights / total_weights / ((c.bits - b) * c.weights)
            if best_cost is None or cost < best_cost:
                best, best_cost = (c, b), cost
        if best is None:
            raise SnncError(f"--bits auto: the weights need {plan.weight_bits:,} bits at the narrowest allowed widths, "
                            f"more than max_weight_memory_bits = {budget:,}")
        best[0].bits = best[1]
    for c in choices:
        c.row_bits = _row_bits(graph.node(c.layer), c.bits)
    counts: dict[int, int] = {}
    for c in choices:
        counts[c.bits] = counts.get(c.bits, 0) + 1
    plan.default = max(counts, key=lambda b: (counts[b], b))
    return plan


def _row_bits(node: Node, bits: int) -> int:
    """The synapse row at `bits`: in_channels/groups * k * k (conv) or in_features (linear), times bits."""
    return _fan_in(node) * bits
