"""Reading datasets for calibration and evaluation, in batches.

A dataset is an `.npz` or `.npy` file (never pickled: allow_pickle=False):
- `.npy`: one array of inputs.
- `.npz`: inputs and labels under the first present pair of `KEYS[role]` — for calibration
  `calib_x`/`calib_y`, then `x_train`/`y_train`, then `x`/`y`; for evaluation `x`/`y`, then
  `x_test`/`y_test` — or the only array; labels are optional. An optional scalar `x_scale` says
  the model's input is `x * x_scale` (uint8 images stored with x_scale = 1/255, say).
Samples of shape (H, W) get a channel axis when the model expects (1, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from snnc.compiler.errors import SnncError

# Which array holds the inputs (and labels), by what the data is for: calibration prefers the
# calibration/training split, evaluation the test split.
KEYS = {
    "calib": (("calib_x", "calib_y"), ("x_train", "y_train"), ("x", "y"), ("inputs", "labels")),
    "eval": (("x", "y"), ("x_test", "y_test"), ("inputs", "labels")),
}


@dataclass
class Dataset:
    x: np.ndarray  # raw stored array (any numeric dtype), memory-mapped when possible
    y: np.ndarray | None
    scale: float
    source: str

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batches(self, batch_size: int, sample_shape: tuple[int, ...] | None = None, limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            xb = np.asarray(self.x[start:stop], dtype=np.float64) * self.scale
            if sample_shape is not None:
                xb = fit_shape(xb, sample_shape, self.source)
            yb = None if self.y is None else np.asarray(self.y[start:stop]).astype(np.int64)
            yield xb, yb

    def take(self, n: int, sample_shape: tuple[int, ...] | None = None) -> np.ndarray:
        return next(self.batches(n, sample_shape, limit=n))[0]


def fit_shape(x: np.ndarray, sample_shape: tuple[int, ...], source: str) -> np.ndarray:
    if x.shape[1:] == tuple(sample_shape):
        return x
    if int(np.prod(x.shape[1:])) == int(np.prod(sample_shape)) and len(sample_shape) == x.ndim:
        return x.reshape((x.shape[0],) + tuple(sample_shape))  # (N,H,W) -> (N,1,H,W) style
    if len(sample_shape) == x.ndim and sample_shape[0] == 1 and x.shape[1:] == tuple(sample_shape[1:]):
        return x[:, None]
    if int(np.prod(x.shape[1:])) == int(np.prod(sample_shape)):
        return x.reshape((x.shape[0],) + tuple(sample_shape))
    raise SnncError(f"{source}: samples have shape {x.shape[1:]}, the model expects {tuple(sample_shape)}")


def load_dataset(path: str | Path, *, role: str = "calib", scale: float | None = None) -> Dataset:
    p = Path(path)
    if not p.exists():
        raise SnncError(f"{p}: no such data file")
    try:
        obj = np.load(p, allow_pickle=False, mmap_mode="r" if p.suffix == ".npy" else None)
    except (ValueError, OSError) as exc:
        raise SnncError(f"{p}: not a readable .npy/.npz file ({exc})") from None
    y = None
    stored_scale = 1.0
    if isinstance(obj, np.ndarray):
        x = obj
    else:
        keys = list(obj.keys())
        pair = next(((xk, yk) for xk, yk in KEYS[role] if xk in keys), None)
        if pair is None and len(keys) == 1:
            pair = (keys[0], None)
        if pair is None:
            expected = ", ".join(xk for xk, _ in KEYS[role])
            raise SnncError(f"{p}: no input array; expected one of {expected} (found {', '.join(keys)})")
        x = obj[pair[0]]
        y = obj[pair[1]] if pair[1] in keys else None
        if "x_scale" in keys:
            stored_scale = float(np.asarray(obj["x_scale"]))
    if x.dtype.kind not in "uif" or x.ndim < 2:
        raise SnncError(f"{p}: inputs must be a numeric array (N, ...), got {x.dtype} {x.shape}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise SnncError(f"{p}: inputs contain NaN or inf")
    if y is not None and (y.shape[0] != x.shape[0] or y.dtype.kind not in "ui"):
        raise SnncError(f"{p}: labels must be integers, one per sample (got {y.dtype} {y.shape} for {x.shape[0]} samples)")
    return Dataset(x=x, y=y, scale=stored_scale if scale is None else scale, source=str(p))
