"""snnc.runtime: the bit-exact reference runtime (the golden model of the chip). Needs numpy only.

    art = load("model.snn")                     # validated Artefact
    res = simulate(art, x, timesteps=16)        # SimResult: counts, output_counts, predictions
    report = verify(art)                        # replay the embedded golden vectors

See docs/semantics.md (the integer semantics), docs/artefact.md (the file format and this API).
"""
if __name__ != "snnc.runtime":  # pragma: no cover - import guard
    raise ImportError(
        "import this package as 'snnc.runtime' (pip install -e .), not as 'runtime' from the repository root"
    )

from snnc.runtime.artefact_io import load, save
from snnc.runtime.backend import BACKENDS, SimResult, simulate
from snnc.runtime.errors import ArtefactError, InputError
from snnc.runtime.exactness import LayerPlan, exactness_plan
from snnc.runtime.golden import Mismatch, VerifyReport, make_golden, verify
from snnc.runtime.model import (
    FORMAT_VERSION, Add, Artefact, AvgPool, Concat, Conv, Flatten, Golden, HostLinear, HostOp, InputSpec,
    Layer, Linear, MaxPool, Neuron, Target,
)

__all__ = [
    "load", "save", "simulate", "make_golden", "verify", "exactness_plan",
    "Artefact", "Target", "InputSpec", "Neuron", "Golden", "Layer",
    "Conv", "Linear", "AvgPool", "MaxPool", "Add", "Concat", "Flatten", "HostLinear", "HostOp",
    "SimResult", "BACKENDS", "VerifyReport", "Mismatch", "LayerPlan", "ArtefactError", "InputError", "FORMAT_VERSION",
]
