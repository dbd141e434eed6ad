"""`snnc inspect ARTEFACT`: what an artefact holds and how much of the chip it uses.

    inspect_artefact(path) -> Inspection      # .to_dict() (the JSON document), .to_text()

Per layer: kind, output shape, neurons, weight bits, threshold range, weight memory, fan-in and
synapse row against the spec's `synapse_row_bits` (and, for a conv, the input channels per row
against `conv_in_channels_limit`), placement. Per chip: neurons and weight memory against the
spec's `max_neurons` / `max_weight_memory_bits`, with the HW013 / HW014 findings `snnc check`
words. The spec is the one the artefact embeds (`hardware_spec`); the counting is
`snnc.compiler.budgets`, the same as check's. docs/inspect.md documents every key.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snnc.compiler import budgets
from snnc.hwspec import HardwareSpec

SCHEMA = "snnc-inspect/1"
OK, OVER = "ok", "over"


@dataclass
class LayerUse:
    name: str
    kind: str                     # the artefact's layer kind; "conv" with neurons null is synaptic
    inputs: list[str]
    output_shape: list[int]
    placement: str                # core | host
    synaptic: bool = False        # a conv without neurons (its current feeds an add)
    neurons: int = 0
    bits: int | None = None       # weight bits (core conv/linear)
    weight_shape: list[int] | None = None
    weights: int = 0              # number of weights (host: float32 values)
    weight_memory_bits: int = 0   # packed core weight bits (weights * bits); 0 on the host
    threshold: dict[str, int] | None = None  # {"min", "max"} of the neuron thresholds
    kernel: list[int] | None = None          # conv: the kernel the core runs (kh, kw); avgpool: the window
    input_dilation: list[int] | None = None  # conv: (dh, dw), zeros inserted between input rows/columns ([1, 1]: none)
    fan_in: int | None = None     # weights one neuron reads: C/groups*kh*kw, in_features, or the window
    row_bits: int | None = None   # fan_in * bits (conv, linear)
    row_budget: int | None = None  # the spec's synapse_row_bits
    in_channels_per_row: int | None = None   # conv: C/groups
    in_channels_limit: int | None = None     # conv: conv_in_channels_limit[k][bits]
    multipliers: list[Any] | None = None     # add: per input, one int or one per channel
    neuron_share: float | None = None        # neurons / max_neurons
    weight_share: float | None = None        # weight_memory_bits / max_weight_memory_bits
    status: str | None = None     # ok | over (its synapse row exceeds the budget); None without a spec


@dataclass
class Inspection:
    artefact: str
    spec: dict[str, Any]
    input: dict[str, Any]
    timesteps: int | None
    layers: list[LayerUse]
    chip: dict[str, Any]
    violations: list[Any] = field(default_factory=list)  # Violation (HW013/HW014, and over-long rows)
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool | None:
        """None when the artefact's embedded spec is not a full spec (nothing to compare with)."""
        if self.spec.get("budgets") is None:
            return None
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "artefact": self.artefact,
            "spec": self.spec,
            "input": self.input,
            "timesteps": self.timesteps,
            "fits": self.fits,
            "chip": self.chip,
            "layers": [dict(vars(r)) for r in self.layers],
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self) -> str:
        s = self.spec
        where = f"{s['name']} (revision {s.get('revision') or '-'})"
        lines = [f"snnc inspect: {self.artefact} for {where}, T={_s(self.timesteps)}",
                 f"input: {_shape(self.input['shape'])} {self.input['layout']}, {self.input['encoding']} "
                 f"[{self.input['lo']}, {self.input['hi']}]", ""]
        header = ("layer", "kind", "shape", "neurons", "bits", "threshold", "weight bits", "fan-in", "row bits",
                  "in_ch/limit", "placement", "status")
        rows = [header]
        for r in self.layers:
            notes = (["synaptic"] if r.synaptic else []) + (
                [f"input_dilation {r.input_dilation[0]}x{r.input_dilation[1]}"]
                if r.input_dilation is not None and r.input_dilation != [1, 1] else [])
            kind = f"{r.kind} ({', '.join(notes)})" if notes else r.kind
            th = "-" if r.threshold is None else (str(r.threshold["min"]) if r.threshold["min"] == r.threshold["max"]
                                                  else f"{r.threshold['min']}..{r.threshold['max']}")
            mem = _bits(r.weight_memory_bits) if r.weight_memory_bits else (f"{r.weights:,} f32" if r.weights else "-")
            row = "-" if r.row_bits is None else f"{r.row_bits}/{r.row_budget}" if r.row_budget else str(r.row_bits)
            ch = "-" if r.in_channels_per_row is None else f"{r.in_channels_per_row}/{_s(r.in_channels_limit)}"
            rows.append((r.name, kind, _shape(r.output_shape), f"{r.neurons:,}" if r.neurons else "-", _s(r.bits), th,
                         mem, _s(r.fan_in), row, ch, r.placement, _s(r.status)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        lines.append("")
        c = self.chip
        lines.append(f"chip: {c['core_layers']} core layer(s), {c['host_layers']} host layer(s)")
        for key, what, fmt in (("neurons", "neurons", lambda v: f"{v:,}"),
                               ("weight_memory_bits", "weight memory", _bits)):
            u = c[key]
            budget = "no budget in the spec" if u["budget"] is None else (
                f"of {fmt(u['budget'])} ({100 * u['utilization']:.2f}%)")
            lines.append(f"  {what}: {fmt(u['used'])} {budget}")
        row = c["synapse_row"]
        if row["budget"] is not None and row["max_row_bits"] is not None:
            lines.append(f"  largest synapse row: {row['max_row_bits']} of {row['budget']} bits ({row['layer']}, "
                         f"{100 * row['utilization']:.1f}%)")
        for v in self.violations:
            lines.append(f"  {v.code} {v.name}  {v.layer}: {v.message}; fix: {v.hint}")
        for note in self.notes:
            lines.append(f"note: {note}")
        lines.append("")
        if self.fits is None:
            lines.append("result: no budgets to compare with (the embedded hardware_spec is not a full spec)")
        elif self.fits:
            lines.append(f"result: within {s['name']}'s budgets")
        else:
            lines.append(f"result: OVER {s['name']}'s budgets ({len(self.violations)} finding(s))")
        return "\n".join(lines)


def _s(x: Any) -> str:
    return "-" if x is None else str(x)


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def _bits(b: int) -> str:
    return f"{b:,}" if b < 8192 else f"{b:,} ({b / 8192:.1f} KiB)"


def _plain(x: Any) -> Any:
    """Mappings and sequences of the artefact's JSON data as dicts and lists."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# -- the embedded spec ---------------------------------------------------------------------------------
def embedded_spec(document: Any, source: str) -> tuple[HardwareSpec | None, str | None]:
    """The artefact's `hardware_spec` as a HardwareSpec, or (None, why not) when it is not a full
    spec (hand-built artefacts may embed a stand-in). JSON has only string keys, so the kernel
    and bit keys of `conv_in_channels_limit` become integers again, as in the YAML."""
    import yaml
    from snnc.hwspec.errors import SpecError
    from snnc.hwspec.loader import parse_spec

    if not isinstance(document, dict) or not isinstance(document.get("parameters"), dict):
        return None, "its hardware_spec has no parameters (a stand-in, not a full spec)"
    doc = _plain(document)
    table = doc["parameters"].get("conv_in_channels_limit")
    if isinstance(table, dict) and isinstance(table.get("value"), dict):
        try:
            table["value"] = {int(k): {int(b): v for b, v in row.items()} for k, row in table["value"].items()}
        except (ValueError, AttributeError):
            pass  # the loader names the bad key
    try:
        return parse_spec(yaml.safe_dump(doc, sort_keys=False), source=f"{source}: hardware_spec"), None
    except SpecError as exc:
        return None, f"its hardware_spec is not a valid spec ({exc})"


# -- the inspection ------------------------------------------------------------------------------------
def inspect_artefact(path: str | os.PathLike) -> Inspection:
    """Load the artefact at `path` (full validation: ArtefactError on any problem) and inspect it."""
    from snnc.runtime import load

    path = os.fspath(path)
    return inspect_loaded(load(path), path)


def inspect_loaded(art, name: str = "<artefact>") -> Inspection:
    from snnc.runtime.manifest import spec_sha256
    from snnc.runtime.model import Add, AvgPool, Conv, HostLinear, Linear

    spec, why = embedded_spec(_plain(art.hardware_spec), name)
    hs = _plain(art.hardware_spec)
    spec_info: dict[str, Any] = {"name": str(hs.get("name", "-")), "revision": hs.get("revision"),
                                 "sha256": spec_sha256(hs), "budgets": None}
    if spec is not None:
        spec_info["budgets"] = {
            "synapse_row_bits": spec.synapse_row_bits,
            "conv_in_channels_limit": {str(k): {str(b): v for b, v in row.items()} for k, row in spec.conv_in_channels_limit.items()},
            "max_neurons": spec.max_neurons,
            "max_weight_memory_bits": spec.max_weight_memory_bits,
        }
    rows: list[LayerUse] = []
    for layer in art.layers:
        r = LayerUse(layer.name, layer.kind, list(layer.inputs), list(layer.output_shape), layer.placement)
        neuron = getattr(layer, "neuron", None)
        if neuron is not None and layer.placement == "core":
            r.neurons = budgets.neuron_count(layer.output_shape)
            r.threshold = {"min": int(min(neuron.threshold)), "max": int(max(neuron.threshold))}
        if spec is not None:
            r.status = OK
        if isinstance(layer, (Conv, Linear)):
            w = layer.weight
            r.bits, r.weight_shape, r.weights = int(layer.bits), list(w.shape), int(w.size)
            r.weight_memory_bits = budgets.weight_memory_bits(w.size, layer.bits)
            r.fan_in = int(math.prod(w.shape[1:]))
            r.row_bits = budgets.row_bits(r.fan_in, layer.bits)
            if isinstance(layer, Conv):
                r.synaptic = neuron is None
                r.kernel = [int(w.shape[2]), int(w.shape[3])]
                r.input_dilation = [int(d) for d in layer.input_dilation]
                r.in_channels_per_row = int(w.shape[1])
            if spec is not None:
                r.row_budget = spec.synapse_row_bits
                if isinstance(layer, Conv) and w.shape[2] == w.shape[3]:
                    r.in_channels_limit = spec.conv_limit(int(w.shape[2]), int(layer.bits))
                over = (r.row_bits > spec.synapse_row_bits if isinstance(layer, Linear) else
                        r.in_channels_limit is None or r.in_channels_per_row > r.in_channels_limit)
                r.status = OVER if over else OK
        elif isinstance(layer, AvgPool):
            r.kernel, r.fan_in = list(layer.kernel), int(layer.kernel[0] * layer.kernel[1])
        elif isinstance(layer, Add):
            r.multipliers = [list(m) if isinstance(m, tuple) else int(m) for m in layer.multipliers]
            r.fan_in = len(layer.inputs)
        elif isinstance(layer, HostLinear):
            r.weight_shape, r.weights = list(layer.weight.shape), int(layer.weight.size + layer.bias.size)
            r.fan_in = int(layer.weight.shape[1])
        rows.append(r)
    core = [r for r in rows if r.placement == "core"]
    neurons = [(r.name, r.neurons) for r in core if r.neurons]
    weights = [(r.name, r.weight_memory_bits) for r in core if r.weight_memory_bits]
    n_used, w_used = sum(k for _, k in neurons), sum(b for _, b in weights)
    n_budget = spec.max_neurons if spec is not None else None
    w_budget = spec.max_weight_memory_bits if spec is not None else None
    row_budget = spec.synapse_row_bits if spec is not None else None
    for r in rows:
        r.neuron_share = budgets.utilization(r.neurons, n_budget) if r.neurons else None
        r.weight_share = budgets.utilization(r.weight_memory_bits, w_budget) if r.weight_memory_bits else None
    rowed = [r for r in core if r.row_bits is not None]
    widest = max(rowed, key=lambda r: r.row_bits, default=None)
    chip = {
        "core_layers": len(core),
        "host_layers": len(rows) - len(core),
        "neurons": {"used": n_used, "budget": n_budget, "utilization": budgets.utilization(n_used, n_budget)},
        "weight_memory_bits": {"used": w_used, "budget": w_budget, "utilization": budgets.utilization(w_used, w_budget)},
        "synapse_row": {"max_row_bits": widest.row_bits if widest else None, "layer": widest.name if widest else None,
                        "budget": row_budget,
                        "utilization": budgets.utilization(widest.row_bits, row_budget) if widest else None},
        "host_weights": sum(r.weights for r in rows if r.placement == "host"),
    }
    violations, notes = [], []
    if spec is not None:
        violations = budgets.budget_violations(spec, neurons, weights)
        violations += [_row_violation(spec, r) for r in rows if r.status == OVER]
    else:
        notes.append(f"no budgets: {why}")
    ins = art.input
    info = {"shape": list(ins.shape), "layout": ins.layout, "encoding": ins.encoding, "lo": int(ins.lo),
            "hi": int(ins.hi), "scale": float(ins.scale)}
    timesteps = art.golden.timesteps if art.golden is not None else None
    return Inspection(name, spec_info, info, timesteps, rows, chip, violations, notes)


def _row_violation(spec: HardwareSpec, r: LayerUse):
    """A synapse row over the budget (an artefact check would not have compiled; hand-built or
    compiled for another spec): HW001 for a conv, HW101 for a linear layer, as check words them."""
    from snnc.compiler.check.violations import Violation

    if r.kind == "conv":
        k = r.kernel[0]
        return Violation("HW001", r.name, r.kind,
                         f"{k}x{k} conv with {r.in_channels_per_row} input channels per row needs {r.row_bits} "
                         f"synapse-row bits; limit at {r.bits} bits is {_s(r.in_channels_limit)}",
                         r.in_channels_per_row, r.in_channels_limit, f"in_channels/groups * k * k * bits <= {spec.synapse_row_bits}",
                         "recompile with fewer bits for this layer (--bits-for) or split its input channels")
    return Violation("HW101", r.name, r.kind,
                     f"{r.fan_in} input features need {r.row_bits} synapse-row bits > {spec.synapse_row_bits}",
                     r.fan_in, spec.synapse_row_bits // r.bits, f"in_features * bits <= {spec.synapse_row_bits}",
                     "recompile with fewer bits for this layer (--bits-for) or fewer input features")

