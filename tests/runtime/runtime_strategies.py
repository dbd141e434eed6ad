"""Hypothesis strategies: random small artefacts (conv/linear/avgpool/add/concat/flatten/host) and inputs."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from snnc.runtime import (
    Add, Artefact, AvgPool, MaxPool, Concat, Conv, Flatten, HostLinear, InputSpec, Linear, Neuron, Target,
)


@st.composite
def targets(draw):
    m = draw(st.integers(3, 14))  # narrow membranes force saturation and wrap
    return Target(
        membrane_bits=m,
        overflow=draw(st.sampled_from(["saturate", "wrap"])),
        fire=draw(st.sampled_from(["ge", "gt"])),
        threshold_bits=draw(st.integers(1, m + 1)),
        bias_bits=draw(st.integers(1, m)),
        weight_encoding=draw(st.sampled_from(["symmetric", "full"])),
        input_bits=draw(st.integers(1, 8)),
    )


@st.composite
def inputs_spec(draw, target):
    ib = target.input_bits
    encoding = draw(st.sampled_from(["current", "rate", "poisson", "population", "ttfs"]))
    signed = encoding == "current" and draw(st.booleans())
    if signed:
        lo_min, hi_max = -(1 << (ib - 1)), (1 << (ib - 1)) - 1
        lo = draw(st.integers(lo_min, -1))
        hi = draw(st.integers(max(lo, 0), hi_max)) if hi_max >= 0 else lo
    else:
        lo = 0
        hi = draw(st.integers(1, (1 << ib) - 1))
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 3)), draw(st.integers(2, 6)), draw(st.integers(2, 6)))
    else:
        shape = (draw(st.integers(1, 8)),)
    extra = {}  # each encoding's own field (docs/semantics.md section 5)
    if encoding == "poisson":
        extra["seed"] = draw(st.one_of(st.integers(0, 3), st.integers(0, 2**63 - 1)))
    elif encoding == "population":
        extra["population"] = draw(st.integers(1, 3))
    elif encoding == "ttfs":
        extra["window"] = draw(st.integers(1, 8))
    return InputSpec(shape=shape, encoding=encoding, lo=lo, hi=hi,
                     scale=draw(st.sampled_from([1.0, 0.5, 0.1, 1 / 3])),
                     rate_init=draw(st.sampled_from(["zero", "half"])), **extra)


def _weights(draw, shape, bits, encoding):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if bits == 1:
        return rng.choice([-1, 1], size=shape)
    hi = (1 << (bits - 1)) - 1
    lo = -hi if encoding == "symmetric" else -hi - 1
    return rng.integers(lo, hi + 1, size=shape)


@st.composite
def neurons(draw, target, channels):
    m = target.membrane_bits
    tmax = (1 << target.threshold_bits) - 1
    v_init = draw(st.sampled_from(["zero", "half"]))
    if v_init == "half":
        tmax = min(tmax, 2 * ((1 << (m - 1)) - 1) + 1)
    tmax = min(tmax, 60)  # keep firing likely; still exceeds narrow membranes
    n_th = draw(st.sampled_from([1, channels]))
    bmax = (1 << (target.bias_bits - 1)) - 1
    return Neuron(
        threshold=draw(st.lists(st.integers(1, tmax), min_size=n_th, max_size=n_th)),
        bias=draw(st.lists(st.integers(-bmax - 1, bmax), min_size=channels, max_size=channels)),
        reset=draw(st.sampled_from(["zero", "subtract"])),
        v_init=v_init,
    )


@st.composite
def _multiplier(draw, channels):
    """An add multiplier: one integer, or one per output channel."""
    if draw(st.booleans()):
        return draw(st.integers(-3, 3))
    return tuple(draw(st.lists(st.integers(-3, 3), min_size=channels, max_size=channels)))


@st.composite
def artefacts(draw, with_host=None):
    target = draw(targets())
    spec = draw(inputs_spec(target))
    enc = target.weight_encoding
    tensors = {"input": (spec.encoded_shape, spec.spiking)}  # name -> (shape, carries spikes)
    layers = []
    synaptic: set[str] = set()
    cur = "input"
    for idx in range(draw(st.integers(1, 4))):
        shape, _ = tensors[cur]
        name = f"l{idx}"
        if len(shape) == 3:
            kind = draw(st.sampled_from(["conv", "conv", "avgpool", "maxpool", "add", "residual", "concat", "flatten"]))
        else:
            kind = draw(st.sampled_from(["linear", "linear", "add", "concat"]))
        same = [n for n, (s, sp) in tensors.items() if s == shape and n not in synaptic]  # only adds read a synaptic conv
        if kind == "conv":
            c, h, w = shape
            dil = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (2, 1), (1, 3)]))  # input_dilation
            h, w = (h - 1) * dil[0] + 1, (w - 1) * dil[1] + 1  # the windows read the dilated input
            kh, kw = draw(st.integers(1, min(3, h + 1))), draw(st.integers(1, min(3, w + 1)))
            pad = [draw(st.integers(0, 1)) for _ in range(4)]
            kh, kw = min(kh, h + pad[0] + pad[2]), min(kw, w + pad[1] + pad[3])
            stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
            o = groups * draw(st.integers(1, 3))
            ho = (h + pad[0] + pad[2] - kh) // stride[0] + 1
            wo = (w + pad[1] + pad[3] - kw) // stride[1] + 1
            bits = draw(st.integers(1, 4))
            layer = Conv(name, [cur], (o, ho, wo), weight=_weights(draw, (o, c // groups, kh, kw), bits, enc),
                         bits=bits, stride=stride, padding=pad, groups=groups, neuron=draw(neurons(target, o)),
                         input_dilation=dil)
        elif kind == "linear":
            o, bits = draw(st.integers(1, 6)), draw(st.integers(1, 4))
            layer = Linear(name, [cur], (o,), weight=_weights(draw, (o, shape[0]), bits, enc), bits=bits,
                           neuron=draw(neurons(target, o)))
        elif kind == "avgpool":
            c, h, w = shape
            k = (draw(st.integers(1, min(2, h))), draw(st.integers(1, min(2, w))))
            s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            out = (c, (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1)
            layer = AvgPool(name, [cur], out, kernel=k, stride=s, neuron=draw(neurons(target, c)))
        elif kind == "maxpool":
            if not tensors[cur][1]:
                continue  # a max pool reads spikes only
            c, h, w = shape
            k = (draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w))))
            s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            layer = MaxPool(name, [cur], (c, (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1), kernel=k, stride=s)
        elif kind == "add":
            ins = [cur] + draw(st.lists(st.sampled_from(same), min_size=1, max_size=2))
            mults = [draw(_multiplier(shape[0])) for _ in ins]
            layer = Add(name, ins, shape, multipliers=mults, neuron=draw(neurons(target, shape[0])))
        elif kind == "residual":  # the fused residual layer: synaptic convs (no neuron) into an add
            c, h, w = shape
            ins = []
            for j in range(draw(st.integers(1, 2))):
                k = draw(st.sampled_from([1, 3]))
                bits = draw(st.integers(1, 4))
                syn = Conv(f"{name}s{j}", [draw(st.sampled_from(same))], shape, bits=bits, padding=[k // 2] * 4,
                           weight=_weights(draw, (c, c, k, k), bits, enc), neuron=None)
                layers.append(syn)
                tensors[syn.name] = (shape, False)
                synaptic.add(syn.name)
                ins.append(syn.name)
            ins += draw(st.lists(st.sampled_from(same), min_size=2 - len(ins), max_size=1))
            mults = [draw(_multiplier(c)) for _ in ins]
            layer = Add(name, ins, shape, multipliers=mults, neuron=draw(neurons(target, c)))
        elif kind == "concat":
            spk = [n for n, (s, sp) in tensors.items() if sp and s[1:] == shape[1:] and len(s) == len(shape)]
            if not tensors[cur][1] or not spk:
                continue
            ins = [cur] + draw(st.lists(st.sampled_from(spk), min_size=0, max_size=2))
            out = (sum(tensors[i][0][0] for i in ins),) + shape[1:]
            layer = Concat(name, ins, out)
        else:
            layer = Flatten(name, [cur], (int(np.prod(shape)),))
        layers.append(layer)
        spikes = layer.has_neurons or all(tensors[i][1] for i in layer.inputs)
        tensors[name] = (layer.output_shape, spikes)
        cur = name
    if not layers or not tensors[cur][1]:  # the output layer must emit spikes
        shape = tensors[cur][0]
        if len(shape) == 3:
            layers.append(Flatten("flat", [cur], (int(np.prod(shape)),)))
            cur, shape = "flat", (int(np.prod(shape)),)
        o = draw(st.integers(1, 4))
        layers.append(Linear("out", [cur], (o,), weight=_weights(draw, (o, shape[0]), 2, enc), bits=2,
                             neuron=draw(neurons(target, o))))
        cur = "out"
    host = draw(st.booleans()) if with_host is None else with_host
    if host:
        shape = layers[-1].output_shape
        if len(shape) == 3:
            layers.append(Flatten("hflat", [cur], (int(np.prod(shape)),)))
            cur, shape = "hflat", (int(np.prod(shape)),)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        classes = draw(st.integers(2, 4))
        layers.append(HostLinear("host", [cur], (classes,), weight=rng.normal(size=(classes, shape[0])),
                                 bias=rng.normal(size=classes), input_scale=0.5))
    return Artefact(spec, tuple(layers), target, hardware_spec={"name": "random"})


@st.composite
def batches(draw, spec):
    b = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (b,) + spec.shape
    if draw(st.booleans()):
        return rng.integers(spec.lo, spec.hi + 1, size=shape).astype(np.int32)
    span = (spec.hi - spec.lo + 2) * spec.scale
    x = rng.uniform(spec.lo * spec.scale - span / 4, spec.hi * spec.scale + span / 4, size=shape)
    if draw(st.booleans()):  # exact .5 ties exercise round-half-to-even
        x = (np.round(x / spec.scale * 2) / 2) * spec.scale
    return x.astype(draw(st.sampled_from([np.float32, np.float64])))
