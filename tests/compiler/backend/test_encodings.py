"""The input encodings at compile time (docs/semantics.md section 5, docs/encodings.md): the spec's
list, the artefact's input fields, λ of the input, the population encoding's widened first layer,
and a compile -> verify round trip per encoding."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend.build import compile_graph
from snnc.compiler.backend.lower import input_quantization, lower, quantize_input
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.scales import input_unit
from snnc.compiler.errors import SnncError
from snnc.compiler.ir import Graph, Node, Value
from snnc.compiler.ir.interpret import run
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec
from tiny_models import normalized

NEW = ("poisson", "population", "ttfs")


def net(rng, first="conv"):
    """conv (or linear on a flat input) -> relu -> ... -> linear; input (1, 6, 6) or (12,)."""
    if first == "conv":
        nodes = [Node("conv1", "conv", ["x"], ["c1"], {"padding": (1, 1, 1, 1)},
                      {"weight": rng.normal(0, 0.4, (4, 1, 3, 3)), "bias": rng.normal(0, 0.05, 4)}),
                 Node("relu1", "relu", ["c1"], ["r1"]),
                 Node("flat", "flatten", ["r1"], ["f"]),
                 Node("fc", "linear", ["f"], ["y"], {}, {"weight": rng.normal(0, 0.3, (5, 4 * 36))})]
        shape = (None, 1, 6, 6)
    else:
        nodes = [Node("fc1", "linear", ["x"], ["h"], {}, {"weight": rng.normal(0, 0.4, (8, 12))}),
                 Node("relu1", "relu", ["h"], ["r1"]),
                 Node("fc", "linear", ["r1"], ["y"], {}, {"weight": rng.normal(0, 0.3, (5, 8))})]
        shape = (None, 12)
    g = Graph("net", ["x"], ["y"], nodes, {"x": Value("x", shape)})
    for n in g.nodes:
        g.add_value(n.output)
    return frontend_pipeline(g)


def lowered(g, x, **kw):
    spec = load_spec("hw_v1")
    opts = CompileOptions(bits=4, timesteps=16, **kw)
    plan, rng_in, scales = normalized(g, spec, opts, x)
    return lower(plan, spec, opts, scales, rng_in)


def test_hw_v1_lists_every_encoding_as_assumed():
    spec = load_spec("hw_v1")
    assert spec.input_encodings == ("current", "rate", "poisson", "population", "ttfs")


def test_input_unit():
    assert input_unit("current", 255, 0.5) == 0.5
    assert input_unit("rate", 255, 0.5) == input_unit("poisson", 255, 0.5) == 127.5
    assert input_unit("population", 255, 0.5, population=5) == 25.5
    assert input_unit("ttfs", 255, 0.5, timesteps=8) == 1020.0


@pytest.mark.parametrize("first", ["conv", "linear"])
def test_population_first_layer_repeats_each_channel_over_its_p_neurons(first):
    rng = np.random.default_rng(0)
    g = net(rng, first)
    x = rng.random((32,) + tuple(g.shape(g.inputs[0])[1:]))
    low = lowered(g, x, input_encoding="population", input_population=3)
    a = low.artefact
    assert a.input.encoding == "population" and a.input.population == 3 and a.input.shape == x.shape[1:]
    w = a.layers[0].weight
    assert w.shape[1] == 3 * (1 if first == "conv" else 12)
    for p in range(3):  # channel c*P + p carries channel c's weights
        assert np.array_equal(w[:, p::3], w[:, 0::3])
    # the SNN (on every backend) tracks the quantized ANN, whose weights act on the unencoded input
    res = runtime.simulate(a, x, 16, backend="numpy")
    ref = runtime.simulate(a, x[:3], 16, trace=True, backend="reference")
    assert np.array_equal(runtime.simulate(a, x[:3], 16, trace=True, backend="numpy").spikes[a.layers[0].name],
                          ref.spikes[a.layers[0].name])
    ann = run(low.qann, quantize_input(x, a.input.lo, a.input.hi, a.input.scale))["y"].argmax(axis=1)
    assert np.mean(ann == res.predictions) >= 0.7


def test_encoding_fields_and_their_defaults():
    rng = np.random.default_rng(1)
    g = net(rng)
    x = rng.random((8, 1, 6, 6))
    assert lowered(g, x, input_encoding="poisson", input_seed=77).artefact.input.seed == 77
    assert lowered(g, x, input_encoding="ttfs").artefact.input.window == 16  # default: T
    assert lowered(g, x, input_encoding="ttfs", input_window=40).artefact.input.window == 40
    art = lowered(g, x, input_encoding="rate").artefact
    assert (art.input.seed, art.input.population, art.input.window) == (0, 1, 1)
    # options at their defaults are not recorded (existing artefacts keep their bytes)
    assert not {"input_seed", "input_population", "input_window"} & set(CompileOptions(bits=4).to_dict())


def test_refusals():
    spec = load_spec("hw_v1")
    with pytest.raises(SnncError, match="poisson input encoding needs non-negative inputs"):
        input_quantization(spec, CompileOptions(bits=4, input_encoding="poisson"), -1.0, 1.0)
    with pytest.raises(SnncError, match="spikenorm"):
        input_quantization(spec, CompileOptions(bits=4, input_encoding="ttfs", norm="spikenorm"), 0.0, 1.0)
    with pytest.raises(SnncError, match="input-population"):
        CompileOptions(bits=4, input_population=0)
    old = dataclasses.replace(spec, input_encodings=("current", "rate"))
    g = net(np.random.default_rng(2))
    with pytest.raises(SnncError, match="--input-encoding ttfs: the spec hw_v1 supports current, rate"):
        compile_graph(g, old, CompileOptions(bits=4, input_encoding="ttfs"), None)


@pytest.mark.parametrize("encoding", NEW)
def test_compile_verify_round_trip(tmp_path, encoding):
    g = net(np.random.default_rng(3))
    out = tmp_path / f"{encoding}.snn"
    res = compile_graph(g, load_spec("hw_v1"), CompileOptions(bits=4, timesteps=8, input_encoding=encoding), None,
                        out=out)
    assert res.exit_code == 0
    art = runtime.load(out)
    assert art.input.encoding == encoding
    assert runtime.verify(art).ok and runtime.verify(art, backend="reference").ok
