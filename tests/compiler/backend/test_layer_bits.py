"""Per-layer bit widths (`--bits-for LAYER=N`, `CompileOptions.layer_bits`): check applies each
layer's own width, compile emits it, and the hints name the flag that makes a model fit."""
from __future__ import annotations

import pytest

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from snnc import runtime
from snnc.compiler.backend.options import CompileOptions, compile_flags
from snnc.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
WIDE = ROOT / "examples" / "models" / "wide_conv.onnx"  # 57 input channels: 2 bits is one channel too many
LENET = ROOT / "examples" / "models" / "lenet5_mnist.onnx"
DATA = ROOT / "examples" / "data" / "mnist_demo.npz"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_hint_is_a_flag_that_makes_the_model_fit():
    res = invoke("check", WIDE, "--bits", "2")
    assert res.exit_code == 1 and "use --bits-for /conv2/Conv=1" in res.output
    res = invoke("check", WIDE, "--bits", "2", "--bits-for", "/conv2/Conv=1", "--format", "json")
    report = json.loads(res.output)
    assert res.exit_code == 0 and report["layer_bits"] == {"/conv2/Conv": 1}
    assert {r["layer"]: r["bits"] for r in report["layers"]}["/conv2/Conv"] == 1
    assert invoke("check", WIDE, "--bits", "2", "--bits-for", "conv2.Conv=1").exit_code == 0  # artefact-style name


def test_bad_layer_names_and_widths():
    res = invoke("check", WIDE, "--bits", "2", "--bits-for", "nope=1")
    assert res.exit_code == 2 and "no conv or linear layer named 'nope'" in res.stderr and "/conv2/Conv" in res.stderr
    res = invoke("check", WIDE, "--bits", "2", "--bits-for", "/conv2/Conv=7")
    assert res.exit_code == 1 and "HW005" in res.output and "--bits-for /conv2/Conv=N" in res.output
    res = invoke("check", WIDE, "--bits", "2", "--bits-for", "/conv2/Conv")
    assert res.exit_code == 2 and "LAYER=N" in res.stderr


@pytest.mark.slow
def test_compile_emits_each_layers_width(tmp_path):
    out = tmp_path / "m.snn"
    res = invoke("compile", LENET, "--bits", "4", "--bits-for", "/features/features.3/Conv=2", "--bits-for",
                 "/classifier/classifier.1/Gemm=1", "--calib", DATA, "--calib-samples", "64", "-T", "4", "-o", out, "-q")
    assert res.exit_code == 0, res.output
    art = runtime.load(out)
    bits = {layer.name: layer.bits for layer in art.layers if hasattr(layer, "bits")}
    assert bits == {"features.features.0.Conv": 4, "features.features.3.Conv": 2,
                    "classifier.classifier.1.Gemm": 1, "classifier.classifier.3.Gemm": 4}
    w = art.layer("features.features.3.Conv").weight
    assert w.min() >= -1 and w.max() <= 1  # 2-bit symmetric
    assert set(np.unique(art.layer("classifier.classifier.1.Gemm").weight)) <= {-1, 1}
    assert art.provenance["options"]["layer_bits"] == {"/classifier/classifier.1/Gemm": 1, "/features/features.3/Conv": 2}
    assert runtime.verify(art).ok


def test_options_record_and_reproduce_layer_bits():
    opts = CompileOptions(bits=4, layer_bits={"b": 2, "a": 1})
    assert opts.layer_bits == (("a", 1), ("b", 2)) and opts.bits_of("a") == 1 and opts.bits_of("c") == 4
    assert compile_flags(opts) == ["--bits", "4", "--bits-for", "a=1", "--bits-for", "b=2"]
    assert "layer_bits" not in CompileOptions(bits=4).to_dict()  # uniform-width artefacts keep their bytes
