"""Compiled artefacts carry float golden inputs, so `verify` replays the input quantization too
(issue 11, item 4): a re-sealed change of `input.scale` loads but fails verify."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend.build import compile_graph, prepare
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.data import load_dataset
from snnc.hwspec import load_spec

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.parametrize("with_calib", [True, False])
def test_golden_inputs_are_float_and_a_changed_scale_fails_verify(tmp_path, with_calib):
    graph = prepare(ROOT / "examples" / "models" / "lenet5_mnist.onnx")
    calib = load_dataset(ROOT / "examples" / "data" / "mnist_demo.npz") if with_calib else None
    out = tmp_path / "m.snn"
    compile_graph(graph, load_spec("hw_v1"), CompileOptions(bits=4, timesteps=4, calib_samples=64), calib, out=out)
    art = runtime.load(out)
    assert art.golden.inputs.dtype == np.float32 and runtime.verify(art).ok
    with zipfile.ZipFile(out) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["input"]["scale"] *= 2
    text = json.dumps(manifest, indent=1).encode()
    members["manifest.json"], members["manifest.sha256"] = text, (hashlib.sha256(text).hexdigest() + "\n").encode()
    edited = tmp_path / "edited.snn"
    with zipfile.ZipFile(edited, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    assert not runtime.verify(runtime.load(edited)).ok
