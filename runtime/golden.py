"""Golden vectors: compute them (`make_golden`) and replay them (`verify`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snnc.runtime.errors import ArtefactError
from snnc.runtime.fastsim import simulate
from snnc.runtime.manifest import count_dtype, counts_digest
from snnc.runtime.model import Artefact, Golden
from snnc.runtime.validate import MAX_TIMESTEPS, carries_spikes

AUTO_SPIKES_LIMIT = 1 << 20  # store full spike trains when they have at most this many values


@dataclass(frozen=True)
class Mismatch:
    """The first differing value: layer (topological order), quantity, sample, timestep, neuron."""

    layer: str
    quantity: str  # "spikes" | "counts" | "predictions" | "counts digest"
    sample: int | None  # None for a "counts digest" mismatch (it covers all samples)
    timestep: int | None  # None for counts (sum over all T) and predictions
    neuron: tuple[int, ...]
    expected: int | str  # str: the SHA-256 digests of a "counts digest" mismatch (neuron ())
    actual: int | str

    def __str__(self) -> str:
        if self.quantity == "counts digest":
            return (f"layer {self.layer!r} counts differ: their SHA-256 over all samples is {self.actual}, expected "
                    f"{self.expected} (the artefact stores this layer's counts as a digest, so the sample and "
                    f"neuron are not known: `snnc run ARTEFACT INPUTS --trace` on the golden inputs gives them)")
        when = f"timestep {self.timestep}" if self.timestep is not None else "all timesteps (count)"
        return (f"layer {self.layer!r} {self.quantity} differ: sample {self.sample}, {when}, "
                f"neuron {list(self.neuron)}: expected {self.expected}, actual {self.actual}")


@dataclass(frozen=True)
class VerifyReport:
    """ok when every stored value is identical; `checked` counts the values compared."""

    ok: bool
    checked: int
    timesteps: int
    samples: int
    mismatch: Mismatch | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.checked} golden values identical ({self.samples} samples, T={self.timesteps})"
        return f"MISMATCH: {self.mismatch}"


def make_golden(artefact: Artefact, inputs: np.ndarray, timesteps: int, *, spikes: bool | None = None,
                counts_budget: int | None = None) -> Artefact:
    """A copy of `artefact` carrying golden vectors computed by `simulate`.

    spikes: store the full spike trains (default: when they hold at most 2^20 values and no
    counts_budget is given).
    counts_budget: None stores every layer's counts in full. A number of bytes stores the output
    layer's counts in full, then the other layers' in topological order while the counts stored
    in full take at most that many bytes (as written, `manifest.count_dtype`), and every other
    layer's as a SHA-256 digest (`golden.digests`): verify still checks every value, but names
    only the layer, not the neuron, where a digested layer differs.
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or not 1 <= timesteps <= MAX_TIMESTEPS:
        raise ArtefactError(f"golden: timesteps: {timesteps!r} must be an integer in [1, {MAX_TIMESTEPS}]")
    timesteps = int(timesteps)
    inputs = np.asarray(inputs)
    if spikes is None and counts_budget is not None:
        spikes = False
    if spikes is None:
        spiking = carries_spikes(artefact)
        size = sum(int(np.prod(layer.output_shape)) for layer in artefact.core_layers if spiking[layer.name])
        spikes = size * timesteps * (inputs.shape[0] if inputs.ndim else 1) <= AUTO_SPIKES_LIMIT
    res = simulate(artefact, inputs, timesteps, trace=spikes)
    counts, digests = dict(res.counts), {}
    if counts_budget is not None:
        counts, digests = _split_counts(artefact, res.counts, timesteps, counts_budget)
    golden = Golden(inputs=inputs, timesteps=timesteps, counts=counts, predictions=res.predictions,
                    spikes=res.spikes if spikes else None, digests=digests)
    return dataclasses.replace(artefact, golden=golden)


def _split_counts(artefact: Artefact, counts, timesteps: int, budget: int) -> tuple[dict, dict]:
    """(full, digests): the output layer first, then topological order, full while within `budget`."""
    itemsize = count_dtype(timesteps).itemsize
    order = [artefact.output_layer] + [layer.name for layer in artefact.core_layers
                                       if layer.name in counts and layer.name != artefact.output_layer]
    full, digests, used = {}, {}, 0
    for name in order:
        size = counts[name].size * itemsize
        digest = counts_digest(counts[name], timesteps)
        if name == artefact.output_layer or used + size <= budget or digest is None:
            full[name] = counts[name]
            used += size
        else:
            digests[name] = digest
    return full, digests


def _first_diff(expected: np.ndarray, actual: np.ndarray, with_time: bool):
    """(sample, timestep|None, neuron, expected, actual) of the first difference, time-major."""
    diff = expected != actual
    if not diff.any():
        return None
    if with_time:
        t = int(np.argmax(diff.any(axis=tuple(i for i in range(diff.ndim) if i != 1))))
        sub_e, sub_a, sub_d = expected[:, t], actual[:, t], diff[:, t]
    else:
        t, sub_e, sub_a, sub_d = None, expected, actual, diff
    idx = np.unravel_index(int(np.argmax(sub_d)), sub_d.shape)
    return int(idx[0]), t, tuple(int(i) for i in idx[1:]), int(sub_e[idx]), int(sub_a[idx])


def verify(artefact: Artefact, backend: str = "auto") -> VerifyReport:
    """Replay the golden inputs and compare every stored value exactly (spikes, counts, predictions).

    backend: the simulator backend that replays them (see `simulate`)."""
    g = artefact.golden
    if g is None:
        raise ArtefactError("golden: the artefact has no golden vectors to verify")
    res = simulate(artefact, g.inputs, g.timesteps, trace=bool(g.spikes), backend=backend)
    checked = 0
    base = dict(ok=False, timesteps=g.timesteps, samples=int(g.inputs.shape[0]))
    for layer in artefact.core_layers:
        checks = []
        if g.spikes and layer.name in g.spikes:
            checks.append(("spikes", g.spikes[layer.name], res.spikes[layer.name], True))
        if layer.name in g.counts:
            checks.append(("counts", g.counts[layer.name], res.counts[layer.name], False))
        for quantity, exp, act, with_time in checks:
            found = _first_diff(exp, act, with_time)
            checked += exp.size
            if found:
                return VerifyReport(checked=checked, mismatch=Mismatch(layer.name, quantity, *found), **base)
        if layer.name in g.digests:
            act = res.counts[layer.name]
            checked += act.size
            digest = counts_digest(act, g.timesteps)
            if digest != g.digests[layer.name]:
                return VerifyReport(checked=checked, mismatch=Mismatch(
                    layer.name, "counts digest", None, None, (), g.digests[layer.name], digest or "out of [0, T]"), **base)
    if g.predictions is not None:
        found = _first_diff(g.predictions, res.predictions, False)
        checked += g.predictions.size
        if found:
            s, _, _, e, a = found
            host = artefact.host.name  # type: ignore[union-attr]
            return VerifyReport(checked=checked, mismatch=Mismatch(host, "predictions", s, None, (), e, a), **base)
    base["ok"] = True
    return VerifyReport(checked=checked, **base)
