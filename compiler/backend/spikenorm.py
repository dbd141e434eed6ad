"""Spike-Norm threshold balancing (Sengupta et al. 2019), layer by layer.

For each spiking conv/linear layer in order, the layers before it are converted with the scales
found so far, the SNN is simulated on calibration inputs for T steps, and the layer's threshold is
set to the maximum input current it receives at any step: v_th = max_t (W s_t + b), with s_t the
spikes of its input layer (or the integer input current). In λ terms, λ_out = λ_in · v_th, where
λ_in is the float value one input spike (or input unit) stands for.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.data import Dataset
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.interpret import KERNELS
from snnc.compiler.lower import CompileOptions, artefact_names, lower
from snnc.compiler.stages import plan_stages
from snnc import runtime
from snnc.runtime.encode import rate_spikes

SAMPLES = 64


def spikenorm_scales(graph: Graph, spec, opts: CompileOptions, calib: Dataset, input_range, stats) -> dict[str, float]:
    lo, hi, s_in = input_range
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    x = calib.take(min(SAMPLES, len(calib)), shape)
    x_int = np.clip(np.rint(x / s_in), lo, hi)
    stages = plan_stages(graph)
    names = artefact_names(stages)
    unit = s_in * (hi if opts.input_encoding == "rate" else 1)
    lam = {graph.inputs[0]: unit}
    layer_of = {graph.inputs[0]: "input"}
    scales: dict[str, float] = {}
    for st in stages:
        if st.kind in ("conv", "linear"):
            src = layer_of[st.inputs[0]]
            if src == "input":
                if opts.input_encoding == "current":
                    s = x_int[:, None]  # (B, 1, ...) : the same current every step
                else:
                    spec_in = runtime.model.InputSpec(shape=shape, encoding="rate", lo=lo, hi=hi, scale=s_in)
                    s = np.moveaxis(rate_spikes(spec_in, x_int.astype(np.int64), opts.timesteps), 0, 1)
            else:
                art = lower(graph, spec, opts, stats, input_range, scales).artefact
                sim = runtime.simulate(art, x, opts.timesteps, trace=True)
                s = sim.spikes[src]
            flat = s.reshape((-1,) + s.shape[2:]).astype(np.float64)
            node = st.node
            currents = KERNELS[node.op](node, [flat])
            v_th = float(currents.max())
            scales[st.output] = lam[st.inputs[0]] * v_th if v_th > 0 else lam[st.inputs[0]]
            lam[st.output] = scales[st.output]
        elif st.kind == "add":
            lam[st.output] = stats[st.output].maximum if stats and st.output in stats else 1.0
            scales[st.output] = lam[st.output]
        else:
            lam[st.output] = lam[st.inputs[0]] if st.inputs else 1.0
        layer_of[st.output] = names[st.name]
    return scales

