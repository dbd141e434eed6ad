"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one.

Every output the CLI writes goes through here (`snnc run --out`, `snnc eval --report`, fine-tune
exports). The data goes to a temporary file in the destination's directory, is flushed and
fsynced, and then renamed over the destination (`os.replace`, atomic on POSIX and Windows). A
killed process leaves at most a temporary file named `.NAME.<random>.snnc-tmp`, never a truncated
`NAME`; `clean_stale(path)` removes such leftovers of earlier runs (also those of the runtime's
artefact writer, `.NAME.<random>.tmp`), only files older than a minute, so a concurrent writer's
file is left alone. `atomic_write` calls it before each write.

    from snnc.compiler.atomic import atomic_write, check_writable
    check_writable(out, "--out")                  # before the computation: the directory exists
    with atomic_write(out) as f:                  # binary file object
        np.savez(f, **arrays)
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator

from snnc.compiler.errors import SnncError

TMP_SUFFIX = ".snnc-tmp"
STALE_AFTER_S = 60.0


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Refuse, before any work, an output path whose directory is missing or not writable, or
    that names a directory. Returns the path."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise SnncError(f"{what} {p}: is a directory")
    if not parent.is_dir():
        raise SnncError(f"{what} {p}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SnncError(f"{what} {p}: the directory {parent} is not writable")
    return p


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """A file object whose contents replace `path` only when the block completes without error."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode {mode!r} (only 'wb' or 'w')")
    p = Path(path)
    clean_stale(p)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(p), suffix=TMP_SUFFIX, dir=str(p.parent if str(p.parent) else "."))
    try:
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(p.parent if str(p.parent) else Path("."))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def clean_stale(path: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove temporary files an earlier, killed atomic write of `path` left next to it: this
    module's `.NAME.*.snnc-tmp`, the runtime's artefact writer's `.NAME.*.tmp`, and the
    `.NAME.tmp` / `NAME.tmp` of writers that rename a fixed temporary name. Only regular files
    older than `older_than_s` seconds (a concurrent writer's file is left alone); errors are
    ignored."""
    p = Path(path)
    d = p.parent if str(p.parent) else Path(".")
    removed = []
    try:
        entries = list(os.scandir(d))
    except OSError:
        return removed
    now = time.time()
    fixed = {f".{p.name}.tmp", f"{p.name}.tmp"}
    for e in entries:
        name = e.name
        ours = name.startswith(_tmp_prefix(p)) and name.endswith((TMP_SUFFIX, ".tmp"))
        if not (ours or name in fixed):
            continue
        try:
            if not e.is_file(follow_symlinks=False) or now - e.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue
            os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError:
            continue
    return removed


def _fsync_dir(d: Path) -> None:
    if os.name != "posix":  # pragma: no cover
        return
    with contextlib.suppress(OSError):
        fd = os.open(str(d), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
