"""Named pass pipelines. `frontend_pipeline` is what `snnc check` (and later compile) runs on an
imported graph: canonicalize -> shape inference -> fold BN -> shape inference."""
from __future__ import annotations

from pathlib import Path

from snnc.compiler.ir.graph import Graph
from snnc.compiler.passes.canonicalize import Canonicalize
from snnc.compiler.passes.fold_bn import FoldBatchNorm
from snnc.compiler.passes.manager import PassManager, PassLike, StepCallback
from snnc.compiler.passes.shape_inference import ShapeInference


def frontend_passes() -> list[PassLike]:
    return [Canonicalize(), ShapeInference(), FoldBatchNorm(), ShapeInference()]


def frontend_pipeline(
    graph: Graph, *, dump_dir: str | Path | None = None, on_step: StepCallback | None = None
) -> Graph:
    """Run the front-end pipeline on a copy of `graph` and return the result."""
    return PassManager(frontend_passes(), dump_dir=dump_dir, on_step=on_step).run(graph)
