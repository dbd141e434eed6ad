"""The named steps of a compilation, FINN-style: each a small function of the `BuildState`.

    check      the constraint check (a failing report stops the build: nothing is written)
    plan       the stage plan (placement from the check's rules; verified)
    calibrate  input range and activation statistics from the calibration data
    normalize  λ_out of every spiking stage (a registered normalizer)
    lower      quantize and emit the artefact's layers and the quantized ANN
    golden     provenance and golden vectors
    agreement  the SNN's predictions against the quantized ANN's on calibration inputs
    write      the artefact file (atomic)

`run_steps` runs them in order, calls each hook after each step with (name, state), and writes
`NN_name.txt` (the state's summary) to `dump_dir` when one is given, like the pass manager does.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from snnc import runtime
from snnc.compiler import __version__
from snnc.compiler.backend.calibrate import ActivationStats, collect
from snnc.compiler.backend.lower import Lowered, input_quantization, lower, quantize_input
from snnc.compiler.backend.normalize import NormInputs, normalize
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import StagePlan, plan_stages
from snnc.compiler.backend.scales import spiking_outputs
from snnc.compiler.check import check_graph
from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.interpret import run as run_float
from snnc.runtime.encode import to_external
from snnc.runtime.manifest import count_dtype
from snnc.runtime.model import WEIGHTED
from snnc.runtime.packing import packed_size
from snnc.runtime.validate import carries_spikes
from snnc.hwspec import HardwareSpec

GOLDEN_SAMPLES = 8
# Golden vectors of a large network (`golden_layout`): stored in full when the 8 samples' inputs and
# counts take at most GOLDEN_FULL_BYTES; else compact: as many samples as take at most
# GOLDEN_INPUT_SHARE of the packed weights' bytes (at least 1), and counts in full within
# GOLDEN_SHARE of them all told (the output layer's always), the other layers' as SHA-256 digests.
GOLDEN_FULL_BYTES = 1 << 20
GOLDEN_SHARE = 0.01
GOLDEN_INPUT_SHARE = 0.005
AGREEMENT_SAMPLES = 256
# The agreement's SNN simulation is bounded by a work budget in MAC-timesteps (T x dense MACs per
# image x samples): a ResNet-18 at 32x32 (0.48 GMAC per image) at T=16 gets 35 samples instead of
# 256; an MNIST LeNet or VGG (< 5 MMAC) keeps 256 at any T up to about 250 (`agreement_samples`).
AGREEMENT_WORK = 1 << 38
AGREEMENT_MIN_SAMPLES = 32
AGREEMENT_WARNING = 0.9  # warn when the SNN matches the quantized ANN but not the float model
DIAGNOSE_BELOW = 0.97  # below this agreement with the quantized ANN, say where the SNN departs from it
DIAGNOSIS_SAMPLES = 64
NO_CALIB_WARNING = (
    "no calibration data (--calib): activation scales fall back to worst-case bounds from the weights, "
    "so neurons fire rarely and accuracy can drop by tens of points; pass --calib with a few hundred "
    "representative inputs"
)

Progress = Callable[[Iterator, str], Iterator]


@dataclass
class CompileResult:
    check: Any  # CheckReport
    lowered: Lowered | None = None
    artefact: Any = None  # runtime.Artefact with golden vectors
    out: Path | None = None
    agreement: float | None = None
    agreement_samples: int = 0
    float_agreement: float | None = None  # the SNN's predictions against the float model's
    warnings: list[str] = field(default_factory=list)
    normalizer: str | None = None

    @property
    def exit_code(self) -> int:
        return self.check.exit_code


@dataclass
class BuildState:
    graph: Graph
    spec: HardwareSpec
    opts: CompileOptions
    calib: Dataset | None
    out: Path | None = None
    source_sha256: str | None = None
    progress: Progress = lambda it, desc: it  # noqa: E731
    result: CompileResult | None = None
    plan: StagePlan | None = None
    stats: dict[str, ActivationStats] | None = None
    input_range: tuple[int, int, float] | None = None
    scales: dict[str, float] | None = None
    rate_errors: dict[str, float] | None = None  # bias correction: mean |rate error| per layer before it
    autocal: Any = None  # autocal.AutoCal: what --calibration auto chose
    done: bool = False  # a step ended the build (the check failed)

    def __post_init__(self) -> None:
        if self.calib is not None:  # its samples are in the model's input layout (NHWC for a Keras model)
            self.calib = self.calib.for_model(self.graph)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.graph.shape(self.graph.inputs[0])[1:])

    def summary(self) -> str:
        lines = [f"graph {self.graph.name}: {len(self.graph.nodes)} nodes; spec {self.spec.name}; options {self.opts.to_dict()}"]
        if self.result is not None:
            lines.append(f"check: exit {self.result.check.exit_code}, {len(self.result.check.violations)} finding(s)")
        if self.plan is not None:
            lines += [f"stage {self.plan.names[s.name]}: {s.kind} {s.inputs} -> {s.output}" for s in self.plan]
        if self.input_range is not None:
            lines.append(f"input: lo {self.input_range[0]} hi {self.input_range[1]} scale {self.input_range[2]!r}")
        if self.scales is not None:
            lines += [f"lambda {k}: {v!r}" for k, v in self.scales.items()]
        if self.result is not None and self.result.agreement is not None:
            lines.append(f"agreement: {self.result.agreement} on {self.result.agreement_samples}")
        return "\n".join(lines)


Step = Callable[[BuildState], None]
Hook = Callable[[str, BuildState], None]


def step_check(s: BuildState) -> None:
    from dataclasses import replace as _replace

    from snnc.compiler.check import resolve_layer_bits

    if s.opts.layer_bits:  # --bits-for names as the graph's node names (an artefact-style name is accepted)
        s.opts = _replace(s.opts, layer_bits=tuple(resolve_layer_bits(s.graph, s.opts.layer_bits).items()))
    from snnc.compiler.backend.substitute import substitute

    s.graph, notes = substitute(s.graph, s.opts)  # --maxpool avgpool: explicit and reported
    s.result = CompileResult(check=check_graph(s.graph, s.spec, s.opts.bits, layer_bits=s.opts.layer_bits))
    s.result.warnings.extend(notes + s.result.check.warning_lines())  # one list of warnings for every command
    if s.result.exit_code != 0:
        s.done = True
        return
    for opt, allowed in (("reset", s.spec.reset_modes), ("v_init", s.spec.initial_membrane),
                         ("input_encoding", s.spec.input_encodings)):
        value = getattr(s.opts, opt)
        if value not in allowed:
            raise SnncError(f"--{opt.replace('_', '-')} {value}: the spec {s.spec.name} supports {', '.join(allowed)}")
    if s.opts.norm == "spikenorm" and s.calib is None:
        raise SnncError("--norm spikenorm needs calibration data (--calib)")


def step_plan(s: BuildState) -> None:
    s.plan = plan_stages(s.graph, s.spec)


def calibrate(graph: Graph, spec: HardwareSpec, opts: CompileOptions, calib: Dataset,
              progress: Progress | None = None, plan: StagePlan | None = None):
    """(activation statistics, input range) over the first `opts.calib_samples` calibration inputs.

    The input range (lo, hi, scale) comes from the data's range; the statistics are those of the
    network the chip sees, with inputs quantized as the chip quantizes them."""
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    calib = calib.for_model(graph)
    wrap: Progress = progress or (lambda it, desc: it)

    def batches():
        for xb, _ in calib.batches(opts.batch_size, shape, limit=opts.calib_samples):
            yield xb

    dmin = min(float(b.min()) for b in batches())
    dmax = max(float(b.max()) for b in batches())
    input_range = input_quantization(spec, opts, dmin, dmax)
    qbatches = lambda: (quantize_input(b, *input_range) for b in batches())  # noqa: E731
    values = spiking_outputs(plan if plan is not None else plan_stages(graph, spec))
    stats = collect(graph, values, qbatches, progress=lambda it: wrap(it, "calibrate"))
    return stats, input_range


def step_calibrate(s: BuildState) -> None:
    if s.calib is not None:
        s.stats, s.input_range = calibrate(s.graph, s.spec, s.opts, s.calib, s.progress, s.plan)
        from snnc.compiler.backend.rounding import collect_moments, gptq_stages

        s.plan.moments = collect_moments(s.graph, gptq_stages(s.plan, s.opts, True), s.calib.for_model(s.graph),
                                         s.sample_shape, s.input_range, limit=s.opts.calib_samples)  # --rounding
    else:
        s.result.warnings.append(NO_CALIB_WARNING)
        s.input_range = input_quantization(s.spec, s.opts, 0.0, 1.0)


def step_normalize(s: BuildState) -> None:
    if s.opts.calibration == "auto" and s.calib is None:
        s.opts = replace(s.opts, calibration="off")  # nothing to calibrate on: recorded as what happened
    if s.opts.calibration == "auto":
        from snnc.compiler.backend.autocal import autocalibrate

        if s.spec.per_channel_threshold and not s.opts.per_channel:
            s.opts = replace(s.opts, per_channel=True)  # auto: one threshold per channel where the spec has them
        s.autocal = autocalibrate(s.plan, s.spec, s.opts, s.stats, s.input_range, s.calib, s.graph, s.opts.timesteps)
        s.result.normalizer, s.scales = "auto", s.autocal.scales
        return
    s.result.normalizer, s.scales = normalize(NormInputs(s.plan, s.spec, s.opts, s.stats, s.input_range, s.calib))


def step_lower(s: BuildState) -> None:
    cache = s.autocal.cache if s.autocal is not None else None  # the search lowered these scales already
    s.result.lowered = lower(s.plan, s.spec, s.opts, s.scales, s.input_range, cache=cache)
    if s.autocal is not None:
        from snnc.compiler.backend.autocal import finish

        s.autocal.cache = None  # its memory is not needed after this

        finish(s.result.lowered, s.autocal, s.opts.timesteps)
    s.result.warnings.extend(s.result.lowered.warnings)


def step_correct(s: BuildState) -> None:
    if not s.opts.bias_correction or s.calib is None or s.autocal is not None:
        return  # with --calibration auto the biases are already corrected, layer by layer
    from snnc.compiler.backend.correct import SAMPLES, correct_biases

    low = s.result.lowered
    x = s.calib.take(min(SAMPLES, len(s.calib), s.opts.calib_samples), s.sample_shape)
    low.artefact, s.rate_errors = correct_biases(low.artefact, s.plan, low.qann, s.scales, s.input_range, x,
                                                 s.opts.timesteps, s.spec.bias_bits)


def step_golden(s: BuildState) -> None:
    art = _with_provenance(s.result.lowered.artefact, s)
    samples, budget = golden_layout(art, s.opts.timesteps, s.opts.golden_counts)
    s.result.artefact = runtime.make_golden(art, _golden_inputs(s, samples), s.opts.timesteps, counts_budget=budget)


def golden_layout(art, timesteps: int, mode: str = "auto") -> tuple[int, int | None]:
    """(golden samples, `make_golden`'s counts_budget): in full (None) for mode "full" or when the
    golden vectors of GOLDEN_SAMPLES samples take at most GOLDEN_FULL_BYTES, else compact (above)."""
    sample = 4 * int(np.prod(art.input.external_shape))  # one float32 golden input
    spiking = carries_spikes(art)
    per_sample = sample + count_dtype(timesteps).itemsize * sum(
        int(np.prod(layer.output_shape)) for layer in art.core_layers if spiking[layer.name])
    if mode == "full" or GOLDEN_SAMPLES * per_sample <= GOLDEN_FULL_BYTES:
        return GOLDEN_SAMPLES, None
    weights = sum(packed_size(layer.weight.size, layer.bits) for layer in art.core_layers
                  if isinstance(layer, WEIGHTED))
    samples = max(1, min(GOLDEN_SAMPLES, int(weights * GOLDEN_INPUT_SHARE) // sample))
    return samples, max(0, int(weights * GOLDEN_SHARE) - samples * sample)


def step_agreement(s: BuildState) -> None:
    if s.calib is None:
        return
    n = agreement_samples(s.result.artefact, s.opts.timesteps, min(len(s.calib), s.opts.calib_samples))
    x = s.calib.take(n, s.sample_shape)
    xq = quantize_input(x, *s.input_range)
    out = s.graph.outputs[0]
    ann = run_float(s.result.lowered.qann, xq)[out].argmax(axis=1)
    ref = run_float(s.graph, x)[out].argmax(axis=1)
    snn = _snn_predictions(s.result.artefact, to_external(s.result.artefact.input, x), s.opts.timesteps)
    s.result.agreement = float(np.mean(ann == snn))
    s.result.float_agreement = float(np.mean(ref == snn))
    s.result.agreement_samples = n
    if s.result.agreement < DIAGNOSE_BELOW:
        from snnc.compiler.evaluate import ann_layer_values, diagnose, finetune_blocker, layer_correlation

        art = s.result.artefact
        corr = layer_correlation(art, s.result.lowered.qann, ann_layer_values(s.graph, s.result.lowered),
                                 x[:min(DIAGNOSIS_SAMPLES, n)], s.opts.timesteps)
        d = diagnose(corr, [layer.name for layer in art.layers], s.opts.timesteps, finetune_blocked=finetune_blocker(art))
        if d is not None:
            s.result.warnings.append(f"agreement {s.result.agreement:.1%}: {d.to_text()}")
    if s.result.float_agreement < AGREEMENT_WARNING and s.result.agreement >= AGREEMENT_WARNING:
        s.result.warnings.append(
            f"the SNN agrees with the quantized ANN on {s.result.agreement:.1%} of {n} calibration inputs but with the "
            f"float model on only {s.result.float_agreement:.1%}: the quantization itself loses the model "
            "(see the layer warnings; try --per-channel, more bits, another --percentile, or snnc finetune)")


def dense_macs(art) -> int:
    """The dense MACs of one image through the artefact's conv and linear core layers
    (`energy.dense_ops`: every input active once), at least 1."""
    from snnc.compiler.energy import dense_ops, input_shapes

    shapes = input_shapes(art)
    total = 0
    for layer in art.core_layers:
        if layer.kind in ("conv", "linear"):
            total += dense_ops(layer, [shapes[i] for i in layer.inputs])[0]
    return max(1, total)


def agreement_samples(art, timesteps: int, available: int) -> int:
    """How many calibration inputs the agreement step simulates: AGREEMENT_SAMPLES, fewer when
    T x MACs per image x samples would pass AGREEMENT_WORK, never fewer than AGREEMENT_MIN_SAMPLES
    (nor more than `available`)."""
    budget = AGREEMENT_WORK // (max(1, int(timesteps)) * dense_macs(art))
    return max(1, min(available, AGREEMENT_SAMPLES, max(AGREEMENT_MIN_SAMPLES, budget)))


def _snn_predictions(art, x: np.ndarray, timesteps: int) -> np.ndarray:
    """The SNN's predictions on x; those of the leading inputs that are the golden inputs come from
    the golden vectors (the same simulation: a sample's result does not depend on its batch)."""
    g = art.golden
    k = 0 if g is None or g.predictions is None or g.timesteps != timesteps else min(len(g.inputs), len(x))
    if k and not (g.inputs.shape[1:] == x.shape[1:] and g.inputs.dtype.kind == "f" and x.dtype.kind == "f"
                  and np.array_equal(np.asarray(g.inputs[:k], dtype=np.float64), np.asarray(x[:k], dtype=np.float64))):
        k = 0  # the runtime quantizes float64(x): equal float values give equal results
    head = np.asarray(g.predictions[:k], dtype=np.int64) if k else np.zeros(0, dtype=np.int64)
    if k == len(x):
        return head
    rest = runtime.simulate(art, x[k:], timesteps).predictions
    return np.concatenate([head, np.asarray(rest, dtype=np.int64)])


def step_write(s: BuildState) -> None:
    if s.out is not None:
        runtime.save(s.result.artefact, s.out)
        s.result.out = s.out


STEPS: list[tuple[str, Step]] = [
    ("check", step_check), ("plan", step_plan), ("calibrate", step_calibrate), ("normalize", step_normalize),
    ("lower", step_lower), ("correct", step_correct), ("golden", step_golden), ("agreement", step_agreement), ("write", step_write),
]


def run_steps(state: BuildState, steps: list[tuple[str, Step]] | None = None, *,
              hooks: list[Hook] | None = None, dump_dir: str | Path | None = None) -> BuildState:
    for i, (name, fn) in enumerate(steps or STEPS):
        fn(state)
        for hook in hooks or ():
            hook(name, state)
        if dump_dir is not None:
            d = Path(dump_dir)
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i:02d}_{name}.txt").write_text(state.summary() + "\n", encoding="utf-8")
        if state.done:
            break
    return state


def _golden_inputs(s: BuildState, samples: int = GOLDEN_SAMPLES) -> np.ndarray:
    """Float inputs as the model takes them (float32, in the artefact's input layout), so that
    `verify` replays the input quantization too: calibration samples, or (without calibration
    data) deterministic random values over the input range."""
    lo, hi, s_in = s.input_range
    if s.calib is not None:
        x = s.calib.take(min(samples, len(s.calib)), s.sample_shape).astype(np.float32)
    else:
        rng = np.random.default_rng(0)  # deterministic: the same inputs give the same artefact
        x = rng.uniform(max(lo, 0) * s_in, hi * s_in, size=(samples,) + s.sample_shape).astype(np.float32)
    return np.ascontiguousarray(to_external(s.result.lowered.artefact.input, x))  # NCHW -> NHWC when the model takes NHWC


def _with_provenance(art, s: BuildState):
    from snnc.compiler.backend.build import file_sha256

    prov = {
        "snnc_version": __version__,
        "layer_names": dict(art.provenance.get("layer_names", {})),
        "source": {"name": Path(str(s.graph.meta.get("source", s.graph.name))).name, "sha256": s.source_sha256},
        "hardware_spec": {"name": s.spec.name, "revision": s.spec.revision, "sha256": s.spec.sha256},
        "options": s.opts.to_dict(),
        "calibration": None if s.calib is None else {
            "name": Path(s.calib.source).name,
            "sha256": file_sha256(s.calib.source) if Path(s.calib.source).exists() else None,
            "samples": min(len(s.calib), s.opts.calib_samples),
        },
    }
    if s.autocal is not None:  # the choices, so that the compile can be reproduced and audited
        prov["autocal"] = s.autocal.provenance()
    if s.plan is not None and s.plan.moments:  # --rounding: which layers GPTQ rounded, from how many inputs
        prov["rounding"] = {"method": "gptq", "layers": sorted(s.plan.names[k] for k in s.plan.moments),
                            "samples": next(iter(s.plan.moments.values())).samples}
    return replace(art, provenance=prov)
