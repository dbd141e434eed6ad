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

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.backend.emit import EMITTERS, EmitContext
from snnc.compiler.backend.quantize import QuantizedWeights, quantize_weights
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


class QuantizeCache:
    """`quantize_weights` memoized on its arguments, the weights by their bytes (shape, dtype and a
    SHA-256 of the C-contiguous float64 array): it is a pure function, so a hit is its result bit
    for bit. Autocal lowers the network once per candidate scale of one layer; every other layer's
    normalized weights are then the same bytes, and are not quantized again. The integers are kept
    in the smallest signed dtype that holds them; a hit returns fresh int64 copies. At most
    `max_bytes` are kept (least recently used first out)."""

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes, self.bytes, self.hits, self.misses = int(max_bytes), 0, 0, 0
        self._store: OrderedDict = OrderedDict()

    def __call__(self, w, bits: int, encoding: str, *, per_channel: bool, theta_max: int) -> QuantizedWeights:
        a = np.asarray(w)
        if a.dtype != np.float64 or not a.flags.c_contiguous:  # only what the emitters pass: fresh float64 arrays
            return quantize_weights(w, bits, encoding, per_channel=per_channel, theta_max=theta_max)
        key = (a.shape, hashlib.sha256(memoryview(a).cast("B")).digest(), int(bits), encoding, bool(per_channel),
               int(theta_max))
        hit = self._store.get(key)
        if hit is not None:
            self._store.move_to_end(key)
            self.hits += 1
            q, theta, error = hit
            return QuantizedWeights(q=q.astype(np.int64), theta=theta.copy(), error=error)
        self.misses += 1
        qw = quantize_weights(a, bits, encoding, per_channel=per_channel, theta_max=theta_max)
        lo, hi = (int(qw.q.min()), int(qw.q.max())) if qw.q.size else (0, 0)
        q = qw.q.astype(next(t for t in (np.int8, np.int16, np.int32, np.int64)
                             if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max))
        self._store[key] = (q, qw.theta.copy(), qw.error)
        self.bytes += q.nbytes + qw.theta.nbytes
        while self.bytes > self.max_bytes and len(self._store) > 1:
            _, (oq, ot, _) = self._store.popitem(last=False)
            self.bytes -= oq.nbytes + ot.nbytes
        return qw


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
          input_range: tuple[int, int, float], *, cache: QuantizeCache | None = None) -> Lowered:
    """Build the artefact (no golden vectors yet) and the quantized ANN; `scales` gives λ_out of
    every spiking stage (`normalize.normalize`). `cache` memoizes the weight quantization across
    lowerings of the same plan (the same result, `QuantizeCache`)."""
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
                      smax={x: max(abs(lo), abs(hi)) if opts.input_encoding == "current" else 1},
                      quantize=cache if cache is not None else quantize_weights)
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
