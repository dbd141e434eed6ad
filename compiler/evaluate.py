"""Accuracy of the float model, the quantized ANN and the bit-exact SNN on a labelled dataset.

The SNN numbers come from `snnc.runtime.simulate` — the bit-exact reference — at every requested
T, from one run of the largest T per batch (its `counts_at` gives every shorter T exactly).
Everything streams over the dataset in batches. Alongside accuracy, `evaluate` keeps the
spike activity of every layer at every T (per-neuron spike counts summed over the samples, and a
histogram of per-sample counts), from which `activity_summary` derives firing rates, synaptic
operations and the energy estimate of `snnc.compiler.energy`. `layer_correlation` compares the
quantized ANN's activations with the SNN's firing rates layer by layer on a few samples.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from snnc.compiler import energy as en
from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError, SnncWarning
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.interpret import run as run_float
from snnc.compiler.backend.lower import quantize_input
from snnc import runtime
from snnc.runtime.encode import clip_warning, clipped_count, input_spikes, to_external, to_int_input
from snnc.runtime.model import Conv, MaxPool


@dataclass
class Activity:
    """Spike activity at one T over all evaluated samples.

    count_sums: per-neuron spike counts over T summed over the samples, for every spike-carrying
      core layer (and 'input' when the input is rate coded).
    histograms: per layer with neurons, h[k] = number of (sample, neuron) pairs with k spikes (k = 0..T).
    """

    count_sums: dict[str, np.ndarray] = field(default_factory=dict)
    histograms: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Accuracy:
    samples: int
    float_acc: float | None
    qann_acc: float | None
    snn_acc: dict[int, float] = field(default_factory=dict)  # T -> accuracy
    agreement: dict[int, float] = field(default_factory=dict)  # T -> SNN vs quantized-ANN agreement
    activity: dict[int, Activity] = field(default_factory=dict)  # T -> spike activity


class _Sized:
    """An iterator with a length, so that progress bars know their total."""

    def __init__(self, it: Iterable, n: int):
        self._it, self._n = it, n

    def __iter__(self):
        return iter(self._it)

    def __len__(self) -> int:
        return self._n


def _accumulate(act: Activity, art, counts: dict[str, np.ndarray], x_int: np.ndarray | None, t: int) -> None:
    with_neurons = {layer.name for layer in art.core_layers if layer.has_neurons}
    for name, c in counts.items():
        s = c.sum(axis=0)
        act.count_sums[name] = s if name not in act.count_sums else act.count_sums[name] + s
        if name in with_neurons:
            h = np.bincount(c.reshape(-1), minlength=t + 1)
            act.histograms[name] = h if name not in act.histograms else act.histograms[name] + h
    if x_int is not None:  # spike-coded input: its spike counts over T
        s = input_spikes(art.input, x_int, t).sum(axis=0, dtype=np.int64).sum(axis=0)
        act.count_sums["input"] = s if "input" not in act.count_sums else act.count_sums["input"] + s


@dataclass
class Tally:
    """Integer sums over a range of samples (whole batches): what `evaluate` adds up. Sums of
    integers, so the tallies of shards add up to the tally of one pass, bit for bit."""

    samples: int = 0
    correct_f: int = 0
    correct_q: int = 0
    correct_s: dict[int, int] = field(default_factory=dict)
    agree: dict[int, int] = field(default_factory=dict)
    activity: dict[int, Activity] = field(default_factory=dict)
    clipped: int = 0
    values: int = 0

    def __iadd__(self, other: "Tally") -> "Tally":
        self.samples += other.samples
        self.correct_f += other.correct_f
        self.correct_q += other.correct_q
        self.clipped += other.clipped
        self.values += other.values
        for t, c in other.correct_s.items():
            self.correct_s[t] = self.correct_s.get(t, 0) + c
        for t, c in other.agree.items():
            self.agree[t] = self.agree.get(t, 0) + c
        for t, act in other.activity.items():
            mine = self.activity.setdefault(t, Activity())
            for attr in ("count_sums", "histograms"):
                dst, src = getattr(mine, attr), getattr(act, attr)
                for name, v in src.items():
                    dst[name] = v.copy() if name not in dst else dst[name] + v
        return self


def tally(art, dataset: Dataset, timesteps: Sequence[int], *, graph: Graph | None = None, qann: Graph | None = None,
          limit: int | None = None, batch_size: int = 500, progress: Callable[[Iterator, str], Iterator] | None = None,
          backend="auto") -> Tally:
    """The integer sums of `evaluate` over the first `limit` samples (all by default)."""
    shape = art.input.shape
    wrap = progress or (lambda it, desc: it)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    out = Tally(samples=n, correct_s={t: 0 for t in timesteps}, agree={t: 0 for t in timesteps},
                activity={t: Activity() for t in timesteps})
    lo, hi, s_in = art.input.lo, art.input.hi, art.input.scale
    rate = art.input.spiking  # every encoding but current: count the input spikes
    batches = _Sized(dataset.batches(batch_size, shape, limit=n, layout=art.input.layout), -(-n // batch_size))
    for xb, yb in wrap(batches, "evaluate"):
        c, v = clipped_count(art.input, xb)
        out.clipped, out.values = out.clipped + c, out.values + v
        qpred = None
        if graph is not None:
            out.correct_f += int((run_float(graph, xb)[graph.outputs[0]].argmax(axis=1) == yb).sum())
        if qann is not None:
            qpred = run_float(qann, quantize_input(xb, lo, hi, s_in))[qann.outputs[0]].argmax(axis=1)
            out.correct_q += int((qpred == yb).sum())
        x_int = to_int_input(art.input, xb) if rate else None
        # one run of max(T) steps gives every shorter T exactly (runtime.simulate's counts_at)
        sim = runtime.simulate(art, to_external(art.input, xb), max(timesteps), counts_at=timesteps, backend=backend)
        for t in timesteps:
            pred = sim.predictions_at[t]
            out.correct_s[t] += int((pred == yb).sum())
            if qpred is not None:
                out.agree[t] += int((pred == qpred).sum())
            _accumulate(out.activity[t], art, sim.counts_at[t], x_int, t)
    return out


def _tally_shard(art, graph, qann, timesteps, batch_size, backend, shard: Dataset) -> Tally:
    """One data shard's tally (a work item of `distributed.Executor.map`)."""
    return tally(art, shard, timesteps, graph=graph, qann=qann, batch_size=batch_size, backend=backend)


SHARD_BATCHES = 10  # batches per data shard when evaluation is distributed


def evaluate(art, dataset: Dataset, timesteps: Sequence[int], *, graph: Graph | None = None, qann: Graph | None = None,
             limit: int | None = None, batch_size: int = 500,
             progress: Callable[[Iterator, str], Iterator] | None = None, backend="auto",
             executor=None, shard_batches: int | None = None) -> Accuracy:
    """Accuracy and activity over the first `limit` samples. `backend` is `runtime.simulate`'s.
    With a distributed `executor` (`distributed.Executor`) the samples are split into shards of
    `shard_batches` (default SHARD_BATCHES) whole batches, each a work item; the integer sums are
    the same as in one pass."""
    if dataset.y is None:
        raise SnncError(f"{dataset.source}: no labels (y) to score against")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if executor is None or not executor.distributed:
        tot = tally(art, dataset, timesteps, graph=graph, qann=qann, limit=n, batch_size=batch_size,
                    progress=progress, backend=backend)
    else:
        from dataclasses import replace

        from snnc.compiler.distributed import shard_ranges

        shards = [replace(dataset, x=np.asarray(dataset.x[a:b]), y=np.asarray(dataset.y[a:b]))
                  for a, b in shard_ranges(n, batch_size, shard_batches or SHARD_BATCHES)]
        tot = Tally(correct_s={t: 0 for t in timesteps}, agree={t: 0 for t in timesteps},
                    activity={t: Activity() for t in timesteps})
        for part in executor.map(_tally_shard, shards, shared=(art, graph, qann, tuple(timesteps), batch_size, backend),
                                 desc="evaluate shards"):
            tot += part
    if (note := clip_warning(art.input, tot.clipped, tot.values, dataset.source)) is not None:
        warnings.warn(note, SnncWarning, stacklevel=2)
    return Accuracy(
        samples=n,
        float_acc=tot.correct_f / n if graph is not None else None,
        qann_acc=tot.correct_q / n if qann is not None else None,
        snn_acc={t: c / n for t, c in tot.correct_s.items()},
        agreement={t: c / n for t, c in tot.agree.items()} if qann is not None else {},
        activity=tot.activity,
    )


@dataclass
class LayerSummary:
    """One core layer with neurons: firing rate, operations and (given) quantization facts."""

    name: str
    kind: str
    neurons: int
    input: str  # "spikes" | "current"
    macs: int
    ann_adds: int
    firing_rate: dict[int, float] = field(default_factory=dict)  # T -> spikes / neuron / step
    synops: dict[int, float] = field(default_factory=dict)  # T -> synaptic operations per image
    current_macs: int = 0
    current_accs: dict[int, int] = field(default_factory=dict)  # T -> per-step accumulates of a current-fed layer
    weight_error: float | None = None  # relative L2 weight quantization error (LayerReport)
    scale: float | None = None  # λ_out
    correlation: float | None = None  # Pearson r, quantized-ANN activation vs SNN rate

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def activity_summary(art, acc: Accuracy, *, e_mac_pj: float = en.E_MAC_PJ, e_ac_pj: float = en.E_AC_PJ
                     ) -> tuple[list[LayerSummary], dict[int, en.Energy]]:
    """Per-layer firing rates and operation counts at every T, and the energy estimate at every T."""
    layers: dict[str, LayerSummary] = {}
    energies: dict[int, en.Energy] = {}
    for t, act in sorted(acc.activity.items()):
        ops = en.layer_ops(art, act.count_sums, acc.samples, t)
        rates = en.firing_rates(art, act.count_sums, acc.samples, t)
        for o in ops:
            s = layers.setdefault(o.name, LayerSummary(name=o.name, kind=o.kind, neurons=o.neurons, input=o.input,
                                                       macs=o.macs, ann_adds=o.ann_adds, current_macs=o.current_macs))
            if o.name in rates:  # a synaptic conv has no neurons, so no rate
                s.firing_rate[t] = rates[o.name]
            s.synops[t] = o.synops
            if o.input == "current":
                s.current_accs[t] = o.current_accs
        energies[t] = en.energy(ops, e_mac_pj, e_ac_pj)
    return list(layers.values()), energies


def ann_layer_values(graph: Graph, lowered) -> dict[str, tuple[str, float]]:
    """Artefact layer name -> (IR value holding that layer's ANN activation, its scale λ) for the
    layers with neurons; the quantized ANN (`lowered.qann`) has the same value names."""
    from snnc.compiler.backend.plan import artefact_names
    from snnc.compiler.backend.plan import plan_stages

    stages = lowered.plan if getattr(lowered, "plan", None) is not None else plan_stages(graph)  # the spec's plan
    names = artefact_names(list(stages))
    scale = {rep.artefact_name: rep.scale for rep in lowered.layers}
    return {names[st.name]: (st.output, scale[names[st.name]]) for st in stages
            if st.kind in ("conv", "linear", "avgpool", "add") and scale.get(names[st.name])}


@dataclass
class Correlation:
    """Quantized-ANN activation / λ vs SNN firing rate (count / T) of one layer, over every neuron of
    the samples used; `ann`/`snn` hold at most `max_points` of those pairs (for plotting)."""

    layer: str
    r: float | None  # Pearson r over all pairs (None when either side is constant)
    points: int
    ann: np.ndarray
    snn: np.ndarray
    mae: float = 0.0  # mean |clip(ANN / λ, 0, 1) - SNN rate| over all pairs: the rate error
    clipped: float = 0.0  # fraction of ANN activations above λ (cut off by the scale)


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    da, db = a - a.mean(), b - b.mean()
    den = float(np.sqrt((da * da).sum() * (db * db).sum()))
    return float((da * db).sum() / den) if den > 0 else None


def layer_correlation(art, qann: Graph, values: dict[str, tuple[str, float]], x: np.ndarray, timesteps: int,
                      max_points: int = 4000, backend="auto") -> dict[str, Correlation]:
    """Per layer: the quantized ANN's activation normalized by λ (in [0, 1]) against the SNN's
    firing rate at `timesteps`, neuron by neuron, on the samples x (simulated by `backend`)."""
    lo, hi, s_in = art.input.lo, art.input.hi, art.input.scale
    env = run_float(qann, quantize_input(x, lo, hi, s_in), all_values=True)
    sim = runtime.simulate(art, to_external(art.input, x), timesteps, backend=backend)
    rng = np.random.default_rng(0)
    out = {}
    for name, (value, lam) in values.items():
        if name not in sim.counts:
            continue
        a = (env[value] / lam).ravel()
        s = (sim.counts[name] / timesteps).ravel()
        keep = rng.choice(a.size, max_points, replace=False) if a.size > max_points else slice(None)
        out[name] = Correlation(layer=name, r=pearson(a, s), points=int(a.size), ann=a[keep], snn=s[keep],
                                mae=float(np.abs(np.clip(a, 0.0, 1.0) - s).mean()) if a.size else 0.0,
                                clipped=float(np.mean(a > 1.0 + 1e-9)) if a.size else 0.0)
    return out


RATE_ERROR = 0.05  # a layer departs when its mean rate error exceeds this (5% of its range)
CLIPPED = 0.01  # ... and its scale clips more than this fraction of its ANN activations


@dataclass
class Diagnosis:
    """Where the SNN first departs from the quantized ANN, and what to do about it."""

    layer: str
    timesteps: int
    mae: float
    clipped: float
    remedies: list[str]

    def to_dict(self) -> dict:
        return {"layer": self.layer, "timesteps": self.timesteps, "rate_error": self.mae,
                "clipped_fraction": self.clipped, "remedies": self.remedies}

    def to_text(self) -> str:
        return (f"the SNN departs from the quantized ANN first at layer {self.layer} (mean rate error "
                f"{self.mae:.3f} > {RATE_ERROR} at T={self.timesteps}); try: " + "; or ".join(self.remedies))


def finetune_blocker(art) -> str | None:
    """Why `snnc finetune` cannot train this artefact's network (None when it can): it does not
    train fused residual layers (synaptic convs) or spiking max pools yet."""
    if any(isinstance(layer, MaxPool) for layer in art.layers):
        return "spiking max pools"
    if any(isinstance(layer, Conv) and layer.neuron is None for layer in art.layers):
        return "fused residual layers"
    return None


def diagnose(corr: dict[str, Correlation], order: list[str], timesteps: int,
             threshold: float = RATE_ERROR, finetune_blocked: str | None = None) -> Diagnosis | None:
    """The first layer (in artefact order) whose rate error exceeds `threshold`, with remedies:
    a larger T (a rate resolves 1/T), a higher clip point when the scale clips activations
    (rates saturate at 1), and training the SNN itself — unless `finetune_blocked` says why
    `snnc finetune` cannot (`finetune_blocker`), which the remedy then says instead."""
    for name in order:
        c = corr.get(name)
        if c is None or c.mae <= threshold:
            continue
        remedies = [f"a larger T (at T={timesteps} a firing rate resolves 1/T = {1 / timesteps:.3f})"]
        if c.clipped > CLIPPED:
            remedies.append(f"a higher clip point: {c.clipped:.1%} of {name}'s activations exceed its scale "
                            "(--percentile closer to 100, or --norm max)")
        if finetune_blocked is None:
            remedies.append(f"snnc finetune -T {timesteps} (trains the SNN itself at this T)")
        else:
            remedies.append(f"training the SNN at this T (snnc finetune does not train {finetune_blocked} yet: "
                            "retrain the model with a quantization-aware clip, or convert at a larger T)")
        return Diagnosis(name, timesteps, c.mae, c.clipped, remedies)
    return None
