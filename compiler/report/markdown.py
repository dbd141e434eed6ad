"""report.md: every number with the command line and the machine that produced it, and the plots."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnc.compiler.atomic import write_text
from snnc.compiler.report import plots


@dataclass
class ConfigPlots:
    """What the report draws for one configuration beyond the JSON result."""

    correlation: dict = field(default_factory=dict)  # layer -> evaluate.Correlation (at the largest T)
    histograms: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> counts histogram at the largest T


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


def _num(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"] + ["| " + " | ".join(r) + " |" for r in rows]


def _tkey(d: dict, t: int):
    """Result dicts keyed by T, whether T is an int (in memory) or a string (read back from JSON)."""
    return d.get(t, d.get(str(t)))


def sweep_table(result: dict[str, Any]) -> list[str]:
    ts, tmax = result["timesteps"], max(result["timesteps"])
    header = ["configuration", "quantized ANN"] + [f"SNN T={t}" for t in ts] + [f"agreement T={tmax}", f"SynOps/img T={tmax}", f"E_SNN/E_ANN T={tmax}"]
    rows = []
    for c in result["configs"]:
        if not c.get("fits", True):
            rows.append([c["label"], "does not fit"] + ["–"] * (len(header) - 2))
            continue
        e = _tkey(c["energy"], tmax)
        rows.append([c["label"], _pct(c["quantized_ann"])] + [_pct(_tkey(c["snn"], t)) for t in ts]
                    + [_pct(_tkey(c["agreement_snn_vs_quantized_ann"], tmax)), _num(e["synops"]), f"{e['ratio']:.3f}"])
    return _table(header, rows)


def _config_section(out: Path, c: dict[str, Any], extra: ConfigPlots | None, ts: list[int], suffix: str,
                    level: str) -> list[str]:
    tmax = max(ts)
    lines: list[str] = []
    if c.get("options"):
        opts = ", ".join(f"{k}={v}" for k, v in c["options"].items())
        lines += [f"Compile options: `{opts}`.", ""]
    lines += _table(["metric"] + [f"T={t}" for t in ts],
                    [["SNN accuracy"] + [_pct(_tkey(c["snn"], t)) for t in ts]]
                    + ([["agreement with the quantized ANN"] + [_pct(_tkey(c["agreement_snn_vs_quantized_ann"], t)) for t in ts]]
                       if c.get("agreement_snn_vs_quantized_ann") else []))
    if c.get("quantized_ann") is not None:
        lines += ["", f"Quantized ANN: **{_pct(c['quantized_ann'])}**."]
    lines += ["", f"{level} Per-layer activity", "",
              "Firing rate = spikes per neuron per timestep (mean over samples and neurons); SynOps = synaptic "
              "operations per image; MACs = the ANN's dense multiply-accumulates per image; r = Pearson correlation "
              f"of the quantized ANN's activation / λ with the SNN's firing rate at T={tmax}.", ""]
    header = ["layer", "kind", "neurons", "input"] + [f"rate T={t}" for t in ts] + [f"SynOps/img T={tmax}", "ANN MACs", "weight error", "λ", "r"]
    rows = []
    for layer in c["layers"]:
        syn = _tkey(layer["synops"], tmax)
        syn_s = f"{_num(layer['current_macs'])} MACs" if layer["input"] == "current" else _num(syn)
        rows.append([f"`{layer['name']}`", layer["kind"], _num(layer["neurons"]), layer["input"]]
                    + [f"{_tkey(layer['firing_rate'], t):.4f}" for t in ts]
                    + [syn_s, _num(layer["macs"]) if layer["macs"] else "–",
                       "–" if layer.get("weight_error") is None else f"{100 * layer['weight_error']:.2f}%",
                       "–" if layer.get("scale") is None else f"{layer['scale']:.4g}",
                       "–" if layer.get("correlation") is None else f"{layer['correlation']:.3f}"])
    lines += _table(header, rows, "llrl" + "r" * (len(header) - 4))
    lines += ["", f"{level} Energy per image", ""]
    erows = []
    for t in ts:
        e = _tkey(c["energy"], t)
        erows.append([str(t), _num(e["synops"]), _num(e["snn_accumulates"]), _num(e["snn_macs"]), _num(e["ann_macs"]),
                      _num(e["ann_adds"]), _num(e["snn_pj"] / 1000, 1), _num(e["ann_pj"] / 1000, 1), f"{e['ratio']:.3f}"])
    lines += _table(["T", "SynOps", "SNN accumulates", "SNN MACs", "ANN MACs", "ANN adds", "E_SNN (nJ)", "E_ANN (nJ)", "E_SNN/E_ANN"], erows)
    if extra is not None:
        if extra.correlation:
            name = f"correlation{suffix}.png"
            plots.correlation(out / name, extra.correlation, tmax)
            lines += ["", f"{level} ANN activation vs SNN firing rate (T={tmax})", "",
                      f"Each point is one neuron of one of the first {c.get('correlation_samples', '?')} samples "
                      "(at most 4,000 drawn per layer); the dashed line is rate = activation / λ.", "",
                      f"![correlation]({name})"]
        errs = [(layer["name"], layer["weight_error"]) for layer in c["layers"] if layer.get("weight_error") is not None]
        if errs:
            name = f"weight_error{suffix}.png"
            plots.weight_error(out / name, [n for n, _ in errs], [e for _, e in errs], (c.get("options") or {}).get("bits"))
            lines += ["", f"{level} Weight quantization error", "",
                      "Relative L2 error ‖W' − Q/θ‖ / ‖W'‖ of each layer's normalized weights.", "", f"![weight error]({name})"]
        if extra.histograms:
            name = f"firing_rates{suffix}.png"
            plots.rate_histograms(out / name, extra.histograms, tmax)
            lines += ["", f"{level} Firing-rate histograms (T={tmax})", "",
                      "Share of (sample, neuron) pairs at each rate k/T, over every evaluated sample.", "",
                      f"![firing-rate histograms]({name})"]
    return lines


def write_report(out: str | Path, result: dict[str, Any], extras: list[ConfigPlots | None]) -> Path:
    """Write out/report.md and its PNGs from an `snnc eval` result; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ts = list(result["timesteps"])
    configs = result.get("configs") or [result]
    m = result["machine"]
    em = result["energy_model"]
    lines = [f"# snnc eval: {Path(result['target']).name}", "",
             "Every number below was produced by this command:", "", "```", result["command"], "```", "",
             f"on {m['cpu']} ({m['cpus']} CPUs), {m['platform']}, Python {m['python']}, numpy {m['numpy']}, "
             f"snnc {m['snnc']}; compiling and evaluating took {result['seconds']:.1f} s. Data: `{result['data']}`, {result['samples']} samples; "
             "SNN results from the bit-exact runtime.", ""]
    if result.get("float") is not None:
        lines += [f"Float model accuracy: **{_pct(result['float'])}**.", ""]
    name = "accuracy_vs_T.png"
    curves = [(c["label"] if len(configs) > 1 else "", c["snn"], c.get("quantized_ann"))
              for c in configs if c.get("fits", True)]
    curves = [(label, {int(t): v for t, v in snn.items()}, q) for label, snn, q in curves]
    plots.accuracy_vs_t(out / name, curves, result.get("float"))
    if len(configs) > 1:
        lines += ["## Configurations side by side", ""] + sweep_table(result) + [""]
    lines += ["## Accuracy vs timesteps", "", f"![accuracy vs T]({name})", ""]
    lines += ["## Energy model", "",
              f"E_SNN = E_AC · (SynOps + current accumulates) + E_MAC · (MACs of the layer fed by the input current); "
              f"E_ANN = E_MAC · MACs + E_AC · adds (pooling, residual). E_MAC = {em['e_mac_pj']} pJ, "
              f"E_AC = {em['e_ac_pj']} pJ. Source of the defaults: {em['source']}. {em['note']}", ""]
    for i, (c, extra) in enumerate(zip(configs, extras)):
        level = "###" if len(configs) > 1 else "##"
        if len(configs) > 1:
            lines += [f"## Configuration {i + 1}: {c['label']}", ""]
        if not c.get("fits", True):
            lines += ["Does not fit the hardware spec:", "", "```", c.get("check", ""), "```", ""]
            continue
        lines += _config_section(out, c, extra, ts, f"_{i + 1}" if len(configs) > 1 else "", level) + [""]
    path = out / "report.md"
    write_text(path, "\n".join(lines))  # atomic: a killed run leaves the earlier report
    return path
