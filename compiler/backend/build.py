"""`snnc compile` as a library call: import → passes → check → calibrate → lower → emit.

Never emits an artefact that violates the spec: the constraint check runs first and a failing
report stops the build (`CompileResult.check.exit_code == 1`, no file written). Emission is atomic
(the runtime writes a temporary file and renames it), and the same inputs give a byte-identical
artefact (no timestamps, no absolute paths in the provenance).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from snnc.compiler import __version__
from snnc.compiler.calibrate import collect
from snnc.compiler.check import check_graph
from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError
from snnc.compiler.frontends import load_model
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.interpret import run as run_float
from snnc.compiler.lower import CompileOptions, Lowered, activation_values, input_quantization, lower, quantize_input
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import HardwareSpec
from snnc import runtime

GOLDEN_SAMPLES = 8
AGREEMENT_SAMPLES = 256
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
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.check.exit_code


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare(path: str | Path) -> Graph:
    graph = load_model(path)
    return frontend_pipeline(graph)


def calibrate(graph: Graph, spec: HardwareSpec, opts: CompileOptions, calib: Dataset,
              progress: Progress | None = None):
    """(activation statistics, input range) over the first `opts.calib_samples` calibration inputs.

    The input range (lo, hi, scale) comes from the data's range; the statistics are those of the
    network the chip sees, with inputs quantized as the chip quantizes them."""
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    wrap: Progress = progress or (lambda it, desc: it)

    def batches():
        for xb, _ in calib.batches(opts.batch_size, shape, limit=opts.calib_samples):
            yield xb

    dmin = min(float(b.min()) for b in batches())
    dmax = max(float(b.max()) for b in batches())
    input_range = input_quantization(spec, opts, dmin, dmax)
    qbatches = lambda: (quantize_input(b, *input_range) for b in batches())  # noqa: E731
    stats = collect(graph, activation_values(graph), qbatches, progress=lambda it: wrap(it, "calibrate"))
    return stats, input_range


def _worst_case_scales(graph: Graph, x_max: float) -> dict[str, float]:
    """Data-free λ_out: the largest value each layer can output for inputs up to x_max (never clips)."""
    from snnc.compiler.stages import plan_stages

    lam: dict[str, float] = {graph.inputs[0]: x_max}
    out: dict[str, float] = {}
    for st in plan_stages(graph):
        if st.kind in ("conv", "linear"):
            w = np.abs(st.node.params["weight"]).reshape(st.node.params["weight"].shape[0], -1)
            b = np.maximum(st.node.params.get("bias", np.zeros(w.shape[0])), 0)
            v = float((w.sum(axis=1) * lam[st.inputs[0]] + b).max())
            lam[st.output] = out[st.output] = v if v > 0 else 1.0
        elif st.kind == "add":
            lam[st.output] = out[st.output] = sum(lam[i] for i in st.inputs)
        else:
            lam[st.output] = lam[st.inputs[0]] if st.inputs else 1.0
    return out


def compile_graph(graph: Graph, spec: HardwareSpec, opts: CompileOptions, calib: Dataset | None, *,
                  out: str | Path | None = None, source_sha256: str | None = None,
                  progress: Progress | None = None) -> CompileResult:
    report = check_graph(graph, spec, opts.bits)
    result = CompileResult(check=report)
    if report.exit_code != 0:
        return result
    if opts.reset not in spec.reset_modes:
        raise SnncError(f"--reset {opts.reset}: the spec {spec.name} supports {', '.join(spec.reset_modes)}")
    if opts.v_init not in spec.initial_membrane:
        raise SnncError(f"--v-init {opts.v_init}: the spec {spec.name} supports {', '.join(spec.initial_membrane)}")
    if opts.input_encoding not in spec.input_encodings:
        raise SnncError(f"--input-encoding {opts.input_encoding}: the spec {spec.name} supports {', '.join(spec.input_encodings)}")
    sample_shape = tuple(graph.shape(graph.inputs[0])[1:])
    wrap: Progress = progress or (lambda it, desc: it)

    if calib is not None:
        stats, input_range = calibrate(graph, spec, opts, calib, progress=wrap)
        scales = None
    else:
        result.warnings.append(NO_CALIB_WARNING)
        input_range = input_quantization(spec, opts, 0.0, 1.0)
        stats = None
        scales = _worst_case_scales(graph, input_range[1] * input_range[2])
    if opts.norm == "spikenorm":
        if calib is None:
            raise SnncError("--norm spikenorm needs calibration data (--calib)")
        from snnc.compiler.spikenorm import spikenorm_scales

        scales = spikenorm_scales(graph, spec, opts, calib, input_range, stats)
    lowered = lower(graph, spec, opts, stats, input_range, scales)
    result.lowered = lowered
    result.warnings.extend(lowered.warnings)

    golden_x = _golden_inputs(calib, sample_shape, input_range, opts)
    art = lowered.artefact
    art = _with_provenance(art, spec, opts, source_sha256, calib, graph)
    art = runtime.make_golden(art, golden_x, opts.timesteps)
    result.artefact = art

    if calib is not None:
        n = min(AGREEMENT_SAMPLES, len(calib), opts.calib_samples)
        x = calib.take(n, sample_shape)
        xq = quantize_input(x, *input_range)
        ann = run_float(lowered.qann, xq)[graph.outputs[0]].argmax(axis=1)
        snn = runtime.simulate(art, x, opts.timesteps).predictions
        result.agreement = float(np.mean(ann == snn))
        result.agreement_samples = n
    if out is not None:
        runtime.save(art, out)
        result.out = Path(out)
    return result


def _golden_inputs(calib: Dataset | None, shape: tuple[int, ...], input_range: tuple[int, int, float], opts: CompileOptions) -> np.ndarray:
    lo, hi, s_in = input_range
    if calib is not None:
        x = calib.take(min(GOLDEN_SAMPLES, len(calib)), shape)
        return np.clip(np.rint(x / s_in), lo, hi).astype(np.int32)
    rng = np.random.default_rng(0)  # deterministic: the same inputs give the same artefact
    return rng.integers(max(lo, 0), hi + 1, size=(GOLDEN_SAMPLES,) + shape).astype(np.int32)


def _with_provenance(art, spec: HardwareSpec, opts: CompileOptions, source_sha256: str | None,
                     calib: Dataset | None, graph: Graph):
    from dataclasses import replace

    prov = {
        "snnc_version": __version__,
        "layer_names": dict(art.provenance.get("layer_names", {})),
        "source": {"name": Path(str(graph.meta.get("source", graph.name))).name, "sha256": source_sha256},
        "hardware_spec": {"name": spec.name, "revision": spec.revision, "sha256": spec.sha256},
        "options": opts.to_dict(),
        "calibration": None if calib is None else {
            "name": Path(calib.source).name,
            "sha256": file_sha256(calib.source) if Path(calib.source).exists() else None,
            "samples": min(len(calib), opts.calib_samples),
        },
    }
    return replace(art, provenance=prov)


def compile_model(model: str | Path, spec: HardwareSpec, opts: CompileOptions, calib: Dataset | None,
                  out: str | Path | None, progress: Progress | None = None) -> CompileResult:
    graph = prepare(model)
    return compile_graph(graph, spec, opts, calib, out=out, source_sha256=file_sha256(model), progress=progress)
