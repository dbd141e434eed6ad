"""Spike-Norm threshold balancing (Sengupta et al. 2019), layer by layer.

For each spiking conv/linear layer in order, the layers before it are converted with the scales
found so far, the SNN is simulated on calibration inputs for T steps, and the layer's threshold is
set to the maximum input current it receives at any step: v_th = max_t (W s_t + b), with s_t the
spikes of its input layer (or the integer input current). In λ terms, λ_out = λ_in · v_th, where
λ_in is the float value one input spike (or input unit) stands for. A residual add takes the
largest calibration activation.

Memory: one simulation of `SAMPLES` inputs with spike traces per layer.
"""
from __future__ import annotations

import numpy as np

from snnc import runtime
from snnc.compiler.backend.plan import Stage
from snnc.compiler.backend.scales import input_unit, walk
from snnc.compiler.ir.interpret import KERNELS
from snnc.runtime.encode import rate_spikes

SAMPLES = 64


def spikenorm_scales(ni) -> dict[str, float]:
    from snnc.compiler.backend.lower import lower
    from snnc.compiler.backend.normalize import NORMALIZERS

    graph, opts = ni.plan.graph, ni.opts
    lo, hi, s_in = ni.input_range
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    x = ni.calib.take(min(SAMPLES, len(ni.calib)), shape)
    x_int = np.clip(np.rint(x / s_in), lo, hi)
    fallback = NORMALIZERS["percentile"](ni)  # for the layers not balanced yet (they do not affect earlier spikes)
    scales: dict[str, float] = {}
    layer_of = {graph.inputs[0]: "input"}
    layer_of.update({st.output: ni.plan.names[st.name] for st in ni.plan})

    def out(st: Stage, lam_in: list[float]) -> float:
        if st.kind == "add":
            lam = ni.stats[st.output].maximum if ni.stats and st.output in ni.stats else 1.0
        else:
            src = layer_of[st.inputs[0]]
            if src == "input":
                if opts.input_encoding == "current":
                    s = x_int[:, None]  # (B, 1, ...) : the same current every step
                else:
                    spec_in = runtime.model.InputSpec(shape=shape, encoding="rate", lo=lo, hi=hi, scale=s_in)
                    s = np.moveaxis(rate_spikes(spec_in, x_int.astype(np.int64), opts.timesteps), 0, 1)
            else:
                art = lower(ni.plan, ni.spec, opts, {**fallback, **scales}, ni.input_range).artefact
                s = runtime.simulate(art, x, opts.timesteps, trace=True).spikes[src]
            flat = s.reshape((-1,) + s.shape[2:]).astype(np.float64)
            v_th = float(KERNELS[st.node.op](st.node, [flat]).max())
            lam = lam_in[0] * v_th if v_th > 0 else lam_in[0]
        scales[st.output] = lam
        return lam

    walk(ni.plan, input_unit(opts.input_encoding, hi, s_in), out)
    return scales
