"""A model with a ConvTranspose compiles to an artefact whose conv has input_dilation, and that
artefact verifies: conv stride 2 -> ConvTranspose stride 2 (output_padding 1) -> conv -> GAP ->
linear, through check, compile and the golden vectors (every backend against the reference)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import snnc.runtime as rt  # noqa: E402
from snnc.compiler import api  # noqa: E402
from snnc.runtime.reference import reference_simulate  # noqa: E402


class UpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
        self.conv = nn.Conv2d(4, 6, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = torch.relu(self.up(torch.relu(self.down(x))))
        x = torch.relu(self.conv(x))
        return self.fc(torch.flatten(self.gap(x), 1))


@pytest.mark.slow
def test_compile_verify_round_trip(tmp_path):
    torch.manual_seed(0)
    m = UpNet().eval()
    calib = np.random.default_rng(0).uniform(0, 1, size=(16, 1, 8, 8)).astype(np.float32)
    x = torch.from_numpy(calib[:1])
    report = api.check_module(m, x, bits=4)
    assert report.fits, report.to_text()
    out = tmp_path / "up.snn"
    res = api.compile_module(m, x, bits=4, calib=calib, out=out, timesteps=8, calibration="off")
    assert res.exit_code == 0
    art = rt.load(out)
    up = [layer for layer in art.layers if layer.kind == "conv" and layer.dilated]
    assert len(up) == 1 and up[0].input_dilation == (2, 2) and up[0].output_shape[1:] == (8, 8)
    assert up[0].padding == (1, 1, 2, 2) and up[0].stride == (1, 1)
    assert rt.verify(art).ok
    assert rt.verify(art, backend="reference").ok
    ref = reference_simulate(art, art.golden.inputs, art.golden.timesteps)
    for name, counts in art.golden.counts.items():
        assert np.array_equal(ref["counts"][name], counts), name


@pytest.mark.slow
def test_convtranspose_on_the_host_is_refused(tmp_path):
    """--host-from at the ConvTranspose: the host has no transposed convolution; check says so."""
    torch.manual_seed(0)
    m = UpNet().eval()
    x = torch.zeros(1, 1, 8, 8)
    from snnc.compiler.backend.substitute import host_from
    from snnc.compiler.check import check_graph

    graph = api.import_module(m, x, canonical=True)
    name = next(n.name for n in graph.nodes if n.op == "conv" and tuple(n.attrs.get("input_dilation", (1, 1))) != (1, 1))
    g, _ = host_from(graph, name)
    report = check_graph(g, "hw_v1", 4)
    assert not report.fits
    assert any(v.code == "HW012" and "transposed convolution" in v.message and v.layer == name for v in report.violations)
