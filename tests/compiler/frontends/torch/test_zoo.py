"""The zoo: the IR imported from torch computes what the module computes, and equals (after
the front-end pipeline) the IR imported from the module's ONNX export — same layers, same
attributes, same parameters (atol 1e-5, rtol 1e-4; BatchNorm folding rounds differently in
the two routes). Outputs agree with torch to atol=rtol=1e-4 (float32 torch vs float64 IR)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.frontends import load_model
from snnc.compiler.frontends.torch import export_module, import_module, import_program
from snnc.compiler.ir.interpret import run
from snnc.compiler.passes import frontend_pipeline

from .conftest import TOL, ZOO, assert_same_layers, example, export_onnx, make, torch  # noqa: F401


@pytest.fixture(params=ZOO, ids=lambda c: c.__name__, scope="module")
def case(request, tmp_path_factory):
    cls = request.param
    model = make(cls)
    graph = import_module(model, example(cls))
    path = tmp_path_factory.mktemp(cls.__name__) / "model.onnx"
    export_onnx(model, example(cls), path)
    return cls, model, graph, path


@pytest.mark.slow
def test_ir_computes_the_forward(case):
    cls, model, graph, _ = case
    x = example(cls, n=3, seed=5)  # another batch size than the traced one
    with torch.no_grad():
        want = model(x).numpy()
    got = run(graph, x.numpy())[graph.outputs[0]]
    np.testing.assert_allclose(got, want, **TOL)
    canon = frontend_pipeline(graph)
    np.testing.assert_allclose(run(canon, x.numpy())[canon.outputs[0]], want, **TOL)


def test_same_ir_as_the_onnx_export(case):
    _, _, graph, path = case
    assert_same_layers(frontend_pipeline(graph), frontend_pipeline(load_model(path)))


def test_dynamic_batch_and_module_paths(case):
    cls, model, graph, _ = case
    assert graph.shape(graph.inputs[0]) == (None,) + cls.in_shape
    names = {n.name for n in frontend_pipeline(graph).nodes}
    assert not any(n.startswith(("conv2d", "linear", "batch_norm")) for n in names), names
    assert model.training is False


@pytest.mark.slow
def test_decomposed_program_imports_the_same(case):
    """A .pt2 saved after run_decompositions() (core aten: addmm, _native_batch_norm_legit_no_training,
    max_pool2d_with_indices + getitem, mean.dim) gives the same canonical IR."""
    cls, model, graph, _ = case
    ep, _ = export_module(model, example(cls))
    decomposed = import_program(ep.run_decompositions(), "decomposed")
    assert_same_layers(frontend_pipeline(decomposed), frontend_pipeline(graph))
