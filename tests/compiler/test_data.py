"""Dataset reading for calibration and evaluation (compiler/data.py)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.data import load_dataset
from snnc.compiler.errors import SnncError


def test_roles_pick_calibration_and_test_splits(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, calib_x=np.arange(100, dtype=np.uint8).reshape(4, 5, 5), x=np.eye(5, dtype=np.uint8)[None].repeat(6, 0), y=np.arange(6, dtype=np.uint8),
             x_scale=np.float32(0.5))
    cal = load_dataset(p, role="calib")
    ev = load_dataset(p, role="eval")
    assert len(cal) == 4 and cal.y is None
    assert len(ev) == 6 and ev.y.tolist() == list(range(6))
    xb, yb = next(ev.batches(4, (1, 5, 5)))
    assert xb.shape == (4, 1, 5, 5) and float(xb.max()) == 0.5 and yb.tolist() == [0, 1, 2, 3]
    assert load_dataset(p, role="eval", scale=2.0).take(1).max() == 2.0


def test_batches_stream_the_whole_set_once(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.arange(70 * 3, dtype=np.float32).reshape(70, 3))
    d = load_dataset(p)
    got = np.concatenate([b for b, _ in d.batches(16)])
    assert np.array_equal(got, np.load(p).astype(np.float64))
    assert sum(len(b) for b, _ in d.batches(16, limit=20)) == 20


@pytest.mark.parametrize("make,msg", [
    (lambda p: p.write_text("not numpy"), "not a readable"),
    (lambda p: np.save(p, np.array([np.nan, 1.0]).reshape(2, 1)), "NaN"),
    (lambda p: np.save(p, np.array(["a", "b"]).reshape(2, 1)), "numeric"),
])
def test_bad_files_name_the_file(tmp_path, make, msg):
    p = tmp_path / "bad.npy"
    make(p)
    with pytest.raises(SnncError, match=msg) as e:
        load_dataset(p)
    assert "bad.npy" in str(e.value)


def test_missing_file_and_wrong_sample_shape(tmp_path):
    with pytest.raises(SnncError, match="no such data file"):
        load_dataset(tmp_path / "nope.npz")
    p = tmp_path / "x.npy"
    np.save(p, np.arange(14.0).reshape(2, 7))
    with pytest.raises(SnncError, match="expects"):
        next(load_dataset(p).batches(2, (1, 28, 28)))
