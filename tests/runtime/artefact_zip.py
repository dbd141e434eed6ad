"""Helpers for tests that build hostile or edited artefacts by hand, below the runtime's writer."""
from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def read_members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def digest(text: bytes) -> bytes:
    """What manifest.sha256 holds for `text` (docs/artefact.md): 64 lowercase hex digits and a newline."""
    return (hashlib.sha256(text).hexdigest() + "\n").encode()


def write_zip(path, members: dict[str, bytes], compression: dict[str, int] | None = None) -> Path:
    """`members` as they are, in the given order; `compression` maps a name to a zipfile method."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                        compress_type=(compression or {}).get(name, zipfile.ZIP_STORED))
    return Path(path)


def sealed(members: dict[str, bytes], manifest: dict | None = None, text: bytes | None = None,
           rehash=()) -> dict[str, bytes]:
    """A copy of `members` with `manifest` (or the raw `text`) as manifest.json and a matching
    manifest.sha256; `rehash` names members whose checksum entry is recomputed first."""
    out = dict(members)
    if manifest is not None:
        for name in rehash:
            manifest["checksums"][name] = hashlib.sha256(out[name]).hexdigest()
        text = json.dumps(manifest, indent=1).encode()
    if text is not None:
        out["manifest.json"] = text
        out["manifest.sha256"] = digest(text)
    return out


_CACHE = {p.stem: read_members(p) for p in sorted(GOLDEN.glob("*.snn"))}  # read before any test patches zipfile


def golden_parts(name: str = "lenet_host") -> tuple[dict[str, bytes], dict]:
    """A fresh copy of a committed golden artefact's members and its parsed manifest."""
    members = dict(_CACHE[name])
    return members, json.loads(members["manifest.json"])


def patch_central_directory(path, member: str, **fields: int) -> None:
    """Overwrite fields of `member`'s central-directory entry in place: flags, method,
    compress_size, file_size (what a hostile writer controls)."""
    data = bytearray(Path(path).read_bytes())
    offsets = {"flags": (8, "<H"), "method": (10, "<H"), "compress_size": (20, "<L"), "file_size": (24, "<L")}
    at = 0
    while True:
        at = data.find(b"PK\x01\x02", at)
        assert at >= 0, member
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46: at + 46 + name_len].decode() == member:
            break
        at += 4
    for key, value in fields.items():
        off, fmt = offsets[key]
        struct.pack_into(fmt, data, at + off, value)
    Path(path).write_bytes(bytes(data))


def patch_end_record(path, entries: int) -> None:
    """Make the end-of-central-directory record declare `entries` members."""
    data = bytearray(Path(path).read_bytes())
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, at + 8, entries, entries)
    Path(path).write_bytes(bytes(data))
