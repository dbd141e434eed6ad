"""Operation counts and an energy estimate for an SNN artefact vs the ANN it came from (pure numpy).

Counts are exact, derived from the bit-exact simulation's spike counts (docs/eval.md defines them):

- **SynOps** (synaptic operations) of a layer fed by spikes: one accumulate per (input spike,
  synapse it reaches). conv: a spike at (c, y, x) reaches the O/groups output channels of its
  group at every output window covering (y, x) (exact with stride and padding; zero weights are
  counted — they are synapses the chip reads); linear: O per spike; avgpool: one per covering
  window; add: one per spike of each input.
- **MACs** (the ANN, dense) of conv/linear: one per (weight, in-range input) pair, i.e. the SynOps
  the layer would do if every input were active once; windows' padded positions are not counted.
  avgpool and add do additions (ANN adds), not MACs.
- A layer fed by the integer **current** (input_encoding "current") does its dense MACs once per
  image — the current is the same at every step — plus one accumulate per neuron per step
  (V += I).

Energy per image (core layers only; the host layer is identical in both networks and excluded;
neuron updates, memory traffic and data movement are not modelled):
    E_SNN = E_AC · (SynOps + current accumulates + current-input adds) + E_MAC · current MACs
    E_ANN = E_MAC · MACs + E_AC · ANN adds
Defaults E_MAC = 4.6 pJ, E_AC = 0.9 pJ: Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, 45 nm, 32-bit float (mult 3.7 pJ + add 0.9 pJ; add 0.9 pJ).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from snnc.runtime.model import Add, Artefact, AvgPool, Conv, Linear
from snnc.runtime.validate import carries_spikes

E_MAC_PJ = 4.6
E_AC_PJ = 0.9
ENERGY_SOURCE = ('M. Horowitz, "Computing\'s energy problem (and what we can do about it)", ISSCC 2014: '
                 "45 nm, 32-bit float multiply 3.7 pJ + add 0.9 pJ (MAC 4.6 pJ), add 0.9 pJ (AC)")


@dataclass
class LayerOps:
    """Operation counts of one core layer with neurons, per image, at one T."""

    name: str
    kind: str
    neurons: int
    input: str  # "spikes" or "current"
    macs: int  # the ANN's dense MACs (conv/linear)
    ann_adds: int  # the ANN's additions (avgpool windows, residual add)
    synops: float  # SNN: spike-driven accumulates per image (0 for a current-fed layer)
    current_macs: int = 0  # SNN: MACs of a current-fed layer (once per image)
    current_adds: int = 0  # SNN: additions of a current-fed avgpool/add (once per image)
    current_accs: int = 0  # SNN: per-step accumulates of a current-fed layer (neurons · T)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Energy:
    """Energy per image in pJ at one T, with the operation totals it is computed from."""

    e_mac_pj: float
    e_ac_pj: float
    synops: float
    snn_accumulates: float  # synops + current accumulates + current adds
    snn_macs: int
    ann_macs: int
    ann_adds: int
    snn_pj: float
    ann_pj: float

    @property
    def ratio(self) -> float:
        """E_SNN / E_ANN (below 1: the SNN is estimated to use less energy)."""
        return self.snn_pj / self.ann_pj if self.ann_pj else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def _coverage(size: int, out: int, k: int, stride: int, pad: int) -> np.ndarray:
    """How many of the `out` windows (kernel k, stride, leading padding pad) cover each input position."""
    pos = np.arange(size)[:, None] + pad - np.arange(out)[None, :] * stride
    return ((pos >= 0) & (pos < k)).sum(axis=1).astype(np.int64)


def _window_weights(layer, in_shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) number of output windows covering each input position of a conv / avgpool."""
    _, h, w = in_shape
    _, ho, wo = layer.output_shape
    if isinstance(layer, Conv):
        _, _, kh, kw = layer.weight.shape
        top, left = layer.padding[0], layer.padding[1]
    else:
        kh, kw = layer.kernel
        top = left = 0
    sh, sw = layer.stride
    if isinstance(layer, Conv) and layer.dilated:  # the input's pixels sit at every dh-th row / dw-th column
        dh, dw = layer.input_dilation
        return np.outer(_coverage((h - 1) * dh + 1, ho, kh, sh, top)[::dh], _coverage((w - 1) * dw + 1, wo, kw, sw, left)[::dw])
    return np.outer(_coverage(h, ho, kh, sh, top), _coverage(w, wo, kw, sw, left))


def fanout_weights(layer, in_shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Per input, an array of the input's shape: how many synaptic operations one spike there causes."""
    if isinstance(layer, Conv):
        og = layer.weight.shape[0] // layer.groups
        return [np.broadcast_to(og * _window_weights(layer, in_shapes[0])[None], in_shapes[0])]
    if isinstance(layer, AvgPool):
        return [np.broadcast_to(_window_weights(layer, in_shapes[0])[None], in_shapes[0])]
    if isinstance(layer, Linear):
        return [np.full(in_shapes[0], layer.weight.shape[0], dtype=np.int64)]
    if isinstance(layer, Add):
        return [np.ones(s, dtype=np.int64) for s in in_shapes]
    raise TypeError(f"layer {layer.name}: {layer.kind} has no synapses")


def dense_ops(layer, in_shapes: list[tuple[int, ...]]) -> tuple[int, int]:
    """(MACs, adds) of the ANN layer for one image: every input active once."""
    fan = fanout_weights(layer, in_shapes)
    total = int(sum(int(f.sum()) for f in fan))
    if isinstance(layer, (Conv, Linear)):
        return total, 0
    if isinstance(layer, Add):
        return 0, (len(in_shapes) - 1) * int(np.prod(layer.output_shape))
    return 0, total  # avgpool: kh·kw additions per window


def input_shapes(art: Artefact) -> dict[str, tuple[int, ...]]:
    shapes = {"input": tuple(art.input.encoded_shape)}  # population: the C*P encoded channels
    shapes.update({layer.name: tuple(layer.output_shape) for layer in art.layers})
    return shapes


def layer_ops(art: Artefact, count_sums: Mapping[str, np.ndarray], samples: int, timesteps: int) -> list[LayerOps]:
    """Per-layer operation counts per image from spike counts summed over `samples` images.

    count_sums[name]: per-neuron spike counts over T, summed over the samples, of every
    spike-carrying value the layers read ('input' too when the input is rate coded).
    """
    shapes = input_shapes(art)
    spiking = carries_spikes(art)
    out: list[LayerOps] = []
    for layer in art.core_layers:
        synaptic = layer.kind == "conv" and not layer.has_neurons  # a fused residual layer's conv: synapses only
        if not layer.has_neurons and not synaptic:
            continue
        ins = [shapes[i] for i in layer.inputs]
        macs, adds = dense_ops(layer, ins)
        neurons = 0 if synaptic else int(np.prod(layer.output_shape))
        ops = LayerOps(name=layer.name, kind=layer.kind, neurons=neurons, macs=macs, ann_adds=adds,
                       input="spikes" if all(spiking[i] for i in layer.inputs) else "current", synops=0.0)
        if ops.input == "current":
            ops.current_macs, ops.current_adds, ops.current_accs = macs, adds, neurons * timesteps
        else:
            fan = fanout_weights(layer, ins)
            total = sum(int((np.asarray(count_sums[i], dtype=np.int64) * f).sum()) for i, f in zip(layer.inputs, fan))
            ops.synops = total / samples if samples else 0.0
        out.append(ops)
    return out


def energy(ops: list[LayerOps], e_mac_pj: float = E_MAC_PJ, e_ac_pj: float = E_AC_PJ) -> Energy:
    synops = float(sum(o.synops for o in ops))
    accs = synops + sum(o.current_accs + o.current_adds for o in ops)
    snn_macs = sum(o.current_macs for o in ops)
    ann_macs = sum(o.macs for o in ops)
    ann_adds = sum(o.ann_adds for o in ops)
    return Energy(e_mac_pj=e_mac_pj, e_ac_pj=e_ac_pj, synops=synops, snn_accumulates=accs, snn_macs=snn_macs,
                  ann_macs=ann_macs, ann_adds=ann_adds, snn_pj=e_ac_pj * accs + e_mac_pj * snn_macs,
                  ann_pj=e_mac_pj * ann_macs + e_ac_pj * ann_adds)


def firing_rates(art: Artefact, count_sums: Mapping[str, np.ndarray], samples: int, timesteps: int) -> dict[str, float]:
    """Spikes per neuron per timestep of every core layer with neurons, averaged over samples and neurons."""
    out = {}
    for layer in art.core_layers:
        if layer.has_neurons:
            n = samples * int(np.prod(layer.output_shape)) * timesteps
            out[layer.name] = float(np.asarray(count_sums[layer.name]).sum()) / n if n else 0.0
    return out


def host_macs(art: Artefact) -> int:
    """Multiply-accumulates per image of the host part (host_linear, or a hybrid network's host
    conv/linear ops): what --host-from moves off the core. Pools, adds and activations not counted."""
    total = 0
    for layer in art.host_layers:
        if layer.kind == "host_linear":
            total += int(layer.weight.size)
        elif layer.op in ("conv", "linear"):
            w = layer.params["weight"]
            positions = int(np.prod(layer.output_shape[1:])) if layer.op == "conv" else 1
            total += int(w.size) * positions  # O * (C/g * kh * kw) per output position
    return total
