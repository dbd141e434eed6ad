"""`snnc run` streams: chunks of samples are simulated and written one at a time, and the .npz
is the one `np.savez(**result_arrays(simulate(all samples)))` wrote (issue 11 item 2)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from snnc.compiler.cli.main import cli
from snnc.runtime import load, simulate
from snnc.runtime.npyio import result_arrays

ARTEFACT = Path(__file__).resolve().parents[2] / "runtime" / "golden" / "lenet_host.snn"
run_cmd = sys.modules.get("snnc.compiler.cli.run_cmd") or __import__("snnc.compiler.cli.run_cmd", fromlist=["x"])


def _inputs(tmp_path, n: int) -> Path:
    art = load(ARTEFACT)
    x = np.random.default_rng(0).uniform(0, 1, (n, *art.input.shape)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


def test_chunked_run_writes_what_one_simulation_gives(tmp_path, monkeypatch):
    monkeypatch.setattr(run_cmd, "PROBE", 3)
    monkeypatch.setattr(run_cmd, "CHUNK_BYTES", 1)  # every later chunk: --batch-size samples
    x_path = _inputs(tmp_path, 25)
    res = CliRunner().invoke(cli, ["run", str(ARTEFACT), str(x_path), "-T", "6", "--trace", "--batch-size", "4",
                                   "--out", str(tmp_path / "r.npz")])
    assert res.exit_code == 0, res.output
    whole = result_arrays(simulate(load(ARTEFACT), np.load(x_path), 6, trace=True))
    got = np.load(tmp_path / "r.npz")
    assert got.files == list(whole)
    for k, v in whole.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and np.array_equal(got[k], v), k
    counts = whole["output_counts"].reshape(25, -1)
    assert "25 sample(s), T=6" in res.output and f"{int(counts.sum())} spikes" in res.output
    assert "  sample 19:" in res.output and "  sample 20:" not in res.output and "... 5 more" in res.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_trace_too_large_is_refused_naming_the_size(tmp_path, monkeypatch):
    monkeypatch.setattr(run_cmd, "MAX_TRACE_BYTES", 1000)
    x_path = _inputs(tmp_path, 5)
    res = CliRunner().invoke(cli, ["run", str(ARTEFACT), str(x_path), "-T", "4", "--trace", "--out", str(tmp_path / "r.npz")])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "--trace" in lines[0] and "5 samples at T=4" in lines[0] and "limit 1.0 kB" in lines[0]
    assert not (tmp_path / "r.npz").exists()
