"""`snnc finetune` prints the `snnc compile` command that rebuilds exactly the integers it verified,
data options included (issue 18, item 1: `--data-scale` used to be dropped, giving input scale 1
and first-layer thresholds of 2..9 instead of hundreds)."""
from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from snnc import runtime  # noqa: E402
from snnc.compiler.backend.build import compile_graph, prepare  # noqa: E402
from snnc.compiler.backend.options import CompileOptions, compile_flags  # noqa: E402
from snnc.compiler.cli.main import cli  # noqa: E402
from snnc.compiler.data import load_dataset  # noqa: E402
from snnc.hwspec import load_spec  # noqa: E402


@pytest.mark.slow
def test_printed_compile_command_reproduces_the_verified_integers(tiny_onnx, images, tmp_path):
    x, y = images(160)
    data = tmp_path / "train_noscale.npz"
    np.savez(data, x_train=x, y_train=y)  # no x_scale: the model's input scale is given by --data-scale
    out = tmp_path / "ft.onnx"
    args = ["finetune", str(tiny_onnx), "--data", str(data), "--bits", "2", "--data-scale", "0.00392156862745098",
            "--max-steps", "2", "--batch-size", "32", "--calib-samples", "64", "--per-channel", "--device", "cpu",
            "--threads", "1", "-o", str(out), "--format", "json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    assert summary["verified"] is True
    words = shlex.split(summary["compile_command"])
    assert words[:2] == ["snnc", "compile"] and "--data-scale" in words and "--per-channel" in words
    snn = tmp_path / "printed.snn"
    res = CliRunner().invoke(cli, words[1:] + ["-o", str(snn), "-q"])
    assert res.exit_code == 0, res.output
    printed = runtime.load(snn)

    copts = CompileOptions(bits=2, norm="max", calibration="off", per_channel=True, calib_samples=64)  # what finetune verified
    calib = load_dataset(data, role="calib", scale=0.00392156862745098)
    verified = compile_graph(prepare(out), load_spec("hw_v1"), copts, calib).artefact
    assert printed.input.scale == verified.input.scale
    for a, b in zip(printed.layers, verified.layers):
        if getattr(a, "neuron", None) is not None:
            assert a.neuron == b.neuron, a.name
        if hasattr(a, "weight"):
            assert np.array_equal(a.weight, b.weight), a.name
    assert min(printed.layers[0].neuron.threshold) > 20  # not the thresholds of input scale 1


def test_compile_flags_cover_every_non_default_option():
    opts = CompileOptions(bits=3, norm="max", calibration="off", percentile=99.0, reset="zero", v_init="zero", per_channel=True,
                          input_encoding="rate", input_scale=0.5, calib_samples=7, timesteps=8)
    words = compile_flags(opts)
    assert words == ["--bits", "3", "--timesteps", "8", "--norm", "max", "--percentile", "99.0", "--reset", "zero",
                     "--v-init", "zero", "--per-channel", "--input-encoding", "rate", "--input-scale", "0.5",
                     "--calibration", "off", "--calib-samples", "7"]
    assert compile_flags(CompileOptions(bits=2)) == ["--bits", "2"]


def test_every_flag_compile_flags_prints_is_a_compile_option():
    """A printed compile command must run: each --flag compile_flags can emit is an option of snnc compile."""
    import dataclasses

    from snnc.compiler.backend.options import NOT_FLAGS, flag
    from snnc.compiler.cli.compile_cmd import compile_cmd

    accepted = {o for p in compile_cmd.params for o in p.opts}
    for f in dataclasses.fields(CompileOptions):
        if f.name in NOT_FLAGS:
            continue
        name = "--bits-for" if f.name == "layer_bits" else flag(f.name)
        assert name in accepted, f"compile_flags may print {name}, which snnc compile does not take"
