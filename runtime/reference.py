"""The reference backend (`simulate(..., backend="reference")`): docs/semantics.md as a program.

Written as plainly as possible, section by section of docs/semantics.md (the § references below),
so that it can be read next to the document: Python integers (unbounded, so nothing can overflow
unnoticed), explicit loops over samples, timesteps, layers and neurons, tensors as flat Python
lists in C order of their shape (C, H, W) or (F,). It reads the artefact's dataclasses and nothing
else from snnc.runtime (the backend interface aside); numpy is used only to read the input and to
hand the results back as arrays. It is slow (about a microsecond per synapse and step) and exists
to be obviously right: the numpy and numba backends are tested against it, value for value.

What `simulate` does for every backend (backend.py) is not repeated here: the checks of the
arguments and of an integer input's range (§5), the refusal of an artefact outside the covered
range (§8), batch chunking, and the host layer's float logits (§7).
"""
from __future__ import annotations

import math

import numpy as np

from snnc.runtime.backend import ChunkResult

NEURON_KINDS = ("conv", "linear", "avgpool", "add")  # §4: the layers with neurons


# ------------------------------------------------------------------------------ §1 target parameters

def membrane_range(m: int) -> tuple[int, int]:
    """§1: V is an m-bit two's complement integer, V in [-2^(m-1), 2^(m-1) - 1]."""
    return -(2 ** (m - 1)), 2 ** (m - 1) - 1


# ------------------------------------------------------------------------------ §2 weights
# The loader unpacks the weight blobs (§2, snnc.runtime.packing) into the layers' integer weight
# arrays; here they are read as nested Python lists of ints with `.tolist()`.


# ------------------------------------------------------------------------------ §3 carrying spikes

def has_neurons(layer) -> bool:
    """§4: conv, linear, avgpool and add layers have neurons, except a conv whose neuron is null."""
    return layer.kind in NEURON_KINDS and layer.neuron is not None


def carries_spikes(artefact) -> dict[str, bool]:
    """§3: for "input" and every core layer, whether it carries spikes (else it carries current)."""
    spiking = {"input": artefact.input.encoding != "current"}  # §5: every encoding but "current" spikes
    for layer in artefact.layers:
        if has_neurons(layer):
            spiking[layer.name] = True  # a layer with neurons always emits spikes
        elif layer.kind == "conv":
            spiking[layer.name] = False  # a synaptic conv (no neuron) carries its current
        elif layer.kind in ("flatten", "concat", "maxpool"):
            spiking[layer.name] = all(spiking[i] for i in layer.inputs)
        # host_linear: outside the classification
    return spiking


# ------------------------------------------------------------------------------ §5 input

def quantize_input(spec, value) -> int:
    """§5, one element: a float becomes clip(rint(value / scale), lo, hi) — one float64 division,
    Python's round() (an exact integer, ties to even), the clip in integers; an int is taken as is
    (its range is checked by `simulate`, for the whole array)."""
    if isinstance(value, float):
        q = round(value / float(spec.scale))
        return min(max(q, spec.lo), spec.hi)
    return int(value)


def quantize_array(spec, x: np.ndarray) -> np.ndarray | None:
    """§5 for a float array (the backend's quantizer): every element converted to float64 (exact
    for every float dtype) and quantized; None when any element is NaN or infinite (rejected)."""
    values = [float(v) for v in np.asarray(x).reshape(-1).tolist()]
    if not all(math.isfinite(v) for v in values):
        return None
    return np.array([quantize_input(spec, v) for v in values], dtype=np.int64).reshape(x.shape)


def initial_accumulators(spec, size: int) -> list[int]:
    """§5 rate encoding: a = floor(hi/2) before t = 0 with rate_init "half", else 0."""
    return [spec.hi // 2 if spec.rate_init == "half" else 0 for _ in range(size)]


def rate_step(spec, acc: list[int], x_int: list[int]) -> list[int]:
    """§5 rate encoding, one step: a <- a + x_int; if a >= hi then s = 1 and a <- a - hi, else s = 0."""
    spikes = []
    for k in range(len(acc)):
        acc[k] += x_int[k]
        if acc[k] >= spec.hi:
            acc[k] -= spec.hi
            spikes.append(1)
        else:
            spikes.append(0)
    return spikes


MASK64 = (1 << 64) - 1


def splitmix64_output(seed: int, k: int) -> int:
    """§5 Poisson: the k-th output of SplitMix64 from the state `seed`, modulo 2^64 throughout."""
    z = (seed + k * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def poisson_step(spec, x_int: list[int], t: int) -> list[int]:
    """§5 Poisson, step t: element i spikes iff (h mod hi) < x_int[i], h = output k = i*2^32 + t + 1."""
    return [1 if splitmix64_output(spec.seed, i * (1 << 32) + t + 1) % spec.hi < x else 0 for i, x in enumerate(x_int)]


def population_inputs(spec, x_int: list[int]) -> list[int]:
    """§5 population: the C*P (or F*P) neuron values, element e = (c, rest) at (c*P + p, rest):
    v_p = min(max(P*x - p*hi, 0), hi). x_int is flat in C order over (C, *rest)."""
    pp = len(x_int) // spec.shape[0]  # elements per channel (H*W, or 1 for a flat input)
    out = []
    for c in range(spec.shape[0]):
        for p in range(spec.population):
            for r in range(pp):
                out.append(min(max(spec.population * x_int[c * pp + r] - p * spec.hi, 0), spec.hi))
    return out


def ttfs_step(spec, x_int: list[int], t: int) -> list[int]:
    """§5 time-to-first-spike, step t: x > 0 spikes iff t == floor((hi - x)*(window - 1)/hi)."""
    return [1 if x > 0 and t == (spec.hi - x) * (spec.window - 1) // spec.hi else 0 for x in x_int]


def input_step(spec, acc: list[int], x_int: list[int], drive: list[int], t: int) -> list:
    """§5: what the layers reading "input" receive at step t (acc: the rate encoders' accumulators,
    over `drive`: x_int for "rate", the population values for "population")."""
    if spec.encoding == "current":
        return list(x_int)
    if spec.encoding in ("rate", "population"):
        return rate_step(spec, acc, drive)
    if spec.encoding == "poisson":
        return poisson_step(spec, x_int, t)
    return ttfs_step(spec, x_int, t)


# ------------------------------------------------------------------------------ §6 the synaptic current I

def conv_current(layer, x: list, in_shape) -> list:
    """§6 conv: I[o, y, x] = sum over c < Cg, i < kh, j < kw of
    w[o, c, i, j] * s'[q*Cg + c, y*sh + i - top, x*sw + j - left]; out-of-range positions read 0.
    s' is the input dilated by input_dilation (dh, dw): s'[c, y', x'] = s[c, y'/dh, x'/dw] where dh
    divides y' and dw divides x', else 0; H' = (H - 1)*dh + 1, W' = (W - 1)*dw + 1."""
    c_in, h, w = in_shape
    o_n, cg, kh, kw = layer.weight.shape
    sh, sw = layer.stride
    dh, dw = getattr(layer, "input_dilation", (1, 1))
    hd, wd = (h - 1) * dh + 1, (w - 1) * dw + 1
    top, left, _, _ = layer.padding
    _, ho, wo = layer.output_shape
    og = o_n // layer.groups
    wt = layer.weight.tolist()
    out = []
    for o in range(o_n):
        q = o // og  # the group of output channel o
        for y in range(ho):
            for xx in range(wo):
                total = 0
                for c in range(cg):
                    for i in range(kh):
                        for j in range(kw):
                            yd, xd = y * sh + i - top, xx * sw + j - left  # a position of s'
                            if 0 <= yd < hd and 0 <= xd < wd and yd % dh == 0 and xd % dw == 0:  # else 0
                                yy, xi = yd // dh, xd // dw
                                total += wt[o][c][i][j] * x[((q * cg + c) * h + yy) * w + xi]
                out.append(total)
    return out


def linear_current(layer, x: list, in_shape) -> list:
    """§6 linear: I[o] = sum over f of w[o, f] * s[f]."""
    wt = layer.weight.tolist()
    return [sum(wt[o][f] * x[f] for f in range(len(x))) for o in range(len(wt))]


def avgpool_current(layer, x: list, in_shape) -> list:
    """§6 avgpool: I[c, y, x] = sum over i < kh, j < kw of s[c, y*sh + i, x*sw + j] (no padding)."""
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
    """§6 add: I = sum over entries k of m_k * s_k, elementwise (an entry may repeat a tensor; s_k
    is a synaptic conv's current when the entry is one). m_k is one integer, or a list with one
    integer per output channel, the channel of flat position p being p // (H*W) (p for a flat tensor)."""
    per_channel = math.prod(layer.output_shape[1:])

    def m_at(m, p: int) -> int:
        return m[p // per_channel] if isinstance(m, (list, tuple)) else m

    return [sum(m_at(m, p) * x[p] for m, x in zip(layer.multipliers, xs)) for p in range(len(xs[0]))]


def maxpool_step(layer, x: list, counts: list, in_shape: tuple) -> list:
    """§6 maxpool, one step: window (c, y, x) passes on the spike of the first position, in row-major
    window order, whose spike count over the earlier steps (`counts`) is the largest; then the
    counts take this step's spikes."""
    _, h, w = in_shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    c_n, ho, wo = layer.output_shape
    out = []
    for c in range(c_n):
        for y in range(ho):
            for xx in range(wo):
                best = None
                for i in range(kh):
                    for j in range(kw):
                        p = (c * h + y * sh + i) * w + xx * sw + j
                        if best is None or counts[p] > counts[best]:
                            best = p
                out.append(x[best])
    for p, v in enumerate(x):
        counts[p] += v
    return out


def passthrough(layer, xs: list) -> list:
    """§6 concat (inputs concatenated on the channel axis, in input order: for C-order lists, the
    lists one after the other) and flatten (a C-order list is already its flattening)."""
    return [v for part in xs for v in part]


CURRENTS = {"conv": conv_current, "linear": linear_current, "avgpool": avgpool_current}


# ------------------------------------------------------------------------------ §4 the neuron update

def channel_threshold(neuron, ch: int) -> int:
    """§4: θ of output channel ch (one value per tensor, or one per output channel)."""
    return neuron.threshold[ch] if len(neuron.threshold) > 1 else neuron.threshold[0]


def initial_membrane(layer) -> list:
    """§4: V_0 = 0 (v_init "zero") or floor(θ_c / 2) (v_init "half"), c the neuron's channel."""
    n = layer.neuron
    shape = layer.output_shape
    per_channel = math.prod(shape[1:])
    out = []
    for k in range(math.prod(shape)):
        ch = k // per_channel  # the output channel is the first index of the position
        out.append(channel_threshold(n, ch) // 2 if n.v_init == "half" else 0)
    return out


def neuron_step(v: list, current: list, layer, target) -> list:
    """§4, one timestep of every neuron of the layer: updates v in place, returns the spikes."""
    n = layer.neuron
    per_channel = math.prod(layer.output_shape[1:])
    m = target.membrane_bits
    lo, hi = membrane_range(m)
    spikes = []
    for k in range(len(v)):
        ch = k // per_channel
        theta = channel_threshold(n, ch)
        u = v[k] + current[k] + n.bias[ch]  # 1. integrate (I), 2. accumulate: U = V + I + bias, exactly
        if target.overflow == "saturate":  # 2. bound
            u = min(max(u, lo), hi)
        else:  # wrap: ((U + 2^(m-1)) mod 2^m) - 2^(m-1), Python's % is non-negative for a positive modulus
            u = (u + 2 ** (m - 1)) % (2 ** m) - 2 ** (m - 1)
        fired = u >= theta if target.fire == "ge" else u > theta  # 3. fire
        if fired:  # 4. reset
            u = 0 if n.reset == "zero" else u - theta
        v[k] = u  # the recorded membrane: V after step 4
        spikes.append(1 if fired else 0)
    return spikes


# ------------------------------------------------------------------------------ §3 time, one sample

def run_sample(artefact, x_int: list[int], timesteps: int) -> tuple[dict[str, list], dict[str, list]]:
    """§3: steps t = 0 .. T-1; within a step the core layers in list order, a spike emitted at step
    t reaching the next layer at the same step. x_int: the sample's integer input (§5), flat.

    Returns (values, membranes): values[name][t] is the flat list a core layer emits at step t
    (spikes, or the current a flatten of a current-coded input carries); membranes[name][t] the V
    of a layer with neurons after step t."""
    spec = artefact.input
    drive = population_inputs(spec, x_int) if spec.encoding == "population" else list(x_int)
    in_shape = (spec.shape[0] * spec.population,) + tuple(spec.shape[1:]) if spec.encoding == "population" else spec.shape
    shapes = {"input": in_shape, **{layer.name: layer.output_shape for layer in artefact.layers}}
    core = [layer for layer in artefact.layers if layer.placement != "host"]
    v_state = {layer.name: initial_membrane(layer) for layer in core if has_neurons(layer)}
    acc = initial_accumulators(spec, len(drive))
    values_trace = {layer.name: [] for layer in core}
    pool_counts = {layer.name: [0] * math.prod(shapes[layer.inputs[0]]) for layer in core if layer.kind == "maxpool"}
    v_trace = {name: [] for name in v_state}
    for t in range(timesteps):
        # §5: "current": the layers reading "input" get x_int at every step; else spikes
        values = {"input": input_step(spec, acc, x_int, drive, t)}
        for layer in core:
            ins = [values[i] for i in layer.inputs]
            if layer.kind in ("concat", "flatten"):
                out = passthrough(layer, ins)
            elif layer.kind == "maxpool":
                out = maxpool_step(layer, ins[0], pool_counts[layer.name], shapes[layer.inputs[0]])
            elif layer.name not in v_state:  # §6 a synaptic conv: its current I, for the add layers reading it
                out = conv_current(layer, ins[0], shapes[layer.inputs[0]])
            else:
                if layer.kind == "add":
                    current = add_current(layer, ins)
                else:
                    current = CURRENTS[layer.kind](layer, ins[0], shapes[layer.inputs[0]])
                out = neuron_step(v_state[layer.name], current, layer, artefact.target)
                v_trace[layer.name].append(list(v_state[layer.name]))
            values[layer.name] = out
            values_trace[layer.name].append(out)
    return values_trace, v_trace


# ------------------------------------------------------------------------------ §7 output

def output_layer(artefact) -> str:
    """§7: the core layer the host part reads (the input of the host_linear layer, or the one core
    layer host ops read) if there is a host part, else the last layer."""
    core = {layer.name for layer in artefact.layers if layer.placement != "host"}
    for layer in artefact.layers:
        if layer.placement == "host":
            for name in layer.inputs:
                if name in core:
                    return name
    return artefact.layers[-1].name


def spike_counts(trains: list[list[int]], steps: int) -> list[int]:
    """§7: the spike count of every neuron over the first `steps` steps."""
    return [sum(trains[t][k] for t in range(steps)) for k in range(len(trains[0]))]


def host_logits(host, counts: list[int], timesteps: int) -> list[float]:
    """§7: logits = (counts * (input_scale / T)) @ W.T + b in float64 (host floating point, not part
    of the bit-exact contract: `simulate` computes them with numpy for every backend; this plain
    version is what the tests compare that with, to a tolerance)."""
    w = host.weight.tolist()
    return [sum(float(counts[k]) * (host.input_scale / timesteps) * float(w[c][k]) for k in range(len(counts)))
            + float(host.bias[c]) for c in range(len(w))]


# ------------------------------------------------------------------------------ the backend

class ReferenceBackend:
    """backend "reference" (see backend.Backend): `run_sample` for every sample of the chunk."""

    name = "reference"

    def quantize(self, spec, x: np.ndarray) -> np.ndarray | None:
        return quantize_array(spec, x)

    def prepare(self, a, plans) -> None:
        return None

    def run(self, a, x_int: np.ndarray, timesteps: int, trace: bool, counts_at: tuple[int, ...], plans,
            prepared) -> ChunkResult:
        spiking = carries_spikes(a)
        core = [layer for layer in a.core_layers if spiking[layer.name] or has_neurons(layer)]
        samples = [run_sample(a, [int(v) for v in sample.reshape(-1).tolist()], timesteps) for sample in x_int]
        shapes = {layer.name: tuple(layer.output_shape) for layer in core}
        batch = len(samples)

        def array(per_sample: list, name: str, steps: bool, dtype) -> np.ndarray:
            # np.array of Python ints raises OverflowError for one outside int64: nothing wraps silently
            return np.array(per_sample, dtype=dtype).reshape((batch,) + ((timesteps,) if steps else ()) + shapes[name])

        names = [layer.name for layer in core if spiking[layer.name]]
        counts = {n: array([spike_counts(vals[n], timesteps) for vals, _ in samples], n, False, np.int64) for n in names}
        prefix = {t: {n: array([spike_counts(vals[n], t) for vals, _ in samples], n, False, np.int64) for n in names}
                  for t in counts_at}
        spikes, membranes = {}, {}
        if trace:
            spikes = {n: array([vals[n] for vals, _ in samples], n, True, np.uint8) for n in names}
            membranes = {layer.name: array([mem[layer.name] for _, mem in samples], layer.name, True, np.int64)
                         for layer in core if has_neurons(layer)}
        return ChunkResult(counts, spikes, membranes, prefix)


REFERENCE = ReferenceBackend()


def reference_simulate(artefact, x, timesteps: int) -> dict:
    """The reference on its own, for tests: x quantized element by element (§5, without the range
    checks `simulate` adds), every core layer's trains, counts and membranes, and the host logits
    computed in plain Python (§7). Returns dict(spikes, membranes, counts, output_layer, logits,
    predictions) with numpy arrays (B, T, *shape) / (B, *shape)."""
    spec = artefact.input
    core = [layer for layer in artefact.layers if layer.placement != "host"]
    host = artefact.layers[-1] if artefact.layers[-1].placement == "host" else None
    out_name = output_layer(artefact)
    x = np.asarray(x)
    if spec.layout == "NHWC":  # §5: x is (B, H, W, C); x[b, y, x', c] is element (c, y, x') of the input
        x = np.transpose(x, (0, 3, 1, 2))
    is_float = x.dtype.kind == "f"
    batch = x.shape[0]
    spikes = {layer.name: [] for layer in core}
    membranes = {layer.name: [] for layer in core if has_neurons(layer)}
    logits, predictions = [], []
    for b in range(batch):
        x_int = [quantize_input(spec, float(v) if is_float else int(v)) for v in x[b].reshape(-1).tolist()]
        values, v_trace = run_sample(artefact, x_int, timesteps)
        for layer in core:
            spikes[layer.name].append(values[layer.name])
        for name in membranes:
            membranes[name].append(v_trace[name])
        if host is not None:
            counts = spike_counts(values[out_name], timesteps)
            if host.kind == "host_linear":
                row = host_logits(host, counts, timesteps)
            else:  # host ops (a hybrid artefact): host floats, computed as simulate computes them
                from snnc.runtime.backend import run_host_ops

                shape = next(x for x in core if x.name == out_name).output_shape
                row = run_host_ops(artefact, np.array(counts, dtype=np.int64).reshape((1,) + tuple(shape)),
                                   timesteps)[0].tolist()
            logits.append(row)
            predictions.append(row.index(max(row)))  # §7: the first index of the maximal logit

    def arr(layer, data):
        return np.array(data, dtype=np.int64).reshape((batch, timesteps) + tuple(layer.output_shape))

    spikes_np = {layer.name: arr(layer, spikes[layer.name]) for layer in core}
    return {
        "spikes": spikes_np,
        "membranes": {layer.name: arr(layer, membranes[layer.name]) for layer in core if layer.name in membranes},
        "counts": {k: v.sum(axis=1) for k, v in spikes_np.items()},
        "output_layer": out_name,
        "logits": np.array(logits) if host is not None else None,
        "predictions": np.array(predictions, dtype=np.int64) if host is not None else None,
    }
