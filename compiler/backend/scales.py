"""The one scale (λ) walk of the back end.

λ of a value is the float quantity one unit of it stands for: one input integer step (times hi
for rate coding, where a spike every step means the largest input), one spike per step of a
spiking layer's output. Walking the plan in order, a spiking stage (conv, linear, add) gets its
λ_out from `out(stage, λ_in)`; pools, flatten and concat pass their input's λ on; the host
layer's λ is 1 (it computes floats). A synapse stage (a conv fused into a residual add) is
scaled by its add's λ_out; `out` is asked for its λ too (the float value its current can reach,
which a data-free normalizer sums into the add's), but no emitter divides by it.
"""
from __future__ import annotations

from typing import Callable

from snnc.compiler.backend.plan import SPIKING, Stage, StagePlan

OutScale = Callable[[Stage, list[float]], float]


def input_unit(encoding: str, hi: int, s_in: float, *, population: int = 1, timesteps: int = 1) -> float:
    """λ of the input: the float value of one input unit per step (docs/semantics.md section 5).

    current: one integer step, s_in. rate, poisson: a spike every step is the largest input,
    hi·s_in (Poisson's expected rate is x_int/hi). population: the P neurons of an element fire
    P·x_int/hi spikes per step together, so one spike stands for hi·s_in/P. ttfs: an element fires
    once in T steps whatever its value (the value is its timing, which integrate-and-fire sums
    do not see), so its one spike stands for the largest input held for all T steps: T·hi·s_in.
    """
    if encoding in ("rate", "poisson"):
        return s_in * hi
    if encoding == "population":
        return s_in * hi / population
    if encoding == "ttfs":
        return s_in * hi * timesteps
    return s_in


def walk(plan: StagePlan, lam_input: float, out: OutScale) -> dict[str, float]:
    """λ of every stage output (and of the graph input), `out` choosing each spiking stage's."""
    lam: dict[str, float] = {plan.graph.inputs[0]: lam_input}
    for st in plan:
        lam_in = [lam[v] for v in st.inputs]
        if st.kind in SPIKING or st.kind == "synapse":
            lam[st.output] = out(st, lam_in)
        elif st.kind == "host_linear":
            lam[st.output] = 1.0
        else:
            lam[st.output] = lam_in[0]
    return lam


def spiking_outputs(plan: StagePlan) -> list[str]:
    """IR values whose statistics normalization needs (outputs of spiking conv/linear/add stages)."""
    return [s.output for s in plan.spiking]
