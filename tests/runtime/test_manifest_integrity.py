"""Issue 11, item 4: manifest.json is covered by manifest.sha256, so editing it is detected by load.

And verify replays float golden inputs through the input quantization, so a re-sealed edit of
input.scale still shows as a mismatch.
"""
from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from snnc.compiler.cli.verify_cmd import verify as verify_cmd
from snnc.runtime import ArtefactError, load, verify

from artefact_zip import GOLDEN, digest, golden_parts, read_members, sealed, write_zip

EDITS = [  # every kind of number that changes computation
    (("input", "scale"), lambda v: v * 2),
    (("input", "hi"), lambda v: v - 1),
    (("layers", 0, "neuron", "threshold", 0), lambda v: v + 1),
    (("layers", 0, "neuron", "bias", 1), lambda v: v + 1),
    (("layers", 0, "neuron", "reset"), lambda v: "zero"),
    (("layers", 6, "input_scale"), lambda v: v * 2),
    (("target", "membrane_bits"), lambda v: v + 1),
    (("golden", "timesteps"), lambda v: v - 1),
]


def edit(manifest, field, change):
    node = manifest
    for part in field[:-1]:
        node = node[part]
    node[field[-1]] = change(node[field[-1]])
    return manifest


def test_doubling_input_scale_is_detected(tmp_path):
    """The reproducer: double input.scale, keep everything else (the old manifest.sha256 included)."""
    members, manifest = golden_parts()
    manifest["input"]["scale"] *= 2
    members["manifest.json"] = json.dumps(manifest, indent=1).encode()
    path = write_zip(tmp_path / "scaled.snn", members)
    with pytest.raises(ArtefactError, match=r"manifest\.sha256: manifest\.json has sha256 [0-9a-f]{16}\.\.\., the digest "
                                            r"member says [0-9a-f]{16}\.\.\. \(manifest\.json was changed after it was written\)"):
        load(path)
    res = CliRunner().invoke(verify_cmd, [str(path)])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and str(path) in res.output and "manifest.sha256" in res.output


@pytest.mark.parametrize("field, change", EDITS, ids=lambda e: ".".join(map(str, e)) if isinstance(e, tuple) else "")
def test_every_computational_edit_is_detected(tmp_path, field, change):
    members, manifest = golden_parts()
    members["manifest.json"] = json.dumps(edit(manifest, field, change), indent=1).encode()
    with pytest.raises(ArtefactError, match=r"manifest\.sha256: manifest\.json has sha256"):
        load(write_zip(tmp_path / "edited.snn", members))


def test_even_whitespace_is_covered(tmp_path):
    members, _ = golden_parts()
    members["manifest.json"] = members["manifest.json"] + b"\n"
    with pytest.raises(ArtefactError, match=r"manifest\.sha256"):
        load(write_zip(tmp_path / "ws.snn", members))


def test_old_artefacts_without_the_digest_are_refused_naming_it(tmp_path):
    members, _ = golden_parts()
    del members["manifest.sha256"]
    path = write_zip(tmp_path / "old.snn", members)
    with pytest.raises(ArtefactError, match=r"old\.snn: manifest\.sha256: member is missing .* recompile them"):
        load(path)


@pytest.mark.parametrize("content", [
    lambda t: hashlib.sha256(t).hexdigest().encode(),  # no newline
    lambda t: hashlib.sha256(t).hexdigest().upper().encode() + b"\n",
    lambda t: hashlib.sha256(t).hexdigest().encode() + b"\r\n",
])
def test_the_digest_member_has_one_exact_form(tmp_path, content):
    members, _ = golden_parts()
    members["manifest.sha256"] = content(members["manifest.json"])
    with pytest.raises(ArtefactError, match=r"manifest\.sha256: (must be 64 lowercase hex digits|manifest\.json has sha256)"):
        load(write_zip(tmp_path / "form.snn", members))


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.snn")), ids=lambda p: p.stem)
def test_digest_is_the_plain_sha256_of_the_manifest_bytes(path):
    """What an outsider computes: sha256sum of the extracted manifest.json, lowercase, plus a newline."""
    members = read_members(path)
    assert members["manifest.sha256"] == digest(members["manifest.json"])
    assert len(members["manifest.sha256"]) == 65
    manifest = json.loads(members["manifest.json"])
    assert set(manifest["checksums"]) == set(members) - {"manifest.json", "manifest.sha256"}


def test_sha256sum_agrees(tmp_path):
    members, _ = golden_parts()
    (tmp_path / "manifest.json").write_bytes(members["manifest.json"])
    try:
        out = subprocess.run(["sha256sum", str(tmp_path / "manifest.json")], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no sha256sum")
    assert out.split()[0].encode() + b"\n" == members["manifest.sha256"]


def test_verify_replays_float_inputs_through_the_quantization(tmp_path):
    """A deliberate, re-sealed change of input.scale loads (it is a valid artefact) but fails verify:
    the golden inputs of lenet_host are float, so the replay quantizes them with the new scale."""
    members, manifest = golden_parts("lenet_host")
    art = load(GOLDEN / "lenet_host.snn")
    assert art.golden.inputs.dtype.kind == "f"
    manifest["input"]["scale"] *= 2
    edited = load(write_zip(tmp_path / "resealed.snn", sealed(members, manifest)))
    report = verify(edited)
    assert not report.ok and report.mismatch.layer == "conv1", str(report)
    res = CliRunner().invoke(verify_cmd, [str(tmp_path / "resealed.snn")])
    assert res.exit_code == 1 and "layer 'conv1'" in res.output


def test_resealing_with_the_original_values_restores_the_file(tmp_path):
    members, manifest = golden_parts("rate_mlp")
    m = copy.deepcopy(manifest)
    again = sealed(members, text=members["manifest.json"])
    assert again == members
    assert verify(load(write_zip(tmp_path / "same.snn", sealed(members, m)))).ok


def test_runtime_imports_nothing_new(tmp_path):
    """manifest digest and strict JSON use only the standard library (the runtime stays numpy-only)."""
    code = ("import sys; import snnc.runtime.artefact_io; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('yaml', 'torch', 'onnx') or m.startswith('snnc.hwspec') "
            "or m.startswith('snnc.compiler')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
