"""Transpose-pair cancellation through elementwise ops (issue 14): what tf2onnx writes with its
optimizers off — conv -> Transpose(NHWC) -> Add(BN bias, per last axis) -> Relu -> Transpose(NCHW),
and residual Adds of two NHWC tensors — becomes the NCHW graph with no transpose; each rewrite
preserves the float function."""
from __future__ import annotations

import numpy as np
from snnc.compiler.ir.verify import verify
from snnc.compiler.passes import canonicalize, infer_shapes

TO_NHWC, TO_NCHW = {"perm": (0, 2, 3, 1)}, {"perm": (0, 3, 1, 2)}


def canon(g):
    out = canonicalize(g.copy())
    assert verify(out, canonical=True) == []
    return out


def ops(g):
    return [n.op for n in g.nodes]


def test_bias_add_and_relu_in_nhwc_between_transposes(B, same, rng):
    b = B((2, 3, 6, 6))
    b.add("conv", attrs={"padding": (1, 1, 1, 1)}, weight=rng.normal(size=(4, 3, 3, 3)))
    b.add("transpose", attrs=TO_NHWC)
    b.add("add", const=rng.normal(size=4))               # the BN's bias, one per channel of NHWC
    b.add("mul", const=rng.random(4) + 0.5)
    b.add("relu")
    b.add("transpose", attrs=TO_NCHW)
    b.add("avgpool", attrs={"kernel": (2, 2), "stride": (2, 2)})
    g = infer_shapes(b.build())
    out = canon(g)
    assert "transpose" not in ops(out) and ops(out)[-2:] == ["relu", "avgpool"]
    same(g, out, (2, 3, 6, 6))


def test_residual_add_of_two_nhwc_tensors(B, same, rng):
    """stem -> NHWC relu read by the next conv's transpose and by the residual add."""
    b = B((2, 3, 5, 5))
    b.add("conv", attrs={"padding": (1, 1, 1, 1)}, weight=rng.normal(size=(4, 3, 3, 3)))
    b.add("transpose", attrs=TO_NHWC)
    stem = b.add("relu")
    b.add("transpose", attrs=TO_NCHW)
    b.add("conv", attrs={"padding": (1, 1, 1, 1)}, weight=rng.normal(size=(4, 4, 3, 3)))
    b.add("transpose", attrs=TO_NHWC)
    y = b.add("add", const=rng.normal(size=4))
    b.add("add", inputs=[y, stem])
    b.add("relu")
    b.add("transpose", attrs=TO_NCHW)
    b.add("globalavgpool")
    g = infer_shapes(b.build())
    out = canon(g)
    assert "transpose" not in ops(out)
    assert ops(out) == ["conv", "relu", "conv", "add", "relu", "globalavgpool"]
    same(g, out, (2, 3, 5, 5))


def test_a_transpose_no_transpose_follows_stays(B, same, rng):
    b = B((2, 3, 4, 5))
    b.add("conv", weight=rng.normal(size=(2, 3, 1, 1)))
    b.add("transpose", attrs=TO_NHWC)
    b.add("add", const=rng.normal(size=2))
    b.add("relu")
    g = infer_shapes(b.build())
    out = canon(g)
    assert ops(out) == ["conv", "transpose", "add", "relu"]
    same(g, out, (2, 3, 4, 5))


def test_a_constant_that_is_not_per_channel_is_permuted(B, same, rng):
    b = B((2, 3, 4, 5))
    b.add("conv", weight=rng.normal(size=(2, 3, 1, 1)))
    b.add("transpose", attrs=TO_NHWC)
    b.add("add", const=rng.normal(size=(4, 5, 2)))  # (H, W, C) of the NHWC tensor
    b.add("transpose", attrs=TO_NCHW)
    g = infer_shapes(b.build())
    out = canon(g)
    assert "transpose" not in ops(out)
    assert np.asarray(out.nodes[-1].params["const"]).shape == (1, 2, 4, 5)
    same(g, out, (2, 3, 4, 5))
