"""Issue 17: the manifest shown in docs/artefact.md is a real one. It is generated (from
tests/runtime/golden/doc_example.snn, built by make_golden_files.py) and this test loads it from
the doc's text and verifies it."""
from __future__ import annotations

import json
import re
from pathlib import Path

from snnc.runtime import load, verify
from snnc.runtime.artefact_io import manifest_text
from snnc.runtime.manifest import to_manifest

from artefact_zip import GOLDEN, read_members, sealed, write_zip
from make_golden_files import doc_example, doc_example_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "artefact.md"


def doc_manifest_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Manifest"):text.index("Layer fields by `kind`")]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.S)
    return block


def test_the_doc_shows_the_generated_manifest_verbatim():
    assert doc_manifest_block() == doc_example_text(), "regenerate: python tests/runtime/make_golden_files.py --doc-example"


def test_the_doc_manifest_is_the_committed_files_and_the_builders():
    shown = json.loads(doc_manifest_block())
    assert shown == json.loads(read_members(GOLDEN / "doc_example.snn")["manifest.json"])
    manifest, _ = to_manifest(doc_example())
    assert shown == manifest


def test_the_doc_manifest_loads_and_verifies(tmp_path):
    """manifest.json taken from the doc's text (as the writer lays it out), the other members from the file."""
    shown = json.loads(doc_manifest_block())
    members = read_members(GOLDEN / "doc_example.snn")
    path = write_zip(tmp_path / "from_doc.snn", sealed(members, text=manifest_text(shown)))
    art = load(path)
    report = verify(art)
    assert report.ok and report.checked > 0, str(report)
    assert art.golden.inputs.dtype.kind == "f"  # the example replays the input quantization
    kinds = [layer.kind for layer in art.layers]
    assert kinds == ["conv", "avgpool", "flatten", "linear", "host_linear"]
