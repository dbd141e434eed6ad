"""Golden counts stored as SHA-256 digests (`golden.digests`, docs/artefact.md): what make_golden
stores within a budget, that verify checks every digested value and names the first differing layer,
the manifest round trip, and what the loader refuses."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.compiler.cli.verify_cmd import verify as verify_cmd
from snnc.runtime import load, make_golden, save, simulate, verify
from snnc.runtime.errors import ArtefactError
from snnc.runtime.manifest import counts_digest

from artefact_zip import golden_parts, sealed, write_zip
from test_golden_files import GOLDEN, sha256_of_counts


def lenet():
    return load(GOLDEN / "lenet_host.snn")


def test_budget_zero_keeps_only_the_output_layer_in_full_and_checks_as_many_values():
    art = lenet()
    g = art.golden
    full = make_golden(art, g.inputs, g.timesteps, spikes=False)
    slim = make_golden(art, g.inputs, g.timesteps, spikes=False, counts_budget=0)
    assert list(slim.golden.counts) == [art.output_layer] == ["fc1"]
    assert sorted(slim.golden.digests) == ["conv1", "conv2", "flat", "pool1", "pool2"]
    for name, digest in slim.golden.digests.items():  # the digest of the counts the full form stores
        assert digest == sha256_of_counts(full.golden.counts[name], g.timesteps)
    a, b = verify(full), verify(slim)
    assert a.ok and b.ok and a.checked == b.checked


def test_budget_fills_in_topological_order_after_the_output_layer():
    art = lenet()
    g = art.golden
    b = len(g.inputs)  # one byte per count at T = 8
    sizes = {layer.name: b * int(np.prod(layer.output_shape)) for layer in art.core_layers}
    budget = sizes["fc1"] + sizes["conv1"] + sizes["pool2"]  # conv1 fits, pool1 and conv2 do not, pool2 does
    assert sizes["fc1"] + sizes["conv1"] + sizes["pool1"] > budget
    out = make_golden(art, g.inputs, g.timesteps, counts_budget=budget).golden
    assert set(out.counts) == {"fc1", "conv1", "pool2"}
    assert set(out.digests) == {"pool1", "conv2", "flat"}


def test_digests_round_trip_and_are_written_only_when_present(tmp_path):
    art = lenet()
    g = art.golden
    slim = make_golden(art, g.inputs, g.timesteps, counts_budget=0)
    back = load(save(slim, tmp_path / "slim.snn"))
    assert dict(back.golden.digests) == dict(slim.golden.digests) and verify(back).ok
    members, manifest = golden_parts("lenet_host")
    assert "digests" not in manifest["golden"]  # artefacts without digests keep their bytes
    assert load(GOLDEN / "lenet_host.snn").golden.digests == {}


def test_verify_reports_the_first_differing_digested_layer(tmp_path):
    art = lenet()
    g = art.golden
    slim = make_golden(art, g.inputs, g.timesteps, counts_budget=0)
    w = art.layer("conv2").weight.copy()
    w[0, 0, 0, 0] = 1 if w[0, 0, 0, 0] != 1 else -1
    layers = tuple(dataclasses.replace(layer, weight=w) if layer.name == "conv2" else layer for layer in art.layers)
    bad = dataclasses.replace(slim, layers=layers)
    actual = simulate(bad, g.inputs, g.timesteps).counts["conv2"]
    assert not np.array_equal(actual, simulate(art, g.inputs, g.timesteps).counts["conv2"])
    report = verify(bad)
    m = report.mismatch
    assert not report.ok and (m.layer, m.quantity, m.sample, m.timestep, m.neuron) == ("conv2", "counts digest", None, None, ())
    assert m.expected == slim.golden.digests["conv2"] and m.actual == counts_digest(actual, g.timesteps)
    assert "SHA-256" in str(report) and "'conv2'" in str(report) and "--trace" in str(report)
    path = save(bad, tmp_path / "bad.snn")
    res = CliRunner().invoke(verify_cmd, [str(path), "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 1, res.output
    doc = json.loads(res.output)
    assert doc["mismatch"]["quantity"] == "counts digest" and doc["mismatch"]["sample"] is None
    assert doc["mismatch"]["expected"] == m.expected and doc["mismatch"]["actual"] == m.actual


def test_a_full_layer_before_a_digested_one_is_still_named_to_the_neuron():
    art = lenet()
    g = art.golden
    slim = make_golden(art, g.inputs, g.timesteps, spikes=False, counts_budget=10**6)  # everything in full
    assert slim.golden.digests == {}
    counts = {k: v.copy() for k, v in slim.golden.counts.items()}
    counts["conv1"][1, 2, 3, 4] += 1
    digests = {"conv2": counts_digest(counts.pop("conv2"), g.timesteps)}
    bad = dataclasses.replace(slim, golden=dataclasses.replace(slim.golden, counts=counts, digests=digests))
    m = verify(bad).mismatch
    assert (m.layer, m.quantity, m.sample, m.neuron) == ("conv1", "counts", 1, (2, 3, 4))


def test_counts_digest_is_the_documented_sha256():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 9, size=(2, 3, 4))
    big = rng.integers(0, 301, size=(2, 5))
    assert counts_digest(small, 8) == sha256_of_counts(small, 8)
    assert counts_digest(big, 300) == sha256_of_counts(big, 300)
    assert counts_digest(np.array([[9]]), 8) is None and counts_digest(np.array([[-1]]), 8) is None


def _with_golden(art, **change):
    return dataclasses.replace(art, golden=dataclasses.replace(art.golden, **change))


@pytest.mark.parametrize("change, words", [
    (lambda g: dict(digests={"conv1": counts_digest(g.counts["conv1"], g.timesteps)}), "also in golden.counts"),
    (lambda g: dict(counts={k: v for k, v in g.counts.items() if k != "conv1"}, digests={"conv1": "AB" * 32}),
     "64 lowercase hex"),
    (lambda g: dict(counts={k: v for k, v in g.counts.items() if k != "conv1"}, digests={"conv1": "ab"}),
     "64 lowercase hex"),
    (lambda g: dict(counts={k: v for k, v in g.counts.items() if k != "conv1"}, digests={}), "expected"),
    (lambda g: dict(digests={"nosuch": "0" * 64}), "expected"),
])
def test_construction_refuses_bad_digests(change, words):
    art = lenet()
    with pytest.raises(ArtefactError, match=words):
        _with_golden(art, **change(art.golden))


def test_the_loader_refuses_a_digest_that_is_not_hex(tmp_path):
    members, manifest = golden_parts("digest_counts")
    manifest["golden"]["digests"]["conv2"] = "z" * 64
    path = write_zip(tmp_path / "bad.snn", sealed(members, manifest))
    with pytest.raises(ArtefactError, match=r"bad\.snn.*golden.*digests"):
        load(path)


def test_the_docs_worked_example():
    """docs/artefact.md, 'Golden count digests': T = 8, counts [[1, 0], [8, 3]]."""
    assert counts_digest(np.array([[1, 0], [8, 3]]), 8) == "64190c7643453e12be178f54b3305c97889bcf68b70a712b594fbed429dd9152"
    assert counts_digest(np.array([[1, 0], [8, 3]]), 300) == sha256_of_counts(np.array([[1, 0], [8, 3]]), 300)


def test_diff_compares_a_digested_layer_by_its_digest():
    from snnc.runtime.diff import DIGEST, first_difference

    art = load(GOLDEN / "digest_counts.snn")
    g = art.golden
    res = simulate(art, g.inputs, g.timesteps)
    arrays = {f"counts/{k}": v for k, v in res.counts.items()}
    arrays["timesteps"] = np.int64(g.timesteps)
    same = first_difference(art, arrays)
    assert same.identical and same.compared == sum(v.size for v in res.counts.values())
    assert {ld.layer: list(ld.compared) for ld in same.layers} == {
        "conv1": ["counts"], "conv2": [DIGEST], "pool": [DIGEST], "flat": [DIGEST], "fc": ["counts"]}
    arrays["counts/pool"] = arrays["counts/pool"].copy()
    arrays["counts/pool"][1, 1, 0, 0] -= 1
    bad = first_difference(art, arrays)
    assert not bad.identical and (bad.first.layer, bad.first.quantity, bad.first.sample) == ("pool", DIGEST, None)
    assert bad.first.a == g.digests["pool"] and bad.first.b == counts_digest(arrays["counts/pool"], g.timesteps)
    assert "SHA-256" in str(bad.first) and "(digest differs)" in bad.to_text()
    assert first_difference(art, art).identical  # two artefacts: the digests themselves
    other = dataclasses.replace(art, golden=dataclasses.replace(g, digests={**g.digests, "conv2": "0" * 64}))
    assert first_difference(art, other).first.layer == "conv2"
