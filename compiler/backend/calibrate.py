"""Streaming activation statistics for threshold normalization.

Runs the float IR over calibration batches and keeps, per observed value, only fixed-size state:
the running maximum (pass 1) and a histogram of `BINS` bins over [0, max] (pass 2), from which a
percentile is read. Memory is independent of the dataset size; the percentile is exact up to one
bin width (max / BINS), rounded *up* so that the chosen scale never clips more than asked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.interpret import run

BINS = 8192


@dataclass
class ActivationStats:
    maximum: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(BINS, dtype=np.int64))
    count: int = 0

    def percentile(self, pct: float) -> float:
        """The `pct`-th percentile of the observed values (upper edge of the bin that holds it)."""
        if self.count == 0 or self.maximum <= 0.0:
            return 0.0
        if pct >= 100.0:
            return self.maximum
        cum = np.cumsum(self.hist)
        rank = pct / 100.0 * self.count
        idx = int(np.searchsorted(cum, rank, side="left"))
        return min(self.maximum, (idx + 1) * self.maximum / BINS)


Batches = Callable[[], Iterable[np.ndarray]]


def collect(graph: Graph, values: list[str], batches: Batches, *, progress: Callable[[Iterator], Iterator] | None = None) -> dict[str, ActivationStats]:
    """Max and histogram of each named value of `graph` over the batches (two streaming passes)."""
    stats = {v: ActivationStats() for v in values}
    wrap = progress or (lambda it: it)
    for xb in wrap(iter(batches())):
        env = run(graph, xb, all_values=True)
        for v in values:
            a = env[v]
            stats[v].maximum = max(stats[v].maximum, float(a.max()) if a.size else 0.0)
    for xb in wrap(iter(batches())):
        env = run(graph, xb, all_values=True)
        for v in values:
            s = stats[v]
            a = env[v].ravel()
            s.count += a.size
            if s.maximum > 0:
                idx = np.minimum((np.maximum(a, 0.0) / s.maximum * BINS).astype(np.int64), BINS - 1)
                s.hist += np.bincount(idx, minlength=BINS)
    return stats
