"""Issue 11, item 2 (and the artefact parts of item 3): limits before allocation, clean errors.

Each test builds the hostile artefact of the issue's reproducer and asserts an ArtefactError that
names the file and the member or field. Where the issue's symptom was memory, the test proves the
refusal comes from the zip directory alone: reading any member is made to fail the test.
"""
from __future__ import annotations

import copy
import json
import warnings
import zipfile

import numpy as np
import pytest

from snnc.runtime import ArtefactError, load, make_golden
from snnc.runtime.artefact_io import MAX_MEMBERS
from snnc.runtime.manifest import npy_bytes, npy_load
from snnc.runtime.schema import SUPPORTED, manifest_schema

from artefact_zip import GOLDEN, golden_parts, patch_central_directory, patch_end_record, sealed, write_zip


@pytest.fixture
def no_member_reads(monkeypatch):
    """Opening any member for reading fails the test (ZipFile.read goes through ZipFile.open)."""
    original = zipfile.ZipFile.open

    def refuse(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            raise AssertionError(f"member {getattr(name, 'filename', name)!r} was read")
        return original(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


@pytest.fixture
def reads(monkeypatch):
    """The names of the members load() reads, in order."""
    seen: list[str] = []
    original = zipfile.ZipFile.open

    def spy(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            seen.append(getattr(name, "filename", name))
        return original(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return seen


def refused(path, match):
    with pytest.raises(ArtefactError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_deflated_extra_members_listed_in_checksums_are_refused_from_the_directory(tmp_path, no_member_reads):
    """The reproducer: a small file whose deflated members (listed in checksums) inflate to far more."""
    members, manifest = golden_parts()
    bomb = bytes(8 << 20)  # 8 MiB of zeros deflate to ~8 KiB; the file had 4.2 GB of them
    import hashlib
    for i in range(3):
        name = f"golden/spikes/extra{i}.npy"
        members[name] = bomb
        manifest["checksums"][name] = hashlib.sha256(bomb).hexdigest()
    path = write_zip(tmp_path / "bomb.snn", sealed(members, manifest),
                     compression={f"golden/spikes/extra{i}.npy": zipfile.ZIP_DEFLATED for i in range(3)})
    assert path.stat().st_size < 200_000
    refused(path, r"member 'golden/spikes/extra0.npy' is compressed \(method 8\); every member must be ZIP_STORED")


def test_any_deflated_member_is_refused(tmp_path, no_member_reads):
    members, manifest = golden_parts()
    path = write_zip(tmp_path / "deflated.snn", sealed(members, manifest), compression={"weights/conv1.bin": zipfile.ZIP_DEFLATED})
    refused(path, r"'weights/conv1.bin' is compressed")


def test_member_names_outside_the_format_are_refused_from_the_directory(tmp_path, no_member_reads):
    members, manifest = golden_parts()
    members["payload/evil.so"] = b"\x7fELF"
    refused(write_zip(tmp_path / "extra.snn", sealed(members, manifest)),
            r"member 'payload/evil.so' is not a member the format defines")


def test_stored_member_the_manifest_does_not_define_is_refused_before_it_is_read(tmp_path, reads):
    members, manifest = golden_parts()
    members["golden/spikes/ghost.npy"] = bytes(1 << 20)
    refused(write_zip(tmp_path / "ghost.snn", sealed(members, manifest)),
            r"member 'golden/spikes/ghost.npy' is in the archive but the manifest does not define it")
    assert reads == ["manifest.json", "manifest.sha256"]


def test_declared_sizes_beyond_the_file_are_refused_from_the_directory(tmp_path, no_member_reads):
    members, manifest = golden_parts()
    path = write_zip(tmp_path / "liar.snn", sealed(members, manifest))
    patch_central_directory(path, "golden/inputs.npy", compress_size=3_000_000_000, file_size=3_000_000_000)
    refused(path, r"members declare \d+ bytes, more than the \d+-byte file holds")


def test_stored_size_different_from_size_is_refused(tmp_path, no_member_reads):
    members, manifest = golden_parts()
    path = write_zip(tmp_path / "sizes.snn", sealed(members, manifest))
    patch_central_directory(path, "golden/inputs.npy", file_size=1 << 20)
    refused(path, r"member 'golden/inputs.npy': stored size \d+ != size 1048576")


def test_encrypted_member_is_refused(tmp_path, no_member_reads):
    members, manifest = golden_parts()
    path = write_zip(tmp_path / "enc.snn", sealed(members, manifest))
    patch_central_directory(path, "weights/conv1.bin", flags=1)
    refused(path, r"member 'weights/conv1.bin' is encrypted")


def test_member_count_is_refused_from_the_end_record_before_the_directory_is_parsed(tmp_path, monkeypatch):
    members, manifest = golden_parts()
    path = write_zip(tmp_path / "many.snn", sealed(members, manifest))
    patch_end_record(path, MAX_MEMBERS + 1)
    monkeypatch.setattr(zipfile.ZipFile, "__init__", lambda *a, **k: pytest.fail("the directory was parsed"))
    refused(path, rf"{MAX_MEMBERS + 1} members, more than the limit of {MAX_MEMBERS}")


def test_duplicate_member_names_are_refused(tmp_path, no_member_reads):
    members, manifest = golden_parts()
    path = write_zip(tmp_path / "dup.snn", sealed(members, manifest))
    with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as zf:
        warnings.simplefilter("ignore")
        zf.writestr("weights/conv1.bin", b"\x00" * 9)
    refused(path, r"member 'weights/conv1.bin' appears twice")


def test_golden_timesteps_of_a_million_is_refused_by_the_schema(tmp_path):
    members, manifest = golden_parts()
    manifest["golden"]["timesteps"] = 1_000_000
    refused(write_zip(tmp_path / "t.snn", sealed(members, manifest)),
            r"golden\.timesteps: 1000000 is above the maximum 4096")


def test_golden_timesteps_are_bounded_in_python_too():
    art = load(GOLDEN / "rate_mlp.snn")
    with pytest.raises(ArtefactError, match=r"golden: timesteps: 4097 must be an integer in \[1, 4096\]"):
        make_golden(art, art.golden.inputs, 4097)


def test_weight_shape_whose_product_overflows_int64(tmp_path, reads):
    members, manifest = golden_parts()
    manifest["layers"][0]["weight"]["shape"] = [3037000500, 3037000500, 1, 1]  # product > 2^63
    refused(write_zip(tmp_path / "ovf.snn", sealed(members, manifest)),
            r"layers\[0\]\.weight\.shape\[0\]: 3037000500 is above the maximum 16777216")
    assert reads == ["manifest.json", "manifest.sha256"]


def test_weight_shape_of_large_sizes_fails_on_the_blob_size_before_reading(tmp_path, reads):
    members, manifest = golden_parts()
    manifest["layers"][0]["weight"]["shape"] = [1 << 24, 1 << 24, 1 << 24, 1 << 24]  # product 2^96
    refused(write_zip(tmp_path / "big.snn", sealed(members, manifest)),
            r"layer 'conv1': weight \(weights/conv1.bin\): blob has 9 bytes, expected \d{25,} \(\d+ values x 2 bits\)")
    assert reads == ["manifest.json", "manifest.sha256"]


def test_output_shape_product_is_bounded(tmp_path):
    members, manifest = golden_parts()
    manifest["layers"][0]["padding"] = [1 << 23, 1 << 23, 1 << 23, 1 << 23]  # a huge padded output
    refused(write_zip(tmp_path / "pad.snn", sealed(members, manifest)),
            r"layer 'conv1': output_shape: \[4, 16777226, 16777226\]: every size must be in \[1, 16777216\]")


def test_deeply_nested_json_is_a_clean_error(tmp_path):
    members, _ = golden_parts()
    text = b"[" * 200_000 + b"]" * 200_000
    refused(write_zip(tmp_path / "deep.snn", sealed(members, text=text)), r"manifest.json: not valid JSON \(nested deeper")
    members, manifest = golden_parts()
    spec: dict = {}
    node = spec
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    manifest["hardware_spec"] = spec
    refused(write_zip(tmp_path / "deep2.snn", sealed(members, manifest)), r"nested deeper than 64 levels")


def test_huge_integer_json_is_a_clean_error(tmp_path):
    members, manifest = golden_parts()
    text = json.dumps(manifest).replace('"threshold": [300]', '"threshold": [' + "9" * 5000 + "]").encode()
    refused(write_zip(tmp_path / "int.snn", sealed(members, text=text)), r"integer 9{24}\.\.\. is outside \[-2\^63, 2\^63 - 1\]")
    text = json.dumps(manifest).replace('"threshold": [300]', '"threshold": [9223372036854775808]').encode()
    refused(write_zip(tmp_path / "int2.snn", sealed(members, text=text)), r"integer 9223372036854775808 is outside")


@pytest.mark.parametrize("token, match", [
    ("NaN", r"NaN is not JSON"), ("Infinity", r"Infinity is not JSON"), ("1e999", r"1e999 is not finite"),
])
def test_non_finite_numbers_are_refused(tmp_path, token, match):
    members, manifest = golden_parts()
    text = json.dumps(manifest).replace('"input_scale": 1.0', f'"input_scale": {token}').encode()
    refused(write_zip(tmp_path / "nan.snn", sealed(members, text=text)), match)


def test_duplicate_json_keys_are_refused(tmp_path):
    members, manifest = golden_parts()
    text = json.dumps(manifest).replace('"groups": 1,', '"groups": 1, "groups": 2,', 1).encode()
    refused(write_zip(tmp_path / "dupkey.snn", sealed(members, text=text)), r"duplicate key 'groups'")


@pytest.mark.parametrize("field, value, match", [
    (("layers", 0, "groups"), 1.0, r"layers\[0\]\.groups: expected integer, got float 1.0"),
    (("layers", 0, "neuron", "threshold"), [300.0], r"layers\[0\]\.neuron\.threshold\[0\]: expected integer"),
    (("format_version",), 1.0, r"format_version: 1.0 is not supported"),
    (("golden", "timesteps"), 8.0, r"golden\.timesteps: expected integer"),
])
def test_integers_must_be_integer_tokens(tmp_path, field, value, match):
    """Draft 2020-12 would accept 2485.0 as an integer; snnc's schema and loader both refuse it."""
    members, manifest = golden_parts()
    node = manifest
    for part in field[:-1]:
        node = node[part]
    node[field[-1]] = value
    refused(write_zip(tmp_path / "float.snn", sealed(members, manifest)), match)


def test_unknown_layer_field_is_refused(tmp_path):
    members, manifest = golden_parts()
    manifest["layers"][0]["dilation"] = [2, 2]
    refused(write_zip(tmp_path / "dil.snn", sealed(members, manifest)), r"layers\[0\]: unknown field 'dilation'")
    for i, layer in enumerate(manifest["layers"]):  # every kind is closed, flatten included
        m = copy.deepcopy(manifest)
        del m["layers"][0]["dilation"]
        m["layers"][i]["surprise"] = 0
        refused(write_zip(tmp_path / "extra.snn", sealed(members, m)), rf"layers\[{i}\]: unknown field 'surprise'")


def test_member_fields_must_name_the_fixed_member(tmp_path):
    members, manifest = golden_parts()
    manifest["layers"][0]["weight"]["member"] = "weights/conv2.bin"
    refused(write_zip(tmp_path / "m.snn", sealed(members, manifest)),
            r"layers\[0\]\.weight\.member: 'weights/conv2.bin' must be 'weights/conv1.bin'")
    members, manifest = golden_parts()
    manifest["golden"]["counts"]["conv1"] = "golden/counts/conv2.npy"
    refused(write_zip(tmp_path / "g.snn", sealed(members, manifest)),
            r"golden\.counts\['conv1'\]: 'golden/counts/conv2.npy' must be 'golden/counts/conv1.npy'")


def test_host_weights_must_be_finite(tmp_path):
    members, manifest = golden_parts()
    w = np.frombuffer(members["host/head.weight.bin"], "<f4").copy()
    w[1] = np.inf
    members["host/head.weight.bin"] = w.tobytes()
    refused(write_zip(tmp_path / "inf.snn", sealed(members, manifest, rehash=["host/head.weight.bin"])),
            r"layer 'head': weight/bias: must be finite")


def test_golden_counts_cover_exactly_the_spike_carrying_layers(tmp_path):
    members, manifest = golden_parts()
    del manifest["golden"]["counts"]["flat"], manifest["checksums"]["golden/counts/flat.npy"]
    del members["golden/counts/flat.npy"]
    refused(write_zip(tmp_path / "c.snn", sealed(members, manifest)), r"golden: counts: has layers .* expected .*'flat'")


def test_golden_needs_a_sample(tmp_path):
    members, manifest = golden_parts()
    for name in [n for n in members if n.startswith("golden/")]:
        arr = npy_load(members[name], name)
        members[name] = npy_bytes(arr[:0])
    refused(write_zip(tmp_path / "b0.snn", sealed(members, manifest, rehash=[n for n in members if n.startswith("golden/")])),
            r"golden: inputs: has no samples")


@pytest.mark.parametrize("header, match", [
    ("{'descr': '<i8', 'fortran_order': False, 'shape': (1099511627775, 1099511627775), }", r"8 data bytes, .* needs \d{20,}"),
    ("{'descr': '<i8', 'fortran_order': False, 'shape': (1 << 50,), }", r"unreadable header"),
    ("{'descr': '<i8', 'fortran_order': False, 'shape': (1125899906842624,), }", r"shape \(1125899906842624,\)"),
    ("{'descr': '<i8', 'fortran_order': False, 'shape': (4, 4), }", r"data bytes, the header's \[4, 4\] x int64 needs 128"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", r"dtype object is not numeric"),
    ("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", r"exactly descr, fortran_order, shape"),
])
def test_npy_headers_are_checked_before_allocation(header, match):
    head = header.encode("latin1")
    blob = b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head + bytes(8)
    with pytest.raises(ArtefactError, match=match):
        npy_load(blob, "golden/counts/x.npy")


def test_schema_uses_only_keywords_the_checker_supports():
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                if key in ("properties", "$defs"):
                    for sub in value.values():
                        yield from walk(sub)
                elif key != "enum" and key != "const":
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    assert set(walk(manifest_schema())) <= SUPPORTED


def test_save_refuses_what_load_would_refuse(tmp_path):
    import dataclasses

    from snnc.runtime import save

    art = load(GOLDEN / "rate_mlp.snn")
    deep: dict = {}
    node = deep
    for _ in range(80):
        node["x"] = {}
        node = node["x"]
    for provenance, match in ((deep, r"nested deeper than 64 levels"), ({"n": 2 ** 70}, r"outside \[-2\^63, 2\^63 - 1\]")):
        with pytest.raises(ArtefactError, match=match):
            save(dataclasses.replace(art, provenance=provenance), tmp_path / "x.snn")
        assert not list(tmp_path.iterdir())
