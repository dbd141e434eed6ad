"""`--bits auto` (issue 15): per-layer widths that fit the spec — each layer at the widest width
its synapse row allows, narrowed where the weight-memory budget demands it, least costly first."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from snnc import runtime
from snnc.compiler.backend.build import prepare
from snnc.compiler.backend.fit import solve_bits
from snnc.compiler.check import check_graph
from snnc.compiler.cli.main import cli
from snnc.compiler.errors import SnncError
from snnc.hwspec import load_spec
from snnc.hwspec.loader import resolve

ROOT = Path(__file__).resolve().parents[3]
WIDE = ROOT / "examples" / "models" / "wide_conv.onnx"
LENET = ROOT / "examples" / "models" / "lenet5_mnist.onnx"


def spec_with(tmp_path, **params):
    doc = yaml.safe_load(resolve("hw_v1").read_text())
    for k, v in params.items():
        doc["parameters"][k] = {"value": v, "status": "assumed"}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    return load_spec(tmp_path / "s.yaml")


def test_each_layer_takes_the_widest_width_its_row_allows():
    graph, spec = prepare(WIDE), load_spec("hw_v1")
    plan = solve_bits(graph, spec)
    assert {c.layer: c.bits for c in plan.layers} == {"/conv1/Conv": 4, "/conv2/Conv": 1}  # 57 channels: 1 bit only
    assert plan.default == 4 and plan.layer_bits == (("/conv2/Conv", 1),)
    assert check_graph(graph, spec, plan.default, layer_bits=plan.layer_bits).fits


def test_the_budget_narrows_the_cheapest_layers_first(tmp_path):
    graph = prepare(LENET)
    roomy = solve_bits(graph, load_spec("hw_v1"))
    budget = roomy.weight_bits - 40_000  # forces the 48,000-weight linear (or others) narrower
    plan = solve_bits(graph, spec_with(tmp_path, max_weight_memory_bits=budget))
    assert plan.weight_bits <= budget < roomy.weight_bits
    assert all(c.bits in c.allowed for c in plan.layers)
    with pytest.raises(SnncError, match="narrowest"):
        solve_bits(graph, spec_with(tmp_path, max_weight_memory_bits=1000))


@pytest.mark.slow
def test_cli_check_hints_auto_and_compile_uses_it(tmp_path):
    res = CliRunner().invoke(cli, ["check", str(WIDE), "--bits", "2"])
    assert res.exit_code == 1 and "--bits auto (or --bits 4 --bits-for /conv2/Conv=1)" in res.output
    assert CliRunner().invoke(cli, ["check", str(WIDE), "--bits", "auto"]).exit_code == 0
    res = CliRunner().invoke(cli, ["compile", str(WIDE), "--bits", "auto", "--dry-run"])
    assert res.exit_code == 0 and "compile with: --bits 4 --bits-for /conv2/Conv=1" in res.stderr
    assert not (WIDE.with_suffix(".snn")).exists()
    out = tmp_path / "w.snn"
    res = CliRunner().invoke(cli, ["compile", str(WIDE), "--bits", "auto", "-T", "2", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    art = runtime.load(out)
    assert [layer.bits for layer in art.layers if hasattr(layer, "bits")] == [4, 1]
    res = CliRunner().invoke(cli, ["compile", str(WIDE), "--bits", "2", "--dry-run"])
    assert res.exit_code == 2 and "--dry-run goes with --bits auto" in res.stderr
