"""Property tests: random conv/pool configurations. BN folding preserves the function
(float64, RTOL = ATOL = 1e-9), and inferred shapes equal the interpreter's."""
import numpy as np
from hypothesis import assume, given, settings, strategies as st

from snnc.compiler.ir.interpret import run
from snnc.compiler.passes import fold_batchnorm, infer_shapes

from .conftest import Builder, assert_same_function  # noqa: TID252


@st.composite
def conv_cfg(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    hw = (draw(st.integers(8, 11)), draw(st.integers(8, 11)))
    return groups, cin, cout, k, stride, dil, pad, hw


@settings(max_examples=40, deadline=None)
@given(conv_cfg(), st.integers(0, 2**16))
def test_conv_bn_fold_and_shapes(cfg, seed):
    groups, cin, cout, k, stride, dil, pad, hw = cfg
    rng = np.random.default_rng(seed)
    b = Builder((None, cin) + hw)
    b.add("conv", attrs={"groups": groups, "stride": stride, "dilation": dil, "padding": pad},
          weight=rng.normal(size=(cout, cin // groups) + k), bias=rng.normal(size=cout))
    b.add("batchnorm", attrs={"eps": 1e-4}, scale=rng.normal(size=cout), bias=rng.normal(size=cout),
          mean=rng.normal(size=cout), var=rng.uniform(0.01, 4, size=cout))
    g = infer_shapes(b.build())
    y = run(g, rng.normal(size=(2, cin) + hw))[g.outputs[0]]
    assert g.shape(g.outputs[0]) == (None,) + y.shape[1:]
    out = fold_batchnorm(g.copy())
    assert [n.op for n in out.nodes] == ["conv"]
    assert_same_function(g, out, (2, cin) + hw, seed=seed)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 1), st.integers(0, 1),
       st.integers(5, 10), st.sampled_from(["maxpool", "avgpool"]), st.integers(0, 1))
def test_pool_shapes(k, s, dil, pad, ceil, size, op, cip):
    attrs = {"kernel": (k, k), "stride": (s, s), "padding": (pad, pad, pad, pad)}
    if op == "maxpool":
        attrs.update(dilation=(dil, dil), ceil_mode=ceil)
    else:
        attrs.update(count_include_pad=cip)
    assume(pad * 2 <= k)  # ONNX/torch require pad <= kernel/2
    assume((k - 1) * (dil if op == "maxpool" else 1) + 1 <= size + 2 * pad)  # else a ShapeError, tested elsewhere
    b = Builder((None, 2, size, size + 1))
    b.add(op, attrs=attrs)
    g = infer_shapes(b.build())
    y = run(g, np.random.default_rng(0).normal(size=(1, 2, size, size + 1)))[g.outputs[0]]
    assert g.shape(g.outputs[0])[1:] == y.shape[1:]
