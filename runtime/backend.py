"""The simulator backends behind `simulate`, and the part of `simulate` they all share.

Four implementations of docs/semantics.md give identical results (tested against each other,
and against the golden files):

    "numpy"      fastsim.py: layer by layer, all T steps in one matrix product per layer (always there)
    "numba"      jit_backend.py: compiled integer kernels (needs the optional numba package)
    "reference"  reference.py: the plain per-timestep Python-integer form of docs/semantics.md (slow)
    "torch"      torch_backend.py: the numpy algorithm on torch tensors, on a CUDA GPU or the CPU (needs torch)
    "auto"       torch on a CUDA GPU, else numba when it can be imported, else numpy

A backend is an object with a `name` and three methods (`Backend` below); `simulate` does
everything else the same way for all of them: argument checks, the input's float -> integer
conversion and range check (with the backend's own quantizer), the covered-range refusal
(`exactness_plan`), batch chunking, counts after earlier steps, and the host layer. A backend's
module is imported the first time that backend is used, so `import snnc.runtime` needs numpy only
(numba is never imported unless backend "numba" or "auto" runs and finds it).

Adding a backend: a module with an object implementing `Backend`, one entry in `REGISTRY`, and
the equivalence test (tests/runtime/test_backend.py) picks it up.
"""
from __future__ import annotations

import importlib
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Protocol

import numpy as np

from snnc.runtime.encode import conform_input, to_int_input, to_internal
from snnc.runtime.errors import InputError
from snnc.runtime.exactness import LayerPlan, exactness_plan
from snnc.runtime.model import Artefact, HostLinear, InputSpec


class ChunkResult(NamedTuple):
    """What a backend returns for one batch chunk, in the external layout (B, [T,] C, H, W).

    counts: spike counts over the T steps of every spike-carrying core layer, int64.
    spikes: with trace, (B, T, *shape) uint8 per spike-carrying core layer; else empty.
    membranes: with trace, (B, T, *shape) int64 per layer with neurons (V after reset); else empty.
    counts_at: {t: counts of every spike-carrying core layer after the first t steps}.
    """

    counts: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]
    membranes: dict[str, np.ndarray]
    counts_at: dict[int, dict[str, np.ndarray]]


class Backend(Protocol):
    """One implementation of the core simulation (semantics.md sections 3-6)."""

    name: str

    def quantize(self, spec: InputSpec, x: np.ndarray) -> np.ndarray | None:
        """x_int (int64, x's shape) for a float array x (semantics.md section 5), or None when x
        holds a NaN or an infinity (encode.quantize_float is the numpy version)."""

    def prepare(self, a: Artefact, plans: dict[str, LayerPlan]) -> object:
        """Whatever `run` needs per artefact (weight matrices, kernel arrays); may be cached."""

    def run(self, a: Artefact, x_int: np.ndarray, timesteps: int, trace: bool, counts_at: tuple[int, ...],
            plans: dict[str, LayerPlan], prepared: object) -> ChunkResult:
        """Simulate the samples x_int (B, *input.shape) int64 for `timesteps` steps."""


@dataclass(frozen=True)
class BackendEntry:
    """Where a backend lives: `module.attr` is its default instance; `requires` an optional package."""

    module: str
    attr: str
    requires: str | None = None


REGISTRY: dict[str, BackendEntry] = {
    "numpy": BackendEntry("snnc.runtime.fastsim", "NUMPY"),
    "numba": BackendEntry("snnc.runtime.jit_backend", "NUMBA", requires="numba"),
    "reference": BackendEntry("snnc.runtime.reference", "REFERENCE"),
    "torch": BackendEntry("snnc.runtime.torch_backend", "TORCH", requires="torch"),
}
BACKENDS = ("auto", *REGISTRY)  # every name `backend=` (and the CLI's --backend) accepts


@lru_cache(maxsize=1)
def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def torch_available() -> bool:
    """Is torch installed? (looked up, not imported)"""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Does torch see a CUDA GPU? torch is imported only where a GPU device node exists (and
    CUDA_VISIBLE_DEVICES does not hide every GPU), so "auto" costs no torch import on a CPU machine."""
    import os

    if os.environ.get("CUDA_VISIBLE_DEVICES", "x").strip() in ("", "-1"):
        return False
    if not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_backend(name: str) -> str:
    """The concrete backend name for a requested one ("auto" -> "torch" on a CUDA GPU, else "numba"
    or "numpy"); InputError for an unknown name or a backend whose package is missing."""
    if name not in BACKENDS:
        raise InputError(f"backend: {name!r} is not one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "torch" if cuda_available() else "numba" if numba_available() else "numpy"
    if name == "numba" and not numba_available():
        raise InputError("backend: 'numba' needs the numba package (pip install 'snnc[fast]')")
    if name == "torch" and not torch_available():
        raise InputError("backend: 'torch' needs the torch package (pip install torch)")
    return name


def get_backend(backend: "str | Backend") -> Backend:
    """The backend object for a name (its default instance, imported on first use), or `backend`
    itself when it already is one (e.g. `jit_backend.NumbaBackend(JitTuning(...))`)."""
    if not isinstance(backend, str):
        return backend
    entry = REGISTRY[resolve_backend(backend)]
    return getattr(importlib.import_module(entry.module), entry.attr)


# ------------------------------------------------------------------------------ simulate

BATCH_BUDGET = 512 << 20  # bytes of per-chunk activations, used to choose the batch chunk


@dataclass(frozen=True, eq=False)
class SimResult:
    """What `simulate` returns.

    counts: spike counts over T of every spike-carrying core layer, (B, *shape) int64.
    output_counts: counts of `output_layer` (what the host receives).
    logits / predictions: host layer results (None without a host layer); logits are float64
      and not part of the bit-exact contract, predictions (argmax, first maximum) are.
    probabilities: softmax(logits) when the host layer has `softmax` (the model ended in a
      Softmax), else None; float64, outside the exact contract.
    spikes: with trace, (B, T, *shape) uint8 per spike-carrying layer.
    membranes: with trace, (B, T, *shape) int64 per layer with neurons (V after reset).
    counts_at / predictions_at: with `counts_at=[t, ...]`, the counts of every spike-carrying
      layer and the host predictions after the first t steps. The simulation is causal (step k
      depends only on steps <= k) and nothing but the host's 1/t scale depends on the total T,
      so these equal `simulate(a, x, t)`'s counts and predictions exactly (tested).
    backend: which implementation ran ("numpy", "numba", "reference" or "torch").
    """

    timesteps: int
    counts: dict[str, np.ndarray]
    output_layer: str
    output_counts: np.ndarray
    logits: np.ndarray | None = None
    predictions: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    spikes: dict[str, np.ndarray] | None = None
    membranes: dict[str, np.ndarray] | None = None
    counts_at: dict[int, dict[str, np.ndarray]] | None = None
    predictions_at: dict[int, np.ndarray] | None = None
    backend: str = "numpy"


def host_logits(a: Artefact, counts: np.ndarray, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """semantics.md section 7: for a host_linear, logits = (counts * (input_scale / T)) @ W.T + b in
    float64; for the host ops of a hybrid artefact, the ops in list order (runtime.host_ops), a
    final softmax left out (the logits are its input). predictions = argmax (first max). The same
    host code for every backend; `counts` are the output layer's."""
    host = a.host
    assert host is not None
    if isinstance(host, HostLinear):
        logits = (counts.astype(np.float64) * (host.input_scale / timesteps)) @ host.weight.astype(np.float64).T
        logits = logits + host.bias.astype(np.float64)
    else:
        logits = run_host_ops(a, counts, timesteps)
    return logits, np.argmax(logits, axis=1).astype(np.int64)


def run_host_ops(a: Artefact, counts: np.ndarray, timesteps: int) -> np.ndarray:
    """The host part of a hybrid artefact: the output of its last op before a final softmax."""
    from snnc.runtime.host_ops import HOST_OPS

    out_name = a.output_layer
    rate = counts.astype(np.float64) / timesteps
    layers = a.host_layers[:-1] if a.host.softmax else a.host_layers
    env: dict[str, np.ndarray] = {}
    for layer in layers:
        xs = [rate * s if name == out_name else env[name] for name, s in zip(layer.inputs, layer.input_scales)]
        env[layer.name] = HOST_OPS[layer.op][0](layer.attrs, layer.params, xs)
    return env[layers[-1].name]


def softmax(logits: np.ndarray) -> np.ndarray:
    """semantics.md section 7: exp(l - max l) / sum exp(l - max l) per sample, float64."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _auto_batch(a: Artefact, timesteps: int, trace: bool) -> int:
    neurons = sum(int(np.prod(layer.output_shape)) for layer in a.core_layers)
    largest = max(int(np.prod(layer.output_shape)) for layer in a.core_layers)
    per_sample = timesteps * (neurons * (9 if trace else 1) + largest * 16)
    return max(1, BATCH_BUDGET // max(1, per_sample))


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plans(a: Artefact) -> dict[str, LayerPlan]:
    """exactness_plan(a), computed once per artefact (artefacts are immutable)."""
    plans = _PLANS.get(a)
    if plans is None:
        plans = _PLANS[a] = exactness_plan(a)
    return plans


def internal_input(spec: InputSpec, x: np.ndarray, what: str = "input") -> np.ndarray:
    """x as (B, *spec.shape): x must be (B, *spec.external_shape) exactly (a non-numeric dtype is
    left to to_int_input to name); with layout "NHWC" it is transposed (semantics.md section 5)."""
    x = np.asarray(x)
    if x.dtype.kind not in "iufb":
        return x
    return to_internal(spec, conform_input(x, spec.shape, spec.layout, what, exact=True))


def simulate(a: Artefact, x: np.ndarray, timesteps: int, *, trace: bool = False,
             batch_size: int | None = None, counts_at=None, backend: "str | Backend" = "auto") -> SimResult:
    """Simulate the artefact on a batch x of shape (B, *input.external_shape) for `timesteps` steps
    ((B, H, W, C) for input.layout "NHWC", transposed to (B, C, H, W) first; else (B, *input.shape)).

    Float x is quantized with the input scale; integer x must lie in [lo, hi]. With trace=True
    the result also holds every layer's spikes and membranes at every step. batch_size bounds
    how many samples are simulated at once (default: chosen from a memory budget). counts_at
    lists earlier step counts t <= T at which to also report counts and predictions.
    backend: "numpy", "numba" (compiled kernels, needs numba), "reference" (plain Python, slow),
    "torch" (CUDA when torch sees a GPU, else CPU; `torch_backend.torch_backend("cpu")` for one
    device), "auto" (torch on a CUDA GPU, else numba when importable, else numpy), or a backend
    object (`Backend`); the results are identical.
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or timesteps < 1:
        raise InputError(f"timesteps: {timesteps!r} must be a positive integer")
    timesteps = int(timesteps)
    impl = get_backend(backend)
    x_int = to_int_input(a.input, internal_input(a.input, x), quantize=impl.quantize)
    plans = _plans(a)  # refuses an artefact outside the covered range (semantics.md section 8)
    prepared = impl.prepare(a, plans)
    at = tuple(sorted({int(t) for t in counts_at or ()}))
    if at and (at[0] < 1 or at[-1] > timesteps):
        raise InputError(f"counts_at: {list(at)} must lie in 1..{timesteps}")
    chunk = batch_size or _auto_batch(a, timesteps, trace)
    if chunk < 1:
        raise InputError(f"batch_size: {batch_size!r} must be >= 1")
    parts = [impl.run(a, x_int[i:i + chunk], timesteps, trace, at, plans, prepared)
             for i in range(0, x_int.shape[0], chunk)]

    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)

    counts = {k: cat([p.counts[k] for p in parts]) for k in parts[0].counts}
    out = a.output_layer
    logits = preds = None
    if a.host is not None:
        logits, preds = host_logits(a, counts[out], timesteps)
    counts_at_t = {t: {k: cat([p.counts_at[t][k] for p in parts]) for k in parts[0].counts_at[t]} for t in at}
    preds_at = {t: host_logits(a, counts_at_t[t][out], t)[1] for t in at} if a.host is not None else None
    return SimResult(
        timesteps=timesteps, counts=counts, output_layer=out, output_counts=counts[out],
        logits=logits, predictions=preds,
        probabilities=softmax(logits) if logits is not None and a.host.softmax else None,
        spikes={k: cat([p.spikes[k] for p in parts]) for k in parts[0].spikes} if trace else None,
        membranes={k: cat([p.membranes[k] for p in parts]) for k in parts[0].membranes} if trace else None,
        counts_at=counts_at_t if at else None,
        predictions_at=preds_at if at else None,
        backend=impl.name,
    )
