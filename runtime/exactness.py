"""Per-layer proofs that the fast path's arithmetic is exact, and the dtypes they allow.

For a layer, `bound` is an upper bound of |I| (the synaptic current) over all neurons, inputs
and timesteps: max_o sum_k |w[o,k]| * amax(input) for conv/linear, kh*kw*amax for avgpool,
sum_i |m_i| * amax_i for add, where amax is 1 for spikes and max(|lo|, |hi|) for input current.
Every partial sum of a dot product is bounded by the same number, so a floating-point matmul
over integer operands is exact in any summation order when bound < 2^p (p = 24 for float32,
53 for float64: every integer of magnitude <= 2^p is representable). Otherwise int64 is used.
The IF scan needs |V| + |I + bias| + 2^(m-1) to fit: int32 when 2^m + bound + |bias| < 2^31.

The range [lo, hi] of I (for skipping the overflow step, see ScanPlan) is interval arithmetic
over the values each synapse can read: the input's [lo, hi], widened to include 0 when a
synapse may read a padded position (a conv whose windows reach its zero padding,
docs/semantics.md section 6), since a padded position reads 0 whatever [lo, hi] is.

The covered range (docs/semantics.md section 8): the runtime simulates an artefact only when
every layer with neurons has 2^m + bound + max|bias| <= 2^63 - 1, so that every value of the
exact arithmetic fits int64; exactness_plan raises ArtefactError otherwise.
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
    """bound: max |I| (proves the matmul exact); matmul_dtype: dtype of the current computation;
    j_lo, j_hi: range of I + bias over all neurons (interval arithmetic over the values the synapses
    can read: the input's range, and 0 where a conv reads its padding)."""

    bound: int
    matmul_dtype: np.dtype
    j_lo: int
    j_hi: int


@dataclass(frozen=True)
class ScanPlan:
    """How the IF scan of one layer runs for T steps (all choices provably leave results unchanged).

    V after reset satisfies min(V, 0) <= V_after <= V (reset only lowers a V >= theta >= 1), so
    before the overflow step, for t = 1..T:  min(V_0, 0) + t*min(j_lo, 0) <= V <= max(V_0, 0) + t*max(j_hi, 0).
    When that range lies inside the membrane range, saturation (or wrap) is the identity and is
    skipped (clamp_hi / clamp_lo / wrap False). dtype is the narrowest of int16/int32/int64 that
    holds every intermediate value.
    """

    dtype: np.dtype
    clamp_lo: bool
    clamp_hi: bool
    wrap: bool


def matmul_dtype(bound: int) -> np.dtype:
    """The cheapest dtype in which sums of integer products bounded by `bound` are exact."""
    if bound < FLOAT32_EXACT:
        return np.dtype(np.float32)
    if bound < FLOAT64_EXACT:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def value_ranges(a: Artefact) -> dict[str, tuple[int, int]]:
    """[min, max] of the values each tensor carries: [0, 1] for spikes, [lo, hi] for input current,
    the range of its current I for a synaptic conv."""
    spec = a.input
    ranges = {"input": (0, 1) if spec.encoding == "rate" else (spec.lo, spec.hi)}
    shapes = {"input": spec.shape, **{layer.name: layer.output_shape for layer in a.layers}}
    for layer in a.core_layers:
        if layer.has_neurons:
            ranges[layer.name] = (0, 1)
        elif isinstance(layer, Conv):
            _, lo, hi = _current_range(layer, ranges, shapes)
            ranges[layer.name] = (lo, hi)
        else:
            ins = [ranges[i] for i in layer.inputs]
            ranges[layer.name] = (min(r[0] for r in ins), max(r[1] for r in ins))
    return ranges


def reads_padding(layer: Conv, in_shape: tuple[int, ...]) -> bool:
    """Does some window of the conv read a zero-padded position (outside the input)?

    Along each axis the first window starts at -top (or -left), the last one ends at
    (out - 1) * stride + k - 1 - top; a window reads padding when it starts before 0 or ends
    at or after the input size.
    """
    if layer.dilated:  # the zeros inserted between the input's pixels read 0 too (semantics section 8)
        return True
    _, h, w = in_shape
    _, ho, wo = layer.output_shape
    kh, kw = layer.weight.shape[2:]
    (sh, sw), (top, left, _, _) = layer.stride, layer.padding
    return top > 0 or left > 0 or (ho - 1) * sh + kh - top > h or (wo - 1) * sw + kw - left > w


def synapse_range(layer, ranges: dict[str, tuple[int, int]], shapes: dict[str, tuple[int, ...]]) -> tuple[int, int]:
    """[min, max] of the value one synapse of a conv or linear layer reads: its input's range,
    with 0 included when the synapse may read a padded position (which reads 0)."""
    lo_in, hi_in = ranges[layer.inputs[0]]
    if isinstance(layer, Conv) and reads_padding(layer, shapes[layer.inputs[0]]):
        lo_in, hi_in = min(lo_in, 0), max(hi_in, 0)
    return lo_in, hi_in


def _current_range(layer, ranges: dict[str, tuple[int, int]],
                   shapes: dict[str, tuple[int, ...]]) -> tuple[int, int, int]:
    """(bound, lo, hi) of the synaptic current I, before bias."""
    if isinstance(layer, (Conv, Linear)):
        lo_in, hi_in = synapse_range(layer, ranges, shapes)
        w = layer.weight.reshape(layer.weight.shape[0], -1)
        # per output: P = sum of positive weights, N = sum of negative ones (lo_in <= hi_in), so
        # max_s sum w*s = P*hi_in + N*lo_in, min = P*lo_in + N*hi_in, sum |w| = P - N
        pos = np.maximum(w, 0).sum(axis=1, dtype=np.int64).tolist()  # Python ints: no overflow below
        neg = np.minimum(w, 0).sum(axis=1, dtype=np.int64).tolist()
        hi = max(p * hi_in + q * lo_in for p, q in zip(pos, neg))
        lo = min(p * lo_in + q * hi_in for p, q in zip(pos, neg))
        bound = max(p - q for p, q in zip(pos, neg)) * max(abs(lo_in), abs(hi_in))
        return bound, int(lo), int(hi)
    if isinstance(layer, AvgPool):  # no padding (semantics section 6): every tap reads the input
        lo_in, hi_in = ranges[layer.inputs[0]]
        k = layer.kernel[0] * layer.kernel[1]
        return k * max(abs(lo_in), abs(hi_in)), k * lo_in, k * hi_in
    if isinstance(layer, Add):  # per term, the extremes over its channels' multipliers
        lo = hi = bound = 0
        for m, i in zip(layer.multipliers, layer.inputs):
            lo_in, hi_in = ranges[i]
            ms = m if isinstance(m, tuple) else (m,)
            lo += min(min(v * lo_in, v * hi_in) for v in ms)
            hi += max(max(v * lo_in, v * hi_in) for v in ms)
            bound += max(abs(v) for v in ms) * max(abs(lo_in), abs(hi_in))
        return bound, lo, hi
    raise TypeError(layer.kind)


def covered_total(m: int, bound: int, bias) -> int:
    """2^m + bound + max|bias|: what must be <= 2^63 - 1 for the runtime to cover a layer."""
    return (1 << m) + bound + max(abs(b) for b in bias)


def exactness_plan(a: Artefact) -> dict[str, LayerPlan]:
    """A LayerPlan for every layer with neurons and every synaptic conv; raises ArtefactError for a layer outside the
    covered range (2^m + bound + max|bias| > 2^63 - 1, docs/semantics.md section 8)."""
    ranges = value_ranges(a)
    shapes = {"input": a.input.shape, **{layer.name: layer.output_shape for layer in a.layers}}
    m = a.target.membrane_bits
    plans = {}
    for layer in a.core_layers:
        if not layer.has_neurons and not isinstance(layer, Conv):
            continue
        bound, lo, hi = _current_range(layer, ranges, shapes)
        bias = layer.neuron.bias if layer.has_neurons else (0,)  # a synaptic conv: its current only
        total = covered_total(m, bound, bias)
        if total > INT64_LIMIT:
            raise ArtefactError(
                f"layer {layer.name!r}: outside the covered range (docs/semantics.md section 8): "
                f"2^membrane_bits + bound + max|bias| = 2^{m} + {bound} + {max(abs(b) for b in bias)} = {total} "
                "> 2^63 - 1 (bound: the bound on |I| from the layer's weights and input ranges)"
            )
        plans[layer.name] = LayerPlan(bound, matmul_dtype(bound), lo + min(bias), hi + max(bias))
    return plans


def scan_plan(layer, target, plan: LayerPlan, timesteps: int) -> ScanPlan:
    """See ScanPlan. Depends on T through the proven membrane range."""
    m = target.membrane_bits
    vmin, vmax = -(1 << (m - 1)), (1 << (m - 1)) - 1
    n = layer.neuron
    v0 = max(n.threshold) // 2 if n.v_init == "half" else 0
    reach_hi = v0 + timesteps * max(plan.j_hi, 0)
    reach_lo = timesteps * min(plan.j_lo, 0)
    clamp_hi, clamp_lo = reach_hi > vmax, reach_lo < vmin
    wrap = target.overflow == "wrap" and (clamp_hi or clamp_lo)
    if target.overflow == "wrap":
        clamp_hi = clamp_lo = False
    overflow = wrap or clamp_hi or clamp_lo
    # every value the scan holds: V, V + I + bias before the overflow step, I (cast to the dtype
    # before the bias is added: I = (I + bias) - bias), I + bias, theta, 2^m - 1
    i_lo, i_hi = plan.j_lo - min(n.bias), plan.j_hi - max(n.bias)
    hi = max(max(n.threshold), i_hi, plan.j_hi, vmax + max(plan.j_hi, 0) + (1 << (m - 1)) if overflow else vmax)
    lo = min(i_lo, plan.j_lo, vmin + min(plan.j_lo, 0) if overflow else vmin)
    for dt in (np.int16, np.int32, np.int64):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return ScanPlan(np.dtype(dt), clamp_lo, clamp_hi, wrap)
    raise ArtefactError(f"layer {layer.name!r}: membrane values do not fit int64")  # excluded by exactness_plan
