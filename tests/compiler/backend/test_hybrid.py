"""Hybrid SNN-ANN (--host-from): the layers from the cut on run on the host as float layers."""
from __future__ import annotations

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend.lower import lower
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import PlanError, plan_stages
from snnc.compiler.backend.substitute import host_from
from snnc.compiler.check import check_graph
from snnc.compiler.check.placement import HOST, place
from snnc.compiler.errors import SnncError
from snnc.compiler.ir import Graph, Node, Value
from snnc.compiler.ir.interpret import KERNELS
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec
from snnc.runtime.errors import ArtefactError
from tiny_models import normalized


def net(rng, pool="maxpool"):
    g = Graph("net", ["x"], ["y"], [
        Node("conv1", "conv", ["x"], ["c1"], {"padding": (1, 1, 1, 1)},
             {"weight": rng.normal(0, 0.4, (4, 1, 3, 3)), "bias": rng.normal(0, 0.05, 4)}),
        Node("relu1", "relu", ["c1"], ["r1"]),
        Node("conv2", "conv", ["r1"], ["c2"], {"padding": (1, 1, 1, 1)},
             {"weight": rng.normal(0, 0.3, (4, 4, 3, 3)), "bias": rng.normal(0, 0.05, 4)}),
        Node("relu2", "relu", ["c2"], ["r2"]),
        Node("pool", pool, ["r2"], ["p"], {"kernel": (2, 2), "stride": (2, 2)}),  # a MaxPool is fine on the host
        Node("flat", "flatten", ["p"], ["f"]),
        Node("fc1", "linear", ["f"], ["h"], {}, {"weight": rng.normal(0, 0.2, (16, 64)), "bias": rng.normal(0, 0.05, 16)}),
        Node("relu3", "relu", ["h"], ["hr"]),
        Node("fc2", "linear", ["hr"], ["y"], {}, {"weight": rng.normal(0, 0.3, (10, 16)), "bias": np.zeros(10)}),
    ], {"x": Value("x", (None, 1, 8, 8))})
    for n in g.nodes:
        g.add_value(n.output)
    return frontend_pipeline(g)


def compiled(cut="conv2", seed=0):
    rng = np.random.default_rng(seed)
    g, notes = host_from(net(rng, "maxpool" if cut in ("conv2", "relu2", "pool") else "avgpool"), cut)
    spec = load_spec("hw_v1")
    x = rng.random((32, 1, 8, 8))
    opts = CompileOptions(bits=4, timesteps=16, host_from=cut)
    plan, rng_in, scales = normalized(g, spec, opts, x)
    return g, plan, lower(plan, spec, opts, scales, rng_in), x, notes


def test_the_cut_puts_everything_after_it_on_the_host():
    g, notes = host_from(net(np.random.default_rng(0)), "conv2")
    where = place(g, load_spec("hw_v1"))
    assert [n.name for n in g.nodes if where[n.name] == HOST] == ["conv2", "relu2", "pool", "flat", "fc1", "relu3", "fc2"]
    assert "5 layer(s) from conv2" in notes[0]  # conv2, pool, flat, fc1, fc2 (their ReLUs go along)
    report = check_graph(g, load_spec("hw_v1"), 4)
    assert report.fits  # the MaxPool is on the host: no HW004 / HW011


def test_an_unknown_cut_is_a_clear_error():
    with pytest.raises(SnncError, match="no layer of that name.*did you mean conv1"):
        host_from(net(np.random.default_rng(0)), "CONV1")
    with pytest.raises(SnncError, match="did you mean"):
        host_from(net(np.random.default_rng(0)), "conv")


def test_host_part_computes_the_float_layers_on_the_core_rates():
    g, plan, low, x, _ = compiled()
    art = low.artefact
    assert [layer.kind for layer in art.layers] == ["conv"] + ["host_op"] * 7
    assert art.output_layer == "conv1" and art.layer("conv2").input_scales[0] == pytest.approx(low.layers[0].scale)
    T = 16
    res = runtime.simulate(art, x, T)
    # the host's input: conv1's spike counts times λ / T; then the float graph's own kernels (float64
    # weights here, float32 in the artefact: host floats agree to float32 precision, not bit for bit)
    env = {"r1": res.counts["conv1"] * (art.layer("conv2").input_scales[0] / T)}
    for node in g.nodes[2:]:
        env[node.output] = KERNELS[node.op](node, [env[i] for i in node.inputs])
    assert np.allclose(res.logits, env["y"], rtol=1e-5, atol=1e-5)
    assert np.array_equal(res.predictions, env["y"].argmax(axis=1))


def test_round_trip_verifies(tmp_path):
    _, _, low, x, _ = compiled("fc1")
    art = runtime.make_golden(low.artefact, x[:4], 16)
    runtime.save(art, tmp_path / "h.snn")
    back = runtime.load(tmp_path / "h.snn")
    assert [layer.op for layer in back.host_layers] == ["linear", "relu", "linear"]
    assert runtime.verify(back).ok


def test_a_cut_that_reads_two_core_layers_is_refused():
    rng = np.random.default_rng(1)
    g = Graph("res", ["x"], ["y"], [
        Node("c1", "conv", ["x"], ["a"], {"padding": (1, 1, 1, 1)}, {"weight": rng.normal(size=(2, 1, 3, 3))}),
        Node("r1", "relu", ["a"], ["ar"]),
        Node("c2", "conv", ["ar"], ["b"], {"padding": (1, 1, 1, 1)}, {"weight": rng.normal(size=(2, 2, 3, 3))}),
        Node("r2", "relu", ["b"], ["br"]),
        Node("add", "add", ["br", "ar"], ["s"]), Node("r3", "relu", ["s"], ["sr"]),
        Node("flat", "flatten", ["sr"], ["f"]),
        Node("fc", "linear", ["f"], ["y"], {}, {"weight": rng.normal(size=(3, 32))}),
    ], {"x": Value("x", (None, 1, 4, 4))})
    for n in g.nodes:
        g.add_value(n.output)
    g = frontend_pipeline(g)
    cut, _ = host_from(g, "add")  # the add reads c2's and c1's outputs: two core layers
    with pytest.raises(PlanError, match="reads"):
        plan_stages(cut, load_spec("hw_v1"))


def test_loader_rules_for_host_ops():
    _, _, low, _, _ = compiled("fc1")
    a = low.artefact
    fc1 = a.layer(a.host_layers[0].name)
    bad = runtime.HostOp(fc1.name, fc1.inputs, fc1.output_shape, op="linear", attrs={"axis": 1}, params=fc1.params,
                         input_scales=fc1.input_scales)
    with pytest.raises(ArtefactError, match="attrs"):
        runtime.Artefact(a.input, a.layers[:-3] + (bad,) + a.layers[-2:], a.target)
    no_scale = runtime.HostOp(fc1.name, fc1.inputs, fc1.output_shape, op="linear", params=fc1.params,
                              input_scales=[None])
    with pytest.raises(ArtefactError, match="input_scales"):
        runtime.Artefact(a.input, a.layers[:-3] + (no_scale,) + a.layers[-2:], a.target)
