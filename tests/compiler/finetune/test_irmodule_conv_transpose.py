"""The fine-tuning module runs a lowered ConvTranspose (IR conv with input_dilation) as the float
interpreter does; NIR export refuses it (NIR's Conv2d has no input dilation)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snnc.compiler.finetune.irmodule import IRModule  # noqa: E402
from snnc.compiler.frontends.conv_transpose import lower_conv_transpose  # noqa: E402
from snnc.compiler.ir.graph import Graph, Node  # noqa: E402
from snnc.compiler.ir.interpret import run  # noqa: E402


def test_irmodule_equals_the_interpreter_and_is_differentiable():
    rng = np.random.default_rng(0)
    w, attrs = lower_conv_transpose(rng.normal(size=(3, 4, 3, 3)), (2, 2), (1, 1, 1, 1), (1, 1))
    g = Graph("t", inputs=["x"], outputs=["y"],
              nodes=[Node("up", "conv", ["x"], ["y"], attrs=attrs, params={"weight": w, "bias": rng.normal(size=4)})])
    x = rng.normal(size=(2, 3, 5, 5))
    xt = torch.from_numpy(x).float().requires_grad_()
    y = IRModule(g)(xt)
    np.testing.assert_allclose(y.detach().numpy(), run(g, x)["y"], atol=1e-5, rtol=1e-5)
    y.sum().backward()
    assert xt.grad is not None and xt.grad.shape == xt.shape


def test_nir_export_refuses_input_dilation():
    pytest.importorskip("nir")
    import snnc.runtime as rt
    from snnc.compiler.errors import SnncError
    from snnc.compiler.export.nir import to_nir

    conv = rt.Conv("up", ["input"], (1, 5, 5), weight=np.ones((1, 1, 3, 3), np.int8), bits=2, padding=(1, 1, 1, 1),
                   input_dilation=(2, 2), neuron=rt.Neuron([2], [0]))
    art = rt.Artefact(rt.InputSpec((1, 3, 3), "rate", 0, 15), (conv,), rt.Target(16, "saturate", "ge", 8, 8, "symmetric", 4),
                      hardware_spec={"name": "t"})
    with pytest.raises(SnncError, match="input_dilation"):
        to_nir(art)

