from snnc.compiler.ir.verify import verify
from snnc.compiler.passes import frontend_passes, frontend_pipeline


def test_frontend_pipeline_preserves_function_and_verifies_after_each_pass(B, same, rng):
    b = B((None, 1, 8, 8))
    b.add("pad", attrs={"pads": (0, 0, 1, 1, 0, 0, 1, 1)})
    b.add("conv", name="conv1", weight=rng.normal(size=(4, 1, 3, 3)), bias=rng.normal(size=4))
    b.add("batchnorm", name="bn1", scale=rng.normal(size=4), bias=rng.normal(size=4),
          mean=rng.normal(size=4), var=rng.uniform(0.5, 2, size=4))
    b.add("relu")
    b.add("avgpool", attrs={"kernel": (2, 2), "stride": (2, 2)})
    b.add("dropout")
    b.add("reshape", attrs={"shape": (-1, 64)})
    b.add("gemm", name="fc", attrs={"transB": 1, "alpha": 0.5}, weight=rng.normal(size=(10, 64)), bias=rng.normal(size=10))
    b.add("softmax")
    g = b.build()
    steps = []

    def on_step(i, p, graph):
        steps.append(p.name)
        assert verify(graph) == []

    out = frontend_pipeline(g, on_step=on_step)
    assert steps == [p.name for p in frontend_passes()]
    assert steps == ["canonicalize", "shape_inference", "fold_bn", "shape_inference"]
    assert [n.op for n in out.nodes] == ["conv", "relu", "avgpool", "flatten", "linear", "softmax"]
    assert [n.name for n in out.nodes][0] == "conv1" and out.node("fc").op == "linear"
    assert all(out.shape(v) is not None for v in out.values)
    assert out.shape(out.outputs[0]) == (None, 10)
    same(g, out, (2, 1, 8, 8))
