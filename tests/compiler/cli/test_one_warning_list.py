"""Every command that reads the model shows the same warnings, and options that do not apply are
refused (issue 18, item 5): compile repeats check's HW101; eval of an artefact refuses --bits,
--norm, --calib instead of ignoring them."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
LENET = ROOT / "examples" / "models" / "lenet5_mnist.onnx"
DATA = ROOT / "examples" / "data" / "mnist_demo.npz"


@pytest.fixture(scope="module")
def artefact(tmp_path_factory):
    out = tmp_path_factory.mktemp("w") / "lenet.snn"
    res = CliRunner().invoke(cli, ["compile", str(LENET), "--bits", "4", "--calib", str(DATA), "--calib-samples", "64",
                                   "-T", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out, res


@pytest.mark.slow
def test_compile_repeats_the_checks_warnings(artefact):
    _, res = artefact
    check = CliRunner().invoke(cli, ["check", str(LENET), "--bits", "4"])
    assert "HW101" in check.output
    assert "warning: HW101 linear-synapse-row /classifier/classifier.1/Gemm" in res.stderr


@pytest.mark.slow
def test_eval_of_a_model_repeats_them_too():
    res = CliRunner().invoke(cli, ["eval", str(LENET), "--bits", "4", "--calib", str(DATA), "--calib-samples", "32",
                                   "--data", str(DATA), "--limit", "16", "-T", "2"])
    assert res.exit_code == 0, res.output
    assert "warning: HW101" in res.stderr


@pytest.mark.parametrize("extra,named", [(["--bits", "2"], "--bits"), (["--norm", "max"], "--norm"),
                                         (["--calib", str(DATA)], "--calib"), (["--per-channel"], "--per-channel")])
@pytest.mark.slow
def test_eval_of_an_artefact_refuses_compile_options(artefact, extra, named):
    out, _ = artefact
    res = CliRunner().invoke(cli, ["eval", str(out), "--data", str(DATA), "--limit", "8", "-T", "2"] + extra)
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and named in res.stderr
    assert "already compiled" in res.stderr


@pytest.mark.slow
def test_eval_of_an_artefact_takes_its_own_options(artefact):
    out, _ = artefact
    res = CliRunner().invoke(cli, ["eval", str(out), "--data", str(DATA), "--limit", "8", "-T", "2"])
    assert res.exit_code == 0, res.output
