"""Quantization-aware fine-tuning (torch): straight-through weight quantization with snnc's own
integer-threshold rule, activations clipped at the calibration scale, export to an ONNX model
that `snnc compile` turns into exactly the trained integers. torch is imported only here.

    from snnc.compiler.finetune import FinetuneOptions, finetune, save_onnx
    res = finetune(prepare("m.onnx"), load_spec("hw_v1"), load_training_data("train.npz"),
                   FinetuneOptions(bits=2, epochs=2, per_channel=True))
    save_onnx(res.graph, "m_qat2.onnx")

See docs/finetune.md.
"""
from snnc.compiler.finetune.export import Finalized, bake, compile_matches, finalize
from snnc.compiler.finetune.irmodule import IRModule
from snnc.compiler.finetune.onnx_writer import save_onnx, to_onnx
from snnc.compiler.finetune.qat import QATConfig, QATModel, plan_scales
from snnc.compiler.finetune.quantizer import quantize_weights_torch
from snnc.compiler.finetune.train import (
    FinetuneOptions, FinetuneResult, accuracy, finetune, load_training_data, select_device,
)

__all__ = [
    "FinetuneOptions", "FinetuneResult", "finetune", "accuracy", "load_training_data", "select_device",
    "IRModule", "QATConfig", "QATModel", "plan_scales", "quantize_weights_torch",
    "Finalized", "finalize", "bake", "compile_matches", "save_onnx", "to_onnx",
]
