"""One test per supported ONNX op (and per opset where its semantics differ): a tiny model built
with onnx.helper, imported into the IR, run by the IR interpreter and by onnxruntime on random
inputs. Tolerance: atol=1e-5, rtol=1e-5 (float64 interpreter vs float32 onnxruntime)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from onnx import helper

from snnc.compiler.frontends.onnx import supported_ops

node = helper.make_node
R = np.random.default_rng(0)


def w(*shape):
    return R.standard_normal(shape).astype(np.float32)


def i64(*v):
    return np.array(v, dtype=np.int64)


def f32(*v):
    return np.array(v, dtype=np.float32)


@dataclass
class Case:
    nodes: list
    in_shape: tuple
    inits: dict = field(default_factory=dict)
    opsets: tuple = (11, 13, 21)
    ir_ops: tuple = ()  # IR ops the import must produce (in order)
    extra_outputs: tuple = ()


X4 = (2, 3, 8, 8)
CASES = {
    # -- conv ---------------------------------------------------------------------------------
    "conv": Case([node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[3, 3])], X4, {"W": w(4, 3, 3, 3), "B": w(4)}, ir_ops=("conv",)),
    "conv_stride_pad_nobias": Case([node("Conv", ["x", "W"], ["y"], strides=[2, 1], pads=[1, 0, 2, 1])], X4, {"W": w(5, 3, 3, 2)}),
    "conv_dilation": Case([node("Conv", ["x", "W", "B"], ["y"], dilations=[2, 3], pads=[2, 2, 2, 2])], X4, {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_groups": Case([node("Conv", ["x", "W", "B"], ["y"], group=3, pads=[1, 1, 1, 1])], (2, 6, 7, 7), {"W": w(9, 2, 3, 3), "B": w(9)}),
    "conv_depthwise": Case([node("Conv", ["x", "W"], ["y"], group=6, strides=[2, 2])], (2, 6, 7, 7), {"W": w(6, 1, 3, 3)}),
    "conv_same_upper": Case([node("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])], (1, 3, 7, 8), {"W": w(4, 3, 4, 3)}),
    "conv_same_lower": Case([node("Conv", ["x", "W"], ["y"], auto_pad="SAME_LOWER", strides=[2, 2])], (1, 3, 7, 8), {"W": w(4, 3, 4, 3)}),
    "conv_valid": Case([node("Conv", ["x", "W"], ["y"], auto_pad="VALID", strides=[2, 2])], X4, {"W": w(4, 3, 3, 3)}),
    "convtranspose": Case([node("ConvTranspose", ["x", "W", "B"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])],
                          X4, {"W": w(3, 4, 3, 3), "B": w(4)}, ir_ops=("conv",)),
    "convtranspose_asymmetric": Case([node("ConvTranspose", ["x", "W"], ["y"], strides=[3, 2], pads=[0, 1, 2, 0], output_padding=[2, 0])],
                                     X4, {"W": w(3, 2, 3, 2)}),
    "convtranspose_valid_stride1": Case([node("ConvTranspose", ["x", "W"], ["y"], auto_pad="VALID")], X4, {"W": w(3, 2, 2, 2)}),
    # -- gemm / matmul ------------------------------------------------------------------------------
    "gemm_transB": Case([node("Gemm", ["x", "W", "B"], ["y"], transB=1)], (3, 6), {"W": w(4, 6), "B": w(4)}, ir_ops=("gemm",)),
    "gemm_alpha_beta_rowbias": Case([node("Gemm", ["x", "W", "B"], ["y"], alpha=0.5, beta=2.0)], (3, 6), {"W": w(6, 4), "B": w(1, 4)}),
    "gemm_transA_nobias": Case([node("Gemm", ["x", "W"], ["y"], transA=1)], (6, 3), {"W": w(6, 4)}),
    "matmul": Case([node("MatMul", ["x", "W"], ["y"])], (3, 6), {"W": w(6, 4)}, ir_ops=("matmul",)),
    "matmul_add": Case([node("MatMul", ["x", "W"], ["h"]), node("Add", ["h", "B"], ["y"])], (3, 6), {"W": w(6, 4), "B": w(4)}, ir_ops=("matmul", "add")),
    # -- activations ------------------------------------------------------------------------------------
    "relu": Case([node("Relu", ["x"], ["y"])], X4, ir_ops=("relu",)),
    "clip_relu6": Case([node("Clip", ["x", "lo", "hi"], ["y"])], X4, {"lo": f32(0.0).reshape(()), "hi": f32(0.5).reshape(())}, ir_ops=("clip",)),
    "clip_min_only": Case([node("Clip", ["x", "lo"], ["y"])], X4, {"lo": f32(-0.2).reshape(())}),
    "clip_max_only": Case([node("Clip", ["x", "", "hi"], ["y"])], X4, {"hi": f32(0.3).reshape(())}),
    "clip_from_constant_nodes": Case(
        [node("Constant", [], ["lo"], value_float=0.0), node("Constant", [], ["hi"], value=helper.make_tensor("v", 1, [], [6.0])),
         node("Mul", ["x", "k"], ["s"]), node("Clip", ["s", "lo", "hi"], ["y"])],
        X4, {"k": f32(5.0)}, opsets=(13, 21), ir_ops=("mul", "clip")),
    # -- batchnorm -------------------------------------------------------------------------------------
    "batchnorm": Case([node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], epsilon=1e-3)], X4,
                      {"g": w(3), "b": w(3), "m": w(3), "v": np.abs(w(3)) + 0.1}, opsets=(11, 14, 15, 21), ir_ops=("batchnorm",)),
    # -- pooling -----------------------------------------------------------------------------------------
    "avgpool": Case([node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], X4, ir_ops=("avgpool",)),
    "avgpool_pads_exclude": Case([node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], X4),
    "avgpool_pads_include": Case([node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 2], count_include_pad=1)], X4),
    "avgpool_ceil_same_size": Case([node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)], X4),
    "avgpool_same_upper": Case([node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")], (1, 2, 7, 8)),
    "globalavgpool": Case([node("GlobalAveragePool", ["x"], ["y"])], X4, ir_ops=("globalavgpool",)),
    "reducemean_hw_keepdims": Case([node("ReduceMean", ["x"], ["y"], axes=[2, 3])], X4, opsets=(11, 13), ir_ops=("globalavgpool",)),
    "reducemean_hw_axes_input": Case([node("ReduceMean", ["x", "ax"], ["y"], keepdims=0)], X4, {"ax": i64(-1, -2)}, opsets=(18, 21),
                                     ir_ops=("globalavgpool", "reshape")),
    "maxpool": Case([node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], X4, ir_ops=("maxpool",)),
    "maxpool_pads_dilation": Case([node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[1, 2], pads=[1, 1, 1, 1], dilations=[2, 1])], X4),
    "maxpool_ceil": Case([node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], (2, 3, 8, 9)),
    "maxpool_ceil_pads": Case([node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)], (1, 2, 5, 6)),
    "maxpool_same_lower": Case([node("MaxPool", ["x"], ["y"], kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_LOWER")], (1, 2, 7, 8)),
    "maxpool_indices_unused": Case([node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2], strides=[2, 2])], X4),
    # -- shape ops -----------------------------------------------------------------------------------------
    "flatten": Case([node("Flatten", ["x"], ["y"])], X4, ir_ops=("flatten",)),
    "flatten_axis2": Case([node("Flatten", ["x"], ["y"], axis=2)], X4),
    "flatten_axis0": Case([node("Flatten", ["x"], ["y"], axis=0)], X4),
    "flatten_axis_neg": Case([node("Flatten", ["x"], ["y"], axis=-1)], X4),
    "flatten_axis_rank": Case([node("Flatten", ["x"], ["y"], axis=4)], X4),
    "reshape": Case([node("Reshape", ["x", "s"], ["y"])], X4, {"s": i64(2, -1)}, ir_ops=("reshape",)),
    "reshape_zero_copies": Case([node("Reshape", ["x", "s"], ["y"])], X4, {"s": i64(0, 3, -1, 4)}),
    "reshape_constant_node": Case([node("Constant", [], ["s"], value_ints=[0, 24, 8]), node("Reshape", ["x", "s"], ["y"])], X4, opsets=(13, 21)),
    "transpose": Case([node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], X4, ir_ops=("transpose",)),
    "transpose_default_perm": Case([node("Transpose", ["x"], ["y"])], X4),
    # -- elementwise ----------------------------------------------------------------------------------------
    "add_two_tensors": Case([node("Relu", ["x"], ["r"]), node("Add", ["x", "r"], ["y"])], X4, ir_ops=("relu", "add")),
    "add_const": Case([node("Add", ["x", "c"], ["y"])], X4, {"c": w(3, 1, 1)}, ir_ops=("add",)),
    "add_const_first": Case([node("Add", ["c", "x"], ["y"])], X4, {"c": w(8)}),
    "mul_const": Case([node("Mul", ["x", "c"], ["y"])], X4, {"c": w(1, 3, 1, 1)}, ir_ops=("mul",)),
    "mul_scalar_first": Case([node("Mul", ["c", "x"], ["y"])], X4, {"c": f32(0.25).reshape(())}),
    # -- misc -------------------------------------------------------------------------------------------------
    "concat": Case([node("Relu", ["x"], ["r"]), node("Concat", ["x", "r"], ["y"], axis=1)], X4, ir_ops=("relu", "concat")),
    "concat_neg_axis": Case([node("Relu", ["x"], ["r"]), node("Concat", ["r", "x", "r"], ["y"], axis=-1)], X4),
    "identity": Case([node("Identity", ["x"], ["y"])], X4, ir_ops=("identity",)),
    "dropout": Case([node("Dropout", ["x"], ["y"])], X4, ir_ops=("dropout",)),
    "dropout_ratio_attr_mask_unused": Case([node("Dropout", ["x"], ["y", "mask"], ratio=0.3)], X4, opsets=(11,)),
    "dropout_ratio_inputs": Case([node("Dropout", ["x", "ratio", "train"], ["y"])], X4,
                                 {"ratio": f32(0.5).reshape(()), "train": np.array(False)}, opsets=(13, 21)),
    "softmax_2d": Case([node("Softmax", ["x"], ["y"])], (3, 10), ir_ops=("softmax",)),
    "softmax_axis1_4d": Case([node("Softmax", ["x"], ["y"], axis=1)], X4),  # opset 11: over C*H*W; 13: over C
    "softmax_default_axis_4d": Case([node("Softmax", ["x"], ["y"])], X4),  # default 1 before 13, -1 after
    "softmax_last_axis": Case([node("Softmax", ["x"], ["y"], axis=-1)], X4),
    "pad": Case([node("Pad", ["x", "p", "v"], ["y"])], X4, {"p": i64(0, 0, 1, 2, 0, 0, 3, 0), "v": f32(0.5).reshape(())}, ir_ops=("pad",)),
    "pad_default_value": Case([node("Pad", ["x", "p"], ["y"], mode="constant")], X4, {"p": i64(0, 0, 1, 1, 0, 0, 1, 1)}),
    "pad_axes": Case([node("Pad", ["x", "p", "", "ax"], ["y"])], X4, {"p": i64(2, 1, 0, 3), "ax": i64(2, -1)}, opsets=(18, 21)),
    "pad_constant_nodes": Case([node("Constant", [], ["p"], value_ints=[0, 0, 1, 1, 0, 0, 1, 1]), node("Constant", [], ["v"], value_float=-1.0),
                                node("Pad", ["x", "p", "v"], ["y"])], X4, opsets=(13,)),
    # -- tf2onnx's GlobalAveragePooling2D: ReduceMean over (H, W) keeping dims, then Squeeze --------------
    "reducemean_squeeze_attr": Case([node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
                                     node("Squeeze", ["m"], ["y"], axes=[2, 3])], X4, opsets=(11,),
                                    ir_ops=("globalavgpool", "reshape")),
    "reducemean_squeeze_input": Case([node("ReduceMean", ["x"], ["m"], axes=[-2, -1], keepdims=1),
                                      node("Squeeze", ["m", "ax"], ["y"])], X4, {"ax": i64(2, 3)}, opsets=(13,),
                                     ir_ops=("globalavgpool", "reshape")),
    # -- shape arithmetic folded away: x.view(x.size(0), -1) as the legacy exporter writes it ------------------
    "shape_gather_unsqueeze_concat_reshape": Case(
        [node("Shape", ["x"], ["s"]), node("Constant", [], ["i0"], value=helper.make_tensor("i", 7, [], [0])),
         node("Gather", ["s", "i0"], ["b"], axis=0), node("Unsqueeze", ["b", "ax0"], ["b1"]),
         node("Constant", [], ["m1"], value_ints=[-1]), node("Concat", ["b1", "m1"], ["shp"], axis=0),
         node("Reshape", ["x", "shp"], ["y"])],
        ("N", 3, 4, 4), {"ax0": i64(0)}, opsets=(13, 21), ir_ops=("reshape",)),
    "shape_chain_opset11": Case(
        [node("Shape", ["x"], ["s"]), node("Gather", ["s", "i0"], ["b"], axis=0), node("Unsqueeze", ["b"], ["b1"], axes=[0]),
         node("Slice", ["s", "st", "en"], ["hw"]), node("Cast", ["hw"], ["hw64"], to=7),
         node("Concat", ["b1", "hw64", "m1"], ["shp"], axis=0), node("Reshape", ["x", "shp"], ["y"])],
        ("N", 3, 4, 4), {"i0": np.array(0, np.int64), "st": i64(1), "en": i64(2), "m1": i64(-1)}, opsets=(11,), ir_ops=("reshape",)),
    # -- Unsqueeze of a data tensor: a batch-keeping reshape ---------------------------------------------------
    "unsqueeze_data": Case([node("Unsqueeze", ["x", "ax"], ["y"])], ("N", 3, 4, 4), {"ax": i64(2, -1)}, opsets=(13, 21),
                           ir_ops=("reshape",)),
    "unsqueeze_data_attr": Case([node("Unsqueeze", ["x"], ["y"], axes=[1])], ("N", 3, 4, 4), opsets=(11,), ir_ops=("reshape",)),
    "constant_subgraph_folded": Case(
        [node("Mul", ["W0", "k"], ["W"]), node("Conv", ["x", "W"], ["y"])], X4, {"W0": w(2, 3, 1, 1), "k": f32(2.0)}, ir_ops=("conv",)),
}

PARAMS = [pytest.param(name, opset, id=f"{name}-opset{opset}") for name, case in CASES.items() for opset in case.opsets]


@pytest.mark.parametrize("name,opset", PARAMS)
def test_op_matches_onnxruntime(name, opset, build_model, assert_matches_ort):
    case = CASES[name]
    model = build_model(case.nodes, case.in_shape, opset=opset, inits=case.inits, extra_outputs=case.extra_outputs)
    shape = tuple(3 if d == "N" else d for d in case.in_shape)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    graph = assert_matches_ort(model, x)
    if case.ir_ops:
        assert tuple(n.op for n in graph.nodes) == case.ir_ops
    if "N" in case.in_shape:  # dynamic batch stays dynamic: another batch size runs too
        assert graph.values[graph.inputs[0]].shape[0] is None
        assert_matches_ort(model, np.random.default_rng(2).standard_normal((5,) + shape[1:]).astype(np.float32))


def test_every_registered_op_has_a_test():
    tested = {n.op_type for case in CASES.values() for n in case.nodes}
    assert set(supported_ops()) <= tested, set(supported_ops()) - tested


def test_softmax_semantics_change_at_opset_13(build_model):
    """Softmax(axis=1) on NCHW: opset 11 normalises over C*H*W, opset 13 over C only."""
    from snnc.compiler.frontends.onnx import load_onnx
    from snnc.compiler.ir.interpret import run

    x = np.random.default_rng(3).standard_normal(X4).astype(np.float32)
    sums = {}
    for opset in (11, 13):
        g = load_onnx(build_model([node("Softmax", ["x"], ["y"], axis=1)], X4, opset=opset))
        sums[opset] = run(g, x)["y"].sum(axis=1)
    assert not np.allclose(sums[11], 1.0)
    np.testing.assert_allclose(sums[13], 1.0, atol=1e-12)
