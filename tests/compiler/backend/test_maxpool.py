"""The spiking max pool (docs/semantics.md section 6): planned where the spec's core has max
pooling, refused with both fixes where it has not."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend.lower import lower, quantize_input
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import plan_stages, plan_violations
from snnc.compiler.check import check_graph
from snnc.compiler.ir import Graph, Node, Value
from snnc.compiler.ir.interpret import run
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec
from tiny_models import normalized


def with_maxpool():
    spec = load_spec("hw_v1")
    return dataclasses.replace(spec, core_layer_types=spec.core_layer_types + ("maxpool",))


def net(rng, padding=(0, 0, 0, 0)):
    g = Graph("net", ["x"], ["y"], [
        Node("conv1", "conv", ["x"], ["c1"], {"padding": (1, 1, 1, 1)},
             {"weight": rng.normal(0, 0.4, (4, 1, 3, 3)), "bias": rng.normal(0, 0.05, 4)}),
        Node("relu1", "relu", ["c1"], ["r1"]),
        Node("pool", "maxpool", ["r1"], ["p"], {"kernel": (2, 2), "stride": (2, 2), "padding": padding}),
        Node("flat", "flatten", ["p"], ["f"]),
        Node("fc", "linear", ["f"], ["y"], {}, {"weight": rng.normal(0, 0.3, (10, 4 * (4 + padding[0]) ** 2))}),
    ], {"x": Value("x", (None, 1, 8, 8))})
    for n in g.nodes:
        g.add_value(n.output)
    return frontend_pipeline(g)


def test_hw_v1_refuses_with_both_fixes():
    report = check_graph(net(np.random.default_rng(0)), load_spec("hw_v1"), 4)
    (v,) = [v for v in report.violations if v.code == "HW004"]
    assert "--maxpool avgpool" in v.hint and "core_layer_types include maxpool" in v.hint


def test_planned_as_a_spiking_max_pool_where_the_spec_has_it():
    g = net(np.random.default_rng(0))
    spec = with_maxpool()
    assert check_graph(g, spec, 4).fits
    assert [st.kind for st in plan_stages(g, spec)] == ["conv", "maxpool", "flatten", "host_linear"]
    padded = net(np.random.default_rng(0), padding=(1, 1, 1, 1))
    _, violations = plan_violations(padded, spec)
    assert [v.code for v in violations] == ["HW011"] and "padding" in violations[0].message


@pytest.mark.slow  # 0.5-3 s: the quick suite stays near a minute
def test_compiled_max_pool_is_exact_and_tracks_the_quantized_ann():
    rng = np.random.default_rng(1)
    g, spec = net(rng), with_maxpool()
    x = rng.random((64, 1, 8, 8))
    opts = CompileOptions(bits=4, timesteps=32)
    plan, rng_in, scales = normalized(g, spec, opts, x)
    low = lower(plan, spec, opts, scales, rng_in)
    art = low.artefact
    assert art.layer("pool").kind == "maxpool"
    res = runtime.simulate(art, x, 64, trace=True, backend="numpy")
    ref = runtime.simulate(art, x[:4], 64, trace=True, backend="reference")
    assert np.array_equal(res.spikes["pool"][:4], ref.spikes["pool"])
    # a pooled count never exceeds the largest count in its window (each output spike raises that maximum)
    c = res.counts["conv1"].reshape(64, 4, 4, 2, 4, 2).max(axis=(3, 5))
    assert (res.counts["pool"] <= c).all()
    assert np.mean(c - res.counts["pool"]) <= 0.05 * 64  # it falls short only while the maximum changes hands
    xq = quantize_input(x, art.input.lo, art.input.hi, art.input.scale)
    ann = run(low.qann, xq)["y"].argmax(axis=1)
    assert np.mean(ann == res.predictions) >= 0.9


@pytest.mark.parametrize("kernel,stride", [((2, 2), (1, 1)), ((3, 3), (2, 2))])
def test_overlapping_windows_round_trip(tmp_path, kernel, stride):
    rng = np.random.default_rng(2)
    t = runtime.Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=8,
                       weight_encoding="symmetric", input_bits=4)
    h = 7
    out = (h - kernel[0]) // stride[0] + 1
    a = runtime.Artefact(runtime.InputSpec((2, h, h), "rate", 0, 15), (
        runtime.MaxPool("mp", ["input"], (2, out, out), kernel=kernel, stride=stride),
        runtime.Flatten("f", ["mp"], (2 * out * out,)),
    ), t)
    a = runtime.make_golden(a, rng.integers(0, 16, (3, 2, h, h)), 12)
    runtime.save(a, tmp_path / "m.snn")
    assert runtime.verify(runtime.load(tmp_path / "m.snn"), backend="reference").ok
