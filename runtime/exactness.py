"""Per-layer proofs that the fast path's arithmetic is exact, and the dtypes they allow.

For a layer, `bound` is an upper bound of |I| (the synaptic current) over all neurons, inputs
and timesteps: max_o sum_k |w[o,k]| * amax(input) for conv/linear, kh*kw*amax for avgpool,
sum_i |m_i| * amax_i for add, where amax is 1 for spikes and max(|lo|, |hi|) for input current.
Every partial sum of a dot product is bounded by the same number, so a floating-point matmul
over integer operands is exact in any summation order when bound < 2^p (p = 24 for float32,
53 for float64: every integer of magnitude <= 2^p is representable). Otherwise int64 is used.
The IF scan needs |V| + |I + bias| + 2^(m-1) to fit: int32 when 2^m + bound + |bias| < 2^31.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.runtime.errors import ArtefactError
from snnc.runtime.model import Add, Artefact, AvgPool, Conv, Linear

FLOAT32_EXACT = 1 << 24
FLOAT64_EXACT = 1 << 53
INT64_LIMIT = (1 << 63) - 1


@dataclass(frozen=True)
class LayerPlan:
    """bound: max |I|; matmul_dtype: dtype of the current computation; scan_dtype: of the IF scan."""

    bound: int
    matmul_dtype: np.dtype
    scan_dtype: np.dtype


def matmul_dtype(bound: int) -> np.dtype:
    """The cheapest dtype in which sums of integer products bounded by `bound` are exact."""
    if bound < FLOAT32_EXACT:
        return np.dtype(np.float32)
    if bound < FLOAT64_EXACT:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def input_amax(a: Artefact) -> dict[str, int]:
    """Maximum |value| each tensor can carry: 1 for spikes, max(|lo|, |hi|) for input current."""
    spec = a.input
    amax = {"input": 1 if spec.encoding == "rate" else max(abs(spec.lo), abs(spec.hi))}
    for layer in a.core_layers:
        amax[layer.name] = 1 if layer.has_neurons else max(amax[i] for i in layer.inputs)
    return amax


def _current_bound(layer, amax: dict[str, int]) -> int:
    if isinstance(layer, (Conv, Linear)):
        w = np.abs(layer.weight.astype(np.int64)).reshape(layer.weight.shape[0], -1)
        return int(w.sum(axis=1).max()) * amax[layer.inputs[0]]
    if isinstance(layer, AvgPool):
        return layer.kernel[0] * layer.kernel[1] * amax[layer.inputs[0]]
    if isinstance(layer, Add):
        return sum(abs(m) * amax[i] for m, i in zip(layer.multipliers, layer.inputs))
    raise TypeError(layer.kind)


def exactness_plan(a: Artefact) -> dict[str, LayerPlan]:
    """A LayerPlan for every layer with neurons; raises ArtefactError if not even int64 is exact."""
    amax = input_amax(a)
    m = a.target.membrane_bits
    plans = {}
    for layer in a.core_layers:
        if not layer.has_neurons:
            continue
        bound = _current_bound(layer, amax)
        total = (1 << m) + bound + max(abs(b) for b in layer.neuron.bias)
        if total > INT64_LIMIT:
            raise ArtefactError(
                f"layer {layer.name!r}: membrane: |V| + |I + bias| can reach {total}, beyond int64; "
                "the runtime cannot simulate it exactly"
            )
        scan = np.dtype(np.int32 if total < (1 << 31) else np.int64)
        plans[layer.name] = LayerPlan(bound, matmul_dtype(bound), scan)
    return plans
