"""Write a canonical snnc IR graph back to an ONNX model (opset 17), one small writer per op.

Used to export a fine-tuned model: node and value names are kept, so `snnc compile` of the
exported file names its layers as it names the original model's. Parameters are stored as
float32 initializers named `<node>.<param>`; Clip bounds, Reshape shapes and Pad widths are
constant initializers, as the snnc ONNX front end expects them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import attr
from snnc.compiler.registry import Registry

OPSET = 17


class _Ctx:
    def __init__(self):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, arr: np.ndarray, dtype=np.float32) -> str:
        self.inits.append(self.numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    def emit(self, op_type: str, node: Node, inputs: list[str], **attrs) -> None:
        self.nodes.append(self.helper.make_node(op_type, inputs, list(node.outputs), name=node.name, **attrs))


Writer = Callable[[Node, _Ctx], None]
WRITERS = Registry("ONNX writer")
writer = WRITERS.register


def _param(node: Node, ctx: _Ctx, pname: str) -> str:
    return ctx.const(f"{node.name}.{pname}", node.params[pname])


@writer("conv")
def _conv(node, ctx):
    ins = [node.input, _param(node, ctx, "weight")] + ([_param(node, ctx, "bias")] if "bias" in node.params else [])
    w = node.params["weight"]
    if tuple(attr(node, "input_dilation")) != (1, 1):
        from snnc.compiler.errors import SnncError

        raise SnncError(f"layer {node.name}: a transposed convolution (input_dilation {list(attr(node, 'input_dilation'))}) "
                        "cannot be written back to ONNX yet; fine-tune the original model instead")
    ctx.emit("Conv", node, ins, kernel_shape=list(w.shape[2:]), strides=list(attr(node, "stride")),
             pads=list(attr(node, "padding")), dilations=list(attr(node, "dilation")), group=int(attr(node, "groups")))


@writer("linear")
def _linear(node, ctx):
    ins = [node.input, _param(node, ctx, "weight")] + ([_param(node, ctx, "bias")] if "bias" in node.params else [])
    ctx.emit("Gemm", node, ins, transB=1)


@writer("relu")
def _relu(node, ctx):
    ctx.emit("Relu", node, [node.input])


@writer("clip")
def _clip(node, ctx):
    lo = ctx.const(f"{node.name}.min", np.array(attr(node, "min")))
    hi = ctx.const(f"{node.name}.max", np.array(attr(node, "max")))
    ctx.emit("Clip", node, [node.input, lo, hi])


@writer("avgpool")
def _avgpool(node, ctx):
    ctx.emit("AveragePool", node, [node.input], kernel_shape=list(attr(node, "kernel")), strides=list(attr(node, "stride")),
             pads=list(attr(node, "padding")), count_include_pad=int(attr(node, "count_include_pad")))


@writer("maxpool")
def _maxpool(node, ctx):
    ctx.emit("MaxPool", node, [node.input], kernel_shape=list(attr(node, "kernel")), strides=list(attr(node, "stride")),
             pads=list(attr(node, "padding")), dilations=list(attr(node, "dilation")), ceil_mode=int(attr(node, "ceil_mode")))


@writer("globalavgpool")
def _gap(node, ctx):
    ctx.emit("GlobalAveragePool", node, [node.input])


@writer("flatten")
def _flatten(node, ctx):
    ctx.emit("Flatten", node, [node.input], axis=int(attr(node, "axis")))


@writer("reshape")
def _reshape(node, ctx):
    shape = ctx.const(f"{node.name}.shape", np.array(attr(node, "shape")), dtype=np.int64)
    ctx.emit("Reshape", node, [node.input, shape])


@writer("transpose")
def _transpose(node, ctx):
    ctx.emit("Transpose", node, [node.input], perm=list(attr(node, "perm")))


@writer("add")
def _add(node, ctx):
    ins = list(node.inputs) if len(node.inputs) == 2 else [node.input, _param(node, ctx, "const")]
    ctx.emit("Add", node, ins)


@writer("mul")
def _mul(node, ctx):
    ctx.emit("Mul", node, [node.input, _param(node, ctx, "const")])


@writer("concat")
def _concat(node, ctx):
    ctx.emit("Concat", node, list(node.inputs), axis=int(attr(node, "axis")))


@writer("softmax")
def _softmax(node, ctx):
    ctx.emit("Softmax", node, [node.input], axis=int(attr(node, "axis")))


@writer("batchnorm")
def _batchnorm(node, ctx):
    ins = [node.input] + [_param(node, ctx, p) for p in ("scale", "bias", "mean", "var")]
    ctx.emit("BatchNormalization", node, ins, epsilon=float(attr(node, "eps")))


@writer("pad")
def _pad(node, ctx):
    pads = ctx.const(f"{node.name}.pads", np.array(attr(node, "pads")), dtype=np.int64)
    value = ctx.const(f"{node.name}.value", np.array(attr(node, "value")))
    ctx.emit("Pad", node, [node.input, pads, value])


@writer("identity", "dropout")
def _identity(node, ctx):
    ctx.emit("Identity", node, [node.input])


def to_onnx(graph: Graph):
    """The ONNX ModelProto of `graph` (canonical ops; float32 tensors; dynamic batch 'N')."""
    import onnx
    from onnx import TensorProto, helper

    missing = sorted({n.op for n in graph.nodes if n.op not in WRITERS})
    if missing:
        raise SnncError(f"{graph.name}: cannot write ops {', '.join(missing)} to ONNX")
    ctx = _Ctx()
    for n in graph.nodes:
        WRITERS[n.op](n, ctx)

    def info(name: str):
        shape = graph.shape(name)
        dims = None if shape is None else ["N" if d is None else int(d) for d in shape]
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)

    g = helper.make_graph(ctx.nodes, graph.name or "snnc", [info(v) for v in graph.inputs],
                          [info(v) for v in graph.outputs], initializer=ctx.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snnc-finetune")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save_onnx(graph: Graph, path: str | Path) -> Path:
    from snnc.compiler.atomic import write_bytes

    return write_bytes(path, to_onnx(graph).SerializeToString())  # atomic: fsynced temp file, then rename
