"""Lower a stage plan to the integer spiking network of docs/semantics.md.

For each spiking stage with float weights W, bias b, input scale λ_in and output scale λ_out
(from the normalizer), the normalized layer is W' = W λ_in/λ_out, b' = b/λ_out (DESIGN §4).
`quantize` turns W' into integers q with an integer threshold θ (per tensor or per channel), and
the bias into rint(b' θ). The same numbers also build the *quantized ANN*: the float graph with
weights q/θ · λ_out/λ_in, biases bias_int/θ · λ_out and every ReLU clipped at λ_out, which is what
the SNN approximates and what compile's agreement check compares against. Each stage kind has
its emitter (`emit.EMITTERS`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.backend.emit import EMITTERS, EmitContext
from snnc.compiler.backend.layer_report import LayerReport
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import StagePlan
from snnc.compiler.backend.scales import input_unit
from snnc.compiler.data import model_layout
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph
from snnc.hwspec import HardwareSpec
from snnc.runtime import model as rt


@dataclass
class Lowered:
    artefact: rt.Artefact
    qann: Graph
    input_scale: float
    layers: list[LayerReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plan: StagePlan | None = None  # the stage plan it was lowered from (on its spec)


def input_quantization(spec: HardwareSpec, opts: CompileOptions, data_min: float, data_max: float) -> tuple[int, int, float]:
    """(lo, hi, scale) of the integer input: unsigned when the data is non-negative."""
    b = spec.input_bits
    lo, hi = (0, 2**b - 1) if data_min >= 0 else (-(2 ** (b - 1)), 2 ** (b - 1) - 1)
    if opts.input_encoding != "current" and lo < 0:
        raise SnncError(f"{opts.input_encoding} input encoding needs non-negative inputs; use --input-encoding current")
    if opts.norm == "spikenorm" and opts.input_encoding in ("population", "ttfs"):
        raise SnncError(f"--norm spikenorm simulates current or rate inputs only, not {opts.input_encoding}; "
                        "use --norm percentile or max")
    if opts.input_scale is not None:
        return lo, hi, float(opts.input_scale)
    amax = max(abs(data_min), abs(data_max))
    return lo, hi, (amax / hi if amax > 0 else 1.0)


def lower(plan: StagePlan, spec: HardwareSpec, opts: CompileOptions, scales: dict[str, float],
          input_range: tuple[int, int, float]) -> Lowered:
    """Build the artefact (no golden vectors yet) and the quantized ANN; `scales` gives λ_out of
    every spiking stage (`normalize.normalize`)."""
    graph = plan.graph
    lo, hi, s_in = input_range
    x = graph.inputs[0]
    qann = graph.copy()
    if opts.input_encoding == "population":  # the emitters widen conv / linear weights over the P neurons only
        bad = [st.name for st in plan if x in st.inputs and st.kind not in ("conv", "linear")]
        if bad:
            raise SnncError(f"population input encoding: {', '.join(bad)} reads the input and is not a conv or linear "
                            "layer (only those take the encoded C*P channels); use --input-encoding rate")
    ctx = EmitContext(plan=plan, spec=spec, opts=opts, scales=scales, qnodes={n.name: n for n in qann.nodes},
                      lam={x: input_unit(opts.input_encoding, hi, s_in, population=opts.input_population,
                                         timesteps=opts.timesteps)}, layer_of={x: "input"},
                      smax={x: max(abs(lo), abs(hi)) if opts.input_encoding == "current" else 1})
    mem_max = 2 ** (spec.membrane_bits - 1) - 1
    layers, reports = [], []
    for st in plan:
        name = plan.names[st.name]
        rep = LayerReport(name=st.name, artefact_name=name, kind=st.kind,
                          placement="host" if st.kind in ("host_linear", "host_op") else "core")
        layer, lam_out = EMITTERS[st.kind](ctx, st, name, rep)
        if rep.membrane_bound is not None:
            rep.saturation_possible = rep.membrane_bound > mem_max
            if rep.saturation_possible:
                ctx.warnings.append(f"layer {name}: the membrane can reach {rep.membrane_bound} within T={opts.timesteps}, "
                                    f"beyond the {spec.membrane_bits}-bit range (it {spec.overflow}s)")
        layers.append(layer)
        reports.append(rep)
        ctx.lam[st.output] = lam_out
        ctx.layer_of[st.output] = name
        ctx.smax[st.output] = 1

    artefact = rt.Artefact(
        input=rt.InputSpec(shape=tuple(graph.shape(x)[1:]), encoding=opts.input_encoding, lo=lo, hi=hi, scale=s_in,
                           layout=model_layout(graph),  # NHWC for a model whose input transpose moved to the host
                           **encoding_fields(opts)),
        layers=tuple(layers),
        target=rt.Target(**spec.target_block()),
        hardware_spec=spec.to_json_dict(),
        provenance={"layer_names": {v: k for k, v in plan.names.items()}},
    )
    qann.meta["input_quantization"] = {"lo": lo, "hi": hi, "scale": s_in}  # the chip's integer input
    return Lowered(artefact=artefact, qann=qann, input_scale=s_in, layers=reports, warnings=ctx.warnings, plan=plan)


def encoding_fields(opts: CompileOptions) -> dict:
    """input.seed / population / window of the artefact: the chosen encoding's own field only
    (docs/semantics.md section 5); a ttfs window defaults to the timesteps T."""
    if opts.input_encoding == "poisson":
        return {"seed": opts.input_seed}
    if opts.input_encoding == "population":
        return {"population": opts.input_population}
    if opts.input_encoding == "ttfs":
        return {"window": opts.input_window or opts.timesteps}
    return {}


def quantize_input(x: np.ndarray, lo: int, hi: int, s_in: float) -> np.ndarray:
    """The input the chip sees, in float: s_in * clip(rint(x / s_in), lo, hi)."""
    return s_in * np.clip(np.rint(np.asarray(x, dtype=np.float64) / s_in), lo, hi)
