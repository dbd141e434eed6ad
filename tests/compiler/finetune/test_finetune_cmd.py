"""`snnc finetune` from the command line."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from snnc.compiler.cli.main import cli  # noqa: E402


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.slow
def test_finetune_writes_a_verified_model(tiny_onnx, tiny_data, tmp_path):
    out = tmp_path / "q.onnx"
    res = invoke("finetune", tiny_onnx, "--data", tiny_data, "--bits", 2, "--per-channel", "--max-steps", 2,
                 "--calib-samples", 64, "--batch-size", 32, "--threads", 1, "--device", "cpu", "-o", out, "--format", "json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["verified"] is True and not s["problems"] and out.is_file()
    assert "--norm max --per-channel --calibration off --calib-samples 64" in s["compile_command"]
    assert len(s["layers"]) == 3  # two convs and the hidden linear; the last linear stays on the host


@pytest.mark.slow
def test_snn_training_with_reset_and_v_init(tiny_onnx, tiny_data, tmp_path):
    """--timesteps trains the SNN; the compile command carries the reset/v_init it trained with,
    and the verification compiles with them."""
    out = tmp_path / "s.onnx"
    res = invoke("finetune", tiny_onnx, "--data", tiny_data, "--bits", 2, "--per-channel", "--max-steps", 2, "-T", "4,3",
                 "--reset", "zero", "--v-init", "zero", "--calib-samples", 64, "--batch-size", 32, "--threads", 1,
                 "--device", "cpu", "-o", out, "--format", "json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["verified"] is True and s["options"]["timesteps"] == [3, 4] and s["options"]["reset"] == "zero"
    assert "--reset zero --v-init zero" in s["compile_command"]
    res = invoke("finetune", tiny_onnx, "--data", tiny_data, "--bits", 2, "-T", -1)
    assert res.exit_code == 2 and "timesteps must be positive integers" in res.output


def test_bad_inputs_exit_2(tiny_onnx, tmp_path):
    res = invoke("finetune", tiny_onnx, "--data", tmp_path / "none.npz", "--bits", 2)
    assert res.exit_code == 2 and "no such data file" in res.output
    res = invoke("finetune", tiny_onnx, "--data", tmp_path / "none.npz", "--bits", 7)
    assert res.exit_code == 2 and "--bits 7" in res.output


@pytest.mark.slow
def test_calibrates_on_what_compile_reads(tiny_onnx, tmp_path, images):
    """With calib_x in the file, compile calibrates on it: so does finetune (trains on x_train)."""
    import numpy as np

    (x, y), (cx, _) = images(96, seed=1), images(64, seed=2)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x, y_train=y, calib_x=cx[:, ::-1].copy(), x_scale=np.float32(1 / 255))
    out = tmp_path / "q.onnx"
    res = invoke("finetune", tiny_onnx, "--data", data, "--bits", 3, "--max-steps", 2, "--calib-samples", 64,
                 "--threads", 1, "--device", "cpu", "-o", out, "-q")
    assert res.exit_code == 0, res.output
    assert "verified: snnc compile reproduces the trained integers" in res.stdout
    assert f"--calib-samples 64 --calib {data}" in res.stdout
