"""`snnc compile` from the command line: exit codes, outputs, determinism."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc import runtime
from snnc.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
FITS = ROOT / "examples/models/lenet5_fits.onnx"
WIDE = ROOT / "examples/models/wide_conv.onnx"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def calib(demo_subset):
    """The first 64 demo images, to calibrate and to score (keeps the tests fast)."""
    return demo_subset(64)


@pytest.mark.slow
def test_compile_writes_a_verified_artefact(tmp_path, calib):
    out = tmp_path / "m.snn"
    res = invoke("compile", FITS, "--hw", "hw_v1", "--bits", 2, "--calib", calib, "-T", 8, "-o", out)
    assert res.exit_code == 0, res.output
    assert "agreement SNN vs quantized ANN" in res.output and f"wrote {out}" in res.output
    art = runtime.load(out)
    assert runtime.verify(art).ok
    assert art.golden.timesteps == 8
    prov = art.provenance
    assert prov["hardware_spec"]["name"] == "hw_v1" and prov["options"]["bits"] == 2
    assert prov["source"]["sha256"] and prov["calibration"]["samples"] == 64
    assert all(layer.bits == 2 for layer in art.layers if hasattr(layer, "bits"))


@pytest.mark.slow
def test_same_inputs_give_a_byte_identical_artefact(tmp_path, calib):
    a, b = tmp_path / "a.snn", tmp_path / "sub" / "b.snn"
    b.parent.mkdir()
    for out in (a, b):
        assert invoke("compile", FITS, "--bits", 3, "--calib", calib, "-T", 4, "-o", out, "-q").exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_violating_model_exits_1_and_writes_nothing(tmp_path):
    out = tmp_path / "w.snn"
    res = invoke("compile", WIDE, "--bits", 2, "-o", out)
    assert res.exit_code == 1
    assert "HW001" in res.output and "--bits-for /conv2/Conv=1" in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_json_summary_has_every_layer(tmp_path, calib):
    res = invoke("compile", FITS, "--bits", 4, "--calib", calib, "-T", 4, "-o", tmp_path / "m.snn", "--format", "json")
    assert res.exit_code == 0
    s = json.loads(res.output)
    art = runtime.load(tmp_path / "m.snn")
    assert [layer["artefact_name"] for layer in s["layers"]] == [layer.name for layer in art.layers]
    assert s["agreement"]["samples"] == 64
    conv = next(layer for layer in s["layers"] if layer["kind"] == "conv")
    assert conv["row_bits"] <= conv["row_budget"] and conv["theta_min"] >= 1


@pytest.mark.slow
def test_without_calibration_it_warns_and_still_compiles(tmp_path):
    res = invoke("compile", FITS, "--bits", 2, "-T", 4, "-o", tmp_path / "m.snn")
    assert res.exit_code == 0
    assert "no calibration data" in res.stderr and "no calibration data" not in res.stdout
    assert runtime.verify(runtime.load(tmp_path / "m.snn")).ok


@pytest.mark.parametrize("args,msg", [
    (["compile", "missing.onnx", "--bits", "2"], "no such model file"),
    (["compile", str(FITS), "--bits", "7"], "--bits 7"),
    (["compile", str(FITS), "--bits", "2", "--hw", "nope.yaml"], "nope.yaml"),
    (["compile", str(FITS), "--bits", "2", "--calib", "missing.npz"], "missing.npz"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, msg):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert msg in res.output
    assert "Traceback" not in res.output


@pytest.mark.slow
def test_spikenorm_and_max_normalization_compile(tmp_path, calib):
    for norm in ("max", "spikenorm"):
        res = invoke("compile", FITS, "--bits", 4, "--calib", calib, "--norm", norm, "-T", 8, "-o", tmp_path / f"{norm}.snn", "-q")
        assert res.exit_code == 0, res.output
        assert runtime.load(tmp_path / f"{norm}.snn").provenance["options"]["norm"] == norm



@pytest.mark.slow
def test_gptq_rounding_is_reported_and_recorded_and_nearest_is_not(tmp_path, calib):
    """`--rounding gptq`: the summary names the layers it rounded and the provenance records them;
    `--rounding nearest` gives neither (--calibration off keeps it quick)."""
    out = tmp_path / "g.snn"
    res = invoke("compile", FITS, "--bits", 2, "--calib", calib, "--calibration", "off", "--rounding", "gptq",
                 "-T", 8, "-o", out, "-q")
    assert res.exit_code == 0, res.output
    assert "weight rounding: GPTQ" in res.output
    rnd = runtime.load(out).provenance["rounding"]
    assert rnd["method"] == "gptq" and len(rnd["layers"]) == 4
    near = tmp_path / "n.snn"
    res = invoke("compile", FITS, "--bits", 2, "--calib", calib, "--calibration", "off", "--rounding", "nearest",
                 "-T", 8, "-o", near, "-q")
    assert res.exit_code == 0 and "weight rounding" not in res.output
    assert "rounding" not in runtime.load(near).provenance
    assert runtime.load(near).provenance["options"]["rounding"] == "nearest"
