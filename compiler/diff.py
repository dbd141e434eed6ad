"""`snnc diff MODEL ART.snn --data DATA.npz`: where does the SNN stop following the quantized ANN?

Per layer with neurons: the quantized ANN's activation divided by the layer's λ (the firing rate
the SNN is meant to have) against the SNN's firing rate (count / T), neuron by neuron on the
samples of DATA; the first layer, in the artefact's order, whose mean absolute rate error exceeds
the threshold. The quantized ANN is rebuilt by compiling MODEL again with the options, hardware
spec and calibration data recorded in the artefact's provenance, and is used only when that
compilation reproduces the artefact's layers and weights bit for bit (else a `SnncError` says what
differs): λ then is the artefact's own. The trace comparison (`snnc diff A B` of two runs) is
`snnc.runtime.diff`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.errors import SnncError


@dataclass
class LayerRate:
    layer: str
    neurons: int  # values compared (samples x neurons)
    mean_abs_error: float
    max_abs_error: float
    ann_rate: float  # mean ANN activation / λ
    snn_rate: float  # mean SNN count / T
    r: float | None  # Pearson correlation

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RateReport:
    model: str
    artefact: str
    samples: int
    timesteps: int
    threshold: float
    layers: list[LayerRate] = field(default_factory=list)

    @property
    def first(self) -> LayerRate | None:
        return next((lr for lr in self.layers if lr.mean_abs_error > self.threshold), None)

    def to_text(self) -> str:
        f = self.first
        head = (f"first layer over the rate threshold {self.threshold:g}: {f.layer!r} (mean |ANN/λ - SNN rate| "
                f"{f.mean_abs_error:.4f})" if f else
                f"every layer within the rate threshold {self.threshold:g} (mean |ANN/λ - SNN rate|)")
        lines = [head, f"{self.samples} samples, T={self.timesteps}; quantized ANN of {self.model} vs {self.artefact}"]
        rows = [("layer", "values", "mean |err|", "max |err|", "ANN/λ", "SNN rate", "r")]
        for lr in self.layers:
            rows.append((lr.layer, str(lr.neurons), f"{lr.mean_abs_error:.4f}", f"{lr.max_abs_error:.4f}",
                         f"{lr.ann_rate:.4f}", f"{lr.snn_rate:.4f}", "-" if lr.r is None else f"{lr.r:.3f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        f = self.first
        return {"model": self.model, "artefact": self.artefact, "samples": self.samples, "timesteps": self.timesteps,
                "threshold": self.threshold, "first": f.layer if f else None,
                "layers": [lr.to_dict() for lr in self.layers]}


def _core(art) -> tuple:
    """What must match for the rebuilt quantized ANN to be the artefact's: input, target, layers, weights."""
    from snnc.runtime.manifest import to_manifest

    manifest, members = to_manifest(art)
    keep = {k: v for k, v in members.items() if not k.startswith("golden/")}
    return json.dumps([manifest["input"], manifest["target"], manifest["layers"]], sort_keys=True), keep


def rebuild(model: str, art, calib_path: str, data_scale: float | None, hw: str | None = None):
    """(graph, CompileResult) of compiling `model` as the artefact's provenance says; SnncError
    when the provenance is incomplete or the result is not the artefact."""
    from snnc.compiler.backend.build import compile_graph, file_sha256, prepare
    from snnc.compiler.backend.options import CompileOptions
    from snnc.compiler.data import load_dataset
    from snnc.hwspec import load_spec

    prov = art.provenance
    if not prov.get("options"):
        raise SnncError("the artefact's provenance records no compile options, so its quantized ANN cannot be rebuilt")
    src = (prov.get("source") or {}).get("sha256")
    if src and src != file_sha256(model):
        raise SnncError(f"{model}: not the model the artefact was compiled from (sha256 differs from its provenance)")
    cal = prov.get("calibration") or {}
    if cal.get("sha256") and cal["sha256"] != file_sha256(calib_path):
        raise SnncError(f"{calib_path}: not the calibration data the artefact was compiled with "
                        f"({cal.get('name')!r}; sha256 differs); pass it with --calib")
    options = dict(prov["options"])
    if "layer_bits" in options:
        options["layer_bits"] = tuple(options["layer_bits"].items())
    opts = CompileOptions(**options)
    want = (prov.get("hardware_spec") or {})
    hw = hw or want.get("name")
    if not hw:
        raise SnncError("the artefact's provenance names no hardware spec; pass --hw")
    spec = load_spec(hw)
    if want.get("sha256") and spec.sha256 != want["sha256"]:
        raise SnncError(f"--hw {hw}: not the hardware spec the artefact was built for (sha256 differs); "
                        "pass that spec's file with --hw")
    graph = prepare(model)
    calib = load_dataset(calib_path, role="calib", scale=data_scale) if cal else None
    res = compile_graph(graph, spec, opts, calib, source_sha256=src)
    if res.exit_code != 0 or res.artefact is None:
        raise SnncError(f"{model}: compiling it with the artefact's options does not give an artefact")
    if _core(res.artefact) != _core(art):
        raise SnncError(f"{model}: compiling it with the artefact's recorded options does not reproduce the "
                        "artefact's layers and weights (another snnc version or other data?); no rate comparison")
    return graph, res


def rate_diff(model: str, art_path: str, data: str, *, calib: str | None = None, data_scale: float | None = None,
              limit: int = 256, timesteps: int | None = None, threshold: float = 0.05,
              hw: str | None = None) -> RateReport:
    from snnc import runtime
    from snnc.compiler.data import load_dataset
    from snnc.compiler.evaluate import ann_layer_values, layer_correlation

    art = runtime.load(art_path)
    if timesteps is None:
        if art.golden is None:
            raise SnncError("--timesteps: required (the artefact has no golden vectors to take T from)")
        timesteps = art.golden.timesteps
    graph, res = rebuild(model, art, calib or data, data_scale, hw)
    test = load_dataset(data, role="eval", scale=data_scale)
    n = min(limit, len(test))
    x = test.take(n, tuple(art.input.shape), layout=art.input.layout)
    values = ann_layer_values(graph, res.lowered)
    corr = layer_correlation(art, res.lowered.qann, values, x, timesteps, max_points=1 << 62)
    report = RateReport(model=str(model), artefact=str(art_path), samples=n, timesteps=timesteps, threshold=threshold)
    for layer in art.layers:
        c = corr.get(layer.name)
        if c is None:
            continue
        err = np.abs(c.ann - c.snn)
        report.layers.append(LayerRate(layer.name, int(c.points), float(err.mean()), float(err.max()),
                                       float(c.ann.mean()), float(c.snn.mean()), c.r))
    if not report.layers:
        raise SnncError(f"{art_path}: no layer with neurons to compare")
    return report


__all__ = ["RateReport", "LayerRate", "rate_diff", "rebuild"]
