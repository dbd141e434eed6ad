"""File helpers for `snnc run`: read an input .npy (no pickle), write a result .npz."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snnc.runtime.encode import conform_input
from snnc.runtime.errors import InputError
from snnc.runtime.fastsim import SimResult
from snnc.runtime.model import InputSpec


def load_input_npy(path: "str | os.PathLike[str]", spec: InputSpec) -> np.ndarray:
    """The input array as `simulate` takes it, (B, *spec.external_shape); numeric, no pickle.

    The file holds what `encode.conform_input` accepts with single=True: (B, *external shape),
    one sample without batch axis, (B, H, W) for a one-channel input, flat samples for a flat
    input. An array in the other layout (NHWC for an NCHW input, or the reverse) is refused with
    the transpose that fixes it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise InputError(f"{path}: not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if not isinstance(x, np.ndarray):
        raise InputError(f"{path}: expected a single .npy array, not an .npz archive")
    if x.dtype.kind not in "iufb":
        raise InputError(f"{path}: dtype {x.dtype} is not numeric")
    return conform_input(x, spec.shape, spec.layout, str(path), single=True)


def result_arrays(res: SimResult) -> dict[str, np.ndarray]:
    """Flat name -> array mapping: counts/<layer>, output_counts, logits, predictions, spikes/<layer>, membranes/<layer>."""
    out = {f"counts/{k}": v for k, v in res.counts.items()}
    out["output_counts"] = res.output_counts
    out["timesteps"] = np.array(res.timesteps)
    if res.logits is not None:
        out["logits"] = res.logits
        out["predictions"] = res.predictions
    if res.probabilities is not None:
        out["probabilities"] = res.probabilities
    for k, v in (res.spikes or {}).items():
        out[f"spikes/{k}"] = v
    for k, v in (res.membranes or {}).items():
        out[f"membranes/{k}"] = v
    return out


def save_result_npz(res: SimResult, path: "str | os.PathLike[str]") -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **result_arrays(res))
