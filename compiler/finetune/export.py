"""From a fine-tuned QAT model to an ONNX file that `snnc compile` turns into exactly its integers.

`finalize(model)` computes each spiking layer's integers (q, θ, bias) with snnc's own numpy
quantizer on the final weights at the final scales, freezes them into the model (so its accuracy
is that of the exported network), and finds float32 weights that compile maps back to exactly
those integers. Compile reads a weight W, forms W' = W·λ_in/λ_out and searches θ again over its
candidate set; the exported weight is q/θ·λ_out/λ_in, for which the search returns (q, θ) when θ
is a candidate — or an equivalent (q/g, θ/g) with the same q/θ, which is then used instead.
Above θ ≈ 137 compile samples 512 candidates geometrically around the reference qmax/max|W'| and
θ itself falls between two of them; the export then scales the channel's largest weights (1-bit:
all its weights) by a factor 1+δ, |δ| well below the rounding step, which moves the candidate
grid onto θ without changing any rounded integer (`LayerIntegers.nudged`, `max_nudge`).

`bake(model, final)` writes the exported graph (Clip(0, λ_out) after every spiking layer);
`finalize_and_bake` also recomputes compile's activation statistics on it (λ_out = the maximum, which must
equal the clip level: some calibration input saturates each layer); `compile_matches` compiles
it with snnc and compares the artefact's integers with the frozen ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.finetune.qat import SATURATION_MARGIN, LayerScale, QATModel, f32
from snnc.compiler.ir.graph import Graph
from snnc.runtime.packing import WeightType
from snnc.compiler.backend.quantize import MAX_CANDIDATES, quantize_bias, quantize_weights

MAX_NUDGE = 0.05  # largest relative change of an exported weight


@dataclass
class LayerIntegers:
    node: str
    q: np.ndarray  # int64
    theta: np.ndarray  # int64, (O,) per channel or (1,)
    bias: np.ndarray | None  # int64
    lam_in: float
    lam_out: float
    weight: np.ndarray  # float32: the exported weight
    reduced: int = 0  # channels replaced by an equivalent (q/g, θ/g)
    nudged: int = 0  # channels whose exported largest weights were scaled by 1+δ
    moved: int = 0  # channels whose θ moved by 1 or 2 (q kept) because no δ made θ reproducible
    max_nudge: float = 0.0  # largest |δ|
    exact: bool = True  # compile's re-quantization of `weight` gives (q, θ)


@dataclass
class Finalized:
    layers: list[LayerIntegers] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what would make compile differ

    def by_node(self) -> dict[str, LayerIntegers]:
        return {l.node: l for l in self.layers}

    @property
    def exact(self) -> bool:
        return not self.problems and all(l.exact for l in self.layers)


def bake_weight(q: np.ndarray, theta: np.ndarray, lam_in: float, lam_out: float) -> np.ndarray:
    th = theta.astype(np.float64).reshape((-1,) + (1,) * (q.ndim - 1)) if theta.size > 1 else float(theta[0])
    return (q.astype(np.float64) / th * lam_out / lam_in).astype(np.float32)


def bake_bias(bias_int: np.ndarray, theta: np.ndarray, lam_out: float) -> np.ndarray:
    th = np.broadcast_to(theta.astype(np.float64), bias_int.shape)
    return (bias_int.astype(np.float64) / th * lam_out).astype(np.float32)


def requantize(w32: np.ndarray, ls: LayerScale, bits: int, encoding: str, per_channel: bool, theta_max: int):
    """What compile's quantizer returns for the exported float32 weights (compile's arithmetic)."""
    return quantize_weights(w32.astype(np.float64) * ls.lam_in / ls.lam_out, bits, encoding,
                            per_channel=per_channel, theta_max=theta_max)


def _same(r, q: np.ndarray, theta: int) -> bool:
    return int(r.theta[0]) == theta and np.array_equal(r.q, q)


def export_row(q: np.ndarray, theta: int, ls: LayerScale, bits: int, encoding: str, theta_max: int):
    """(q', θ', w32, how, δ): float32 weights w32 that compile re-quantizes to (q', θ').
    how: 'exact' (w32 = q/θ·λ_out/λ_in), 'reduced' (an equivalent (q/g, θ/g)), 'nudged' (some
    weights scaled by 1+δ), 'moved' (θ' = θ±1 or ±2, q' = q, nudged), 'failed' (compile's own
    choice, not a fixed point: compile will differ)."""
    th = np.array([theta], dtype=np.int64)
    w32 = bake_weight(q, th, ls.lam_in, ls.lam_out)
    r = requantize(w32, ls, bits, encoding, False, theta_max)
    if _same(r, q, theta):
        return q, theta, w32, "exact", 0.0
    if np.array_equal(r.q / float(r.theta[0]), q / float(theta)):  # an equivalent smaller θ
        return r.q, int(r.theta[0]), w32, "reduced", 0.0
    # θ is not among compile's candidates: scale the largest weights (1 bit: all) by 1+δ, or
    # failing that, move θ by one or two (q unchanged)
    for t in (theta, theta - 1, theta + 1, theta - 2, theta + 2):
        if 1 <= t <= theta_max:
            found = _nudge(q, t, ls, bits, encoding, theta_max)
            if found is not None:
                w, d = found
                return q, t, w, ("nudged" if t == theta else "moved"), d
    return r.q, int(r.theta[0]), bake_weight(r.q, r.theta, ls.lam_in, ls.lam_out), "failed", 0.0


def _candidate_set(lo: int, hi: int) -> np.ndarray:
    if hi - lo + 1 <= MAX_CANDIDATES:
        return np.arange(lo, hi + 1)
    return np.unique(np.geomspace(lo, hi, MAX_CANDIDATES).round().astype(np.int64))


def _nudge(q: np.ndarray, theta: int, ls: LayerScale, bits: int, encoding: str, theta_max: int):
    """(w32, δ) with the selected weights scaled by 1+δ so that compile's candidate set contains θ
    and its search returns (q, θ); None if no |δ| <= MAX_NUDGE does.

    Compile's candidates depend only on lo = floor(ref/4) and hi = ceil(4·ref), with
    ref = qmax/max|W'| (1 bit: 1/mean|W'|), and ref moves as ref0/(1+δ): each interval of ref
    between two breakpoints gives one candidate set, tried in order of |δ|."""
    amax = int(np.abs(q).max())
    if amax == 0:
        return None
    sel = np.ones(q.shape, bool) if bits == 1 else (np.abs(q) == amax)
    qmax = WeightType(bits).max
    ref0 = float(theta) if bits == 1 else qmax * theta / amax
    limit = min(MAX_NUDGE, 0.45 if bits == 1 else 0.45 / amax)  # keeps every rint(W'θ) unchanged
    r_lo, r_hi = ref0 / (1 + limit), ref0 / (1 - limit)
    points = {r_lo, r_hi}
    points.update(4.0 * k for k in range(int(np.ceil(r_lo / 4)), int(np.floor(r_hi / 4)) + 1))
    points.update(j / 4.0 for j in range(int(np.ceil(4 * r_lo)), int(np.floor(4 * r_hi)) + 1))
    pts = sorted(points)
    mids = [(a + b) / 2 for a, b in zip(pts, pts[1:]) if b > a]
    base = bake_weight(q, np.array([theta], dtype=np.int64), ls.lam_in, ls.lam_out).astype(np.float64)
    for ref in sorted(mids, key=lambda r: abs(ref0 / r - 1)):
        lo = min(theta_max, max(1, int(np.floor(ref * 0.25))))
        hi = min(theta_max, max(lo, int(np.ceil(ref * 4.0))))
        cands = _candidate_set(lo, hi)
        if theta not in cands:
            continue
        d = ref0 / ref - 1
        w = base.copy()
        w[sel] *= 1.0 + d
        w32 = w.astype(np.float32)
        if _same(requantize(w32, ls, bits, encoding, False, theta_max), q, theta):
            return w32, abs(d)
    return None


def finalize(model: QATModel) -> Finalized:
    """Compute, make exportable and freeze every spiking layer's integers; returns them."""
    import torch

    spec, cfg = model.spec, model.cfg
    theta_max = 2 ** spec.threshold_bits - 1
    out = Finalized()
    for ls, wq in model.quantizers():
        w, b = model.node_weights(ls.node)
        wn = w.detach().cpu().to(torch.float64).numpy() * ls.lam_in / ls.lam_out
        qw = quantize_weights(wn, cfg.bits, spec.weight_encoding, per_channel=model.per_channel, theta_max=theta_max)
        rows = [(qw.q[o], int(qw.theta[o])) for o in range(qw.q.shape[0])] if model.per_channel else [(qw.q, int(qw.theta[0]))]
        qs, thetas, ws, hows, nudge = [], [], [], [], 0.0
        for q_r, t_r in rows:
            q2, t2, w2, how, d = export_row(q_r, t_r, ls, cfg.bits, spec.weight_encoding, theta_max)
            qs.append(q2)
            thetas.append(t2)
            ws.append(w2)
            hows.append(how)
            nudge = max(nudge, d)
        q = np.stack(qs) if model.per_channel else qs[0]
        weight = np.stack(ws) if model.per_channel else ws[0]
        theta = np.array(thetas, dtype=np.int64)
        bias_int = None
        if b is not None:
            bn = b.detach().cpu().to(torch.float64).numpy() / ls.lam_out
            bias_int, _ = quantize_bias(bn, theta if model.per_channel else np.full(q.shape[0], theta[0]), spec.bias_bits)
        wq.freeze(q, theta, bias_int)
        li = LayerIntegers(ls.node, q.astype(np.int64), theta, bias_int, ls.lam_in, ls.lam_out, weight,
                           reduced=hows.count("reduced"), nudged=hows.count("nudged"), moved=hows.count("moved"),
                           max_nudge=nudge,
                           exact="failed" not in hows)
        if not li.exact:
            out.problems.append(f"{ls.node}: {hows.count('failed')} channel(s) whose θ compile cannot reproduce")
        out.layers.append(li)
    return out


def bake(model: QATModel, final: Finalized) -> Graph:
    """The IR graph of the fine-tuned model: the exported weights, the biases bias_int/θ·λ_out and
    every spiking activation as Clip(0, λ_out)."""
    from snnc.compiler.backend.plan import plan_stages

    g = model.net.to_graph()
    ints = final.by_node()
    for ls in model.plan.layers:
        node, li = g.node(ls.node), ints[ls.node]
        node.params["weight"] = li.weight.astype(np.float64)
        if li.bias is not None:
            th = li.theta if li.theta.size > 1 else np.full(li.bias.shape[0], li.theta[0])
            node.params["bias"] = bake_bias(li.bias, th, ls.lam_out).astype(np.float64)
    for st in plan_stages(g):
        if st.kind in ("conv", "linear", "add"):
            st.act.op = "clip"
            st.act.attrs = {"min": 0.0, "max": float(np.float32(model.lams[st.output]))}
    return g


def unsaturated(model: QATModel, graph: Graph, calib_x: np.ndarray, batch_size: int = 100) -> dict[str, float]:
    """Stage outputs whose compile-time λ_out would differ from the clip level the integers were
    made for, with compile's value: the activation maximum of `graph` on compile's calibration
    inputs (run by snnc's interpreter, as `--norm max` computes it) must reach the clip level."""
    from snnc.compiler.backend.calibrate import collect
    from snnc.compiler.backend.lower import quantize_input
    from snnc.compiler.backend.plan import plan_stages
    from snnc.compiler.backend.scales import spiking_outputs

    values = spiking_outputs(plan_stages(graph))
    batches = lambda: (quantize_input(calib_x[i:i + batch_size], *model.input_range)  # noqa: E731
                       for i in range(0, len(calib_x), batch_size))
    stats = collect(graph, values, batches)
    return {v: stats[v].maximum for v in values if stats[v].maximum != float(np.float32(model.lams[v]))}


def finalize_and_bake(model: QATModel, calib_x: np.ndarray, tries: int = 4) -> tuple[Finalized, Graph]:
    """`finalize` and `bake`, then check with compile's own statistics that every layer saturates
    at its clip level on the calibration inputs; a layer that does not gets its level lowered just
    below compile's maximum, and the integers are made again (at most `tries` times)."""
    for attempt in range(tries):
        final = finalize(model)
        graph = bake(model, final)
        low = unsaturated(model, graph, calib_x)
        if not low:
            return final, graph
        if attempt == tries - 1:
            final.problems.extend(
                f"{v}: no calibration input reaches the clip level {float(np.float32(model.lams[v])):.6g} (maximum "
                f"{m:.6g}); compile --norm max would rescale this layer" for v, m in low.items())
            return final, graph
        # the integers set u = activation/λ, invariant under λ alone: lower λ by a margin that
        # changes the integers enough for the largest input to saturate
        model.set_scales({v: f32(m * (1 - 2 * SATURATION_MARGIN)) for v, m in low.items() if m > 0})
    raise AssertionError("unreachable")


@dataclass
class Match:
    ok: bool
    problems: list[str]


def compile_matches(graph: Graph, final: Finalized, spec, opts, calib) -> Match:
    """Compile `graph` (the exported model, after `frontend_pipeline`) with snnc and compare each
    spiking layer's integer weights, thresholds and biases with the fine-tuning's."""
    from snnc.compiler.backend.build import compile_graph
    from snnc.compiler.backend.plan import artefact_names
    from snnc.compiler.backend.plan import plan_stages

    res = compile_graph(graph, spec, opts, calib)
    if res.exit_code != 0:
        return Match(False, ["the exported model does not pass snnc check"])
    names = artefact_names(plan_stages(graph))
    layers = {l.name: l for l in res.artefact.layers}
    problems = []
    for li in final.layers:
        layer = layers[names[li.node]]
        w = np.asarray(layer.weight, dtype=np.int64)
        th = np.asarray(layer.neuron.threshold, dtype=np.int64).reshape(-1)
        if not np.array_equal(w, li.q):
            problems.append(f"{li.node}: {int(np.count_nonzero(w != li.q))} integer weight(s) differ")
        if not np.array_equal(th, li.theta.reshape(-1)):
            problems.append(f"{li.node}: thresholds differ ({th[:4].tolist()}... vs {li.theta[:4].tolist()}...)")
        if li.bias is not None and not np.array_equal(np.asarray(layer.neuron.bias, dtype=np.int64), li.bias):
            problems.append(f"{li.node}: biases differ")
    return Match(not problems, problems)
