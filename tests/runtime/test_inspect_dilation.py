"""`snnc inspect` shows a conv's input_dilation (text and JSON), next to "synaptic"."""
from __future__ import annotations

import json

from test_synapse_kernel import GEOMETRIES, residual


def test_inspect_shows_input_dilation():
    from snnc.compiler.inspect import inspect_loaded

    dilated = inspect_loaded(residual(GEOMETRIES[6], 0))  # input_dilation (2, 1)
    rows = {r.name: r for r in dilated.layers}
    assert rows["syn"].input_dilation == [2, 1] and rows["r"].input_dilation == [2, 1]
    assert rows["add"].input_dilation is None
    text = dilated.to_text()
    assert "conv (synaptic, input_dilation 2x1)" in text and "conv (input_dilation 2x1)" in text
    layers = {r["name"]: r for r in json.loads(dilated.to_json())["layers"]}
    assert layers["syn"]["input_dilation"] == [2, 1]
    plain = inspect_loaded(residual(GEOMETRIES[0], 0))
    assert "conv (synaptic)" in plain.to_text() and "input_dilation" not in plain.to_text()
    assert {r.name: r for r in plain.layers}["syn"].input_dilation == [1, 1]
