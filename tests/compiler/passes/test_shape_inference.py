"""Shape inference agrees with the interpreter for every op in OPS (found by introspection, so a
new op cannot be forgotten), keeps a dynamic batch as None, and names the node on a mismatch."""
import numpy as np
import pytest

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.interpret import run
from snnc.compiler.ir.ops import OPS
from snnc.compiler.passes import ShapeError, infer_shapes

R = np.random.default_rng(0)
W = lambda *s: R.normal(size=s)  # noqa: E731

# op -> (input shape without batch, attrs, params, extra inputs)
SAMPLES = {
    "conv": ((4, 9, 8), {"stride": (2, 1), "padding": (1, 0, 1, 2), "dilation": (1, 2), "groups": 2},
             {"weight": W(6, 2, 3, 3), "bias": W(6)}),
    "linear": ((5,), {}, {"weight": W(3, 5), "bias": W(3)}),
    "gemm": ((5,), {"transB": 1}, {"weight": W(3, 5), "bias": W(3)}),
    "matmul": ((5,), {}, {"weight": W(5, 3)}),
    "relu": ((3, 4), {}, {}),
    "clip": ((3, 4), {"min": 0.0, "max": 6.0}, {}),
    "batchnorm": ((3, 4, 4), {}, {"scale": W(3), "bias": W(3), "mean": W(3), "var": np.ones(3)}),
    "avgpool": ((2, 7, 6), {"kernel": (3, 2), "stride": (2, 2), "padding": (1, 0, 1, 1)}, {}),
    "globalavgpool": ((2, 5, 5), {}, {}),
    "maxpool": ((2, 7, 6), {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 0, 0), "ceil_mode": 1}, {}),
    "flatten": ((2, 3, 4), {"axis": 1}, {}),
    "reshape": ((2, 3, 4), {"shape": (0, 6, -1)}, {}),
    "transpose": ((2, 3, 4), {"perm": (0, 2, 3, 1)}, {}),
    "add": ((3, 4, 4), {}, {"const": W(3, 1, 1)}),
    "mul": ((3, 4, 4), {}, {"const": W(4)}),
    "concat": ((3, 4, 4), {"axis": 1}, {}),
    "softmax": ((7,), {"axis": -1}, {}),
    "pad": ((2, 4, 4), {"pads": (0, 0, 1, 2, 0, 1, 0, 3)}, {}),
    "identity": ((3,), {}, {}),
    "dropout": ((3,), {}, {}),
}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("batch", [2, None])
def test_every_op_agrees_with_the_interpreter(B, op, batch):
    assert op in SAMPLES, f"add a shape-inference sample for new op '{op}'"
    shape, attrs, params = SAMPLES[op]
    b = B((batch,) + shape)
    inputs = ["x", "x"] if op == "concat" else None
    b.add(op, inputs=inputs, attrs=attrs, **params)
    g = infer_shapes(b.build())
    y = run(g, np.random.default_rng(1).normal(size=(2,) + shape))[g.outputs[0]]
    inferred = g.shape(g.outputs[0])
    if batch is None and op != "gemm" and (op != "flatten"):
        assert inferred[0] is None
        assert inferred[1:] == y.shape[1:]
    elif batch is None:  # gemm's M / flatten's first dim carry the unknown batch
        assert inferred[0] is None and inferred[1:] == y.shape[1:]
    else:
        assert inferred == y.shape


def test_two_input_add_broadcasts(B):
    b = B((None, 3, 4, 4))
    a = b.add("globalavgpool")
    b.add("add", inputs=["x", a])
    g = infer_shapes(b.build())
    assert g.shape(g.outputs[0]) == (None, 3, 4, 4)


@pytest.mark.parametrize("build,match", [
    (lambda b: b.add("conv", name="convA", weight=W(4, 5, 3, 3)), r"node convA \(conv\): input has 3 channels"),
    (lambda b: (b.add("flatten"), b.add("linear", name="fc", weight=W(2, 7))), r"node fc \(linear\).*7 features"),
    (lambda b: b.add("add", name="plus", const=W(5, 1, 1)), r"node plus \(add\): cannot broadcast"),
    (lambda b: b.add("avgpool", name="pool", attrs={"kernel": (9, 9), "stride": (1, 1)}), r"node pool.*window 9"),
    (lambda b: b.add("reshape", name="rs", attrs={"shape": (0, 7, -1)}), r"node rs.*cannot reshape"),
    (lambda b: b.add("concat", name="cat", inputs=["x", b.add("globalavgpool")]), r"node cat.*differ outside axis 1"),
])
def test_mismatch_names_the_node(B, build, match):
    b = B((None, 3, 4, 4))
    build(b)
    with pytest.raises(ShapeError, match=match):
        infer_shapes(b.build())


def test_missing_input_shape_is_an_error(B):
    b = B((None, 3))
    b.add("relu")
    g = b.build()
    g.values["x"].shape = None
    with pytest.raises(SnncError, match="graph input 'x' has no shape"):
        infer_shapes(g)
