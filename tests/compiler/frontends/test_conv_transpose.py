"""ConvTranspose from ONNX and torch (nn.ConvTranspose2d) lowered to the IR conv with input_dilation:
the float interpreter against torch.nn.functional.conv_transpose2d (float: a tolerance, not the
integer contract), and a clear refusal naming the node for groups > 1 / dilation > 1."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from snnc.compiler.errors import SnncError  # noqa: E402
from snnc.compiler.frontends import load_model  # noqa: E402
from snnc.compiler.frontends.conv_transpose import lower_conv_transpose  # noqa: E402
from snnc.compiler.frontends.torch import import_module  # noqa: E402
from snnc.compiler.ir.graph import Graph, Node  # noqa: E402
from snnc.compiler.ir.interpret import run  # noqa: E402

TOL = dict(atol=1e-5, rtol=1e-5)
CASES = [(2, 3, 1, 1), (2, 2, 0, 0), (3, 3, 1, 2), (1, 3, 1, 0), (2, 4, 3, 1), (3, 2, 0, 1)]  # stride, k, pad, out_pad


@pytest.mark.parametrize("stride, k, pad, out_pad", CASES)
def test_lowering_in_the_interpreter_equals_torch(stride, k, pad, out_pad):
    """The lowered IR conv (float64 interpreter) computes torch's conv_transpose2d, asymmetric cases too."""
    rng = np.random.default_rng(stride * 100 + k * 10 + pad)
    x = rng.normal(size=(2, 3, 5, 4))
    wt = rng.normal(size=(3, 4, k, k))
    bias = rng.normal(size=4)
    w, attrs = lower_conv_transpose(wt, (stride, stride), (pad,) * 4, (out_pad, out_pad))
    g = Graph("t", inputs=["x"], outputs=["y"], nodes=[Node("up", "conv", ["x"], ["y"], attrs=attrs,
                                                            params={"weight": w, "bias": bias})])
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(wt), torch.from_numpy(bias),
                                                stride=stride, padding=pad, output_padding=out_pad).numpy()
    got = run(g, x)["y"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOL)


class UpNet(nn.Module):
    """conv stride 2 -> ConvTranspose stride 2 (output_padding 1) -> conv -> GAP -> linear."""

    def __init__(self, groups=1, dilation=1):
        super().__init__()
        self.down = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1, groups=groups, dilation=dilation)
        self.conv = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = torch.relu(self.up(torch.relu(self.down(x))))
        x = torch.relu(self.conv(x))
        return self.fc(x.mean(dim=(2, 3)))


def _model():
    torch.manual_seed(0)
    return UpNet().eval()


def _x():
    return np.random.default_rng(1).uniform(0, 1, size=(2, 1, 8, 8)).astype(np.float32)


def _graph_output(g, x):
    return run(g, x.astype(np.float64))[g.outputs[0]]


@pytest.mark.slow
def test_onnx_convtranspose_imports(tmp_path):
    m, x = _model(), _x()
    path = tmp_path / "up.onnx"
    torch.onnx.export(m, (torch.from_numpy(x),), str(path), dynamo=False, opset_version=17)
    g = load_model(path)
    assert any(n.op == "conv" and tuple(n.attrs.get("input_dilation", (1, 1))) == (2, 2) for n in g.nodes)
    with torch.no_grad():
        np.testing.assert_allclose(_graph_output(g, x), m(torch.from_numpy(x)).numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_torch_convtranspose_imports():
    m, x = _model(), _x()
    g = import_module(m, torch.from_numpy(x))
    up = [n for n in g.nodes if n.op == "conv" and tuple(n.attrs.get("input_dilation", (1, 1))) != (1, 1)]
    assert len(up) == 1 and up[0].attrs["padding"] == (1, 1, 2, 2)
    with torch.no_grad():
        np.testing.assert_allclose(_graph_output(g, x), m(torch.from_numpy(x)).numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("kw, what", [({"groups": 2}, "groups=2"), ({"dilation": 2}, "dilation=\\[2, 2\\]")])
def test_torch_refuses_groups_and_dilation_naming_the_layer(kw, what):
    torch.manual_seed(0)
    m = UpNet(**kw).eval()
    with pytest.raises(SnncError, match=what) as err:
        import_module(m, torch.from_numpy(_x()))
    assert "up" in str(err.value)


def _onnx_convtranspose(tmp_path, **attrs):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 2, 3, 3), np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="deconv1", strides=[2, 2], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, "h", "w"])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "d.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("attrs, what", [({"group": 2}, "group"), ({"dilations": [2, 2]}, "dilation"),
                                         ({"pads": [3, 3, 3, 3]}, "larger than kernel - 1"),
                                         ({"output_padding": [2, 2]}, "output_padding"),
                                         ({"output_shape": [9, 9]}, "output_shape")])
def test_onnx_refusals_name_the_node(tmp_path, attrs, what):
    with pytest.raises(SnncError, match=what) as err:
        load_model(_onnx_convtranspose(tmp_path, **attrs))
    assert "deconv1" in str(err.value) and "ConvTranspose" in str(err.value)


def test_onnx_convtranspose_interpreter_equals_torch(tmp_path):
    g = load_model(_onnx_convtranspose(tmp_path, pads=[1, 0, 1, 2], output_padding=[1, 0]))
    x = np.random.default_rng(3).normal(size=(1, 2, 4, 4))
    # the reference: torch with symmetric padding cannot express [1, 0, 1, 2]; crop the full output
    full = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.ones(2, 2, 3, 3, dtype=torch.float64),
                                                stride=2).numpy()  # (1, 2, 9, 9), no padding
    full = np.pad(full, ((0, 0), (0, 0), (0, 1), (0, 0)))  # output_padding [1, 0]: one more row at the bottom
    want = full[:, :, 1:full.shape[2] - 1, 0:full.shape[3] - 2]
    np.testing.assert_allclose(_graph_output(g, x), want, **TOL)


@pytest.mark.parametrize("c_in, fits", [(56, True), (57, False)])
def test_check_applies_the_conv_rules(tmp_path, c_in, fits):
    """The lowered conv's synapse row holds the ConvTranspose's input channels: hw_v1's 3x3 limit at 2 bits is 56."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from snnc.compiler.check import check_model

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(c_in, 4, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(size=(3, 4)).astype(np.float32), "w2")]
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["c"], name="deconv1", strides=[2, 2], pads=[1, 1, 1, 1],
                              output_padding=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w2"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c_in, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], initializer=inits)
    path = tmp_path / "ct.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    report = check_model(path, "hw_v1", 2)
    assert report.fits == fits, report.to_text()
    if not fits:
        (v,) = report.errors
        assert (v.code, v.layer, v.actual, v.limit) == ("HW001", "deconv1", 57, 56)


@pytest.mark.slow
def test_torch_decomposed_and_pt2_routes(tmp_path):
    """aten.convolution(transposed=True) of a decomposed program, and a .pt2 file through the fast reader."""
    from snnc.compiler.frontends.torch import import_program, load_pt2

    m, x = _model(), _x()
    ep = torch.export.export(m, (torch.from_numpy(x),))
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
    dec = ep.run_decompositions()
    assert any("convolution" in str(n.target) and n.args[6] for n in dec.graph.nodes if n.op == "call_function")
    np.testing.assert_allclose(_graph_output(import_program(dec), x), want, atol=1e-4, rtol=1e-4)
    path = tmp_path / "up.pt2"
    torch.export.save(ep, str(path))
    np.testing.assert_allclose(_graph_output(load_pt2(path), x), want, atol=1e-4, rtol=1e-4)


@pytest.mark.slow  # 0.5-3 s: the quick suite stays near a minute
def test_torch_mean_gap_is_a_flatten_on_the_core():
    """x.mean((2, 3)) (keepdim False) imports as globalavgpool + a flattening reshape, which the check accepts."""
    from snnc.compiler.check import check_graph
    from snnc.compiler.passes import frontend_pipeline

    class Gap(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.c(x)).mean(dim=(2, 3)))

    g = frontend_pipeline(import_module(Gap().eval(), torch.zeros(1, 1, 8, 8)))
    assert "reshape" not in [n.op for n in g.nodes]
    assert check_graph(g, "hw_v1", 4).fits
