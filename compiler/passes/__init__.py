"""Graph passes: one small file per pass, run by a `PassManager` that verifies the IR after each.

- `canonicalize`: reduce front-end ops to the canonical set;
- `shape_inference`: fill every value's shape;
- `fold_bn`: fold batchnorm into the preceding conv/linear;
- `pipeline`: the named pipelines (`frontend_pipeline`).
"""
from snnc.compiler.passes.canonicalize import Canonicalize, canonicalize
from snnc.compiler.passes.fold_bn import FoldBatchNorm, fold_batchnorm
from snnc.compiler.passes.manager import INVARIANTS, Pass, PassManager, invariant, run_passes
from snnc.compiler.passes.pipeline import frontend_passes, frontend_pipeline
from snnc.compiler.passes.shape_inference import ShapeError, ShapeInference, infer_shapes

__all__ = [
    "Canonicalize", "FoldBatchNorm", "INVARIANTS", "Pass", "PassManager", "ShapeError", "ShapeInference",
    "canonicalize", "fold_batchnorm", "frontend_passes", "frontend_pipeline", "infer_shapes", "invariant",
    "run_passes",
]
