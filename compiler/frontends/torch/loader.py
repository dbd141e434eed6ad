"""Getting an `ExportedProgram`: from a `.pt2` file (`torch.export.save`) or from an `nn.Module`
and an example input (`torch.export.export`), then importing it with `convert.import_program`.

What loading a .pt2 file may execute, and how snnc prevents it (docs/security.md). An archive is a
zip file; `torch.export.load` turns its JSON graph into aten op calls and its raw tensor files into
tensors, but it also unpickles (`weights_only=False`) tensor subclasses, custom and opaque objects,
example inputs that a restricted unpickler refuses, and whole state dicts in older layouts, and it
`dlopen`s AOTInductor shared libraries under `data/aotinductor/`. So torch never sees the user's
file. `read_archive` reads the zip itself and rebuilds, in memory, an archive of exactly the members
of one layout (the current `torch.export.save` one) after checking every one of them:

- one root folder, no duplicate names, no absolute or `..` paths, bounded member count and size;
- only these members: `archive_format` ("pt2"), `archive_version`, `byteorder`, `.data/version`,
  `.data/serialization_id`, `models/model.json`, `data/weights/model_weights_config.json` and
  `data/constants/model_constants_config.json` with the raw tensor files they name, and
  `data/sample_inputs/model.pt`; `extra/*` text files are dropped; anything else (AOTInductor,
  ExecuTorch or MTIA payloads, legacy `.pt` state dicts, a top-level `version` of the 2.7 layout)
  is refused by name;
- every weight and constant is a plain tensor (`use_pickle` false, a `weight_`/`tensor_` file);
- the example inputs load with torch's restricted unpickler (`weights_only=True`), so torch's
  fallback to full unpickling is never reached (they are the same bytes).

What then runs is torch's JSON deserializer and the aten ops the graph names (on constants, during
import: e.g. `permute` of a weight); the graph is never run on data.

Two routes read the checked members (`load_pt2`), chosen by `SNNC_PT2_READER` (default `auto`):
- **fast** (`serialized.py`): the JSON graph and the raw tensor files are parsed here, without
  importing torch at all (torch's import and `torch.export.load` were ~90% of a `.pt2` check);
  the example inputs are never loaded, only scanned (`pickle_scan.py`, no unpickling);
- **torch**: the rebuilt archive goes to `torch.export.load` (the reference route).
`auto` takes the fast route and hands the file to torch when the fast reader meets anything it
does not read exactly as torch does (`NotUnderstood`: an op outside `schemas.SCHEMAS`, a constant
op without a numpy twin, a dtype, layout or schema version it does not know...), and on every
import error, so that errors are always torch's route's. Both routes give the same IR (tested on
every shipped `.pt2` and a zoo: `tests/compiler/frontends/torch/test_fast_pt2.py`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import zipfile
from typing import TYPE_CHECKING, Any

from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.frontends.torch.program import NotUnderstood
from snnc.compiler.ir.graph import Graph

if TYPE_CHECKING:  # pragma: no cover
    import torch

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 4 << 30  # declared uncompressed size of all members
MAX_DEFLATE_RATIO = 64  # declared uncompressed size / file size, for deflated archives
MODEL = "model"  # torch.export.save's program name; torch.export.load returns only this one
FIXED_MEMBERS = ("archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id")
WEIGHTS_CONFIG = f"data/weights/{MODEL}_weights_config.json"
CONSTANTS_CONFIG = f"data/constants/{MODEL}_constants_config.json"
PROGRAM = f"models/{MODEL}.json"
SAMPLE_INPUTS = f"data/sample_inputs/{MODEL}.pt"
REQUIRED = ("archive_format", "archive_version", PROGRAM, WEIGHTS_CONFIG, CONSTANTS_CONFIG, SAMPLE_INPUTS)
ROUTES = ("auto", "fast", "torch")
READER_ENV = "SNNC_PT2_READER"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + ("..." if len(text) > 300 else "")) or type(exc).__name__


def _refuse(path: str, why: str) -> ImportErrorModel:
    return ImportErrorModel(f"{path}: refusing to load: {why}")


def _members(path: str, zf: zipfile.ZipFile) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """(root folder, relative name -> entry), after the structural checks."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _refuse(path, f"{len(infos)} archive members (at most {MAX_MEMBERS})")
    total = sum(i.file_size for i in infos)
    deflated = any(i.compress_type != zipfile.ZIP_STORED for i in infos)
    size = os.path.getsize(path)
    if total > MAX_TOTAL_BYTES or (deflated and total > MAX_DEFLATE_RATIO * size + (1 << 20)):
        raise _refuse(path, f"the members declare {total} bytes uncompressed ({size} bytes on disk)")
    names = [i.filename for i in infos]
    dup = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
    if dup:
        raise _refuse(path, f"duplicate archive members {dup[:5]} (the zip directory is ambiguous)")
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1:
        raise _refuse(path, f"the archive has {len(roots)} top-level entries {sorted(roots)[:5]}, "
                            "torch.export.save writes one folder")
    root = roots.pop()
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        rel = info.filename[len(root) + 1:]
        if (not info.filename.startswith(root + "/") or not rel or info.is_dir() or "\\" in info.filename
                or posixpath.normpath(rel) != rel or rel.startswith(("/", "../"))):
            raise _refuse(path, f"unexpected archive member {info.filename!r}")
        members[rel] = info
    return root, members


def _payload_files(path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, folder: str) -> list[str]:
    """The tensor files a weights/constants config names, each a plain (unpickled) tensor."""
    try:
        config = json.loads(zf.read(info))
        entries = config["config"]
        if not isinstance(entries, dict):
            raise TypeError("config is not an object")
    except (ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ImportErrorModel(f"{path}: corrupt archive entry {info.filename} ({_one_line(exc)})") from None
    files = []
    for fqn, meta in entries.items():
        name = meta.get("path_name") if isinstance(meta, dict) else None
        if (not isinstance(name, str) or meta.get("use_pickle") is not False
                or not name.startswith(("weight_", "tensor_")) or "/" in name):
            raise _refuse(path, f"'{fqn}' is not stored as a plain tensor ({info.filename}: {str(meta)[:80]}); "
                                "unpickling custom objects can run arbitrary code. Re-export the model with plain tensors.")
        files.append(f"{folder}/{name}")
    return files


def checked_members(path: str) -> tuple[str, dict[str, bytes]]:
    """(root folder, relative name -> bytes) of the members of the .pt2 file at `path` that either
    route reads, after every check of the module doc but the example inputs' (no torch needed)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportErrorModel(f"{path}: not a torch.export .pt2 archive (not a zip file: {_one_line(exc)})") from None
    with zf:
        root, members = _members(path, zf)
        if PROGRAM not in members:
            raise ImportErrorModel(f"{path}: not a torch.export .pt2 archive (no {root}/{PROGRAM}; "
                                   "save it with torch.export.save)")
        missing = [m for m in REQUIRED if m not in members]
        if missing:
            raise ImportErrorModel(f"{path}: not a torch.export .pt2 archive of the current layout "
                                   f"(missing {', '.join(missing)}); re-save it with torch.export.save")
        keep = [m for m in FIXED_MEMBERS if m in members] + [PROGRAM, WEIGHTS_CONFIG, CONSTANTS_CONFIG, SAMPLE_INPUTS]
        keep += _payload_files(path, zf, members[WEIGHTS_CONFIG], "data/weights")
        keep += _payload_files(path, zf, members[CONSTANTS_CONFIG], "data/constants")
        absent = [m for m in keep if m not in members]
        if absent:
            raise ImportErrorModel(f"{path}: corrupt archive: the configs name missing files {absent[:5]}")
        unknown = sorted(m for m in members if m not in set(keep) and not m.startswith("extra/"))
        if unknown:
            raise _refuse(path, f"members outside the torch.export.save layout: {', '.join(unknown[:8])}"
                                f"{' ...' if len(unknown) > 8 else ''} (compiled code, pickled state or another "
                                "layout can run arbitrary code; snnc reads only the graph and plain tensors)")
        try:
            data = {m: zf.read(members[m]) for m in dict.fromkeys(keep)}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ImportErrorModel(f"{path}: corrupt archive ({_one_line(exc)})") from None
    if data["archive_format"].strip() != b"pt2":
        raise ImportErrorModel(f"{path}: not a torch.export .pt2 archive (archive_format is not 'pt2')")
    return root, data


def read_archive(path: str) -> bytes:
    """The .pt2 file at `path` rebuilt in memory from checked members only (see the module doc)."""
    return _rebuild(path, *checked_members(path))


def _rebuild(path: str, root: str, data: dict[str, bytes]) -> bytes:
    import torch

    try:
        torch.load(io.BytesIO(data[SAMPLE_INPUTS]), weights_only=True)
    except Exception as exc:
        raise _refuse(path, f"the example inputs ({root}/{SAMPLE_INPUTS}) need full unpickling, which can run "
                            f"arbitrary code ({_one_line(exc)})") from None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as clean:
        for name, blob in data.items():
            clean.writestr(f"{root}/{name}", blob)
    return out.getvalue()


def _route(route: str | None) -> str:
    route = route or os.environ.get(READER_ENV) or "auto"
    if route not in ROUTES:
        raise ImportErrorModel(f"{READER_ENV}={route!r}: expected one of {', '.join(ROUTES)}")
    return route


def load_pt2(path: str | os.PathLike, *, route: str | None = None) -> Graph:
    """Import a `.pt2` file written by `torch.export.save`, without the model's Python class.

    `route`: "auto" (the default, or `$SNNC_PT2_READER`): the fast reader, falling back to torch
    for anything it does not understand and for every error; "fast": the fast reader only (what
    it does not understand is an error); "torch": torch.export.load only (the reference)."""
    path = os.fspath(path)
    route = _route(route)
    if not os.path.isfile(path):
        raise ImportErrorModel(f"{path}: no such file")
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    root, data = checked_members(path)
    name = os.path.splitext(os.path.basename(path))[0] or "model"
    if route != "torch":
        from snnc.compiler.frontends.torch.serialized import import_members

        try:
            return import_members(path, root, data, name=name, sha256=digest)
        except NotUnderstood as exc:
            if route == "fast":
                raise ImportErrorModel(f"{path}: the fast .pt2 reader does not read this file ({exc}); "
                                       f"unset {READER_ENV} to read it with torch") from None
        except ImportErrorModel:  # incl. unsupported ops: the error is the torch route's
            if route == "fast":
                raise
    return _load_with_torch(path, root, data, name=name, sha256=digest)


def _load_with_torch(path: str, root: str, data: dict[str, bytes], *, name: str, sha256: str) -> Graph:
    import torch

    from snnc.compiler.frontends.torch.convert import import_program

    clean = _rebuild(path, root, data)
    try:
        ep = torch.export.load(io.BytesIO(clean))
    except Exception as exc:
        raise ImportErrorModel(f"{path}: cannot load the .pt2 archive: {_one_line(exc)}") from None
    return import_program(ep, path, name=name, meta={"sha256": sha256, "torch_version": torch.__version__})


def _as_tensor(example: Any) -> "torch.Tensor":
    import torch

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
    import torch

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
    import torch

    from snnc.compiler.frontends.torch.convert import import_program

    ep, static_batch = export_module(module, example_input)
    name = name or type(module).__name__
    return import_program(ep, f"<{name}>", name=name, static_batch=static_batch,
                          meta={"torch_version": torch.__version__, "module_class": type(module).__qualname__})
