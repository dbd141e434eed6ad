"""Spike-Norm threshold balancing (Sengupta et al. 2019), layer by layer.

For each spiking conv/linear layer in order, the layers before it are converted with the scales
found so far, the SNN is simulated on calibration inputs for T steps, and the layer's threshold is
set to the maximum input current it receives at any step: v_th = max_t (W s_t + b), with s_t the
spikes of its input layer (or the integer input current). In λ terms, λ_out = λ_in · v_th, where
λ_in is the float value one input spike (or input unit) stands for. A residual add takes the
largest calibration activation.

Memory is bounded (issue 18): for each layer only the artefact's prefix up to the layer that feeds
it is simulated (the layers after it cannot change its input), in chunks of samples sized so that
the chunk's spike and membrane traces and the float currents stay within `MEMORY_BUDGET`; only a
running maximum is kept between chunks. The maximum does not depend on how the samples are
chunked, so the scales are exactly those of one simulation of all `SAMPLES` inputs.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from snnc import runtime
from snnc.compiler.backend.plan import Stage
from snnc.compiler.backend.scales import input_unit, walk
from snnc.compiler.ir.interpret import KERNELS
from snnc.runtime.encode import rate_spikes, to_external

SAMPLES = 64
MEMORY_BUDGET = 64 << 20  # bytes of traces and currents per chunk (a chunk has at least one sample)
TRACE_BYTES = 1 + 8  # per neuron and step with trace=True: a uint8 spike and an int64 membrane
CURRENT_BYTES = 8 * 2  # per current value: the float64 kernel output and its input


def _prefix(art, src: str):
    """The artefact cut after layer `src` (no host layer): all that `src`'s spikes depend on."""
    names = [layer.name for layer in art.layers]
    return dataclasses.replace(art, layers=art.layers[:names.index(src) + 1], golden=None)


def _chunk(per_sample_bytes: int) -> int:
    return max(1, int(MEMORY_BUDGET // max(1, per_sample_bytes)))


def spikenorm_scales(ni) -> dict[str, float]:
    from snnc.compiler.backend.lower import lower
    from snnc.compiler.backend.normalize import NORMALIZERS

    graph, opts = ni.plan.graph, ni.opts
    T = opts.timesteps
    lo, hi, s_in = ni.input_range
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    x = ni.calib.take(min(SAMPLES, len(ni.calib)), shape)
    x_int = np.clip(np.rint(x / s_in), lo, hi)
    fallback = NORMALIZERS["percentile"](ni)  # for the layers not balanced yet (they do not affect earlier spikes)
    scales: dict[str, float] = {}
    layer_of = {graph.inputs[0]: "input"}
    layer_of.update({st.output: ni.plan.names[st.name] for st in ni.plan})

    def input_spikes(st: Stage, i: int, j: int) -> np.ndarray:
        """(b, steps, ...) what layer `st` receives from the input for samples i:j."""
        if opts.input_encoding == "current":
            return x_int[i:j, None]  # (b, 1, ...): the same current every step
        spec_in = runtime.model.InputSpec(shape=shape, encoding="rate", lo=lo, hi=hi, scale=s_in)
        return np.moveaxis(rate_spikes(spec_in, x_int[i:j].astype(np.int64), T), 0, 1)

    def max_current(st: Stage, spikes: np.ndarray) -> float:
        flat = spikes.reshape((-1,) + spikes.shape[2:]).astype(np.float64)
        return float(KERNELS[st.node.op](st.node, [flat]).max())

    def out(st: Stage, lam_in: list[float]) -> float:
        if st.kind == "synapse":  # scaled by its add's λ_out (scales.walk): nothing to balance
            return lam_in[0]
        if st.kind == "add":
            lam = ni.stats[st.output].maximum if ni.stats and st.output in ni.stats else 1.0
        else:
            src = layer_of[st.inputs[0]]
            n_in = int(np.prod(graph.shape(st.inputs[0])[1:]))
            n_out = int(np.prod(graph.shape(st.output)[1:]))
            steps = 1 if src == "input" and opts.input_encoding == "current" else T
            per_sample = steps * CURRENT_BYTES * (n_in + n_out)
            art = None
            if src != "input":
                art = _prefix(lower(ni.plan, ni.spec, opts, {**fallback, **scales}, ni.input_range).artefact, src)
                neurons = sum(int(np.prod(layer.output_shape)) for layer in art.layers)
                per_sample += T * TRACE_BYTES * neurons
            b = _chunk(per_sample)
            v_th = -np.inf
            for i in range(0, x.shape[0], b):
                j = min(i + b, x.shape[0])
                if art is None:
                    s = input_spikes(st, i, j)
                else:
                    s = runtime.simulate(art, to_external(art.input, x[i:j]), T, trace=True,
                                         batch_size=j - i).spikes[src]
                v_th = max(v_th, max_current(st, s))
                del s
            lam = lam_in[0] * v_th if v_th > 0 else lam_in[0]
        scales[st.output] = lam
        return lam

    walk(ni.plan, input_unit(opts.input_encoding, hi, s_in), out)
    return scales
