"""`snnc eval` from the command line: accuracy, per-layer activity, energy, sweeps, report, exit codes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
FITS = ROOT / "examples/models/lenet5_fits.onnx"
WIDE = ROOT / "examples/models/wide_conv.onnx"
DEMO = ROOT / "examples/data/mnist_demo.npz"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def calib(demo_subset):
    """The first 48 demo images, to calibrate and to score (keeps the tests fast)."""
    return demo_subset(48)


@pytest.fixture(scope="module")
def model_json(calib):
    res = invoke("eval", FITS, "--bits", 4, "--calib", calib, "--data", calib, "-T", "4,8", "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.slow
def test_eval_model_and_artefact(tmp_path, calib, model_json):
    r = model_json
    assert r["samples"] == 48 and set(r["snn"]) == {"4", "8"}
    assert 0.0 <= r["float"] <= 1.0 and 0.0 <= r["quantized_ann"] <= 1.0
    assert invoke("compile", FITS, "--bits", 4, "--calib", calib, "-T", 8, "-o", tmp_path / "m.snn", "-q").exit_code == 0
    res2 = invoke("eval", tmp_path / "m.snn", "--data", calib, "-T", "4,8", "--format", "json", "--e-mac", 1, "--e-ac", 1)
    r2 = json.loads(res2.stdout)
    # at T=8 the same artefact (the model's T=4 numbers are of one compiled for T=4), the same simulation
    assert r2["snn"]["8"] == r["snn"]["8"]
    # ... and the same activity: rates and SynOps come from that simulation
    assert [(x["firing_rate"]["8"], x["synops"]["8"]) for x in r2["layers"]] == \
        [(x["firing_rate"]["8"], x["synops"]["8"]) for x in r["layers"]]
    assert r2["quantized_ann"] is None and r2["layers"][0]["weight_error"] is None
    e = r2["energy"]["8"]
    assert e["snn_pj"] == pytest.approx(e["snn_accumulates"] + e["snn_macs"])  # 1 pJ each


@pytest.mark.slow
def test_per_layer_metrics_and_energy(model_json):
    r = model_json
    layers = r["layers"]
    assert [x["kind"] for x in layers] == ["conv", "avgpool", "conv", "avgpool", "linear", "linear"]
    first = layers[0]
    assert first["input"] == "current" and first["current_macs"] == first["macs"] > 0
    assert all(x["input"] == "spikes" for x in layers[1:])
    for x in layers:
        assert all(0.0 <= v <= 1.0 for v in x["firing_rate"].values())
        assert -1.0 <= x["correlation"] <= 1.0 and x["scale"] > 0
    assert all(x["weight_error"] is not None for x in layers if x["kind"] in ("conv", "linear"))
    e = r["energy"]["8"]
    assert e["synops"] == pytest.approx(sum(x["synops"]["8"] for x in layers))
    assert e["ann_macs"] == sum(x["macs"] for x in layers)
    assert e["snn_pj"] == pytest.approx(0.9 * e["snn_accumulates"] + 4.6 * e["snn_macs"])
    assert r["energy_model"]["e_mac_pj"] == 4.6 and "Horowitz" in r["energy_model"]["source"]
    assert r["command"].startswith("snnc eval ") and "--bits 4" in r["command"] and "-T 4,8" in r["command"]
    assert r["machine"]["cpus"] >= 1


@pytest.mark.slow
def test_text_output_and_quiet_progress(calib, monkeypatch):
    from snnc.compiler.cli import eval_cmd

    enabled = []
    real = eval_cmd.progress
    monkeypatch.setattr(eval_cmd, "progress", lambda on: enabled.append(on) or real(on))
    res = invoke("eval", FITS, "--bits", 4, "--calib", calib, "--data", calib, "-T", "2,4", "--limit", 16)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "16 samples" in out and "quantized ANN" in out and "SNN T=4" in out
    assert "firing rate" in out and "conv1.Conv" in out and "fc2.Gemm" in out
    assert "E_SNN/E_ANN" in out and "MACs" in out
    # CliRunner's stderr is no terminal: no bars; only warnings (the check's, the compile's agreement note)
    assert all(line.startswith("warning: ") for line in res.stderr.splitlines())
    assert any(line.startswith("warning: HW101") for line in res.stderr.splitlines())
    # -T 2,4 under automatic calibration: one artefact compiled for each T, and eval says so
    assert "one artefact compiled for each T" in out and "T=2: " in out and "T=4: " in out
    invoke("eval", FITS, "--bits", 4, "--calib", calib, "--data", calib, "-T", "2", "--limit", 8, "-q")
    assert enabled == [True, False]


@pytest.mark.slow
def test_sweep_side_by_side_with_report(tmp_path, calib):
    out = tmp_path / "rep"
    res = invoke("eval", FITS, "--bits", 2, "--calib", calib, "--data", calib, "-T", "2,4", "--limit", 16,
                 "--sweep", "reset=zero,subtract", "--sweep", "bits=4", "--report", out, "--format", "json")
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    labels = [c["label"] for c in r["configs"]]
    assert labels == ["reset=zero, bits=4", "reset=subtract, bits=4"]
    assert [(c["options"]["reset"], c["options"]["bits"]) for c in r["configs"]] == [("zero", 4), ("subtract", 4)]
    assert all(set(c["snn"]) == {"2", "4"} and c["layers"] for c in r["configs"])
    assert "quantized_ann" not in r and r["float"] is not None
    md = (out / "report.md").read_text()
    assert r["command"] in md and "--sweep reset=zero,subtract --sweep bits=4" in md
    assert "## Configurations side by side" in md and "| reset=subtract, bits=4 |" in md
    assert "Horowitz" in md and r["machine"]["cpu"] in md
    for name in ["accuracy_vs_T.png"] + [f"{p}_{i}.png" for p in ("correlation", "weight_error", "firing_rates") for i in (1, 2)]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name})" in md


@pytest.mark.slow
def test_sweep_text_table_and_a_config_that_does_not_fit(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.random((8, 3, 16, 16)).astype(np.float32), y=rng.integers(0, 10, 8))
    res = invoke("eval", WIDE, "--data", data, "--calib", data, "-T", "2", "--sweep", "bits=1,2", "-q")
    assert res.exit_code == 1, res.output  # a check failed for one configuration, everything else is reported
    lines = res.stdout.splitlines()
    assert any(line.startswith("bits=1 ") and "%" in line for line in lines)
    assert any(line.startswith("bits=2 ") and "no fit" in line for line in lines)


@pytest.mark.parametrize("extra,msg", [
    ([], "--bits is required"),
    (["--bits", "2", "--sweep", "colour=red"], "KEY=V1,V2 with KEY one of"),
    (["--bits", "2", "--sweep", "reset=zero,sideways"], "reset"),
    (["--bits", "2", "--sweep", "bits=2,x"], "bits"),
    (["--bits", "2", "--sweep", "bits=2", "--sweep", "bits=3"], "swept twice"),
    (["--bits", "2", "--sweep", "bits=2,7"], "--bits 7"),
    (["--bits", "2", "--e-mac", "0"], "--e-mac"),
])
def test_bad_input_exits_2_with_one_line(extra, msg):
    res = CliRunner().invoke(cli, ["eval", str(FITS), "--data", str(DEMO)] + extra)
    assert res.exit_code == 2, res.output
    assert msg in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_sweep_of_an_artefact_is_refused(tmp_path, calib):
    assert invoke("compile", FITS, "--bits", 2, "--calib", calib, "-T", 4, "-o", tmp_path / "m.snn", "-q").exit_code == 0
    res = CliRunner().invoke(cli, ["eval", str(tmp_path / "m.snn"), "--data", str(calib), "--sweep", "bits=2,4"])
    assert res.exit_code == 2 and "--sweep needs a model" in res.output


@pytest.mark.slow
def test_artefact_with_float_reference_model(tmp_path, calib, model_json):
    """--float-model scores a reference float model on the same data next to the artefact's SNN."""
    assert invoke("compile", FITS, "--bits", 4, "--calib", calib, "-T", 8, "-o", tmp_path / "m.snn", "-q").exit_code == 0
    res = invoke("eval", tmp_path / "m.snn", "--data", calib, "-T", "4,8", "--float-model", FITS, "--format", "json")
    r = json.loads(res.stdout)
    assert r["float"] == model_json["float"]  # the same model on the same data
    assert r["snn"] == model_json["snn"]
    bad = CliRunner().invoke(cli, ["eval", str(FITS), "--bits", "4", "--data", str(calib), "--float-model", str(FITS)])
    assert bad.exit_code == 2 and "--float-model goes with an artefact" in bad.output


@pytest.mark.slow
def test_automatic_calibration_compiles_one_artefact_per_t(calib, model_json):
    """-T 4,8 under --calibration auto: each T's numbers are those of an eval at that T alone."""
    assert model_json["compiled_per_timesteps"] is True
    assert set(model_json["quantized_ann_by_timesteps"]) == {"4", "8"}
    for t in (4, 8):
        res = invoke("eval", FITS, "--bits", 4, "--calib", calib, "--data", calib, "-T", t, "--format", "json")
        alone = json.loads(res.stdout)
        assert "compiled_per_timesteps" not in alone
        assert alone["snn"][str(t)] == model_json["snn"][str(t)]
        assert alone["quantized_ann"] == model_json["quantized_ann_by_timesteps"][str(t)]
        assert alone["agreement_snn_vs_quantized_ann"][str(t)] == model_json["agreement_snn_vs_quantized_ann"][str(t)]
    off = invoke("eval", FITS, "--bits", 4, "--calib", calib, "--data", calib, "-T", "4,8", "--calibration", "off",
                 "--format", "json")
    assert "compiled_per_timesteps" not in json.loads(off.stdout)  # one artefact serves every T
