"""BatchNorm folding preserves the function (float64, RTOL = ATOL = 1e-9: see conftest)."""
import numpy as np
import pytest

from snnc.compiler.ir.verify import verify
from snnc.compiler.passes import fold_batchnorm, infer_shapes


def bn_params(rng, c):
    """Non-trivial statistics: scale of both signs, nonzero mean, variance far from 1."""
    return {"scale": rng.normal(size=c) * 2, "bias": rng.normal(size=c),
            "mean": rng.normal(size=c) * 3, "var": rng.uniform(0.01, 5.0, size=c)}


def fold(g):
    out = fold_batchnorm(infer_shapes(g.copy()))
    assert verify(out, canonical=True) == []
    return out


@pytest.mark.parametrize("groups,bias", [(1, True), (1, False), (2, True), (4, False)])
def test_fold_into_conv(B, same, rng, groups, bias):
    b = B((None, 4, 6, 6))
    params = {"weight": rng.normal(size=(8, 4 // groups, 3, 3))}
    if bias:
        params["bias"] = rng.normal(size=8)
    b.add("conv", attrs={"groups": groups, "padding": (1, 1, 1, 1)}, **params)
    b.add("batchnorm", attrs={"eps": 1e-3}, **bn_params(rng, 8))
    b.add("relu")
    g = b.build()
    out = fold(g)
    assert [n.op for n in out.nodes] == ["conv", "relu"]
    assert out.outputs == g.outputs and out.nodes[0].name == "conv0"
    same(g, out, (2, 4, 6, 6))


def test_fold_into_linear(B, same, rng):
    b = B((None, 10))
    b.add("linear", weight=rng.normal(size=(6, 10)), bias=rng.normal(size=6))
    b.add("batchnorm", **bn_params(rng, 6))
    g = b.build()
    out = fold(g)
    assert [n.op for n in out.nodes] == ["linear"]
    same(g, out, (3, 10))


def test_not_folded_when_the_conv_output_has_another_reader(B, same, rng):
    b = B((None, 3, 5, 5))
    c = b.add("conv", weight=rng.normal(size=(3, 3, 3, 3)), attrs={"padding": (1, 1, 1, 1)})
    n = b.add("batchnorm", **bn_params(rng, 3))
    b.add("add", inputs=[c, n])
    g = b.build()
    out = fold(g)
    assert [x.op for x in out.nodes] == ["conv", "batchnorm", "add"]
    same(g, out, (2, 3, 5, 5))


def test_not_folded_after_relu_or_at_the_input(B, same, rng):
    b = B((None, 3, 5, 5))
    b.add("batchnorm", **bn_params(rng, 3))
    b.add("conv", weight=rng.normal(size=(3, 3, 3, 3)))
    b.add("relu")
    b.add("batchnorm", **bn_params(rng, 3))
    g = b.build()
    out = fold(g)
    assert [x.op for x in out.nodes] == ["batchnorm", "conv", "relu", "batchnorm"]
    same(g, out, (2, 3, 5, 5))


def test_bn_folded_conv_output_used_as_graph_output_is_not_folded(B, same, rng):
    b = B((None, 3, 5, 5))
    c = b.add("conv", weight=rng.normal(size=(3, 3, 3, 3)))
    n = b.add("batchnorm", **bn_params(rng, 3))
    g = b.build([n, c])
    out = fold(g)
    assert [x.op for x in out.nodes] == ["conv", "batchnorm"]
    same(g, out, (2, 3, 5, 5))
    np.testing.assert_array_equal(out.nodes[0].params["weight"], g.nodes[0].params["weight"])
