"""The front end scales linearly with the node count (issue 11: a 10,000-node graph took ~2
minutes). Counted, not timed: the work is the number of nodes walked to build use-lists
(`Graph.producer`/`consumers` indexes and `Rewriter`s), which was quadratic before."""
from __future__ import annotations

import sys
import time

import pytest

from snnc.compiler.check import check_graph
from snnc.compiler.frontends.onnx import load_onnx
from snnc.compiler.ir import graph as graph_mod
from snnc.compiler.ir import rewrite as rewrite_mod
from snnc.compiler.passes import frontend_pipeline

from .big_graph import chain_model  # noqa: TID252


def _work(monkeypatch, n_nodes: int) -> tuple[int, int]:
    """(nodes walked building use-lists, nodes in the checked graph) for a chain of n_nodes."""
    walked = [0]

    class CountingIndex(graph_mod._Index):
        def __init__(self, nodes):
            walked[0] += len(nodes)
            super().__init__(nodes)

    class CountingRewriter(rewrite_mod.Rewriter):
        def __init__(self, graph):
            walked[0] += len(graph.nodes)
            super().__init__(graph)

    monkeypatch.setattr(graph_mod, "_Index", CountingIndex)
    for mod in ("snnc.compiler.passes.canonicalize", "snnc.compiler.passes.fold_bn"):
        monkeypatch.setattr(sys.modules[mod], "Rewriter", CountingRewriter)
    g = frontend_pipeline(load_onnx(chain_model(n_nodes)))
    report = check_graph(g, "hw_v1", 4)
    assert report.exit_code == 0, report.to_text()
    return walked[0], len(g.nodes)


def test_use_list_work_grows_linearly(monkeypatch):
    small, n_small = _work(monkeypatch, 200)
    large, n_large = _work(monkeypatch, 800)
    assert n_large > 3.5 * n_small
    # linear: 4x the nodes is about 4x the work (quadratic would be 16x)
    assert large < 5 * small, (small, large)


def test_canonicalize_sweeps_do_not_grow_with_the_graph(monkeypatch):
    from snnc.compiler.passes import canonicalize as canonicalize_fn

    canon = sys.modules["snnc.compiler.passes.canonicalize"]
    sweeps = []
    real = canon.Rewriter.nodes

    def counting_nodes(self):
        sweeps.append(1)
        return real(self)

    monkeypatch.setattr(canon.Rewriter, "nodes", counting_nodes)
    for n in (100, 1000):
        sweeps.clear()
        canonicalize_fn(load_onnx(chain_model(n)))
        assert len(sweeps) <= 3, (n, len(sweeps))


@pytest.mark.slow
def test_check_of_a_10000_node_graph_takes_seconds(tmp_path, capsys):
    import onnx
    from click.testing import CliRunner

    from snnc.compiler.cli.main import cli

    path = tmp_path / "chain10k.onnx"
    onnx.save(chain_model(10_000), str(path))
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli, ["check", str(path), "--bits", "4"])
    elapsed = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    with capsys.disabled():
        print(f"\nsnnc check of a 10,000-node graph: {elapsed:.1f} s")
    assert elapsed < 60  # ~5 s on two shared cores; it was ~140 s when the front end was quadratic
