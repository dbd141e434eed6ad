"""Automatic calibration (`--calibration auto`, issue 13): the choice is deterministic, depends on
the calibration inputs only (not their labels), lowers the measured SNN error against
`--calibration off`, and the artefact stays bit-exact; `off` is the old pipeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend.autocal import tlevel_scale
from snnc.compiler.backend.build import compile_graph, prepare
from snnc.compiler.backend.calibrate import BINS, ActivationStats
from snnc.compiler.backend.options import CompileOptions, compile_flags
from snnc.compiler.data import Dataset, load_dataset
from snnc.compiler.evaluate import evaluate
from snnc.hwspec import load_spec

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "examples" / "data" / "mnist_demo.npz"
T = 4


def stats_of(values: np.ndarray) -> ActivationStats:
    s = ActivationStats(maximum=float(values.max()))
    idx = np.minimum((values / s.maximum * BINS).astype(np.int64), BINS - 1)
    s.hist += np.bincount(idx, minlength=BINS)
    s.count = values.size
    return s


def test_tlevel_scale_is_deterministic_and_clips_harder_at_small_t():
    a = np.abs(np.random.default_rng(0).standard_cauchy(20000))
    s = stats_of(a)
    lam = {t: tlevel_scale(s, t) for t in (2, 4, 16, 64)}
    assert lam[4] == tlevel_scale(s, 4)
    assert s.percentile(50) <= lam[2] <= lam[4] <= lam[16] <= lam[64] <= s.maximum
    assert tlevel_scale(None, 4) == 1.0 and tlevel_scale(ActivationStats(), 4) == 1.0


def test_off_is_recorded_as_before_and_auto_is_a_flag():
    off = CompileOptions(bits=4, calibration="off")
    assert "calibration" not in off.to_dict()  # old artefacts keep their bytes
    assert CompileOptions(bits=4).to_dict()["calibration"] == "auto"
    assert compile_flags(off) == ["--bits", "4", "--calibration", "off"]


def build(calibration: str, calib=None, out=None):
    graph = prepare(ROOT / "examples" / "models" / "lenet5_mnist.onnx")
    data = calib if calib is not None else load_dataset(DEMO)
    opts = CompileOptions(bits=4, timesteps=T, calib_samples=128, calibration=calibration)
    return compile_graph(graph, load_spec("hw_v1"), opts, data, out=out)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("autocal")
    return {name: build(name, out=d / f"{name}.snn") for name in ("off", "auto")}


@pytest.mark.slow
def test_auto_lowers_the_snn_error_and_verifies(compiled):
    test = load_dataset(DEMO, role="eval")
    off, auto = compiled["off"], compiled["auto"]
    acc = {k: evaluate(r.artefact, test, [T], limit=500).snn_acc[T] for k, r in compiled.items()}
    assert acc["auto"] > acc["off"]
    assert auto.agreement is not None and auto.float_agreement >= off.float_agreement
    assert runtime.verify(runtime.load(auto.out)).ok
    prov = auto.artefact.provenance
    assert prov["options"]["calibration"] == "auto" and prov["options"]["per_channel"] is True
    layers = prov["autocal"]["layers"]
    assert [c["layer"] for c in layers] == [rep.artefact_name for rep in auto.lowered.layers if rep.calibration]
    assert all(rep.calibration for rep in auto.lowered.layers if rep.kind in ("conv", "linear"))


@pytest.mark.slow
def test_auto_is_deterministic_and_ignores_labels(compiled, tmp_path):
    data = load_dataset(DEMO)
    relabelled = Dataset(x=data.x, y=np.zeros(len(data.x), dtype=np.int64), scale=data.scale, source=data.source)
    again = build("auto", calib=relabelled, out=tmp_path / "again.snn")
    assert again.out.read_bytes() == compiled["auto"].out.read_bytes()


@pytest.mark.slow
def test_off_is_the_old_pipeline(compiled):
    off = compiled["off"]
    prov = off.artefact.provenance
    assert "autocal" not in prov and "calibration" not in prov["options"]
    assert prov["options"]["per_channel"] is False
    assert all(rep.calibration is None for rep in off.lowered.layers)
    assert runtime.verify(runtime.load(off.out)).ok


@pytest.mark.slow
def test_the_quantization_cache_changes_no_byte(compiled, tmp_path, monkeypatch):
    from snnc.compiler.backend import autocal
    from snnc.compiler.backend.quantize import quantize_weights

    class NoCache:  # every lowering quantizes every layer, as before the cache
        hits = misses = 0

        def __call__(self, *args, **kwargs):
            return quantize_weights(*args, **kwargs)

    monkeypatch.setattr(autocal, "QuantizeCache", NoCache)
    plain = build("auto", out=tmp_path / "plain.snn")
    assert plain.out.read_bytes() == compiled["auto"].out.read_bytes()


def test_search_samples_keep_small_networks_and_bound_large_ones(monkeypatch):
    from snnc.compiler.backend import autocal
    from snnc.compiler.backend.steps import dense_macs

    art = runtime.load(ROOT / "tests" / "runtime" / "golden" / "doc_example.snn")
    assert autocal.search_samples(art, 32, 128) == autocal.SEARCH_SAMPLES == 128
    assert autocal.search_samples(art, 32, 50) == 50
    monkeypatch.setattr(autocal, "SEARCH_WORK", 10 * 4 * dense_macs(art))
    assert autocal.search_samples(art, 4, 128) == 10
    assert autocal.search_samples(art, 400, 128) == autocal.SEARCH_MIN_SAMPLES == 8
    assert autocal.search_samples(art, 400, 5) == 5
    # the scale benchmark's ResNet-18: 481,854,208 dense MACs per image at T=16 -> 8 samples
    assert max(autocal.SEARCH_MIN_SAMPLES, autocal.SEARCH_WORK // (16 * 481_854_208)) == 8
