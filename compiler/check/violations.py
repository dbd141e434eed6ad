"""The violation record of `snnc check` and the table of stable violation codes.

Codes never change meaning; a new rule gets a new code. docs/check.md documents each one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    severity: str
    summary: str


CODES: dict[str, Code] = {c.code: c for c in (
    Code("HW001", "conv-in-channels", ERROR, "a convolution's synapse row (in_channels/groups * k * k * bits) exceeds synapse_row_bits"),
    Code("HW002", "kernel-size", ERROR, "the convolution's kernel size has no row in the spec's conv_in_channels_limit table"),
    Code("HW003", "conv-not-followed-by-relu", ERROR, "a convolution's output is not read by a ReLU alone (spec: conv_requires_relu)"),
    Code("HW004", "unsupported-layer-type", ERROR, "a layer on the spiking core whose type is not in the spec's core_layer_types"),
    Code("HW005", "bits-not-allowed", ERROR, "the weight bit width is not in the spec's weight_bits, or the limit table has no column for it"),
    Code("HW006", "non-square-kernel", ERROR, "a convolution kernel with kh != kw (the limit table is indexed by square kernel size)"),
    Code("HW007", "host-layer-feeds-core", ERROR, "a host layer's output is read by a layer on the spiking core"),
    Code("HW008", "unfolded-batchnorm", ERROR, "a BatchNorm that could not be folded into a preceding conv/linear"),
    Code("HW009", "spiking-layer-needs-relu", ERROR, "a linear layer or residual add on the core (or a conv, where the spec does not demand it) whose output is not read by a ReLU alone: the IF neuron computes ReLU"),
    Code("HW010", "pool-window-threshold", ERROR, "an average pool whose window kh*kw exceeds the largest threshold (2^threshold_bits - 1)"),
    Code("HW011", "no-artefact-layer", ERROR, "a core layer the artefact has no layer kind for (max pooling, dilated or padded variants, a stray activation)"),
    Code("HW012", "model-interface", ERROR, "the model does not have one input and one output ending in a linear layer (+ softmax) for the host"),
    Code("HW013", "neuron-budget", ERROR, "the core layers need more IF neurons than the spec's max_neurons"),
    Code("HW014", "weight-memory-budget", ERROR, "the core layers' packed weights need more bits than the spec's max_weight_memory_bits"),
    Code("HW101", "linear-synapse-row", WARNING, "a core linear layer's synapse row (in_features * bits) exceeds synapse_row_bits"),
)}


@dataclass(frozen=True)
class Violation:
    """One finding of `snnc check`, with everything needed to fix it."""

    code: str      # stable code, e.g. HW001
    layer: str     # the layer (node) name from the model; "-" for model-wide findings
    op: str        # the IR op of that layer
    message: str   # one line: what is wrong
    actual: Any    # the offending value (in_channels, kernel, op, bits, ...)
    limit: Any     # what the spec allows
    rule: str      # the rule in words/maths, with the spec's numbers
    hint: str      # a concrete fix

    @property
    def name(self) -> str:
        return CODES[self.code].name

    @property
    def severity(self) -> str:
        return CODES[self.code].severity

    def to_dict(self) -> dict[str, Any]:
        d = {"code": self.code, "name": self.name, "severity": self.severity}
        d.update(asdict(self))
        return d
