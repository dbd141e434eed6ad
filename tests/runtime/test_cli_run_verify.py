"""`snnc run` and `snnc verify`: exit codes 0 / 1 / 2, one-line errors, no tracebacks."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from snnc.compiler.cli.run_cmd import run
from snnc.compiler.cli.verify_cmd import verify
from snnc.runtime import load, save
from snnc.runtime.manifest import npy_bytes

from sim_backends import over_backends

GOLDEN = Path(__file__).parent / "golden"


def invoke(cmd, args):
    return CliRunner().invoke(cmd, [str(a) for a in args], catch_exceptions=False)


def test_verify_ok():
    res = invoke(verify, [GOLDEN / "lenet_host.snn"])
    assert res.exit_code == 0, res.output
    assert "ok:" in res.output


def test_verify_mismatch_exit_1_names_layer_timestep_neuron(tmp_path):
    src = GOLDEN / "wrap_residual.snn"
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    spikes = np.load(__import__("io").BytesIO(members["golden/spikes/res.npy"]))
    spikes[2, 7, 1, 4, 0] ^= 1
    members["golden/spikes/res.npy"] = npy_bytes(spikes)
    import hashlib
    manifest["checksums"]["golden/spikes/res.npy"] = hashlib.sha256(members["golden/spikes/res.npy"]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    members["manifest.sha256"] = (hashlib.sha256(members["manifest.json"]).hexdigest() + "\n").encode()
    bad = tmp_path / "tampered.snn"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    res = invoke(verify, [bad])
    assert res.exit_code == 1
    assert "layer 'res'" in res.output and "timestep 7" in res.output and "neuron [1, 4, 0]" in res.output
    assert "sample 2" in res.output and "Traceback" not in res.output


def test_verify_corrupt_zip_exit_2_no_traceback(tmp_path):
    bad = tmp_path / "corrupt.snn"
    data = bytearray((GOLDEN / "rate_mlp.snn").read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    bad.write_bytes(bytes(data))
    res = invoke(verify, [bad])
    assert res.exit_code == 2
    assert res.output.startswith("error: ") and res.output.count("\n") == 1 and "Traceback" not in res.output
    trunc = tmp_path / "trunc.snn"
    trunc.write_bytes((GOLDEN / "rate_mlp.snn").read_bytes()[:100])
    res = invoke(verify, [trunc])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_run_prints_predictions_and_writes_npz(tmp_path):
    art = load(GOLDEN / "lenet_host.snn")
    x = tmp_path / "x.npy"
    np.save(x, np.asarray(art.golden.inputs))
    out = tmp_path / "out.npz"
    res = invoke(run, [GOLDEN / "lenet_host.snn", x, "--timesteps", 8, "--out", out, "--trace"])
    assert res.exit_code == 0, res.output
    assert "sample 3: prediction" in res.output
    with np.load(out) as z:
        np.testing.assert_array_equal(z["predictions"], art.golden.predictions)
        np.testing.assert_array_equal(z["counts/fc1"], art.golden.counts["fc1"])
        np.testing.assert_array_equal(z["spikes/conv1"], art.golden.spikes["conv1"])
        assert z["membranes/conv1"].shape == (4, 8, 4, 12, 12)


def test_run_single_sample_and_default_timesteps(tmp_path):
    art = load(GOLDEN / "rate_mlp.snn")
    x = tmp_path / "one.npy"
    np.save(x, np.asarray(art.golden.inputs[0]))
    out = tmp_path / "o.npz"
    res = invoke(run, [GOLDEN / "rate_mlp.snn", x, "--out", out])
    assert res.exit_code == 0, res.output
    with np.load(out) as z:
        np.testing.assert_array_equal(z["output_counts"], art.golden.counts["h2"][:1])
        assert int(z["timesteps"]) == 16


def test_run_bad_inputs_exit_2(tmp_path):
    art_path = GOLDEN / "lenet_host.snn"
    cases = {
        "shape.npy": np.zeros((2, 3, 12, 12), np.float32),
        "nan.npy": np.full((1, 1, 12, 12), np.nan, np.float32),
        "dtype.npy": np.array([["a"]]),
        "range.npy": np.full((1, 1, 12, 12), 999, np.int32),
    }
    for name, arr in cases.items():
        np.save(tmp_path / name, arr)
        res = invoke(run, [art_path, tmp_path / name, "-T", 4])
        assert res.exit_code == 2, (name, res.output)
        assert res.output.startswith("error: ") and res.output.count("\n") == 1, res.output
    np.save(tmp_path / "obj.npy", np.array([object()], dtype=object), allow_pickle=True)
    for name in ("obj.npy", "missing.npy"):
        res = invoke(run, [art_path, tmp_path / name, "-T", 4])
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    save(load(GOLDEN / "wrap_residual.snn").__class__(**{**load(GOLDEN / "wrap_residual.snn").__dict__, "golden": None}),
         tmp_path / "nogold.snn")
    np.save(tmp_path / "w.npy", np.zeros((2, 6, 6), np.int8))
    res = invoke(run, [tmp_path / "nogold.snn", tmp_path / "w.npy"])
    assert res.exit_code == 2 and "--timesteps" in res.output
    shutil.copy(art_path, tmp_path / "copy.snn")


@over_backends
def test_backend_option_verify_and_run_identical(tmp_path, backend):
    res = invoke(verify, [GOLDEN / "wrap_residual.snn", "--backend", backend])
    assert res.exit_code == 0, res.output
    art = load(GOLDEN / "wrap_residual.snn")
    np.save(tmp_path / "x.npy", art.golden.inputs)
    outs = {}
    for b in ("numpy", backend):
        outs[b] = tmp_path / f"{b}.npz"
        res = invoke(run, [GOLDEN / "wrap_residual.snn", tmp_path / "x.npy", "-T", 5, "--trace", "--out", outs[b],
                           "--backend", b])
        assert res.exit_code == 0, res.output
    with np.load(outs["numpy"]) as a, np.load(outs[backend]) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_unknown_backend_is_a_usage_error():
    res = CliRunner().invoke(verify, [str(GOLDEN / "rate_mlp.snn"), "--backend", "gpu"])
    assert res.exit_code == 2 and "gpu" in res.output
