"""`.pt2` files cannot make snnc run code (issue 11, item 1; docs/security.md).

Each archive here carries a payload that, if unpickled or loaded, creates a marker file. snnc must
refuse the archive with one `error:` line, exit 2, and the marker must not exist. The three ways
past the old guard: torch's older layout (loaded with `weights_only=False`), a duplicated member
name (the guard read one copy, torch the other), and AOTInductor files (torch `dlopen`s them).
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli
from snnc.compiler.frontends.torch.loader import read_archive

from .conftest import torch

ROOT = Path(__file__).resolve().parents[4]
LENET_PT2 = ROOT / "examples" / "models" / "lenet5_mnist.pt2"


class Payload:
    """Unpickling this creates the file `marker` (a stand-in for arbitrary code)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"x": Payload(marker)}, buf)
    return buf.getvalue()


def entries() -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(LENET_PT2) as src:
        return [(i, src.read(i)) for i in src.infolist()]


def write(path: Path, items) -> Path:
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in items:
            dst.writestr(name, data)
    return path


def check(path: Path):
    return CliRunner().invoke(cli, ["check", str(path), "--bits", "2"])


def assert_refused(res, marker: Path, *words: str):
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error:") and "Traceback" not in res.output, res.output
    for w in words:
        assert w in res.output, res.output
    assert not marker.exists(), "the payload ran"


def test_shipped_archive_rebuilds_to_the_members_torch_needs():
    clean = zipfile.ZipFile(io.BytesIO(read_archive(str(LENET_PT2))))
    names = clean.namelist()
    assert len(names) == len(set(names))
    assert all(n.startswith("lenet5_mnist/") for n in names)
    assert {"lenet5_mnist/models/model.json", "lenet5_mnist/data/weights/weight_0"} <= set(names)
    ep = torch.export.load(io.BytesIO(read_archive(str(LENET_PT2))))
    assert len(ep.state_dict) == 10


def test_older_layout_is_refused(tmp_path):
    marker = tmp_path / "owned"
    # torch 2.7's layout: top-level version + serialized_* members; the state dict is unpickled in full
    with zipfile.ZipFile(LENET_PT2) as src:
        program = src.read("lenet5_mnist/models/model.json")
    bad = write(tmp_path / "old.pt2", [("version", "8.0"), ("serialized_exported_program.json", program),
                                       ("serialized_state_dict.pt", pickled(marker)),
                                       ("serialized_constants.pt", pickled(marker)),
                                       ("serialized_example_inputs.pt", pickled(marker))])
    assert_refused(check(bad), marker, "old.pt2")


def test_older_layout_inside_a_root_folder_is_refused(tmp_path):
    marker = tmp_path / "owned"
    items = [(i.filename, d) for i, d in entries()]
    items.append(("lenet5_mnist/serialized_state_dict.pt", pickled(marker)))
    assert_refused(check(write(tmp_path / "mixed.pt2", items)), marker, "serialized_state_dict.pt")


@pytest.mark.parametrize("member", ["data/sample_inputs/model.pt", "data/weights/weight_0",
                                    "data/weights/model_weights_config.json"])
def test_duplicate_member_names_are_refused(tmp_path, member):
    marker = tmp_path / "owned"
    items = []
    for info, data in entries():
        if info.filename == f"lenet5_mnist/{member}":
            items.append((info.filename, pickled(marker)))  # the copy torch's reader would take
        items.append((info.filename, data))
    with pytest.warns(UserWarning, match="Duplicate name"):
        bad = write(tmp_path / "dup.pt2", items)
    assert_refused(check(bad), marker, "duplicate")


def test_aotinductor_payload_is_refused(tmp_path):
    marker = tmp_path / "owned"
    items = [(i.filename, d) for i, d in entries()]
    items += [("lenet5_mnist/data/aotinductor/model/model.so", b"\x7fELF" + b"\0" * 64),
              ("lenet5_mnist/data/aotinductor/model/model.wrapper.cpp", b"// compiled code")]
    assert_refused(check(write(tmp_path / "aoti.pt2", items)), marker, "data/aotinductor/model/model.so")


@pytest.mark.parametrize("field,value", [("use_pickle", True), ("path_name", "custom_obj_0"),
                                         ("path_name", "opaque_obj_0"), ("path_name", "../../x")])
def test_pickled_or_custom_weights_are_refused(tmp_path, field, value):
    marker = tmp_path / "owned"
    items = []
    for info, data in entries():
        if info.filename.endswith("model_weights_config.json"):
            config = json.loads(data)
            config["config"]["features.0.weight"][field] = value
            data = json.dumps(config).encode()
        items.append((info.filename, data))
    items.append(("lenet5_mnist/data/weights/custom_obj_0", pickled(marker)))
    assert_refused(check(write(tmp_path / "obj.pt2", items)), marker, "features.0.weight")


def test_pickled_constants_are_refused(tmp_path):
    marker = tmp_path / "owned"
    meta = {"path_name": "tensor_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
    items = []
    for info, data in entries():
        if info.filename.endswith("model_constants_config.json"):
            data = json.dumps({"config": {"c": meta}}).encode()
        items.append((info.filename, data))
    items.append(("lenet5_mnist/data/constants/tensor_0", pickled(marker)))
    assert_refused(check(write(tmp_path / "const.pt2", items)), marker, "'c'")


def test_two_root_folders_and_escaping_paths_are_refused(tmp_path):
    marker = tmp_path / "owned"
    items = [(i.filename, d) for i, d in entries()]
    assert_refused(check(write(tmp_path / "two.pt2", items + [("other/x", b"")])), marker, "top-level")
    assert_refused(check(write(tmp_path / "up.pt2", items + [("lenet5_mnist/../x", b"")])), marker, "../x")


def test_declared_size_is_bounded_before_reading(tmp_path, monkeypatch):
    import snnc.compiler.frontends.torch.loader as loader

    monkeypatch.setattr(loader, "MAX_TOTAL_BYTES", 1000)
    res = check(LENET_PT2)
    assert res.exit_code == 2 and "bytes uncompressed" in res.output
