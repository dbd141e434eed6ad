"""The op vocabulary of the IR. Each entry gives the maths, the attributes (with defaults), the
parameters and the number of value inputs. Front ends produce these ops; `canonicalize` reduces
the set (drops identity/dropout, turns gemm/matmul(+add) into linear, pad into conv padding);
the verifier checks every node against its schema.

Layout conventions: activations are NCHW (or NF after flatten); conv weights are (O, I/groups,
kh, kw); linear weights are (out, in) and compute y = x @ W.T + b. Spatial `padding` is
(top, left, bottom, right); `stride`, `kernel`, `dilation` are (h, w).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OpSchema:
    doc: str
    n_inputs: tuple[int, int] = (1, 1)  # min, max value inputs
    attrs: dict[str, Any] = field(default_factory=dict)  # name -> default (REQUIRED if no default)
    params: tuple[str, ...] = ()  # required parameters
    optional_params: tuple[str, ...] = ()
    canonical: bool = True  # may appear after canonicalize


REQUIRED = object()

OPS: dict[str, OpSchema] = {
    "conv": OpSchema(
        "y[n,o,i,j] = b[o] + sum_{c,u,v} W[o,c,u,v] * xpad[n, g*I/G + c, i*sh + u*dh, j*sw + v*dw]; with "
        "input_dilation (ih, iw) != (1, 1), x first gets ih-1 zero rows (iw-1 zero columns) between its rows "
        "(columns): a transposed convolution, as the front ends lower ConvTranspose (docs/semantics.md section 6)",
        attrs={"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1, "input_dilation": (1, 1)},
        params=("weight",),
        optional_params=("bias",),
    ),
    "linear": OpSchema("y = x @ W.T + b", params=("weight",), optional_params=("bias",)),
    "gemm": OpSchema(
        "y = alpha * op(x) @ op(W) + beta * c, op = transpose if trans* (ONNX Gemm with constant B, C)",
        attrs={"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
        params=("weight",),
        optional_params=("bias",),
        canonical=False,
    ),
    "matmul": OpSchema("y = x @ W (W constant, shape (in, out))", params=("weight",), canonical=False),
    "relu": OpSchema("y = max(x, 0)"),
    "clip": OpSchema("y = min(max(x, min), max) (ReLU6 when min=0, max=6)", attrs={"min": REQUIRED, "max": REQUIRED}),
    "batchnorm": OpSchema(
        "y = scale * (x - mean) / sqrt(var + eps) + bias, per channel (axis 1)",
        attrs={"eps": 1e-5},
        params=("scale", "bias", "mean", "var"),
    ),
    "avgpool": OpSchema(
        "y = mean of each kernel window (count_include_pad: zeros of padding count in the divisor)",
        attrs={"kernel": REQUIRED, "stride": REQUIRED, "padding": (0, 0, 0, 0), "count_include_pad": 0},
    ),
    "globalavgpool": OpSchema("y[n,c,0,0] = mean over h, w of x[n,c]"),
    "maxpool": OpSchema(
        "y = max of each kernel window (padding is -inf; ceil_mode rounds the output size up)",
        attrs={"kernel": REQUIRED, "stride": REQUIRED, "padding": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": 0},
    ),
    "flatten": OpSchema("y = x.reshape(prod(shape[:axis]), prod(shape[axis:]))", attrs={"axis": 1}),
    "reshape": OpSchema(
        "y = x.reshape(shape) with ONNX semantics: 0 copies the input dim, -1 is inferred",
        attrs={"shape": REQUIRED},
    ),
    "transpose": OpSchema("y = x.transpose(perm)", attrs={"perm": REQUIRED}),
    "add": OpSchema(
        "y = a + b (two values, broadcasting), or y = x + const (one value and param 'const')",
        n_inputs=(1, 2),
        optional_params=("const",),
    ),
    "mul": OpSchema("y = x * const (param 'const', broadcasting)", params=("const",)),
    "concat": OpSchema("y = concatenate(inputs, axis)", n_inputs=(1, 64), attrs={"axis": 1}),
    "softmax": OpSchema("y = exp(x - max) / sum(exp(x - max)) along axis", attrs={"axis": -1}),
    "pad": OpSchema(
        "constant padding; pads = (begin_0..begin_r-1, end_0..end_r-1) as in ONNX",
        attrs={"pads": REQUIRED, "value": 0.0},
    ),
    "identity": OpSchema("y = x", canonical=False),
    "dropout": OpSchema("y = x (inference)", canonical=False),
}

# Ops whose output goes through a ReLU-like nonlinearity when followed by one of these.
ACTIVATIONS = ("relu", "clip")


def attr(node, name: str) -> Any:
    """The node's attribute, or the schema default."""
    if name in node.attrs:
        return node.attrs[name]
    default = OPS[node.op].attrs[name]
    if default is REQUIRED:
        raise KeyError(f"node {node.name}: missing required attribute '{name}'")
    return default
