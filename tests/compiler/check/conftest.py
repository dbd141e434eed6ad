"""Hand-built IR graphs for the constraint rules (no front end needed)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.ir.graph import Graph, Node, Value
from snnc.hwspec import load_spec


class Net:
    """Sequential graph builder: each call appends a node reading the previous output."""

    def __init__(self, shape=(None, 3, 16, 16)):
        self.g = Graph("net", ["x"], [], values={"x": Value("x", tuple(shape))})
        self.last = "x"
        self.rng = np.random.default_rng(0)

    def node(self, op, name=None, inputs=None, attrs=None, **params):
        name = name or f"{op}{len(self.g.nodes)}"
        out = f"{name}_y"
        self.g.nodes.append(Node(name, op, list(inputs or [self.last]), [out], dict(attrs or {}),
                                 {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}))
        self.g.add_value(out)
        self.last = out
        return self

    def conv(self, cin, cout, k=3, name=None, relu=True, groups=1, kw=None):
        kw = kw or k
        self.node("conv", name, attrs={"groups": groups, "padding": (k // 2, kw // 2, k // 2, kw // 2)},
                  weight=self.rng.normal(size=(cout, cin // groups, k, kw)))
        return self.node("relu") if relu else self

    def linear(self, fin, fout, name=None, relu=False):
        self.node("linear", name, weight=self.rng.normal(size=(fout, fin)))
        return self.node("relu") if relu else self

    def build(self, outputs=None):
        self.g.outputs = list(outputs or [self.last])
        return self.g


@pytest.fixture
def net():
    return Net


@pytest.fixture(scope="session")
def hw_v1():
    return load_spec("hw_v1")
