"""SNN fine-tuning (`timesteps > 0`): the torch SNN that is trained is the network the runtime
simulates — after a few training steps, compile the export and compare every layer's spike
counts with `snnc.runtime.simulate`, exactly."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snnc import runtime  # noqa: E402
from snnc.compiler.backend.build import compile_graph, prepare  # noqa: E402
from snnc.compiler.data import Dataset  # noqa: E402
from snnc.compiler.errors import SnncError  # noqa: E402
from snnc.compiler.finetune import FinetuneOptions, finetune, load_training_data  # noqa: E402
from snnc.compiler.finetune.snn import snn_logits, spiking  # noqa: E402
from snnc.compiler.backend.options import CompileOptions  # noqa: E402
from snnc.compiler.backend.plan import artefact_names  # noqa: E402
from snnc.compiler.backend.plan import plan_stages  # noqa: E402
from snnc.hwspec import load_spec  # noqa: E402

T = 6


@pytest.fixture(scope="module")
def spec():
    return load_spec("hw_v1")


@pytest.mark.parametrize("bits,per_channel,reset,v_init", [
    (2, True, "subtract", "half"), (4, False, "zero", "half"), (1, True, "subtract", "zero"), (3, True, "zero", "zero")])
@pytest.mark.slow
def test_trained_snn_is_the_simulated_snn(tiny_onnx, tiny_data, spec, bits, per_channel, reset, v_init):
    torch.set_num_threads(1)
    data = load_training_data(str(tiny_data))
    opts = FinetuneOptions(bits=bits, per_channel=per_channel, epochs=1, max_steps=3, batch_size=32, lr=1e-3,
                           calib_samples=64, device="cpu", timesteps=T, reset=reset, v_init=v_init)
    res = finetune(prepare(tiny_onnx), spec, data, opts)
    assert res.history[0]["steps"] == 3 and np.isfinite(res.history[0]["loss"])
    assert res.final.exact, res.final.problems

    calib = Dataset(x=data.x[:64], y=None, scale=data.scale, source=str(tiny_data))
    copts = CompileOptions(bits=bits, norm="max", calibration="off", per_channel=per_channel, calib_samples=64, timesteps=T,
                           reset=reset, v_init=v_init)
    art = compile_graph(res.graph, spec, copts, calib).artefact
    x = data.take(48, (1, 8, 8))
    sim = runtime.simulate(art, x, T)

    model = res.model.eval()
    with torch.no_grad(), spiking(model, reset, v_init) as neurons:
        logits = snn_logits(model, neurons, torch.from_numpy(x.astype(np.float32)), T).numpy()
        names = artefact_names(plan_stages(res.graph))
        seen = 0
        for n in neurons.values():
            counts = n.count.numpy().astype(np.int64)
            assert np.array_equal(counts, sim.counts[names[n.stage]]), n.stage
            seen += 1
    assert seen == 5 == sum(1 for layer in art.core_layers if layer.has_neurons)  # conv, pool, conv, pool, linear
    assert np.array_equal(logits.argmax(1), sim.predictions)
    assert np.allclose(logits, sim.logits, atol=1e-4 * max(1.0, np.abs(sim.logits).max()))


@pytest.mark.slow
def test_spiking_restores_the_ann_and_gradients_reach_every_layer(tiny_onnx, tiny_data, spec):
    torch.set_num_threads(1)
    data = load_training_data(str(tiny_data))
    opts = FinetuneOptions(bits=2, per_channel=True, epochs=1, max_steps=0, calib_samples=64, device="cpu")
    model = finetune(prepare(tiny_onnx), spec, data, opts).model
    model.net.weight_hooks.train()
    for wq in model.net.weight_hooks.values():
        wq.frozen = None  # train again from the frozen weights
    x = torch.from_numpy(data.take(32, (1, 8, 8)).astype(np.float32))
    with torch.no_grad():
        before = model(x)
    hooks = dict(model.net.act_hooks.items())
    with spiking(model) as neurons:
        assert len(neurons) == 5 and len(model.net.act_hooks) == 5  # 3 activations + 2 pools replaced
        out = snn_logits(model, neurons, x, 4)
        torch.nn.functional.cross_entropy(out, torch.from_numpy(data.y[:32])).backward()
    assert dict(model.net.act_hooks.items()) == hooks
    with torch.no_grad():
        assert torch.equal(model(x), before)
    for name, p in model.net.params.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


@pytest.mark.slow  # 0.5-3 s: the quick suite stays near a minute
def test_bad_options(tiny_onnx, tiny_data, spec):
    data = load_training_data(str(tiny_data))
    model = finetune(prepare(tiny_onnx), spec, data, FinetuneOptions(bits=2, max_steps=0, calib_samples=64,
                                                                     device="cpu")).model
    with pytest.raises(SnncError, match="reset 'soft'"):
        with spiking(model, reset="soft"):
            pass
    with pytest.raises(SnncError, match="v_init"):
        with spiking(model, v_init="third"):
            pass
    with spiking(model) as neurons, pytest.raises(SnncError, match="timesteps 0"):
        snn_logits(model, neurons, torch.zeros(2, 1, 8, 8), 0)
    with pytest.raises(SnncError, match=r"timesteps \(8, 0\)"):
        finetune(prepare(tiny_onnx), spec, data, FinetuneOptions(bits=2, max_steps=0, timesteps=(8, 0), device="cpu"))


@pytest.mark.slow
def test_snn_training_keeps_existing_clip_levels(tiny_onnx, tiny_data, spec, tmp_path):
    """Continuing from a fine-tuned export, SNN training keeps its Clip levels (and so its integers'
    scales) instead of recalibrating them; ANN fine-tuning recalibrates."""
    from snnc.compiler.finetune import save_onnx
    from snnc.compiler.finetune.qat import clip_levels

    torch.set_num_threads(1)
    data = load_training_data(str(tiny_data))
    first = finetune(prepare(tiny_onnx), spec, data, FinetuneOptions(bits=2, per_channel=True, max_steps=1, batch_size=32,
                                                                     calib_samples=64, percentile=99.0, device="cpu"))
    graph = prepare(save_onnx(first.graph, tmp_path / "q.onnx"))
    levels = clip_levels(graph)
    assert len(levels) == 3
    snn = finetune(graph, spec, data, FinetuneOptions(bits=2, per_channel=True, max_steps=0, calib_samples=64,
                                                      percentile=50.0, timesteps=4, device="cpu"))
    assert all(snn.model.lams[v] == lam for v, lam in levels.items())
    ann = finetune(graph, spec, data, FinetuneOptions(bits=2, per_channel=True, max_steps=0, calib_samples=64,
                                                      percentile=50.0, device="cpu"))
    assert all(ann.model.lams[v] < lam for v, lam in levels.items())


class _Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.head = torch.nn.Sequential(torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 3))

    def forward(self, x):
        a = torch.relu(self.c1(x))
        return self.head(torch.relu(a + torch.relu(self.c2(a))))


@pytest.mark.slow
def test_residual_add_trains_and_matches_up_to_the_add(tiny_data, spec, tmp_path):
    """Residual adds train as IF neurons too; the layers before the add are exact, the add itself
    uses unrounded input multipliers (documented), so its counts are only close."""
    import warnings

    torch.manual_seed(0)
    path = tmp_path / "res.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Residual().eval(), (torch.zeros(2, 1, 8, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    torch.set_num_threads(1)
    data = load_training_data(str(tiny_data))
    res = finetune(prepare(path), spec, data, FinetuneOptions(bits=4, per_channel=True, max_steps=2, batch_size=32, lr=1e-3,
                                                             calib_samples=64, device="cpu", timesteps=T))
    assert np.isfinite(res.history[0]["loss"])
    calib = Dataset(x=data.x[:64], y=None, scale=data.scale, source=str(tiny_data))
    art = compile_graph(res.graph, spec, CompileOptions(bits=4, norm="max", calibration="off", per_channel=True, calib_samples=64,
                                                        timesteps=T), calib).artefact
    x = data.take(32, (1, 8, 8))
    sim = runtime.simulate(art, x, T)
    kinds = {layer.name: type(layer).__name__ for layer in art.core_layers}
    model = res.model.eval()
    with torch.no_grad(), spiking(model) as neurons:
        snn_logits(model, neurons, torch.from_numpy(x.astype(np.float32)), T)
        names = artefact_names(plan_stages(res.graph))
        by_kind = {}
        for n in neurons.values():
            name = names[n.stage]
            counts = n.count.numpy().astype(np.int64)
            assert counts.shape == sim.counts[name].shape
            by_kind.setdefault(kinds[name], []).append(np.abs(counts - sim.counts[name]).mean())
    assert sorted(by_kind) == ["Add", "AvgPool", "Conv"]
    assert max(by_kind["Conv"]) == 0  # before the add: exact
    assert max(by_kind["Add"]) < 0.5  # mean spike-count difference per neuron over T steps
