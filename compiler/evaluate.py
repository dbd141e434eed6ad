"""Accuracy of the float model, the quantized ANN and the bit-exact SNN on a labelled dataset.

The SNN numbers come from `snnc.runtime.simulate` — the bit-exact reference — at every requested
T. Everything streams over the dataset in batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.interpret import run as run_float
from snnc.compiler.lower import quantize_input
from snnc import runtime


@dataclass
class Accuracy:
    samples: int
    float_acc: float | None
    qann_acc: float | None
    snn_acc: dict[int, float] = field(default_factory=dict)  # T -> accuracy
    agreement: dict[int, float] = field(default_factory=dict)  # T -> SNN vs quantized-ANN agreement


def evaluate(art, dataset: Dataset, timesteps: Sequence[int], *, graph: Graph | None = None, qann: Graph | None = None,
             limit: int | None = None, batch_size: int = 500,
             progress: Callable[[Iterator, str], Iterator] | None = None) -> Accuracy:
    if dataset.y is None:
        raise SnncError(f"{dataset.source}: no labels (y) to score against")
    shape = art.input.shape
    wrap = progress or (lambda it, desc: it)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    correct_f = correct_q = 0
    correct_s = {t: 0 for t in timesteps}
    agree = {t: 0 for t in timesteps}
    lo, hi, s_in = art.input.lo, art.input.hi, art.input.scale
    for xb, yb in wrap(dataset.batches(batch_size, shape, limit=n), "evaluate"):
        qpred = None
        if graph is not None:
            correct_f += int((run_float(graph, xb)[graph.outputs[0]].argmax(axis=1) == yb).sum())
        if qann is not None:
            qpred = run_float(qann, quantize_input(xb, lo, hi, s_in))[qann.outputs[0]].argmax(axis=1)
            correct_q += int((qpred == yb).sum())
        for t in timesteps:
            pred = runtime.simulate(art, xb, t).predictions
            correct_s[t] += int((pred == yb).sum())
            if qpred is not None:
                agree[t] += int((pred == qpred).sum())
    return Accuracy(
        samples=n,
        float_acc=correct_f / n if graph is not None else None,
        qann_acc=correct_q / n if qann is not None else None,
        snn_acc={t: c / n for t, c in correct_s.items()},
        agreement={t: c / n for t, c in agree.items()} if qann is not None else {},
    )
