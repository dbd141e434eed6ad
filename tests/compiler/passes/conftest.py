"""A tiny graph builder and a before/after float comparison for pass tests."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.compiler.ir.interpret import run

# Function-preserving passes are compared in float64 with this tolerance: folding reorders a few
# multiplications and additions, so results agree to ~1e-12 relative; 1e-9 leaves a margin.
RTOL = 1e-9
ATOL = 1e-9


class Builder:
    def __init__(self, shape, name: str = "g"):
        self.g = Graph(name, ["x"], [], values={"x": Value("x", tuple(shape))})
        self.last = "x"

    def add(self, op: str, inputs=None, name: str | None = None, attrs=None, **params) -> str:
        name = name or f"{op}{len(self.g.nodes)}"
        out = f"{name}_y"
        node = Node(name, op, list(inputs) if inputs else [self.last], [out], dict(attrs or {}),
                    {k: np.asarray(v, dtype=np.float64) for k, v in params.items()})
        self.g.nodes.append(node)
        self.g.add_value(out)
        self.last = out
        return out

    def build(self, outputs=None) -> Graph:
        self.g.outputs = list(outputs or [self.last])
        return self.g


def assert_same_function(before: Graph, after: Graph, shape, seed: int = 0, trials: int = 3) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        x = rng.normal(size=shape)
        a, b = run(before, x), run(after, x)
        assert len(a) == len(b)
        for ya, yb in zip(a.values(), b.values()):  # outputs by position (names are kept where possible)
            np.testing.assert_allclose(yb, ya, rtol=RTOL, atol=ATOL)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def B():
    return Builder


@pytest.fixture
def same():
    return assert_same_function
