"""evaluate(): accuracy, spike activity over the dataset, per-layer summaries and ANN/SNN correlation."""
from __future__ import annotations

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.data import Dataset
from snnc.compiler.evaluate import activity_summary, evaluate, layer_correlation, pearson
from snnc.compiler.ir.graph import Graph
from snnc.runtime import model as rt

TARGET = rt.Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=8,
                   weight_encoding="symmetric", input_bits=4)


def tiny(encoding: str = "current") -> rt.Artefact:
    """input (4,) -> linear 3 (spiking) -> host 2 classes."""
    w = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, -1, -1]], np.int8)
    return rt.Artefact(
        input=rt.InputSpec(shape=(4,), encoding=encoding, lo=0, hi=7, scale=1 / 7),
        layers=(rt.Linear(name="fc", inputs=["input"], output_shape=(3,), weight=w, bits=2,
                          neuron=rt.Neuron(threshold=[7], bias=[0, 0, 0], reset="subtract", v_init="zero")),
                rt.HostLinear(name="host", inputs=["fc"], output_shape=(2,), weight=np.array([[1, -1, 0], [-1, 1, 0]], np.float32),
                              bias=np.zeros(2, np.float32))),
        target=TARGET)


def data(n: int = 10) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, size=(n, 4)).astype(np.uint8)
    y = (x[:, 1] + x[:, 3] > x[:, 0] + x[:, 2]).astype(np.int64)
    return Dataset(x=x, y=y, scale=1 / 7, source="mem")


@pytest.mark.parametrize("encoding", ["current", "rate"])
def test_activity_sums_the_simulation_over_batches(encoding):
    art, ds = tiny(encoding), data(10)
    acc = evaluate(art, ds, [3, 8], batch_size=4)  # 3 batches (4, 4, 2)
    for t in (3, 8):
        sim = runtime.simulate(art, ds.take(10), t)
        assert acc.snn_acc[t] == np.mean(sim.predictions == ds.y)
        np.testing.assert_array_equal(acc.activity[t].count_sums["fc"], sim.counts["fc"].sum(axis=0))
        h = acc.activity[t].histograms["fc"]
        assert h.sum() == 10 * 3 and len(h) == t + 1
        np.testing.assert_array_equal(h, np.bincount(sim.counts["fc"].ravel(), minlength=t + 1))
        assert ("input" in acc.activity[t].count_sums) == (encoding == "rate")
    layers, energies = activity_summary(art, acc)
    (fc,) = layers
    sim = runtime.simulate(art, ds.take(10), 8)
    assert fc.firing_rate[8] == pytest.approx(sim.counts["fc"].sum() / (10 * 3 * 8))
    if encoding == "current":  # the first layer reads the current: 12 MACs per image, 3 accumulates per step
        assert fc.input == "current" and fc.current_macs == 12 and fc.current_accs[8] == 24 and fc.synops[8] == 0
        assert energies[8].snn_pj == pytest.approx(0.9 * 24 + 4.6 * 12)
    else:  # spikes: 3 synaptic operations per input spike
        x_int = np.rint(ds.take(10) * 7).astype(np.int64)
        n_spikes = int(runtime.encode.rate_spikes(art.input, x_int, 8).sum())
        assert fc.input == "spikes" and fc.synops[8] == pytest.approx(3 * n_spikes / 10)
    assert energies[8].ann_macs == 12


def test_limit_and_labels():
    acc = evaluate(tiny(), data(10), [2], limit=3)
    assert acc.samples == 3 and acc.float_acc is None and acc.agreement == {}
    from snnc.compiler.errors import SnncError

    with pytest.raises(SnncError, match="no labels"):
        evaluate(tiny(), Dataset(x=np.zeros((2, 4)), y=None, scale=1.0, source="nolabels"), [2])


def test_progress_is_given_the_number_of_batches():
    seen = []

    def wrap(it, desc):
        seen.append((desc, len(it)))
        return it

    evaluate(tiny(), data(10), [2], batch_size=4, progress=wrap)
    assert seen == [("evaluate", 3)]


def test_pearson():
    assert pearson([0, 1, 2], [0, 2, 4]) == pytest.approx(1.0)
    assert pearson([0, 1, 2], [4, 2, 0]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [0, 1, 2]) is None


def test_layer_correlation_maps_layers_to_ann_values():
    """A quantized ANN that computes exactly the rates the SNN produces correlates with r = 1."""
    from snnc.compiler.ir.graph import Node

    art = tiny()
    # the ANN sees x = x_int / 7, so clip(W x, 0, 1) = clip(W x_int / θ, 0, 1): the rate at large T (λ = 1)
    g = Graph(name="q", inputs=["x"], outputs=["y"], nodes=[
        Node(op="linear", name="fc", inputs=["x"], outputs=["h"],
             params={"weight": art.layers[0].weight.astype(np.float64), "bias": np.zeros(3)}),
        Node(op="clip", name="act", inputs=["h"], outputs=["y"], attrs={"min": 0.0, "max": 1.0}),
    ])
    x = data(10).take(10)
    corr = layer_correlation(art, g, {"fc": ("y", 1.0)}, x, timesteps=64, max_points=5)
    c = corr["fc"]
    assert c.points == 30 and len(c.ann) == 5 and c.r is not None and c.r > 0.99
