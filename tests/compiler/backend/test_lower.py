"""Lowering to the integer network: integer stages checked for exact equality against the runtime.

The first spiking layer of a current-encoded network receives the same integer current c every
step. With subtract reset, `ge`, no saturation and 0 <= c < θ, its spike count after T steps is
exactly floor((V0 + T*c) / θ); with c >= θ it fires every step, with c < 0 never (from V0 < θ).
That closed form, computed here in Python integers from the emitted weights, biases and
thresholds, must equal the runtime's counts — no tolerance.
"""
from __future__ import annotations

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.ir import Graph, Node, Value
from snnc.compiler.ir.interpret import run
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.lower import lower, quantize_input
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec
from tiny_models import normalized


def small_net(rng, conv_out=4):
    g = Graph("net", ["x"], ["y"], [
        Node("conv1", "conv", ["x"], ["c1"], {"padding": (1, 1, 1, 1)},
             {"weight": rng.normal(0, 0.3, (conv_out, 1, 3, 3)), "bias": rng.normal(0, 0.05, conv_out)}),
        Node("relu1", "relu", ["c1"], ["r1"]),
        Node("pool1", "avgpool", ["r1"], ["p1"], {"kernel": (2, 2), "stride": (2, 2)}),
        Node("flat", "flatten", ["p1"], ["f"]),
        Node("fc1", "linear", ["f"], ["h"], {}, {"weight": rng.normal(0, 0.2, (16, conv_out * 16)), "bias": rng.normal(0, 0.05, 16)}),
        Node("relu2", "relu", ["h"], ["hr"]),
        Node("fc2", "linear", ["hr"], ["y"], {}, {"weight": rng.normal(0, 0.3, (10, 16)), "bias": np.zeros(10)}),
    ], {"x": Value("x", (None, 1, 8, 8))})
    for n in g.nodes:
        g.add_value(n.output)
    return frontend_pipeline(g)


def lowered(bits, per_channel=False, v_init="half", seed=0):
    rng = np.random.default_rng(seed)
    g = small_net(rng)
    spec = load_spec("hw_v1")
    x = rng.random((64, 1, 8, 8))
    opts = CompileOptions(bits=bits, timesteps=32, per_channel=per_channel, v_init=v_init)
    plan, rng_in, scales = normalized(g, spec, opts, x)
    return g, lower(plan, spec, opts, scales, rng_in), x, opts


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("per_channel", [False, True])
def test_first_layer_counts_equal_closed_form(bits, per_channel):
    g, low, x, opts = lowered(bits, per_channel)
    art = low.artefact
    conv = art.layer("conv1")
    T = 32
    res = runtime.simulate(art, x, T)
    xi = np.clip(np.rint(x / art.input.scale), art.input.lo, art.input.hi).astype(np.int64)
    q = conv.weight.astype(np.int64)
    th = np.array(conv.neuron.threshold, dtype=object)
    bias = conv.neuron.bias
    xp = np.pad(xi, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros(res.counts["conv1"].shape, dtype=np.int64)
    for n in range(xi.shape[0]):
        for o in range(q.shape[0]):
            theta = int(th[o] if len(th) > 1 else th[0])
            v0 = theta // 2 if opts.v_init == "half" else 0
            for i in range(8):
                for j in range(8):
                    c = int((q[o, 0] * xp[n, 0, i:i + 3, j:j + 3]).sum()) + bias[o]
                    if c >= theta:
                        cnt = T
                    elif c < 0:
                        cnt = 0  # V falls from V0 < θ: never fires
                    else:
                        cnt = (v0 + T * c) // theta
                    expected[n, o, i, j] = cnt
    assert np.array_equal(res.counts["conv1"], expected)


def test_emitted_integers_survive_save_and_load_exactly(tmp_path):
    _, low, x, opts = lowered(3, per_channel=True)
    art = runtime.make_golden(low.artefact, np.zeros((2, 1, 8, 8), dtype=np.int32), 8)
    runtime.save(art, tmp_path / "m.snn")
    back = runtime.load(tmp_path / "m.snn")
    for a, b in zip(art.layers, back.layers):
        if hasattr(a, "weight"):
            assert np.array_equal(a.weight, b.weight)
        if hasattr(a, "neuron") and a.neuron is not None:
            assert a.neuron == b.neuron
    assert runtime.verify(back).ok


@pytest.mark.parametrize("bits", [2, 4])
def test_quantized_ann_is_what_the_snn_approximates(bits):
    """At large T the SNN's predictions agree with the quantized ANN's on most inputs."""
    g, low, x, opts = lowered(bits)
    xq = quantize_input(x, low.artefact.input.lo, low.artefact.input.hi, low.artefact.input.scale)
    ann = run(low.qann, xq)["y"].argmax(axis=1)
    snn = runtime.simulate(low.artefact, x, 256).predictions
    assert np.mean(ann == snn) >= 0.9


def test_layer_reports_cover_every_layer_and_bound_the_membrane():
    g, low, x, opts = lowered(4)
    assert [r.artefact_name for r in low.layers] == [layer.name for layer in low.artefact.layers]
    assert [r.name for r in low.layers] == [low.artefact.provenance["layer_names"][layer.name] for layer in low.artefact.layers]
    res = runtime.simulate(low.artefact, x, opts.timesteps, trace=True)
    for r in low.layers:
        if r.membrane_bound is not None:
            assert int(np.abs(res.membranes[r.artefact_name]).max()) <= r.membrane_bound


# --- the quantization cache (lower.QuantizeCache): the same results as quantize_weights, bit for bit

def _same_qw(a, b):
    return (a.q.dtype == b.q.dtype == np.int64 and np.array_equal(a.q, b.q) and a.theta.dtype == b.theta.dtype
            and np.array_equal(a.theta, b.theta) and a.error == b.error)


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_cache_returns_quantize_weights_results(bits, per_channel):
    from snnc.compiler.backend.lower import QuantizeCache
    from snnc.compiler.backend.quantize import quantize_weights

    rng = np.random.default_rng(bits)
    cache = QuantizeCache()
    for shape in [(6, 3, 3, 3), (5, 40), (4, 2, 1, 1)]:
        w = rng.standard_cauchy(shape) * 0.1
        want = quantize_weights(w, bits, "symmetric", per_channel=per_channel, theta_max=255)
        first = cache(w, bits, "symmetric", per_channel=per_channel, theta_max=255)
        first.q[...] = 0  # a caller that writes into its result does not change what the cache returns
        again = cache(w.copy(), bits, "symmetric", per_channel=per_channel, theta_max=255)
        assert _same_qw(again, want)
        assert not _same_qw(cache(w, bits, "symmetric", per_channel=per_channel, theta_max=63), want) or \
            want.theta.max() <= 63  # theta_max is part of the key
    assert cache.hits >= 3 and cache.misses >= 3


def test_quantize_cache_is_bounded_and_passes_other_arrays_through():
    from snnc.compiler.backend.lower import QuantizeCache
    from snnc.compiler.backend.quantize import quantize_weights

    rng = np.random.default_rng(1)
    cache = QuantizeCache(max_bytes=400)  # room for one 16x16 int8 tensor and its 16 int64 thresholds
    ws = [rng.normal(size=(16, 16)) for _ in range(3)]
    for w in ws:
        cache(w, 4, "symmetric", per_channel=True, theta_max=255)
    assert cache.bytes == 256 + 128 and len(cache._store) == 1
    strided = rng.normal(size=(8, 32))[:, ::2]  # not C-contiguous: computed, not cached
    got = cache(strided, 4, "symmetric", per_channel=True, theta_max=255)
    assert _same_qw(got, quantize_weights(strided, 4, "symmetric", per_channel=True, theta_max=255))
    assert cache.misses == 3


@pytest.mark.parametrize("per_channel", [False, True])
def test_lowering_with_a_cache_equals_without_and_requantizes_only_what_changed(per_channel, tmp_path):
    from snnc.compiler.backend.lower import QuantizeCache

    rng = np.random.default_rng(3)
    g = small_net(rng)
    spec = load_spec("hw_v1")
    x = rng.random((64, 1, 8, 8))
    opts = CompileOptions(bits=2, timesteps=16, per_channel=per_channel)
    plan, rng_in, scales = normalized(g, spec, opts, x)
    cache = QuantizeCache()
    first = plan.spiking[0].output
    misses = []
    for k, sc in enumerate((scales, scales, {**scales, first: scales[first] * 0.5})):
        a, b = lower(plan, spec, opts, sc, rng_in), lower(plan, spec, opts, sc, rng_in, cache=cache)
        misses.append(cache.misses)
        runtime.save(a.artefact, tmp_path / f"a{k}.snn")
        runtime.save(b.artefact, tmp_path / f"b{k}.snn")
        assert (tmp_path / f"a{k}.snn").read_bytes() == (tmp_path / f"b{k}.snn").read_bytes()
        for n in a.qann.nodes:  # the quantized ANN too
            for key, v in n.params.items():
                assert np.array_equal(v, b.qann.node(n.name).params[key])
        assert [r.__dict__ for r in a.layers] == [r.__dict__ for r in b.layers] and a.warnings == b.warnings
    # conv1 and fc1 are quantized once (fc2 is the host layer); again both, conv1 for its λ_out, fc1 for its λ_in
    assert misses == [2, 2, 4] and cache.hits == 2
