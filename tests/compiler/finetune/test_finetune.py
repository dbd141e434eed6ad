"""A short fine-tune on synthetic data: it trains, exports, and snnc compiles the export to exactly
the integers the fine-tuning froze (weights, thresholds, biases); the frozen model computes
compile's quantized ANN."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snnc.compiler.backend.build import compile_graph, prepare  # noqa: E402
from snnc.compiler.data import Dataset  # noqa: E402
from snnc.compiler.finetune import FinetuneOptions, compile_matches, finetune, load_training_data, save_onnx  # noqa: E402
from snnc.compiler.finetune.export import requantize  # noqa: E402
from snnc.compiler.ir.interpret import run  # noqa: E402
from snnc.compiler.backend.options import CompileOptions  # noqa: E402
from snnc.compiler.backend.lower import quantize_input  # noqa: E402
from snnc.hwspec import load_spec  # noqa: E402

CASES = [(2, True, 0), (1, True, 0), (4, False, 4), (3, True, 0)]


@pytest.fixture(scope="module")
def spec():
    return load_spec("hw_v1")


@pytest.mark.slow
@pytest.mark.parametrize("bits,per_channel,levels", CASES)
def test_export_compiles_to_the_trained_integers(tiny_onnx, tiny_data, tmp_path, spec, bits, per_channel, levels):
    torch.set_num_threads(1)
    data = load_training_data(str(tiny_data))
    opts = FinetuneOptions(bits=bits, per_channel=per_channel, act_levels=levels, epochs=1, max_steps=2,
                           batch_size=32, lr=1e-3, calib_samples=64, device="cpu")
    res = finetune(prepare(tiny_onnx), spec, data, opts)
    assert len(res.history) == 1 and res.history[0]["steps"] == 2 and np.isfinite(res.history[0]["loss"])
    assert res.final.exact, res.final.problems
    for li, (ls, _) in zip(res.final.layers, res.model.quantizers()):  # what was exported re-quantizes to itself
        if per_channel:
            for o in range(li.q.shape[0]):
                r = requantize(li.weight[o:o + 1], ls, bits, spec.weight_encoding, True, 2 ** spec.threshold_bits - 1)
                assert int(r.theta[0]) == li.theta[o] and np.array_equal(r.q, li.q[o:o + 1])
    path = save_onnx(res.graph, tmp_path / "qat.onnx")
    calib = Dataset(x=data.x[:64], y=None, scale=data.scale, source=str(tiny_data))
    copts = CompileOptions(bits=bits, norm="max", calibration="off", per_channel=per_channel, calib_samples=64, timesteps=8)
    graph = prepare(path)
    match = compile_matches(graph, res.final, spec, copts, calib)
    assert match.ok, match.problems

    # the frozen QAT model is compile's quantized ANN (float32 torch vs float64 interpreter)
    lowered = compile_graph(graph, spec, copts, calib).lowered
    x = data.take(16, (1, 8, 8))
    qann = run(lowered.qann, quantize_input(x, *res.model.input_range))[lowered.qann.outputs[0]]
    with torch.no_grad():
        ours = res.model(torch.from_numpy(x.astype(np.float32))).numpy()
    if levels == 0:
        assert np.allclose(ours, qann, atol=1e-4 * max(1.0, np.abs(qann).max()))


def test_training_data_keys_and_errors(tmp_path):
    from snnc.compiler.errors import SnncError

    x = np.zeros((4, 2, 2), np.uint8)
    np.savez(tmp_path / "a.npz", calib_x=x, x=x + 1, y=np.arange(4))
    d = load_training_data(str(tmp_path / "a.npz"))
    assert d.x[0, 0, 0] == 1 and d.scale == 1.0  # x/y before unlabelled calib_x
    np.savez(tmp_path / "b.npz", calib_x=x)
    with pytest.raises(SnncError, match="no labelled inputs"):
        load_training_data(str(tmp_path / "b.npz"))
    with pytest.raises(SnncError, match="no such data file"):
        load_training_data(str(tmp_path / "missing.npz"))
