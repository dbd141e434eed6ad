"""What compile reports per layer (the table `snnc compile` prints and its JSON)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LayerReport:
    name: str  # the model's layer name
    artefact_name: str  # the name in the artefact
    kind: str
    placement: str
    bits: int | None = None
    theta_min: int | None = None
    theta_max: int | None = None
    weight_bytes: int = 0
    fan_in: int | None = None
    row_bits: int | None = None  # fan_in * bits: the synapse row this layer needs
    row_budget: int | None = None
    scale: float | None = None  # λ_out
    weight_error: float | None = None
    bias_clipped: int = 0
    membrane_bound: int | None = None  # static bound on |V| over T steps
    saturation_possible: bool = False
    calibration: str | None = None  # what --calibration auto chose for this layer, and why
