"""The .snn container: determinism, round trips, and every rejection the loader promises."""
from __future__ import annotations

import copy
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from snnc.runtime import ArtefactError, InputError, Linear, Neuron, load, save, simulate
from snnc.runtime.manifest import ENCODE, to_manifest
from snnc.runtime.model import LAYER_TYPES
from snnc.runtime.schema import manifest_schema

GOLDEN = Path(__file__).parent / "golden"


def read(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write(path, members, manifest=None, rehash=()):
    """A zip of `members`; with `manifest`, its JSON (after rehashing `rehash`) and a matching
    manifest.sha256, so the loader gets past the digest to the check a test is about."""
    members = dict(members)
    if manifest is not None:
        for name in rehash:
            manifest["checksums"][name] = hashlib.sha256(members[name]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
        members["manifest.sha256"] = (hashlib.sha256(members["manifest.json"]).hexdigest() + "\n").encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def parts():
    members = read(GOLDEN / "lenet_host.snn")
    return members, json.loads(members["manifest.json"])


def test_same_content_gives_byte_identical_files(tmp_path):
    art = load(GOLDEN / "wrap_residual.snn")
    save(art, tmp_path / "a.snn")
    save(art, tmp_path / "b.snn")
    assert (tmp_path / "a.snn").read_bytes() == (tmp_path / "b.snn").read_bytes() == (GOLDEN / "wrap_residual.snn").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.snn") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert all(i.compress_type == zipfile.ZIP_STORED and i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


def test_every_layer_kind_round_trips():
    kinds = {layer.kind for f in GOLDEN.glob("*.snn") for layer in load(f).layers}
    assert kinds == set(LAYER_TYPES) == {cls.kind for cls in ENCODE}
    for f in GOLDEN.glob("*.snn"):
        art = load(f)
        manifest, members = to_manifest(art)
        assert manifest == json.loads(read(f)["manifest.json"])
        for layer in art.layers:
            if hasattr(layer, "weight"):
                assert layer.weight.dtype == (np.float32 if layer.kind == "host_linear" else np.int8)


def test_blob_size_is_bits_times_count_rounded_to_bytes():
    art = load(GOLDEN / "lenet_host.snn")
    members = read(GOLDEN / "lenet_host.snn")
    for layer in art.layers:
        if layer.kind in ("conv", "linear"):
            assert len(members[f"weights/{layer.name}.bin"]) == (layer.weight.size * layer.bits + 7) // 8


def expect(tmp_path, members, manifest, match, rehash=()):
    path = write(tmp_path / "bad.snn", members, manifest, rehash)
    with pytest.raises(ArtefactError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_rejects_corrupt_checksum(tmp_path, parts):
    members, manifest = parts
    members["weights/conv1.bin"] = bytes([members["weights/conv1.bin"][0] ^ 1]) + members["weights/conv1.bin"][1:]
    expect(tmp_path, members, manifest, r"checksums: 'weights/conv1.bin' has sha256")


def test_rejects_wrong_format_version(tmp_path, parts):
    members, manifest = parts
    manifest["format_version"] = 2
    expect(tmp_path, members, manifest, r"format_version: 2 is not supported")


def test_rejects_missing_member(tmp_path, parts):
    members, manifest = parts
    del members["weights/fc1.bin"]
    expect(tmp_path, members, manifest, r"'weights/fc1.bin' is missing")


def test_rejects_missing_manifest(tmp_path, parts):
    members, _ = parts
    del members["manifest.json"]
    expect(tmp_path, members, None, r"'manifest.json' is missing")


def test_rejects_unlisted_member(tmp_path, parts):
    members, manifest = parts
    members["weights/extra.bin"] = b"\x00"
    expect(tmp_path, members, manifest, r"member 'weights/extra.bin' is in the archive but the manifest does not define it")
    members, manifest = read(GOLDEN / "lenet_host.snn"), json.loads(read(GOLDEN / "lenet_host.snn")["manifest.json"])
    del manifest["checksums"]["weights/fc1.bin"]
    expect(tmp_path, members, manifest, r"checksums: member 'weights/fc1.bin' \(layers\[5\]\.weight\.member\) is not listed")


def test_rejects_shape_mismatch(tmp_path, parts):
    members, manifest = parts
    manifest["layers"][1]["output_shape"] = [4, 5, 6]
    expect(tmp_path, members, manifest, r"layer 'pool1': output_shape: \[4, 5, 6\] does not match the computed shape \[4, 6, 6\]")


def test_rejects_weight_shape_inconsistent_with_input(tmp_path, parts):
    members, manifest = parts
    manifest["layers"][2]["weight"]["shape"] = [6, 2, 3, 3]  # conv2 input has 4 channels
    expect(tmp_path, members, manifest, r"layer 'conv2': weight \(weights/conv2.bin\): blob has 54 bytes, expected 27")


def test_rejects_forbidden_symmetric_code(tmp_path):
    members = read(GOLDEN / "rate_mlp.snn")  # 3-bit "full" weights include -4
    manifest = json.loads(members["manifest.json"])
    manifest["target"]["weight_encoding"] = "symmetric"
    expect(tmp_path, members, manifest, r"layer 'h1': weight .*forbidden by the symmetric 3-bit encoding")


def test_rejects_nonzero_padding_bits(tmp_path):
    members = read(GOLDEN / "rate_mlp.snn")  # h2: 5 x 12 values x 1 bit = 60 bits -> 8 bytes, 4 padding bits
    manifest = json.loads(members["manifest.json"])
    blob = bytearray(members["weights/h2.bin"])
    assert len(blob) == 8
    blob[-1] |= 0x80
    members["weights/h2.bin"] = bytes(blob)
    expect(tmp_path, members, manifest, r"layer 'h2': weight .*non-zero padding bits", rehash=["weights/h2.bin"])


def test_rejects_threshold_and_bias_out_of_range(tmp_path, parts):
    members, manifest = parts
    m = copy.deepcopy(manifest)
    m["layers"][0]["neuron"]["threshold"] = [1024]
    expect(tmp_path, members, m, r"layer 'conv1': threshold: 1024 is outside \[1, 1023\]")
    m = copy.deepcopy(manifest)
    m["layers"][0]["neuron"]["bias"] = [32, 0, 0, 0]
    expect(tmp_path, members, m, r"layer 'conv1': bias: 32 is outside \[-32, 31\]")


def test_rejects_unknown_input_and_schema_violations(tmp_path, parts):
    members, manifest = parts
    m = copy.deepcopy(manifest)
    m["layers"][1]["inputs"] = ["nope"]
    expect(tmp_path, members, m, r"layer 'pool1': inputs: 'nope' is not 'input' or an earlier layer")
    m = copy.deepcopy(manifest)
    m["layers"][0]["neuron"]["reset"] = "hard"
    expect(tmp_path, members, m, r"layers\[0\]\.neuron\.reset: \"hard\" is not one of")
    m = copy.deepcopy(manifest)
    m["surprise"] = 1
    expect(tmp_path, members, m, r"unknown field 'surprise'")


def test_rejects_tampered_hardware_spec(tmp_path, parts):
    members, manifest = parts
    manifest["hardware_spec"]["name"] = "other-chip"
    expect(tmp_path, members, manifest, r"hardware_spec_sha256: the embedded spec hashes to")


def test_rejects_non_zip_and_missing_file(tmp_path):
    bad = tmp_path / "x.snn"
    bad.write_bytes(b"definitely not a zip")
    with pytest.raises(ArtefactError, match="not a readable zip"):
        load(bad)
    with pytest.raises(ArtefactError, match="no such file"):
        load(tmp_path / "missing.snn")


def test_construction_validates_weights():
    with pytest.raises(ArtefactError, match=r"layer 'l': weight: value 5 at index \(0, 0\) is outside the 2-bit"):
        from snnc.runtime import Artefact, InputSpec, Target
        t = Target(8, "saturate", "ge", 4, 4, "full", 4)
        Artefact(InputSpec((2,), "current", 0, 15), (Linear("l", ["input"], (1,), weight=[[5, 1]], bits=2,
                                                              neuron=Neuron([1], [0])),), t)


def test_bad_inputs_raise_input_error():
    art = load(GOLDEN / "lenet_host.snn")
    x = np.zeros((2, 1, 12, 12), np.float32)
    x[1, 0, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        simulate(art, x, 4)
    with pytest.raises(InputError, match=r"shape \[2, 12, 12\] does not match \(B, 1, 12, 12\)"):
        simulate(art, np.zeros((2, 12, 12)), 4)
    with pytest.raises(InputError, match=r"outside the input range \[0, 255\]"):
        simulate(art, np.full((1, 1, 12, 12), 256, np.int64), 4)
    with pytest.raises(InputError, match="not numeric"):
        simulate(art, np.zeros((1, 1, 12, 12), dtype="U1"), 4)
    with pytest.raises(InputError, match="timesteps"):
        simulate(art, np.zeros((1, 1, 12, 12)), 0)


@pytest.mark.slow
def test_schema_and_validator_agree_on_required_keys(tmp_path):
    """Every key the schema requires is emitted by the writer and, if removed, rejected by the loader."""
    schema = manifest_schema()
    defs = schema["$defs"]
    for f in ("lenet_host.snn", "rate_mlp.snn", "wrap_residual.snn", "doc_example.snn"):
        members = read(GOLDEN / f)
        manifest = json.loads(members["manifest.json"])
        targets = [(manifest, schema["required"], ()), (manifest["target"], defs["target"]["required"], ("target",)),
                   (manifest["input"], defs["input"]["required"], ("input",))]
        for i, layer in enumerate(manifest["layers"]):
            kind_def = {"concat": "passthrough", "flatten": "passthrough"}.get(layer["kind"], layer["kind"])
            required = defs["layer"]["required"] + defs[kind_def].get("required", [])
            allowed = set(defs["layer"]["properties"]) | set(defs[kind_def].get("properties", {}))
            optional = {"softmax", "input_dilation"}  # written only when set (docs/artefact.md)
            assert set(layer) - optional == allowed - optional, (layer["kind"], set(layer) ^ allowed)
            targets.append((layer, required, ("layers", i)))
            if "neuron" in layer:
                targets.append((layer["neuron"], defs["neuron"]["required"], ("layers", i, "neuron")))
        if "golden" in manifest:
            targets.append((manifest["golden"], defs["golden"]["required"], ("golden",)))
        for obj, required, where in targets:
            assert set(required) <= set(obj), (where, set(required) - set(obj))
            for key in required:
                m = copy.deepcopy(manifest)
                node = m
                for part in where:
                    node = node[part]
                del node[key]
                path = write(tmp_path / "req.snn", members, m)
                with pytest.raises(ArtefactError, match=f"'{key}'|{key}"):
                    load(path)
