"""The .snn container: one zip file (ZIP_STORED, sorted members, fixed timestamps), written atomically.

Same content -> byte-identical file. `unzip -p model.snn manifest.json` shows the manifest.
The loader checks, in order (docs/artefact.md, "What the loader checks"):
1. the zip directory alone, before any member is read: size, member count, only member names the
   format defines, ZIP_STORED, no encryption, no duplicates, total size within the file;
2. manifest.json: bounded size, strict JSON (no duplicate keys, integers within int64, finite
   numbers, bounded nesting), format name and version;
3. manifest.sha256: the sha256 of manifest.json's bytes (so the manifest itself is covered);
4. the JSON schema;
5. the member set: exactly the members the manifest defines, each listed in `checksums`, weight
   and host blobs of the exact size implied by their shapes (still from the directory);
6. reading the members: every sha256 matches; the hardware spec hash;
7. the blobs (padding, encodings, .npy headers) and the semantic rules (validate.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Union

from snnc.runtime.errors import ArtefactError
from snnc.runtime.manifest import (
    MANIFEST, MANIFEST_DIGEST, MAX_CANONICAL_DEPTH, MEMBER_RE, blob_sizes, defined_members, from_manifest,
    spec_sha256, to_manifest,
)
from snnc.runtime.model import FORMAT_NAME, FORMAT_VERSION, Artefact
from snnc.runtime.schema import check_manifest

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Limits, all checked before anything is allocated (docs/artefact.md, "Limits").
MAX_ARCHIVE_BYTES = 1 << 30  # the .snn file, and the sum of its members' sizes
MAX_MEMBERS = 16384
MAX_DIRECTORY_BYTES = 4 << 20  # the zip central directory
MAX_MANIFEST_BYTES = 16 << 20
MAX_JSON_DEPTH = MAX_CANONICAL_DEPTH
MAX_INT_DIGITS = 19  # every JSON integer lies in [-2^63, 2^63 - 1]
MAX_NUMBER_CHARS = 64
DIGEST_BYTES = 65  # 64 lowercase hex digits and "\n"
ZIP_ENCRYPTED = 0x1

PathLike = Union[str, "os.PathLike[str]"]


def manifest_text(manifest: dict) -> bytes:
    """The bytes of manifest.json as `save` writes them (UTF-8, a final newline): objects one member
    per line, indented by one space a level; an array of numbers, strings, booleans and nulls on
    one line, without spaces (per-channel thresholds, biases and multipliers are most of a large
    manifest: one item per line was half its bytes); other arrays one item per line."""
    try:
        return (_layout(manifest, 0) + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ArtefactError(f"manifest: provenance or hardware_spec is not plain JSON ({exc})") from None


def _layout(value: Any, level: int) -> str:
    if isinstance(value, dict) and value:
        pad = " " * (level + 1)
        items = (f"{pad}{_key(k)}: {_layout(v, level + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + "\n" + " " * level + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value):
        pad = " " * (level + 1)
        return "[\n" + ",\n".join(pad + _layout(v, level + 1) for v in value) + "\n" + " " * level + "]"
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _key(key: Any) -> str:
    """An object key as json.dumps writes it: a string, or the JSON text of a number, boolean or null, quoted."""
    if isinstance(key, str):
        return json.dumps(key)
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(json.dumps(key, allow_nan=False))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def manifest_digest(text: bytes) -> bytes:
    """The content of manifest.sha256: sha256 of manifest.json's bytes, 64 lowercase hex digits, "\\n"."""
    return (hashlib.sha256(text).hexdigest() + "\n").encode("ascii")


def write_zip(path: PathLike, members: dict[str, bytes]) -> Path:
    """Write `members` as an artefact container (sorted, ZIP_STORED, fixed timestamps, mode 0644), atomically."""
    path = Path(path)
    total = sum(len(v) for v in members.values())
    if total > MAX_ARCHIVE_BYTES or len(members) > MAX_MEMBERS:
        raise ArtefactError(f"{path}: {len(members)} members of {total} bytes exceed the artefact limits "
                            f"({MAX_MEMBERS} members, {MAX_ARCHIVE_BYTES} bytes)")
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


def save(artefact: Artefact, path: PathLike) -> Path:
    """Write `artefact` to `path` (a .snn zip) atomically; returns the path."""
    if not isinstance(artefact, Artefact):
        raise TypeError(f"save() expects an Artefact, got {type(artefact).__name__}")
    manifest, members = to_manifest(artefact)
    text = manifest_text(manifest)
    parse_manifest(text, f"{path}: {MANIFEST}")  # refuse to write what load would refuse (nesting, int64)
    members[MANIFEST] = text
    members[MANIFEST_DIGEST] = manifest_digest(text)
    return write_zip(path, members)


# ---------------------------------------------------------------- 1. the directory

def _check_end_record(fh: Any, size: int, path: Path) -> None:
    """Bound the central directory before zipfile parses it (it builds one object per entry)."""
    tail_len = min(size, 22 + 65535)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return  # not a zip: zipfile reports it
    _, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
    if (at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07") or 0xFFFF in (n_disk, n_total) \
            or 0xFFFFFFFF in (cd_size, cd_offset):
        raise ArtefactError(f"{path}: ZIP64 containers are not artefacts (at most {MAX_MEMBERS} members "
                            f"and {MAX_ARCHIVE_BYTES} bytes)")
    if disk or cd_disk or n_disk != n_total:
        raise ArtefactError(f"{path}: multi-disk zip files are not artefacts")
    if n_total > MAX_MEMBERS:
        raise ArtefactError(f"{path}: {n_total} members, more than the limit of {MAX_MEMBERS}")
    if cd_size > MAX_DIRECTORY_BYTES:
        raise ArtefactError(f"{path}: zip directory of {cd_size} bytes, more than the limit of {MAX_DIRECTORY_BYTES}")


def _check_directory(infos: list[zipfile.ZipInfo], size: int, path: Path) -> dict[str, zipfile.ZipInfo]:
    if len(infos) > MAX_MEMBERS:
        raise ArtefactError(f"{path}: {len(infos)} members, more than the limit of {MAX_MEMBERS}")
    by_name: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name in by_name:
            raise ArtefactError(f"{path}: member {name!r} appears twice")
        if not MEMBER_RE.match(name):
            raise ArtefactError(f"{path}: member {name!r} is not a member the format defines "
                                f"(manifest.json, manifest.sha256, weights/, host/, golden/; docs/artefact.md)")
        if info.flag_bits & ZIP_ENCRYPTED:
            raise ArtefactError(f"{path}: member {name!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ArtefactError(f"{path}: member {name!r} is compressed (method {info.compress_type}); "
                                f"every member must be ZIP_STORED")
        if info.file_size != info.compress_size:
            raise ArtefactError(f"{path}: member {name!r}: stored size {info.compress_size} != size {info.file_size}")
        total += info.file_size
        by_name[name] = info
    if total > min(size, MAX_ARCHIVE_BYTES):
        raise ArtefactError(f"{path}: members declare {total} bytes, more than the {size}-byte file holds"
                            if total > size else f"{path}: members of {total} bytes exceed the limit of {MAX_ARCHIVE_BYTES}")
    return by_name


# ---------------------------------------------------------------- 2. strict JSON

class _JsonError(Exception):
    pass


def _pairs(items: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            raise _JsonError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS or not -(1 << 63) <= int(text) < (1 << 63):
        raise _JsonError(f"integer {text[:24]}{'...' if len(text) > 24 else ''} is outside [-2^63, 2^63 - 1]")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _JsonError(f"number {text[:24]}... has more than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _JsonError(f"number {text} is not finite in binary64")
    return value


def _parse_constant(text: str) -> Any:
    raise _JsonError(f"{text} is not JSON")


def _depth(obj: Any) -> int:
    deepest, stack = 0, [(obj, 0)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_JSON_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def parse_manifest(data: bytes, where: str) -> Any:
    """manifest.json's bytes -> JSON value; ArtefactError('<where>: ...') for anything but strict JSON."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_pairs, parse_int=_parse_int, parse_float=_parse_float,
                           parse_constant=_parse_constant)
    except _JsonError as exc:
        raise ArtefactError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ArtefactError(f"{where}: not valid JSON (nested deeper than {MAX_JSON_DEPTH} levels)") from None
    except (UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise ArtefactError(f"{where}: not valid JSON ({exc})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ArtefactError(f"{where}: not valid JSON (nested deeper than {MAX_JSON_DEPTH} levels)")
    return value


def _check_header(manifest: object, where: str) -> None:
    if not isinstance(manifest, dict):
        raise ArtefactError(f"{where}: the manifest must be a JSON object")
    if manifest.get("format") != FORMAT_NAME:
        raise ArtefactError(f"{where}: format: {manifest.get('format')!r} is not {FORMAT_NAME!r}")
    version = manifest.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ArtefactError(f"{where}: format_version: {version!r} is not supported (this runtime reads {FORMAT_VERSION})")


# ---------------------------------------------------------------- 3.-6. digest, members, checksums

def _check_digest(zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], text: bytes, path: Path) -> None:
    where = f"{path}: {MANIFEST_DIGEST}"
    if MANIFEST_DIGEST not in infos:
        raise ArtefactError(f"{where}: member is missing (the sha256 of manifest.json; artefacts written "
                            f"before it was defined are refused: recompile them)")
    if infos[MANIFEST_DIGEST].file_size != DIGEST_BYTES:
        raise ArtefactError(f"{where}: must be 64 lowercase hex digits and a newline ({DIGEST_BYTES} bytes), "
                            f"has {infos[MANIFEST_DIGEST].file_size} bytes")
    stored = _read(zf, infos[MANIFEST_DIGEST], path)
    actual = manifest_digest(text)
    if stored != actual:
        raise ArtefactError(f"{where}: manifest.json has sha256 {actual[:16].decode()}..., the digest member says "
                            f"{stored[:16].decode('ascii', 'replace')}... (manifest.json was changed after it was written)")


def _check_members(manifest: dict, infos: dict[str, zipfile.ZipInfo], where: str) -> None:
    try:
        defined = defined_members(manifest)
    except ArtefactError as exc:
        raise ArtefactError(f"{where}: {exc}") from None
    for name in sorted(infos):
        if name not in (MANIFEST, MANIFEST_DIGEST) and name not in defined:
            raise ArtefactError(f"{where}: member {name!r} is in the archive but the manifest does not define it")
    listed = manifest["checksums"]
    for name in sorted(defined):
        if name not in listed:
            raise ArtefactError(f"{where}: checksums: member {name!r} ({defined[name]}) is not listed")
        if name not in infos:
            raise ArtefactError(f"{where}: {defined[name]}: member {name!r} is missing from the archive")
    for name in sorted(listed):
        if name not in defined:
            raise ArtefactError(f"{where}: checksums: {name!r} is not a member the manifest defines")
    for name, (size, what, detail) in sorted(blob_sizes(manifest).items()):
        actual = infos[name].file_size
        if actual != size:
            raise ArtefactError(f"{where}: {what}: blob has {actual} bytes, expected {size} ({detail})")


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    try:
        return zf.read(info)
    except zipfile.BadZipFile as exc:
        raise ArtefactError(f"{path}: member {info.filename!r} is corrupt ({exc})") from None


def _check_checksums(manifest: dict, members: dict[str, bytes], where: str) -> None:
    for name, digest in sorted(manifest["checksums"].items()):
        actual = hashlib.sha256(members[name]).hexdigest()
        if actual != digest:
            raise ArtefactError(f"{where}: checksums: {name!r} has sha256 {actual[:16]}..., the manifest says {digest[:16]}...")
    actual = spec_sha256(manifest["hardware_spec"])
    if actual != manifest["hardware_spec_sha256"]:
        raise ArtefactError(f"{where}: hardware_spec_sha256: the embedded spec hashes to {actual[:16]}..., "
                            f"the manifest says {manifest['hardware_spec_sha256'][:16]}...")


def _load(path: Path) -> Artefact:
    where = f"{path}: {MANIFEST}"
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_ARCHIVE_BYTES:
            raise ArtefactError(f"{path}: {size} bytes, more than the artefact limit of {MAX_ARCHIVE_BYTES}")
        _check_end_record(fh, size, path)
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            infos = _check_directory(zf.infolist(), size, path)
            if MANIFEST not in infos:
                raise ArtefactError(f"{path}: member {MANIFEST!r} is missing")
            if infos[MANIFEST].file_size > MAX_MANIFEST_BYTES:
                raise ArtefactError(f"{where}: {infos[MANIFEST].file_size} bytes, more than the limit of {MAX_MANIFEST_BYTES}")
            text = _read(zf, infos[MANIFEST], path)
            manifest = parse_manifest(text, where)
            _check_header(manifest, where)
            _check_digest(zf, infos, text, path)
            check_manifest(manifest, where)
            _check_members(manifest, infos, where)
            members = {name: _read(zf, info, path) for name, info in infos.items() if name not in (MANIFEST, MANIFEST_DIGEST)}
    _check_checksums(manifest, members, where)
    try:
        return from_manifest(manifest, members)
    except ArtefactError as exc:
        raise ArtefactError(f"{path}: {exc}") from None


def load(path: PathLike) -> Artefact:
    """Read and fully validate a .snn artefact; raises ArtefactError('<path>: ...') on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{path}: no such file")
    try:
        return _load(path)
    except zipfile.BadZipFile as exc:
        raise ArtefactError(f"{path}: not an snnc artefact (not a readable zip file: {exc})") from None
    except (OSError, RuntimeError, NotImplementedError, EOFError) as exc:  # zipfile: unsupported features
        raise ArtefactError(f"{path}: cannot read the zip container ({exc})") from None
