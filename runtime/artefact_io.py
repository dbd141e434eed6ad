"""The .snn container: one zip file (ZIP_STORED, sorted members, fixed timestamps), written atomically.

Same content -> byte-identical file. `unzip -p model.snn manifest.json` shows the manifest.
The loader checks, in order: zip readable, manifest present and JSON, format name and version,
the JSON schema, member checksums (no member missing, none unlisted), the hardware spec hash,
then the blobs (sizes, padding, encodings) and the semantic rules (validate.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Union

from snnc.runtime.errors import ArtefactError
from snnc.runtime.manifest import from_manifest, spec_sha256, to_manifest
from snnc.runtime.model import FORMAT_NAME, FORMAT_VERSION, Artefact
from snnc.runtime.schema import check_manifest

MANIFEST = "manifest.json"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
MAX_MEMBER_BYTES = 1 << 32

PathLike = Union[str, "os.PathLike[str]"]


def save(artefact: Artefact, path: PathLike) -> Path:
    """Write `artefact` to `path` (a .snn zip) atomically; returns the path."""
    if not isinstance(artefact, Artefact):
        raise TypeError(f"save() expects an Artefact, got {type(artefact).__name__}")
    manifest, members = to_manifest(artefact)
    try:
        text = json.dumps(manifest, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ArtefactError(f"manifest: provenance or hardware_spec is not plain JSON ({exc})") from None
    members[MANIFEST] = text.encode("utf-8")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                info.create_system = 3
                zf.writestr(info, members[name])
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _read_members(path: Path) -> dict[str, bytes]:
    if not path.is_file():
        raise ArtefactError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            members: dict[str, bytes] = {}
            for info in zf.infolist():
                if info.filename in members:
                    raise ArtefactError(f"{path}: member {info.filename!r} appears twice")
                if info.file_size > MAX_MEMBER_BYTES:
                    raise ArtefactError(f"{path}: member {info.filename!r} is too large")
                members[info.filename] = zf.read(info)
            return members
    except zipfile.BadZipFile as exc:
        raise ArtefactError(f"{path}: not an snnc artefact (not a readable zip file: {exc})") from None
    except (OSError, RuntimeError, NotImplementedError) as exc:  # zipfile: unsupported compression
        raise ArtefactError(f"{path}: cannot read the zip container ({exc})") from None


def _check_header(manifest: object, where: str) -> None:
    if not isinstance(manifest, dict):
        raise ArtefactError(f"{where}: the manifest must be a JSON object")
    if manifest.get("format") != FORMAT_NAME:
        raise ArtefactError(f"{where}: format: {manifest.get('format')!r} is not {FORMAT_NAME!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ArtefactError(f"{where}: format_version: {version!r} is not supported (this runtime reads {FORMAT_VERSION})")


def _check_checksums(manifest: dict, members: dict[str, bytes], where: str) -> None:
    listed = manifest["checksums"]
    for name in sorted(members):
        if name != MANIFEST and name not in listed:
            raise ArtefactError(f"{where}: checksums: member {name!r} is not listed")
    for name, digest in sorted(listed.items()):
        if name not in members:
            raise ArtefactError(f"{where}: checksums: member {name!r} is missing from the archive")
        actual = hashlib.sha256(members[name]).hexdigest()
        if actual != digest:
            raise ArtefactError(f"{where}: checksums: {name!r} has sha256 {actual[:16]}..., the manifest says {digest[:16]}...")
    actual = spec_sha256(manifest["hardware_spec"])
    if actual != manifest["hardware_spec_sha256"]:
        raise ArtefactError(f"{where}: hardware_spec_sha256: the embedded spec hashes to {actual[:16]}..., "
                            f"the manifest says {manifest['hardware_spec_sha256'][:16]}...")


def load(path: PathLike) -> Artefact:
    """Read and fully validate a .snn artefact; raises ArtefactError('<path>: ...') on any problem."""
    path = Path(path)
    members = _read_members(path)
    where = f"{path}: {MANIFEST}"
    if MANIFEST not in members:
        raise ArtefactError(f"{path}: member {MANIFEST!r} is missing")
    try:
        manifest = json.loads(members[MANIFEST].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtefactError(f"{where}: not valid JSON ({exc})") from None
    _check_header(manifest, where)
    check_manifest(manifest, where)
    _check_checksums(manifest, members, where)
    try:
        return from_manifest(manifest, members)
    except ArtefactError as exc:
        raise ArtefactError(f"{path}: {exc}") from None
