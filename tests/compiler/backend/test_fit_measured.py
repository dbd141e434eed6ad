"""`--bits auto` with calibration data (issue 15): the budget is spent by measured single-layer
sensitivity (an exact multiple-choice knapsack); without a binding budget the plan is the
fit-first one."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from snnc.compiler.backend.build import prepare
from snnc.compiler.backend.fit import knapsack, solve_bits
from snnc.compiler.check import check_graph
from snnc.compiler.cli.main import cli
from snnc.compiler.data import load_dataset
from snnc.hwspec import load_spec
from snnc.hwspec.loader import resolve

ROOT = Path(__file__).resolve().parents[3]
LENET = ROOT / "examples" / "models" / "lenet5_mnist.onnx"
DEMO = ROOT / "examples" / "data" / "mnist_demo.npz"


def spec_file(tmp_path, **params) -> Path:
    doc = yaml.safe_load(resolve("hw_v1").read_text())
    for k, v in params.items():
        doc["parameters"][k] = {"value": v, "status": "assumed"}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path / "s.yaml"


def brute(options, budget):
    best = None
    for combo in itertools.product(*options):
        if budget is not None and sum(c for _, c, _, _ in combo) > budget:
            continue
        key = (round(sum(d for _, _, d, _ in combo), 9), round(sum(t for _, _, _, t in combo), 9))
        if best is None or key < best[0]:
            best = (key, [b for b, _, _, _ in combo])
    return best


def test_knapsack_is_exact_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(200):
        layers = int(rng.integers(1, 5))
        options = []
        for _ in range(layers):
            w = int(rng.integers(1, 50))
            options.append([(b, b * w, float(rng.integers(0, 5)) / 10, float(rng.random())) for b in (1, 2, 3, 4)])
        budget = int(rng.integers(0, 400))
        want = brute(options, budget)
        got = knapsack(options, budget)
        if want is None:
            assert got == []
            continue
        loss = lambda picks: (round(sum(dict((b, d) for b, _, d, _ in o)[p] for o, p in zip(options, picks)), 9),  # noqa: E731
                              round(sum(dict((b, t) for b, _, _, t in o)[p] for o, p in zip(options, picks)), 9))
        assert loss(got) == want[0]
        assert sum(dict((b, c) for b, c, _, _ in o)[p] for o, p in zip(options, got)) <= budget


def test_knapsack_without_budget_takes_the_least_loss():
    options = [[(1, 10, 0.5, 0.0), (4, 40, 0.0, 0.0)], [(2, 20, 0.1, 0.2), (3, 30, 0.1, 0.1)]]
    assert knapsack(options, None) == [4, 3]  # equal drops: the smaller tie-break (weight error) wins


@pytest.mark.slow
def test_measured_plan_fits_the_budget_and_minimises_the_measured_drop(tmp_path):
    graph = prepare(LENET)
    calib = load_dataset(DEMO, role="calib")  # calib_x: no labels, so agreement with the float model
    roomy = solve_bits(graph, load_spec("hw_v1"))
    same = solve_bits(graph, load_spec("hw_v1"), calib)
    assert [c.bits for c in same.layers] == [c.bits for c in roomy.layers]  # the budget does not bind
    budget = roomy.weight_bits - 40_000
    spec = load_spec(spec_file(tmp_path, max_weight_memory_bits=budget))
    plan = solve_bits(graph, spec, calib)
    assert plan.metric == "agreement" and plan.samples == 256 and plan.float_score == 1.0
    assert plan.weight_bits <= budget
    assert check_graph(graph, spec, plan.default, layer_bits=plan.layer_bits).fits
    # no other choice of allowed widths within the budget has a smaller summed (monotone) drop
    def drop(c, b):
        return max(1.0 - c.measured[w] for w in c.allowed if w >= b)
    chosen = sum(drop(c, c.bits) for c in plan.layers)
    for combo in itertools.product(*(c.allowed for c in plan.layers)):
        if sum(b * c.weights for b, c in zip(combo, plan.layers)) <= budget:
            assert chosen <= sum(drop(c, b) for b, c in zip(combo, plan.layers)) + 1e-9
    assert plan.predicted == pytest.approx(1.0 - chosen)
    assert 0.0 <= plan.measured <= 1.0
    text = plan.to_text(spec)
    assert "measured on 256 calibration inputs" in text and "compile with: " + plan.flags() in text


@pytest.mark.slow
def test_cli_compile_dry_run_with_calib_prints_the_measured_plan(tmp_path):
    spec = spec_file(tmp_path, max_weight_memory_bits=200_000)
    res = CliRunner().invoke(cli, ["compile", str(LENET), "--hw", str(spec), "--bits", "auto", "--calib", str(DEMO),
                                   "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "--bits auto (measured on the calibration data)" in res.stderr
    assert "measured on 256 calibration inputs" in res.stderr and "compile with: --bits" in res.stderr
    res = CliRunner().invoke(cli, ["compile", str(LENET), "--bits", "auto", "--calib", str(DEMO), "--bits-for",
                                   "/features/features.0/Conv=2", "--dry-run"])
    assert res.exit_code == 2 and "drop --bits-for" in res.output
