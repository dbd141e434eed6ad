"""Dataset reading for calibration and evaluation (compiler/data.py)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.data import dataset_from_array, fit_shape, load_dataset, model_layout
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
    with pytest.raises(SnncError, match=r"x\.npy: shape \[2, 7\] does not match \(B, 1, 28, 28\)"):
        next(load_dataset(p).batches(2, (1, 28, 28)))


# -- the input layout: the runtime's shape rule, NHWC data for NHWC models -------------------------
class _Graph:
    def __init__(self, perm=None):
        self.meta = {} if perm is None else {"input_transpose": perm}


def test_model_layout_from_the_input_transpose():
    assert model_layout(_Graph((0, 3, 1, 2))) == "NHWC"
    assert model_layout(_Graph([0, 3, 1, 2])) == "NHWC"
    assert model_layout(_Graph()) == "NCHW" and model_layout(_Graph((0, 2, 1))) == "NCHW"


def test_nhwc_model_takes_nhwc_data_and_gets_nchw_batches():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)  # (N, H, W, C), H != W
    ds = dataset_from_array(x).for_model(_Graph((0, 3, 1, 2)))
    assert ds.layout == "NHWC"
    got = ds.take(2, (3, 4, 5))
    np.testing.assert_array_equal(got, x.transpose(0, 3, 1, 2))  # transposed, never reshaped
    assert got.flags.c_contiguous
    assert ds.for_model(_Graph((0, 3, 1, 2))) is ds


def test_nhwc_data_for_an_nchw_model_is_refused_with_the_fix(tmp_path):
    p = tmp_path / "rgb.npy"
    np.save(p, np.random.default_rng(0).random((4, 6, 7, 3)))
    with pytest.raises(SnncError, match=r"rgb\.npy: shape \[2, 6, 7, 3\] does not match \(B, 3, 6, 7\): it looks like "
                                        r"NHWC .*np\.transpose\(x, \(0, 3, 1, 2\)\)"):
        load_dataset(p).take(2, (3, 6, 7))
    # same size, other order: the old loader reshaped it silently
    np.save(p, np.random.default_rng(0).random((4, 7, 6, 3)))
    with pytest.raises(SnncError, match=r"does not match \(B, 3, 6, 7\)$"):
        load_dataset(p).take(2, (3, 6, 7))


def test_nchw_data_for_an_nhwc_model_is_refused(tmp_path):
    p = tmp_path / "nchw.npy"
    np.save(p, np.random.default_rng(0).random((4, 3, 6, 7)))
    ds = load_dataset(p).for_model(_Graph((0, 3, 1, 2)))
    with pytest.raises(SnncError, match=r"nchw\.npy: .*looks like NCHW .*this model takes NHWC"):
        ds.take(2, (3, 6, 7))
    # and the layout can be given per call, as `evaluate` does from the artefact's input.layout
    with pytest.raises(SnncError, match="takes NHWC"):
        load_dataset(p).take(2, (3, 6, 7), layout="NHWC")


def test_one_channel_and_flat_samples(tmp_path):
    x = np.random.default_rng(0).random((3, 5, 6))
    ds = dataset_from_array(x)
    np.testing.assert_array_equal(ds.take(3, (1, 5, 6)), x[:, None])
    np.testing.assert_array_equal(ds.for_model(_Graph((0, 3, 1, 2))).take(3, (1, 5, 6)), x[:, None])
    np.testing.assert_array_equal(ds.take(3, (30,)), x.reshape(3, 30))  # flat input: flattened samples
    with pytest.raises(SnncError, match=r"does not match \(B, 2, 5, 3\)"):
        ds.take(3, (2, 5, 3))  # same size, not one channel: refused


def test_fit_shape_is_the_runtime_rule():
    x = np.zeros((2, 8, 8, 3))
    with pytest.raises(SnncError, match="looks like NHWC"):
        fit_shape(x, (3, 8, 8), "src")
    assert fit_shape(x, (3, 8, 8), "src", "NHWC").shape == (2, 3, 8, 8)
