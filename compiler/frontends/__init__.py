"""Front ends: read a trained model file and produce the snnc IR (`snnc.compiler.ir.Graph`).

`load_model(path)` dispatches on the file's extension through `LOADERS`: `.onnx` (the ONNX front
end) and `.pt2` (torch.export archives, the torch front end). Each loader imports its
dependency (onnx, torch) only when a file of its kind is loaded.
"""
from __future__ import annotations

import os
from typing import Callable

from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.ir.graph import Graph
from snnc.compiler.registry import Registry

Loader = Callable[[str], Graph]
LOADERS = Registry("model loader")


def register_loader(suffix: str, loader: Loader) -> None:
    """Make `load_model` read files ending in `suffix` (e.g. ".pt2") with `loader(path)`."""
    LOADERS.register(suffix.lower())(loader)


def _load_onnx(path: str) -> Graph:
    from snnc.compiler.frontends.onnx import load_onnx  # imports onnx lazily

    return load_onnx(path)


def _load_pt2(path: str) -> Graph:
    from snnc.compiler.frontends.torch import load_pt2  # imports torch lazily

    return load_pt2(path)


register_loader(".onnx", _load_onnx)
register_loader(".pt2", _load_pt2)


def load_model(path: str | os.PathLike) -> Graph:
    """Import the model file at `path` into the IR; the loader is chosen by the file extension.

    Raises `ImportErrorModel` (naming the file) for a missing file, an unknown extension or a
    model that cannot be imported; `UnsupportedOpsError` lists every unsupported op at once.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        supported = ", ".join(sorted(LOADERS))
        raise ImportErrorModel(
            f"{path}: unsupported model file type '{suffix or '(no extension)'}'; supported: {supported}"
        )
    return loader(path)


__all__ = ["load_model", "register_loader", "LOADERS"]
