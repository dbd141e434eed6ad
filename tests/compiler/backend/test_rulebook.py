"""One rulebook: `snnc check` exits 0 exactly when `snnc compile` succeeds (issue 12).

The stage planner that compile runs is a check rule, so the two cannot disagree: on every
example model, on generated graphs (hypothesis), and on the two cases that used to pass check and
then fail compile (two linear layers without a ReLU between them; a model ending in a ReLU).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from snnc.compiler.backend.build import compile_graph, prepare
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import PlanError, plan_stages
from snnc.compiler.check import check_graph
from snnc.compiler.cli.main import cli
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.compiler.passes.pipeline import frontend_pipeline
from snnc.hwspec import load_spec

ROOT = Path(__file__).resolve().parents[3]
MODELS = sorted((ROOT / "examples" / "models").glob("*.onnx")) + sorted((ROOT / "examples" / "models").glob("*.pt2"))
SPEC = load_spec("hw_v1")


class Net:
    def __init__(self, shape=(None, 2, 8, 8), seed=0):
        self.g = Graph("net", ["x"], [], values={"x": Value("x", tuple(shape))})
        self.last = "x"
        self.rng = np.random.default_rng(seed)

    def node(self, op, inputs=None, attrs=None, **params):
        name = f"{op}{len(self.g.nodes)}"
        out = f"{name}_y"
        self.g.nodes.append(Node(name, op, list(inputs or [self.last]), [out], dict(attrs or {}),
                                 {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}))
        self.g.add_value(out)
        self.last = out
        return self

    def build(self) -> Graph:
        self.g.outputs = [self.last]
        return frontend_pipeline(self.g)


def agree(graph: Graph, spec=SPEC, bits=2) -> bool:
    """check's verdict and compile's outcome agree; returns check's verdict."""
    report = check_graph(graph, spec, bits)
    opts = CompileOptions(bits=bits, timesteps=2)
    try:
        result = compile_graph(graph, spec, opts, None)
    except SnncError as exc:
        pytest.fail(f"check exit {report.exit_code} but compile raised: {exc}\n{report.to_text()}")
    assert result.exit_code == report.exit_code
    if report.exit_code == 0:
        assert result.artefact is not None and len(result.artefact.layers) == len(plan_stages(graph, spec))
    return report.exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
@pytest.mark.parametrize("bits", [1, 4])
def test_example_models_check_iff_compile(model, bits):
    agree(prepare(model), bits=bits)


def test_two_linears_without_relu_are_refused_by_check():
    g = Net((None, 8)).node("linear", weight=np.ones((6, 8))).node("linear", weight=np.ones((4, 6))).build()
    report = check_graph(g, SPEC, 2)
    assert [(v.code, v.layer) for v in report.violations] == [("HW009", "linear0")]
    assert "ReLU" in report.violations[0].hint
    assert not agree(g)


def test_model_ending_in_relu_is_refused_by_check():
    g = (Net((None, 8)).node("linear", weight=np.ones((6, 8))).node("relu")
         .node("linear", weight=np.ones((4, 6))).node("relu").build())
    report = check_graph(g, SPEC, 2)
    assert [(v.code, v.layer) for v in report.violations] == [("HW012", "linear2")]
    assert "final ReLU" in report.violations[0].hint
    assert not agree(g)
    res = CliRunner().invoke(cli, ["check", "--help"])
    assert res.exit_code == 0


def test_plan_error_carries_the_check_violations():
    g = Net((None, 8)).node("linear", weight=np.ones((6, 8))).node("linear", weight=np.ones((4, 6))).build()
    with pytest.raises(PlanError) as err:
        plan_stages(g, SPEC)
    assert err.value.violations[0].code == "HW009" and "linear0" in str(err.value)


def test_pool_window_beyond_the_threshold_range(tmp_path):
    import yaml

    from snnc.hwspec.loader import resolve

    doc = yaml.safe_load(resolve("hw_v1").read_text())
    doc["parameters"]["threshold_bits"]["value"] = 3  # θ <= 7: a 3x3 window needs 9
    path = tmp_path / "small_theta.yaml"
    path.write_text(yaml.safe_dump(doc))
    spec = load_spec(path)
    g = (Net().node("conv", attrs={"padding": (1, 1, 1, 1)}, weight=np.ones((3, 2, 3, 3))).node("relu")
         .node("avgpool", attrs={"kernel": (3, 3), "stride": (3, 3)}).node("flatten")
         .node("linear", weight=np.ones((4, 12))).build())
    report = check_graph(g, spec, 2)
    assert ("HW010", "avgpool2") in [(v.code, v.layer) for v in report.violations]
    assert not agree(g, spec)


# -- generated graphs ---------------------------------------------------------------------------------------
LAYERS = ["conv_relu", "conv", "conv_k5", "conv_k1", "dilated", "relu", "avgpool", "avgpool_pad", "maxpool",
          "residual", "residual_norelu", "concat"]


@st.composite
def graphs(draw):
    rng_seed = draw(st.integers(0, 1000))
    net = Net(seed=rng_seed)
    c, hw = 2, 8
    for kind in draw(st.lists(st.sampled_from(LAYERS), max_size=5)):
        if kind.startswith("conv") or kind == "dilated":
            k = {"conv_k5": 5, "conv_k1": 1}.get(kind, 3)
            cout = draw(st.integers(1, 4))
            attrs = {"padding": (k // 2,) * 4}
            if kind == "dilated":
                attrs = {"padding": (2, 2, 2, 2), "dilation": (2, 2)}
            net.node("conv", attrs=attrs, weight=net.rng.normal(size=(cout, c, k, k)))
            c = cout
            if kind != "conv":
                net.node("relu")
        elif kind == "relu":
            net.node("relu")
        elif kind in ("avgpool", "maxpool", "avgpool_pad") and hw >= 2:
            attrs = {"kernel": (2, 2), "stride": (2, 2)}
            if kind == "avgpool_pad":
                attrs["padding"] = (1, 1, 1, 1)
                hw += 2
            net.node("avgpool" if kind != "maxpool" else "maxpool", attrs=attrs)
            hw //= 2
        elif kind.startswith("residual"):
            skip = net.last
            net.node("conv", attrs={"padding": (1, 1, 1, 1)}, weight=net.rng.normal(size=(c, c, 3, 3))).node("relu")
            net.node("add", inputs=[net.last, skip])
            if kind == "residual":
                net.node("relu")
        elif kind == "concat":
            a = net.last
            net.node("conv", attrs={"padding": (1, 1, 1, 1)}, weight=net.rng.normal(size=(c, c, 3, 3))).node("relu")
            net.node("concat", inputs=[net.last, a], attrs={"axis": 1})
            c *= 2
    if draw(st.booleans()):
        net.node("globalavgpool").node("flatten")
        fin = c
    else:
        net.node("flatten")
        fin = c * hw * hw
    if draw(st.booleans()):
        net.node("linear", weight=net.rng.normal(size=(6, fin)))
        if draw(st.booleans()):
            net.node("relu")
        fin = 6
    net.node("linear", weight=net.rng.normal(size=(3, fin)))
    tail = draw(st.sampled_from(["", "", "softmax", "relu"]))
    if tail:
        net.node(tail)
    return net.build()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.sampled_from([1, 2, 4]))
def test_generated_graphs_check_iff_compile(graph, bits):
    agree(graph, bits=bits)


def test_final_softmax_is_recorded_in_the_host_layer():
    g = (Net((None, 8)).node("linear", weight=np.ones((6, 8))).node("relu")
         .node("linear", weight=np.ones((4, 6))).node("softmax").build())
    res = compile_graph(g, SPEC, CompileOptions(bits=2, timesteps=2), None)
    assert res.exit_code == 0 and res.artefact.host.softmax
    g = Net((None, 8)).node("linear", weight=np.ones((6, 8))).node("relu").node("linear", weight=np.ones((4, 6))).build()
    assert not compile_graph(g, SPEC, CompileOptions(bits=2, timesteps=2), None).artefact.host.softmax
