"""`snnc.compiler.sensitivity` (issue 15): per layer, the accuracy with only that layer quantized
to each width, and the bit-exact SNN read up to each layer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnc.compiler.backend.build import prepare
from snnc.compiler.data import load_dataset
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.interpret import run as run_float
from snnc.compiler.sensitivity import (LayerSensitivity, Score, SensitivityReport, rerun, sensitivity)
from snnc.hwspec import load_spec

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "examples" / "models" / "lenet5_mnist.onnx"
DEMO = ROOT / "examples" / "data" / "mnist_demo.npz"
VICTIM = "/features/features.3/Conv"
HOST = "/classifier/classifier.5/Gemm"


def test_rerun_recomputes_only_downstream_and_matches_a_full_run():
    graph = prepare(LENET)
    x = load_dataset(DEMO, role="eval").take(8, (1, 28, 28))
    env = run_float(graph, x, all_values=True)
    out = graph.outputs[0]
    assert np.array_equal(rerun(graph, env), env[out])  # nothing changed: nothing runs
    changed = graph.copy()
    node = changed.node(VICTIM)
    node.params["weight"] = node.params["weight"] * -1.0
    expect = run_float(changed, x)[out]
    assert np.allclose(rerun(graph, env, nodes={VICTIM: node}), expect)
    relu = graph.consumers(graph.node(VICTIM).outputs[0])[0]  # a value given instead of computed
    zero = np.zeros_like(env[relu.outputs[0]])
    got = rerun(graph, env, values={relu.outputs[0]: zero})
    ref = graph.copy()
    ref.node(VICTIM).params["weight"] = np.zeros_like(ref.node(VICTIM).params["weight"])
    ref.node(VICTIM).params["bias"] = np.zeros_like(ref.node(VICTIM).params["bias"])
    assert np.allclose(got, run_float(ref, x)[out])


def _report() -> SensitivityReport:
    score = Score(accuracy=0.5, agreement=0.75)
    layer = LayerSensitivity(layer="a", artefact_name="a", op="conv", weights=9, fan_in=9, fits=[1, 2],
                             widths={1: score, 2: Score(0.9, 1.0)}, weight_error={1: 0.5, 2: 0.25},
                             snn_prefix=score, snn_cost=0.25)
    return SensitivityReport(model="m.onnx", data="d.npz", samples=4, timesteps=8, reference_bits=2, bits_list=[1, 2],
                             spec="hw_v1", labels=True, float_accuracy=1.0, qann=score, snn=score, layers=[layer])


def test_json_round_trip_keeps_every_number():
    r = _report()
    back = SensitivityReport.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r
    assert back.layers[0].widths[1] == Score(0.5, 0.75) and back.drops(1) == {"a": 0.5}
    assert "most sensitive at 1 bits: a" in back.to_text()


def test_bad_widths_and_timesteps_are_refused():
    graph, spec = prepare(LENET), load_spec("hw_v1")
    data = load_dataset(DEMO, role="eval")
    with pytest.raises(SnncError, match="bits-list"):
        sensitivity(graph, spec, data, bits_list=[0, 2])
    with pytest.raises(SnncError, match="timesteps"):
        sensitivity(graph, spec, data, timesteps=0)


@pytest.mark.slow
def test_the_layer_that_one_bit_destroys_shows_the_largest_drop():
    """Every core layer but VICTIM has weights of one magnitude (sign * mean |w|), which 1-bit
    weights hold exactly; VICTIM's are the trained ones, which 1 bit destroys."""
    graph = prepare(LENET)
    for n in graph.nodes:
        if n.op in ("conv", "linear") and n.name not in (VICTIM, HOST):
            w = n.params["weight"]
            n.params["weight"] = np.sign(w) * np.abs(w).mean()
    data, calib = load_dataset(DEMO, role="eval"), load_dataset(DEMO, role="calib")
    r = sensitivity(graph, load_spec("hw_v1"), data, calib, bits_list=[1, 4], timesteps=4, limit=100)
    assert [ls.layer for ls in r.layers] == ["/features/features.0/Conv", VICTIM, "/classifier/classifier.1/Gemm",
                                             "/classifier/classifier.3/Gemm"]
    assert r.most_sensitive(1) == VICTIM
    victim = next(ls for ls in r.layers if ls.layer == VICTIM)
    others = [ls for ls in r.layers if ls.layer != VICTIM]
    assert victim.widths[1].agreement < min(ls.widths[1].agreement for ls in others) - 0.1
    assert max(ls.weight_error[1] for ls in others) < victim.weight_error[1] / 2
    assert victim.widths[4].agreement > victim.widths[1].agreement + 0.1  # 4 bits keeps it
    assert r.samples == 100 and r.reference_bits == 4 and r.timesteps == 4
    # the SNN read up to the last core layer feeds the host layer as the whole SNN does
    assert abs(r.layers[-1].snn_prefix.agreement - r.snn.agreement) <= 0.02
    assert SensitivityReport.from_dict(json.loads(json.dumps(r.to_dict()))) == r


@pytest.mark.slow
def test_each_width_is_rounded_as_compile_rounds_it():
    """--rounding auto: GPTQ at 1-2 bits, nearest above (what compile does under --calibration
    auto): each width's variant has the weights of a compile at that width with that rounding."""
    from dataclasses import replace

    from snnc.compiler.backend.build import compile_graph
    from snnc.compiler.backend.options import CompileOptions
    from snnc.compiler.sensitivity import prepare_lowering, width_variants

    graph, spec = prepare(LENET), load_spec("hw_v1")
    calib = load_dataset(DEMO, role="calib")
    opts = CompileOptions(bits=4, timesteps=8, calib_samples=64)
    state = prepare_lowering(graph, spec, opts, calib)
    variants, _ = width_variants(state, {VICTIM: [2, 4]})
    for bits, rounding in ((2, "gptq"), (4, "nearest")):
        ref = compile_graph(graph, spec, replace(opts, bits=bits, calibration="off", rounding=rounding), calib)
        expect = ref.lowered.qann.node(VICTIM).params["weight"]
        assert np.array_equal(variants[(VICTIM, bits)][VICTIM].params["weight"], expect), bits
    other = compile_graph(graph, spec, replace(opts, bits=2, calibration="off", rounding="nearest"), calib)
    assert not np.array_equal(variants[(VICTIM, 2)][VICTIM].params["weight"],
                              other.lowered.qann.node(VICTIM).params["weight"])  # GPTQ did change it
