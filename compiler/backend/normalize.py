"""Normalizers: how each spiking stage's output scale λ_out is chosen (DESIGN §4).

A normalizer maps the build's state to {stage output: λ_out} for every spiking stage; `lower`
then divides weights by it. Registered by the name `--norm` takes, plus `data-free` (used when
there is no calibration data):

- `max`: the largest calibration activation (Diehl 2015);
- `percentile`: the `--percentile`-th percentile of calibration activations (Rueckauer 2017);
- `spikenorm`: the largest input current each layer receives in simulation (Sengupta 2019);
- `data-free`: the largest value each layer can output for inputs up to the input's maximum
  (bounds from the weights: never clips, fires rarely).

For max and percentile, a Clip(0, c) after the layer caps λ_out at c; a scale of 0 becomes 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from snnc.compiler.backend.calibrate import ActivationStats
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import Stage, StagePlan
from snnc.compiler.backend.scales import walk
from snnc.compiler.data import Dataset
from snnc.compiler.ir.ops import attr
from snnc.compiler.registry import Registry
from snnc.hwspec import HardwareSpec


@dataclass
class NormInputs:
    plan: StagePlan
    spec: HardwareSpec
    opts: CompileOptions
    stats: dict[str, ActivationStats] | None
    input_range: tuple[int, int, float]
    calib: Dataset | None


Normalizer = Callable[[NormInputs], dict[str, float]]
NORMALIZERS = Registry("normalizer")


def clip_max(st: Stage) -> float | None:
    return float(attr(st.act, "max")) if st.act is not None and st.act.op == "clip" else None


def stat_scale(stats: ActivationStats | None, act_max: float | None, pick) -> float:
    """λ_out from a layer's statistics (`pick`: max or a percentile), capped by a Clip's bound; 0 -> 1."""
    lam = 1.0 if stats is None else pick(stats)
    if act_max is not None:
        lam = min(lam, act_max)
    return lam if lam > 0 else 1.0


def _from_stats(pick) -> Normalizer:
    def normalize(ni: NormInputs) -> dict[str, float]:
        return {st.output: stat_scale(ni.stats.get(st.output) if ni.stats else None, clip_max(st), pick(ni.opts))
                for st in ni.plan.spiking}
    return normalize


NORMALIZERS.register("max")(_from_stats(lambda opts: lambda s: s.maximum))
NORMALIZERS.register("percentile")(_from_stats(lambda opts: lambda s: s.percentile(opts.percentile)))


@NORMALIZERS.register("data-free")
def data_free(ni: NormInputs) -> dict[str, float]:
    """Worst-case λ_out from the weights, for inputs up to the largest input value."""
    lo, hi, s_in = ni.input_range

    def out(st: Stage, lam_in: list[float]) -> float:
        if st.kind == "add":
            return sum(lam_in)
        w = np.abs(st.node.params["weight"]).reshape(st.node.params["weight"].shape[0], -1)
        b = np.maximum(st.node.params.get("bias", np.zeros(w.shape[0])), 0)
        v = float((w.sum(axis=1) * lam_in[0] + b).max())
        return v if v > 0 else 1.0

    lam = walk(ni.plan, hi * s_in, out)
    return {st.output: lam[st.output] for st in ni.plan.spiking}


@NORMALIZERS.register("spikenorm")
def spikenorm(ni: NormInputs) -> dict[str, float]:
    from snnc.compiler.backend.spikenorm import spikenorm_scales

    return spikenorm_scales(ni)


def normalize(ni: NormInputs) -> tuple[str, dict[str, float]]:
    """(the normalizer used, its scales): `--norm`, or data-free without calibration data; the
    branches of every concat on one scale."""
    name = ni.opts.norm if ni.calib is not None else "data-free"
    return name, unify_concat(ni.plan, NORMALIZERS.lookup(name)(ni))


def unify_concat(plan: StagePlan, scales: dict[str, float]) -> dict[str, float]:
    """A concat's inputs must carry one λ (the artefact concatenates spikes as they are): the spiking
    stages that set its branches' λ all take the largest of them (the graph input's λ, if a branch
    is the input itself, since that one is fixed)."""
    roots: dict[str, set] = {plan.graph.inputs[0]: {None}}
    for st in plan:
        if st.kind in ("avgpool", "maxpool", "flatten", "concat"):
            roots[st.output] = set().union(*(roots[v] for v in st.inputs))
        else:
            roots[st.output] = {st.output}
    out = dict(scales)
    for _ in range(len(plan)):
        changed = False
        for st in plan:
            group = roots[st.output] if st.kind == "concat" else set()
            if len(group) < 2 or None in group:
                continue  # a branch is the input (its λ is fixed): lower refuses unless they agree
            lam = max(out[r] for r in group)
            for r in group:
                changed |= out[r] != lam
                out[r] = lam
        if not changed:
            break
    return out
