"""The reference interpreter: a kernel for every op (found by introspection), and conv/pool
kernels checked against torch.nn.functional on random inputs (atol=1e-9 vs float64 torch)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.errors import SnncError
from snnc.compiler.ir import interpret
from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.compiler.ir.ops import OPS

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = dict(atol=1e-9, rtol=1e-9)


def test_every_op_has_a_kernel():
    assert set(OPS) <= set(interpret.KERNELS), sorted(set(OPS) - set(interpret.KERNELS))


def test_unknown_op_is_an_error_not_a_crash():
    g = Graph("g", ["x"], ["y"], [Node("n", "nope", ["x"], ["y"])], {"x": Value("x"), "y": Value("y")})
    with pytest.raises(SnncError, match="no kernel for op 'nope'"):
        interpret.run(g, np.zeros(1))


def one(op, attrs=None, params=None):
    return Graph("g", ["x"], ["y"], [Node("n", op, ["x"], ["y"], attrs or {}, params or {})], {"x": Value("x"), "y": Value("y")})


def run1(op, x, attrs=None, params=None):
    return interpret.run(one(op, attrs, params), x)["y"]


CONV_CASES = [
    dict(c=3, o=4, k=(3, 3), stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1),
    dict(c=3, o=5, k=(3, 2), stride=(2, 1), padding=(1, 0, 1, 0), dilation=(1, 1), groups=1),
    dict(c=4, o=6, k=(3, 3), stride=(1, 2), padding=(2, 2, 2, 2), dilation=(2, 1), groups=2),
    dict(c=6, o=6, k=(5, 5), stride=(2, 2), padding=(2, 2, 2, 2), dilation=(1, 1), groups=6),
    dict(c=2, o=3, k=(1, 1), stride=(3, 3), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c['k']}s{c['stride']}d{c['dilation']}g{c['groups']}")
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_torch(case, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, case["c"], 11, 10))
    w = rng.standard_normal((case["o"], case["c"] // case["groups"], *case["k"]))
    b = rng.standard_normal(case["o"]) if bias else None
    t, l, bo, r = case["padding"]
    assert (t, l) == (bo, r)  # torch's conv pads symmetrically
    ref = F.conv2d(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b),
                   stride=case["stride"], padding=(t, l), dilation=case["dilation"], groups=case["groups"]).numpy()
    params = {"weight": w} | ({"bias": b} if bias else {})
    attrs = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    np.testing.assert_allclose(run1("conv", x, attrs, params), ref, **TOL)


def test_conv_asymmetric_padding_matches_padded_torch():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 6, 7)), rng.standard_normal((3, 2, 3, 3))
    ref = F.conv2d(F.pad(torch.tensor(x), (0, 2, 1, 0)), torch.tensor(w)).numpy()  # (left, right, top, bottom)
    np.testing.assert_allclose(run1("conv", x, {"padding": (1, 0, 0, 2)}, {"weight": w}), ref, **TOL)


POOL_CASES = [  # kernel, stride, padding (symmetric), dilation, ceil_mode, input H, W
    ((2, 2), (2, 2), 0, (1, 1), 0, (8, 8)),
    ((3, 3), (2, 2), 1, (1, 1), 0, (9, 8)),
    ((3, 3), (2, 2), 0, (1, 1), 1, (8, 9)),
    ((3, 2), (2, 3), 1, (1, 1), 1, (7, 10)),
    ((2, 2), (2, 2), 1, (1, 1), 1, (5, 6)),  # last ceil window would start in the padding: dropped
    ((3, 3), (1, 2), 1, (2, 1), 0, (9, 9)),
    ((3, 3), (3, 3), 1, (2, 2), 1, (10, 11)),
]


@pytest.mark.parametrize("k,s,p,d,ceil,hw", POOL_CASES)
def test_maxpool_matches_torch(k, s, p, d, ceil, hw):
    x = np.random.default_rng(2).standard_normal((2, 3, *hw))
    ref = F.max_pool2d(torch.tensor(x), k, s, p, d, ceil_mode=bool(ceil)).numpy()
    attrs = {"kernel": k, "stride": s, "padding": (p, p, p, p), "dilation": d, "ceil_mode": ceil}
    np.testing.assert_allclose(run1("maxpool", x, attrs), ref, **TOL)


@pytest.mark.parametrize("k,s,p,hw", [((2, 2), (2, 2), 0, (8, 8)), ((3, 3), (2, 2), 1, (9, 8)), ((3, 2), (1, 2), 1, (7, 10))])
@pytest.mark.parametrize("include", [0, 1])
def test_avgpool_matches_torch(k, s, p, hw, include):
    x = np.random.default_rng(3).standard_normal((2, 3, *hw))
    ref = F.avg_pool2d(torch.tensor(x), k, s, p, count_include_pad=bool(include)).numpy()
    attrs = {"kernel": k, "stride": s, "padding": (p, p, p, p), "count_include_pad": include}
    np.testing.assert_allclose(run1("avgpool", x, attrs), ref, **TOL)


def test_globalavgpool_matches_torch():
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 7))
    ref = F.adaptive_avg_pool2d(torch.tensor(x), 1).numpy()
    np.testing.assert_allclose(run1("globalavgpool", x), ref, **TOL)


@pytest.mark.parametrize("axis,shape", [(1, (2, 12)), (2, (6, 4)), (0, (1, 24)), (-1, (6, 4)), (3, (24, 1))])
def test_flatten_axes(axis, shape):
    assert run1("flatten", np.zeros((2, 3, 4)), {"axis": axis}).shape == shape
