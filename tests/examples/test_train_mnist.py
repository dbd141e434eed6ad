"""Tests for examples/train_mnist.py and the example models and demo data it produced.

No test needs ../shared: training runs a few batches on synthetic data, and the committed models
are checked on the committed demo subset (examples/data/mnist_demo.npz).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "train_mnist.py"
MODELS = REPO / "examples" / "models"
DEMO = REPO / "examples" / "data" / "mnist_demo.npz"

# ONNX Runtime vs torch on the same float32 model: different kernels and summation order, so not
# bit-identical; logits are O(10), observed max |diff| ~1e-6.
RTOL, ATOL = 1e-4, 1e-5


def _load_script():
    spec = importlib.util.spec_from_file_location("snnc_example_train_mnist", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tm = _load_script()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _synthetic_mnist(n_train=96, n_test=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


@pytest.mark.parametrize("arch", sorted(tm.ARCH_NAMES))
def test_architecture_obeys_hw_v1_rules(arch):
    assert tm.check_hw_v1_constraints(tm.build_model(arch)) == []


def test_hw_rule_check_reports_violations():
    bad = torch.nn.Sequential(torch.nn.Conv2d(11, 4, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(4, 10))
    problems = tm.check_hw_v1_constraints(bad)
    assert any("in_channels 11 > 10" in p for p in problems)
    assert any("MaxPool2d" in p for p in problems)


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(tm.ARCH_NAMES))
def test_train_few_batches_and_export_matches_torch(arch, tmp_path):
    data = _synthetic_mnist()
    x = tm.to_input(data["x_train"])
    y = torch.from_numpy(data["y_train"].astype(np.int64))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = tm.build_model(arch)
        before = [p.detach().clone() for p in model.parameters()]
        tm.train(model, x, y, epochs=1, seed=0, batch_size=32, max_batches=3, log=lambda *_: None)
    assert not model.training
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "no parameter changed"

    onnx_path = tm.export_onnx(model, tmp_path / "m.onnx")
    graph = onnx.load(str(onnx_path)).graph
    assert [i.name for i in graph.input] == ["input"]
    ops = {n.op_type for n in graph.node}
    assert not ops & {"MaxPool", "Softmax", "Dropout"}, ops

    xt = tm.to_input(data["x_test"][:5])  # batch 5 != export example batch 2: dynamic axis works
    ref = tm.predict(model, xt).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": xt.numpy()})[0]
    assert got.shape == (5, 10)
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)

    pt2_path, dynamic = tm.export_pt2(model, tmp_path / "m.pt2")
    assert dynamic
    ep = torch.export.load(str(pt2_path))
    with torch.no_grad():
        np.testing.assert_allclose(ep.module()(xt).numpy(), ref, rtol=RTOL, atol=ATOL)


def test_write_demo_data_layout_and_reproducible(tmp_path):
    data = _synthetic_mnist(n_train=300, n_test=1200)
    p1 = tm.write_demo_data(data, tmp_path / "a")
    p2 = tm.write_demo_data(data, tmp_path / "b")
    assert _sha256(p1) == _sha256(p2)
    with np.load(p1, allow_pickle=False) as f:
        assert f["calib_x"].dtype == np.uint8 and f["calib_x"].shape == (256, 28, 28)
        assert f["x"].dtype == np.uint8 and f["x"].shape == (1000, 28, 28)
        assert f["y"].dtype == np.uint8 and f["y"].shape == (1000,)
        assert f["x_scale"].dtype == np.float32 and f["x_scale"].shape == ()
        np.testing.assert_array_equal(f["calib_x"], data["x_train"][:256])
        np.testing.assert_array_equal(f["x"], data["x_test"][:1000])


def test_missing_data_file_is_a_clean_error(tmp_path):
    with pytest.raises(SystemExit, match="not found"):
        tm.main(["--arch", "lenet5", "--data", str(tmp_path / "nope.npz")])


# --------------------------------------------------------------------------- committed artefacts


def test_committed_demo_data():
    with np.load(DEMO, allow_pickle=False) as f:
        assert set(f.files) == {"calib_x", "x", "y", "x_scale"}
        assert f["calib_x"].shape == (256, 28, 28) and f["calib_x"].dtype == np.uint8
        assert f["x"].shape == (1000, 28, 28) and f["x"].dtype == np.uint8
        assert f["y"].shape == (1000,) and f["y"].dtype == np.uint8
        assert f["x_scale"] == np.float32(1 / 255)
    readme = (DEMO.parent / "README.md").read_text()
    assert _sha256(DEMO) in readme, "examples/data/README.md must give the subset's sha256"


@pytest.mark.parametrize("name", sorted(tm.ARCH_NAMES.values()))
def test_committed_model_hash_and_demo_accuracy(name):
    record = json.loads((MODELS / f"{name}.json").read_text())
    onnx_path = MODELS / record["onnx"]["file"]
    pt2_path = MODELS / record["pt2"]["file"]
    assert _sha256(onnx_path) == record["onnx"]["sha256"]
    assert _sha256(pt2_path) == record["pt2"]["sha256"]
    assert onnx_path.stat().st_size < 1_000_000 and pt2_path.stat().st_size < 1_000_000

    with np.load(DEMO, allow_pickle=False) as f:
        x = f["x"].astype(np.float32)[:, None] * f["x_scale"]
        y = f["y"]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": x})[0]
    acc = float((logits.argmax(1) == y).mean())
    assert acc >= 0.97, f"{name}: accuracy {acc:.4f} on the 1000 demo images"


def test_examples_readme_states_recorded_accuracies():
    readme = (REPO / "examples" / "README.md").read_text()
    for name in tm.ARCH_NAMES.values():
        record = json.loads((MODELS / f"{name}.json").read_text())
        pct = f"{100 * record['float_test_accuracy']:.2f}%"
        assert re.search(re.escape(pct), readme), f"examples/README.md lacks {name}'s {pct}"
