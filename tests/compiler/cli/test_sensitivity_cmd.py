"""`snnc sensitivity MODEL --data DATA.npz`: text, JSON (round trip), plot; bad input is one
`error:` line and exit 2."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli
from snnc.compiler.sensitivity import SensitivityReport

ROOT = Path(__file__).resolve().parents[3]
LENET = ROOT / "examples" / "models" / "lenet5_mnist.onnx"
DEMO = ROOT / "examples" / "data" / "mnist_demo.npz"


def snnc(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="snnc")


def one_error(res, text):
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], res.stderr
    assert "Traceback" not in res.output


@pytest.mark.parametrize("args, text", [
    (["missing.onnx", "--data", DEMO], "missing.onnx: no such model file"),
    ([LENET, "--data", "missing.npz"], "missing.npz: no such data file"),
    ([LENET, "--data", DEMO, "--bits-list", "2,x"], "expected comma-separated integers"),
    ([LENET, "--data", DEMO, "--bits-list", "0,9"], "widths must lie in 1..8"),
    ([LENET, "--data", DEMO, "-T", "0"], "-T"),
    ([LENET, "--data", DEMO, "--hw", "nope"], "nope"),
])
def test_bad_input_is_one_error_line(args, text):
    one_error(snnc("sensitivity", *args), text)


def test_missing_data_option_is_a_usage_error():
    res = snnc("sensitivity", LENET)
    assert res.exit_code == 2 and "--data" in res.output


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    one_error(snnc("sensitivity", LENET, "--data", DEMO, "--plot", tmp_path / "s.png"), "--plot needs matplotlib")
    assert not (tmp_path / "s.png").exists()


@pytest.mark.slow
def test_text_json_and_plot(tmp_path):
    common = [LENET, "--data", DEMO, "--limit", "50", "--bits-list", "1,4", "-T", "4", "-q"]
    res = snnc("sensitivity", *common, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    report = SensitivityReport.from_dict(doc)
    assert report.samples == 50 and report.bits_list == [1, 4] and report.labels
    assert [ls.layer for ls in report.layers][0] == "/features/features.0/Conv"
    assert SensitivityReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    res = snnc("sensitivity", *common, "--plot", tmp_path / "s.png")
    assert res.exit_code == 0, res.output
    assert "accuracy (%): only the layer at the width" in res.stdout and "most sensitive at 1 bits:" in res.stdout
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
