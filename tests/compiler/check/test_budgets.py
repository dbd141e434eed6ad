"""Resource budgets (HW013 neurons, HW014 weight memory): optional spec parameters, checked over
the whole network; a model far beyond them is no longer reported as fitting."""
from __future__ import annotations

import pytest

import yaml

from snnc.compiler.check import check_graph
from snnc.hwspec import load_spec
from snnc.hwspec.loader import resolve


def spec_with(tmp_path, **params):
    doc = yaml.safe_load(resolve("hw_v1").read_text())
    for k, v in params.items():
        doc["parameters"][k] = {"value": v, "status": "assumed"}
    path = tmp_path / "budget.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_spec(path)


def big_net(net):
    # 8 + 8 channels of 16x16 = 4,096 neurons; then 10 linear neurons on the host
    from snnc.compiler.passes.pipeline import frontend_pipeline

    return frontend_pipeline(net((None, 3, 16, 16)).conv(3, 8).conv(8, 8).node("globalavgpool").node("flatten")
                             .linear(8, 10, name="fc").build())


def test_within_and_beyond_the_neuron_budget(net, tmp_path):
    g = big_net(net)
    assert check_graph(g, spec_with(tmp_path, max_neurons=4104), 2).fits  # 4,096 + 8 (the pool)
    r = check_graph(g, spec_with(tmp_path, max_neurons=4000), 2)
    assert [v.code for v in r.violations] == ["HW013"] and r.violations[0].actual == 4104
    assert "conv0 (2,048)" in r.violations[0].hint


def test_weight_memory_budget_counts_each_layers_width(net, tmp_path):
    g = big_net(net)  # core weights: 3*8*9 + 8*8*9 = 792 weights
    spec = spec_with(tmp_path, max_weight_memory_bits=1600)
    assert check_graph(g, spec, 2).fits  # 1,584 bits
    r = check_graph(g, spec, 4)
    assert [v.code for v in r.violations] == ["HW014"] and r.violations[0].actual == 3168
    assert check_graph(g, spec, 4, layer_bits={"conv2": 1, "conv0": 1}).fits  # 792 bits


def test_no_budget_no_limit(net):
    spec = load_spec("hw_v1")
    assert spec.max_neurons is None or spec.max_neurons > 0
    assert not [v for v in check_graph(big_net(net), spec, 2).violations if v.code in ("HW013", "HW014")]


@pytest.mark.slow
def test_an_eight_million_neuron_model_does_not_fit_hw_v1(net):
    from snnc.compiler.passes.pipeline import frontend_pipeline

    g = frontend_pipeline(net((None, 3, 512, 512)).conv(3, 32).node("avgpool", attrs={"kernel": (2, 2), "stride": (2, 2)})
                          .node("flatten").linear(32 * 256 * 256, 10, name="fc").build())
    r = check_graph(g, load_spec("hw_v1"), 2)
    hw013 = [v for v in r.violations if v.code == "HW013"]
    assert hw013 and hw013[0].actual == 32 * 512 * 512 + 32 * 256 * 256


def test_budgets_count_what_the_artefact_stores(hw_v1):
    """A fused residual layer's synaptic convs have no neurons, and a 1x1 conv is stored as a
    centred 3x3 on hw_v1: check counts both as the artefact (and `snnc inspect`) does."""
    import dataclasses

    import numpy as np

    from snnc.compiler.check import check_graph
    from snnc.compiler.ir import Graph, Node, Value
    from snnc.compiler.passes.pipeline import frontend_pipeline

    rng = np.random.default_rng(0)
    g = Graph("res", ["x"], ["y"], [
        Node("c1", "conv", ["x"], ["a"], {"padding": (1, 1, 1, 1)}, {"weight": rng.normal(size=(4, 2, 3, 3))}),
        Node("r1", "relu", ["a"], ["ar"]),
        Node("c2", "conv", ["ar"], ["b"], {"padding": (1, 1, 1, 1)}, {"weight": rng.normal(size=(4, 4, 3, 3))}),
        Node("proj", "conv", ["x"], ["p"], {}, {"weight": rng.normal(size=(4, 2, 1, 1))}),
        Node("add", "add", ["b", "p"], ["s"]), Node("r2", "relu", ["s"], ["sr"]),
        Node("flat", "flatten", ["sr"], ["f"]),
        Node("fc", "linear", ["f"], ["y"], {}, {"weight": rng.normal(size=(3, 64))}),
    ], {"x": Value("x", (None, 2, 4, 4))})
    for n in g.nodes:
        g.add_value(n.output)
    g = frontend_pipeline(g)
    neurons = 2 * 4 * 16  # c1 and the add; not c2 or proj
    weights = (4 * 2 * 9 + 4 * 4 * 9 + 4 * 2 * 9) * 2  # proj as a 3x3, 2 bits
    tight = dataclasses.replace(hw_v1, max_neurons=neurons, max_weight_memory_bits=weights)
    assert check_graph(g, tight, 2).violations == []
    over = dataclasses.replace(hw_v1, max_neurons=neurons - 1, max_weight_memory_bits=weights - 1)
    assert sorted(v.code for v in check_graph(g, over, 2).violations) == ["HW013", "HW014"]
