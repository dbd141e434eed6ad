"""An independent reference simulator, written as plainly as possible from docs/semantics.md.

Python integers, explicit loops over samples, timesteps, layers and neurons. It reads the
artefact's dataclasses and nothing else from snnc.runtime. Tensors are flat Python lists in
C order of their shape (C, H, W) or (F,). numpy is used only to hand arrays back for comparison.
"""
from __future__ import annotations

import math

import numpy as np


def _prod(shape) -> int:
    return math.prod(shape)


def quantize_input(spec, value) -> int:
    """x_int for one element: floats round half to even (Python round), then clip; ints as is."""
    if isinstance(value, float):
        q = round(value / spec.scale)
        return min(max(q, spec.lo), spec.hi)
    return int(value)


def conv_current(layer, x: list, in_shape) -> list:
    c_in, h, w = in_shape
    o_n, cg, kh, kw = layer.weight.shape
    sh, sw = layer.stride
    top, left, _, _ = layer.padding
    _, ho, wo = layer.output_shape
    og = o_n // layer.groups
    wt = layer.weight.tolist()
    out = []
    for o in range(o_n):
        g = o // og
        for y in range(ho):
            for xx in range(wo):
                total = 0
                for c in range(cg):
                    for i in range(kh):
                        for j in range(kw):
                            yy, xi = y * sh + i - top, xx * sw + j - left
                            if 0 <= yy < h and 0 <= xi < w:
                                total += wt[o][c][i][j] * x[((g * cg + c) * h + yy) * w + xi]
                out.append(total)
    return out


def linear_current(layer, x: list, in_shape) -> list:
    wt = layer.weight.tolist()
    return [sum(wt[o][i] * x[i] for i in range(len(x))) for o in range(len(wt))]


def avgpool_current(layer, x: list, in_shape) -> list:
    c_n, h, w = in_shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    _, ho, wo = layer.output_shape
    out = []
    for c in range(c_n):
        for y in range(ho):
            for xx in range(wo):
                out.append(sum(x[(c * h + y * sh + i) * w + xx * sw + j] for i in range(kh) for j in range(kw)))
    return out


def add_current(layer, xs: list) -> list:
    return [sum(m * x[k] for m, x in zip(layer.multipliers, xs)) for k in range(len(xs[0]))]


def neuron_step(v: list, current: list, layer, target) -> list:
    """One timestep of every neuron of the layer; updates v in place, returns the spikes."""
    n = layer.neuron
    shape = layer.output_shape
    per_channel = _prod(shape[1:])
    m = target.membrane_bits
    lo, hi = -(2 ** (m - 1)), 2 ** (m - 1) - 1
    spikes = []
    for k in range(len(v)):
        ch = k // per_channel
        theta = n.threshold[ch] if len(n.threshold) > 1 else n.threshold[0]
        total = v[k] + current[k] + n.bias[ch]
        if target.overflow == "saturate":
            total = min(max(total, lo), hi)
        else:
            total = (total + 2 ** (m - 1)) % (2 ** m) - 2 ** (m - 1)
        fired = total >= theta if target.fire == "ge" else total > theta
        if fired:
            total = 0 if n.reset == "zero" else total - theta
        v[k] = total
        spikes.append(1 if fired else 0)
    return spikes


def initial_membrane(layer) -> list:
    n = layer.neuron
    shape = layer.output_shape
    per_channel = _prod(shape[1:])
    out = []
    for k in range(_prod(shape)):
        ch = k // per_channel
        theta = n.threshold[ch] if len(n.threshold) > 1 else n.threshold[0]
        out.append(theta // 2 if n.v_init == "half" else 0)
    return out


def reference_simulate(artefact, x, timesteps: int) -> dict:
    """Returns dict(spikes, membranes, counts, logits, predictions) as numpy arrays (B, T, *shape)."""
    spec = artefact.input
    shapes = {"input": spec.shape}
    for layer in artefact.layers:
        shapes[layer.name] = layer.output_shape
    core = [layer for layer in artefact.layers if layer.kind != "host_linear"]
    host = artefact.layers[-1] if artefact.layers[-1].kind == "host_linear" else None
    out_name = host.inputs[0] if host is not None else artefact.layers[-1].name
    x = np.asarray(x)
    is_float = x.dtype.kind == "f"
    batch = x.shape[0]
    spikes = {layer.name: [] for layer in core}
    membranes = {layer.name: [] for layer in core if layer.kind in ("conv", "linear", "avgpool", "add")}
    logits, predictions = [], []
    for b in range(batch):
        flat = x[b].reshape(-1).tolist()
        x_int = [quantize_input(spec, float(v) if is_float else int(v)) for v in flat]
        acc = [spec.hi // 2 if spec.rate_init == "half" else 0 for _ in x_int]
        v_state = {name: initial_membrane(artefact.layer(name)) for name in membranes}
        s_trace = {layer.name: [] for layer in core}
        v_trace = {name: [] for name in membranes}
        for t in range(timesteps):
            values = {}
            if spec.encoding == "current":
                values["input"] = list(x_int)
            else:
                s_in = []
                for k in range(len(acc)):
                    acc[k] += x_int[k]
                    if acc[k] >= spec.hi:
                        acc[k] -= spec.hi
                        s_in.append(1)
                    else:
                        s_in.append(0)
                values["input"] = s_in
            for layer in core:
                ins = [values[i] for i in layer.inputs]
                in_shape = shapes[layer.inputs[0]]
                if layer.kind in ("concat", "flatten"):
                    out = [v for part in ins for v in part]  # channel-axis concat of C-order lists
                else:
                    if layer.kind == "conv":
                        current = conv_current(layer, ins[0], in_shape)
                    elif layer.kind == "linear":
                        current = linear_current(layer, ins[0], in_shape)
                    elif layer.kind == "avgpool":
                        current = avgpool_current(layer, ins[0], in_shape)
                    else:
                        current = add_current(layer, ins)
                    out = neuron_step(v_state[layer.name], current, layer, artefact.target)
                    v_trace[layer.name].append(list(v_state[layer.name]))
                values[layer.name] = out
                s_trace[layer.name].append(out)
        for layer in core:
            spikes[layer.name].append(s_trace[layer.name])
        for name in membranes:
            membranes[name].append(v_trace[name])
        if host is not None:
            counts = [sum(s_trace[out_name][t][k] for t in range(timesteps)) for k in range(len(s_trace[out_name][0]))]
            w = host.weight.tolist()
            row = []
            for c in range(len(w)):
                z = sum(float(counts[k]) * (host.input_scale / timesteps) * float(w[c][k]) for k in range(len(counts)))
                row.append(z + float(host.bias[c]))
            logits.append(row)
            predictions.append(row.index(max(row)))

    def arr(name, data):
        return np.array(data, dtype=np.int64).reshape((batch, timesteps) + tuple(shapes[name]))

    spikes_np = {k: arr(k, v) for k, v in spikes.items()}
    return {
        "spikes": spikes_np,
        "membranes": {k: arr(k, v) for k, v in membranes.items()},
        "counts": {k: v.sum(axis=1) for k, v in spikes_np.items()},
        "output_layer": out_name,
        "logits": np.array(logits) if host is not None else None,
        "predictions": np.array(predictions, dtype=np.int64) if host is not None else None,
    }
