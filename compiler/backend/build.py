"""`snnc compile` as a library call: import → passes → the back end's named steps.

    check → plan → calibrate → normalize → lower → golden → agreement → write

Each step (`steps.STEPS`) is a small function of the build state. Never emits an artefact that
violates the spec: the check runs first and a failing report stops the build
(`CompileResult.check.exit_code == 1`, no file written); the stage plan takes its placement
from the same rules, so a graph that passes the check always plans. Emission is atomic (the
runtime writes a temporary file and renames it), and the same inputs give a byte-identical
artefact (no timestamps, no absolute paths in the provenance).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.steps import BuildState, CompileResult, Hook, Progress, run_steps, calibrate  # noqa: F401
from snnc.compiler.data import Dataset
from snnc.compiler.frontends import load_model
from snnc.compiler.ir.graph import Graph
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import HardwareSpec

__all__ = ["CompileResult", "compile_graph", "compile_model", "file_sha256", "prepare", "calibrate"]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare(path: str | Path) -> Graph:
    graph = load_model(path)
    return frontend_pipeline(graph)


def compile_graph(graph: Graph, spec: HardwareSpec, opts: CompileOptions, calib: Dataset | None, *,
                  out: str | Path | None = None, source_sha256: str | None = None,
                  progress: Progress | None = None, hooks: list[Hook] | None = None,
                  dump_dir: str | Path | None = None) -> CompileResult:
    """Run the back end's steps on a canonical graph. `hooks` are called after every step with
    (step name, state); `dump_dir` gets one text file per step (the state's summary)."""
    state = BuildState(graph=graph, spec=spec, opts=opts, calib=calib, out=Path(out) if out is not None else None,
                       source_sha256=source_sha256, progress=progress or (lambda it, desc: it))
    run_steps(state, hooks=hooks, dump_dir=dump_dir)
    return state.result


def compile_model(model: str | Path, spec: HardwareSpec, opts: CompileOptions, calib: Dataset | None,
                  out: str | Path | None, progress: Progress | None = None) -> CompileResult:
    graph = prepare(model)
    return compile_graph(graph, spec, opts, calib, out=out, source_sha256=file_sha256(model), progress=progress)
