"""The Python API: from an `nn.Module` in a notebook to a check report or an artefact.

    import snnc.compiler as snnc
    report = snnc.check_module(model, x, bits=2)                        # like `snnc check`
    result = snnc.compile_module(model, x, bits=2, calib=x_calib, out="model.snn")  # like `snnc compile`
    run = snnc.eval_module(model, x, bits=2, calib=x_calib, data=(x_test, y_test))  # like `snnc eval`

The model is exported with `torch.export` in eval mode (its training flag is restored), with a
dynamic batch axis, and imported by the torch front end into the same IR the ONNX route gives;
everything after that is the code path of the CLI. Errors are the CLI's: `UnsupportedOpsError`
lists every unsupported layer with its module path, `SnncError` any other bad input.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph
from snnc.compiler.sensitivity import SensitivityReport, sensitivity

__all__ = ["import_module", "check_module", "compile_module", "eval_module", "sensitivity", "SensitivityReport"]



def import_module(module: Any, example_input: Any, *, canonical: bool = False) -> Graph:
    """The IR of `module` (traced on `example_input`, shape (N, ...)): as imported, or after the
    front-end pipeline (canonicalize, shape inference, BatchNorm folding) with `canonical=True`.

    `module` may also be a `torch.export.ExportedProgram` (e.g. `torch.export.load(path)`), which
    is imported as it is. The module `ExportedProgram.module()` returns cannot be switched to
    eval mode (torch refuses), so it is refused with a message saying what to pass instead."""
    import torch

    from snnc.compiler.frontends.torch import import_module as _import, import_program

    if isinstance(module, torch.export.ExportedProgram):
        graph = import_program(module, "<ExportedProgram>", name="model")
    else:
        if not isinstance(module, torch.nn.Module):
            raise SnncError(f"module: expected a torch.nn.Module or a torch.export.ExportedProgram, got {type(module).__name__}")
        try:
            module.train(module.training)  # what the export in eval mode does; an unlifted export refuses
        except NotImplementedError:
            raise SnncError(
                "module: this is the module of an ExportedProgram (`torch.export.load(...).module()`), which torch "
                "cannot switch to eval mode; pass the ExportedProgram itself (`torch.export.load(path)`), or the "
                ".pt2 path to `snnc check` / `snnc compile`") from None
        graph = _import(module, example_input)
    if canonical:
        from snnc.compiler.passes import frontend_pipeline

        graph = frontend_pipeline(graph)
    return graph


def _spec(hw: Any, bits: int):
    from snnc.hwspec import HardwareSpec, load_spec

    from snnc.hwspec.errors import SpecError

    spec = hw if isinstance(hw, HardwareSpec) else load_spec(hw)
    try:
        spec.check_bits(bits)
    except SpecError as exc:  # the API's errors are SnncErrors
        raise SnncError(str(exc).replace("--bits ", "bits=")) from None
    return spec


def check_module(module: Any, example_input: Any, *, hw: Any = "hw_v1", bits: int, layer_bits: Any = ()):
    """Check that `module` fits the hardware spec `hw` (a shipped name, a YAML path or a loaded
    `HardwareSpec`) at `bits`-bit weights: the `CheckReport` of `snnc check` (`.ok`,
    `.violations`, `.to_text()`, `.to_json()`, `.exit_code`), layers named by module path.
    `layer_bits` ({layer: bits}) gives layers their own width, as `--bits-for` does."""
    from snnc.compiler.check import check_graph

    spec = _spec(hw, bits)
    graph = import_module(module, example_input, canonical=True)
    return check_graph(graph, spec, bits, model=graph.meta.get("source"), layer_bits=layer_bits)


def _dataset(calib: Any, data_scale: float | None):
    """`calib` as a Dataset: a Dataset, a .npz/.npy path, or an array / tensor of inputs (N, ...)."""
    from snnc.compiler.data import Dataset, dataset_from_array, load_dataset

    if calib is None or isinstance(calib, Dataset):
        return calib
    if isinstance(calib, (str, os.PathLike)):
        return load_dataset(calib, role="calib", scale=data_scale)
    if hasattr(calib, "detach"):  # a torch tensor
        calib = calib.detach().cpu().numpy()
    return dataset_from_array(np.asarray(calib), scale=data_scale, source="calib")


def compile_module(module: Any, example_input: Any, *, hw: Any = "hw_v1", bits: int, calib: Any = None,
                   out: str | os.PathLike | None = None, timesteps: int = 32, data_scale: float | None = None,
                   **options: Any):
    """Compile `module` like `snnc compile`: the `CompileResult` (`.check`, `.artefact`,
    `.lowered`, `.agreement`, `.warnings`, `.exit_code`); the artefact is written to `out` when
    given. `calib` is a Dataset, a .npz/.npy path or an array of representative inputs. Other
    keyword options are those of the CLI, with underscores: norm, percentile, reset, v_init,
    per_channel, input_encoding, input_scale, calib_samples, batch_size. As with the CLI, a
    model that does not fit is not compiled: `result.exit_code == 1` and `result.check` says why.
    """
    from snnc.compiler.backend.build import compile_graph
    from snnc.compiler.backend.options import CompileOptions

    _known_options(options)
    spec = _spec(hw, bits)
    opts = CompileOptions(bits=bits, timesteps=timesteps, **options)
    data = _dataset(calib, data_scale)
    graph = import_module(module, example_input, canonical=True)
    return compile_graph(graph, spec, opts, data, out=Path(out) if out is not None else None)


def _known_options(options: dict) -> None:
    from snnc.compiler.backend.options import CompileOptions

    known = {f.name for f in dataclasses.fields(CompileOptions)} - {"bits", "timesteps"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SnncError(f"unknown compile option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")


def _labelled(data: Any, data_scale: float | None):
    """Labelled test data: a Dataset, a .npz path, or a pair (inputs, labels)."""
    from snnc.compiler.data import Dataset, dataset_from_array, load_dataset

    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_dataset(data, role="eval", scale=data_scale)
    if isinstance(data, tuple) and len(data) == 2:
        x, y = (a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a) for a in data)
        ds = dataset_from_array(x, scale=data_scale, role="eval", source="data")
        y = np.asarray(y).reshape(-1)
        if y.shape[0] != ds.x.shape[0] or y.dtype.kind not in "iu":
            raise SnncError(f"data: expected {ds.x.shape[0]} integer labels, got {y.dtype} {y.shape}")
        return dataclasses.replace(ds, y=y.astype(np.int64))
    raise SnncError("data: expected a Dataset, a .npz path or a pair (inputs, labels)")


def eval_module(module: Any, example_input: Any, *, data: Any, hw: Any = "hw_v1", bits: int | None = None,
                calib: Any = None, timesteps: Any = (4, 8, 16, 32), data_scale: float | None = None,
                sweep: dict | None = None, limit: int | None = None, **options: Any):
    """Evaluate `module` like `snnc eval`: the float model's, the quantized ANN's and the bit-exact
    SNN's accuracy at every T, with activity and energy, for each configuration of `sweep`
    ({"bits": [2, 4], "norm": [...]}). Returns an `EvalRun`: `.result` is the JSON document of
    `snnc eval --format json`, `.configs` one entry per configuration, `.fits`."""
    from snnc.compiler.eval_run import eval_model

    _known_options(options)
    sweep_items = [(k, list(v)) for k, v in (sweep or {}).items()]
    for k, _ in sweep_items:
        if k != "bits":
            _known_options({k: None})
    ts = sorted({int(t) for t in ([timesteps] if isinstance(timesteps, int) else timesteps)})
    if not ts or ts[0] < 1:
        raise SnncError("timesteps: expected positive integers")
    _spec(hw, bits if bits is not None else next(iter(dict(sweep_items).get("bits", [None]))))
    graph = import_module(module, example_input, canonical=True)
    return eval_model(graph, hw, bits, options, _dataset(calib, data_scale), _labelled(data, data_scale), ts,
                      sweep=sweep_items, name=graph.name, data="<data>" if not isinstance(data, (str, os.PathLike))
                      else str(data), limit=limit)
