"""runtime.diff.first_difference: the first (layer, timestep, sample, neuron) where two traces differ."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.runtime import InputError, load, simulate
from snnc.runtime.diff import first_difference, load_trace, trace_from_arrays
from snnc.runtime.npyio import result_arrays

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def wrap():
    art = load(GOLDEN / "wrap_residual.snn")
    res = simulate(art, art.golden.inputs, art.golden.timesteps, trace=True, backend="numpy")
    return art, res


def arrays(res) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in result_arrays(res).items()}


def test_identical_traces(wrap):
    art, res = wrap
    rep = first_difference(arrays(res), arrays(res), artefact=art)
    assert rep.identical and rep.first is None and rep.problems == []
    assert rep.differing == 0 and rep.compared > 0
    assert [ld.layer for ld in rep.layers] == [layer.name for layer in art.layers]
    assert rep.to_dict()["identical"] is True


def test_golden_vectors_vs_simulation_identical(wrap):
    art, res = wrap
    rep = first_difference(art, res)
    assert rep.identical, rep.to_text()
    c1 = next(ld for ld in rep.layers if ld.layer == "c1")
    assert set(c1.compared) == {"spikes", "counts"}  # golden vectors hold no membranes
    assert "membranes only in B, not compared" in c1.notes


def test_one_flipped_spike_reported_exactly(wrap):
    art, res = wrap
    b = arrays(res)
    b["spikes/res"][2, 7, 1, 4, 0] ^= 1
    rep = first_difference(arrays(res), b, artefact=art)
    assert not rep.identical
    f = rep.first
    assert (f.layer, f.quantity, f.timestep, f.sample, f.neuron) == ("res", "spikes", 7, 2, (1, 4, 0))
    assert (f.a, f.b) == (int(res.spikes["res"][2, 7, 1, 4, 0]), 1 - int(res.spikes["res"][2, 7, 1, 4, 0]))
    assert f.flat == int(np.ravel_multi_index((1, 4, 0), (4, 6, 6)))
    assert [q for q, *_ in f.also] == ["membranes"]
    ld = next(ld for ld in rep.layers if ld.layer == "res")
    assert ld.differing == {"spikes": 1, "membranes": 0, "counts": 0}
    text = rep.to_text()
    assert text.splitlines()[0].startswith("first difference: layer 'res' spikes differ at timestep 7, sample 2, neuron [1, 4, 0]")
    assert "(7, 2, [1, 4, 0])" in text


def test_first_is_layer_major_then_time_sample_neuron(wrap):
    art, res = wrap
    b = arrays(res)
    b["spikes/down"][0, 0, 0, 0, 0] ^= 1  # a later layer, earlier step: not first
    b["spikes/c2"][1, 5, 3, 2, 2] ^= 1
    b["spikes/c2"][0, 5, 3, 5, 5] ^= 1  # same step, lower sample: first
    b["spikes/c2"][0, 6, 0, 0, 0] ^= 1
    f = first_difference(arrays(res), b, artefact=art).first
    assert (f.layer, f.timestep, f.sample, f.neuron) == ("c2", 5, 0, (3, 5, 5))


def test_membrane_difference(wrap):
    art, res = wrap
    b = arrays(res)
    b["membranes/c1"][1, 3, 2, 0, 5] += 7
    f = first_difference(arrays(res), b, artefact=art).first
    assert (f.layer, f.quantity, f.timestep, f.sample, f.neuron) == ("c1", "membranes", 3, 1, (2, 0, 5))
    assert f.b - f.a == 7
    s = int(res.spikes["c1"][1, 3, 2, 0, 5])
    assert f.also == (("spikes", s, s),)


def test_count_difference_when_timed_values_agree(wrap):
    art, res = wrap
    b = arrays(res)
    b["counts/down"][2, 1, 2, 0] += 1
    f = first_difference(arrays(res), b, artefact=art).first
    assert (f.layer, f.quantity, f.timestep, f.sample, f.neuron) == ("down", "counts", None, 2, (1, 2, 0))


def test_missing_layer(wrap):
    art, res = wrap
    b = {k: v for k, v in arrays(res).items() if not k.endswith("/res")}
    rep = first_difference(arrays(res), b, artefact=art)
    assert not rep.identical and rep.first is None
    assert "layer 'res': missing in B" in rep.problems
    assert next(ld for ld in rep.layers if ld.layer == "res").missing_in == "B"
    assert "missing in B" in rep.to_text()
    assert first_difference(arrays(res), b, artefact=art, all_layers=False).identical


def test_mismatched_timesteps(wrap):
    art, res = wrap
    short = simulate(art, art.golden.inputs, 6, trace=True, backend="numpy")
    rep = first_difference(arrays(res), arrays(short), artefact=art)
    assert not rep.identical and rep.first is None  # causal: the first 6 steps agree
    assert rep.problems[0].startswith("different T: A has T=10, B has T=6")
    assert rep.timesteps == (10, 6)
    assert all("counts" not in ld.compared for ld in rep.layers)


def test_mismatched_batch(wrap):
    art, res = wrap
    b = {k: (v[:2] if v.ndim else v) for k, v in arrays(res).items()}
    rep = first_difference(arrays(res), b, artefact=art)
    assert not rep.identical and rep.first is None
    assert "different batch: A has 3 samples, B has 2" in rep.problems[0]


def test_external_dump_written_by_hand(tmp_path, wrap):
    """What docs/diff.md asks of an RTL testbench: per layer 0/1 spikes (B, T, *shape) in C order
    (a flat neuron axis is accepted), int64 membranes after reset, `timesteps`."""
    art, res = wrap
    dump = {"timesteps": np.int64(10)}
    for layer in art.core_layers:
        s = res.spikes[layer.name]
        dump[f"spikes/{layer.name}"] = s.reshape(s.shape[0], s.shape[1], -1).astype(np.int32)  # flat neurons
        if layer.name in res.membranes:
            dump[f"membranes/{layer.name}"] = res.membranes[layer.name].astype(np.int64)
    path = tmp_path / "rtl_dump.npz"
    np.savez(path, **dump)
    assert first_difference(GOLDEN / "wrap_residual.snn", path).identical  # golden vectors: spikes
    ref = tmp_path / "run.npz"  # what `snnc run --trace --out` writes: spikes and membranes
    np.savez(ref, **result_arrays(res))
    assert first_difference(ref, path).identical
    dump["membranes/down"][0, 9, 2, 1, 1] -= 1
    dump["spikes/down"][1, 9, 5] ^= 1  # flat neuron 5 of (3, 3, 3) is [0, 1, 2]
    np.savez(path, **dump)
    f = first_difference(ref, path).first
    assert (f.layer, f.quantity, f.timestep, f.sample, f.neuron) == ("down", "membranes", 9, 0, (2, 1, 1))
    assert f.b == f.a - 1
    f = first_difference(GOLDEN / "wrap_residual.snn", path).first  # no membranes there: the spike
    assert (f.layer, f.quantity, f.timestep, f.sample, f.neuron, f.flat) == ("down", "spikes", 9, 1, (0, 1, 2), 5)


def test_shape_that_does_not_match_the_artefact(wrap):
    art, res = wrap
    b = arrays(res)
    b["spikes/c1"] = np.ascontiguousarray(b["spikes/c1"].transpose(0, 1, 3, 4, 2))  # NHWC, not the layer shape
    rep = first_difference(arrays(res), b, artefact=art)
    assert not rep.identical
    assert any("spikes: B has shape (3, 10, 6, 6, 4), expected (B, T, 4, 6, 6)" in p for p in rep.problems)


@pytest.mark.parametrize("arrays_, message", [
    ({"spikes/x": np.full((1, 2, 3), 2)}, "spikes must be 0 or 1"),
    ({"membranes/x": np.zeros((1, 2, 3), np.float32)}, "must be an integer"),
    ({"spike/x": np.zeros((1, 2, 3))}, "unknown key"),
    ({"spikes/x": np.zeros((1, 2, 3), np.uint8), "timesteps": np.int64(3)}, "disagree on T"),
    ({"spikes/x": np.zeros((1, 2, 3), np.uint8), "counts/x": np.zeros((2, 3), np.int64)}, "disagree on the batch"),
    ({"counts/x": np.zeros((2, 3), np.int64)}, "timesteps: required"),
])
def test_bad_dumps_are_input_errors(arrays_, message):
    with pytest.raises(InputError, match=message):
        trace_from_arrays(arrays_, "dump.npz")


def test_load_trace_refuses_non_archives(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.zeros(3))
    with pytest.raises(InputError, match="neither an .snn artefact nor an .npz"):
        load_trace(p)
    with pytest.raises(InputError, match="no such file"):
        load_trace(tmp_path / "missing.npz")
