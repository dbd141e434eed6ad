"""Bias correction of the conversion error, layer by layer, in the integer domain.

An IF neuron driven for T steps fires at about clip(I/θ, 0, 1) per step, but not exactly: it
starts at V_0, spikes arrive late from the layers before it, and rates resolve only 1/T. So at
small T a layer's mean firing rate departs from what the quantized ANN says it should be,
clip(a/λ, 0, 1), and the errors add up with depth. Following Li et al. (ICML 2021, "A free lunch
from ANN"), for each spiking conv/linear layer in order the SNN is simulated at the target T on
calibration inputs, with the corrections found so far, and the layer's integer bias moves by
rint(θ_c · e_c), where e_c is channel c's mean rate shortfall (expected − observed). Only the
bias register changes (an integer the spec already has); weights and thresholds do not.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from snnc import runtime
from snnc.compiler.backend.lower import quantize_input
from snnc.compiler.ir.interpret import run as run_float
from snnc.runtime.encode import to_external

SAMPLES = 256
ROUNDS = 2  # corrections per layer: the second removes what the first over- or under-shot


def correct_biases(art, plan, qann, scales: dict[str, float], input_range, x: np.ndarray, timesteps: int,
                   bias_bits: int) -> tuple[object, dict[str, float]]:
    """(the artefact with corrected biases, per layer the mean |rate error| before its correction)."""
    env = run_float(qann, quantize_input(x, *input_range), all_values=True)
    bmax = (1 << (bias_bits - 1)) - 1
    before: dict[str, float] = {}
    xe = to_external(art.input, x)
    for st in plan.spiking:
        if st.kind not in ("conv", "linear"):
            continue
        name = plan.names[st.name]
        expected = np.clip(env[st.output] / scales[st.output], 0.0, 1.0)
        for r in range(ROUNDS):
            layer = art.layer(name)
            rate = runtime.simulate(art, xe, timesteps).counts[name].astype(np.float64) / timesteps
            axes = (0,) + tuple(range(2, rate.ndim))
            err = (expected - rate).mean(axis=axes)  # per output channel
            if r == 0:
                before[name] = float(np.abs(expected - rate).mean())
            theta = np.broadcast_to(np.asarray(layer.neuron.threshold, dtype=np.float64), err.shape)
            bias = np.asarray(layer.neuron.bias, dtype=np.int64) + np.rint(theta * err).astype(np.int64)
            bias = np.clip(bias, -bmax - 1, bmax)
            new = replace(layer, neuron=replace(layer.neuron, bias=tuple(int(b) for b in bias)))
            art = replace(art, layers=tuple(new if l.name == name else l for l in art.layers))
    return art, before
