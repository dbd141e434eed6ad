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
(`snnc compile --bits auto --dry-run`). Without data it does not simulate; it is a fit-first choice.

**With calibration data** (`solve_bits(graph, spec, calib)`, `snnc compile --bits auto --calib ...`)
step 3 uses measured sensitivity instead (`snnc.compiler.sensitivity`): for every layer and every
allowed width b, the accuracy on the calibration inputs (agreement with the float model when they
have no labels) of the float model with only that layer at b, as the quantized ANN has it. The
plan minimises the sum of the layers' measured drops subject to the budget — a multiple-choice
knapsack, solved exactly over the Pareto front of (weight bits, summed drop) — so each layer
keeps its widest allowed width unless the budget needs the bits. A width is never credited with
less drop than a wider one of the same layer (a measured gain from narrowing is noise on a finite
sample), and equal drops go to the smaller weight error, so with a budget that does not bind the
plan is the same as without data. The plan's own quantized ANN (every layer at its chosen width)
is then scored on the same inputs, and both the predicted (sum of single-layer drops) and the
measured numbers are printed with the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.backend.quantize import quantize_weights
from snnc.compiler.check.placement import CORE, place
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.hwspec import HardwareSpec

AUTO_SAMPLES = 1000  # calibration inputs scored per (layer, width) with --bits auto and data


@dataclass
class LayerChoice:
    layer: str
    op: str
    allowed: list[int]
    bits: int
    weights: int
    row_bits: int  # fan-in * bits at the chosen width
    errors: dict[int, float] = field(default_factory=dict)  # width -> relative weight error
    measured: dict[int, float] = field(default_factory=dict)  # width -> score with only this layer at it (data)


@dataclass
class BitPlan:
    layers: list[LayerChoice]
    default: int  # the width most layers take (compile's --bits); the others are --bits-for
    budget: int | None
    metric: str | None = None  # with data: "accuracy" (labelled) or "agreement" (with the float model)
    samples: int = 0  # calibration inputs scored
    float_score: float | None = None  # the float model's score on them
    predicted: float | None = None  # float_score minus the chosen widths' summed single-layer drops
    measured: float | None = None  # the plan's quantized ANN (every layer at its width), scored

    @property
    def weight_bits(self) -> int:
        return sum(c.weights * c.bits for c in self.layers)

    @property
    def layer_bits(self) -> tuple[tuple[str, int], ...]:
        return tuple((c.layer, c.bits) for c in self.layers if c.bits != self.default)

    def flags(self) -> str:
        return " ".join([f"--bits {self.default}"] + [f"--bits-for {n}={b}" for n, b in self.layer_bits])

    def to_text(self, spec: HardwareSpec) -> str:
        head = ["layer", "op", "allowed", "bits", "weights", "row bits", "weight error"]
        if self.metric:
            head.append(f"{self.metric} by width (only this layer)")
        rows = [tuple(head)]
        for c in self.layers:
            row = [c.layer, c.op, ",".join(map(str, c.allowed)), str(c.bits), f"{c.weights:,}",
                   f"{c.row_bits}/{spec.synapse_row_bits}", f"{c.errors.get(c.bits, 0.0):.3f}"]
            if self.metric:
                row.append(" ".join(f"{b}:{100 * v:.1f}" for b, v in sorted(c.measured.items())))
            rows.append(tuple(row))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        budget = "no budget" if self.budget is None else f"budget {self.budget:,}"
        out += [""]
        if self.metric:
            out.append(f"measured on {self.samples} calibration inputs: float model {100 * self.float_score:.1f}% "
                       f"{self.metric}; this plan's quantized ANN predicted {100 * self.predicted:.1f}% "
                       f"(single-layer drops summed), measured {100 * self.measured:.1f}%")
        else:
            out.append("chosen without data (weight-error proxy); with --calib the choice uses measured accuracy")
        out += [f"weights: {self.weight_bits:,} bits ({budget}); compile with: {self.flags()}"]
        return "\n".join(out)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {**asdict(self), "weight_bits": self.weight_bits, "flags": self.flags()}


def _fan_in(node: Node) -> int:
    return int(np.prod(node.params["weight"].shape[1:]))


def allowed_widths(node: Node, spec: HardwareSpec) -> list[int]:
    """The spec's widths at which the layer's synapse row fits. A linear layer whose row fits at
    no width gets every width (its row is an assumption; check warns HW101, as compile accepts it)."""
    w = node.params["weight"]
    if node.op == "conv":
        kh, kw = int(w.shape[2]), int(w.shape[3])
        return [b for b in spec.weight_bits if kh == kw and spec.fits_conv(kh, int(w.shape[1]), b)]
    fit = [b for b in spec.weight_bits if int(w.shape[1]) * b <= spec.synapse_row_bits]
    return fit or list(spec.weight_bits)


def solve_bits(graph: Graph, spec: HardwareSpec, calib=None, *, options=None, samples: int = AUTO_SAMPLES,
               progress=None) -> BitPlan:
    """The per-layer widths of `--bits auto` (see the module doc); SnncError when no width fits a
    layer or the budget cannot be met even at the narrowest widths. With `calib` (a Dataset) the
    budget is spent by measured sensitivity on its first `samples` inputs; `options` are the
    compile options (a CompileOptions or its keyword arguments) that shape the quantized ANN."""
    plan = _fit_first(graph, spec)
    if calib is not None:
        _measured(plan, graph, spec, calib, options, samples, progress)
    return plan


def _fit_first(graph: Graph, spec: HardwareSpec) -> BitPlan:
    placement = place(graph, spec)
    layers = [n for n in graph.nodes if n.op in ("conv", "linear") and placement.get(n.name) == CORE]
    if not layers:
        raise SnncError(f"{graph.name}: no conv or linear layer on the core to choose widths for")
    theta_max = 2 ** spec.threshold_bits - 1
    choices: list[LayerChoice] = []
    for n in layers:
        allowed = allowed_widths(n, spec)
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
    _finish(plan, graph)
    return plan


def _finish(plan: BitPlan, graph: Graph) -> None:
    for c in plan.layers:
        c.row_bits = _row_bits(graph.node(c.layer), c.bits)
    counts: dict[int, int] = {}
    for c in plan.layers:
        counts[c.bits] = counts.get(c.bits, 0) + 1
    plan.default = max(counts, key=lambda b: (counts[b], b))


def knapsack(options: list[list[tuple[int, int, float, float]]], budget: int | None) -> list[int]:
    """Multiple-choice knapsack, exact: per layer a list of (width, cost in bits, drop, tie-break);
    the width per layer minimising (summed drop, summed tie-break) with summed cost <= budget.
    Dynamic programming over the Pareto front of (cost, loss); None budget = unbounded."""
    front: list[tuple[int, tuple[float, float], tuple[int, ...]]] = [(0, (0.0, 0.0), ())]
    for opts in options:
        cand = [(cost + c, (round(loss[0] + d, 12), round(loss[1] + t, 12)), picks + (b,))
                for cost, loss, picks in front for b, c, d, t in opts
                if budget is None or cost + c <= budget]
        cand.sort(key=lambda e: (e[0], e[1]))
        front, best = [], None
        for e in cand:  # keep a state only when it loses less than every cheaper one
            if best is None or e[1] < best:
                front.append(e)
                best = e[1]
    if not front:
        return []
    return list(min(front, key=lambda e: (e[1], -e[0]))[2])


def _measured(plan: BitPlan, graph: Graph, spec: HardwareSpec, calib, options, samples: int, progress) -> None:
    """Re-choose the plan's widths by measured single-layer sensitivity on `calib` (module doc)."""
    from dataclasses import replace

    from snnc.compiler.backend.options import CompileOptions
    from snnc.compiler.sensitivity import prepare_lowering, score_variants, width_variants

    widest = max(b for c in plan.layers for b in c.allowed)
    if isinstance(options, CompileOptions):
        opts = replace(options, bits=widest, layer_bits=())
    else:
        opts = CompileOptions(bits=widest, **dict(options or {}))
    state = prepare_lowering(graph, spec, opts, calib, progress)
    variants, _ = width_variants(state, {c.layer: c.allowed for c in plan.layers})
    n = min(samples, len(calib), opts.calib_samples)
    base, tallies, labelled = score_variants(state.graph, calib, n, variants, progress=progress)
    metric = "accuracy" if labelled else "agreement"
    top = base.score(labelled).value(metric)
    for c in plan.layers:
        c.measured = {b: tallies[(c.layer, b)].score(labelled).value(metric) for b in c.allowed}
    table = []
    for c in plan.layers:
        drops, floor = {}, 0.0
        for b in sorted(c.allowed, reverse=True):  # narrowing never credited with a gain
            floor = max(floor, top - c.measured[b])
            drops[b] = floor
        table.append([(b, b * c.weights, drops[b], c.errors[b] * c.weights) for b in c.allowed])
    picks = knapsack(table, plan.budget)
    if not picks:
        raise SnncError(f"--bits auto: the weights need more than max_weight_memory_bits = {plan.budget:,} "
                        "at the narrowest allowed widths")
    for c, b in zip(plan.layers, picks):
        c.bits = b
    _finish(plan, graph)
    plan.metric, plan.samples, plan.float_score = metric, base.samples, top
    plan.predicted = top - sum(dict((b, d) for b, _, d, _ in t)[c.bits] for c, t in zip(plan.layers, table))
    joint = {}
    for c in plan.layers:
        joint.update(variants[(c.layer, c.bits)])
    _, tally, _ = score_variants(state.graph, calib, n, {"plan": joint}, progress=progress)
    plan.measured = tally["plan"].score(labelled).value(metric)


def _row_bits(node: Node, bits: int) -> int:
    """The synapse row at `bits`: in_channels/groups * k * k (conv) or in_features (linear), times bits."""
    return _fan_in(node) * bits
