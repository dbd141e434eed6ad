"""Getting an `ExportedProgram`: from a `.pt2` file (`torch.export.save`) or from an `nn.Module`
and an example input (`torch.export.export`), then importing it with `convert.import_program`.

What loading a .pt2 file executes. `torch.export.load` reads a zip archive: the graph is JSON
that torch's own deserializer turns into aten op calls (ops are looked up by name; nothing of
the model's Python class is imported or run), and plain tensors are raw bytes. But an archive
may also hold pickled parts: tensor subclasses and custom objects (unpickled with
`weights_only=False`), and the example inputs, which torch unpickles with `weights_only=True`
and, if that fails, retries with `weights_only=False`. Unpickling can run arbitrary code, so
before calling torch, snnc opens the archive itself and refuses any file with pickled weights
or constants, custom/opaque objects, or example inputs that do not load with
`weights_only=True`. What then runs is torch's JSON deserializer and the aten ops the graph
names (on constants, during import: e.g. `permute` of a weight); the graph is never run on data.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from typing import Any

import torch

from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.ir.graph import Graph


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + ("..." if len(text) > 300 else "")) or type(exc).__name__


def check_archive(path: str) -> None:
    """Refuse .pt2 archives whose loading would unpickle anything beyond plain tensors."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportErrorModel(f"{path}: not a torch.export .pt2 archive (not a zip file: {_one_line(exc)})") from None
    with zf:
        names = zf.namelist()
        if not any("/models/" in n and n.endswith(".json") for n in names):
            raise ImportErrorModel(f"{path}: not a torch.export .pt2 archive (no models/*.json; save it with torch.export.save)")
        for n in names:
            base = n.rsplit("/", 1)[-1]
            if n.endswith(("weights/model_weights_config.json", "constants/model_constants_config.json")) or (
                    "/data/" in n and base.endswith("_config.json")):
                try:
                    config = json.loads(zf.read(n)).get("config", {})
                except ValueError:
                    raise ImportErrorModel(f"{path}: corrupt archive entry {n}") from None
                for fqn, meta in config.items():
                    if meta.get("use_pickle") or not str(meta.get("path_name", "")).startswith(("weight_", "tensor_")):
                        raise ImportErrorModel(
                            f"{path}: refusing to load: '{fqn}' is stored as a pickled object ({n}); "
                            "unpickling can run arbitrary code. Re-export the model with plain tensors.")
            elif "/data/sample_inputs/" in n:
                try:
                    torch.load(io.BytesIO(zf.read(n)), weights_only=True)
                except Exception as exc:
                    raise ImportErrorModel(
                        f"{path}: refusing to load: the example inputs ({n}) need full unpickling, which can run "
                        f"arbitrary code ({_one_line(exc)})") from None
            elif n.endswith(".pt") and "/data/weights/" in n or "/data/constants/" in n and n.endswith(".pt"):
                raise ImportErrorModel(f"{path}: refusing to load: legacy pickled weights ({n}); re-save with torch.export.save")


def load_pt2(path: str | os.PathLike) -> Graph:
    """Import a `.pt2` file written by `torch.export.save`, without the model's Python class."""
    from snnc.compiler.frontends.torch.convert import import_program

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImportErrorModel(f"{path}: no such file")
    check_archive(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    try:
        ep = torch.export.load(path)
    except Exception as exc:
        raise ImportErrorModel(f"{path}: cannot load the .pt2 archive: {_one_line(exc)}") from None
    name = os.path.splitext(os.path.basename(path))[0] or "model"
    return import_program(ep, path, name=name, meta={"sha256": digest, "torch_version": torch.__version__})


def _as_tensor(example: Any) -> torch.Tensor:
    if isinstance(example, torch.Tensor):
        return example
    try:
        import numpy as np

        return torch.as_tensor(np.asarray(example, dtype=np.float32))
    except Exception as exc:
        raise ImportErrorModel(f"example input: expected a tensor or an array, got {type(example).__name__}") from exc


def export_module(module: "torch.nn.Module", example_input: Any) -> tuple["torch.export.ExportedProgram", int | None]:
    """`torch.export.export` of `module` in eval mode with a dynamic batch axis.

    Returns (program, static_batch): static_batch is None when the batch is dynamic, else the
    example's batch size (the model fixed it, e.g. with `x.view(1, -1)`). The module's
    training flag is restored afterwards. A batch of 1 is repeated to 2 for tracing, because
    torch.export specializes size-1 dimensions.
    """
    if not isinstance(module, torch.nn.Module):
        raise ImportErrorModel(f"expected a torch.nn.Module, got {type(module).__name__}")
    x = _as_tensor(example_input)
    if x.dim() < 1:
        raise ImportErrorModel("example input: expected a batch (N, ...), got a scalar")
    was_training = module.training
    module.eval()
    try:
        trace_x = torch.cat([x, x]) if x.shape[0] == 1 else x
        try:
            ep = torch.export.export(module, (trace_x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
            return ep, None
        except Exception:  # the model fixes its batch size: export it static
            pass
        try:
            ep = torch.export.export(module, (x,))
        except Exception as exc:
            raise ImportErrorModel(f"torch.export could not trace the model: {_one_line(exc)}") from None
        return ep, int(x.shape[0])
    finally:
        module.train(was_training)


def import_module(module: "torch.nn.Module", example_input: Any, *, name: str | None = None) -> Graph:
    """Import an `nn.Module` (through torch.export, in eval mode) into the IR."""
    from snnc.compiler.frontends.torch.convert import import_program

    ep, static_batch = export_module(module, example_input)
    name = name or type(module).__name__
    return import_program(ep, f"<{name}>", name=name, static_batch=static_batch,
                          meta={"torch_version": torch.__version__, "module_class": type(module).__qualname__})
