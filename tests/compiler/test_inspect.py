"""`snnc.compiler.inspect`: per-layer and per-chip use of an artefact, counted as `snnc check`
counts it (snnc.compiler.budgets), against the spec the artefact embeds."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from snnc import runtime
from snnc.compiler.backend.build import compile_graph
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.check import check_graph
from snnc.compiler.data import Dataset
from snnc.compiler.frontends import load_model
from snnc.compiler.inspect import inspect_artefact, inspect_loaded
from snnc.compiler.passes import frontend_pipeline
from snnc.hwspec import load_spec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/runtime/golden"
KERAS = ROOT / "tests/compiler/frontends/onnx/fixtures/keras_cnn.onnx"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """keras_cnn compiled for hw_v1 at 2 bits with conv1 at 4 (examples/data-like calibration in [0, 1])."""
    graph = frontend_pipeline(load_model(KERAS))
    calib = np.random.default_rng(0).uniform(0, 1, (32, 16, 16, 3)).astype(np.float32)
    out = tmp_path_factory.mktemp("inspect") / "keras.snn"
    conv1 = graph.nodes[0].name
    opts = CompileOptions(bits=2, timesteps=8, layer_bits=((conv1, 4),))
    compile_graph(graph, load_spec("hw_v1"), opts, Dataset(x=calib, y=None, scale=1.0, source="<calib>"), out=out)
    return graph, out, conv1


@pytest.mark.slow
def test_numbers_equal_what_check_counts(compiled, tmp_path):
    graph, out, conv1 = compiled
    spec = load_spec("hw_v1")
    ins = inspect_artefact(out)
    assert ins.fits is True and ins.spec["name"] == "hw_v1"
    # check's HW013/HW014 totals: with budgets of 1, check reports exactly the used amounts
    doc = dict(spec.document)
    import yaml

    doc["parameters"] = {**doc["parameters"], "max_neurons": {"value": 1, "status": "assumed"},
                         "max_weight_memory_bits": {"value": 1, "status": "assumed"}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(doc))
    report = check_graph(graph, load_spec(tmp_path / "tiny.yaml"), 2, layer_bits={conv1: 4})
    found = {v.code: v.actual for v in report.violations}
    assert found["HW013"] == ins.chip["neurons"]["used"]
    assert found["HW014"] == ins.chip["weight_memory_bits"]["used"]
    assert ins.chip["neurons"]["budget"] == spec.max_neurons
    assert ins.chip["weight_memory_bits"]["utilization"] == pytest.approx(found["HW014"] / spec.max_weight_memory_bits)
    first = ins.layers[0]
    assert first.bits == 4 and first.in_channels_limit == spec.conv_limit(3, 4) and first.in_channels_per_row == 3
    assert first.row_bits == 3 * 3 * 3 * 4 and first.row_budget == spec.synapse_row_bits
    check_rows = {r.in_channels: r.limit for r in report.layers if r.op.startswith("conv")}
    assert check_rows[3] == first.in_channels_limit
    assert [r.placement for r in ins.layers][-1] == "host" and ins.chip["host_layers"] == 1


def test_synaptic_convs_have_no_neurons_and_multipliers_are_listed():
    ins = inspect_artefact(GOLDEN / "fused_residual.snn")
    rows = {r.name: r for r in ins.layers}
    assert rows["c2"].synaptic and rows["c2"].neurons == 0 and rows["c2"].threshold is None
    assert rows["block"].neurons == 27 and rows["block"].multipliers is not None
    assert ins.chip["neurons"]["used"] == sum(r.neurons for r in ins.layers)
    assert ins.fits is None and ins.notes  # a stand-in spec: nothing to compare with


def test_an_artefact_over_the_budgets_is_reported(compiled):
    _, out, _ = compiled
    art = runtime.load(out)
    hs = dict(art.hardware_spec)
    hs["parameters"] = {**hs["parameters"], "max_neurons": {"value": 100, "status": "assumed"}}
    ins = inspect_loaded(dataclasses.replace(art, hardware_spec=hs), "over.snn")
    assert ins.fits is False and [v.code for v in ins.violations] == ["HW013"]
    assert "OVER" in ins.to_text()
