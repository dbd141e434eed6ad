"""`snnc diff A B`: exit 0 identical, 1 different, 2 bad input; text and JSON."""
from __future__ import annotations

import pytest

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from snnc.compiler.cli.main import cli
from snnc.runtime import load

GOLDEN = Path(__file__).resolve().parents[2] / "runtime/golden"
ART = GOLDEN / "lenet_host.snn"


def snnc(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="snnc", catch_exceptions=False)


def traced(tmp_path, name="run.npz", timesteps=None):
    x = tmp_path / "x.npy"
    np.save(x, np.asarray(load(ART).golden.inputs))
    out = tmp_path / name
    res = snnc("run", ART, x, "--trace", "--out", out, *(["-T", timesteps] if timesteps else []), "--backend", "numpy")
    assert res.exit_code == 0, res.output
    return out


def test_golden_vs_run_trace_identical(tmp_path):
    out = traced(tmp_path)
    res = snnc("diff", ART, out)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("identical: ")
    assert "conv1" in res.output and "head" in res.output
    res = snnc("diff", out, out, "--format", "json")
    assert res.exit_code == 0
    assert json.loads(res.output)["identical"] is True


def test_flipped_spike_exit_1_with_location(tmp_path):
    out = traced(tmp_path)
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["spikes/conv2"][3, 5, 2, 1, 3] ^= 1
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    res = snnc("diff", out, bad)
    assert res.exit_code == 1
    first = res.output.splitlines()[0]
    assert "layer 'conv2' spikes differ at timestep 5, sample 3, neuron [2, 1, 3]" in first
    a = int(arrays["spikes/conv2"][3, 5, 2, 1, 3]) ^ 1
    assert f"A={a} B={1 - a}" in first
    doc = json.loads(snnc("diff", out, bad, "--format", "json").output)
    assert doc["first"]["layer"] == "conv2" and doc["first"]["timestep"] == 5 and doc["first"]["neuron"] == [2, 1, 3]
    row = next(r for r in doc["layers"] if r["layer"] == "conv2")
    assert row["differing"]["spikes"] == 1


def test_different_T_and_missing_layer_exit_1(tmp_path):
    out = traced(tmp_path)
    short = traced(tmp_path, "short.npz", timesteps=4)
    res = snnc("diff", out, short)
    assert res.exit_code == 1 and "different T: A has T=8, B has T=4" in res.output
    with np.load(out) as z:
        partial = {k: z[k] for k in z.files if not k.endswith("/fc1")}
    p = tmp_path / "partial.npz"
    np.savez(p, **partial)
    res = snnc("diff", ART, p)
    assert res.exit_code == 1 and "layer 'fc1': missing in B" in res.output
    assert snnc("diff", ART, p, "--common-only").exit_code == 0


def test_bad_input_exit_2_one_line(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros(3))
    for args in (("diff", ART, tmp_path / "missing.npz"), ("diff", ART, x)):
        res = snnc(*args)
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error: ") and res.output.count("\n") == 1 and "Traceback" not in res.output
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"spikes/conv1": np.full((1, 2, 3), 5)})
    res = snnc("diff", ART, bad)
    assert res.exit_code == 2 and "spikes must be 0 or 1" in res.output


@pytest.mark.slow
def test_float_route_rate_error_per_layer(tmp_path, demo_subset):
    data = demo_subset(16)
    model = Path(__file__).resolve().parents[3] / "examples/models/lenet5_mnist_qat2.onnx"
    art = tmp_path / "l2.snn"
    res = snnc("compile", model, "--hw", "hw_v1", "--bits", "2", "--norm", "max", "--calib", data,
               "--timesteps", 16, "-o", art, "-q")
    assert res.exit_code == 0, res.output
    res = snnc("diff", model, art, "--data", data, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["first"] is None and doc["timesteps"] == 16 and doc["samples"] == 16
    names = [layer["layer"] for layer in doc["layers"]]
    assert names[0] == "features.features.0.Conv" and len(names) == 6
    assert all(0 <= layer["mean_abs_error"] < 0.05 for layer in doc["layers"])
    res = snnc("diff", model, art, "--data", data, "-T", 2, "--rate-threshold", 0.001)
    assert res.exit_code == 1 and res.output.startswith("first layer over the rate threshold 0.001: 'features.features.0.Conv'")
    other = Path(__file__).resolve().parents[3] / "examples/models/lenet5_mnist.onnx"
    res = snnc("diff", other, art, "--data", data)
    assert res.exit_code == 2 and "not the model the artefact was compiled from" in res.output
