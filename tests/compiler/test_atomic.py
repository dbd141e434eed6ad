"""compiler/atomic.py: outputs replace the old file only when complete; stale temp files go."""
from __future__ import annotations

import os
import time

import pytest

from snnc.compiler.atomic import atomic_write, check_writable, clean_stale, write_text
from snnc.compiler.errors import SnncError


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "r.npz"
    p.write_bytes(b"old result")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(p) as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt  # a ^C in the middle of writing
    assert p.read_bytes() == b"old result"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.npz"]
    write_text(p, "new")
    assert p.read_text() == "new" and sorted(x.name for x in tmp_path.iterdir()) == ["r.npz"]


def test_stale_temp_files_of_killed_runs_are_removed_fresh_ones_kept(tmp_path):
    p = tmp_path / "m.snn"
    old = [tmp_path / ".m.snn.abc123.tmp", tmp_path / ".m.snn.x.snnc-tmp", tmp_path / "m.snn.tmp"]
    for q in old:
        q.write_bytes(b"x")
        os.utime(q, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / ".m.snn.def456.tmp"  # a concurrent writer's
    fresh.write_bytes(b"y")
    other = tmp_path / ".other.snn.abc.tmp"
    other.write_bytes(b"z")
    os.utime(other, (time.time() - 3600, time.time() - 3600))
    assert sorted(clean_stale(p)) == sorted(old)
    assert fresh.exists() and other.exists()


def test_check_writable_refuses_missing_directories_and_directories(tmp_path):
    with pytest.raises(SnncError, match="does not exist"):
        check_writable(tmp_path / "no" / "x.npz", "--out")
    with pytest.raises(SnncError, match="is a directory"):
        check_writable(tmp_path, "--out")
    assert check_writable(tmp_path / "x.npz") == tmp_path / "x.npz"
