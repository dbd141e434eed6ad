"""Registries of ONNX importers, keyed by (domain, op_type, since_version), as in onnx2torch.

Two kinds of handlers:

- a **converter** turns one ONNX node into IR nodes (`convert(node, ctx)`); its optional
  `check(node, ctx)` returns the reasons the node cannot be imported (unsupported attribute
  values, non-constant weights), so the loader can list every problem before importing anything;
- a **folder** evaluates a node whose inputs are compile-time constants (Constant, Shape of a
  tensor with a known shape, the Gather/Unsqueeze/Concat arithmetic on shapes) and returns its
  outputs, or None when the node is not constant after all.

`since` is the first model opset a handler serves (11 at the earliest: older models are
rejected). `lookup` picks, for a model's opset, the handler registered with the highest `since`
not above it: one registered at 11 serves opsets 11, 12, ... until a registration at a later
opset where the op's semantics change (Softmax at 13, Pad's axes at 18) overrides it. An op that
ONNX itself does not define at the model's opset has no handler.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np
import onnx

if TYPE_CHECKING:  # pragma: no cover
    from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode

DEFAULT_DOMAINS = ("", "ai.onnx")

Check = Callable[["OnnxNode", "ImportContext"], list]
Convert = Callable[["OnnxNode", "ImportContext"], None]
Fold = Callable[["OnnxNode", "ImportContext"], Optional[list]]


@dataclass(frozen=True)
class Converter:
    domain: str
    op_type: str
    since: int
    convert: Convert
    check: Check | None = None
    batch_symbols: bool = False  # may read constants that contain BATCH (Reshape's shape)


CONVERTERS: dict[tuple[str, str, int], Converter] = {}
FOLDERS: dict[tuple[str, str, int], Fold] = {}


def converter(
    op_type: str, *since: int, check: Check | None = None, domain: str = "", batch_symbols: bool = False
) -> Callable[[Convert], Convert]:
    """Register `fn(node, ctx)` as the importer of `op_type` for each opset version in `since`.

    `check(node, ctx)` returns the reasons a node cannot be imported; `batch_symbols=True` lets
    the converter read folded shape tensors that contain the dynamic batch size.
    """

    def register(fn: Convert) -> Convert:
        for s in since:
            key = (domain, op_type, s)
            if key in CONVERTERS:
                raise RuntimeError(f"two ONNX converters registered for {key}")
            CONVERTERS[key] = Converter(domain, op_type, s, fn, check, batch_symbols)
        return fn

    return register


def folder(op_type: str, *since: int, domain: str = "") -> Callable[[Fold], Fold]:
    """Register `fn(node, ctx) -> list[np.ndarray] | None` as the constant folder of `op_type`."""

    def register(fn: Fold) -> Fold:
        for s in since:
            key = (domain, op_type, s)
            if key in FOLDERS:
                raise RuntimeError(f"two ONNX folders registered for {key}")
            FOLDERS[key] = fn
        return fn

    return register


@functools.lru_cache(maxsize=4096)
def schema_version(domain: str, op_type: str, opset: int) -> int | None:
    """The since_version of the ONNX schema of `op_type` in force at `opset` (None if unknown)."""
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except Exception:  # onnx.defs.SchemaError: no such op at this opset
        return None


def _versions(table: dict) -> dict[tuple[str, str], list[int]]:
    """The `since` versions registered in `table` for each (domain, op_type), highest first, so a
    lookup does not walk the whole table. Rebuilt when the table's size changes; the handler
    itself is read from the table at each lookup."""
    cached = _VERSIONS.get(id(table))
    if cached is None or cached[0] != len(table):
        index: dict[tuple[str, str], list[int]] = {}
        for (d, op, since) in table:
            index.setdefault((d, op), []).append(since)
        for versions in index.values():
            versions.sort(reverse=True)
        cached = _VERSIONS[id(table)] = (len(table), index)
    return cached[1]


_VERSIONS: dict[int, tuple[int, dict]] = {}


def _lookup(table: dict, domain: str, op_type: str, opset: int):
    domain = "" if domain == "ai.onnx" else domain
    if schema_version(domain, op_type, opset) is None:
        return None
    for since in _versions(table).get((domain, op_type), ()):
        if since <= opset and (domain, op_type, since) in table:
            return table[(domain, op_type, since)]
    return None


def lookup_converter(domain: str, op_type: str, opset: int) -> Converter | None:
    return _lookup(CONVERTERS, domain, op_type, opset)


def lookup_folder(domain: str, op_type: str, opset: int) -> Fold | None:
    return _lookup(FOLDERS, domain, op_type, opset)


def supported_ops() -> dict[str, list[int]]:
    """op_type -> the opset versions at which a converter is registered (for docs and tests)."""
    out: dict[str, list[int]] = {}
    for (_, op, since) in CONVERTERS:
        out.setdefault(op, []).append(since)
    return {k: sorted(v) for k, v in sorted(out.items())}


def as_float(a: np.ndarray) -> np.ndarray:
    """A constant as an IR parameter: float32 (float64 kept), never an integer or float16 array."""
    a = np.asarray(a)
    if a.dtype == np.float64:
        return a.copy()
    return a.astype(np.float32)
