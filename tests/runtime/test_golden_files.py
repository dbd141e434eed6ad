"""The committed golden artefacts: verify passes and simulate reproduces every stored array exactly.

Any change in the runtime's arithmetic makes these fail. The files are rebuilt by
tests/runtime/make_golden_files.py only for a deliberate semantics change.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from snnc.runtime import load, make_golden, simulate, verify

from snnc.runtime.reference import reference_simulate
from sim_backends import over_backends

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*.snn"))


def test_golden_files_exist():
    assert {f.stem for f in FILES} == {"lenet_host", "rate_mlp", "wrap_residual", "doc_example", "nhwc_rgb", "fused_residual", "hybrid_host",
                                      "poisson_conv", "population_conv", "ttfs_conv", "digest_counts"}


@over_backends
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_verify_passes(path, backend):
    report = verify(load(path), backend=backend)
    assert report.ok, str(report)
    assert report.checked > 0


@over_backends
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_simulate_reproduces_stored_arrays(path, backend):
    art = load(path)
    g = art.golden
    res = simulate(art, g.inputs, g.timesteps, trace=True, backend=backend)
    ref = reference_simulate(art, g.inputs, g.timesteps)
    for name, mem in res.membranes.items():  # membranes are not stored in the files: check them here
        np.testing.assert_array_equal(mem, ref["membranes"][name], err_msg=name)
    assert set(res.counts) == set(g.counts) | set(g.digests)
    for name, counts in g.counts.items():
        np.testing.assert_array_equal(res.counts[name], counts, err_msg=name)
    for name, digest in g.digests.items():
        assert sha256_of_counts(res.counts[name], g.timesteps) == digest, name
    for name, spikes in (g.spikes or {}).items():
        np.testing.assert_array_equal(res.spikes[name], spikes, err_msg=name)
    if g.predictions is not None:
        np.testing.assert_array_equal(res.predictions, g.predictions)
    assert int(res.output_counts.sum()) > 0  # the golden cases are not silent


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_reference_agrees_with_stored_golden(path):
    art = load(path)
    g = art.golden
    ref = reference_simulate(art, g.inputs, g.timesteps)
    for name, spikes in (g.spikes or {}).items():
        np.testing.assert_array_equal(ref["spikes"][name], spikes, err_msg=name)
    for name, counts in g.counts.items():
        np.testing.assert_array_equal(ref["counts"][name], counts, err_msg=name)
    for name, digest in g.digests.items():
        assert sha256_of_counts(ref["counts"][name], g.timesteps) == digest, name


def sha256_of_counts(counts, timesteps: int) -> str:
    """docs/artefact.md's digest, written from the page: SHA-256 of the (B, *shape) counts in C order,
    one byte each for T <= 255, else little-endian 16-bit."""
    counts = np.asarray(counts)
    assert counts.min() >= 0 and counts.max() <= timesteps
    if timesteps <= 255:
        raw = bytes(int(c) for c in counts.ravel())
    else:
        raw = b"".join(int(c).to_bytes(2, "little") for c in counts.ravel())
    return hashlib.sha256(raw).hexdigest()


def test_the_digest_file_digests_most_layers_and_needs_16_bit_counts():
    g = load(GOLDEN / "digest_counts.snn").golden
    assert sorted(g.counts) == ["conv1", "fc"] and sorted(g.digests) == ["conv2", "flat", "pool"]
    assert g.timesteps > 255 and g.spikes is None
    ref = reference_simulate(load(GOLDEN / "digest_counts.snn"), g.inputs, g.timesteps)
    assert max(int(ref["counts"][name].max()) for name in g.digests) > 255  # the 16-bit case is exercised


def test_verify_names_first_differing_layer_timestep_neuron():
    art = load(GOLDEN / "wrap_residual.snn")
    g = art.golden
    spikes = {k: v.copy() for k, v in g.spikes.items()}
    spikes["c2"][1, 4, 2, 3, 5] ^= 1
    spikes["down"][0, 0, 0, 0, 0] ^= 1  # later layer: c2 must be reported first
    bad = dataclasses.replace(art, golden=dataclasses.replace(g, spikes=spikes))
    report = verify(bad)
    assert not report.ok
    m = report.mismatch
    assert (m.layer, m.quantity, m.sample, m.timestep, m.neuron) == ("c2", "spikes", 1, 4, (2, 3, 5))
    assert m.expected == spikes["c2"][1, 4, 2, 3, 5] and m.actual == 1 - m.expected
    assert "layer 'c2'" in str(report) and "timestep 4" in str(report) and "[2, 3, 5]" in str(report)


def test_verify_counts_only_and_predictions():
    art = load(GOLDEN / "lenet_host.snn")
    g = art.golden
    counts = {k: v.copy() for k, v in g.counts.items()}
    counts["fc1"][2, 7] += 1
    report = verify(dataclasses.replace(art, golden=dataclasses.replace(g, counts=counts, spikes=None)))
    assert (report.mismatch.layer, report.mismatch.quantity, report.mismatch.timestep) == ("fc1", "counts", None)
    preds = g.predictions.copy()
    preds[3] = (preds[3] + 1) % 3
    report = verify(dataclasses.replace(art, golden=dataclasses.replace(g, predictions=preds)))
    assert (report.mismatch.layer, report.mismatch.quantity, report.mismatch.sample) == ("head", "predictions", 3)


def test_make_golden_is_deterministic_and_spikes_optional():
    art = load(GOLDEN / "rate_mlp.snn")
    g = art.golden
    again = make_golden(art, g.inputs, g.timesteps)
    for name in g.counts:
        np.testing.assert_array_equal(again.golden.counts[name], g.counts[name])
    slim = make_golden(art, g.inputs, g.timesteps, spikes=False)
    assert slim.golden.spikes is None and verify(slim).ok


def test_regenerating_the_golden_files_is_byte_identical(tmp_path):
    """The builders + simulate + save reproduce the committed files bit for bit."""
    from make_golden_files import main

    main(tmp_path)
    for path in FILES:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


@over_backends
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_counts_at_earlier_steps_equal_shorter_simulations(path, backend):
    """One T-step run reports, for every t in counts_at, exactly what a t-step run gives."""
    art = load(path)
    g = art.golden
    T = g.timesteps + 3
    steps = [1, 2, g.timesteps // 2 or 1, g.timesteps, T]
    res = simulate(art, g.inputs, T, counts_at=steps, batch_size=2, backend=backend)
    for t in set(steps):
        short = simulate(art, g.inputs, t, backend="numpy")
        assert set(res.counts_at[t]) == set(short.counts)
        for name, counts in short.counts.items():
            np.testing.assert_array_equal(res.counts_at[t][name], counts, err_msg=f"{name} t={t}")
        if art.host is not None:
            np.testing.assert_array_equal(res.predictions_at[t], short.predictions)
    with pytest.raises(Exception, match="counts_at"):
        simulate(art, g.inputs, 4, counts_at=[5], backend=backend)


# --- golden counts at the size they need (docs/artefact.md: uint8 for T <= 255, else uint16; int64 before)

LEGACY = Path(__file__).parent / "legacy"  # copies of golden files as the int64 writer wrote them


def _member_dtype(path, name) -> np.dtype:
    import zipfile

    from snnc.runtime.manifest import npy_load

    with zipfile.ZipFile(path) as zf:
        return npy_load(zf.read(name), name).dtype


def test_count_dtype_is_the_smallest_unsigned_holding_t():
    from snnc.runtime.manifest import count_dtype

    assert [count_dtype(t) for t in (1, 255, 256, 4096)] == [np.uint8, np.uint8, np.uint16, np.uint16]


@pytest.mark.parametrize("stem", ["rate_mlp", "fused_residual"])
def test_old_int64_count_files_load_verify_and_equal_the_new_ones(stem):
    old, new = LEGACY / f"{stem}_int64_counts.snn", GOLDEN / f"{stem}.snn"
    a, b = load(old), load(new)
    assert verify(a).ok and verify(b).ok
    for name in b.golden.counts:
        member = f"golden/counts/{name}.npy"
        assert _member_dtype(old, member) == np.int64 and _member_dtype(new, member) == np.uint8
        assert a.golden.counts[name].dtype == b.golden.counts[name].dtype == np.int64  # in memory: int64 always
        assert np.array_equal(a.golden.counts[name], b.golden.counts[name])


def test_counts_over_255_steps_are_uint16_and_round_trip(tmp_path):
    from snnc.runtime import save

    art = load(GOLDEN / "rate_mlp.snn")
    g300 = make_golden(art, art.golden.inputs, 300, spikes=False)
    save(g300, tmp_path / "t300.snn")
    back = load(tmp_path / "t300.snn")
    assert verify(back).ok
    for name, counts in g300.golden.counts.items():
        assert _member_dtype(tmp_path / "t300.snn", f"golden/counts/{name}.npy") == np.uint16
        assert np.array_equal(back.golden.counts[name], counts)
    assert max(int(c.max()) for c in g300.golden.counts.values()) > 255  # uint8 would not have held them


def test_a_count_outside_0_t_is_written_unchanged(tmp_path):
    from snnc.runtime import save

    art = load(GOLDEN / "rate_mlp.snn")
    g = art.golden
    name = sorted(g.counts)[0]
    bad = {**g.counts, name: np.where(np.arange(g.counts[name].size).reshape(g.counts[name].shape) == 0,
                                      g.timesteps + 1000, g.counts[name])}
    save(dataclasses.replace(art, golden=dataclasses.replace(g, counts=bad)), tmp_path / "bad.snn")
    assert _member_dtype(tmp_path / "bad.snn", f"golden/counts/{name}.npy") == np.int64
    back = load(tmp_path / "bad.snn")
    assert np.array_equal(back.golden.counts[name], bad[name]) and not verify(back).ok
