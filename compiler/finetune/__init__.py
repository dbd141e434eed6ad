"""Quantization-aware fine-tuning (torch): straight-through weight quantization with snnc's own
integer-threshold rule, activations clipped at the calibration scale, export to an ONNX model
that `snnc compile` turns into exactly the trained integers. torch is imported only here.

    from snnc.compiler.finetune import FinetuneOptions, finetune, save_onnx
    res = finetune(prepare("m.onnx"), load_spec("hw_v1"), load_training_data("train.npz"),
                   FinetuneOptions(bits=2, epochs=2, per_channel=True))
    save_onnx(res.graph, "m_qat2.onnx")

See docs/finetune.md.
"""
from snnc.compiler.finetune.options import FinetuneOptions

_LAZY = {  # torch is imported only when one of these is used
    "Finalized": "export", "bake": "export", "compile_matches": "export", "finalize": "export",
    "IRModule": "irmodule", "save_onnx": "onnx_writer", "to_onnx": "onnx_writer",
    "QATConfig": "qat", "QATModel": "qat", "plan_scales": "qat", "quantize_weights_torch": "quantizer",
    "FinetuneResult": "train", "accuracy": "train", "finetune": "train", "load_training_data": "train",
    "select_device": "train",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"snnc.compiler.finetune.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'snnc.compiler.finetune' has no attribute {name!r}")


__all__ = [
    "FinetuneOptions", "FinetuneResult", "finetune", "accuracy", "load_training_data", "select_device",
    "IRModule", "QATConfig", "QATModel", "plan_scales", "quantize_weights_torch",
    "Finalized", "finalize", "bake", "compile_matches", "save_onnx", "to_onnx",
]
