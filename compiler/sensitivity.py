"""`snnc sensitivity`: which layer costs the accuracy — per core conv/linear layer, and per width.

Two measurements on labelled data (docs/fit.md says exactly what each one is):

- **Width sensitivity** (quantized ANN): the float model in which *only* layer L is replaced by
  its quantized-ANN form at width b — the integer weights and bias of `snnc compile` (same λ,
  threshold and quantizer, from `lower`), divided back to float, with its activation clipped at
  λ_out — every other layer float. Accuracy against the labels and agreement with the float
  model's predictions.
- **Spiking sensitivity** (SNN prefix): the bit-exact SNN (`runtime.simulate`, every layer at
  the reference width R = max(--bits-list)) at T steps, read up to and including layer L: the
  float model continues from the firing rates (count / T · λ) of every spiking layer up to L,
  in the artefact's order. The accuracy lost from the previous conv/linear layer's prefix to L's
  is what spiking costs at L (the pools between them included). The last layer's prefix is the
  whole SNN feeding the host layer (as the float model computes it).

Both reuse the compiler's own code: the build steps up to `lower` (λ from the calibration data
by the chosen normalizer), `lower` at each width for the quantized layers, the float
interpreter (`ir.interpret.run`, re-running only the nodes downstream of a change) and the
runtime simulator. Widths are simulated whether or not the spec lets a layer take them (the
`fits` column says which do): nothing is written.

    report = sensitivity(graph, spec, data, calib, bits_list=(1, 2, 3, 4), timesteps=16)
    report.to_text(); report.to_dict(); SensitivityReport.from_dict(d)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np

from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.interpret import run as run_float
from snnc.hwspec import HardwareSpec

BATCH = 100
Progress = Callable[[Iterator, str], Iterator]


@dataclass
class Score:
    """Correct predictions and agreements with the float model over `samples`."""

    accuracy: float | None  # None without labels
    agreement: float

    def value(self, metric: str) -> float:
        return self.agreement if metric == "agreement" else float(self.accuracy)


@dataclass
class LayerSensitivity:
    layer: str  # the model's node name (what --bits-for takes)
    artefact_name: str
    op: str  # conv | linear
    weights: int
    fan_in: int
    fits: list[int]  # widths of the spec at which its synapse row fits
    widths: dict[int, Score] = field(default_factory=dict)  # only this layer at width b, the others float
    weight_error: dict[int, float] = field(default_factory=dict)  # relative L2 weight-quantization error at b
    snn_prefix: Score | None = None  # the SNN up to and including this layer, float model after it
    snn_cost: float | None = None  # accuracy (agreement without labels) lost by spiking at this layer


@dataclass
class SensitivityReport:
    model: str
    data: str
    samples: int
    timesteps: int
    reference_bits: int
    bits_list: list[int]
    spec: str
    labels: bool
    float_accuracy: float | None
    qann: Score  # every layer at the reference width
    snn: Score  # the whole SNN at the reference width, T steps
    layers: list[LayerSensitivity] = field(default_factory=list)
    calibration: str = ""
    command: str | None = None

    @property
    def metric(self) -> str:
        return "accuracy" if self.labels else "agreement"

    def drops(self, bits: int) -> dict[str, float]:
        """Per layer: float accuracy (1 for agreement) minus the accuracy with only it at `bits`."""
        base = self.float_accuracy if self.labels else 1.0
        return {ls.layer: base - ls.widths[bits].value(self.metric) for ls in self.layers if bits in ls.widths}

    def most_sensitive(self, bits: int) -> str:
        d = self.drops(bits)
        return max(d, key=d.get)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SensitivityReport":
        def score(s):
            return None if s is None else Score(**s)

        layers = [LayerSensitivity(**{**ls, "widths": {int(b): score(s) for b, s in ls["widths"].items()},
                                      "weight_error": {int(b): e for b, e in ls["weight_error"].items()},
                                      "snn_prefix": score(ls["snn_prefix"])}) for ls in d["layers"]]
        return cls(**{**d, "qann": score(d["qann"]), "snn": score(d["snn"]), "layers": layers})

    def to_text(self) -> str:
        pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
        out = [f"sensitivity of {self.model} on {self.data}: {self.samples} samples"
               + ("" if self.labels else " (no labels: agreement with the float model only)"),
               f"calibration: {self.calibration}; spec {self.spec}",
               f"float model: accuracy {pct(self.float_accuracy)}%",
               f"every layer at {self.reference_bits} bits: quantized ANN {pct(self.qann.accuracy)}% "
               f"(agreement {pct(self.qann.agreement)}%), SNN at T={self.timesteps} {pct(self.snn.accuracy)}% "
               f"(agreement {pct(self.snn.agreement)}%)", ""]
        metrics = (("accuracy", "accuracy (%)"), ("agreement", "agreement with the float model (%)"))
        for metric, title in metrics if self.labels else metrics[1:]:
            get = (lambda s: s.accuracy) if metric == "accuracy" else (lambda s: s.agreement)  # noqa: E731
            out.append(f"{title}: only the layer at the width (others float) | SNN up to the layer "
                       f"(T={self.timesteps}, {self.reference_bits} bits)")
            head = ["layer", "op", "weights", "fits"] + [f"{b}b" for b in self.bits_list] + ["| SNN<=L", "spike cost"]
            rows = [head]
            prev = self.float_accuracy if metric == "accuracy" else 1.0
            for ls in self.layers:
                fits = ",".join(map(str, ls.fits)) or "none"
                cells = [pct(get(ls.widths[b])) if b in ls.widths else "-" for b in self.bits_list]
                prefix, cost = "-", "-"
                if ls.snn_prefix is not None:
                    prefix, cost = pct(get(ls.snn_prefix)), f"{100 * (prev - get(ls.snn_prefix)):+.1f}"
                    prev = get(ls.snn_prefix)
                rows.append([ls.layer, ls.op, f"{ls.weights:,}", fits] + cells + ["| " + prefix, cost])
            widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
            out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows] + [""]
        lo = min(self.bits_list)
        out.append(f"most sensitive at {lo} bits: {self.most_sensitive(lo)} "
                   f"(drop {100 * self.drops(lo)[self.most_sensitive(lo)]:.1f} points of {self.metric})")
        spiking = [ls for ls in self.layers if ls.snn_cost is not None]
        if spiking:
            worst = max(spiking, key=lambda ls: ls.snn_cost)
            out.append(f"largest spiking cost: {worst.layer} ({100 * worst.snn_cost:+.1f} points of {self.metric} "
                       f"from the previous layer's SNN prefix)")
        if self.command:
            out.append(f"command: {self.command}")
        return "\n".join(out)


# -- the measurement ----------------------------------------------------------------------------
def prepare_lowering(graph: Graph, spec: HardwareSpec, opts: CompileOptions, calib: Dataset | None,
                     progress: Progress | None = None):
    """The build state after the back end's steps up to `lower` (and bias correction, when asked),
    at `opts` — without the check, so that a model that does not fit at `opts.bits` can be measured.
    λ is the `--norm` normalizer's: an automatic calibration option, where compile has one, is
    turned off (it chooses scales per T by simulating candidates; here every width is lowered
    with the same λ so that the layers' numbers compare). Each width's weights are rounded as
    compile rounds them under `opts` (`--rounding auto`: GPTQ at 1-2 bits under --calibration auto
    with data): `width_rounding(state)` gives the rounding per width."""
    from snnc.compiler.backend.rounding import collect_moments, gptq_stages, uses_gptq
    from snnc.compiler.backend.steps import STEPS, BuildState, CompileResult
    from snnc.compiler.backend.substitute import substitute
    from snnc.runtime.packing import MAX_WEIGHT_BITS

    rounding = {b: "gptq" if uses_gptq(opts, calib is not None, b) else "nearest" for b in range(1, MAX_WEIGHT_BITS + 1)}
    # λ of --norm: a simulated per-T choice is not measured here; the rounding is fixed per width above
    opts = replace(opts, calibration="off", rounding=rounding[opts.bits])
    state = BuildState(graph=graph, spec=spec, opts=opts, calib=calib, progress=progress or (lambda it, desc: it))
    state.graph, notes = substitute(state.graph, state.opts)
    state.result = CompileResult(check=None, warnings=list(notes))
    for name, fn in STEPS:
        if name in ("check", "golden", "agreement", "write"):
            continue
        fn(state)
    moments = state.plan.moments
    if not moments and "gptq" in rounding.values() and state.calib is not None:
        # another width is rounded by GPTQ: the input moments the base width did not need
        moments = collect_moments(state.graph, gptq_stages(state.plan, replace(opts, rounding="gptq"), True),
                                  state.calib, state.sample_shape, state.input_range, limit=opts.calib_samples)
    state.width_rounding = (rounding, moments)  # type: ignore[attr-defined]
    return state


def width_moments(state, bits: int) -> dict:
    """The input moments a lowering at `bits` rounds with (`emit.quantize_layer` uses GPTQ exactly
    where a stage has them): all of them for a GPTQ width, none for a nearest one."""
    rounding, moments = getattr(state, "width_rounding", ({}, state.plan.moments))
    return moments if rounding.get(bits, "gptq" if state.plan.moments else "nearest") == "gptq" else {}


def core_layers(plan) -> list:
    """The conv/linear stages on the core, in plan order."""
    return [st for st in plan if st.kind in ("conv", "linear")]


def rerun(graph: Graph, env: dict[str, np.ndarray], *, nodes: dict[str, Node] | None = None,
          values: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The graph's output when the nodes in `nodes` (by name) are replaced and the values in
    `values` are given instead of computed: only the nodes downstream of a change run again (by
    the float interpreter); the rest is read from `env`, a full run of the unchanged graph."""
    nodes, values = nodes or {}, values or {}
    changed = set(values)
    todo = []
    for n in graph.nodes:
        if n.outputs[0] in values:
            continue
        if n.name in nodes or any(i in changed for i in n.inputs):
            todo.append(nodes.get(n.name, n))
            changed.add(n.outputs[0])
    out = graph.outputs[0]
    if out not in changed:
        return env[out]
    sub = Graph(name=graph.name, inputs=list(graph.inputs), outputs=[out], nodes=todo, values=graph.values)
    return run_float(sub, {**env, **values})[out]


@dataclass
class _Tally:
    samples: int = 0
    correct: int = 0
    agree: int = 0

    def add(self, pred: np.ndarray, y: np.ndarray | None, ref: np.ndarray) -> None:
        self.samples += len(pred)
        self.correct += 0 if y is None else int((pred == y).sum())
        self.agree += int((pred == ref).sum())

    def score(self, labels: bool) -> Score:
        n = max(self.samples, 1)
        return Score(self.correct / n if labels else None, self.agree / n)


def width_variants(state, widths: dict[str, Sequence[int]]) -> tuple[dict[tuple[str, int], dict[str, Node]],
                                                                   dict[tuple[str, int], float]]:
    """(layer, b) -> the replacement nodes (the layer and its activation, as the quantized ANN at
    width b has them), and (layer, b) -> the layer's weight error; one `lower` per width."""
    from snnc.compiler.backend.lower import lower

    stages = {st.name: st for st in core_layers(state.plan)}
    variants, errors = {}, {}
    base = state.plan.moments
    for b in sorted({b for bs in widths.values() for b in bs}):
        state.plan.moments = width_moments(state, b)
        try:
            low = lower(state.plan, state.spec, replace(state.opts, bits=b, layer_bits=()), state.scales, state.input_range)
        finally:
            state.plan.moments = base
        q = {n.name: n for n in low.qann.nodes}
        rep = {r.name: r for r in low.layers}
        for layer, bs in widths.items():
            if b in bs:
                st = stages[layer]
                variants[(layer, b)] = {st.name: q[st.name], st.act.name: q[st.act.name]}
                errors[(layer, b)] = float(rep[st.name].weight_error)
    return variants, errors


def score_variants(graph: Graph, data: Dataset, n: int, variants: dict, *, progress: Progress | None = None,
                   extra: Callable | None = None) -> tuple[_Tally, dict, bool]:
    """(float tally, key -> tally of the variant, labelled) over the first n samples of `data`.
    `extra(xb, yb, env, ref)` is called per batch (the SNN part)."""
    wrap = progress or (lambda it, desc: it)
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    data = data.for_model(graph)
    out = graph.outputs[0]
    base, tallies = _Tally(), {k: _Tally() for k in variants}
    labelled = data.y is not None
    from snnc.compiler.evaluate import _Sized

    for xb, yb in wrap(_Sized(data.batches(BATCH, shape, limit=n), -(-n // BATCH)), "sensitivity"):
        env = run_float(graph, xb, all_values=True)
        ref = env[out].argmax(axis=1)
        base.add(ref, yb, ref)
        for key, nodes in variants.items():
            tallies[key].add(rerun(graph, env, nodes=nodes).argmax(axis=1), yb, ref)
        if extra is not None:
            extra(xb, yb, env, ref)
    return base, tallies, labelled


def _spec_fits(graph: Graph, spec: HardwareSpec, name: str) -> list[int]:
    from snnc.compiler.backend.fit import allowed_widths

    return allowed_widths(graph.node(name), spec)


def sensitivity(graph: Graph, spec: HardwareSpec, data: Dataset, calib: Dataset | None = None, *,
                bits_list: Sequence[int] | None = None, timesteps: int = 16, options: CompileOptions | dict | None = None,
                limit: int | None = None, model: str | None = None, command: str | None = None,
                progress: Progress | None = None) -> SensitivityReport:
    """Width and spiking sensitivity of every core conv/linear layer of `graph` (module doc).

    `data` is scored (labels give accuracy; without them only agreement with the float model);
    `calib` gives λ (default: `data`). `bits_list` defaults to the spec's widths; the reference
    width R (the SNN, and the `qann` line) is its largest. `options`: the compile options other
    than bits (a CompileOptions or its keyword arguments)."""
    from snnc import runtime
    from snnc.compiler.backend.lower import quantize_input
    from snnc.compiler.evaluate import ann_layer_values
    from snnc.runtime.encode import to_external

    bits_list = sorted({int(b) for b in (bits_list or spec.weight_bits)})
    from snnc.runtime.packing import MAX_WEIGHT_BITS

    if not bits_list or bits_list[0] < 1 or bits_list[-1] > MAX_WEIGHT_BITS:
        raise SnncError(f"bits-list: widths must lie in 1..{MAX_WEIGHT_BITS}, got {bits_list}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise SnncError(f"timesteps: {timesteps!r} must be a positive integer")
    if isinstance(options, CompileOptions):
        opts = replace(options, bits=bits_list[-1], timesteps=timesteps, layer_bits=())
    else:
        opts = CompileOptions(bits=bits_list[-1], timesteps=timesteps, **dict(options or {}))
    n = len(data) if limit is None else min(int(limit), len(data))
    if n < 1:
        raise SnncError(f"{data.source}: no samples to score")
    state = prepare_lowering(graph, spec, opts, calib if calib is not None else data, progress)
    graph = state.graph
    stages = core_layers(state.plan)
    if not stages:
        raise SnncError(f"{graph.name}: no conv or linear layer on the core to measure")
    variants, errors = width_variants(state, {st.name: bits_list for st in stages})
    low = state.result.lowered
    art = low.artefact
    lo, hi, s_in = state.input_range
    values = ann_layer_values(graph, low)  # artefact layer -> (IR value, λ), layers with neurons
    order = [layer.name for layer in art.layers if layer.name in values]
    prefix_at = {st.name: order[: order.index(state.plan.names[st.name]) + 1] for st in stages}
    snn_t, qann_t, prefix_t = _Tally(), _Tally(), {st.name: _Tally() for st in stages}
    qout = low.qann.outputs[0]

    def snn_part(xb, yb, env, ref):
        qann_t.add(run_float(low.qann, quantize_input(xb, lo, hi, s_in))[qout].argmax(axis=1), yb, ref)
        sim = runtime.simulate(art, to_external(art.input, xb), timesteps)
        snn_t.add(np.asarray(sim.predictions), yb, ref)
        rates = {values[name][0]: sim.counts[name] / timesteps * values[name][1] for name in order}
        for st in stages:
            given = {values[name][0]: rates[values[name][0]] for name in prefix_at[st.name]}
            prefix_t[st.name].add(rerun(graph, env, values=given).argmax(axis=1), yb, ref)

    base, tallies, labelled = score_variants(graph, data, n, variants, progress=progress, extra=snn_part)
    metric = "accuracy" if labelled else "agreement"
    layers, prev = [], base.score(labelled).value(metric)
    for st in stages:
        w = st.node.params["weight"]
        prefix = prefix_t[st.name].score(labelled)
        layers.append(LayerSensitivity(
            layer=st.name, artefact_name=state.plan.names[st.name], op=st.kind, weights=int(w.size),
            fan_in=int(np.prod(w.shape[1:])), fits=_spec_fits(graph, spec, st.name),
            widths={b: tallies[(st.name, b)].score(labelled) for b in bits_list},
            weight_error={b: errors[(st.name, b)] for b in bits_list},
            snn_prefix=prefix, snn_cost=prev - prefix.value(metric)))
        prev = prefix.value(metric)
    cal = calib if calib is not None else data
    return SensitivityReport(
        model=model or str(graph.meta.get("source", graph.name)), data=data.source, samples=base.samples,
        timesteps=timesteps, reference_bits=bits_list[-1], bits_list=bits_list, spec=spec.name, labels=labelled,
        float_accuracy=base.score(labelled).accuracy, qann=qann_t.score(labelled), snn=snn_t.score(labelled),
        layers=layers, calibration=f"{cal.source} (first {min(len(cal), opts.calib_samples)} samples"
        f"{', the scored data itself' if calib is None else ''}), norm {opts.norm}", command=command)


def plot(report: SensitivityReport, path) -> None:
    """Two panels: the metric per layer against the width (only that layer quantized), and the
    SNN prefix per layer (with the float model and the whole SNN as lines). Needs matplotlib."""
    from pathlib import Path

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SnncError("--plot needs matplotlib: pip install matplotlib (or pip install 'snnc[report]')") from None
    from snnc.compiler.report.plots import _figure, _save, _space

    metric = report.metric
    fig = _figure(11, 4.6)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    base = 100 * (report.float_accuracy if report.labels else 1.0)
    for i, ls in enumerate(report.layers):
        bs = [b for b in report.bits_list if b in ls.widths]
        ax1.plot(bs, [100 * ls.widths[b].value(metric) for b in bs], "o-", color=f"C{i % 10}", label=ls.layer)
    ax1.axhline(base, color="k", ls="--", lw=1, label="float model")
    ax1.set_xticks(report.bits_list)
    ax1.set_xlabel("weight bits of the layer (all others float)")
    ax1.set_ylabel(f"{metric} (%)")
    ax1.set_title("quantized ANN: one layer at a time")
    ax1.legend(fontsize=7, loc="lower right")
    names = [ls.layer for ls in report.layers]
    xs = np.arange(len(names))
    ax2.bar(xs, [100 * ls.snn_prefix.value(metric) for ls in report.layers], color="C0")
    ax2.axhline(base, color="k", ls="--", lw=1, label="float model")
    ax2.axhline(100 * report.snn.value(metric), color="C3", ls=":", lw=1.5, label="whole SNN")
    lo = min([100 * ls.snn_prefix.value(metric) for ls in report.layers] + [100 * report.snn.value(metric), base])
    ax2.set_ylim(max(0.0, lo - 5), 100.5)
    ax2.set_xticks(xs)
    ax2.set_xticklabels(names, rotation=20, ha="right", fontsize=7)
    ax2.set_ylabel(f"{metric} (%)")
    ax2.set_title(f"SNN up to the layer, float after it (T={report.timesteps}, {report.reference_bits} bits)")
    ax2.legend(fontsize=7, loc="lower left")
    _space(fig, left=0.8, bottom=1.0, top=0.5)
    _save(fig, Path(path))
