"""Automatic calibration (`--calibration auto`, the default with calibration data; issue 13).

From the calibration data alone, for the target T (the compile's `-T`), layer by layer in plan
order, each spiking stage (conv, linear, add) gets

1. its output scale λ_out. An IF neuron run for T steps from V_0 = ⌊θ/2⌋ with reset by subtraction
   outputs about λ·round(T·clip(a/λ, 0, 1))/T for a steady input a: a T-level quantizer of the
   activation with clip point λ (Bu et al., ICLR 2022). The *T-level scale* is the λ that minimises
   that quantizer's squared error over the layer's calibration histogram (`tlevel_scale`); the
   candidates are it times `FACTORS`, plus the scale of the `--norm` normalizer (the old default).
2. for each candidate, the layer is lowered, its integer bias is corrected by the mean firing-rate
   shortfall per channel against the float model's activation (Li et al., ICML 2021: the bias moves
   by rint(θ_c · e_c)), and the whole network, the layers before it already chosen and corrected,
   is simulated with the bit-exact runtime (`snnc.runtime.simulate`) on the first `SEARCH_SAMPLES`
   calibration inputs. The loss is the cross-entropy of the SNN's host logits against the float
   model's own predictions (no labels are read). The candidate with the least loss wins (ties: the
   earlier one); keeping the layer as it stood is a candidate too, so the loss never rises. The
   chosen candidate gets `ROUNDS - 1` further corrections, each kept only if the loss drops.

The initial membrane stays as `--v-init` says (⌊θ/2⌋ by default: the θ/2 shift of Bu et al., which
makes the T-level quantizer round rather than floor); a per-layer choice between half and zero was
tried and lowered the per-layer error but not the accuracy, so it is not searched.

The target is the float model's activation, so the bias correction also removes the mean error of
the weight quantization (Nagel et al. 2019's bias correction), which matters at 1-2 bits.

**Large networks** (issue 16): the search simulates the network several times per layer and
candidate, so its sample count is bounded by a work budget: at most `SEARCH_WORK` MAC-timesteps
(T x dense MACs per image x samples) per simulation, never fewer than `SEARCH_MIN_SAMPLES`
samples (`search_samples`). A network under about 16 M MACs per image at T=32 (every MNIST
example) keeps `SEARCH_SAMPLES`; the scale benchmark's ResNet-18 (0.48 G) at T=16 gets 8. Each
candidate lowers the network again, through one `lower.QuantizeCache`: only the layers whose
normalized weights changed (the candidate's layer and those that read it) are quantized again,
with the same result as without the cache.

Only registers the spec already has change: λ (so weights and integer thresholds, per channel where
`per_channel_threshold` allows) and the per-channel integer bias. Everything
is deterministic (the first `SEARCH_SAMPLES` calibration inputs in file order, no random numbers),
and the choices are recorded in the artefact's provenance (`autocal`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from snnc import runtime
from snnc.compiler.backend.calibrate import BINS, ActivationStats
from snnc.compiler.backend.lower import Lowered, QuantizeCache, lower, quantize_input
from snnc.compiler.backend.normalize import NormInputs, NORMALIZERS, clip_max, unify_concat
from snnc.compiler.ir.interpret import run as run_float
from snnc.runtime.encode import to_external

FACTORS = (0.25, 0.5, 1.0)  # candidate λ = factor x the T-level scale
SEARCH_SAMPLES = 128  # calibration inputs the search simulates
SEARCH_WORK = 1 << 36  # ... at most this many MAC-timesteps per simulation (large networks: `search_samples`)
SEARCH_MIN_SAMPLES = 8
ROUNDS = 2  # bias corrections per candidate: the second removes what the first over- or under-shot
LEVEL_CANDIDATES = 160  # λ candidates of the T-level search (geometric, from the median to the maximum)


@dataclass(frozen=True)
class LayerChoice:
    """What the automatic calibration chose for one spiking layer, and why."""

    layer: str  # artefact layer name
    scale: float  # λ_out chosen
    source: str  # "T-level x0.7", "--norm percentile", ...
    v_init: str
    bias_shift: int  # largest |change| of an integer bias
    error: float  # relative squared error of the layer's decoded output against the float activation
    loss: float  # the network's loss on the calibration inputs with this choice (what was minimised)
    candidates: int

    def to_dict(self) -> dict:
        return {"layer": self.layer, "scale": self.scale, "source": self.source, "v_init": self.v_init,
                "bias_shift": self.bias_shift, "error": round(self.error, 6), "loss": round(self.loss, 6)}

    def to_text(self) -> str:
        return (f"scale {self.scale:.4g} ({self.source}, best of {self.candidates}: calibration loss {self.loss:.4f}), "
                f"bias shift <= {self.bias_shift}, layer error {self.error:.3f}")


@dataclass
class AutoCal:
    scales: dict[str, float]
    overrides: dict[str, tuple[tuple[int, ...], str]]  # artefact layer -> (bias, v_init)
    choices: list[LayerChoice]
    samples: int
    timesteps: int
    cache: QuantizeCache | None = field(default=None, repr=False, compare=False)  # for the final lowering

    def provenance(self) -> dict:
        return {"timesteps": self.timesteps, "samples": self.samples, "factors": list(FACTORS),
                "layers": [c.to_dict() for c in self.choices]}


def tlevel_scale(stats: ActivationStats | None, timesteps: int) -> float:
    """The clip point λ minimising Σ h(a) (a − λ·min(⌊aT/λ + 1/2⌋, T)/T)² over the histogram."""
    if stats is None or stats.count == 0 or stats.maximum <= 0:
        return 1.0
    width = stats.maximum / BINS
    centers = (np.arange(BINS) + 0.5) * width
    h = stats.hist.astype(np.float64)
    lo = max(stats.percentile(50.0), 4 * width)
    if lo >= stats.maximum:
        return stats.maximum
    cands = np.geomspace(lo, stats.maximum, LEVEL_CANDIDATES)
    errs = []
    for lam in cands:
        q = np.minimum(np.floor(centers * (timesteps / lam) + 0.5), timesteps) * (lam / timesteps)
        errs.append(float(np.dot(h, (centers - q) ** 2)))
    return float(cands[int(np.argmin(errs))])


def apply_overrides(art, overrides: dict[str, tuple[tuple[int, ...], str]]):
    """The artefact with each named layer's neuron bias and v_init replaced."""
    def one(layer):
        if layer.name not in overrides:
            return layer
        bias, v_init = overrides[layer.name]
        return replace(layer, neuron=replace(layer.neuron, bias=tuple(int(b) for b in bias), v_init=v_init))
    return replace(art, layers=tuple(one(layer) for layer in art.layers))


def _rel_error(decoded: np.ndarray, target: np.ndarray) -> float:
    den = float(np.mean(target ** 2))
    return float(np.mean((decoded - target) ** 2)) / (den if den > 0 else 1.0)


def search_samples(art, timesteps: int, available: int) -> int:
    """SEARCH_SAMPLES, fewer when T x dense MACs per image of `art` x samples would pass
    SEARCH_WORK, never fewer than SEARCH_MIN_SAMPLES (nor more than `available`)."""
    from snnc.compiler.backend.steps import dense_macs

    budget = SEARCH_WORK // (max(1, int(timesteps)) * dense_macs(art))
    return max(1, min(available, SEARCH_SAMPLES, max(SEARCH_MIN_SAMPLES, budget)))


def autocalibrate(plan, spec, opts, stats, input_range, calib, graph, timesteps: int) -> AutoCal:
    """Choose λ_out, bias and v_init of every spiking stage (module docstring)."""
    ni = NormInputs(plan, spec, opts, stats, input_range, calib)
    base = NORMALIZERS.lookup(opts.norm)(ni)  # the --norm scales (old behaviour)
    tl = {}
    for st in plan.spiking:
        lam = tlevel_scale(stats.get(st.output) if stats else None, timesteps)
        cap = clip_max(st)
        tl[st.output] = min(lam, cap) if cap is not None else lam
    scales = unify_concat(plan, dict(tl))
    cache = QuantizeCache()
    low = lower(plan, spec, opts, scales, input_range, cache=cache)
    n = search_samples(low.artefact, timesteps, min(SEARCH_SAMPLES, len(calib), opts.calib_samples))
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    x = calib.take(n, shape)
    env = run_float(graph, quantize_input(x, *input_range), all_values=True)
    bmax = (1 << (spec.bias_bits - 1)) - 1
    concat_fed = _concat_fed(plan)

    xe = to_external(low.artefact.input, x)
    index = {layer.name: i for i, layer in enumerate(low.artefact.layers)}
    current = list(low.artefact.layers)
    overrides: dict[str, tuple[tuple[int, ...], str]] = {}
    choices: list[LayerChoice] = []

    def measure(layers, i, name, lam, target):
        art = replace(low.artefact, layers=_prefix(layers[:i + 1]))
        rate = runtime.simulate(art, xe, timesteps).counts[name].astype(np.float64) / timesteps
        return rate, _rel_error(lam * rate, target)

    def corrected(layer, rate, lam, target):
        """The layer with its bias moved by rint(θ_c · mean shortfall_c)."""
        expected = np.clip(target / lam, 0.0, 1.0)
        axes = (0,) + tuple(range(2, rate.ndim))
        err = (expected - rate).mean(axis=axes)
        theta = np.broadcast_to(np.asarray(layer.neuron.threshold, dtype=np.float64), err.shape)
        bias = np.asarray(layer.neuron.bias, dtype=np.int64) + np.rint(theta * err).astype(np.int64)
        bias = np.clip(bias, -bmax - 1, bmax)
        return replace(layer, neuron=replace(layer.neuron, bias=tuple(int(b) for b in bias)))

    out = graph.outputs[0]
    labels = env[out].argmax(axis=1)  # the float model's predictions: no labels needed

    def score(layers):
        """Cross-entropy of the SNN's host logits against the float model's predictions."""
        logits = runtime.simulate(replace(low.artefact, layers=tuple(layers)), xe, timesteps).logits
        z = logits - logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))

    prev, low_cur = None, low
    for st in plan.spiking:
        name = plan.names[st.name]
        i = index[name]
        target = env[st.output]
        options = [(f"T-level x{f:g}", tl[st.output] * f) for f in FACTORS]
        if st.output in concat_fed:  # its λ is tied to the other branches of a concat: keep it
            options = [("concat branch", scales[st.output])]
        else:
            options.append((f"--norm {opts.norm}", base[st.output]))
        cap = clip_max(st)
        # keeping the layer as it stands (its current λ, bias uncorrected) costs nothing to score: it is
        # the network the previous layer's choice was scored on
        best = None if prev is None else (prev, "kept", scales[st.output], current[i], current[i], low_cur)
        for source, lam in options:
            lam = min(lam, cap) if cap is not None else lam
            lam = lam if lam > 0 else 1.0
            cand_low = lower(plan, spec, opts, {**scales, st.output: lam}, input_range, cache=cache)
            cand = cand_low.artefact.layers[i]
            rate, _ = measure(current[:i] + [cand], i, name, lam, target)
            fixed = corrected(cand, rate, lam, target)
            loss = score(current[:i] + [fixed] + list(cand_low.artefact.layers[i + 1:]))
            if best is None or loss < best[0] - 1e-12:
                best = (loss, source, lam, fixed, cand, cand_low)
        loss, source, lam, fixed, cand, low_k = best
        if source != "kept":
            for _ in range(ROUNDS - 1):  # the chosen one's remaining corrections, kept only if they help
                rate, _ = measure(current[:i] + [fixed], i, name, lam, target)
                again = corrected(fixed, rate, lam, target)
                rest = list(low_k.artefact.layers[i + 1:])
                loss2 = score(current[:i] + [again] + rest)
                if loss2 < loss:
                    fixed, loss = again, loss2
        _, err = measure(current[:i] + [fixed], i, name, lam, target)
        scales[st.output] = lam
        current = current[:i] + [fixed] + list(low_k.artefact.layers[i + 1:])
        prev, low_cur = loss, low_k
        shift = int(np.max(np.abs(np.asarray(fixed.neuron.bias) - np.asarray(cand.neuron.bias)))) if cand.neuron.bias else 0
        overrides[name] = (tuple(fixed.neuron.bias), fixed.neuron.v_init)
        choices.append(LayerChoice(layer=name, scale=lam, source=source, v_init=fixed.neuron.v_init, bias_shift=shift,
                                   error=err, loss=loss, candidates=len(options) + (i > 0)))
    return AutoCal(scales=scales, overrides=overrides, choices=choices, samples=n, timesteps=timesteps, cache=cache)


def _prefix(layers) -> tuple:
    """The layers up to one layer, without the synaptic convs (no neuron) of a later fused add."""
    read = {v for layer in layers for v in layer.inputs}
    return tuple(layer for layer in layers
                 if not (hasattr(layer, "neuron") and layer.neuron is None and layer.name not in read))


def _concat_fed(plan) -> set[str]:
    """Spiking stage outputs whose λ a concat ties to others (`normalize.unify_concat`)."""
    out: set[str] = set()
    roots: dict[str, set] = {plan.graph.inputs[0]: set()}
    for st in plan:
        if st.kind in ("avgpool", "flatten", "concat"):
            roots[st.output] = set().union(*(roots.get(v, set()) for v in st.inputs))
            if st.kind == "concat":
                out |= roots[st.output]
        else:
            roots[st.output] = {st.output}
    return out


def finish(low: Lowered, cal: AutoCal, timesteps: int) -> Lowered:
    """The lowered network with the chosen biases and initial membranes, and report rows that say so."""
    low.artefact = apply_overrides(low.artefact, cal.overrides)
    by_name = {c.layer: c for c in cal.choices}
    for rep in low.layers:
        c = by_name.get(rep.artefact_name)
        if c is None:
            continue
        rep.calibration = c.to_text()
        if rep.membrane_bound is not None:
            rep.membrane_bound += timesteps * c.bias_shift
    return low
