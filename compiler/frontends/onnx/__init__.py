"""The ONNX front end: `load_onnx(path or ModelProto) -> Graph`.

Importers live one module per op family and register themselves in `registry` when imported
here; `registry.supported_ops()` lists what is covered.
"""
from snnc.compiler.frontends.onnx import (  # noqa: F401  (registration side effects)
    activation,
    conv,
    elementwise,
    gemm,
    misc,
    norm,
    pool,
    shape,
)
from snnc.compiler.frontends.onnx.loader import MIN_OPSET, load_onnx
from snnc.compiler.frontends.onnx.registry import supported_ops

__all__ = ["load_onnx", "supported_ops", "MIN_OPSET"]
