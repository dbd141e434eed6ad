"""The one counting of the chip's resource budgets, shared by `snnc check` (HW013, HW014 over an IR
graph) and `snnc inspect` (over an artefact's layers).

What is counted (docs/hwspec.md, docs/inspect.md):
- neurons: a core layer with IF neurons has one per output element, prod(output shape without
  the batch axis); layers without neurons (flatten, concat, a synaptic conv) have none;
- weight memory: a core conv/linear layer stores its weights packed, count * bits bits
  (`weight_memory_bits`; the blob is ceil of that / 8 bytes);
- synapse row: one neuron of a conv holds C/groups * k * k weights of `bits` bits, one of a
  linear layer its in_features (`row_bits`), against the spec's `synapse_row_bits`.

`budget_violations` compares the totals with the spec's optional `max_neurons` and
`max_weight_memory_bits` and words the HW013 / HW014 findings; a spec without a budget sets no
limit.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from snnc.compiler.check.violations import Violation
from snnc.hwspec import HardwareSpec

Counted = Sequence[tuple[str, int]]  # (layer, amount) in layer order


def neuron_count(shape: Iterable[int | None] | None) -> int:
    """IF neurons of a layer with this per-sample output shape (0 if a size is unknown)."""
    dims = tuple(shape) if shape is not None else ()
    return int(math.prod(dims)) if dims and None not in dims else 0


def weight_memory_bits(weight_count: int, bits: int) -> int:
    """Packed synaptic weight bits of a layer with `weight_count` weights of `bits` bits."""
    return int(weight_count) * int(bits)


def row_bits(fan_in: int, bits: int) -> int:
    """Bits of one neuron's synapse row: its fan-in (C/groups * k * k, or in_features) * bits."""
    return int(fan_in) * int(bits)


def utilization(used: int, budget: int | None) -> float | None:
    """used / budget, or None when the spec sets no budget."""
    return None if not budget else used / budget


def budget_violations(spec: HardwareSpec, neurons: Counted, weights: Counted) -> list[Violation]:
    """HW013 / HW014 for the given per-layer neuron counts and weight bits (core layers only)."""
    out = []
    total = sum(k for _, k in neurons)
    if spec.max_neurons is not None and total > spec.max_neurons:
        big = sorted(neurons, key=lambda p: -p[1])[:3]
        out.append(Violation("HW013", "-", "-", f"the core layers need {total:,} neurons > {spec.max_neurons:,}",
                             total, spec.max_neurons, "sum of core layers' output sizes <= max_neurons",
                             "the largest layers are " + ", ".join(f"{n} ({k:,})" for n, k in big)
                             + ": shrink their channels or resolution (e.g. pool earlier), or run the last layers on the host"))
    total = sum(b for _, b in weights)
    if spec.max_weight_memory_bits is not None and total > spec.max_weight_memory_bits:
        big = sorted(weights, key=lambda p: -p[1])[:3]
        out.append(Violation("HW014", "-", "-",
                             f"the core layers' weights need {total:,} bits > {spec.max_weight_memory_bits:,}",
                             total, spec.max_weight_memory_bits, "sum of weights * bits <= max_weight_memory_bits",
                             "the largest are " + ", ".join(f"{n} ({b:,} bits)" for n, b in big)
                             + ": give them fewer bits (--bits-for LAYER=N) or fewer weights"))
    return out
