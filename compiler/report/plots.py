"""The report's plots, drawn with matplotlib's object API on the Agg canvas (no pyplot state)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from snnc.compiler.errors import SnncError


def _figure(w: float, h: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SnncError("--report needs matplotlib: pip install 'snnc[report]' (or matplotlib)") from None
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    from snnc.compiler.atomic import atomic_write

    with atomic_write(path) as f:  # a killed run leaves the earlier plot, never half a PNG
        fig.savefig(f, format="png", metadata={"Software": None})


def _space(fig, top: float = 0.55, bottom: float = 0.5, left: float = 0.75, right: float = 0.15) -> None:
    """Fixed margins in inches (tight_layout costs about a second per figure on these machines)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h, wspace=0.4, hspace=0.6)


def _plain_log_ticks(ax) -> None:
    """Log-axis labels as plain numbers: the default 10^k labels go through mathtext, which is slow."""
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return -(-n // cols), cols


def accuracy_vs_t(path: Path, curves: Sequence[tuple[str, Mapping[int, float], float | None]],
                  float_acc: float | None) -> None:
    """One SNN accuracy curve per configuration; the quantized ANN of each as a dotted line in the
    same colour, the float model as a black dashed line."""
    many = len(curves) > 1
    fig = _figure(10.5 if many else 7, 4.5)
    ax = fig.add_subplot()
    colors = [f"C{i % 10}" for i in range(len(curves))]
    for (label, snn, qann), c in zip(curves, colors):
        ts = sorted(snn)
        ax.plot(ts, [100 * snn[t] for t in ts], "o-", color=c, label=f"SNN {label}".strip())
        if qann is not None:
            ax.axhline(100 * qann, color=c, ls=":", lw=1.2, label=f"quantized ANN {label}".strip())
    if float_acc is not None:
        ax.axhline(100 * float_acc, color="k", ls="--", lw=1.2, label="float model")
    ax.set_xscale("log", base=2)
    ts = sorted({t for _, snn, _ in curves for t in snn})
    ax.set_xticks(ts, [str(t) for t in ts])
    ax.minorticks_off()
    ax.set_xlabel("timesteps T")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    if many:  # beside the axes: with several configurations a legend inside hides the curves
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.subplots_adjust(left=0.07, right=0.62, bottom=0.12, top=0.95)
    else:
        ax.legend(fontsize=7, loc="lower right")
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.12, top=0.95)
    _save(fig, path)


def correlation(path: Path, corr: Mapping, timesteps: int) -> None:
    """Per layer: quantized-ANN activation / λ against SNN firing rate at T, with Pearson r."""
    rows, cols = _grid(len(corr))
    fig = _figure(3.4 * cols, 3.2 * rows)
    for k, (name, c) in enumerate(corr.items()):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.scatter(c.ann, c.snn, s=3, alpha=0.3, lw=0)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        r = "r undefined (constant)" if c.r is None else f"r = {c.r:.3f}"
        ax.set_title(f"{name}\n{r}", fontsize=8)
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("quantized-ANN activation / λ", fontsize=7)
        ax.set_ylabel(f"SNN rate (T={timesteps})", fontsize=7)
        ax.tick_params(labelsize=7)
    _space(fig)
    _save(fig, path)


def weight_error(path: Path, names: Sequence[str], errors: Sequence[float], bits: int | None) -> None:
    fig = _figure(max(5, 0.8 * len(names) + 2), 4)
    ax = fig.add_subplot()
    ax.bar(range(len(names)), [100 * e for e in errors], color="C3")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("weight error ‖W' − Q/θ‖ / ‖W'‖ (%)")
    ax.set_title(f"weight quantization error per layer ({bits}-bit)" if bits else "weight quantization error per layer",
                 fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.3, top=0.9)
    _save(fig, path)


def rate_histograms(path: Path, hists: Mapping[str, np.ndarray], timesteps: int) -> None:
    """Per layer: share of (sample, neuron) pairs at each firing rate k/T, k = 0..T (log scale)."""
    rows, cols = _grid(len(hists))
    fig = _figure(3.4 * cols, 2.8 * rows)
    for k, (name, h) in enumerate(hists.items()):
        ax = fig.add_subplot(rows, cols, k + 1)
        h = np.asarray(h, dtype=np.float64)
        share = h / h.sum() if h.sum() else h
        edges = (np.arange(h.size + 1) - 0.5) / timesteps  # bin k (k spikes) centred on rate k/T
        ax.stairs(np.where(share > 0, share, np.nan), edges, fill=True, color="C0")  # one artist, not T+1 bars
        ax.set_yscale("log")
        _plain_log_ticks(ax)
        ax.set_xlim(-0.6 / timesteps, 1 + 0.6 / timesteps)
        silent = 100 * share[0] if share.size else 0.0
        ax.set_title(f"{name}\n{silent:.1f}% silent", fontsize=8)
        ax.set_xlabel(f"firing rate (spikes/step, T={timesteps})", fontsize=7)
        ax.set_ylabel("share of neurons", fontsize=7)
        ax.tick_params(labelsize=7)
    _space(fig)
    _save(fig, path)
