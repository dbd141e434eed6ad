"""`snnc check` / `snnc compile` accept .pt2 files (torch.export.save) through `load_model`,
with no CLI change: the same verdict as the ONNX route, layers named by module path."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli

from .conftest import export_onnx, nn, torch

ROOT = Path(__file__).resolve().parents[4]
LENET_PT2 = ROOT / "examples" / "models" / "lenet5_mnist.pt2"
LENET_ONNX = ROOT / "examples" / "models" / "lenet5_mnist.onnx"
MNIST = ROOT / "examples" / "data" / "mnist_demo.npz"


class ThreeBad(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 7, padding=3), nn.ReLU(),   # 7x7: HW002
            nn.Conv2d(8, 60, 3, padding=1),             # no ReLU after it: HW003
            nn.Conv2d(60, 8, 3, padding=1), nn.ReLU(),  # 60 > 56 input channels at 2 bits: HW001
        )
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def check_json(path, bits=2):
    res = CliRunner().invoke(cli, ["check", str(path), "--hw", "hw_v1", "--bits", str(bits), "--format", "json"])
    return res.exit_code, json.loads(res.output)


def test_check_shipped_pt2_fits_like_the_onnx():
    res = CliRunner().invoke(cli, ["check", str(LENET_PT2), "--hw", "hw_v1", "--bits", "2"])
    assert res.exit_code == 0, res.output
    assert "features.0" in res.output and "classifier.5" in res.output and "FITS" in res.output
    assert check_json(LENET_ONNX)[0] == 0


@pytest.mark.slow
def test_check_pt2_violations_same_verdict_as_onnx_with_module_paths(tmp_path):
    model = ThreeBad().eval()
    x = torch.randn(2, 3, 16, 16)
    pt2 = tmp_path / "bad.pt2"
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},)), str(pt2))
    onnx_path = tmp_path / "bad.onnx"
    export_onnx(model, x, onnx_path)
    code_t, rep_t = check_json(pt2)
    code_o, rep_o = check_json(onnx_path)
    assert code_t == code_o == 1
    codes = lambda rep: sorted(v["code"] for v in rep["violations"])  # noqa: E731
    assert codes(rep_t) == codes(rep_o) and {"HW001", "HW002", "HW003"} <= set(codes(rep_t))
    assert {v["layer"] for v in rep_t["violations"]} == {"features.0", "features.2", "features.3"}
    text = CliRunner().invoke(cli, ["check", str(pt2), "--bits", "2"]).output
    assert "features.3" in text and "=1: limit" in text


@pytest.mark.slow
def test_compile_and_verify_shipped_pt2(tmp_path):
    out = tmp_path / "lenet.snn"
    res = CliRunner().invoke(cli, ["compile", str(LENET_PT2), "--bits", "2", "--calib", str(MNIST),
                                   "--calib-samples", "64", "-T", "8", "-o", str(out), "-q", "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert [l["name"] for l in summary["layers"]][:1] == ["features.0"]
    assert summary["agreement"]["snn_vs_quantized_ann"] > 0.8
    assert CliRunner().invoke(cli, ["verify", str(out)]).exit_code == 0


class Gadget:  # a class torch.load(weights_only=True) refuses
    pass


def test_pt2_needing_unpickling_is_refused(tmp_path):
    bad = tmp_path / "pickled.pt2"
    with zipfile.ZipFile(LENET_PT2) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if "/data/sample_inputs/" in item.filename:
                buf = io.BytesIO()
                torch.save({"x": Gadget()}, buf)
                data = buf.getvalue()
            dst.writestr(item, data)
    res = CliRunner().invoke(cli, ["check", str(bad), "--bits", "2"])
    assert res.exit_code == 2 and "refusing to load" in res.output and "arbitrary code" in res.output


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_bad_pt2_files_exit_2(tmp_path, content):
    path = tmp_path / "bad.pt2"
    if content is None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x/readme.txt", "hello")
    else:
        path.write_bytes(content)
    res = CliRunner().invoke(cli, ["check", str(path), "--bits", "2"])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output
