"""The Python API: nn.Module -> check report / compiled artefact in three lines."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import snnc.compiler as snnc  # noqa: E402
from snnc.compiler.errors import SnncError, UnsupportedOpsError  # noqa: E402


def small_cnn(cin=1):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(cin, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 6 * 6, 16), nn.ReLU(), nn.Linear(16, 4),
    )


@pytest.mark.slow
def test_importing_snnc_compiler_does_not_import_torch():
    code = "import sys, snnc.compiler as c; assert callable(c.check_module); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", "import sys, snnc.compiler; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_check_module_reports_by_module_path():
    report = snnc.check_module(small_cnn(), torch.randn(1, 1, 12, 12), bits=2)
    assert report.exit_code == 0
    assert [r.layer for r in report.layers][:1] == ["0"]  # BN folded into conv "0"
    wide = nn.Sequential(nn.Conv2d(1, 60, 3, padding=1), nn.ReLU(), nn.Conv2d(60, 8, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    bad = snnc.check_module(wide, torch.randn(2, 1, 4, 4), hw="hw_v1", bits=2)
    assert bad.exit_code == 1 and [v.layer for v in bad.violations] == ["2"] and "--bits-for 2=1" in bad.to_text()
    assert snnc.check_module(wide, torch.randn(2, 1, 4, 4), bits=1).exit_code == 0


@pytest.mark.slow
def test_compile_module_three_lines(tmp_path):
    model, x = small_cnn(), torch.rand(64, 1, 12, 12)
    result = snnc.compile_module(model, x[:1], bits=2, calib=x, out=tmp_path / "m.snn", timesteps=8)
    assert result.exit_code == 0 and (tmp_path / "m.snn").is_file()
    assert result.agreement is not None and result.agreement_samples == 64
    assert result.artefact.provenance["options"]["timesteps"] == 8


@pytest.mark.slow
def test_compile_module_options_and_errors(tmp_path):
    model, x = small_cnn(), np.random.default_rng(0).uniform(0, 1, (32, 1, 12, 12)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", x=x)
    res = snnc.compile_module(model, x[:2], bits=4, calib=tmp_path / "calib.npz", timesteps=4, reset="zero",
                              norm="max", per_channel=True)
    assert res.exit_code == 0 and res.artefact.provenance["options"]["reset"] == "zero"
    with pytest.raises(SnncError, match="unknown compile option"):
        snnc.compile_module(model, x[:2], bits=2, threshold=3)
    with pytest.raises(SnncError, match="allows"):
        snnc.check_module(model, x[:2], bits=7)
    with pytest.raises(UnsupportedOpsError, match="nn.LSTM"):
        snnc.check_module(nn.LSTM(4, 4), torch.randn(2, 3, 4), bits=2)


def test_import_module_canonical():
    g = snnc.import_module(small_cnn(), torch.randn(2, 1, 12, 12))
    assert [n.op for n in g.nodes][:2] == ["conv", "batchnorm"]
    c = snnc.import_module(small_cnn(), torch.randn(2, 1, 12, 12), canonical=True)
    assert "batchnorm" not in [n.op for n in c.nodes]


@pytest.mark.slow
def test_eval_module_is_snnc_eval_in_python():
    rng = np.random.default_rng(0)
    x = rng.random((48, 1, 12, 12)).astype(np.float32)
    y = rng.integers(0, 4, 48)
    run = snnc.eval_module(small_cnn(), x[:2], bits=4, calib=x, data=(x, y), timesteps=(2, 4), limit=32)
    assert run.fits and run.result["samples"] == 32 and set(run.result["snn"]) == {2, 4}
    assert 0.0 <= run.result["float"] <= 1.0 and run.result["quantized_ann"] is not None
    swept = snnc.eval_module(small_cnn(), x[:2], calib=x, data=(x, y), timesteps=4, limit=16,
                             sweep={"bits": [2, 4], "per_channel": [False, True]})
    assert [c["label"] for c in swept.configs] == [
        "bits=2, per_channel=false", "bits=2, per_channel=true", "bits=4, per_channel=false", "bits=4, per_channel=true"]
    with pytest.raises(SnncError, match="norm"):
        snnc.eval_module(small_cnn(), x[:2], bits=4, calib=x, data=(x, y), norm="maximum")
    with pytest.raises(SnncError, match="labels"):
        snnc.eval_module(small_cnn(), x[:2], bits=4, calib=x, data=(x, y[:3]))
