"""The fused residual layer: conv (no ReLU) -> add -> ReLU compiles into synaptic convs and the
add's neurons (docs/semantics.md section 6), exactly and as the spec allows."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend.emit import embed_kernel
from snnc.compiler.backend.lower import lower, quantize_input
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import plan_stages
from snnc.compiler.check import check_graph
from snnc.compiler.ir import Graph, Node, Value
from snnc.compiler.ir.interpret import run
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec
from snnc.runtime.reference import conv_current
from tiny_models import normalized


def _graph(nodes, shape):
    g = Graph("net", ["x"], ["y"], nodes, {"x": Value("x", shape)})
    for n in g.nodes:
        g.add_value(n.output)
    return frontend_pipeline(g)


def _conv(name, x, out, rng, cin, cout, k=3, stride=1, scale=0.3):
    p = k // 2
    return Node(name, "conv", [x], [out], {"padding": (p, p, p, p), "stride": (stride, stride)},
                {"weight": rng.normal(0, scale, (cout, cin, k, k)), "bias": rng.normal(0, 0.05, cout)})


def resnet_block(rng):
    """stem conv-ReLU, then a block with a 1x1 stride-2 projection: conv-ReLU-conv + proj -> add -> ReLU."""
    return _graph([
        _conv("stem", "x", "s", rng, 1, 4), Node("stem_relu", "relu", ["s"], ["sr"]),
        _conv("c1", "sr", "a", rng, 4, 6, stride=2), Node("r1", "relu", ["a"], ["ar"]),
        _conv("c2", "ar", "b", rng, 6, 6),
        _conv("proj", "sr", "p", rng, 4, 6, k=1, stride=2),
        Node("add", "add", ["b", "p"], ["sum"]), Node("r2", "relu", ["sum"], ["out"]),
        _conv("c3", "out", "d", rng, 6, 6),
        Node("add2", "add", ["d", "out"], ["sum2"]), Node("r3", "relu", ["sum2"], ["out2"]),
        Node("flat", "flatten", ["out2"], ["f"]),
        Node("fc", "linear", ["f"], ["y"], {}, {"weight": rng.normal(0, 0.2, (10, 6 * 16)), "bias": np.zeros(10)}),
    ], (None, 1, 8, 8))


def _lower(g, x, opts, spec=None):
    spec = spec or load_spec("hw_v1")
    plan, rng_in, scales = normalized(g, spec, opts, x)
    return plan, lower(plan, spec, opts, scales, rng_in)


def test_check_accepts_the_block_and_plans_synapses():
    g = resnet_block(np.random.default_rng(0))
    report = check_graph(g, load_spec("hw_v1"), 4)
    assert report.fits, report.violations
    plan = plan_stages(g, load_spec("hw_v1"))
    kinds = {st.name: st.kind for st in plan}
    assert kinds["c2"] == kinds["proj"] == kinds["c3"] == "synapse"
    assert kinds["add"] == kinds["add2"] == "add"
    feeds = {st.name: st.feeds for st in plan if st.kind == "synapse"}
    assert feeds == {"c2": "out", "proj": "out", "c3": "out2"}


def test_a_spec_without_fused_residual_refuses_with_hw003():
    g = resnet_block(np.random.default_rng(0))
    spec = dataclasses.replace(load_spec("hw_v1"), fused_residual=False)
    report = check_graph(g, spec, 4)
    hw003 = [v for v in report.violations if v.code == "HW003"]
    assert {v.layer for v in hw003} == {"c2", "proj", "c3"}
    assert all("fused_residual" in v.hint for v in hw003)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bits", [2, 4])
def test_emitted_layers_are_synaptic_convs_and_exact_multiples(bits, per_channel):
    rng = np.random.default_rng(1)
    g = resnet_block(rng)
    x = rng.random((32, 1, 8, 8))
    _, low = _lower(g, x, CompileOptions(bits=bits, timesteps=16, per_channel=per_channel))
    art = low.artefact
    c2, proj, add = art.layer("c2"), art.layer("proj"), art.layer("add")
    assert c2.neuron is None and proj.neuron is None and not c2.has_neurons
    assert proj.weight.shape[2:] == (3, 3) and proj.padding == (1, 1, 1, 1)  # the 1x1 runs as a centred 3x3
    assert np.count_nonzero(proj.weight[:, :, [0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 0, 2, 0, 1, 2]]) == 0
    assert add.inputs == ("c2", "proj")
    theta = np.broadcast_to(np.asarray(add.neuron.threshold), (6,))
    m_main = np.broadcast_to(np.asarray(add.multipliers[0]), (6,))
    assert (theta % m_main == 0).all()  # θ_c = θ_main,c · M_c: the main synapse's multiplier is exact
    assert (theta <= 4096).all() and (m_main >= 1).all()
    res = runtime.simulate(art, x[:4], 8, trace=True, backend="numpy")
    ref = runtime.simulate(art, x[:4], 8, trace=True, backend="reference")
    for k in res.counts:
        assert np.array_equal(res.counts[k], ref.counts[k])
    for k in res.membranes:
        assert np.array_equal(res.membranes[k], ref.membranes[k])


@pytest.mark.slow
def test_compile_round_trip_verifies(tmp_path):
    rng = np.random.default_rng(2)
    g = resnet_block(rng)
    x = rng.random((16, 1, 8, 8))
    _, low = _lower(g, x, CompileOptions(bits=4, timesteps=16, per_channel=True))
    art = runtime.make_golden(low.artefact, x[:3], 16)
    runtime.save(art, tmp_path / "r.snn")
    back = runtime.load(tmp_path / "r.snn")
    assert back.layer("c2").neuron is None
    assert back.layer("add").multipliers == art.layer("add").multipliers
    assert runtime.verify(back).ok


def test_quantized_ann_is_what_the_snn_approximates():
    rng = np.random.default_rng(3)
    g = resnet_block(rng)
    x = rng.random((64, 1, 8, 8))
    _, low = _lower(g, x, CompileOptions(bits=4, timesteps=16, per_channel=True))
    a = low.artefact
    xq = quantize_input(x, a.input.lo, a.input.hi, a.input.scale)
    ann = run(low.qann, xq)["y"].argmax(axis=1)
    snn = runtime.simulate(a, x, 256).predictions
    assert np.mean(ann == snn) >= 0.9


def test_membrane_bound_holds():
    rng = np.random.default_rng(4)
    g = resnet_block(rng)
    x = rng.random((16, 1, 8, 8))
    _, low = _lower(g, x, CompileOptions(bits=3, timesteps=16))
    res = runtime.simulate(low.artefact, x, 16, trace=True)
    for r in low.layers:
        if r.membrane_bound is not None:
            assert int(np.abs(res.membranes[r.artefact_name]).max()) <= r.membrane_bound


def test_current_coded_block_counts_equal_closed_form():
    """Both synapses read the current-coded input: the add neuron receives the same integer current
    c = m_a·I_a + m_b·I_b + bias every step, so (subtract reset, ge, 0 <= c < θ, no saturation) it fires
    floor((V0 + T·c)/θ) times — computed here from the emitted integers in Python, with no tolerance."""
    rng = np.random.default_rng(5)
    g = _graph([
        _conv("ca", "x", "a", rng, 1, 3), _conv("cb", "x", "b", rng, 1, 3, k=1),
        Node("add", "add", ["a", "b"], ["s"]), Node("r", "relu", ["s"], ["sr"]),
        Node("flat", "flatten", ["sr"], ["f"]),
        Node("fc", "linear", ["f"], ["y"], {}, {"weight": rng.normal(0, 0.2, (4, 3 * 36)), "bias": np.zeros(4)}),
    ], (None, 1, 6, 6))
    x = rng.random((6, 1, 6, 6))
    T = 16
    _, low = _lower(g, x, CompileOptions(bits=3, timesteps=T, per_channel=True))
    art = low.artefact
    ca, cb, add = art.layer("ca"), art.layer("cb"), art.layer("add")
    xi = np.clip(np.rint(x / art.input.scale), art.input.lo, art.input.hi).astype(np.int64)
    counts = runtime.simulate(art, x, T).counts["add"]
    for n in range(x.shape[0]):
        flat = [int(v) for v in xi[n].reshape(-1)]
        ia, ib = conv_current(ca, flat, (1, 6, 6)), conv_current(cb, flat, (1, 6, 6))
        for p in range(3 * 36):
            ch = p // 36
            theta = add.neuron.threshold[ch] if len(add.neuron.threshold) > 1 else add.neuron.threshold[0]
            m = [mk[ch] if isinstance(mk, tuple) else mk for mk in add.multipliers]
            c = m[0] * ia[p] + m[1] * ib[p] + add.neuron.bias[ch]
            v0 = theta // 2
            expected = T if c >= theta else (0 if c < 0 else (v0 + T * c) // theta)
            assert counts[n].reshape(-1)[p] == expected


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", [1, 3])
def test_embedded_kernel_computes_the_same_currents(k, stride):
    """A k x k kernel centred in the table's 5x5 (hw_v1 lists 3 and 5; 1 -> 3, 3 -> 3 unchanged)."""
    rng = np.random.default_rng(6)
    spec = load_spec("hw_v1")
    q = rng.integers(-3, 4, (2, 2, k, k))
    pad = (k // 2,) * 4
    q2, pad2 = embed_kernel(q, pad, spec)
    assert q2.shape[2] == spec.embedded_kernel(k)
    h = 7
    ho = (h + 2 * pad[0] - k) // stride + 1
    a = runtime.Conv("a", ["input"], (2, ho, ho), weight=q, bits=3, stride=(stride, stride), padding=pad, neuron=None)
    b = runtime.Conv("b", ["input"], (2, ho, ho), weight=q2, bits=3, stride=(stride, stride), padding=pad2, neuron=None)
    x = [int(v) for v in rng.integers(-5, 6, 2 * h * h)]
    assert conv_current(a, x, (2, h, h)) == conv_current(b, x, (2, h, h))
