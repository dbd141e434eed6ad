"""batch_norm (inference) -> batchnorm. Weight, bias and running statistics must be constants;
`affine=False` layers get scale 1 and bias 0. A BatchNorm in training mode (batch statistics) is
refused with the fix: call `model.eval()` before exporting."""
from __future__ import annotations

import numpy as np

from snnc.compiler.frontends.torch.context import TorchContext, TorchNode
from snnc.compiler.frontends.torch.registry import converter

TRAINING = "BatchNorm in training mode (batch statistics): call model.eval() before exporting"


def _check(node: TorchNode, ctx: TorchContext) -> list[str]:
    if node.args.get("training"):
        return [TRAINING]
    out = []
    for k in ("running_mean", "running_var"):
        if node.args.get(k) is None:
            out.append(f"no {k} (track_running_stats=False normalizes with batch statistics)")
        elif not ctx.is_const(node.args[k]):
            out.append(f"{k} is not a constant")
    for k in ("weight", "bias"):
        if node.args.get(k) is not None and not ctx.is_const(node.args[k]):
            out.append(f"{k} is not a constant")
    return out


@converter("aten.batch_norm.default", "aten._native_batch_norm_legit_no_training.default", check=_check)
def batch_norm(node: TorchNode, ctx: TorchContext) -> None:
    mean, var = ctx.array(node.args["running_mean"]), ctx.array(node.args["running_var"])
    c = mean.shape[0]
    w, b = node.args.get("weight"), node.args.get("bias")
    params = {
        "scale": ctx.array(w) if w is not None else np.ones(c, np.float32),
        "bias": ctx.array(b) if b is not None else np.zeros(c, np.float32),
        "mean": mean,
        "var": var,
    }
    ctx.emit_for(node, "batchnorm", [ctx.ir(node.args["input"])], attrs={"eps": float(node.args.get("eps", 1e-5))},
                 params=params)


def _training(node: TorchNode, ctx: TorchContext) -> list[str]:
    return [TRAINING]


@converter("aten._native_batch_norm_legit.default", "aten._native_batch_norm_legit_functional.default",
           "aten.native_batch_norm.default", "aten._native_batch_norm_legit.no_stats", check=_training,
           listed=False)
def batch_norm_training(node: TorchNode, ctx: TorchContext) -> None:  # pragma: no cover - never passes check
    raise AssertionError("refused by its check")
