"""Reading datasets for calibration and evaluation, in batches.

A dataset is an `.npz` or `.npy` file (never pickled: allow_pickle=False):
- `.npy`: one array of inputs.
- `.npz`: inputs and labels under the first present pair of `KEYS[role]` — for calibration
  `calib_x`/`calib_y`, then `x_train`/`y_train`, then `x`/`y`; for evaluation `x`/`y`, then
  `x_test`/`y_test` — or the only array; labels are optional. An optional scalar `x_scale` says
  the model's input is `x * x_scale` (uint8 images stored with x_scale = 1/255, say).
The samples' shape follows the runtime's one rule (`snnc.runtime.encode.conform_input`), the same
arrays `snnc run` takes: (N, *input shape) in the model's input layout, (N, H, W) for a one-channel
image input, flat samples for a flat input; anything else is refused, and data that looks like the
other layout is refused with the transpose that fixes it — never silently reshaped. A model whose
input is NHWC (a Keras/tf2onnx model: `graph.meta["input_transpose"] == (0, 3, 1, 2)`, see
`model_layout`) takes (N, H, W, C) data; `Dataset.batches` hands the compiler (N, C, H, W) batches
either way (transposed for the IR interpreter and the statistics), and `snnc run`/`eval` of its
artefact (input.layout "NHWC") take the same (N, H, W, C) arrays.

What the loader trusts: nothing in the file. Samples are read lazily, a batch at a time: an
`.npy` is memory-mapped, an `.npz` member is decompressed as a stream (a small file that inflates
to gigabytes costs only the batches read). Object (pickled) arrays, a corrupt or truncated
archive, zero samples, a scale that is not a positive finite number, and NaN/inf inputs are one
`SnncError` naming the file and the array. Careless data is caught too: constant calibration
inputs (all zero, say) are refused, and integer inputs without a scale are taken at scale 1
with an `SnncWarning` that says how to pass the scale.
"""
from __future__ import annotations

import math
import warnings
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from snnc.compiler.errors import SnncError, SnncWarning
from snnc.runtime.encode import conform_input
from snnc.runtime.errors import InputError

# Which array holds the inputs (and labels), by what the data is for: calibration prefers the
# calibration/training split, evaluation the test split.
KEYS = {
    "calib": (("calib_x", "calib_y"), ("x_train", "y_train"), ("x", "y"), ("inputs", "labels")),
    "eval": (("x", "y"), ("x_test", "y_test"), ("inputs", "labels")),
}
SANITY_SAMPLES = 1000  # samples read at load time for the sanity checks (constant data, NaN)
_READ_CHUNK = 1 << 20  # bytes read at a time when skipping through a compressed member
_EAGER_LABEL_BYTES = 64 << 20


NHWC_TRANSPOSE = (0, 3, 1, 2)  # graph.meta["input_transpose"] of a model whose input is NHWC


def model_layout(graph: Any) -> str:
    """The layout of the data a canonical graph's model takes: "NHWC" when the front end moved an
    NHWC -> NCHW input transpose to the host (`graph.meta["input_transpose"] == (0, 3, 1, 2)`),
    else "NCHW". The artefact records it as input.layout."""
    perm = graph.meta.get("input_transpose") if graph is not None else None
    return "NHWC" if perm is not None and tuple(perm) == NHWC_TRANSPOSE else "NCHW"


@dataclass
class Dataset:
    x: Any  # raw stored array (any numeric dtype): an ndarray, memory-mapped .npy, or a lazy .npz member
    y: Any | None
    scale: float
    source: str
    layout: str = "NCHW"  # the model's input layout the stored samples are in (see `for_model`)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def for_model(self, graph: Any) -> "Dataset":
        """This dataset for the model of `graph`: its samples are taken in `model_layout(graph)`."""
        layout = model_layout(graph)
        return self if layout == self.layout else replace(self, layout=layout)

    def batches(self, batch_size: int, sample_shape: tuple[int, ...] | None = None, limit: int | None = None,
                layout: str | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Batches (inputs as float64 times the scale, labels or None). With `sample_shape` (the
        model's (C, H, W) or (F,)) the stored samples must follow the shape rule for the input
        layout `layout` (default: the dataset's), and come out as (B, *sample_shape)."""
        layout = layout or self.layout
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            raw = np.asarray(self.x[start:stop])
            if raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
                raise SnncError(f"{self.source}: inputs contain NaN or inf (in samples {start}..{stop - 1})")
            xb = raw.astype(np.float64) * self.scale
            if sample_shape is not None:
                xb = fit_shape(xb, sample_shape, self.source, layout)
            yb = None if self.y is None else np.asarray(self.y[start:stop]).astype(np.int64)
            yield xb, yb

    def take(self, n: int, sample_shape: tuple[int, ...] | None = None, layout: str | None = None) -> np.ndarray:
        if len(self) == 0 or n < 1:
            raise SnncError(f"{self.source}: no samples to take")
        return next(self.batches(n, sample_shape, limit=n, layout=layout))[0]


def fit_shape(x: np.ndarray, sample_shape: tuple[int, ...], source: str, layout: str = "NCHW") -> np.ndarray:
    """A batch x of stored samples as (B, *sample_shape), the model's (C, H, W) or (F,) order.

    x must follow the runtime's shape rule for input layout `layout` (`conform_input`: exact
    (B, *external shape), (B, H, W) for one channel, flat samples for a flat input); NHWC data is
    transposed to NCHW. Anything else is one SnncError naming `source`, the shapes and the fix."""
    try:
        ext = conform_input(x, tuple(sample_shape), layout, source)
    except InputError as exc:
        raise SnncError(str(exc)) from None
    return np.ascontiguousarray(np.transpose(ext, NHWC_TRANSPOSE)) if layout == "NHWC" and len(sample_shape) == 3 else ext


def check_scale(value: Any, what: str) -> float:
    """A data scale as a float: a positive, finite number, else an SnncError naming `what`."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise SnncError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(s) or s <= 0:
        raise SnncError(f"{what} = {s}: must be a positive, finite number (the float value of one stored unit)")
    return s


# -- lazy .npz members ---------------------------------------------------------------------------
class NpzMember:
    """One array of an .npz, read lazily: shape and dtype from its header; `a[i:j]` decompresses
    only up to sample j (reading on from the last position, or from the start when going back)."""

    def __init__(self, zf: zipfile.ZipFile, member: str, source: str, key: str):
        self._zf, self._member, self._source, self.key = zf, member, source, key
        self._stream = None
        self._pos = 0  # samples consumed from the current stream
        with self._open_raw() as f:
            self.shape, self.fortran, self.dtype, self._offset = self._header(f)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=object))
        self._sample_bytes = int(np.prod(self.shape[1:], dtype=object)) * self.dtype.itemsize if self.ndim else 0
        self._whole: np.ndarray | None = None

    def _err(self, what: str) -> SnncError:
        return SnncError(f"{self._source}: array '{self.key}' {what}")

    def _open_raw(self):
        try:
            return self._zf.open(self._member)
        except Exception as exc:  # noqa: BLE001 - a corrupt archive is bad input
            raise self._err(f"cannot be read ({_one_line(exc)})") from None

    def _header(self, f) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        fmt = np.lib.format
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except Exception as exc:  # noqa: BLE001
            raise self._err(f"is not a readable .npy member ({_one_line(exc)})") from None
        if dtype.hasobject:
            raise self._err(f"holds Python objects ({dtype}); snnc reads numeric arrays only, never pickled data")
        return tuple(int(d) for d in shape), bool(fortran), dtype, f.tell()

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def _read(self, f, nbytes: int) -> bytes:
        try:
            data = f.read(nbytes)
        except Exception as exc:  # noqa: BLE001 - zlib.error, BadZipFile (CRC), EOFError, ...
            raise self._err(f"is corrupt ({_one_line(exc)})") from None
        if len(data) != nbytes:
            raise self._err(f"is truncated (expected {nbytes} more bytes, got {len(data)})")
        return data

    def _all(self) -> np.ndarray:
        if self._whole is None:
            with self._open_raw() as f:
                self._read(f, self._offset)
                data = self._read(f, self.size * self.dtype.itemsize)
            self._whole = np.frombuffer(data, dtype=self.dtype).reshape(self.shape, order="F" if self.fortran else "C")
        return self._whole

    def __getitem__(self, key):
        if self.fortran or not self.shape or not isinstance(key, slice) or key.step not in (None, 1):
            return self._all()[key]
        if self._whole is not None:
            return self._whole[key]
        start, stop, _ = key.indices(len(self))
        stop = max(start, stop)
        if self._stream is None or start < self._pos:
            self._close()
            self._stream = self._open_raw()
            self._read(self._stream, self._offset)
            self._pos = 0
        while self._pos < start:  # skip forward in bounded chunks
            n = min(start - self._pos, max(1, _READ_CHUNK // max(1, self._sample_bytes)))
            self._read(self._stream, n * self._sample_bytes)
            self._pos += n
        data = self._read(self._stream, (stop - start) * self._sample_bytes)
        self._pos = stop
        if stop == len(self):
            self._close()
        return np.frombuffer(data, dtype=self.dtype).reshape((stop - start,) + self.shape[1:])

    def _close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001
                pass
            self._stream = None

    def __array__(self, dtype=None, copy=None):
        a = self._all()
        return a if dtype is None else a.astype(dtype)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200] + ("..." if len(text) > 200 else "")


def _open_npz(p: Path) -> dict[str, NpzMember]:
    try:
        zf = zipfile.ZipFile(p)
        names = zf.namelist()
    except Exception as exc:  # noqa: BLE001 - BadZipFile, OSError, ...
        raise SnncError(f"{p}: not a readable .npz archive ({_one_line(exc)})") from None
    members: dict[str, str] = {}
    for name in names:
        key = name[:-4] if name.endswith(".npy") else name
        if key in members:
            raise SnncError(f"{p}: the archive holds '{key}' twice")
        members[key] = name
    return {k: _Deferred(zf, m, str(p), k) for k, m in members.items()}  # type: ignore[misc]


class _Deferred:
    """An .npz member whose header is read only when the loader asks for it."""

    def __init__(self, zf, member, source, key):
        self.args = (zf, member, source, key)

    def open(self) -> NpzMember:
        return NpzMember(*self.args)


# -- the loader ------------------------------------------------------------------------------------
def read_magic(p: Path, kinds: str) -> bytes:
    """The first bytes of a data file (what decides .npy vs .npz), or one error naming the file."""
    try:
        with open(p, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise SnncError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not magic:
        raise SnncError(f"{p}: empty file, not an {kinds} file")
    return magic


def load_dataset(path: str | Path, *, role: str = "calib", scale: float | None = None) -> Dataset:
    p = Path(path)
    if role not in KEYS:
        raise SnncError(f"role {role!r}: must be one of {', '.join(KEYS)}")
    if not p.exists():
        raise SnncError(f"{p}: no such data file")
    if not p.is_file():
        raise SnncError(f"{p}: not a regular file")
    magic = read_magic(p, ".npy/.npz")
    y = None
    stored_scale = None
    key = p.name
    if magic == b"\x93NUMPY":
        try:
            x = np.load(p, allow_pickle=False, mmap_mode="r")
        except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
            raise SnncError(f"{p}: not a readable .npy/.npz file ({_one_line(exc)})") from None
    elif magic[:2] == b"PK":
        members = _open_npz(p)
        keys = list(members)
        pair = next(((xk, yk) for xk, yk in KEYS[role] if xk in keys), None)
        if pair is None and len(keys) == 1:
            pair = (keys[0], None)
        if pair is None:
            expected = ", ".join(xk for xk, _ in KEYS[role])
            raise SnncError(f"{p}: no input array; expected one of {expected} (found {', '.join(keys) or 'nothing'})")
        key = pair[0]
        x = members[key].open()
        y = members[pair[1]].open() if pair[1] in keys else None
        if "x_scale" in keys and key != "x_scale":
            s = members["x_scale"].open()
            if s.size != 1 or s.dtype.kind not in "uif":
                raise SnncError(f"{p}: x_scale must be one number, got {s.dtype} of shape {list(s.shape)}")
            stored_scale = check_scale(np.asarray(s).reshape(()), f"{p}: x_scale")
    else:
        raise SnncError(f"{p}: not a readable .npy/.npz file (neither .npy magic nor a zip archive)")
    if x.dtype.kind not in "uif" or x.ndim < 2:
        raise SnncError(f"{p}: inputs must be a numeric array (N, ...), got {x.dtype} {tuple(x.shape)}")
    if x.shape[0] == 0 or 0 in x.shape[1:]:
        raise SnncError(f"{p}: '{key}' holds no samples (shape {tuple(x.shape)})")
    if y is not None and (y.ndim < 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in "ui"):
        raise SnncError(f"{p}: labels must be integers, one per sample (got {y.dtype} {tuple(y.shape)} for {x.shape[0]} samples)")
    if isinstance(y, NpzMember) and y.size * y.dtype.itemsize <= _EAGER_LABEL_BYTES:
        y = np.asarray(y)  # labels are small: an ordinary array (a huge member stays lazy)
    if scale is not None:
        scale = check_scale(scale, "data scale")
    ds = Dataset(x=x, y=y, scale=scale if scale is not None else (stored_scale or 1.0), source=str(p))
    _sanity(ds, key, role, scale_given=scale is not None or stored_scale is not None)
    return ds


def dataset_from_array(x: np.ndarray, *, scale: float | None = None, role: str = "calib", source: str = "<array>") -> Dataset:
    """A Dataset of in-memory inputs (N, ...), with the checks `load_dataset` applies to files."""
    x = np.asarray(x)
    if x.dtype.kind not in "uif" or x.ndim < 2:
        raise SnncError(f"{source}: expected inputs (N, ...) of a numeric type, got {x.dtype} {x.shape}")
    if x.shape[0] == 0 or 0 in x.shape[1:]:
        raise SnncError(f"{source}: no samples (shape {x.shape})")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise SnncError(f"{source}: inputs contain NaN or inf")
    s = check_scale(scale, "data_scale") if scale is not None else 1.0
    ds = Dataset(x=x, y=None, scale=s, source=source)
    _sanity(ds, "inputs", role, scale_given=scale is not None)
    return ds


def _sanity(ds: Dataset, key: str, role: str, *, scale_given: bool) -> None:
    """Careless data: NaN/inf, constant inputs, integers without a scale (first samples only)."""
    head = np.asarray(ds.x[:SANITY_SAMPLES])
    if head.dtype.kind == "f" and not np.all(np.isfinite(head)):
        raise SnncError(f"{ds.source}: inputs contain NaN or inf")
    lo, hi = head.min(), head.max()
    if lo == hi:
        what = f"'{key}' is constant: every value of the first {len(head)} samples is {lo.item()}"
        if role == "calib":
            raise SnncError(f"{ds.source}: {what}; calibration needs representative inputs to set the input range "
                            "and the thresholds")
        warnings.warn(f"{ds.source}: {what}", SnncWarning, stacklevel=3)
    if head.dtype.kind in "ui" and not scale_given:
        hint = f" (pass --data-scale {1 / 255:.8g} for 0..255 images, i.e. data_scale= in Python, or store x_scale in the file)"
        warnings.warn(f"{ds.source}: '{key}' holds {head.dtype} integers ({lo.item()}..{hi.item()}) and no x_scale: "
                      f"they are taken as the model's input at scale 1; if the model was trained on scaled inputs, "
                      f"give the scale{hint}", SnncWarning, stacklevel=3)
