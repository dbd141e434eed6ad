"""Operation counts and energy (snnc.compiler.energy) against hand-computed tiny cases and brute force."""
from __future__ import annotations

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler import energy as en
from snnc.runtime import model as rt

TARGET = rt.Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=8,
                   weight_encoding="symmetric", input_bits=4)


def neuron(o: int, theta: int = 2) -> rt.Neuron:
    return rt.Neuron(threshold=[theta], bias=[0] * o, reset="subtract", v_init="zero")


def artefact(layers, shape=(1, 3, 3), encoding="current") -> rt.Artefact:
    return rt.Artefact(input=rt.InputSpec(shape=shape, encoding=encoding, lo=0, hi=15, scale=1 / 15),
                       layers=tuple(layers), target=TARGET)


def conv(name, inp, c, o, k, hw_out, stride=(1, 1), padding=(0, 0, 0, 0), groups=1, seed=0):
    w = np.random.default_rng(seed).integers(-1, 2, size=(o, c // groups, k, k)).astype(np.int8)
    return rt.Conv(name=name, inputs=[inp], output_shape=(o,) + hw_out, weight=w, bits=2, stride=stride,
                   padding=padding, groups=groups, neuron=neuron(o))


def test_conv_hand_case_counts_every_covering_window():
    # 3x3 input, 2x2 kernel, stride 1, no padding -> 2x2 output; a centre input is in all 4 windows,
    # an edge-middle one in 2, a corner in 1: coverage [[1,2,1],[2,4,2],[1,2,1]] (sum 16).
    c1 = conv("c1", "input", 1, 2, 2, (2, 2))
    c2 = conv("c2", "c1", 2, 3, 2, (1, 1))
    fl = rt.Flatten(name="f", inputs=["c2"], output_shape=(3,))
    fc = rt.Linear(name="fc", inputs=["f"], output_shape=(4,), weight=np.ones((4, 3), np.int8), bits=2, neuron=neuron(4))
    art = artefact([c1, c2, fl, fc])
    counts = {"c1": np.array([[[3, 0], [1, 2]], [[0, 0], [0, 5]]]),  # summed over 2 samples
              "c2": np.array([[[4]], [[0]], [[2]]]), "f": np.array([4, 0, 2]), "fc": np.zeros(4, np.int64)}
    ops = {o.name: o for o in en.layer_ops(art, counts, samples=2, timesteps=8)}
    # c1 reads the input current: dense MACs once per image (2 out channels x 16 covered positions),
    # plus one accumulate per neuron per step.
    assert ops["c1"].input == "current" and ops["c1"].synops == 0
    assert ops["c1"].current_macs == ops["c1"].macs == 2 * 16 and ops["c1"].current_accs == 8 * 8
    # c2: 2x2 input, 2x2 kernel -> one window covering everything: each spike reaches 3 out channels.
    assert ops["c2"].synops == 3 * (3 + 1 + 2 + 5) / 2 and ops["c2"].macs == 3 * 2 * 4
    # linear: out_features per input spike.
    assert ops["fc"].synops == 4 * 6 / 2 and ops["fc"].macs == 12
    e = en.energy(list(ops.values()), e_mac_pj=4.6, e_ac_pj=0.9)
    synops = 16.5 + 12
    assert e.synops == synops and e.snn_macs == 32 and e.ann_macs == 32 + 24 + 12
    assert e.snn_pj == pytest.approx(0.9 * (synops + 64) + 4.6 * 32)
    assert e.ann_pj == pytest.approx(4.6 * 68) and e.ratio == pytest.approx(e.snn_pj / e.ann_pj)
    rates = en.firing_rates(art, counts, samples=2, timesteps=8)
    assert rates["c1"] == pytest.approx(11 / (2 * 8 * 8)) and "f" not in rates


def test_padding_and_stride_are_exact():
    # 2x2 input, 3x3 kernel, padding 1: every input is inside all 4 windows -> 4 per spike per out
    # channel; the padded positions (36 - 16 per out channel) are no MACs.
    c = conv("c", "input", 1, 5, 3, (2, 2), padding=(1, 1, 1, 1))
    assert en.dense_ops(c, [(1, 2, 2)]) == (5 * 16, 0)
    w = en.fanout_weights(c, [(1, 2, 2)])[0]
    assert (w == 20).all()
    # stride 2, kernel 2, width 5: position 4 is in no window (output width 2).
    s = conv("s", "input", 1, 1, 2, (2, 2), stride=(2, 2))
    np.testing.assert_array_equal(en.fanout_weights(s, [(1, 5, 5)])[0][0, 0], [1, 1, 1, 1, 0])
    p = rt.AvgPool(name="p", inputs=["input"], output_shape=(1, 2, 2), kernel=(2, 2), stride=(2, 2), neuron=neuron(1, 4))
    assert en.dense_ops(p, [(1, 4, 4)]) == (0, 16)
    a = rt.Add(name="a", inputs=["x", "y"], output_shape=(2,), multipliers=[3, 5], neuron=neuron(2))
    assert en.dense_ops(a, [(2,), (2,)]) == (0, 2)
    assert [f.tolist() for f in en.fanout_weights(a, [(2,), (2,)])] == [[1, 1], [1, 1]]


def _brute_conv_synops(spikes: np.ndarray, layer: rt.Conv) -> int:
    """Sum over output neurons of the number of input spikes inside their receptive field."""
    o, cg, kh, kw = layer.weight.shape
    top, left, bottom, right = layer.padding
    sh, sw = layer.stride
    x = np.pad(spikes, ((0, 0), (0, 0), (top, bottom), (left, right)))
    og = o // layer.groups
    _, ho, wo = layer.output_shape
    total = 0
    for oc in range(o):
        g = oc // og
        for y in range(ho):
            for xx in range(wo):
                total += int(x[:, g * cg:(g + 1) * cg, y * sh:y * sh + kh, xx * sw:xx * sw + kw].sum())
    return total


@pytest.mark.parametrize("stride,padding,groups", [((1, 1), (1, 1, 1, 1), 1), ((2, 1), (0, 2, 1, 0), 2), ((2, 2), (1, 0, 0, 1), 1)])
def test_synops_match_brute_force_on_simulated_spikes(stride, padding, groups):
    rng = np.random.default_rng(1)
    h = w = 6
    k = 3
    ho = (h + padding[0] + padding[2] - k) // stride[0] + 1
    wo = (w + padding[1] + padding[3] - k) // stride[1] + 1
    c1 = conv("c1", "input", 2, 4, 3, (h - 2, w - 2), padding=(0, 0, 0, 0), seed=3)
    # make c1 fire a lot: threshold 1
    c1 = rt.Conv(name="c1", inputs=["input"], output_shape=(4, h, w), weight=np.abs(c1.weight), bits=2,
                 padding=(1, 1, 1, 1), neuron=neuron(4, 1))
    c2 = conv("c2", "c1", 4, 6, k, (ho, wo), stride=stride, padding=padding, groups=groups, seed=4)
    art = artefact([c1, c2], shape=(2, h, w), encoding="rate")
    x = rng.integers(0, 16, size=(3, 2, h, w))
    t = 5
    sim = runtime.simulate(art, x, t, trace=True)
    counts = {k_: v.sum(axis=0) for k_, v in sim.counts.items()}
    from snnc.runtime.encode import rate_spikes

    counts["input"] = rate_spikes(art.input, x, t).sum(axis=(0, 1), dtype=np.int64)
    ops = {o.name: o for o in en.layer_ops(art, counts, samples=3, timesteps=t)}
    brute = sum(_brute_conv_synops(sim.spikes["c1"][:, step], c2) for step in range(t))
    assert ops["c2"].synops * 3 == brute
    # rate-coded input: c1 is spike-driven too
    assert ops["c1"].input == "spikes"
    assert ops["c1"].synops * 3 == sum(_brute_conv_synops(rate_spikes(art.input, x, t)[step], c1) for step in range(t))
    # every input active once gives the dense MACs
    assert en.dense_ops(c2, [(4, h, w)])[0] == _brute_conv_synops(np.ones((1, 4, h, w)), c2)
