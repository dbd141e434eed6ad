"""Each rewrite preserves the float function (see conftest: RTOL = ATOL = 1e-9, float64)."""
import numpy as np
import pytest

from snnc.compiler.ir.verify import verify
from snnc.compiler.passes import canonicalize, fold_batchnorm, infer_shapes


def canon(g):
    out = canonicalize(g.copy())
    assert verify(out, canonical=True) == []
    return out


def ops(g):
    return [n.op for n in g.nodes]


def test_drops_identity_and_dropout(B, same, rng):
    b = B((2, 3, 4, 4))
    b.add("identity")
    b.add("conv", weight=rng.normal(size=(2, 3, 3, 3)))
    b.add("dropout")
    g = b.build()
    out = canon(g)
    assert ops(out) == ["conv"]
    same(g, out, (2, 3, 4, 4))


def test_identity_between_input_and_output(B, same):
    b = B((2, 5))
    b.add("identity")
    g = b.build()
    out = canon(g)
    assert out.nodes == [] and out.outputs == ["x"]
    same(g, out, (2, 5))


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias_shape", [None, (4,), (1, 4), (), (3, 4)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, 2.0)])
def test_gemm_to_linear(B, same, rng, trans_b, bias_shape, alpha, beta):
    b = B((3, 6))
    w = rng.normal(size=(4, 6) if trans_b else (6, 4))
    params = {"weight": w}
    if bias_shape is not None:
        params["bias"] = rng.normal(size=bias_shape)
    b.add("gemm", attrs={"alpha": alpha, "beta": beta, "transB": trans_b}, **params)
    g = b.build()
    out = canon(g)
    assert ops(out)[0] == "linear" and out.nodes[0].params["weight"].shape == (4, 6)
    if bias_shape == (3, 4):  # one bias per row: kept as an add of a constant
        assert ops(out) == ["linear", "add"]
    else:
        assert ops(out) == ["linear"]
    same(g, out, (3, 6))


def test_gemm_trans_a(B, same, rng):
    b = B((6, 3))
    b.add("gemm", attrs={"transA": 1}, weight=rng.normal(size=(6, 4)), bias=rng.normal(size=(4,)))
    g = b.build()
    out = canon(g)
    assert ops(out) == ["transpose", "linear"]
    same(g, out, (6, 3))


def test_matmul_add_to_linear_with_bias(B, same, rng):
    b = B((None, 5))
    b.add("matmul", weight=rng.normal(size=(5, 7)))
    b.add("add", const=rng.normal(size=(7,)))
    g = b.build()
    out = canon(g)
    assert ops(out) == ["linear"] and out.nodes[0].params["bias"].shape == (7,)
    assert out.outputs == g.outputs
    same(g, out, (3, 5))


def test_matmul_add_with_second_reader_keeps_the_add(B, same, rng):
    b = B((None, 5))
    mm = b.add("matmul", weight=rng.normal(size=(5, 7)))
    add = b.add("add", const=rng.normal(size=(7,)))
    g = b.build([add, mm])
    out = canon(g)
    assert ops(out) == ["linear", "add"]
    same(g, out, (3, 5))


def test_conv_add_per_channel_into_bias(B, same, rng):
    b = B((None, 3, 5, 5))
    b.add("conv", weight=rng.normal(size=(4, 3, 3, 3)), bias=rng.normal(size=(4,)))
    b.add("add", const=rng.normal(size=(1, 4, 1, 1)))
    g = b.build()
    out = canon(g)
    assert ops(out) == ["conv"]
    same(g, out, (2, 3, 5, 5))


def test_conv_add_not_per_channel_stays(B, same, rng):
    b = B((None, 3, 5, 5))
    b.add("conv", weight=rng.normal(size=(4, 3, 3, 3)))
    b.add("add", const=rng.normal(size=(4, 3, 3)))  # per position, not per channel
    g = b.build()
    out = canon(g)
    assert ops(out) == ["conv", "add"]
    same(g, out, (2, 3, 5, 5))


def test_mul_add_becomes_batchnorm_and_folds(B, same, rng):
    """The tf2onnx BatchNorm form: conv -> mul(c) -> add(c)."""
    b = B((None, 3, 5, 5))
    b.add("conv", weight=rng.normal(size=(4, 3, 3, 3)))
    b.add("mul", const=rng.normal(size=(4, 1, 1)))
    b.add("add", const=rng.normal(size=(4, 1, 1)))
    b.add("relu")
    g = b.build()
    out = canon(g)
    assert ops(out) == ["conv", "batchnorm", "relu"]
    same(g, out, (2, 3, 5, 5))
    folded = fold_batchnorm(out.copy())
    assert ops(folded) == ["conv", "relu"]
    same(g, folded, (2, 3, 5, 5))


def test_mul_by_scalar_on_2d_becomes_batchnorm(B, same, rng):
    b = B((None, 6))
    b.add("mul", const=np.array(2.5))
    g = b.build()
    out = canon(g)
    assert ops(out) == ["batchnorm"]
    same(g, out, (3, 6))


def pad_attrs(t, l, b_, r, value=0.0, extra=(0, 0, 0, 0)):
    n0, c0, n1, c1 = extra
    return {"pads": (n0, c0, t, l, n1, c1, b_, r), "value": value}


def test_pad_folds_into_conv(B, same, rng):
    b = B((None, 2, 6, 6))
    b.add("pad", attrs=pad_attrs(1, 2, 0, 1))
    b.add("conv", attrs={"padding": (1, 0, 1, 0)}, weight=rng.normal(size=(3, 2, 3, 3)))
    g = b.build()
    out = canon(g)
    assert ops(out) == ["conv"] and out.nodes[0].attrs["padding"] == (2, 2, 1, 1)
    same(g, out, (2, 2, 6, 6))


@pytest.mark.parametrize("cip,own", [(0, (0, 0, 0, 0)), (1, (0, 0, 0, 0)), (1, (1, 1, 1, 1))])
def test_pad_folds_into_avgpool(B, same, cip, own):
    b = B((None, 2, 6, 6))
    b.add("pad", attrs=pad_attrs(1, 1, 1, 1))
    b.add("avgpool", attrs={"kernel": (3, 3), "stride": (2, 2), "padding": own, "count_include_pad": cip})
    g = b.build()
    out = canon(g)
    assert ops(out) == ["avgpool"] and out.nodes[0].attrs["count_include_pad"] == 1
    same(g, out, (2, 2, 6, 6))


@pytest.mark.parametrize("attrs,nxt", [
    (pad_attrs(1, 1, 1, 1, value=1.0), "conv"),                  # nonzero pad value
    (pad_attrs(1, 1, 1, 1, extra=(0, 1, 0, 1)), "conv"),          # pads channels
    (pad_attrs(1, 1, 1, 1), "avgpool"),                           # avgpool excludes its own padding
])
def test_pad_that_cannot_fold_stays(B, same, rng, attrs, nxt):
    b = B((None, 2, 6, 6))
    b.add("pad", attrs=attrs)
    c = 2 + (2 if attrs["pads"][1] else 0)
    if nxt == "conv":
        b.add("conv", weight=rng.normal(size=(3, c, 3, 3)))
    else:
        b.add("avgpool", attrs={"kernel": (2, 2), "stride": (2, 2), "padding": (1, 1, 1, 1)})
    g = b.build()
    out = canon(g)
    assert ops(out) == ["pad", nxt]
    same(g, out, (2, 2, 6, 6))


@pytest.mark.parametrize("batch,target,flattens", [
    (None, (0, -1), True),
    (None, (-1, 48), True),
    (None, (1, 48), True),       # only valid for batch 1, where it is the flatten
    (2, (2, -1), True),
    (None, (1, -1), False),      # batch unknown: (1, -1) is not a flatten for batch > 1
    (None, (-1, 12), False),
    (None, (0, 3, 16), False),
])
def test_reshape_to_flatten(B, same, batch, target, flattens):
    b = B((batch, 3, 4, 4))
    b.add("reshape", attrs={"shape": target})
    g = b.build()
    out = canon(g)
    assert ops(out) == (["flatten"] if flattens else ["reshape"])
    n = batch or (1 if target[0] == 1 else 2)
    same(g, out, (n, 3, 4, 4))


def test_canonical_ops_only_after_canonicalize(B, rng):
    b = B((None, 1, 8, 8))
    b.add("pad", attrs=pad_attrs(1, 1, 1, 1))
    b.add("conv", weight=rng.normal(size=(4, 1, 3, 3)))
    b.add("relu")
    b.add("dropout")
    b.add("reshape", attrs={"shape": (0, -1)})
    b.add("gemm", attrs={"transB": 1}, weight=rng.normal(size=(10, 256)), bias=rng.normal(size=(10,)))
    g = b.build()
    out = canon(g)
    assert ops(out) == ["conv", "relu", "flatten", "linear"]
    assert verify(infer_shapes(out)) == []


def test_transpose_pairs_around_relu_and_batchnorm_cancel(B, same, rng):
    """tf2onnx with its optimizers off: each NCHW op is wrapped in NHWC <-> NCHW transposes, with
    the ReLU in between in NHWC (issue 14). The ReLU moves before the first transpose, the pairs
    meet and cancel, and nothing of the layout is left."""
    to_nhwc, to_nchw = {"perm": (0, 2, 3, 1)}, {"perm": (0, 3, 1, 2)}
    b = B((2, 3, 6, 6))
    b.add("conv", attrs={"padding": (1, 1, 1, 1)}, weight=rng.normal(size=(4, 3, 3, 3)))
    b.add("transpose", attrs=to_nhwc)
    b.add("transpose", attrs=to_nchw)
    b.add("batchnorm", scale=rng.random(4) + 0.5, bias=rng.normal(size=4), mean=rng.normal(size=4),
          var=rng.random(4) + 0.5)
    b.add("transpose", attrs=to_nhwc)
    b.add("relu")
    b.add("transpose", attrs=to_nchw)
    b.add("conv", weight=rng.normal(size=(2, 4, 3, 3)))
    b.add("transpose", attrs=to_nhwc)
    b.add("clip", attrs={"min": 0.0, "max": 6.0})
    b.add("transpose", attrs=to_nchw)
    g = infer_shapes(b.build())
    out = canon(g)
    assert "transpose" not in ops(out)
    assert ops(out) == ["conv", "batchnorm", "relu", "conv", "clip"]
    same(g, out, (2, 3, 6, 6))


def test_a_lone_transpose_before_relu_stays(B, same, rng):
    b = B((2, 3, 4, 5))
    b.add("conv", weight=rng.normal(size=(2, 3, 1, 1)))
    b.add("transpose", attrs={"perm": (0, 2, 3, 1)})
    b.add("relu")
    g = infer_shapes(b.build())
    out = canon(g)
    assert ops(out) == ["conv", "transpose", "relu"]
    same(g, out, (2, 3, 4, 5))
