"""Streaming calibration statistics (compiler/calibrate.py)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.backend.calibrate import BINS, collect
from snnc.compiler.ir import Graph, Node, Value


def _relu_graph():
    g = Graph("g", ["x"], ["y"], [Node("r", "relu", ["x"], ["y"])], {"x": Value("x", (None, 50)), "y": Value("y")})
    return g


def test_percentile_within_one_bin_of_numpy_and_never_below():
    rng = np.random.default_rng(0)
    x = rng.exponential(1.0, (400, 50))
    stats = collect(_relu_graph(), ["y"], lambda: iter(np.array_split(x, 7)))["y"]
    assert stats.maximum == x.max()
    assert stats.count == x.size
    for pct in (50.0, 99.0, 99.9, 99.99):
        exact = np.percentile(x, pct, method="inverted_cdf")
        got = stats.percentile(pct)
        assert exact <= got <= exact + x.max() / BINS + 1e-12
    assert stats.percentile(100.0) == x.max()


def test_statistics_do_not_depend_on_batching():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 50))
    a = collect(_relu_graph(), ["y"], lambda: iter([x]))["y"]
    b = collect(_relu_graph(), ["y"], lambda: iter(np.array_split(x, 13)))["y"]
    assert a.maximum == b.maximum and a.count == b.count
    assert np.array_equal(a.hist, b.hist)
