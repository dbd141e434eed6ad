"""`snnc inspect`, and `--format json` of inspect, verify and run: one JSON document on stdout,
the exit codes of the text form, bad artefacts as one `error:` line (exit 2)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from snnc.compiler.cli.main import cli
from snnc.compiler.inspect import inspect_artefact
from snnc.runtime import load

GOLDEN = Path(__file__).resolve().parents[2] / "runtime" / "golden"
LENET = GOLDEN / "lenet_host.snn"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_inspect_json_round_trip():
    res = invoke("inspect", GOLDEN / "fused_residual.snn", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc == json.loads(json.dumps(inspect_artefact(GOLDEN / "fused_residual.snn").to_dict()))
    assert doc["schema"] == "snnc-inspect/1"
    assert [r["kind"] for r in doc["layers"]] == [layer.kind for layer in load(GOLDEN / "fused_residual.snn").layers]
    assert {"neurons", "weight_memory_bits", "synapse_row"} <= set(doc["chip"])


def test_inspect_text():
    res = invoke("inspect", LENET)
    assert res.exit_code == 0, res.output
    assert "conv1" in res.output and "host_linear" in res.output and "neurons: 850" in res.output


def test_bad_artefact_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.snn"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("manifest.json", "{}")
    for cmd in (["inspect", bad, "--format", "json"], ["verify", bad, "--format", "json"],
                ["inspect", tmp_path / "missing.snn"]):
        res = invoke(*cmd)
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in res.output


def test_verify_json_ok_and_mismatch(tmp_path):
    res = invoke("verify", LENET, "--format", "json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["mismatch"] is None and doc["exit_code"] == 0 and doc["checked"] > 0
    # an artefact whose golden counts were edited: exit 1, the mismatch in the document
    import dataclasses

    from snnc import runtime

    art = load(LENET)
    counts = dict(art.golden.counts)
    first = next(iter(counts))
    c = counts[first].copy()
    c.flat[0] += 1
    bad = dataclasses.replace(art, golden=dataclasses.replace(art.golden, counts={**counts, first: c}, spikes=None))
    runtime.save(bad, tmp_path / "edited.snn")
    res = invoke("verify", tmp_path / "edited.snn", "--format", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 1 and doc["mismatch"]["layer"] == first


def test_run_json(tmp_path):
    art = load(LENET)
    x = np.random.default_rng(0).uniform(0, 1, (25, *art.input.shape)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    res = invoke("run", LENET, tmp_path / "x.npy", "-T", "6", "--format", "json", "--out", tmp_path / "r.npz")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    saved = np.load(tmp_path / "r.npz")
    assert doc["schema"] == "snnc-run/1" and doc["samples"] == 25 and doc["timesteps"] == 6
    assert doc["predictions"] == saved["predictions"].tolist()
    assert doc["output_spikes"] == saved["output_counts"].reshape(25, -1).sum(axis=1).tolist()
    assert doc["spikes"] == sum(doc["output_spikes"]) and doc["out"] == str(tmp_path / "r.npz")
